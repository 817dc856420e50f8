//! A classifier's GPU: which batches go to it (all, or with `auto` those past the crossover
//! measured at load), and the fall back to the CPU, with the reason kept, when a pass fails.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

// std's Instant panics in a browser; web-time's reads `performance.now()` there.
use web_time::{Duration, Instant};

use super::GpuEncoder;
use crate::device::{DeviceChoice, DeviceReport};
use crate::error::Result;
use crate::kernels::Span;
use crate::model::XlmRobertaForSequenceClassification;

/// The warm-up batches `auto` times on both devices: texts of this many tokens...
const WARM_UP_TEXT_TOKENS: usize = 32;
/// ... this many of them in the small batch and in the large one.
const WARM_UP_TEXTS: [usize; 2] = [8, 64];

/// Where a runtime sends no batch: below this many tokens... every batch.
const NO_BATCH: usize = usize::MAX;

/// The GPU side of a classifier.
#[derive(Debug)]
pub(crate) struct GpuRuntime {
    encoder: GpuEncoder,
    choice: DeviceChoice,
    /// Batches of fewer tokens run on the CPU ([`NO_BATCH`] until calibrated).
    min_tokens: AtomicUsize,
    failed: AtomicBool,
    report: Mutex<DeviceReport>,
}

/// What [`GpuRuntime::calibrate`] found.
pub(crate) enum Calibrated {
    /// The GPU takes batches (all, or from the crossover up).
    Gpu,
    /// It wins at no size measured: the CPU takes every batch, for the reason in the report.
    Cpu(DeviceReport),
}

impl GpuRuntime {
    /// A runtime for `choice` (`gpu` or `auto`) that sends the GPU nothing until
    /// [`GpuRuntime::calibrate`] has run.
    pub(crate) fn new(encoder: GpuEncoder, choice: DeviceChoice) -> Self {
        let report = DeviceReport {
            adapter: Some(encoder.gpu().info().clone()),
            gpu_weights: Some(encoder.weights().clone()),
            ..DeviceReport::cpu(
                choice,
                Some("the GPU has not run its warm-up yet (Classifier::calibrate_device)".into()),
            )
        };
        Self {
            encoder,
            choice,
            min_tokens: AtomicUsize::new(NO_BATCH),
            failed: AtomicBool::new(false),
            report: Mutex::new(report),
        }
    }

    /// The warm-up: a first pass, which compiles the pipelines and fails here, at load, on a
    /// GPU that cannot run one; then, with `auto`, both devices run the warm-up batches and the
    /// GPU takes batches from the crossover up.
    pub(crate) async fn calibrate(
        &self,
        model: &XlmRobertaForSequenceClassification,
        vocab: usize,
    ) -> Result<Calibrated> {
        if self.failed.load(Ordering::Acquire) {
            // Its weights are gone (see try_forward): the CPU keeps every batch.
            return Ok(Calibrated::Cpu(self.report()));
        }
        let small = warm_up_batch(WARM_UP_TEXTS[0], vocab);
        let small: Vec<&[u32]> = small.iter().map(Vec::as_slice).collect();
        pass(&self.encoder, model, &small).await?;
        let adapter = Some(self.encoder.gpu().info().clone());
        let (min_tokens, reason) = if self.choice == DeviceChoice::Gpu {
            (0, None)
        } else {
            match crossover(&self.encoder, model, vocab).await? {
                Crossover::From(tokens, how) => (tokens, Some(how)),
                Crossover::Never(why) => {
                    return Ok(Calibrated::Cpu(DeviceReport {
                        adapter,
                        ..DeviceReport::cpu(self.choice, Some(why))
                    }))
                }
            }
        };
        *self.lock_report() = DeviceReport {
            requested: self.choice,
            device: "gpu".into(),
            adapter,
            gpu_min_tokens: (self.choice == DeviceChoice::Auto).then_some(min_tokens),
            gpu_weights: Some(self.encoder.weights().clone()),
            reason,
        };
        self.min_tokens.store(min_tokens, Ordering::Release);
        Ok(Calibrated::Gpu)
    }

    fn lock_report(&self) -> std::sync::MutexGuard<'_, DeviceReport> {
        self.report
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Where the classifier runs now.
    pub(crate) fn report(&self) -> DeviceReport {
        self.lock_report().clone()
    }

    /// The logits of `sequences` from the GPU, or `None` where the batch belongs on the CPU:
    /// too few tokens, or a GPU that has failed (this pass included, whose batch the caller then
    /// runs on the CPU; the reason goes into the report).
    pub(crate) async fn try_forward(
        &self,
        model: &XlmRobertaForSequenceClassification,
        sequences: &[&[u32]],
    ) -> Option<Vec<Vec<f32>>> {
        let tokens: usize = sequences.iter().map(|s| s.len()).sum();
        if self.failed.load(Ordering::Acquire) || tokens < self.min_tokens.load(Ordering::Acquire) {
            return None;
        }
        match pass(&self.encoder, model, sequences).await {
            Ok(logits) => Some(logits),
            Err(error) => {
                if !self.failed.swap(true, Ordering::AcqRel) {
                    self.encoder.release();
                }
                let mut report = self.lock_report();
                report.device = "cpu".into();
                report.reason = Some(format!(
                    "the GPU failed mid-run, so this batch and every later one run on the CPU: \
                     {error}"
                ));
                None
            }
        }
    }
}

/// One forward pass of `sequences` on the GPU, in as many parts as its binding limit needs.
async fn pass(
    encoder: &GpuEncoder,
    model: &XlmRobertaForSequenceClassification,
    sequences: &[&[u32]],
) -> Result<Vec<Vec<f32>>> {
    let max_tokens = encoder.max_tokens().max(1);
    let mut logits = Vec::with_capacity(sequences.len());
    let mut start = 0;
    while start < sequences.len() {
        let mut end = start + 1;
        let mut tokens = sequences[start].len();
        while end < sequences.len() && tokens + sequences[end].len() <= max_tokens {
            tokens += sequences[end].len();
            end += 1;
        }
        let part = &sequences[start..end];
        let (rows, positions) = model.embedding_inputs(part)?;
        let mut spans = Vec::with_capacity(part.len());
        let mut at = 0;
        for s in part {
            spans.push(Span {
                start: at,
                len: s.len(),
            });
            at += s.len();
        }
        let flat = encoder.forward(&rows, &positions, &spans).await?;
        let labels = flat.len() / part.len();
        logits.extend(flat.chunks_exact(labels).map(<[f32]>::to_vec));
        start = end;
    }
    Ok(logits)
}

/// `texts` texts of [`WARM_UP_TEXT_TOKENS`] ids spread over the vocabulary.
fn warm_up_batch(texts: usize, vocab: usize) -> Vec<Vec<u32>> {
    (0..texts)
        .map(|t| {
            (0..WARM_UP_TEXT_TOKENS)
                .map(|i| ((t * 7919 + i * 104_729 + 3) % vocab.max(1)) as u32)
                .collect()
        })
        .collect()
}

enum Crossover {
    /// The GPU is faster from this many tokens a batch (and how that was measured).
    From(usize, String),
    /// Never faster at the sizes measured: why.
    Never(String),
}

/// The batch size in tokens from which the GPU is faster: each device's time for the two
/// warm-up batches fits `fixed + per_token * tokens`, and the lines cross there.
async fn crossover(
    encoder: &GpuEncoder,
    model: &XlmRobertaForSequenceClassification,
    vocab: usize,
) -> Result<Crossover> {
    let mut points = Vec::with_capacity(2);
    for texts in WARM_UP_TEXTS {
        let batch = warm_up_batch(texts, vocab);
        let batch: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
        let tokens = texts * WARM_UP_TEXT_TOKENS;
        let start = Instant::now();
        pass(encoder, model, &batch).await?;
        let gpu = start.elapsed();
        let start = Instant::now();
        model.forward(&batch)?;
        let cpu = start.elapsed();
        points.push((tokens as f64, gpu, cpu));
    }
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let [(t0, g0, c0), (t1, g1, c1)] = [points[0], points[1]];
    Ok(fit([(t0, ms(g0), ms(c0)), (t1, ms(g1), ms(c1))]))
}

/// The crossover of two measurements, `(tokens, gpu_ms, cpu_ms)` at a small and a large batch.
fn fit(points: [(f64, f64, f64); 2]) -> Crossover {
    let measured = points
        .iter()
        .map(|(tokens, gpu, cpu)| format!("{tokens} tokens: GPU {gpu:.1} ms, CPU {cpu:.1} ms"))
        .collect::<Vec<_>>()
        .join("; ");
    let [(t0, g0, c0), (t1, g1, c1)] = points;
    if g0 <= c0 {
        return Crossover::From(
            t0 as usize,
            format!("the GPU was faster from the smallest warm-up batch ({measured})"),
        );
    }
    let (gpu_slope, cpu_slope) = ((g1 - g0) / (t1 - t0), (c1 - c0) / (t1 - t0));
    if g1 > c1 || gpu_slope >= cpu_slope {
        return Crossover::Never(format!(
            "the GPU was slower than the CPU on the warm-up batches ({measured})"
        ));
    }
    let (gpu_fixed, cpu_fixed) = (g0 - gpu_slope * t0, c0 - cpu_slope * t0);
    let from = ((gpu_fixed - cpu_fixed) / (cpu_slope - gpu_slope))
        .ceil()
        .max(t0) as usize;
    Crossover::From(
        from,
        format!("the GPU is faster from about {from} tokens a batch ({measured})"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(points: [(f64, f64, f64); 2]) -> Option<usize> {
        match fit(points) {
            Crossover::From(tokens, _) => Some(tokens),
            Crossover::Never(_) => None,
        }
    }

    #[test]
    fn the_crossover_is_where_the_two_lines_meet() {
        // GPU 10 ms + 0.01 ms/token, CPU 0 + 0.05 ms/token: equal at 250 tokens.
        assert_eq!(from([(100.0, 11.0, 5.0), (1000.0, 20.0, 50.0)]), Some(250));
        // Faster at both sizes: from the smaller.
        assert_eq!(from([(256.0, 1.0, 2.0), (2048.0, 5.0, 20.0)]), Some(256));
        // Slower at both: never (a software adapter's figures).
        assert_eq!(from([(256.0, 59.4, 3.7), (2048.0, 446.4, 9.5)]), None);
        // Slower at the large size though faster per token: the lines cross past it, never
        // measured, so the CPU keeps every batch.
        assert_eq!(from([(256.0, 100.0, 3.0), (2048.0, 101.0, 90.0)]), None);
    }
}
