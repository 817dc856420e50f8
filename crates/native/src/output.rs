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
    let mut value = json!({
        "text": text,
        "label": prediction.label,
        "score": prediction.score,
        "scores": scores,
        "truncated": prediction.truncated,
    });
    add_language(&mut value, prediction);
    value
}

/// Adds `language` and `language_supported` (each possibly null) to a prediction's JSON object
/// when the prediction carries a language check.
pub fn add_language(value: &mut Value, prediction: &Prediction) {
    if let (Some(check), Value::Object(map)) = (&prediction.language, value) {
        map.insert("language".into(), json!(check.language));
        map.insert("language_supported".into(), json!(check.language_supported));
    }
}

/// `{"line": n, "error": "..."}` for an input line that could not be classified.
pub fn error_json(line: usize, error: &str) -> Value {
    json!({ "line": line, "error": error })
}
