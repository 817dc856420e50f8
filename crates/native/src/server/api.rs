//! The HTTP API's types: the typed requests of `POST /predict` (text-embeddings-inference) and
//! `POST /` (the Hugging Face inference API), parsed from the body with TEI's error messages,
//! and the error kinds with the status code each maps to, in this one place.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{IntoResponses, ToSchema};
use xlmr_sentiment_core::{ScoreFunction, TopK};

/// What went wrong, as TEI names it; each kind has its HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
pub enum ErrorType {
    /// A request the API cannot take (422; 413 for an oversized body, 408 for one too slow).
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

    /// A body over `--payload-limit` (413).
    pub(crate) fn payload_too_large() -> Self {
        Self {
            kind: ErrorType::Validation,
            status: StatusCode::PAYLOAD_TOO_LARGE,
            message: "the request body is larger than the server's payload limit \
                      (--payload-limit)"
                .into(),
        }
    }

    /// A body that did not arrive within `--body-timeout` (408).
    pub(crate) fn body_too_slow(timeout: std::time::Duration) -> Self {
        Self {
            kind: ErrorType::Validation,
            status: StatusCode::REQUEST_TIMEOUT,
            message: format!(
                "the request body did not arrive within {} s (--body-timeout)",
                timeout.as_secs_f64()
            ),
        }
    }
}

/// Every error's body, as TEI's `ErrorResponse`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorResponse {
    /// What went wrong, for a person.
    pub error: String,
    /// What went wrong, for a program.
    pub error_type: ErrorType,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorResponse {
            error: self.message,
            error_type: self.kind,
        };
        (self.status, Json(body)).into_response()
    }
}

/// The error answers of the classification routes, as the OpenAPI document lists them.
#[derive(IntoResponses)]
#[allow(dead_code)] // Only described: handlers answer with `ApiError`.
pub(crate) enum ClassifyErrors {
    /// No text, or an empty text (`Empty`).
    #[response(status = 400)]
    Empty(ErrorResponse),
    /// `--api-key` is set and the request lacks it (`Unauthorized`).
    #[response(status = 401)]
    Unauthorized(ErrorResponse),
    /// The body did not arrive within `--body-timeout` (`Validation`); the connection is
    /// closed.
    #[response(status = 408)]
    TooSlow(ErrorResponse),
    /// The body is over `--payload-limit` (`Validation`).
    #[response(status = 413)]
    TooLarge(ErrorResponse),
    /// A body the API cannot take: not JSON, a field of the wrong type, a sentence pair, more
    /// texts than `max_client_batch_size`, a text over `max_input_length` tokens without
    /// truncation (`Validation`), or a text the tokenizer cannot take (`Tokenizer`).
    #[response(status = 422)]
    Invalid(ErrorResponse),
    /// The model failed on a batch (`Backend`), such as when its weights file was changed or
    /// cut while serving.
    #[response(status = 424)]
    Backend(ErrorResponse),
    /// `max_concurrent_requests` requests are being served: retry later (`Overloaded`).
    #[response(status = 429)]
    Overloaded(ErrorResponse),
    /// The model thread has stopped (`Unhealthy`).
    #[response(status = 503)]
    Unhealthy(ErrorResponse),
}

/// One label and its score (TEI's `Prediction`); the core's `LabelEntry` writes it.
#[derive(Serialize, ToSchema)]
#[allow(dead_code)] // Only described: the core's wire types serialize the answers.
pub(crate) struct Prediction {
    /// The label, as the model's `id2label` names it.
    label: String,
    /// Its probability (or logit, with `raw_scores` / `function_to_apply: none`).
    score: f32,
}

/// `POST /predict`'s answer: every label, highest first; for a batch, one such list per text,
/// in order.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Only described.
pub(crate) enum PredictResponse {
    /// One text's labels.
    Single(Vec<Prediction>),
    /// A batch: each text's labels.
    Batch(Vec<Vec<Prediction>>),
}

/// One label of `POST /`'s answer: the label and score, and the text's language when
/// `parameters.language` asks for it.
#[derive(ToSchema)]
#[allow(dead_code)] // Only described.
pub(crate) struct HfPrediction {
    /// The label, as the model's `id2label` names it.
    label: String,
    /// Its score under `function_to_apply`.
    score: f32,
    /// With `parameters.language`: the text's language (ISO 639-1), null when detection is
    /// not reliable.
    language: Option<String>,
    /// With `parameters.language`: whether the model was trained on that language, null when
    /// either is unknown.
    language_supported: Option<bool>,
}

/// `POST /`'s answer: one list of labels per text (highest first, `top_k` of them), inside an
/// outer list even for a single text.
#[derive(ToSchema)]
#[schema(value_type = Vec<Vec<HfPrediction>>)]
#[allow(dead_code)] // Only described.
pub(crate) struct HfResponse(Vec<Vec<HfPrediction>>);

/// `GET /info`: the model (never its path on the server) and the server's limits.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Info {
    /// The model.
    #[serde(flatten)]
    pub model: ModelInfo,
    /// Most tokens per text, `<s>` and `</s>` included.
    pub max_input_length: usize,
    /// Most tokens per model batch.
    pub max_batch_tokens: usize,
    /// Most texts per request.
    pub max_client_batch_size: usize,
    /// Most requests served at once (429 above).
    pub max_concurrent_requests: usize,
    /// Whether the card's tweet preprocessing runs before tokenization.
    pub preprocess: bool,
    /// The server's version.
    pub version: String,
    /// Where the model runs now, and why.
    pub device: DeviceInfo,
}

/// Where the model runs (`--device`), as it stands now: a GPU lost mid-run moves it to the CPU.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DeviceInfo {
    /// What `--device` asked for: `cpu`, `gpu` or `auto`.
    pub requested: String,
    /// `gpu` when batches (with `auto`, those of at least `gpu_min_tokens` tokens) run on the
    /// GPU, else `cpu`.
    pub device: String,
    /// The GPU adapter's name, where one was found.
    pub adapter: Option<String>,
    /// The API the GPU is driven through (`vulkan`, `metal`, `dx12`), where one was found.
    pub backend: Option<String>,
    /// With `auto` on a GPU: the fewest tokens a batch must hold to run there.
    pub gpu_min_tokens: Option<usize>,
    /// Where the GPU holds the model: how its dense layers' weights are stored (`int8` for a
    /// q8_0 or q4 bundle; `f16` for an f16 bundle or a folder saved in f16; else `f32`; `mixed`
    /// where the layers differ).
    pub gpu_weights: Option<String>,
    /// Where the GPU holds the model: the bytes of it there (the word embeddings stay on the CPU).
    pub gpu_weight_bytes: Option<u64>,
    /// Why the CPU runs batches where the GPU was allowed, or how `auto` chose.
    pub reason: Option<String>,
}

impl From<xlmr_sentiment_core::DeviceReport> for DeviceInfo {
    fn from(report: xlmr_sentiment_core::DeviceReport) -> Self {
        let gpu_weights = report.gpu_weight_format().map(str::to_string);
        let gpu_weight_bytes = report.gpu_weight_bytes();
        Self {
            requested: report.requested.name().to_string(),
            device: report.device,
            backend: report.adapter.as_ref().map(|a| a.backend.clone()),
            adapter: report.adapter.map(|a| a.name),
            gpu_min_tokens: report.gpu_min_tokens,
            gpu_weights,
            gpu_weight_bytes,
            reason: report.reason,
        }
    }
}

/// What `GET /info` says about the model: where it came from, never where it is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelInfo {
    /// The model's Hub id (from its manifest or bundle), else its file or folder name.
    pub model_id: String,
    /// The model's revision (a commit), when known.
    pub revision: Option<String>,
    /// The same as `revision`, under TEI's name.
    pub model_sha: Option<String>,
    /// The labels, in the model's id order.
    pub labels: Vec<String>,
    /// TEI's model type: a classifier and its labels.
    pub model_type: ModelType,
    /// SHA-256 of the weights file (hex).
    pub weights_sha256: String,
    /// `f32`, or a bundle's precision (`q8_0`, `q4_0`, ...).
    pub precision: String,
    /// The languages the model was trained on (ISO 639-1), null when unknown.
    pub trained_languages: Option<Vec<String>>,
}

/// TEI's `model_type`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ModelType {
    /// The classifier's labels.
    pub classifier: ClassifierInfo,
}

/// TEI's classifier model type.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ClassifierInfo {
    /// Label by id (`"0"`, `"1"`, ...).
    pub id2label: std::collections::BTreeMap<String, String>,
}

/// `POST /predict`'s body: TEI's `PredictRequest`.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = PredictRequest, example = json!({"inputs": [["I love this!"], ["Worst service ever."]]}))]
pub(crate) struct PredictBody {
    /// One text, or a batch: a list of one-text lists (TEI's form), or a list of strings
    /// other than exactly two (TEI reads two strings as one sentence pair, which this model
    /// does not take). At most `max_client_batch_size` texts (see `GET /info`); an empty text
    /// is refused (400).
    #[schema(value_type = PredictInputs)]
    inputs: Value,
    /// Cut texts over `max_input_length` tokens (see `GET /info`) instead of refusing them
    /// (422). Unset: the server's `--auto-truncate`.
    #[serde(default)]
    truncate: Option<bool>,
    /// Which end to cut: only `right` (keep the beginning) is supported; `left` is refused.
    #[serde(default)]
    truncation_direction: Option<TruncationDirection>,
    /// Logits instead of probabilities.
    #[serde(default)]
    raw_scores: Option<bool>,
}

/// TEI's `truncation_direction`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
pub(crate) enum TruncationDirection {
    /// Keep the beginning of the text.
    #[serde(rename = "right", alias = "Right")]
    Right,
    /// Keep the end of the text (refused: not supported).
    #[serde(rename = "left", alias = "Left")]
    Left,
}

/// `inputs` of `POST /predict`, as the OpenAPI document describes it; the parser,
/// [`tei_inputs`], follows TEI's sequences (and also takes a batch mixing both forms).
pub(crate) struct PredictInputs;

impl utoipa::PartialSchema for PredictInputs {
    fn schema() -> RefOr<Schema> {
        let one_text = || {
            ArrayBuilder::new()
                .items(text())
                .min_items(Some(1))
                .max_items(Some(1))
        };
        OneOfBuilder::new()
            .item(text().description(Some("One text")))
            .item(one_text().description(Some("One text, in a list")))
            .item(
                ArrayBuilder::new()
                    .items(one_text())
                    .min_items(Some(1))
                    .description(Some("A batch: a list of one-text lists (TEI's form)")),
            )
            .item(
                ArrayBuilder::new()
                    .items(text())
                    .min_items(Some(3))
                    .description(Some(
                        "A batch of three texts or more as plain strings (two strings are a \
                         sentence pair in TEI, which this model does not take)",
                    )),
            )
            .into()
    }
}

impl ToSchema for PredictInputs {}

/// A text: a non-empty string (an empty one is refused with 400).
fn text() -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
}

/// `POST /predict`: TEI's `PredictRequest`, parsed.
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
        let body: PredictBody = parse_body(body)?;
        let (texts, batch) = tei_inputs(&body.inputs)?;
        if body.truncation_direction == Some(TruncationDirection::Left) {
            return Err(ApiError::new(
                ErrorType::Validation,
                "truncation_direction \"left\" is not supported: only \"right\" (keep the \
                 beginning of the text)",
            ));
        }
        Ok(Self {
            texts,
            batch,
            truncate: body.truncate.unwrap_or(auto_truncate),
            raw_scores: body.raw_scores.unwrap_or(false),
        })
    }
}

/// `POST /`'s body: the Hugging Face inference API's text-classification request.
#[derive(Debug, Deserialize, ToSchema)]
#[schema(as = HfRequest, example = json!({"inputs": ["I love this!", "Worst service ever."], "parameters": {"top_k": 1}}))]
pub(crate) struct HfBody {
    /// One text, or a list of texts (a batch; at most `max_client_batch_size`, see
    /// `GET /info`). An empty text is refused (400).
    #[schema(value_type = HfInputs)]
    inputs: Value,
    /// The pipeline's parameters (an object: read by [`object`], since serde would also take a
    /// list of its values).
    #[serde(default)]
    #[schema(value_type = Option<HfParameters>)]
    parameters: Option<Value>,
}

/// `inputs` of `POST /`, as the OpenAPI document describes it.
pub(crate) struct HfInputs;

impl utoipa::PartialSchema for HfInputs {
    fn schema() -> RefOr<Schema> {
        OneOfBuilder::new()
            .item(text().description(Some("One text")))
            .item(
                ArrayBuilder::new()
                    .items(text())
                    .min_items(Some(1))
                    .description(Some("A batch of texts")),
            )
            .into()
    }
}

impl ToSchema for HfInputs {}

/// `parameters` of `POST /`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub(crate) struct HfParameters {
    /// Labels per text, highest first; every label when unset.
    #[serde(default)]
    #[schema(minimum = 1)]
    top_k: Option<usize>,
    /// `softmax`, `sigmoid` or `none` (logits), as in transformers' pipeline (any case);
    /// unset: the model's default (softmax for a single-label model).
    #[serde(default)]
    #[schema(value_type = Option<FunctionToApply>)]
    function_to_apply: Option<String>,
    /// Cut over-long texts to the model's limit (the default) instead of refusing them (422).
    #[serde(default)]
    truncation: Option<bool>,
    /// Add each text's detected `language` and `language_supported` to its entries.
    #[serde(default)]
    language: Option<bool>,
}

/// transformers' `function_to_apply`.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code)] // Only described: parsed by the core's `ScoreFunction::from_str`.
pub(crate) enum FunctionToApply {
    /// Probabilities over the labels.
    Softmax,
    /// Each label's own probability.
    Sigmoid,
    /// The logits.
    None,
}

/// `POST /`: the Hugging Face inference API's text-classification request, parsed.
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
        let body: HfBody = parse_body(body)?;
        let (texts, _) = hf_inputs(&body.inputs)?;
        let parameters: HfParameters = match body.parameters {
            None | Some(Value::Null) => HfParameters::default(),
            Some(value) => object(value, "parameters")?,
        };
        if parameters.top_k == Some(0) {
            return Err(ApiError::new(
                ErrorType::Validation,
                "`top_k` must be at least 1",
            ));
        }
        let function = parameters
            .function_to_apply
            .map(|f| f.parse::<ScoreFunction>())
            .transpose()
            .map_err(|e| ApiError::new(ErrorType::Validation, e.to_string()))?;
        Ok(Self {
            texts,
            top_k: parameters.top_k.map_or(TopK::All, TopK::Best),
            function,
            truncate: parameters.truncation.unwrap_or(true),
            language: parameters.language.unwrap_or(false),
        })
    }
}

/// The body as `T`, or the error for a body that is too large, unreadable, not a JSON object, or
/// with a field of the wrong type (named by its path).
fn parse_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|rejection| {
        let kind = ErrorType::Validation;
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::payload_too_large()
        } else {
            ApiError::new(kind, format!("cannot read the request body: {rejection}"))
        }
    })?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(ErrorType::Validation, format!("invalid JSON body: {e}")))?;
    object(value, "")
}

/// A JSON object as `T`; `at` names it in errors (empty for the body itself). Anything but an
/// object is refused: serde's derived structs would also take a list of the fields' values.
fn object<T: serde::de::DeserializeOwned>(value: Value, at: &str) -> Result<T, ApiError> {
    let what = if at.is_empty() {
        "the body".to_string()
    } else {
        format!("`{at}`")
    };
    if !value.is_object() {
        return Err(ApiError::new(
            ErrorType::Validation,
            format!("{what} must be a JSON object"),
        ));
    }
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = match (at, path.as_str()) {
            (_, ".") => what,
            ("", path) => format!("`{path}`"),
            (at, path) => format!("`{at}.{path}`"),
        };
        ApiError::new(
            ErrorType::Validation,
            format!("{field}: {}", e.into_inner()),
        )
    })
}

const PAIR_MESSAGE: &str = "is a sentence pair in the text-embeddings-inference API \
    ([\"a\", \"b\"] is ONE pair, not two texts), and this model classifies single texts. To \
    classify several texts, send {\"inputs\": [[\"a\"], [\"b\"]]} to /predict, or \
    {\"inputs\": [\"a\", \"b\"]} to the Hugging Face-shaped endpoint POST /, where a list of \
    strings is a batch";

/// TEI's `inputs`: a text, `[text]`, `[a, b]` (a pair), or a list of those (a batch).
/// Returns the texts and whether the request was a batch.
fn tei_inputs(inputs: &Value) -> Result<(Vec<String>, bool), ApiError> {
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
        Value::Null => Err(invalid("is missing")),
        Value::String(s) => Ok((vec![s.clone()], false)),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::new(ErrorType::Empty, "`inputs` cannot be empty"))
        }
        Value::Array(items) => {
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
        _ => Err(invalid("has the wrong type")),
    }
}

/// The Hugging Face inference API's `inputs`: a text, or a list of texts (a batch).
fn hf_inputs(inputs: &Value) -> Result<(Vec<String>, bool), ApiError> {
    let invalid = || {
        ApiError::new(
            ErrorType::Validation,
            "`inputs` must be a string or a list of strings",
        )
    };
    match inputs {
        Value::String(s) => Ok((vec![s.clone()], false)),
        Value::Array(items) if items.is_empty() => {
            Err(ApiError::new(ErrorType::Empty, "`inputs` cannot be empty"))
        }
        Value::Array(items) => items
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
    use serde_json::json;

    fn texts(v: Value) -> Result<(Vec<String>, bool), ErrorType> {
        tei_inputs(&v).map_err(|e| e.kind)
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
