//! `xlmr-sentiment bench`: one engine's row of the native speed comparison (`bench/native.sh`),
//! measured with the protocol every engine there follows, end to end from text to scores
//! (tokenizing, the model, softmax):
//!
//! - load: from the start of loading to the first result (on the latency text);
//! - latency: that one text again, 3 warm-up calls, then p50 and p99 of 50 calls;
//! - throughput: the texts in file order, in consecutive batches of 16, texts per second;
//! - medium (128 tokens) and long (512 tokens) texts: each 1 warm-up, then the median of 5 runs;
//! - peak resident memory (VmHWM) at the end.
//!
//! `--quick` runs 1 warm-up and 10 latency calls, 64 throughput texts and 1 medium and 1 long run.
//! The texts come from `bench/texts.py` (token counts checked there with `tokenizers`).

use std::path::Path;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use xlmr_sentiment_core::{Classifier, ClassifyOptions};

use crate::Error;

/// The inputs of the protocol (`target/bench/texts.json`).
#[derive(Debug, Deserialize)]
pub struct BenchTexts {
    /// 32 tokens with `<s>` and `</s>`.
    pub latency_text: String,
    /// 256 texts of 20-47 tokens.
    pub throughput_texts: Vec<String>,
    /// 128 tokens.
    pub medium_text: String,
    /// 512 tokens.
    pub long_text: String,
}

/// One row of `bench/results/native.json`.
#[derive(Debug, Serialize)]
pub struct BenchRow {
    /// Always `xlmr-sentiment`.
    pub engine: &'static str,
    /// `f32`, `int8` (a q8_0 bundle), `q4` or `f16`.
    pub precision: String,
    /// Threads of the compute pool.
    pub threads: usize,
    /// Median time to classify one short text, milliseconds.
    pub latency_p50_ms: f64,
    /// 99th percentile of the same.
    pub latency_p99_ms: f64,
    /// Short texts per second, in batches of 16.
    pub texts_per_s: f64,
    /// Short texts per second, in batches of 128.
    pub texts_per_s_batch128: f64,
    /// Time for one 128-token text, milliseconds.
    pub medium_ms: f64,
    /// Time for one 512-token text, milliseconds.
    pub long_ms: f64,
    /// Seconds from files to a ready classifier.
    pub load_s: f64,
    /// Peak resident memory of the process, MB.
    pub peak_rss_mb: f64,
    /// The f32, int8 and attention kernels this CPU runs.
    pub kernels: String,
    /// `cpu`, or `gpu: ADAPTER (BACKEND)` where the batches ran on a GPU (with `--device auto`,
    /// those of at least the crossover's tokens).
    pub device: String,
    /// With a reference model: the share of texts whose top label matches it (0 to 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agreement_with_f32: Option<f64>,
    /// With a reference model: the largest change of any label's probability.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_prob_change: Option<f32>,
    /// What the row was measured with: model revision, weights SHA-256, precision, kernels,
    /// version (filled in after the measurements, so hashing never counts as load time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub provenance: Option<crate::provenance::Provenance>,
}

/// How a bench run is set up.
#[derive(Debug, Clone)]
pub struct BenchSetup {
    /// Fewer repetitions (a check that everything runs, not a measurement).
    pub quick: bool,
    /// Threads the caller configured (reported as is).
    pub threads: usize,
}

/// Percentile `q` (0 to 1) with linear interpolation between the closest ranks, as numpy's
/// default (the Python peers use `numpy.percentile`).
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let position = q * (sorted.len() - 1) as f64;
    let (low, high) = (position.floor() as usize, position.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Peak resident memory of this process in MB (VmHWM), where /proc exists.
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
            line.split_whitespace().nth(1)?.parse::<f64>().ok()
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

/// Runs the protocol on the model at `model`, loaded with `load`; returns the model too (for
/// an accuracy comparison after the measurements).
pub fn run(
    model: &Path,
    load: impl FnOnce() -> Result<Classifier, Error>,
    texts: &BenchTexts,
    setup: &BenchSetup,
) -> Result<(Classifier, BenchRow), Error> {
    let model_error = |error| Error::Model {
        dir: model.to_path_buf(),
        error,
    };
    let options = ClassifyOptions {
        batch_size: 16,
        ..ClassifyOptions::default()
    };
    let one = [texts.latency_text.as_str()];

    let started = Instant::now();
    let classifier = load()?;
    classifier.classify(&one, &options).map_err(model_error)?;
    let load_s = started.elapsed().as_secs_f64();

    let (warmups, calls, throughput, long_runs) = if setup.quick {
        (1, 10, 64, 1)
    } else {
        (3, 50, 256, 5)
    };
    for _ in 0..warmups {
        classifier.classify(&one, &options).map_err(model_error)?;
    }
    let mut latencies = Vec::with_capacity(calls);
    for _ in 0..calls {
        let call = Instant::now();
        classifier.classify(&one, &options).map_err(model_error)?;
        latencies.push(ms(call.elapsed()));
    }
    latencies.sort_by(f64::total_cmp);

    let batch_texts: Vec<&str> = texts
        .throughput_texts
        .iter()
        .take(throughput)
        .map(String::as_str)
        .collect();
    let pass = Instant::now();
    for batch in batch_texts.chunks(16) {
        classifier.classify(batch, &options).map_err(model_error)?;
    }
    let texts_per_s = batch_texts.len() as f64 / pass.elapsed().as_secs_f64();
    let wide = ClassifyOptions {
        batch_size: 128,
        ..options.clone()
    };
    let pass = Instant::now();
    for batch in batch_texts.chunks(128) {
        classifier.classify(batch, &wide).map_err(model_error)?;
    }
    let texts_per_s_batch128 = batch_texts.len() as f64 / pass.elapsed().as_secs_f64();

    let median_of_runs = |text: &str| -> Result<f64, Error> {
        let one = [text];
        if !setup.quick {
            classifier.classify(&one, &options).map_err(model_error)?;
        }
        let mut times = Vec::with_capacity(long_runs);
        for _ in 0..long_runs {
            let call = Instant::now();
            classifier.classify(&one, &options).map_err(model_error)?;
            times.push(ms(call.elapsed()));
        }
        times.sort_by(f64::total_cmp);
        Ok(percentile(&times, 0.5))
    };
    let medium_ms = median_of_runs(&texts.medium_text)?;
    let long_ms = median_of_runs(&texts.long_text)?;

    let precision = match classifier.bundle_info().map(|b| b.precision.as_str()) {
        None | Some("f32") => "f32".to_string(),
        Some("q8_0") => "int8".to_string(),
        Some(other) => other.to_string(),
    };
    let row = BenchRow {
        engine: "xlmr-sentiment",
        precision,
        threads: setup.threads,
        latency_p50_ms: percentile(&latencies, 0.50),
        latency_p99_ms: percentile(&latencies, 0.99),
        texts_per_s,
        texts_per_s_batch128,
        medium_ms,
        long_ms,
        load_s,
        peak_rss_mb: peak_rss_mb(),
        kernels: crate::provenance::kernels(),
        device: device_name(&classifier.device()),
        agreement_with_f32: None,
        max_prob_change: None,
        provenance: None,
    };
    Ok((classifier, row))
}

/// A bench row's `device`.
fn device_name(report: &xlmr_sentiment_core::DeviceReport) -> String {
    match (&report.adapter, report.device.as_str()) {
        (Some(adapter), "gpu") => format!("gpu: {} ({})", adapter.name, adapter.backend),
        _ => "cpu".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_interpolate_like_numpy() {
        let v = [1.0, 2.0, 3.0, 4.0];
        assert_eq!(percentile(&v, 0.5), 2.5);
        assert_eq!(percentile(&v, 0.0), 1.0);
        assert_eq!(percentile(&v, 1.0), 4.0);
        assert!((percentile(&v, 0.99) - 3.97).abs() < 1e-12);
    }
}
