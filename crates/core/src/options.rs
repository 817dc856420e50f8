//! How a call classifies: [`ClassifyOptions`], the same for every adapter.

use crate::config::ScoreFunction;

/// Per-call settings of [`crate::Classifier::classify`].
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifyOptions {
    /// Apply the model card's tweet preprocessing (`@handle` -> `@user`, links -> `http`).
    /// On by default: the default model was trained on text normalised this way.
    pub preprocess: bool,
    /// Token limit per text, `<s>` and `</s>` included; `None` means the model's limit
    /// ([`crate::Config::max_input_tokens`], 512 for XLM-R). Longer texts are truncated and
    /// flagged.
    pub max_length: Option<usize>,
    /// Cut a text longer than the token limit to its beginning (and flag it `truncated`), as
    /// the pipeline's `truncation=True` does; when false such a text is refused with
    /// [`crate::Error::TextTooLong`] instead. On by default.
    pub truncate: bool,
    /// Most texts per forward pass.
    pub batch_size: usize,
    /// Most tokens per forward pass, the sum of its texts' token counts (batches are packed,
    /// not padded, so this bounds activation memory). A single text longer than this still runs
    /// alone.
    pub max_batch_tokens: usize,
    /// Score function; `None` picks the pipeline's default for the model's config.
    pub function: Option<ScoreFunction>,
    /// Detect each text's language and check it against the model's trained languages
    /// ([`crate::Prediction::language`]). Off by default: it costs time on every text.
    pub language: bool,
}

impl ClassifyOptions {
    /// The default [`ClassifyOptions::batch_size`].
    pub const DEFAULT_BATCH_SIZE: usize = 32;
    /// The default [`ClassifyOptions::max_batch_tokens`].
    pub const DEFAULT_MAX_BATCH_TOKENS: usize = 16384;
}

impl Default for ClassifyOptions {
    fn default() -> Self {
        Self {
            preprocess: true,
            max_length: None,
            truncate: true,
            batch_size: Self::DEFAULT_BATCH_SIZE,
            max_batch_tokens: Self::DEFAULT_MAX_BATCH_TOKENS,
            function: None,
            language: false,
        }
    }
}
