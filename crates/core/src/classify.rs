//! Text in, predictions out: preprocessing, tokenization with truncation, length-sorted batches,
//! the forward pass, and scores as the `transformers` text-classification pipeline computes them.

use candle_core::Device;
use serde::Serialize;

use crate::bundle::{read_bundle, BundleInfo};
use crate::config::{Config, ScoreFunction};
use crate::error::{Error, Result};
use crate::language::{LanguageCheck, TrainedLanguages};
use crate::model::XlmRobertaForSequenceClassification;
use crate::preprocess::preprocess_tweet;
use crate::tokenize::{Encoded, TextTokenizer};
use crate::weights::{TensorStore, WeightsSource};

/// The files of a Hugging Face model folder, as bytes.
#[derive(Debug, Clone, Copy)]
pub struct ModelFiles<'a> {
    /// `config.json`.
    pub config: &'a [u8],
    /// `tokenizer.json`.
    pub tokenizer: &'a [u8],
    /// `model.safetensors` or `pytorch_model.bin` (recognised by content).
    pub weights: &'a [u8],
}

/// Per-call settings of [`Classifier::classify`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifyOptions {
    /// Apply the model card's tweet preprocessing (`@handle` -> `@user`, links -> `http`).
    /// On by default: the default model was trained on text normalised this way.
    pub preprocess: bool,
    /// Token limit per text, `<s>` and `</s>` included; `None` means the model's limit
    /// ([`Config::max_input_tokens`], 512 for XLM-R). Longer texts are truncated and flagged.
    pub max_length: Option<usize>,
    /// Most texts per forward pass.
    pub batch_size: usize,
    /// Most tokens per forward pass, the sum of its texts' token counts (batches are packed,
    /// not padded, so this bounds activation memory). A single text longer than this still runs
    /// alone.
    pub max_batch_tokens: usize,
    /// Score function; `None` picks the pipeline's default for the model's config.
    pub function: Option<ScoreFunction>,
    /// Detect each text's language and check it against the model's trained languages
    /// ([`Prediction::language`]). Off by default: it costs time on every text.
    pub language: bool,
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        Self {
            preprocess: true,
            max_length: None,
            batch_size: 32,
            max_batch_tokens: 16384,
            function: None,
            language: false,
        }
    }
}

/// One label and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    /// Label name from `id2label`.
    pub label: String,
    /// Probability (or raw logit with [`ScoreFunction::None`]).
    pub score: f32,
}

/// The classification of one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The highest-scoring label.
    pub label: String,
    /// Its score.
    pub score: f32,
    /// Every label's score, in the model's label order (`id2label`).
    pub scores: Vec<LabelScore>,
    /// Whether the text was cut to the token limit before classification.
    pub truncated: bool,
    /// Tokens the model saw, `<s>` and `</s>` included.
    pub tokens: usize,
    /// With [`ClassifyOptions::language`]: the text's detected language and whether the model
    /// was trained on it (serialized as the fields `language` and `language_supported`).
    #[serde(flatten)]
    pub language: Option<LanguageCheck>,
}

impl Prediction {
    /// The `k` highest scores, highest first (ties keep label order); `None` gives all labels.
    pub fn top_k(&self, k: Option<usize>) -> Vec<LabelScore> {
        let mut sorted = self.scores.clone();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
        sorted.truncate(k.unwrap_or(sorted.len()));
        sorted
    }
}

/// A loaded model: config, tokenizer and weights, ready to classify.
#[derive(Debug)]
pub struct Classifier {
    config: Config,
    tokenizer: TextTokenizer,
    model: XlmRobertaForSequenceClassification,
    bundle: Option<BundleInfo>,
    trained_languages: Option<TrainedLanguages>,
}

impl Classifier {
    /// Loads a model from the bytes of its files, checking that they agree with each other.
    /// The weights are copied into the model; the caller's buffers can be dropped afterwards.
    pub fn load(files: ModelFiles<'_>) -> Result<Self> {
        Self::load_from_source(files.config, files.tokenizer, &files.weights)
    }

    /// Like [`Classifier::load`], with the weights read range by range from `weights`, each
    /// tensor straight into the model's memory: the way to load without first holding a second
    /// whole copy of the file (the wasm adapter reads from a JS `Uint8Array` this way).
    pub fn load_from_source(
        config: &[u8],
        tokenizer: &[u8],
        weights: &dyn WeightsSource,
    ) -> Result<Self> {
        let device = Device::Cpu;
        let store = TensorStore::from_source(weights, &device)?;
        Self::assemble(config, tokenizer, store, None)
    }

    /// Loads a bundle written by [`crate::write_bundle`] (`xlmr-sentiment pack`): one GGUF file
    /// with the tensors, quantized or not, and `config.json` and `tokenizer.json` inside.
    /// Quantized matrices stay small in memory: linear layers as int8, the word embeddings in
    /// their blocks.
    pub fn load_bundle(bundle: &dyn WeightsSource) -> Result<Self> {
        let bundle = read_bundle(bundle, &Device::Cpu)?;
        Self::assemble(
            &bundle.config,
            &bundle.tokenizer,
            bundle.store,
            Some(bundle.info),
        )
    }

    fn assemble(
        config: &[u8],
        tokenizer: &[u8],
        weights: TensorStore,
        bundle: Option<BundleInfo>,
    ) -> Result<Self> {
        let config = Config::from_json(config)?;
        // The tokenizer and the model are independent: built side by side where there is more
        // than one thread (native, and the threaded wasm build), one after the other otherwise.
        let (tokenizer, model) = rayon::join(
            || TextTokenizer::from_json(tokenizer),
            || XlmRobertaForSequenceClassification::new(&config, &weights),
        );
        Self::from_parts(config, tokenizer?, model?, bundle)
    }

    /// A classifier of parts built separately, checked to agree with each other.
    pub(crate) fn from_parts(
        config: Config,
        tokenizer: TextTokenizer,
        model: XlmRobertaForSequenceClassification,
        bundle: Option<BundleInfo>,
    ) -> Result<Self> {
        // The embedding table now has exactly config.vocab_size rows.
        if tokenizer.vocab_size() > config.vocab_size {
            return Err(Error::VocabularyTooLarge {
                tokenizer_vocab: tokenizer.vocab_size(),
                embedding_rows: config.vocab_size,
            });
        }
        if tokenizer.added_tokens() >= config.max_input_tokens() {
            return Err(Error::InvalidConfig(
                "the model's token limit leaves no room for text".into(),
            ));
        }
        let trained_languages = bundle
            .as_ref()
            .and_then(|b| b.source.trained_languages.clone());
        Ok(Self {
            config,
            tokenizer,
            model,
            bundle,
            trained_languages,
        })
    }

    /// For a model loaded from a bundle: its precision and source.
    pub fn bundle_info(&self) -> Option<&BundleInfo> {
        self.bundle.as_ref()
    }

    /// The languages the model was trained on, when known: from a bundle's record or set with
    /// [`Classifier::set_trained_languages`]. Never guessed.
    pub fn trained_languages(&self) -> Option<&TrainedLanguages> {
        self.trained_languages.as_ref()
    }

    /// Sets (or, with `None`, forgets) the languages the model was trained on.
    pub fn set_trained_languages(&mut self, languages: Option<TrainedLanguages>) {
        self.trained_languages = languages;
    }

    /// `text`'s detected language and whether the model was trained on it (what
    /// [`ClassifyOptions::language`] adds to a prediction). The raw text is checked, before
    /// preprocessing.
    pub fn check_language(&self, text: &str) -> LanguageCheck {
        LanguageCheck::of(text, self.trained_languages.as_ref())
    }

    /// The validated config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Label names in output order.
    pub fn labels(&self) -> &[String] {
        &self.config.labels
    }

    /// The longest input the model accepts, in tokens, `<s>` and `</s>` included.
    pub fn max_input_tokens(&self) -> usize {
        self.config.max_input_tokens()
    }

    fn token_limit(&self, options: &ClassifyOptions) -> Result<usize> {
        let model_limit = self.max_input_tokens();
        match options.max_length {
            None => Ok(model_limit),
            Some(n) if n > model_limit => Err(Error::InvalidOption(format!(
                "max_length {n} exceeds the model's limit of {model_limit} tokens"
            ))),
            Some(n) if n <= self.tokenizer.added_tokens() => Err(Error::InvalidOption(format!(
                "max_length {n} leaves no room for text after {} special tokens",
                self.tokenizer.added_tokens()
            ))),
            Some(n) => Ok(n),
        }
    }

    /// Checks options against this model without classifying anything.
    pub fn check_options(&self, options: &ClassifyOptions) -> Result<()> {
        if options.batch_size == 0 {
            return Err(Error::InvalidOption("batch_size must be at least 1".into()));
        }
        self.token_limit(options).map(|_| ())
    }

    /// The token ids the model sees for `text` under `options` (preprocessing and truncation
    /// applied).
    pub fn encode(&self, text: &str, options: &ClassifyOptions) -> Result<Encoded> {
        let limit = self.token_limit(options)?;
        if options.preprocess {
            self.tokenizer.encode(&preprocess_tweet(text), limit)
        } else {
            self.tokenizer.encode(text, limit)
        }
    }

    /// How many tokens `text` has under `options` before any truncation, `<s>` and `</s>`
    /// included: what a server reports when it refuses an over-long input instead of cutting it.
    pub fn token_count(&self, text: &str, options: &ClassifyOptions) -> Result<usize> {
        self.token_limit(options)?;
        let encoded = if options.preprocess {
            self.tokenizer.encode(&preprocess_tweet(text), usize::MAX)
        } else {
            self.tokenizer.encode(text, usize::MAX)
        }?;
        Ok(encoded.ids.len())
    }

    /// Classifies texts; the result has one prediction per text, in input order.
    ///
    /// Texts are sorted by token count and batched; a batch's texts are packed one after another
    /// (no padding) and attend only to themselves, so a text's scores do not depend on its batch
    /// beyond the last bits of f32 rounding.
    pub fn classify<S: AsRef<str>>(
        &self,
        texts: &[S],
        options: &ClassifyOptions,
    ) -> Result<Vec<Prediction>> {
        self.check_options(options)?;
        let encoded = texts
            .iter()
            .map(|t| self.encode(t.as_ref(), options))
            .collect::<Result<Vec<_>>>()?;
        let mut predictions = self.classify_encoded(&encoded, options)?;
        if options.language {
            for (prediction, text) in predictions.iter_mut().zip(texts) {
                prediction.language = Some(self.check_language(text.as_ref()));
            }
        }
        Ok(predictions)
    }

    /// Classifies texts already encoded with [`Classifier::encode`] (so a server can tokenize on
    /// request threads and batch on its model thread); one prediction per sequence, in order.
    /// Uses `options.batch_size`, `max_batch_tokens` and `function`; the texts are not here, so
    /// `language` is left to the caller ([`Classifier::check_language`]).
    pub fn classify_encoded(
        &self,
        encoded: &[Encoded],
        options: &ClassifyOptions,
    ) -> Result<Vec<Prediction>> {
        self.check_options(options)?;
        let function = options
            .function
            .unwrap_or_else(|| self.config.default_score_function());
        let max_ids = self.config.vocab_size as u32;
        if let Some(bad) = encoded.iter().find(|e| {
            e.ids.is_empty()
                || e.ids.len() > self.config.max_input_tokens()
                || e.ids.iter().any(|&id| id >= max_ids)
        }) {
            return Err(Error::InvalidOption(format!(
                "an encoded sequence of {} ids is not one this model's tokenizer produces",
                bad.ids.len()
            )));
        }
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| encoded[i].ids.len());

        let mut predictions: Vec<Option<Prediction>> = vec![None; encoded.len()];
        let mut start = 0;
        while start < order.len() {
            // Batches are packed, not padded: their activations grow with the sum of the texts'
            // tokens, which is what the limit counts.
            let mut end = start + 1;
            let mut tokens = encoded[order[start]].ids.len();
            while end < order.len()
                && end - start < options.batch_size
                && tokens + encoded[order[end]].ids.len() <= options.max_batch_tokens
            {
                tokens += encoded[order[end]].ids.len();
                end += 1;
            }
            let batch = &order[start..end];
            let sequences: Vec<&[u32]> = batch.iter().map(|&i| encoded[i].ids.as_slice()).collect();
            let logits = self.model.forward(&sequences)?;
            for (&i, row) in batch.iter().zip(logits) {
                predictions[i] = Some(self.prediction(&row, function, &encoded[i]));
            }
            start = end;
        }
        Ok(predictions
            .into_iter()
            .map(|p| p.expect("every text is in one batch"))
            .collect())
    }

    fn prediction(&self, logits: &[f32], function: ScoreFunction, encoded: &Encoded) -> Prediction {
        let values = apply(function, logits);
        let scores: Vec<LabelScore> = self
            .config
            .labels
            .iter()
            .zip(values)
            .map(|(label, score)| LabelScore {
                label: label.clone(),
                score,
            })
            .collect();
        // First maximum, like numpy's argmax in the pipeline.
        let best = scores.iter().enumerate().fold(0, |best, (i, s)| {
            if s.score > scores[best].score {
                i
            } else {
                best
            }
        });
        Prediction {
            label: scores[best].label.clone(),
            score: scores[best].score,
            scores,
            truncated: encoded.truncated,
            tokens: encoded.ids.len(),
            language: None,
        }
    }
}

/// The pipeline's `softmax` (max-shifted) and `sigmoid`, in f32.
fn apply(function: ScoreFunction, logits: &[f32]) -> Vec<f32> {
    match function {
        ScoreFunction::None => logits.to_vec(),
        ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
        ScoreFunction::Softmax => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            exps.into_iter().map(|e| e / sum).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_shifted_and_normalised() {
        let p = apply(ScoreFunction::Softmax, &[1000.0, 1000.0, f32::NEG_INFINITY]);
        assert_eq!(p, [0.5, 0.5, 0.0]);
        let p = apply(ScoreFunction::Softmax, &[0.0, 2.0_f32.ln()]);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-7 && (p[1] - 2.0 / 3.0).abs() < 1e-7);
    }

    #[test]
    fn sigmoid_and_none() {
        assert_eq!(apply(ScoreFunction::Sigmoid, &[0.0]), [0.5]);
        assert_eq!(apply(ScoreFunction::None, &[-3.5, 2.0]), [-3.5, 2.0]);
    }

    #[test]
    fn top_k_sorts_highest_first() {
        let p = Prediction {
            label: "b".into(),
            score: 0.7,
            scores: vec![
                LabelScore {
                    label: "a".into(),
                    score: 0.1,
                },
                LabelScore {
                    label: "b".into(),
                    score: 0.7,
                },
                LabelScore {
                    label: "c".into(),
                    score: 0.2,
                },
            ],
            truncated: false,
            tokens: 3,
            language: None,
        };
        let labels = |k| p.top_k(k).into_iter().map(|s| s.label).collect::<Vec<_>>();
        assert_eq!(labels(None), ["b", "c", "a"]);
        assert_eq!(labels(Some(1)), ["b"]);
        assert_eq!(labels(Some(9)), ["b", "c", "a"]);
    }
}
