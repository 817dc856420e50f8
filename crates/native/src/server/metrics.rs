//! Prometheus metrics in the text exposition format, written by hand: a few counters, one gauge
//! and fixed-bucket histograms need no library. Names follow text-embeddings-inference (`te_`
//! prefix) so its dashboards work unchanged.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// The routes that are counted, as the `method` label TEI uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /predict` (TEI shape).
    Predict,
    /// `POST /` (Hugging Face inference shape).
    HfInference,
}

impl Route {
    /// The route as the request log names it.
    pub fn path(self) -> &'static str {
        match self {
            Route::Predict => "/predict",
            Route::HfInference => "/",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Route::Predict => "predict",
            Route::HfInference => "hf_inference",
        }
    }
}

const ROUTES: [Route; 2] = [Route::Predict, Route::HfInference];

/// Buckets for durations in seconds (100 µs to 30 s).
const SECONDS: [f64; 14] = [
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0, 30.0,
];
/// Buckets for batch sizes in sequences.
const SEQUENCES: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets for batch sizes in tokens.
const TOKENS: [f64; 9] = [
    16.0, 64.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0, 16384.0,
];

/// A cumulative histogram with fixed upper bounds.
#[derive(Debug)]
struct Histogram {
    bounds: &'static [f64],
    state: Mutex<HistogramState>,
}

#[derive(Debug, Default)]
struct HistogramState {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            state: Mutex::new(HistogramState {
                counts: vec![0; bounds.len()],
                ..HistogramState::default()
            }),
        }
    }

    fn observe(&self, value: f64) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(i) = self.bounds.iter().position(|&b| value <= b) {
            state.counts[i] += 1;
        }
        state.sum += value;
        state.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&state.counts) {
            cumulative += count;
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {cumulative}");
        }
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", state.count);
        let _ = writeln!(out, "{name}_sum {}", state.sum);
        let _ = writeln!(out, "{name}_count {}", state.count);
    }
}

/// Every metric the server keeps; shared by the routes and the model thread.
#[derive(Debug)]
pub struct Metrics {
    requests: [AtomicU64; 2],
    successes: [AtomicU64; 2],
    failures: Mutex<Vec<(Route, &'static str, u64)>>,
    queue_size: AtomicI64,
    request_duration: Histogram,
    tokenization_duration: Histogram,
    queue_duration: Histogram,
    inference_duration: Histogram,
    batch_sequences: Histogram,
    batch_tokens: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            requests: Default::default(),
            successes: Default::default(),
            failures: Mutex::new(Vec::new()),
            queue_size: AtomicI64::new(0),
            request_duration: Histogram::new(&SECONDS),
            tokenization_duration: Histogram::new(&SECONDS),
            queue_duration: Histogram::new(&SECONDS),
            inference_duration: Histogram::new(&SECONDS),
            batch_sequences: Histogram::new(&SEQUENCES),
            batch_tokens: Histogram::new(&TOKENS),
        }
    }
}

fn index(route: Route) -> usize {
    ROUTES.iter().position(|&r| r == route).expect("listed")
}

impl Metrics {
    /// A request arrived on `route`.
    pub fn request(&self, route: Route) {
        self.requests[index(route)].fetch_add(1, Ordering::Relaxed);
    }

    /// A request on `route` succeeded after `total`.
    pub fn success(&self, route: Route, total: Duration) {
        self.successes[index(route)].fetch_add(1, Ordering::Relaxed);
        self.request_duration.observe(total.as_secs_f64());
    }

    /// A request on `route` failed with `error_type` (the `err` label, lower case).
    pub fn failure(&self, route: Route, error_type: &'static str) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures
            .iter_mut()
            .find(|(r, e, _)| *r == route && *e == error_type)
        {
            Some(entry) => entry.2 += 1,
            None => failures.push((route, error_type, 1)),
        }
    }

    /// Time spent tokenizing one request.
    pub fn tokenization(&self, d: Duration) {
        self.tokenization_duration.observe(d.as_secs_f64());
    }

    /// A request entered (`+1`) or left (`-1`) the queue.
    pub fn queue_change(&self, delta: i64) {
        self.queue_size.fetch_add(delta, Ordering::Relaxed);
    }

    /// Time one request waited in the queue.
    pub fn queued(&self, d: Duration) {
        self.queue_duration.observe(d.as_secs_f64());
    }

    /// One batch of the model thread: its size and how long the model took.
    pub fn batch(&self, sequences: usize, tokens: usize, inference: Duration) {
        self.batch_sequences.observe(sequences as f64);
        self.batch_tokens.observe(tokens as f64);
        self.inference_duration.observe(inference.as_secs_f64());
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, values: &[AtomicU64; 2]| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for route in ROUTES {
                let v = values[index(route)].load(Ordering::Relaxed);
                let _ = writeln!(out, "{name}{{method=\"{}\"}} {v}", route.label());
            }
        };
        counter(
            &mut out,
            "te_request_count",
            "Requests received",
            &self.requests,
        );
        counter(
            &mut out,
            "te_request_success",
            "Requests answered with 200",
            &self.successes,
        );
        let _ = writeln!(
            out,
            "# HELP te_request_failure Requests answered with an error\n# TYPE te_request_failure counter"
        );
        for (route, err, n) in self
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            let _ = writeln!(
                out,
                "te_request_failure{{method=\"{}\",err=\"{err}\"}} {n}",
                route.label()
            );
        }
        let _ = writeln!(
            out,
            "# HELP te_queue_size Texts waiting for the model thread\n# TYPE te_queue_size gauge\nte_queue_size {}",
            self.queue_size.load(Ordering::Relaxed)
        );
        self.request_duration.render(
            &mut out,
            "te_predict_duration",
            "Request duration in seconds, from the body read to the answer",
        );
        self.tokenization_duration.render(
            &mut out,
            "te_predict_tokenization_duration",
            "Tokenization duration per request in seconds",
        );
        self.queue_duration.render(
            &mut out,
            "te_predict_queue_duration",
            "Time a request waited in the queue in seconds",
        );
        self.inference_duration.render(
            &mut out,
            "te_predict_inference_duration",
            "Model duration per batch in seconds",
        );
        self.batch_sequences
            .render(&mut out, "te_batch_next_size", "Sequences per model batch");
        self.batch_tokens
            .render(&mut out, "te_batch_next_tokens", "Tokens per model batch");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.request(Route::Predict);
        m.failure(Route::Predict, "validation");
        m.batch(3, 40, Duration::from_millis(2));
        m.batch(1, 10, Duration::from_millis(2));
        let text = m.render();
        assert!(text.contains("te_request_count{method=\"predict\"} 1"));
        assert!(text.contains("te_request_failure{method=\"predict\",err=\"validation\"} 1"));
        assert!(text.contains("te_batch_next_size_bucket{le=\"1\"} 1"));
        assert!(text.contains("te_batch_next_size_bucket{le=\"4\"} 2"));
        assert!(text.contains("te_batch_next_tokens_sum 50"));
        assert!(text.contains("te_batch_next_tokens_count 2"));
    }
}
