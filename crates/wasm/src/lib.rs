//! wasm-bindgen adapter over `xlmr-sentiment-core`: a `Classifier` built from model file bytes,
//! whose `classify` takes texts and options as JS values and returns plain JS objects.
//! Only type conversions live here; the npm package shapes results for its public API.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use xlmr_sentiment_core::{ClassifyOptions, ModelFiles, ScoreFunction};

/// Options as the npm package passes them (camelCase); every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct Options {
    preprocess: Option<bool>,
    max_length: Option<usize>,
    batch_size: Option<usize>,
    function: Option<ScoreFunction>,
}

impl Options {
    fn into_core(self) -> ClassifyOptions {
        let defaults = ClassifyOptions::default();
        ClassifyOptions {
            preprocess: self.preprocess.unwrap_or(defaults.preprocess),
            max_length: self.max_length,
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            function: self.function,
            ..defaults
        }
    }
}

/// One text's result as it crosses to JS.
#[derive(Serialize)]
struct JsPrediction<'a> {
    label: &'a str,
    score: f32,
    /// Every label, in the model's label order.
    scores: &'a [xlmr_sentiment_core::LabelScore],
    truncated: bool,
    tokens: usize,
}

/// A loaded XLM-R sequence classifier.
#[wasm_bindgen]
pub struct Classifier {
    inner: xlmr_sentiment_core::Classifier,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

#[wasm_bindgen]
impl Classifier {
    /// Loads a model from the bytes of `config.json`, `tokenizer.json` and the weights
    /// (`model.safetensors` or `pytorch_model.bin`). Throws an `Error` naming what is wrong.
    #[wasm_bindgen(constructor)]
    pub fn new(config: &[u8], tokenizer: &[u8], weights: &[u8]) -> Result<Classifier, JsError> {
        let inner = xlmr_sentiment_core::Classifier::load(ModelFiles {
            config,
            tokenizer,
            weights,
        })
        .map_err(js_error)?;
        Ok(Self { inner })
    }

    /// Label names in the model's order.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// The longest input in tokens, `<s>` and `</s>` included.
    #[wasm_bindgen(getter, js_name = maxInputTokens)]
    pub fn max_input_tokens(&self) -> usize {
        self.inner.max_input_tokens()
    }

    /// Classifies an array of strings. `options`: `{preprocess, maxLength, batchSize, function}`,
    /// all optional. Returns one `{label, score, scores, truncated, tokens}` per text, in order.
    pub fn classify(&self, texts: Vec<String>, options: JsValue) -> Result<JsValue, JsError> {
        let options: Options = if options.is_undefined() || options.is_null() {
            Options::default()
        } else {
            serde_wasm_bindgen::from_value(options)
                .map_err(|e| js_error(format!("invalid options: {e}")))?
        };
        let predictions = self
            .inner
            .classify(&texts, &options.into_core())
            .map_err(js_error)?;
        let out: Vec<JsPrediction> = predictions
            .iter()
            .map(|p| JsPrediction {
                label: &p.label,
                score: p.score,
                scores: &p.scores,
                truncated: p.truncated,
                tokens: p.tokens,
            })
            .collect();
        out.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(js_error)
    }
}
