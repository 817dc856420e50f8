//! The HTTP API's types: the typed requests of `POST /predict` (text-embeddings-inference) and
//! `POST /` (the Hugging Face inference API), parsed from the body with TEI's error messages,
//! and the error kinds with the status code each maps to, in this one place.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use xlmr_sentiment_core::{ScoreFunction, TopK};

/// What went wrong, as TEI names it; each kind has its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// A request the API cannot take (422; 413 for an oversized body).
    Validation,
    /// The tokenizer failed on a text (422).
    Tokenizer,
    /// The model failed (424).
    Backend,
    /// Too many concurrent requests (429).
    Overloaded,
    /// No text, or an empty text (400).
    Empty,
    /// The model thread is gone (503).
    Unhealthy,
    /// `--api-key` is set and the request lacks it (401).
    Unauthorized,
}

impl ErrorType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ErrorType::Validation => "Validation",
            ErrorType::Tokenizer => "Tokenizer",
            ErrorType::Backend => "Backend",
            ErrorType::Overloaded => "Overloaded",
            ErrorType::Empty => "Empty",
            ErrorType::Unhealthy => "Unhealthy",
            ErrorType::Unauthorized => "Unauthorized",
        }
    }

    pub(crate) fn metric_label(self) -> &'static str {
        match self {
            ErrorType::Validation => "validation",
            ErrorType::Tokenizer => "tokenizer",
            ErrorType::Backend => "backend",
            ErrorType::Overloaded => "overloaded",
            ErrorType::Empty => "empty",
            ErrorType::Unhealthy => "unhealthy",
            ErrorType::Unauthorized => "unauthorized",
        }
    }

    fn status(self) -> StatusCode {
        match self {
            ErrorType::Validation | ErrorType::Tokenizer => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorType::Backend => StatusCode::FAILED_DEPENDENCY,
            ErrorType::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            ErrorType::Empty => StatusCode::BAD_REQUEST,
            ErrorType::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorType::Unauthorized => StatusCode::UNAUTHORIZED,
        }
    }
}

/// An error answer: its kind, its status (the kind's, except 413) and a message.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) kind: ErrorType,
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Self {
            kind,
            status: kind.status(),
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": self.message, "error_type": self.kind.name()})),
        )
            .into_response()
    }
}

/// `POST /predict`: TEI's `PredictRequest`.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictRequest {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// Whether `inputs` was a batch (the answer is then a list per text).
    pub batch: bool,
    /// Cut over-long texts instead of refusing them.
    pub truncate: bool,
    /// Raw logits instead of probabilities.
    pub raw_scores: bool,
}

impl PredictRequest {
    /// Parses the request body; `truncate` is `auto_truncate` when the request does not say
    /// (TEI's `--auto-truncate`).
    pub fn parse(
        body: Result<Bytes, BytesRejection>,
        auto_truncate: bool,
    ) -> Result<Self, ApiError> {
        let request = parse_body(body)?;
        let (texts, batch) = tei_inputs(request.get("inputs"))?;
        let truncate = field::<bool>(&request, "truncate")?.unwrap_or(auto_truncate);
        match field::<String>(&request, "truncation_direction")?.as_deref() {
            None | Some("right") | Some("Right") => {}
            Some("left") | Some("Left") => {
                return Err(ApiError::new(
                    ErrorType::Validation,
                    "truncation_direction \"left\" is not supported: only \"right\" (keep the \
                 beginning of the text)",
                ))
            }
            Some(other) => {
                return Err(ApiError::new(
                    ErrorType::Validation,
                    format!("truncation_direction must be \"right\" or \"left\", not {other:?}"),
                ))
            }
        }
        let raw = field::<bool>(&request, "raw_scores")?.unwrap_or(false);
        Ok(Self {
            texts,
            batch,
            truncate,
            raw_scores: raw,
        })
    }
}

/// `POST /`: the Hugging Face inference API's text-classification request.
#[derive(Debug, Clone, PartialEq)]
pub struct HfRequest {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// `parameters.top_k`: labels per text, highest first.
    pub top_k: TopK,
    /// `parameters.function_to_apply`; `None` is the pipeline's default.
    pub function: Option<ScoreFunction>,
    /// `parameters.truncation` (on by default, as in the pipeline).
    pub truncate: bool,
    /// `parameters.language`: add each text's language to its entries.
    pub language: bool,
}

impl HfRequest {
    /// Parses the request body.
    pub fn parse(body: Result<Bytes, BytesRejection>) -> Result<Self, ApiError> {
        let request = parse_body(body)?;
        let (texts, _) = hf_inputs(request.get("inputs"))?;
        let parameters = request.get("parameters").cloned().unwrap_or(Value::Null);
        if !(parameters.is_object() || parameters.is_null()) {
            return Err(ApiError::new(
                ErrorType::Validation,
                "`parameters` must be an object",
            ));
        }
        let top_k = field::<usize>(&parameters, "top_k")?;
        if top_k == Some(0) {
            return Err(ApiError::new(
                ErrorType::Validation,
                "`top_k` must be at least 1",
            ));
        }
        let function = field::<String>(&parameters, "function_to_apply")?
            .map(|f| f.parse::<ScoreFunction>())
            .transpose()
            .map_err(|e| ApiError::new(ErrorType::Validation, e.to_string()))?;
        let truncate = field::<bool>(&parameters, "truncation")?.unwrap_or(true);
        let language = field::<bool>(&parameters, "language")?.unwrap_or(false);
        Ok(Self {
            texts,
            top_k: top_k.map_or(TopK::All, TopK::Best),
            function,
            truncate,
            language,
        })
    }
}

/// The body as JSON, or the error for a body that is too large, unreadable or not JSON.
fn parse_body(body: Result<Bytes, BytesRejection>) -> Result<Value, ApiError> {
    let bytes = body.map_err(|rejection| {
        let status = rejection.status();
        let kind = ErrorType::Validation;
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError {
                kind,
                status,
                message: "the request body is larger than the server's payload limit \
                          (--payload-limit)"
                    .into(),
            }
        } else {
            ApiError::new(kind, format!("cannot read the request body: {rejection}"))
        }
    })?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorType::Validation, format!("invalid JSON body: {e}")))
}

/// An optional field of type `T`, or a Validation error naming it.
fn field<T: serde::de::DeserializeOwned>(
    object: &Value,
    name: &str,
) -> Result<Option<T>, ApiError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => serde_json::from_value(v.clone())
            .map(Some)
            .map_err(|e| ApiError::new(ErrorType::Validation, format!("`{name}`: {e}"))),
    }
}

const PAIR_MESSAGE: &str = "is a sentence pair in the text-embeddings-inference API \
    ([\"a\", \"b\"] is ONE pair, not two texts), and this model classifies single texts. To \
    classify several texts, send {\"inputs\": [[\"a\"], [\"b\"]]} to /predict, or \
    {\"inputs\": [\"a\", \"b\"]} to the Hugging Face-shaped endpoint POST /, where a list of \
    strings is a batch";

/// TEI's `inputs`: a text, `[text]`, `[a, b]` (a pair), or a list of those (a batch).
/// Returns the texts and whether the request was a batch.
fn tei_inputs(inputs: Option<&Value>) -> Result<(Vec<String>, bool), ApiError> {
    let invalid = |what: &str| {
        ApiError::new(
            ErrorType::Validation,
            format!("`inputs` {what}: expected a string, or a list of [string] for a batch"),
        )
    };
    // One sequence: a string, [string], or the pair [string, string].
    let sequence = |v: &Value, at: &str| -> Result<String, ApiError> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Array(items) => match items.as_slice() {
                [Value::String(s)] => Ok(s.clone()),
                [Value::String(_), Value::String(_)] => Err(ApiError::new(
                    ErrorType::Validation,
                    format!("{at} {PAIR_MESSAGE}"),
                )),
                _ => Err(invalid(&format!("has an invalid element {at}"))),
            },
            _ => Err(invalid(&format!("has an invalid element {at}"))),
        }
    };
    match inputs {
        None => Err(invalid("is missing")),
        Some(Value::String(s)) => Ok((vec![s.clone()], false)),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(ApiError::new(ErrorType::Empty, "`inputs` cannot be empty"))
        }
        Some(Value::Array(items)) => {
            let all_strings = items.iter().all(Value::is_string);
            if all_strings && items.len() <= 2 {
                // `["a"]` is one text; `["a", "b"]` one pair (TEI's `Sequence`).
                return sequence(&Value::Array(items.clone()), "`inputs`")
                    .map(|t| (vec![t], false));
            }
            let texts = items
                .iter()
                .enumerate()
                .map(|(i, v)| sequence(v, &format!("`inputs[{i}]`")))
                .collect::<Result<Vec<_>, _>>()?;
            Ok((texts, true))
        }
        Some(_) => Err(invalid("has the wrong type")),
    }
}

/// The Hugging Face inference API's `inputs`: a text, or a list of texts (a batch).
fn hf_inputs(inputs: Option<&Value>) -> Result<(Vec<String>, bool), ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorType::Validation,
            "`inputs` must be a string or a list of strings",
        )
    };
    match inputs {
        Some(Value::String(s)) => Ok((vec![s.clone()], false)),
        Some(Value::Array(items)) if items.is_empty() => {
            Err(ApiError::new(ErrorType::Empty, "`inputs` cannot be empty"))
        }
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(invalid))
            .collect::<Result<Vec<_>, _>>()
            .map(|texts| (texts, true)),
        _ => Err(invalid()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(v: Value) -> Result<(Vec<String>, bool), ErrorType> {
        tei_inputs(Some(&v)).map_err(|e| e.kind)
    }

    #[test]
    fn tei_inputs_follow_tei_sequences() {
        assert_eq!(texts(json!("a")), Ok((vec!["a".into()], false)));
        assert_eq!(texts(json!(["a"])), Ok((vec!["a".into()], false)));
        assert_eq!(texts(json!(["a", "b"])), Err(ErrorType::Validation));
        assert_eq!(
            texts(json!([["a"], ["b"]])),
            Ok((vec!["a".into(), "b".into()], true))
        );
        assert_eq!(texts(json!([["a"]])), Ok((vec!["a".into()], true)));
        assert_eq!(
            texts(json!(["a", "b", "c"])),
            Ok((vec!["a".into(), "b".into(), "c".into()], true))
        );
        assert_eq!(
            texts(json!([["a", "b"], ["c"]])),
            Err(ErrorType::Validation)
        );
        assert_eq!(texts(json!([])), Err(ErrorType::Empty));
        assert_eq!(texts(json!(3)), Err(ErrorType::Validation));
    }
}
