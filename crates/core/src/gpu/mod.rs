//! The GPU backend (feature `gpu`): the encoder's whole forward pass as WGSL compute shaders,
//! driven through wgpu, which runs them on WebGPU in a browser and on Vulkan, Metal or DX12
//! natively. wgpu rather than a hand-written `web-sys` driver: one driver, and one set of
//! shaders, for both targets, and the native side is what a server with a GPU runs.
//!
//! [`Gpu`] is a device (an adapter's device and queue); [`encoder`] holds a model's weights on
//! it and runs batches; the classifier chooses between it and the CPU (`crate::classify`).

mod encoder;
mod kernels;
mod runtime;

pub(crate) use encoder::GpuEncoder;
pub(crate) use runtime::{Calibrated, GpuRuntime};

use std::sync::{Arc, Mutex};

pub use crate::device::GpuInfo;
use crate::error::{Error, Result};

/// The first error the device reported since the last check: an uncaptured validation or
/// out-of-memory error, or the device lost. wgpu reports them in callbacks, on any thread.
type Fault = Arc<Mutex<Option<String>>>;

/// A GPU device and its queue, with what it is and whether it has failed.
#[derive(Debug)]
pub struct Gpu {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: GpuInfo,
    limits: wgpu::Limits,
    fault: Fault,
}

impl Gpu {
    /// The system's preferred GPU adapter (`WGPU_ADAPTER_NAME`, `WGPU_BACKEND` and
    /// `WGPU_POWER_PREF` steer the choice) and a device on it with the adapter's full limits (the
    /// defaults cap a storage binding at 128 MiB, a few thousand tokens of the feed-forward's
    /// activations). An error says why there is none: no adapter, or no device on it.
    pub async fn request() -> Result<Self> {
        // wgpu's WebGPU instance panics outside a page or a dedicated worker, and finds no
        // adapter where `navigator.gpu` is missing (Node, Firefox without WebGPU): say why first.
        #[cfg(target_arch = "wasm32")]
        if !wgpu::util::is_browser_webgpu_supported().await {
            return Err(Error::GpuUnavailable(
                "this JavaScript engine has no WebGPU adapter (navigator.gpu is missing, or \
                 requestAdapter() gave none)"
                    .into(),
            ));
        }
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        // `WGPU_ADAPTER_NAME` picks an adapter by name, `WGPU_BACKEND` the APIs searched.
        let adapter = wgpu::util::initialize_adapter_from_env_or_default(&instance, None)
            .await
            .map_err(|e| Error::GpuUnavailable(format!("no GPU adapter: {e}")))?;
        let adapter_info = adapter.get_info();
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("xlmr-sentiment"),
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| {
                Error::GpuUnavailable(format!("no device on adapter {}: {e}", adapter_info.name))
            })?;
        let fault: Fault = Arc::default();
        // Without a handler, wgpu panics on an uncaptured error; a fault instead fails the pass
        // that met it, which is then redone on the CPU.
        let seen = fault.clone();
        device.on_uncaptured_error(Arc::new(move |error: wgpu::Error| {
            record(&seen, format!("GPU error: {error}"));
        }));
        let seen = fault.clone();
        device.set_device_lost_callback(move |reason, message| {
            record(
                &seen,
                format!("the GPU device was lost ({reason:?}): {message}"),
            );
        });
        let info = GpuInfo {
            // A browser's adapter may keep its description to itself.
            name: if adapter_info.name.is_empty() {
                "unnamed WebGPU adapter".into()
            } else {
                adapter_info.name
            },
            backend: adapter_info.backend.to_str().to_string(),
            device_type: match adapter_info.device_type {
                wgpu::DeviceType::DiscreteGpu => "discrete",
                wgpu::DeviceType::IntegratedGpu => "integrated",
                wgpu::DeviceType::VirtualGpu => "virtual",
                wgpu::DeviceType::Cpu => "cpu",
                wgpu::DeviceType::Other => "other",
            }
            .to_string(),
            driver: [adapter_info.driver, adapter_info.driver_info]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" "),
        };
        Ok(Self {
            device,
            queue,
            info,
            limits,
            fault,
        })
    }

    /// [`Gpu::request`], waited for (native code; a browser must await it).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn request_blocking() -> Result<Self> {
        pollster::block_on(Self::request())
    }

    /// What this GPU is.
    pub fn info(&self) -> &GpuInfo {
        &self.info
    }

    /// Destroys the device, as a driver reset or a lost GPU would: every later pass fails and
    /// runs on the CPU instead. For tests of that fallback.
    pub fn destroy(&self) {
        self.device.destroy();
    }

    /// A buffer holding `bytes`, written through the queue: wgpu's `create_buffer_init` maps
    /// the new buffer and panics where the device is gone, which must instead fail the pass.
    fn buffer_with(&self, label: &str, bytes: &[u8], usage: wgpu::BufferUsages) -> wgpu::Buffer {
        let size = (bytes.len() as u64).max(4).next_multiple_of(4);
        let buffer = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size,
            usage: usage | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        if bytes.len().is_multiple_of(4) {
            self.queue.write_buffer(&buffer, 0, bytes);
        } else {
            let mut padded = bytes.to_vec();
            padded.resize(size as usize, 0);
            self.queue.write_buffer(&buffer, 0, &padded);
        }
        buffer
    }

    /// The largest buffer a shader may bind, in bytes.
    fn max_binding(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// The device's fault, if it has had one: a pass that met one must not be trusted.
    fn fault(&self) -> Option<String> {
        self.fault
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Waits for the GPU's work so far (natively; in a browser the callbacks come from the
    /// event loop and this does nothing).
    fn wait(&self) -> Result<()> {
        #[cfg(not(target_arch = "wasm32"))]
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| Error::Gpu(format!("waiting for the GPU: {e}")))?;
        Ok(())
    }
}

fn record(fault: &Fault, message: String) {
    let mut first = fault
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if first.is_none() {
        *first = Some(message);
    }
}
