//! The HTTP surface: request and response JSON, the handlers, and every error turned into a
//! status and a `{"error", "error_type"}` body here, at the edge.
//!
//! `POST /predict` follows text-embeddings-inference (TEI); `POST /` follows the Hugging Face
//! inference API's text-classification task.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use tokio::sync::oneshot;
use xlmr_sentiment_core::{ClassifyOptions, Encoded, LabelScore, Prediction, ScoreFunction};

use super::metrics::Route;
use super::queue::Job;
use super::AppState;

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
    fn name(self) -> &'static str {
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

    fn metric_label(self) -> &'static str {
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
    kind: ErrorType,
    status: StatusCode,
    message: String,
}

impl ApiError {
    fn new(kind: ErrorType, message: impl Into<String>) -> Self {
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

/// The router with every route, the body limit and the API key check.
pub fn router(state: Arc<AppState>) -> Router {
    let open = Router::new().route("/health", get(health));
    let protected = Router::new()
        .route("/predict", post(predict))
        .route("/", post(hf_inference))
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    open.merge(protected)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.payload_limit))
        .with_state(state)
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such route: see GET /info, POST /predict, POST /", "error_type": "Validation"})),
    )
        .into_response()
}

/// With `--api-key`, every route but `/health` needs `Authorization: Bearer KEY`.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(key) = &state.config.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(key.as_str()) {
            let message = if given.is_none() {
                "missing API key: send `Authorization: Bearer <key>`"
            } else {
                "wrong API key"
            };
            return ApiError::new(ErrorType::Unauthorized, message).into_response();
        }
    }
    next.run(request).await
}

async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.alive.load(Ordering::SeqCst) && !state.queue.is_closed() {
        StatusCode::OK.into_response()
    } else {
        ApiError::new(ErrorType::Unhealthy, "the model thread has stopped").into_response()
    }
}

async fn info(State(state): State<Arc<AppState>>) -> Response {
    Json(state.info.clone()).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
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

/// What a parsed request asks of the model.
struct Work {
    texts: Vec<String>,
    truncate: bool,
    function: Option<ScoreFunction>,
    /// Detect each text's language (`Prediction::language`), on the tokenizing pool.
    language: bool,
}

/// Checks the batch size and empty texts, tokenizes off the runtime, queues the job and waits
/// for the model thread's answer.
async fn run(state: &AppState, work: Work) -> Result<Vec<Prediction>, ApiError> {
    let limit = state.config.max_client_batch_size;
    if work.texts.len() > limit {
        return Err(ApiError::new(
            ErrorType::Validation,
            format!(
                "batch size {} > maximum allowed batch size {limit} (--max-client-batch-size)",
                work.texts.len()
            ),
        ));
    }
    if let Some(i) = work.texts.iter().position(String::is_empty) {
        let at = if work.texts.len() == 1 {
            String::new()
        } else {
            format!(" (text {i})")
        };
        return Err(ApiError::new(
            ErrorType::Empty,
            format!("`inputs` cannot be empty{at}"),
        ));
    }
    let classifier = state.classifier.clone();
    let options = ClassifyOptions {
        language: work.language,
        ..state.options.clone()
    };
    let started = Instant::now();
    let encoded = tokio::task::spawn_blocking(move || -> Result<Vec<Encoded>, ApiError> {
        let multiple = work.texts.len() > 1;
        work.texts
            .iter()
            .enumerate()
            .map(|(i, text)| {
                let which = if multiple {
                    format!("text {i}")
                } else {
                    "the input".into()
                };
                let encoded = classifier
                    .encode(text, &options)
                    .map_err(|e| ApiError::new(ErrorType::Tokenizer, format!("{which}: {e}")))?;
                if encoded.truncated && !work.truncate {
                    return Err(ApiError::new(
                        ErrorType::Validation,
                        format!(
                            "{which} has {} tokens, more than the limit of {} (<s> and </s> \
                             included): shorten it, or pass \"truncate\": true to classify its \
                             beginning",
                            encoded.untruncated_tokens,
                            encoded.ids.len()
                        ),
                    ));
                }
                Ok(encoded)
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Tokenizer, format!("tokenization failed: {e}")))??;
    state.metrics.tokenization(started.elapsed());

    let function = work
        .function
        .unwrap_or_else(|| state.classifier.config().default_score_function());
    let (reply, answer) = oneshot::channel();
    let job = Job {
        encoded,
        function,
        enqueued: Instant::now(),
        reply,
    };
    state.metrics.queue_change(1);
    if let Err(e) = state.queue.try_send(job) {
        state.metrics.queue_change(-1);
        return Err(match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => {
                ApiError::new(ErrorType::Overloaded, "the queue is full")
            }
            tokio::sync::mpsc::error::TrySendError::Closed(_) => {
                ApiError::new(ErrorType::Unhealthy, "the model thread has stopped")
            }
        });
    }
    match answer.await {
        Ok(Ok(predictions)) => Ok(predictions),
        Ok(Err(message)) => Err(ApiError::new(ErrorType::Backend, message)),
        Err(_) => Err(ApiError::new(
            ErrorType::Unhealthy,
            "the model thread stopped before answering",
        )),
    }
}

/// Counts the request, takes a concurrency permit (or answers 429 at once), runs `handle`, and
/// counts the outcome.
async fn counted(
    state: &AppState,
    route: Route,
    handle: impl std::future::Future<Output = Result<Value, ApiError>>,
) -> Response {
    state.metrics.request(route);
    let started = Instant::now();
    let result = match state.permits.clone().try_acquire_owned() {
        Ok(permit) => {
            let result = handle.await;
            drop(permit);
            result
        }
        Err(_) => Err(ApiError::new(
            ErrorType::Overloaded,
            format!(
                "model is overloaded: {} requests are already being served \
                 (--max-concurrent-requests); retry later",
                state.config.max_concurrent_requests
            ),
        )),
    };
    match result {
        Ok(value) => {
            state.metrics.success(route, started.elapsed());
            Json(value).into_response()
        }
        Err(error) => {
            state.metrics.failure(route, error.kind.metric_label());
            error.into_response()
        }
    }
}

fn scores_json(scores: Vec<LabelScore>) -> Value {
    Value::Array(
        scores
            .into_iter()
            .map(|s| json!({"score": s.score, "label": s.label}))
            .collect(),
    )
}

/// `POST /predict` (TEI): every label, highest first; a list of those for a batch.
async fn predict(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handle = async {
        let request = parse_body(body)?;
        let (texts, batch) = tei_inputs(request.get("inputs"))?;
        let truncate = field::<bool>(&request, "truncate")?.unwrap_or(false);
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
        let predictions = run(
            &state,
            Work {
                texts,
                truncate,
                function: raw.then_some(ScoreFunction::None),
                // TEI's answer stays exactly TEI's.
                language: false,
            },
        )
        .await?;
        let mut answers = predictions.iter().map(|p| scores_json(p.top_k(None)));
        Ok(if batch {
            Value::Array(answers.collect())
        } else {
            answers.next().expect("one text")
        })
    };
    counted(&state, Route::Predict, handle).await
}

/// `POST /` (Hugging Face inference API): one list of `{label, score}` per text, highest first,
/// inside an outer list even for a single text.
async fn hf_inference(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handle = async {
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
        let function = match field::<String>(&parameters, "function_to_apply")?.as_deref() {
            None => None,
            Some(f) => Some(match f.to_ascii_lowercase().as_str() {
                "softmax" => ScoreFunction::Softmax,
                "sigmoid" => ScoreFunction::Sigmoid,
                "none" => ScoreFunction::None,
                _ => {
                    return Err(ApiError::new(
                        ErrorType::Validation,
                        format!(
                            "function_to_apply must be \"sigmoid\", \"softmax\" or \"none\", \
                             not {f:?}"
                        ),
                    ))
                }
            }),
        };
        let truncate = field::<bool>(&parameters, "truncation")?.unwrap_or(true);
        let language = field::<bool>(&parameters, "language")?.unwrap_or(false);
        let predictions = run(
            &state,
            Work {
                texts,
                truncate,
                function,
                language,
            },
        )
        .await?;
        // With `parameters.language`, each of a text's label entries also carries the text's
        // `language` and `language_supported`: the answer keeps its shape (a list of
        // {label, score} per text), so clients that read only those two fields are unaffected.
        let answers = predictions.iter().map(|p| {
            let scores = p.top_k(top_k);
            Value::Array(
                scores
                    .into_iter()
                    .map(|s| {
                        let mut entry = json!({"label": s.label, "score": s.score});
                        if let (Some(check), Value::Object(map)) = (&p.language, &mut entry) {
                            map.insert("language".into(), json!(check.language));
                            map.insert(
                                "language_supported".into(),
                                json!(check.language_supported),
                            );
                        }
                        entry
                    })
                    .collect(),
            )
        });
        Ok(Value::Array(answers.collect()))
    };
    counted(&state, Route::HfInference, handle).await
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
