//! Predictions as JSON lines.

use serde_json::{json, Map, Value};
use xlmr_sentiment_core::Prediction;

/// `{"text", "label", "score", "scores": {label: score, ...}, "truncated"}`; `scores` lists the
/// `top_k` highest labels (all when `None`), highest first.
pub fn prediction_json(text: &str, prediction: &Prediction, top_k: Option<usize>) -> Value {
    let scores: Map<String, Value> = prediction
        .top_k(top_k)
        .into_iter()
        .map(|s| (s.label, json!(s.score)))
        .collect();
    json!({
        "text": text,
        "label": prediction.label,
        "score": prediction.score,
        "scores": scores,
        "truncated": prediction.truncated,
    })
}

/// `{"line": n, "error": "..."}` for an input line that could not be classified.
pub fn error_json(line: usize, error: &str) -> Value {
    json!({ "line": line, "error": error })
}
