//! The bounded queue between the request handlers and the one model thread, and the batcher on
//! that thread: it takes whole requests off the queue until the next one would push the batch
//! past `max_batch_tokens`, runs the model once per score function present, and answers each
//! request through its oneshot channel. The model never runs on a request or runtime thread.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};
use xlmr_sentiment_core::{Classifier, ClassifyOptions, Encoded, Prediction, ScoreFunction};

use super::metrics::Metrics;

/// One request's texts, tokenized, waiting for the model.
#[derive(Debug)]
pub struct Job {
    /// The texts' token ids, in request order.
    pub encoded: Vec<Encoded>,
    /// How scores are computed from the logits.
    pub function: ScoreFunction,
    /// When the job entered the queue.
    pub enqueued: Instant,
    /// Where the predictions (one per text, in order) or the model's error go.
    pub reply: oneshot::Sender<Result<Vec<Prediction>, String>>,
}

impl Job {
    fn tokens(&self) -> usize {
        self.encoded.iter().map(|e| e.ids.len()).sum()
    }
}

/// The sending side: a bounded channel, so queued memory is bounded by its capacity times the
/// largest request (client batch size x token limit).
pub type Queue = mpsc::Sender<Job>;

/// Starts the model thread. It owns the only path to the model's forward pass, runs until every
/// [`Queue`] sender is dropped and the queue is drained, and clears `alive` when it ends (also
/// by panic), which `/health` reports.
pub fn spawn(
    classifier: Arc<Classifier>,
    options: ClassifyOptions,
    capacity: usize,
    metrics: Arc<Metrics>,
    alive: Arc<AtomicBool>,
) -> std::io::Result<(Queue, JoinHandle<()>)> {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    alive.store(true, Ordering::SeqCst);
    let handle = std::thread::Builder::new()
        .name("model".into())
        .spawn(move || {
            let _guard = AliveGuard(alive);
            Batcher {
                classifier,
                options,
                metrics,
                receiver,
                pending: None,
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
    options: ClassifyOptions,
    metrics: Arc<Metrics>,
    receiver: mpsc::Receiver<Job>,
    /// A job taken off the queue that did not fit in the previous batch.
    pending: Option<Job>,
}

impl Batcher {
    fn take(&mut self, job: Job) -> Job {
        self.metrics.queue_change(-1);
        self.metrics.queued(job.enqueued.elapsed());
        job
    }

    fn run(mut self) {
        loop {
            let first = match self.pending.take() {
                Some(job) => job,
                None => match self.receiver.blocking_recv() {
                    Some(job) => self.take(job),
                    None => return,
                },
            };
            let mut tokens = first.tokens();
            let mut jobs = vec![first];
            while tokens < self.options.max_batch_tokens {
                let Ok(job) = self.receiver.try_recv() else {
                    break;
                };
                let job = self.take(job);
                if tokens + job.tokens() > self.options.max_batch_tokens {
                    self.pending = Some(job);
                    break;
                }
                tokens += job.tokens();
                jobs.push(job);
            }
            self.run_batch(jobs);
        }
    }

    /// Runs the model over the jobs (one call per score function among them) and answers each.
    fn run_batch(&self, jobs: Vec<Job>) {
        // A client that gave up needs no answer.
        let mut jobs: Vec<Job> = jobs.into_iter().filter(|j| !j.reply.is_closed()).collect();
        while !jobs.is_empty() {
            let function = jobs[0].function;
            let (mut group, rest): (Vec<Job>, Vec<Job>) =
                jobs.into_iter().partition(|j| j.function == function);
            jobs = rest;
            let lengths: Vec<usize> = group.iter().map(|j| j.encoded.len()).collect();
            let encoded: Vec<Encoded> = group
                .iter_mut()
                .flat_map(|j| std::mem::take(&mut j.encoded))
                .collect();
            let tokens = encoded.iter().map(|e| e.ids.len()).sum();
            let options = ClassifyOptions {
                function: Some(function),
                ..self.options.clone()
            };
            let start = Instant::now();
            let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
                self.classifier.classify_encoded(&encoded, &options)
            }));
            self.metrics.batch(encoded.len(), tokens, start.elapsed());
            match result {
                Ok(Ok(outcomes)) => {
                    // The handlers encoded every text, so a refused one is the server's fault
                    // and fails its request alone.
                    let mut outcomes = outcomes.into_iter();
                    for (job, n) in group.into_iter().zip(lengths) {
                        // Taken in full first: collecting into a Result would stop at the
                        // first error and hand the rest to the next job.
                        let answer = outcomes
                            .by_ref()
                            .take(n)
                            .collect::<Vec<_>>()
                            .into_iter()
                            .collect::<Result<Vec<Prediction>, _>>()
                            .map_err(|e| e.to_string());
                        let _ = job.reply.send(answer);
                    }
                }
                Ok(Err(error)) => {
                    for job in group {
                        let _ = job.reply.send(Err(error.to_string()));
                    }
                }
                Err(_) => {
                    for job in group {
                        let _ = job
                            .reply
                            .send(Err("the model panicked on this batch".to_string()));
                    }
                }
            }
        }
    }
}
