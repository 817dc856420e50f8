//! Predictions as JSON lines: the core's [`PredictionRecord`] after the line's own key.

use serde::Serialize;
use xlmr_sentiment_core::{Prediction, PredictionRecord, TopK};

/// The `--top-k` flag as the core takes it (clap refuses 0).
pub fn top_k(k: Option<usize>) -> TopK {
    k.map_or(TopK::All, TopK::Best)
}

/// One output line: `{"<key>": ..., "label", "score", "scores", "truncated", ...}` for a
/// prediction, `{"<key>": ..., "line", "error"}` for a record that has none.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Line<'a, K: Serialize> {
    /// A classified record.
    Prediction {
        /// The caller's key (`text` or `id`), first.
        #[serde(flatten)]
        key: K,
        /// The prediction's fields.
        #[serde(flatten)]
        record: PredictionRecord<'a>,
    },
    /// A record that could not be classified.
    Error {
        /// The caller's key, if the record has one.
        #[serde(flatten)]
        key: Option<K>,
        /// Its 1-based line in the input.
        line: u64,
        /// Why.
        error: &'a str,
    },
}

/// The `text` key of the classify command's lines.
#[derive(Serialize)]
pub struct TextKey<'a> {
    /// The input text.
    pub text: &'a str,
}

/// The `classify` line of `text`.
pub fn prediction_line<'a>(
    text: &'a str,
    prediction: &'a Prediction,
    top_k: TopK,
) -> Line<'a, TextKey<'a>> {
    Line::Prediction {
        key: TextKey { text },
        record: PredictionRecord::new(prediction, top_k),
    }
}

/// `{"line": n, "error": "..."}` for an input line that could not be classified.
pub fn error_line(line: u64, error: &str) -> Line<'_, TextKey<'_>> {
    Line::Error {
        key: None,
        line,
        error,
    }
}
