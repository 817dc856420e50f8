//! A Hugging Face model folder on disk: `config.json`, `tokenizer.json`, and `model.safetensors`
//! or `pytorch_model.bin`.

use std::path::{Path, PathBuf};

use xlmr_sentiment_core::{Classifier, ModelFiles};

use crate::Error;

/// Weight file names, in order of preference: safetensors is faster to read and cannot run code.
pub const WEIGHT_FILES: [&str; 2] = ["model.safetensors", "pytorch_model.bin"];

fn read(path: PathBuf) -> Result<Vec<u8>, Error> {
    std::fs::read(&path).map_err(|error| Error::Io { path, error })
}

/// The weights file a folder would be loaded from.
pub fn weights_path(dir: &Path) -> Result<PathBuf, Error> {
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
        });
    }
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::IncompleteModel {
            dir: dir.to_path_buf(),
            what: "no model.safetensors or pytorch_model.bin in this folder".into(),
        })
}

/// Loads the classifier in `dir`. The file buffers are dropped once the model holds the weights.
pub fn load(dir: &Path) -> Result<Classifier, Error> {
    let weights_path = weights_path(dir)?;
    let tokenizer_path = dir.join("tokenizer.json");
    if !tokenizer_path.is_file() {
        let what = if dir.join("sentencepiece.bpe.model").is_file() {
            "tokenizer.json is missing (this folder has only sentencepiece.bpe.model; save the \
             tokenizer with transformers' XLMRobertaTokenizerFast to create tokenizer.json)"
        } else {
            "tokenizer.json is missing"
        };
        return Err(Error::IncompleteModel {
            dir: dir.to_path_buf(),
            what: what.into(),
        });
    }
    let config = read(dir.join("config.json"))?;
    let tokenizer = read(tokenizer_path)?;
    let weights = read(weights_path)?;
    Classifier::load(ModelFiles {
        config: &config,
        tokenizer: &tokenizer,
        weights: &weights,
    })
    .map_err(|error| Error::Model {
        dir: dir.to_path_buf(),
        error,
    })
}
