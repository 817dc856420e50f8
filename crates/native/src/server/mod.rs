//! `xlmr-sentiment serve`: classification over HTTP, compatible with text-embeddings-inference
//! (`POST /predict`) and the Hugging Face inference API (`POST /`).
//!
//! Split as in TEI: `api` (typed requests, error kinds and their statuses), `infer` (validate,
//! tokenize, enqueue, await), `routes` (the router and thin handlers), `queue` (the bounded
//! queue and the batcher on the one model thread), `metrics` (Prometheus text); this module
//! holds the configuration, startup and graceful shutdown.
//!
//! A request flows: headers within `header_timeout` (`listen`) -> API key -> the body, within
//! `body_timeout` and the body limit -> concurrency permit (or 429 at once) -> JSON ->
//! tokenization on tokio's blocking pool -> bounded queue -> model thread (batches up to
//! `max_batch_tokens`) -> oneshot answer -> JSON.

pub mod api;
pub mod infer;
mod listen;
pub mod metrics;
pub mod openapi;
pub mod queue;
pub mod routes;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::Semaphore;
use xlmr_sentiment_core::{Classifier, ClassifyOptions};

use crate::manifest::{self, Manifest};
use crate::model_dir;

/// Server settings (the command-line options of `serve`).
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on; port 0 picks a free port (printed at startup).
    pub addr: SocketAddr,
    /// Required `Authorization: Bearer` key for every route but `/health` and `/ready`.
    pub api_key: Option<String>,
    /// The origin browsers may call from (`Access-Control-Allow-Origin`), `*` for any; none
    /// when `None`.
    pub cors_allow_origin: Option<String>,
    /// Truncate over-long `/predict` texts unless the request says `"truncate": false`.
    pub auto_truncate: bool,
    /// Put each request's texts in its log line (off: they are the private data).
    pub log_texts: bool,
    /// Largest request body in bytes (413 above).
    pub payload_limit: usize,
    /// Most tokens (sum of the texts' lengths) per model batch.
    pub max_batch_tokens: usize,
    /// Most texts per request (422 above).
    pub max_client_batch_size: usize,
    /// Most requests served at once (429 above, at once); also the queue's capacity.
    pub max_concurrent_requests: usize,
    /// Longest wait for a request's headers, from its first byte or the connection's previous
    /// answer; a client slower than this is disconnected.
    pub header_timeout: Duration,
    /// Longest wait for a request's whole body (408 after it); the body is read before the
    /// request takes a model slot, so a slow client never holds one.
    pub body_timeout: Duration,
}

/// Shared by every handler.
pub struct AppState {
    /// The settings.
    pub config: ServeConfig,
    /// The model; handlers only tokenize with it (`encode`), the model thread classifies.
    pub classifier: Arc<Classifier>,
    /// Tokenization and batching options (preprocessing, token limit, max batch tokens).
    pub options: ClassifyOptions,
    /// The way to the model thread.
    pub queue: queue::Queue,
    /// One permit per request being served.
    pub permits: Arc<Semaphore>,
    /// Prometheus metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The `/info` answer.
    pub info: api::Info,
    /// Whether the model thread runs.
    pub alive: Arc<AtomicBool>,
    /// Why the model can no longer answer (its weights file changed or was cut while serving):
    /// `/ready` then says so.
    pub model_fault: Arc<OnceLock<String>>,
    /// Whether to take traffic (`/ready`): set once the warm-up batch has run, cleared when a
    /// shutdown signal starts the drain.
    pub ready: Arc<AtomicBool>,
}

/// What `/info` says about the model: where it came from and the SHA-256 of its weights (from
/// the folder's manifest or the bundle's `.sha256` when present, else computed now, once).
pub fn model_info(path: &Path, classifier: &Classifier) -> anyhow::Result<api::ModelInfo> {
    let fallback_id = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    let (model_id, revision, sha256, precision) = if path.is_file() {
        let sha = match std::fs::read_to_string(model_dir::checksum_path(path)) {
            Ok(text) => text.split_whitespace().next().map(str::to_ascii_lowercase),
            Err(_) => None,
        };
        let sha = match sha {
            Some(sha) => sha,
            None => manifest::sha256_file(path)?,
        };
        let bundle = classifier.bundle_info();
        (
            bundle
                .and_then(|b| b.source.model_id.clone())
                .unwrap_or(fallback_id),
            bundle.and_then(|b| b.source.revision.clone()),
            sha,
            bundle.map_or("f32".to_string(), |b| b.precision.clone()),
        )
    } else {
        let weights = model_dir::weights_path(path)?;
        let name = weights
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let manifest = Manifest::read(path)?;
        let listed = manifest
            .as_ref()
            .and_then(|m| m.files.get(&name))
            .map(|f| f.sha256.clone());
        let sha = match listed {
            Some(sha) => sha,
            None => manifest::sha256_file(&weights)?,
        };
        (
            manifest
                .as_ref()
                .map_or(fallback_id, |m| m.model_id.clone()),
            manifest.map(|m| m.revision),
            sha,
            "f32".to_string(),
        )
    };
    let id2label = classifier
        .labels()
        .iter()
        .enumerate()
        .map(|(i, l)| (i.to_string(), l.clone()))
        .collect();
    Ok(api::ModelInfo {
        model_id,
        model_sha: revision.clone(),
        revision,
        labels: classifier.labels().to_vec(),
        model_type: api::ModelType {
            classifier: api::ClassifierInfo { id2label },
        },
        weights_sha256: sha256,
        precision,
        // ISO 639-1 codes, or null when unknown (for the HF endpoint's `parameters.language`).
        trained_languages: classifier.trained_languages().map(|l| l.codes().to_vec()),
    })
}

/// Runs the server until SIGTERM or Ctrl-C, then stops accepting connections, finishes the
/// requests in flight, drains the queue, and returns.
pub fn serve(
    classifier: Classifier,
    options: ClassifyOptions,
    model: api::ModelInfo,
    config: ServeConfig,
) -> anyhow::Result<()> {
    // The batcher forms the batches (bounded by tokens); the core checks the limit's value.
    let options = ClassifyOptions {
        max_batch_tokens: config.max_batch_tokens,
        ..options
    };
    classifier.check_options(&options)?;
    let info = api::Info {
        model,
        max_input_length: options
            .max_length
            .unwrap_or_else(|| classifier.max_input_tokens()),
        max_batch_tokens: config.max_batch_tokens,
        max_client_batch_size: config.max_client_batch_size,
        max_concurrent_requests: config.max_concurrent_requests,
        preprocess: options.preprocess,
        version: env!("CARGO_PKG_VERSION").to_string(),
        device: classifier.device().into(),
    };
    let cors = routes::cors(config.cors_allow_origin.as_deref())?;
    // One batch before taking traffic, so the first request does not pay for first-touch page
    // faults of the weights and the kernels' buffers; `/ready` answers 200 only after it.
    classifier
        .classify(&["warm-up"], &options)
        .context("the warm-up batch failed")?;
    let classifier = Arc::new(classifier);
    let metrics = Arc::new(metrics::Metrics::default());
    let ready = Arc::new(AtomicBool::new(true));
    let alive = Arc::new(AtomicBool::new(false));
    let model_fault = Arc::new(OnceLock::new());
    let (queue, model_thread) = queue::spawn(
        classifier.clone(),
        config.max_batch_tokens,
        config.max_concurrent_requests,
        metrics.clone(),
        alive.clone(),
        model_fault.clone(),
    )
    .context("cannot start the model thread")?;
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .max_blocking_threads(threads)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let state = Arc::new(AppState {
        permits: Arc::new(Semaphore::new(config.max_concurrent_requests)),
        config,
        classifier,
        options,
        queue,
        metrics,
        info,
        alive,
        model_fault,
        ready: ready.clone(),
    });
    runtime.block_on(async move {
        let listener = listen::bind(state.config.addr)
            .with_context(|| format!("cannot listen on {}", state.config.addr))?;
        let local = listener.local_addr()?;
        eprintln!("listening on http://{local}");
        let header_timeout = state.config.header_timeout;
        let app = routes::router(state, cors);
        listen::serve(listener, app, header_timeout, shutdown_signal(ready)).await;
        anyhow::Ok(())
    })?;
    // Every queue sender was in the router, now dropped: the model thread drains and ends.
    drop(runtime);
    let _ = model_thread.join();
    eprintln!("stopped");
    Ok(())
}

/// Resolves on SIGTERM or Ctrl-C (SIGINT), after clearing `ready`.
async fn shutdown_signal(ready: Arc<AtomicBool>) {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    ready.store(false, Ordering::SeqCst);
    eprintln!("shutting down: no new connections; finishing the requests in flight");
}
