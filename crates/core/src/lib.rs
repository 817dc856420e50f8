//! Multilingual sentiment classification with XLM-RoBERTa, on the user's device.
//!
//! The core is pure: the bytes of a Hugging Face model folder (`config.json`, `tokenizer.json`,
//! `model.safetensors` or `pytorch_model.bin`) go in, predictions come out; a folder with only
//! `sentencepiece.bpe.model` gets its `tokenizer.json` from [`tokenizer_json_from_sentencepiece`].
//! It does no file or network I/O, so the same code runs natively and in WebAssembly.
//!
//! ```no_run
//! # fn main() -> Result<(), xlmr_sentiment_core::Error> {
//! use xlmr_sentiment_core::{Classifier, ClassifyOptions, ModelFiles};
//! # let (config, tokenizer, weights) = (vec![], vec![], vec![]);
//! let classifier = Classifier::load(ModelFiles {
//!     config: &config,
//!     tokenizer: &tokenizer,
//!     weights: &weights,
//! })?;
//! let predictions = classifier.classify(&["I love this!"], &ClassifyOptions::default())?;
//! println!("{} {:.3}", predictions[0].label, predictions[0].score);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]

mod bundle;
mod classify;
mod config;
mod device;
mod error;
mod files;
#[cfg(feature = "gpu")]
mod gpu;
mod kernels;
mod language;
mod layers;
mod load;
mod model;
mod options;
mod prediction;
mod preprocess;
mod tokenize;
mod weights;
mod wire;

pub use bundle::{write_bundle, BundleInfo, BundleSource, PackSummary, Precision, DIGEST_KEY};
pub use classify::{Classifier, Outcome};
pub use config::{Activation, Config, ScoreFunction, MAX_GENERATED_LABELS};
pub use device::{DeviceChoice, DeviceReport, DeviceRequest, GpuInfo, GpuWeights};
pub use error::{Error, Result};
pub use files::{CONFIG_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, WEIGHT_FILES};
#[cfg(feature = "gpu")]
pub use gpu::Gpu;
pub use kernels::{kernel_names, KernelNames};
pub use language::{detect_language, Language, LanguageCheck, TrainedLanguages};
pub use load::{BundleStream, ModelFiles};
pub use options::ClassifyOptions;
pub use prediction::{LabelScore, Prediction};
pub use preprocess::preprocess_tweet;
pub use tokenize::{
    tokenizer_json_from_sentencepiece, unigram_tokenizer_from_json, CompactUnigram, Encoded,
    TextTokenizer, UnigramTokenizer,
};
pub use weights::{past_end, ChunkedBytes, InPlaceBytes, ReadAt, WeightsSource};
pub use wire::{
    label_entries, Case, DetailedPrediction, LabelEntry, PipelineAnswer, PredictionRecord, TopK,
    WireOptions,
};
