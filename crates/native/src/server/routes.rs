//! The HTTP surface: the router, the API key check and the handlers, each a parse of its typed
//! request ([`super::api`]), a call to the inference layer ([`super::infer`]) and the core's wire
//! shape of the answer. Errors become statuses in `api`.
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
use xlmr_sentiment_core::{label_entries, Case, ScoreFunction, TopK};

use super::api::{
    ApiError, ClassifyErrors, ErrorResponse, ErrorType, HfBody, HfRequest, HfResponse, Info,
    PredictBody, PredictRequest, PredictResponse,
};
use super::infer::{self, Work};
use super::metrics::Route;
use super::AppState;
use subtle::ConstantTimeEq;

/// The router with every route, the body limit and the API key check.
pub fn router(state: Arc<AppState>, cors: Option<tower_http::cors::CorsLayer>) -> Router {
    let open = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .merge(super::openapi::routes());
    // The body is read (within --body-timeout) after the key check, before the handler.
    let classify = Router::new()
        .route("/predict", post(predict))
        .route("/", post(hf_inference))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            read_body_within,
        ));
    let protected = classify
        .route("/info", get(info))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_key));
    let router = open
        .merge(protected)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.payload_limit));
    // Outermost, so a preflight (OPTIONS, no API key) is answered before the key check.
    let router = match cors {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

/// `--cors-allow-origin`: browsers on that origin (or any, for `*`) may call the API, sending
/// `Authorization` and `Content-Type`; a value that cannot be a header is refused at start.
pub(crate) fn cors(origin: Option<&str>) -> anyhow::Result<Option<tower_http::cors::CorsLayer>> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    let Some(origin) = origin else {
        return Ok(None);
    };
    let allow = if origin == "*" {
        AllowOrigin::any()
    } else {
        AllowOrigin::exact(header::HeaderValue::from_str(origin).map_err(|_| {
            anyhow::anyhow!(
                "--cors-allow-origin {origin:?} is not an origin (such as https://app.example.com) or *"
            )
        })?)
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([axum::http::Method::GET, axum::http::Method::POST])
            .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE]),
    ))
}

async fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": "no such route: the API is described at GET /openapi.json and GET /docs", "error_type": "Validation"})),
    )
        .into_response()
}

/// Reads a request's whole body within `--body-timeout` (408 after it) and the payload limit
/// (413 over it) before its handler runs, so a client sending a byte a second is cut off and
/// never holds a model slot (the handler takes one only once the body is in).
async fn read_body_within(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let limited = http_body_util::Limited::new(body, state.config.payload_limit);
    let read = tokio::time::timeout(
        state.config.body_timeout,
        http_body_util::BodyExt::collect(limited),
    );
    match read.await {
        Ok(Ok(collected)) => {
            let body = axum::body::Body::from(collected.to_bytes());
            next.run(Request::from_parts(parts, body)).await
        }
        Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
            ApiError::payload_too_large().into_response()
        }
        // The client went away or sent a malformed chunked body.
        Ok(Err(error)) => ApiError::new(
            ErrorType::Validation,
            format!("cannot read the request body: {error}"),
        )
        .into_response(),
        Err(_) => {
            let mut response = ApiError::body_too_slow(state.config.body_timeout).into_response();
            // Whatever the client sends next is not a request: end the connection.
            response.headers_mut().insert(
                header::CONNECTION,
                header::HeaderValue::from_static("close"),
            );
            response
        }
    }
}

/// With `--api-key`, every route but `/health` and `/ready` needs `Authorization: Bearer KEY`.
async fn require_key(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(key) = &state.config.api_key {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        // Constant time: how long the comparison takes says nothing about the key.
        let matches = given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(key.as_bytes())));
        if !matches {
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

#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    description = "Liveness: 200 while the model thread runs. No API key needed.",
    responses(
        (status = 200, description = "Alive"),
        (status = 503, description = "The model thread has stopped (`Unhealthy`)", body = ErrorResponse)
    )
)]
pub(crate) async fn health(State(state): State<Arc<AppState>>) -> Response {
    if state.alive.load(Ordering::SeqCst) && !state.queue.is_closed() {
        StatusCode::OK.into_response()
    } else {
        ApiError::new(ErrorType::Unhealthy, "the model thread has stopped").into_response()
    }
}

/// Readiness: 200 once the model is loaded and warmed up and while the model thread runs; 503
/// while draining after a shutdown signal, with the model thread gone, or once the model's
/// weights file changed or was cut under it.
#[utoipa::path(
    get,
    path = "/ready",
    tag = "operations",
    description = "Readiness: 200 once the model is loaded and its warm-up batch has run; 503 \
        while draining after SIGTERM, or once the model's weights file changed or was cut while \
        serving. No API key needed.",
    responses(
        (status = 200, description = "Ready for traffic"),
        (status = 503, description = "Draining, the model thread has stopped, or the weights file changed or was cut while serving (`Unhealthy`)", body = ErrorResponse)
    )
)]
pub(crate) async fn ready(State(state): State<Arc<AppState>>) -> Response {
    if let Some(reason) = state.model_fault.get() {
        return ApiError::new(
            ErrorType::Unhealthy,
            format!(
                "not ready: the model's weights file changed or was cut while serving ({reason}); \
                 restart the server to load it again"
            ),
        )
        .into_response();
    }
    if state.ready.load(Ordering::SeqCst) && state.alive.load(Ordering::SeqCst) {
        StatusCode::OK.into_response()
    } else {
        ApiError::new(
            ErrorType::Unhealthy,
            "not ready: draining or the model thread has stopped",
        )
        .into_response()
    }
}

#[utoipa::path(
    get,
    path = "/info",
    tag = "model",
    description = "The model (its id, revision, labels, weights hash and precision, never its \
        path) and the server's limits.",
    security((), ("api_key" = [])),
    responses(
        (status = 200, description = "The model and the limits", body = Info),
        (status = 401, description = "`--api-key` is set and the request lacks it (`Unauthorized`)", body = ErrorResponse)
    )
)]
pub(crate) async fn info(State(state): State<Arc<AppState>>) -> Response {
    let info = super::api::Info {
        device: state.classifier.device().into(),
        ..state.info.clone()
    };
    Json(info).into_response()
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    description = "Prometheus metrics (text exposition format 0.0.4), with TEI's names.",
    security((), ("api_key" = [])),
    responses(
        (status = 200, description = "The metrics", body = String, content_type = "text/plain"),
        (status = 401, description = "`--api-key` is set and the request lacks it (`Unauthorized`)", body = ErrorResponse)
    )
)]
pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

/// Counts the request, takes a concurrency permit (or answers 429 at once), runs `handle`, and
/// counts the outcome.
/// A handled request: the answer, what it cost, and its texts when `--log-texts` asks for them.
struct Handled {
    value: Value,
    cost: infer::Cost,
    texts: Option<Vec<String>>,
}

/// One log line per request: route, status, texts, tokens, queue and inference time, never the
/// texts themselves (the private data) unless `--log-texts`.
fn log_request(route: Route, status: StatusCode, started: Instant, handled: Option<&Handled>) {
    let cost = handled.map(|h| h.cost).unwrap_or_default();
    let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
    let texts = handled.and_then(|h| h.texts.as_ref());
    tracing::info!(
        method = "POST",
        route = route.path(),
        status = status.as_u16(),
        texts = cost.texts,
        tokens = cost.tokens,
        queue_ms = ms(cost.queue),
        inference_ms = ms(cost.inference),
        duration_ms = ms(started.elapsed()),
        input = texts.map(|t| serde_json::to_string(t).unwrap_or_default()),
        "request"
    );
}

async fn counted(
    state: &AppState,
    route: Route,
    handle: impl std::future::Future<Output = Result<Handled, ApiError>>,
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
        Ok(handled) => {
            state.metrics.success(route, started.elapsed());
            log_request(route, StatusCode::OK, started, Some(&handled));
            Json(handled.value).into_response()
        }
        Err(error) => {
            state.metrics.failure(route, error.kind.metric_label());
            let response = error.into_response();
            log_request(route, response.status(), started, None);
            response
        }
    }
}

/// `POST /predict` (TEI): every label, highest first; a list of those for a batch.
#[utoipa::path(
    post,
    path = "/predict",
    tag = "classification",
    description = "text-embeddings-inference's `/predict`: every label of each text, highest \
        first. One text gives one list; a batch gives one list per text, in order.",
    security((), ("api_key" = [])),
    request_body = PredictBody,
    responses(
        (status = 200, description = "Each text's labels", body = PredictResponse),
        ClassifyErrors
    )
)]
pub(crate) async fn predict(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handle = async {
        let request = PredictRequest::parse(body, state.config.auto_truncate)?;
        let logged = state.config.log_texts.then(|| request.texts.clone());
        let (predictions, cost) = infer::run(
            &state,
            Work {
                texts: request.texts,
                truncate: request.truncate,
                function: request.raw_scores.then_some(ScoreFunction::None),
                // TEI's answer stays exactly TEI's.
                language: false,
            },
        )
        .await?;
        let answers: Vec<_> = predictions
            .iter()
            .map(|p| label_entries(p, TopK::All, Case::Snake))
            .collect();
        let value = if request.batch {
            json!(answers)
        } else {
            json!(answers[0])
        };
        Ok(Handled {
            value,
            cost,
            texts: logged,
        })
    };
    counted(&state, Route::Predict, handle).await
}

/// `POST /` (Hugging Face inference API): one list of `{label, score}` per text, highest first,
/// inside an outer list even for a single text.
#[utoipa::path(
    post,
    path = "/",
    tag = "classification",
    description = "The Hugging Face inference API's text-classification task: one list of \
        labels per text, highest first (`parameters.top_k` of them), inside an outer list even \
        for one text.",
    security((), ("api_key" = [])),
    request_body = HfBody,
    responses(
        (status = 200, description = "Each text's labels", body = HfResponse),
        ClassifyErrors
    )
)]
pub(crate) async fn hf_inference(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let handle = async {
        let request = HfRequest::parse(body)?;
        let logged = state.config.log_texts.then(|| request.texts.clone());
        let (predictions, cost) = infer::run(
            &state,
            Work {
                texts: request.texts,
                truncate: request.truncate,
                function: request.function,
                language: request.language,
            },
        )
        .await?;
        // With `parameters.language`, each of a text's label entries also carries the text's
        // `language` and `language_supported`: the answer keeps its shape (a list of
        // {label, score} per text), so clients that read only those two fields are unaffected.
        let answers: Vec<_> = predictions
            .iter()
            .map(|p| label_entries(p, request.top_k, Case::Snake))
            .collect();
        Ok(Handled {
            value: json!(answers),
            cost,
            texts: logged,
        })
    };
    counted(&state, Route::HfInference, handle).await
}
