//! Where a classifier runs its forward passes: the choice a caller makes (`--device`,
//! `device:`), and the report of what it got and why (`classifier.device`, `/info`).

use std::fmt;
use std::str::FromStr;

#[cfg(feature = "gpu")]
use std::sync::Arc;

use crate::config::Config;
use crate::error::{Error, Result};
#[cfg(feature = "gpu")]
use crate::gpu::{Calibrated, Gpu, GpuEncoder, GpuRuntime};
use crate::model::XlmRobertaForSequenceClassification;
use crate::weights::TensorStore;

/// The device a caller asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// The CPU kernels only.
    Cpu,
    /// The GPU for every batch; loading fails where there is none. A pass that fails on it
    /// (the device lost) is redone on the CPU, and later ones run there.
    Gpu,
    /// The GPU where there is one and it is faster for the batch at hand (measured at load),
    /// the CPU otherwise, with the reason in the [`DeviceReport`].
    #[default]
    Auto,
}

impl DeviceChoice {
    /// The choice's name, as `--device` and `device:` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Gpu => "gpu",
            Self::Auto => "auto",
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeviceChoice {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "gpu" => Ok(Self::Gpu),
            "auto" => Ok(Self::Auto),
            other => Err(Error::InvalidOption(format!(
                "unknown device {other:?}: expected cpu, gpu or auto"
            ))),
        }
    }
}

/// What a GPU is: the adapter's name and driver, as `classifier.device` and `/info` report them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuInfo {
    /// The adapter's name (`NVIDIA H100`, `llvmpipe (LLVM 15.0.6, 256 bits)`, `swiftshader`).
    pub name: String,
    /// The API wgpu drives it through: `vulkan`, `metal`, `dx12` or `webgpu`.
    pub backend: String,
    /// `discrete`, `integrated`, `virtual`, `cpu` (a software adapter) or `other`.
    pub device_type: String,
    /// The driver and its version, where the adapter says.
    pub driver: String,
}

/// The model's copy on a GPU.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct GpuWeights {
    /// How the dense layers' weights are stored: `int8` for a q8_0 or q4 bundle (blocks of 32
    /// with a scale each); else `f16` where every value of a matrix is exactly an f16 (an f16
    /// bundle, or a folder saved in f16), `f32` otherwise; `mixed` where the layers differ. The
    /// shaders compute in f32 either way. Biases, LayerNorms and position rows stay f32.
    pub format: String,
    /// The bytes uploaded for the model (the word embeddings stay on the CPU).
    pub bytes: u64,
}

/// Where a classifier runs, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DeviceReport {
    /// What was asked for.
    pub requested: DeviceChoice,
    /// `gpu` when batches (those of at least `gpu_min_tokens` tokens) run on the GPU, else
    /// `cpu`.
    pub device: String,
    /// The GPU, where one was found.
    pub adapter: Option<GpuInfo>,
    /// With `auto`: the fewest tokens a batch must hold to run on the GPU.
    pub gpu_min_tokens: Option<usize>,
    /// Where the GPU holds a copy of the model: how its dense layers' weights are stored
    /// (see [`GpuWeights::format`]) and the bytes uploaded.
    pub gpu_weights: Option<GpuWeights>,
    /// Why the CPU runs batches where the GPU was allowed (no adapter, too slow here, lost
    /// mid-run), or how `auto` chose.
    pub reason: Option<String>,
}

impl DeviceReport {
    /// [`GpuWeights::format`], where a GPU holds the model: the flat field the adapters report.
    pub fn gpu_weight_format(&self) -> Option<&str> {
        self.gpu_weights.as_ref().map(|w| w.format.as_str())
    }

    /// [`GpuWeights::bytes`], where a GPU holds the model.
    pub fn gpu_weight_bytes(&self) -> Option<u64> {
        self.gpu_weights.as_ref().map(|w| w.bytes)
    }

    /// A classifier on the CPU, for `reason` (`None` where the CPU was asked for).
    pub fn cpu(requested: DeviceChoice, reason: Option<String>) -> Self {
        Self {
            requested,
            device: "cpu".into(),
            adapter: None,
            gpu_min_tokens: None,
            gpu_weights: None,
            reason,
        }
    }
}

/// A device choice with the GPU it found (or why there is none), for the loaders' `_with`
/// forms: `Classifier::load_bundle_with(bundle, &DeviceRequest::new(DeviceChoice::Auto)?)`.
#[derive(Debug, Clone)]
pub struct DeviceRequest {
    choice: DeviceChoice,
    /// The GPU, or why there is none.
    #[cfg(feature = "gpu")]
    gpu: std::result::Result<Arc<Gpu>, String>,
}

impl DeviceRequest {
    /// The CPU only.
    pub fn cpu() -> Self {
        Self {
            choice: DeviceChoice::Cpu,
            #[cfg(feature = "gpu")]
            gpu: Err("the CPU was asked for".into()),
        }
    }

    /// `choice`, with the system's GPU where it allows one (looked for now, which takes a
    /// moment). `gpu` without one is an error that says why; `auto` without one runs on the
    /// CPU and reports why.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(choice: DeviceChoice) -> Result<Self> {
        if choice == DeviceChoice::Cpu {
            return Ok(Self::cpu());
        }
        #[cfg(feature = "gpu")]
        return Self::with_gpu(choice, Gpu::request_blocking().map(Arc::new));
        #[cfg(not(feature = "gpu"))]
        match choice {
            DeviceChoice::Gpu => Err(Error::GpuUnavailable(NO_GPU_BACKEND.into())),
            _ => Ok(Self { choice }),
        }
    }

    /// `choice` with a GPU already requested (a browser awaits [`Gpu::request`]), or the error
    /// of requesting one.
    #[cfg(feature = "gpu")]
    pub fn with_gpu(choice: DeviceChoice, gpu: Result<Arc<Gpu>>) -> Result<Self> {
        match (choice, gpu) {
            (DeviceChoice::Cpu, _) => Ok(Self::cpu()),
            (DeviceChoice::Gpu, Err(error)) => Err(error),
            (choice, gpu) => Ok(Self {
                choice,
                gpu: gpu.map_err(|e| e.to_string()),
            }),
        }
    }

    /// What was asked for.
    pub fn choice(&self) -> DeviceChoice {
        self.choice
    }

    /// The GPU found, if any.
    #[cfg(feature = "gpu")]
    pub fn gpu(&self) -> Option<&Arc<Gpu>> {
        self.gpu.as_ref().ok()
    }

    /// The first half of placing a model, before the CPU model takes the weights: the GPU's
    /// copy of them, where the choice allows one.
    pub(crate) fn prepare(&self, cfg: &Config, weights: &TensorStore) -> Result<Preparing> {
        #[cfg(feature = "gpu")]
        if self.choice != DeviceChoice::Cpu {
            if let (DeviceChoice::Auto, Ok(gpu)) = (self.choice, &self.gpu) {
                if gpu.info().device_type == "cpu" {
                    // A software adapter (lavapipe, SwiftShader) runs the shaders on the CPU,
                    // slower than the CPU's own kernels at every size, so `auto` does not upload
                    // the weights to time it.
                    return Ok(Preparing::Cpu(DeviceReport {
                        adapter: Some(gpu.info().clone()),
                        ..DeviceReport::cpu(
                            self.choice,
                            Some(format!(
                                "the GPU adapter found, {}, is a software one (it runs on the \
                                 CPU, slower than the CPU kernels): asking for the GPU (--device gpu, \
                                 device: \"webgpu\") forces it",
                                gpu.info().name
                            )),
                        )
                    }));
                }
            }
            let encoder = self
                .gpu
                .clone()
                .map_err(Error::GpuUnavailable)
                .and_then(|gpu| GpuEncoder::new(cfg, weights, gpu));
            return match (self.choice, encoder) {
                (_, Ok(encoder)) => Ok(Preparing::Gpu(self.choice, Box::new(encoder))),
                (DeviceChoice::Gpu, Err(error)) => Err(error),
                (choice, Err(error)) => Ok(Preparing::Cpu(DeviceReport::cpu(
                    choice,
                    Some(error.to_string()),
                ))),
            };
        }
        let _ = (cfg, weights);
        let reason = match self.choice {
            DeviceChoice::Cpu => None,
            _ => Some(NO_GPU_BACKEND.into()),
        };
        Ok(Preparing::Cpu(DeviceReport::cpu(self.choice, reason)))
    }
}

/// Why `auto` runs on the CPU in a build without the GPU backend.
#[cfg_attr(feature = "gpu", allow(dead_code))]
const NO_GPU_BACKEND: &str = "this build has no GPU backend (the core's `gpu` feature)";

/// A placement half made: see [`DeviceRequest::prepare`].
#[derive(Debug)]
pub(crate) enum Preparing {
    Cpu(DeviceReport),
    #[cfg(feature = "gpu")]
    Gpu(DeviceChoice, Box<GpuEncoder>),
}

impl Preparing {
    /// The placement, once the CPU model exists. Natively the GPU's warm-up runs now (with
    /// `auto`, the crossover is measured); in a browser, where it must be awaited, the GPU
    /// takes no batch until [`Placement::calibrate`] has run.
    pub(crate) fn finish(
        self,
        model: &XlmRobertaForSequenceClassification,
        vocab: usize,
    ) -> Result<Placement> {
        #[cfg(any(not(feature = "gpu"), target_arch = "wasm32"))]
        let _ = (model, vocab);
        match self {
            Self::Cpu(report) => Ok(Placement::Cpu(report)),
            #[cfg(feature = "gpu")]
            Self::Gpu(choice, encoder) => {
                let placement = Placement::Gpu(Box::new(GpuRuntime::new(*encoder, choice)));
                #[cfg(not(target_arch = "wasm32"))]
                let placement = pollster::block_on(placement.calibrate(model, vocab))?;
                Ok(placement)
            }
        }
    }
}

/// Where a classifier runs its passes.
#[derive(Debug)]
pub(crate) enum Placement {
    Cpu(DeviceReport),
    #[cfg(feature = "gpu")]
    Gpu(Box<GpuRuntime>),
}

impl Placement {
    pub(crate) fn report(&self) -> DeviceReport {
        match self {
            Self::Cpu(report) => report.clone(),
            #[cfg(feature = "gpu")]
            Self::Gpu(runtime) => runtime.report(),
        }
    }

    /// The logits of `sequences`: on the GPU where the placement sends this batch there and
    /// the pass succeeds, on the CPU otherwise. (In a browser the GPU's passes must be
    /// awaited: there this runs on the CPU, and [`Placement::forward_async`] on either.)
    pub(crate) fn forward(
        &self,
        model: &XlmRobertaForSequenceClassification,
        sequences: &[&[u32]],
    ) -> Result<Vec<Vec<f32>>> {
        #[cfg(all(feature = "gpu", not(target_arch = "wasm32")))]
        if let Self::Gpu(runtime) = self {
            if let Some(logits) = pollster::block_on(runtime.try_forward(model, sequences)) {
                return Ok(logits);
            }
        }
        model.forward(sequences)
    }

    /// [`Placement::forward`], awaiting the GPU's pass.
    #[cfg(feature = "gpu")]
    pub(crate) async fn forward_async(
        &self,
        model: &XlmRobertaForSequenceClassification,
        sequences: &[&[u32]],
    ) -> Result<Vec<Vec<f32>>> {
        if let Self::Gpu(runtime) = self {
            if let Some(logits) = runtime.try_forward(model, sequences).await {
                return Ok(logits);
            }
        }
        model.forward(sequences)
    }

    /// Runs the GPU's warm-up (see [`GpuRuntime::calibrate`]): the placement that results. A
    /// GPU that fails it is an error with `gpu` and the CPU, with the reason, with `auto`.
    #[cfg(feature = "gpu")]
    pub(crate) async fn calibrate(
        self,
        model: &XlmRobertaForSequenceClassification,
        vocab: usize,
    ) -> Result<Placement> {
        let Self::Gpu(runtime) = self else {
            return Ok(self);
        };
        let choice = runtime.report().requested;
        match runtime.calibrate(model, vocab).await {
            Ok(Calibrated::Gpu) => Ok(Self::Gpu(runtime)),
            Ok(Calibrated::Cpu(report)) => Ok(Self::Cpu(report)),
            Err(error) if choice == DeviceChoice::Gpu => Err(error),
            Err(error) => Ok(Self::Cpu(DeviceReport {
                adapter: runtime.report().adapter,
                ..DeviceReport::cpu(choice, Some(format!("the GPU failed its warm-up: {error}")))
            })),
        }
    }
}
