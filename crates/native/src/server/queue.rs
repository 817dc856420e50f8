//! The bounded queue between the request handlers and the one model thread, and the batcher on
//! that thread, as in text-embeddings-inference: each text is one [`Entry`]; the batcher takes
//! entries in arrival order until the next would push the batch past `max_batch_tokens`, runs
//! exactly that batch as one forward pass, and answers each entry through its own oneshot
//! channel. The model never runs on a request or runtime thread.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use xlmr_sentiment_core::{Classifier, Encoded, Prediction, ScoreFunction};

use super::metrics::Metrics;

/// One text, tokenized, waiting for the model.
#[derive(Debug)]
pub struct Entry {
    /// The text's token ids.
    pub encoded: Encoded,
    /// How scores are computed from the logits.
    pub function: ScoreFunction,
    /// When the entry entered the queue.
    pub enqueued: Instant,
    /// Whether this is its request's first text: the queue wait is measured once per request.
    pub first_of_request: bool,
    /// Where the prediction or the model's error goes.
    pub reply: oneshot::Sender<Reply>,
}

/// The model thread's answer to one entry: its prediction with the time it waited and the time
/// of its batch's forward pass (for the request log), or the model's error.
pub type Reply = Result<Answer, String>;

/// A prediction and what it cost.
#[derive(Debug)]
pub struct Answer {
    /// The text's prediction.
    pub prediction: Prediction,
    /// From entering the queue to the start of its batch.
    pub queued: Duration,
    /// Its batch's forward pass.
    pub inference: Duration,
}

/// The sending side: a bounded channel of one request's entries each, so a request is queued
/// whole or refused whole, and queued memory is bounded by its capacity times the largest
/// request (client batch size x token limit) plus one model batch.
pub type Queue = mpsc::Sender<Vec<Entry>>;

/// Starts the model thread. It owns the only path to the model's forward pass, runs until every
/// [`Queue`] sender is dropped and the queue is drained, and clears `alive` when it ends (also
/// by panic), which `/health` reports.
pub fn spawn(
    classifier: Arc<Classifier>,
    max_batch_tokens: usize,
    capacity: usize,
    metrics: Arc<Metrics>,
    alive: Arc<AtomicBool>,
    model_fault: Arc<OnceLock<String>>,
) -> std::io::Result<(Queue, JoinHandle<()>)> {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    alive.store(true, Ordering::SeqCst);
    let handle = std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let _guard = AliveGuard(alive);
            Batcher {
                classifier,
                max_batch_tokens: max_batch_tokens.max(1),
                metrics,
                model_fault,
                receiver,
                entries: VecDeque::new(),
                tokens: 0,
            }
            .run();
        })?;
    Ok((sender, handle))
}

struct AliveGuard(Arc<AtomicBool>);

impl Drop for AliveGuard {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

struct Batcher {
    classifier: Arc<Classifier>,
    max_batch_tokens: usize,
    metrics: Arc<Metrics>,
    /// Set when the weights can no longer be read as loaded (see `AppState::model_fault`).
    model_fault: Arc<OnceLock<String>>,
    receiver: mpsc::Receiver<Vec<Entry>>,
    /// Entries taken off the channel, oldest first, not yet in a batch.
    entries: VecDeque<Entry>,
    /// Their tokens.
    tokens: usize,
}

impl Batcher {
    fn push(&mut self, request: Vec<Entry>) {
        for entry in request {
            self.tokens += entry.encoded.ids.len();
            self.entries.push_back(entry);
        }
    }

    fn run(mut self) {
        loop {
            if self.entries.is_empty() {
                match self.receiver.blocking_recv() {
                    Some(request) => self.push(request),
                    None => return,
                }
            }
            // Take what has arrived, but only up to one full batch: the rest waits in the
            // bounded channel, where a full queue answers 429.
            while self.tokens < self.max_batch_tokens {
                let Ok(request) = self.receiver.try_recv() else {
                    break;
                };
                self.push(request);
            }
            let batch = self.next_batch();
            self.run_batch(batch);
        }
    }

    /// The oldest entries with the oldest entry's score function, up to `max_batch_tokens`
    /// (one entry always, however long).
    fn next_batch(&mut self) -> Vec<Entry> {
        let function = self.entries[0].function;
        let mut batch: Vec<Entry> = Vec::new();
        let mut tokens = 0;
        let mut i = 0;
        while i < self.entries.len() {
            let entry = &self.entries[i];
            if entry.function != function {
                i += 1;
                continue;
            }
            let length = entry.encoded.ids.len();
            if !batch.is_empty() && tokens + length > self.max_batch_tokens {
                break;
            }
            let entry = self.entries.remove(i).expect("index in range");
            tokens += length;
            self.tokens -= length;
            self.metrics.queue_change(-1);
            if entry.first_of_request {
                self.metrics.queued(entry.enqueued.elapsed());
            }
            // A client that gave up needs no answer.
            if !entry.reply.is_closed() {
                batch.push(entry);
            }
        }
        batch
    }

    /// Runs the batch as one forward pass and answers each entry.
    fn run_batch(&self, batch: Vec<Entry>) {
        let Some(first) = batch.first() else {
            return;
        };
        let function = first.function;
        let sequences: Vec<&Encoded> = batch.iter().map(|e| &e.encoded).collect();
        let tokens = sequences.iter().map(|e| e.ids.len()).sum();
        let start = Instant::now();
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            self.classifier.classify_batch(&sequences, function)
        }));
        let inference = start.elapsed();
        self.metrics.batch(batch.len(), tokens, inference);
        match result {
            // The handlers encoded every text, so a refused one is the server's fault and
            // fails its request alone.
            Ok(Ok(outcomes)) => {
                for (entry, outcome) in batch.into_iter().zip(outcomes) {
                    let queued = start.saturating_duration_since(entry.enqueued);
                    let _ = entry.reply.send(
                        outcome
                            .map(|prediction| Answer {
                                prediction,
                                queued,
                                inference,
                            })
                            .map_err(|e| e.to_string()),
                    );
                }
            }
            Ok(Err(error)) => {
                // A bundle's embedding rows are read from its file for each batch: a file
                // changed or cut since it was loaded fails every batch from now on.
                if let xlmr_sentiment_core::Error::WeightsRead(reason) = &error {
                    if self.model_fault.set(reason.clone()).is_ok() {
                        tracing::error!(%reason, "the model's weights file can no longer be read as loaded; not ready");
                    }
                }
                for entry in batch {
                    let _ = entry.reply.send(Err(error.to_string()));
                }
            }
            Err(_) => {
                for entry in batch {
                    let _ = entry
                        .reply
                        .send(Err("the model panicked on this batch".to_string()));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use xlmr_sentiment_core::ClassifyOptions;

    use super::*;

    fn batcher(max_batch_tokens: usize) -> (Batcher, Queue) {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../tests/fixtures/models/tiny-sentiment");
        let (sender, receiver) = mpsc::channel(8);
        let batcher = Batcher {
            classifier: Arc::new(crate::model_dir::load(&dir).unwrap()),
            max_batch_tokens,
            metrics: Arc::new(Metrics::default()),
            model_fault: Arc::new(OnceLock::new()),
            receiver,
            entries: VecDeque::new(),
            tokens: 0,
        };
        (batcher, sender)
    }

    /// Entries for `texts`, and the receivers of their answers.
    fn request(
        batcher: &Batcher,
        texts: &[&str],
        function: ScoreFunction,
    ) -> (Vec<Entry>, Vec<oneshot::Receiver<Reply>>) {
        texts
            .iter()
            .map(|text| {
                let (reply, answer) = oneshot::channel();
                let encoded = batcher
                    .classifier
                    .encode(text, &ClassifyOptions::default())
                    .unwrap();
                let entry = Entry {
                    encoded,
                    function,
                    enqueued: Instant::now(),
                    first_of_request: true,
                    reply,
                };
                (entry, answer)
            })
            .unzip()
    }

    fn lengths(batch: &[Entry]) -> Vec<usize> {
        batch.iter().map(|e| e.encoded.ids.len()).collect()
    }

    #[test]
    fn batches_are_formed_oldest_first_up_to_the_token_limit() {
        let (mut batcher, _queue) = batcher(0);
        let texts = [
            "a fine day",
            "the worst service I have ever had, truly",
            "ok",
            "meh",
        ];
        let (entries, _answers) = request(&batcher, &texts, ScoreFunction::Softmax);
        let all = lengths(&entries);
        batcher.max_batch_tokens = all[0] + all[1] - 1;
        batcher.push(entries);
        // The second text does not fit beside the first, so the first runs alone, however
        // small the ones behind it.
        assert_eq!(lengths(&batcher.next_batch()), &all[..1]);
        let second = batcher.next_batch();
        assert_eq!(lengths(&second)[0], all[1]);
        assert_eq!(
            batcher.tokens,
            batcher
                .entries
                .iter()
                .map(|e| e.encoded.ids.len())
                .sum::<usize>()
        );
        let mut rest = lengths(&second);
        rest.extend(batcher.entries.iter().map(|e| e.encoded.ids.len()));
        assert_eq!(rest, &all[1..]);
    }

    #[test]
    fn one_batch_holds_one_score_function_and_answers_each_entry() {
        let (mut batcher, _queue) = batcher(4096);
        let (sigmoid, sigmoid_answers) =
            request(&batcher, &["good", "bad"], ScoreFunction::Sigmoid);
        let (softmax, mut softmax_answers) = request(&batcher, &["fine"], ScoreFunction::Softmax);
        batcher.push(softmax);
        batcher.push(sigmoid);
        let batch = batcher.next_batch();
        assert_eq!(batch.len(), 1);
        batcher.run_batch(batch);
        let prediction = softmax_answers
            .remove(0)
            .blocking_recv()
            .unwrap()
            .unwrap()
            .prediction;
        let sum: f32 = prediction.scores.iter().map(|s| s.score).sum();
        assert!((sum - 1.0).abs() < 1e-5, "softmax scores sum to 1: {sum}");
        let batch = batcher.next_batch();
        assert_eq!(batch.len(), 2);
        assert!(batcher.entries.is_empty() && batcher.tokens == 0);
        batcher.run_batch(batch);
        for answer in sigmoid_answers {
            assert!(answer.blocking_recv().unwrap().is_ok());
        }
    }

    #[test]
    fn entries_whose_client_left_are_dropped_unrun() {
        let (mut batcher, _queue) = batcher(4096);
        let (entries, mut answers) = request(&batcher, &["one", "two"], ScoreFunction::Softmax);
        drop(answers.remove(0));
        batcher.push(entries);
        let batch = batcher.next_batch();
        assert_eq!(batch.len(), 1);
        assert!(batcher.entries.is_empty());
    }
}
