//! The model's `tokenizer.json`, run as written by the `tokenizers` crate (the behaviour of every
//! deployed fast tokenizer and of `transformers` 4.x), with truncation done per call; or built from
//! a SentencePiece model (`sentencepiece.rs`) for folders that ship no `tokenizer.json`.

mod charsmap;
mod sentencepiece;

pub use sentencepiece::tokenizer_json_from_sentencepiece;

use tokenizers::{PostProcessor, Tokenizer, TruncationDirection};

use crate::error::{Error, Result};

/// Finds every `Precompiled` normalizer (possibly inside a `Sequence`) and checks its charsmap.
fn check_normalizers(value: &serde_json::Value) -> Result<()> {
    match value {
        serde_json::Value::Object(map) => {
            if map.get("type").and_then(|t| t.as_str()) == Some("Precompiled") {
                if let Some(encoded) = map.get("precompiled_charsmap").and_then(|c| c.as_str()) {
                    charsmap::check_base64(encoded).map_err(Error::InvalidTokenizer)?;
                }
            }
            map.values().try_for_each(check_normalizers)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(check_normalizers),
        _ => Ok(()),
    }
}

/// Only the normalizer of `tokenizer.json`; the (large) vocabulary is skipped.
#[derive(serde::Deserialize)]
struct NormalizerOnly {
    #[serde(default)]
    normalizer: Option<serde_json::Value>,
}

/// A tokenizer that yields `<s> .. </s>` id sequences no longer than a given limit.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Tokenizer,
    /// Special tokens the post-processor adds to one sequence (2 for `<s> A </s>`).
    added_tokens: usize,
}

/// The ids of one text and whether they were cut to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids including the special tokens.
    pub ids: Vec<u32>,
    /// True when tokens were dropped to respect the length limit.
    pub truncated: bool,
}

impl TextTokenizer {
    /// Parses `tokenizer.json`. Truncation and padding settings stored in the file are ignored:
    /// the classifier sets the limit per call and pads per batch.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let head: NormalizerOnly =
            serde_json::from_slice(bytes).map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
        if let Some(normalizer) = &head.normalizer {
            check_normalizers(normalizer)?;
        }
        let mut inner =
            Tokenizer::from_bytes(bytes).map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
        inner
            .with_truncation(None)
            .map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
        inner.with_padding(None);
        let added_tokens = inner
            .get_post_processor()
            .map_or(0, |p| p.added_tokens(false));
        Ok(Self {
            inner,
            added_tokens,
        })
    }

    /// Builds the tokenizer from an XLM-R `sentencepiece.bpe.model`, for model folders without
    /// `tokenizer.json`: converts it with [`tokenizer_json_from_sentencepiece`] and loads the result
    /// with [`TextTokenizer::from_json`]. Every failure is [`Error::InvalidSentencePiece`].
    pub fn from_sentencepiece(model: &[u8]) -> Result<Self> {
        Self::from_json(&tokenizer_json_from_sentencepiece(model)?).map_err(|e| match e {
            Error::InvalidTokenizer(reason) => Error::InvalidSentencePiece(reason),
            other => other,
        })
    }

    /// Vocabulary size including added tokens: one more than the largest id it can emit.
    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }

    /// Number of special tokens wrapped around every text.
    pub fn added_tokens(&self) -> usize {
        self.added_tokens
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.inner.token_to_id(token)
    }

    /// Tokenizes `text` into at most `max_tokens` ids (special tokens included).
    ///
    /// Truncation keeps the start of the text and always ends with `</s>`: the text alone is cut to
    /// `max_tokens - added_tokens`, then the post-processor adds `<s>`/`</s>`. This is what
    /// `tokenizers`' `TruncationStrategy::LongestFirst` does for one sequence
    /// (`tokenizers/src/utils/truncation.rs`), i.e. `tokenizer(text, truncation=True,
    /// max_length=max_tokens)` in `transformers`.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Result<Encoded> {
        let budget = max_tokens.checked_sub(self.added_tokens).ok_or_else(|| {
            Error::InvalidOption(format!(
                "max_length {max_tokens} is smaller than the {} special tokens",
                self.added_tokens
            ))
        })?;
        let mut encoding = self
            .inner
            .encode(text, false)
            .map_err(|e| Error::Tokenization(e.to_string()))?;
        let truncated = encoding.len() > budget;
        if truncated {
            encoding.truncate(budget, 0, TruncationDirection::Right);
        }
        let encoding = self
            .inner
            .post_process(encoding, None, true)
            .map_err(|e| Error::Tokenization(e.to_string()))?;
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            truncated,
        })
    }
}
