//! The file names of a Hugging Face model folder, in the order a loader tries them. Every
//! loader (the native CLI's folder, the npm package's `load(url)`) resolves a folder by this
//! one rule; the npm package's copy of the names is checked against it by a test.

/// The model's configuration.
pub const CONFIG_FILE: &str = "config.json";

/// Weight file names, in order of preference: safetensors is faster to read and cannot run code.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

/// The tokenizer file.
pub const TOKENIZER_FILE: &str = "tokenizer.json";

/// The SentencePiece model that [`TOKENIZER_FILE`] is built from when a folder lacks it
/// ([`crate::tokenizer_json_from_sentencepiece`]); some XLM-R models ship only this.
pub const SENTENCEPIECE_FILE: &str = "sentencepiece.bpe.model";
