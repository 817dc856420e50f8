//! The device binding: the npm package's `device` choice (`auto`, `wasm`, `webgpu`) and report,
//! over the core's `DeviceChoice`, `DeviceRequest` and `DeviceReport` (`cpu`, `gpu`, `auto`).

use serde::Serialize;
use wasm_bindgen::prelude::*;
use xlmr_sentiment_core::{DeviceChoice, DeviceReport};

use crate::js_error;

/// The npm package's name for a core device choice.
fn choice_name(choice: DeviceChoice) -> &'static str {
    match choice {
        DeviceChoice::Cpu => "wasm",
        DeviceChoice::Gpu => "webgpu",
        DeviceChoice::Auto => "auto",
    }
}

/// The core's choice for the npm package's `device` option.
fn choice_from_js(device: &str) -> Result<DeviceChoice, JsError> {
    match device {
        "wasm" => Ok(DeviceChoice::Cpu),
        "webgpu" => Ok(DeviceChoice::Gpu),
        "auto" => Ok(DeviceChoice::Auto),
        other => Err(js_error(format!(
            "unknown device {other:?}: expected \"auto\", \"wasm\" or \"webgpu\""
        ))),
    }
}

/// A device choice with the GPU it found, or why there is none: what the loaders take. Made by
/// `requestDevice`, which must be awaited (WebGPU hands out adapters and devices in promises).
#[wasm_bindgen]
pub struct DeviceRequest {
    pub(crate) inner: xlmr_sentiment_core::DeviceRequest,
}

#[wasm_bindgen]
impl DeviceRequest {
    /// The same choice and GPU, for a second classifier (or a test that keeps the GPU at hand).
    #[wasm_bindgen(js_name = clone)]
    pub fn duplicate(&self) -> DeviceRequest {
        DeviceRequest {
            inner: self.inner.clone(),
        }
    }

    /// Destroys the GPU device (`GPUDevice.destroy()`), as a lost GPU would: every classifier on
    /// it finishes the batch in flight, and runs every later one, on the CPU. For tests of that
    /// fallback; without a GPU, nothing happens.
    #[wasm_bindgen(js_name = destroyGpu)]
    pub fn destroy_gpu(&self) {
        #[cfg(feature = "gpu")]
        if let Some(gpu) = self.inner.gpu() {
            gpu.destroy();
        }
    }
}

/// Asks for `device` (`"auto"`, `"wasm"` or `"webgpu"`): with `auto` and `webgpu`, the browser's
/// WebGPU adapter and a device on it. `webgpu` without one rejects with the reason; `auto`
/// resolves, and the classifier then runs on the CPU and says why in `device`.
#[wasm_bindgen(js_name = requestDevice)]
pub async fn request_device(device: String) -> Result<DeviceRequest, JsError> {
    let choice = choice_from_js(&device)?;
    #[cfg(feature = "gpu")]
    let inner = match choice {
        DeviceChoice::Cpu => xlmr_sentiment_core::DeviceRequest::cpu(),
        choice => {
            let gpu = xlmr_sentiment_core::Gpu::request()
                .await
                .map(std::sync::Arc::new);
            xlmr_sentiment_core::DeviceRequest::with_gpu(choice, gpu).map_err(js_error)?
        }
    };
    #[cfg(not(feature = "gpu"))]
    let inner = match choice {
        DeviceChoice::Gpu => return Err(js_error("this build has no WebGPU backend")),
        _ => xlmr_sentiment_core::DeviceRequest::cpu(),
    };
    Ok(DeviceRequest { inner })
}

/// `classifier.device` in the npm package's words.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeviceInfo {
    /// `auto`, `wasm` or `webgpu`: what was asked for.
    requested: &'static str,
    /// `webgpu` where batches (those of at least `gpuMinTokens` tokens) run on the GPU, else
    /// `wasm`.
    device: &'static str,
    /// The GPU adapter, where one was found.
    adapter: Option<AdapterInfo>,
    gpu_min_tokens: Option<usize>,
    /// How the GPU holds the model's dense layers (`f32`, `f16`, `int8` or `mixed`, see the
    /// core's `GpuWeights::format`), where it holds it.
    gpu_weights: Option<String>,
    /// The bytes of the model on the GPU.
    gpu_weight_bytes: Option<u64>,
    /// Why the CPU runs batches where the GPU was allowed, or how `auto` chose.
    reason: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AdapterInfo {
    name: String,
    backend: String,
    device_type: String,
    driver: String,
}

impl From<DeviceReport> for DeviceInfo {
    fn from(report: DeviceReport) -> Self {
        let gpu_weights = report.gpu_weight_format().map(str::to_string);
        let gpu_weight_bytes = report.gpu_weight_bytes();
        Self {
            requested: choice_name(report.requested),
            device: if report.device == "gpu" {
                "webgpu"
            } else {
                "wasm"
            },
            adapter: report.adapter.map(|a| AdapterInfo {
                name: a.name,
                backend: a.backend,
                device_type: a.device_type,
                driver: a.driver,
            }),
            gpu_min_tokens: report.gpu_min_tokens,
            gpu_weights,
            gpu_weight_bytes,
            reason: report.reason,
        }
    }
}
