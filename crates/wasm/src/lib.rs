//! wasm-bindgen adapter over `xlmr-sentiment-core`: a `Classifier` built from model file bytes,
//! whose `classify` takes texts and options as JS values and returns plain JS objects.
//! Only type conversions live here; the npm package shapes results for its public API.

use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;
use xlmr_sentiment_core::{past_end, ClassifyOptions, ScoreFunction, WeightsSource};

/// The threaded build's `initThreadPool(n)`: starts `n` Web Workers on this module and its shared
/// memory and makes them rayon's global pool. Call it once, in a worker (a page's main thread
/// may not block on the pool), before building a classifier.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// Options as the npm package passes them (camelCase); every field optional.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", default)]
struct Options {
    preprocess: Option<bool>,
    max_length: Option<usize>,
    batch_size: Option<usize>,
    function: Option<ScoreFunction>,
    language: Option<bool>,
}

/// The keys of [`Options`]. serde-wasm-bindgen reads only the properties a struct names, so
/// `deny_unknown_fields` never fires: a misspelt option is caught here instead.
const OPTION_NAMES: [&str; 5] = [
    "preprocess",
    "maxLength",
    "batchSize",
    "function",
    "language",
];

impl Options {
    fn from_js(options: JsValue) -> Result<Self, JsError> {
        if options.is_undefined() || options.is_null() {
            return Ok(Self::default());
        }
        if !options.is_object() {
            return Err(js_error("invalid options: expected an object"));
        }
        let unknown: Vec<String> = js_sys::Object::keys(options.unchecked_ref::<js_sys::Object>())
            .iter()
            .filter_map(|key| key.as_string())
            .filter(|key| !OPTION_NAMES.contains(&key.as_str()))
            .collect();
        if !unknown.is_empty() {
            return Err(js_error(format!(
                "invalid options: unknown {} (known: {})",
                unknown.join(", "),
                OPTION_NAMES.join(", ")
            )));
        }
        serde_wasm_bindgen::from_value(options)
            .map_err(|e| js_error(format!("invalid options: {e}")))
    }

    fn into_core(self) -> ClassifyOptions {
        let defaults = ClassifyOptions::default();
        ClassifyOptions {
            preprocess: self.preprocess.unwrap_or(defaults.preprocess),
            max_length: self.max_length,
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            function: self.function,
            language: self.language.unwrap_or(defaults.language),
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
    /// With the `language` option: the detected language (ISO 639-1) or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    language: Option<Option<&'static str>>,
    /// With the `language` option: whether the model was trained on it, or null.
    #[serde(rename = "languageSupported", skip_serializing_if = "Option::is_none")]
    language_supported: Option<Option<bool>>,
}

/// The weights file as a JS `Uint8Array`, read range by range: each tensor is copied once, from
/// the JS buffer straight into the model's memory. Passing it as `&[u8]` would first copy the
/// whole file into wasm memory, which never shrinks, so that copy would stay for good.
struct JsWeights(js_sys::Uint8Array);

impl WeightsSource for JsWeights {
    fn len(&self) -> u64 {
        u64::from(self.0.length())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let len = self.len();
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= len)
            .ok_or_else(|| past_end(offset, buf.len(), len))?;
        // In range, so both ends fit the array's u32 length.
        self.0.subarray(offset as u32, end as u32).copy_to(buf);
        Ok(())
    }
}

/// Receives a bundle piece by piece as it downloads, so the page never holds the whole file.
/// Given the file's length, each piece is put to work as it arrives (the tokenizer is built
/// once the header is in, each tensor read once its bytes are, and their pieces freed), so the
/// loading overlaps the download and `finish` only builds the model's layers. Without it, the
/// pieces wait in wasm memory for `finish`.
#[wasm_bindgen]
pub struct BundleLoader {
    stream: xlmr_sentiment_core::BundleStream,
}

#[wasm_bindgen]
impl BundleLoader {
    /// A loader for a bundle of `length` bytes, if known (a `content-length`, a blob's size).
    #[wasm_bindgen(constructor)]
    pub fn new(length: Option<f64>) -> Result<BundleLoader, JsError> {
        let length = match length {
            None => None,
            Some(n) if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n < 2f64.powi(53) => {
                Some(n as u64)
            }
            Some(n) => return Err(js_error(format!("invalid bundle length {n}"))),
        };
        Ok(Self {
            stream: xlmr_sentiment_core::BundleStream::new(length),
        })
    }

    /// Takes the next piece of the bundle (copied; the caller may reuse the array) and does the
    /// work it allows. Throws once the bundle proves damaged (a bad header, more bytes than
    /// announced); the loader is then spent.
    pub fn push(&mut self, piece: js_sys::Uint8Array) -> Result<(), JsError> {
        self.stream.push(piece.to_vec()).map_err(js_error)
    }

    /// Bytes received so far.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.stream.received() as f64
    }

    /// Loads the classifier from the pieces received. Throws an `Error` naming what is wrong
    /// (a truncated or damaged bundle, or a file that is not one).
    pub fn finish(self) -> Result<Classifier, JsError> {
        let inner = self.stream.finish().map_err(js_error)?;
        Ok(Classifier { inner })
    }
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
    /// The weights array is only read: the caller may drop it once this returns.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &[u8],
        tokenizer: &[u8],
        weights: js_sys::Uint8Array,
    ) -> Result<Classifier, JsError> {
        let inner = xlmr_sentiment_core::Classifier::load_from_source(
            config,
            tokenizer,
            &JsWeights(weights),
        )
        .map_err(js_error)?;
        Ok(Self { inner })
    }

    /// Loads a bundle written by `xlmr-sentiment pack` (one GGUF file holding the weights,
    /// possibly quantized, with `config.json` and `tokenizer.json`). Quantized weights stay
    /// quantized in memory. The array is only read: the caller may drop it once this returns.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(bundle: js_sys::Uint8Array) -> Result<Classifier, JsError> {
        let inner =
            xlmr_sentiment_core::Classifier::load_bundle(&JsWeights(bundle)).map_err(js_error)?;
        Ok(Self { inner })
    }

    /// For a bundle: the precision it was packed at (`f32`, `f16`, `q8_0`, `q4`); else
    /// `undefined`.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> Option<String> {
        self.inner.bundle_info().map(|b| b.precision.clone())
    }

    /// Label names in the model's order.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// The languages the model was trained on (ISO 639-1 codes, sorted), or `undefined` when
    /// unknown: as recorded in the bundle, or set with `setTrainedLanguages`.
    #[wasm_bindgen(getter, js_name = trainedLanguages)]
    pub fn trained_languages(&self) -> Option<Vec<String>> {
        self.inner.trained_languages().map(|l| l.codes().to_vec())
    }

    /// Sets the languages the model was trained on (ISO 639-1 codes), or forgets them with
    /// `null`/`undefined`. Throws on a code that is not two letters.
    #[wasm_bindgen(js_name = setTrainedLanguages)]
    pub fn set_trained_languages(&mut self, codes: Option<Vec<String>>) -> Result<(), JsError> {
        let languages = codes
            .map(xlmr_sentiment_core::TrainedLanguages::from_codes)
            .transpose()
            .map_err(js_error)?;
        self.inner.set_trained_languages(languages);
        Ok(())
    }

    /// The longest input in tokens, `<s>` and `</s>` included.
    #[wasm_bindgen(getter, js_name = maxInputTokens)]
    pub fn max_input_tokens(&self) -> usize {
        self.inner.max_input_tokens()
    }

    /// Classifies a string or an array of strings. `options`: `{preprocess, maxLength,
    /// batchSize, function, language}`, all optional. Returns an array with one
    /// `{label, score, scores, truncated, tokens}` per text, in input order, plus `language` and
    /// `languageSupported` (each possibly null) with `language: true`.
    pub fn classify(&self, texts: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let texts: Vec<String> = match texts.as_string() {
            Some(text) => vec![text],
            None => serde_wasm_bindgen::from_value(texts)
                .map_err(|_| js_error("classify expects a string or an array of strings"))?,
        };
        let options = Options::from_js(options)?;
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
                language: p.language.as_ref().map(|c| c.language),
                language_supported: p.language.as_ref().map(|c| c.language_supported),
            })
            .collect();
        out.serialize(&serde_wasm_bindgen::Serializer::json_compatible())
            .map_err(js_error)
    }
}
