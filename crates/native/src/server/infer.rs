//! The inference layer between the handlers and the model thread, as in text-embeddings-
//! inference: it validates a request's texts, tokenizes them off the runtime, enqueues one entry
//! per text and awaits the model thread's answer to each.

use std::time::{Duration, Instant};

use tokio::sync::oneshot;
use xlmr_sentiment_core::{ClassifyOptions, Encoded, Prediction, ScoreFunction};

use super::api::{ApiError, ErrorType};
use super::queue::Entry;
use super::AppState;

/// What a parsed request asks of the model.
pub struct Work {
    /// The texts, in order.
    pub texts: Vec<String>,
    /// Cut over-long texts instead of refusing them.
    pub truncate: bool,
    /// The score function; `None` is the model's default.
    pub function: Option<ScoreFunction>,
    /// Detect each text's language (`Prediction::language`), on the tokenizing pool.
    pub language: bool,
}

/// What a request cost, for its log line: tokens over its texts, the longest wait of one of its
/// texts in the queue, and the longest forward pass one of them was part of.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cost {
    /// Texts in the request.
    pub texts: usize,
    /// Tokens the model saw, `<s>` and `</s>` included.
    pub tokens: usize,
    /// Longest queue wait of its texts.
    pub queue: Duration,
    /// Longest forward pass of its texts' batches.
    pub inference: Duration,
}

/// Checks the batch size and empty texts, tokenizes off the runtime, queues the job and waits
/// for the model thread's answer.
pub async fn run(state: &AppState, work: Work) -> Result<(Vec<Prediction>, Cost), ApiError> {
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
        truncate: work.truncate,
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
                classifier.encode(text, &options).map_err(|e| match e {
                    xlmr_sentiment_core::Error::TextTooLong { tokens, limit } => ApiError::new(
                        ErrorType::Validation,
                        format!(
                            "{which} has {tokens} tokens, more than the limit of {limit} (<s> and \
                             </s> included): shorten it, or pass \"truncate\": true to classify \
                             its beginning"
                        ),
                    ),
                    e => ApiError::new(ErrorType::Tokenizer, format!("{which}: {e}")),
                })
            })
            .collect()
    })
    .await
    .map_err(|e| ApiError::new(ErrorType::Tokenizer, format!("tokenization failed: {e}")))??;
    state.metrics.tokenization(started.elapsed());

    let function = work
        .function
        .unwrap_or_else(|| state.classifier.config().default_score_function());
    let now = Instant::now();
    let (entries, answers): (Vec<Entry>, Vec<_>) = encoded
        .into_iter()
        .enumerate()
        .map(|(i, encoded)| {
            let (reply, answer) = oneshot::channel();
            let entry = Entry {
                encoded,
                function,
                enqueued: now,
                first_of_request: i == 0,
                reply,
            };
            (entry, answer)
        })
        .unzip();
    let queued = entries.len() as i64;
    state.metrics.queue_change(queued);
    if let Err(e) = state.queue.try_send(entries) {
        state.metrics.queue_change(-queued);
        return Err(match e {
            tokio::sync::mpsc::error::TrySendError::Full(_) => {
                ApiError::new(ErrorType::Overloaded, "the queue is full")
            }
            tokio::sync::mpsc::error::TrySendError::Closed(_) => {
                ApiError::new(ErrorType::Unhealthy, "the model thread has stopped")
            }
        });
    }
    let mut predictions = Vec::with_capacity(answers.len());
    let mut cost = Cost {
        texts: answers.len(),
        ..Cost::default()
    };
    for answer in answers {
        match answer.await {
            Ok(Ok(answer)) => {
                cost.tokens += answer.prediction.tokens;
                cost.queue = cost.queue.max(answer.queued);
                cost.inference = cost.inference.max(answer.inference);
                predictions.push(answer.prediction);
            }
            Ok(Err(message)) => return Err(ApiError::new(ErrorType::Backend, message)),
            Err(_) => {
                return Err(ApiError::new(
                    ErrorType::Unhealthy,
                    "the model thread stopped before answering",
                ))
            }
        }
    }
    Ok((predictions, cost))
}
