//! The compute pipelines of the WGSL shaders beside this file, and the recording of one
//! dispatch of each into a pass: a dense layer (`matmul.wgsl`), attention (`attention.wgsl`) and
//! the row-wise steps (`rows.wgsl`).

use super::Gpu;
use crate::config::Activation;

/// Workgroups a dispatch may have along one dimension (WebGPU's default and minimum limit).
const MAX_GROUPS_PER_DIMENSION: u32 = 65_535;

/// The output tile of `matmul.wgsl`, in rows and columns.
const MATMUL_TILE: u32 = 64;

/// The longest text `attention.wgsl` takes (its workgroup holds one score per key).
pub(crate) const MAX_KEYS: usize = 512;

/// A dense layer's epilogue, as `matmul.wgsl` numbers it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Epilogue {
    None = 0,
    GeluErf = 1,
    GeluTanh = 2,
    Relu = 3,
    Tanh = 4,
}

impl From<Activation> for Epilogue {
    fn from(activation: Activation) -> Self {
        match activation {
            Activation::GeluErf => Self::GeluErf,
            Activation::GeluTanh => Self::GeluTanh,
            Activation::Relu => Self::Relu,
        }
    }
}

/// How a dense layer's weight is stored on the GPU (`matmul.wgsl` expands it to f32 as it
/// stages it): as the bundle holds it, so an f16 bundle takes half the memory of f32 and a
/// quantized one a quarter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum WeightFormat {
    F32,
    /// Two f16 per u32, read with WGSL's `unpack2x16float` (no `shader-f16` needed: only the
    /// storage is f16, the arithmetic stays f32).
    F16,
    /// Four int8 per u32, and an f32 scale per block of [`INT8_BLOCK`] elements.
    Int8,
}

impl WeightFormat {
    /// Its name in the device report (`gpu_weights`).
    pub(crate) fn name(self) -> &'static str {
        match self {
            WeightFormat::F32 => "f32",
            WeightFormat::F16 => "f16",
            WeightFormat::Int8 => "int8",
        }
    }
}

/// The elements of an int8 weight that share one scale (in row-major order), as ggml's Q8_0.
pub(crate) const INT8_BLOCK: usize = 32;

/// A dense layer's weight on the GPU, in one of the [`WeightFormat`]s.
#[derive(Debug)]
pub(crate) enum Weight {
    F32(wgpu::Buffer),
    F16(wgpu::Buffer),
    Int8 {
        values: wgpu::Buffer,
        scales: wgpu::Buffer,
    },
}

impl Weight {
    /// Frees its GPU memory (see [`super::GpuEncoder::release`]).
    pub(crate) fn destroy(&self) {
        match self {
            Weight::F32(buffer) | Weight::F16(buffer) => buffer.destroy(),
            Weight::Int8 { values, scales } => {
                values.destroy();
                scales.destroy();
            }
        }
    }
}

/// `matmul.wgsl` with its weight read in `format`: the declarations between `// WEIGHTS` and
/// `// END WEIGHTS` replaced (the comment lines there kept).
fn matmul_source(format: WeightFormat) -> String {
    let source = include_str!("matmul.wgsl");
    let weights = match format {
        WeightFormat::F32 => return source.to_string(),
        WeightFormat::F16 => "@group(0) @binding(1) var<storage, read> w: array<u32>;\n\
             fn weight(index: u32) -> f32 { return unpack2x16float(w[index / 2u])[index % 2u]; }\n"
            .to_string(),
        WeightFormat::Int8 => format!(
            "@group(0) @binding(1) var<storage, read> w: array<u32>;\n\
             @group(0) @binding(5) var<storage, read> scales: array<f32>;\n\
             fn weight(index: u32) -> f32 {{\n\
                 let q = extractBits(bitcast<i32>(w[index / 4u]), (index % 4u) * 8u, 8u);\n\
                 return f32(q) * scales[index / {INT8_BLOCK}u];\n\
             }}\n"
        ),
    };
    let start = source
        .find("// WEIGHTS")
        .expect("matmul.wgsl marks its weights");
    let end = source
        .find("// END WEIGHTS")
        .expect("matmul.wgsl marks its weights' end");
    let comments: String = source[start..end]
        .lines()
        .filter(|line| line.starts_with("//"))
        .map(|line| format!("{line}\n"))
        .collect();
    format!("{}{comments}{weights}{}", &source[..start], &source[end..])
}

/// The pipelines, built once per model.
#[derive(Debug)]
pub(crate) struct Kernels {
    /// One matmul per weight format the model's upload used (indexed by [`WeightFormat`]);
    /// each is compiled only where needed, which a software adapter takes long over.
    matmul: [Option<wgpu::ComputePipeline>; 3],
    attention: wgpu::ComputePipeline,
    add_norm: wgpu::ComputePipeline,
    gather: wgpu::ComputePipeline,
    /// Bound where a row-wise step has no use for a binding (WebGPU wants every binding set).
    unused: wgpu::Buffer,
}

/// A buffer binding: read-only storage, writable storage, or a uniform.
#[derive(Clone, Copy)]
enum Slot {
    Read,
    Write,
    Uniform,
}

fn pipeline(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    entry: &str,
    slots: &[Slot],
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    let entries: Vec<wgpu::BindGroupLayoutEntry> = slots
        .iter()
        .enumerate()
        .map(|(i, slot)| wgpu::BindGroupLayoutEntry {
            binding: i as u32,
            visibility: wgpu::ShaderStages::COMPUTE,
            ty: wgpu::BindingType::Buffer {
                ty: match slot {
                    Slot::Read => wgpu::BufferBindingType::Storage { read_only: true },
                    Slot::Write => wgpu::BufferBindingType::Storage { read_only: false },
                    Slot::Uniform => wgpu::BufferBindingType::Uniform,
                },
                has_dynamic_offset: false,
                min_binding_size: None,
            },
            count: None,
        })
        .collect();
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some(label),
        entries: &entries,
    });
    let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
        label: Some(label),
        bind_group_layouts: &[Some(&layout)],
        immediate_size: 0,
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: Some(&pipeline_layout),
        module: &module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

/// Workgroups for `n` jobs as (x, y): x at most the per-dimension limit; a shader finds its job
/// as `x + y * groups_x` and skips the few past `n`.
fn grid(n: u32) -> (u32, u32) {
    let x = n.clamp(1, MAX_GROUPS_PER_DIMENSION);
    (x, n.div_ceil(x).max(1))
}

/// The dispatches of one pass, recorded in order; their bind groups and parameters are kept
/// until the pass is submitted.
pub(crate) struct Recorder<'a> {
    gpu: &'a Gpu,
    kernels: &'a Kernels,
    steps: Vec<(&'a wgpu::ComputePipeline, wgpu::BindGroup, (u32, u32))>,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(gpu: &'a Gpu, kernels: &'a Kernels) -> Self {
        Self {
            gpu,
            kernels,
            steps: Vec::new(),
        }
    }

    fn params(&self, words: [u32; 8]) -> wgpu::Buffer {
        self.gpu.buffer_with(
            "params",
            bytemuck::cast_slice(&words),
            wgpu::BufferUsages::UNIFORM,
        )
    }

    fn push(
        &mut self,
        pipeline: &'a wgpu::ComputePipeline,
        buffers: &[&wgpu::Buffer],
        groups: (u32, u32),
    ) {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(i, buffer)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        let group = self
            .gpu
            .device
            .create_bind_group(&wgpu::BindGroupDescriptor {
                label: None,
                layout: &pipeline.get_bind_group_layout(0),
                entries: &entries,
            });
        self.steps.push((pipeline, group, groups));
    }

    /// `y[m, n] = epilogue(x[m, k] . w[n, k]^T + bias)`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn matmul(
        &mut self,
        x: &wgpu::Buffer,
        w: &Weight,
        bias: &wgpu::Buffer,
        y: &wgpu::Buffer,
        (m, n, k): (usize, usize, usize),
        epilogue: Epilogue,
    ) {
        let params = self.params([m as u32, n as u32, k as u32, epilogue as u32, 0, 0, 0, 0]);
        let groups = (
            (n as u32).div_ceil(MATMUL_TILE),
            (m as u32).div_ceil(MATMUL_TILE),
        );
        let kernels = self.kernels;
        match w {
            Weight::F32(values) => self.push(
                kernels.matmul(WeightFormat::F32),
                &[x, values, bias, y, &params],
                groups,
            ),
            Weight::F16(values) => self.push(
                kernels.matmul(WeightFormat::F16),
                &[x, values, bias, y, &params],
                groups,
            ),
            Weight::Int8 { values, scales } => self.push(
                kernels.matmul(WeightFormat::Int8),
                &[x, values, bias, y, &params, scales],
                groups,
            ),
        }
    }

    /// Attention for `queries` (`[token, start, len, out_row]` each) over `qkv`, into `out`.
    pub(crate) fn attention(
        &mut self,
        qkv: &wgpu::Buffer,
        queries: &wgpu::Buffer,
        out: &wgpu::Buffer,
        (query_count, heads, hidden): (usize, usize, usize),
    ) {
        let head_dim = hidden / heads;
        let jobs = (query_count * heads) as u32;
        let (gx, gy) = grid(jobs);
        let scale = (1.0 / (head_dim as f32).sqrt()).to_bits();
        let params = self.params([
            heads as u32,
            head_dim as u32,
            hidden as u32,
            jobs,
            gx,
            scale,
            0,
            0,
        ]);
        self.push(
            &self.kernels.attention,
            &[qkv, queries, out, &params],
            (gx, gy),
        );
    }

    fn rows(
        &mut self,
        pipeline: &'a wgpu::ComputePipeline,
        buffers: [Option<&wgpu::Buffer>; 5],
        (rows, hidden): (usize, usize),
        eps: f32,
    ) {
        let (gx, gy) = grid(rows as u32);
        let indexed = u32::from(buffers[2].is_some());
        let params = self.params([
            rows as u32,
            hidden as u32,
            gx,
            eps.to_bits(),
            indexed,
            0,
            0,
            0,
        ]);
        let unused = &self.kernels.unused;
        let [x, other, index, gamma, beta] = buffers.map(|b| b.unwrap_or(unused));
        self.push(pipeline, &[x, other, index, gamma, beta, &params], (gx, gy));
    }

    /// `x[r] = LayerNorm(x[r] + table[positions[r]])`.
    pub(crate) fn embed(
        &mut self,
        x: &wgpu::Buffer,
        table: &wgpu::Buffer,
        positions: &wgpu::Buffer,
        norm: (&wgpu::Buffer, &wgpu::Buffer, f32),
        shape: (usize, usize),
    ) {
        let pipeline = &self.kernels.add_norm;
        self.rows(
            pipeline,
            [
                Some(x),
                Some(table),
                Some(positions),
                Some(norm.0),
                Some(norm.1),
            ],
            shape,
            norm.2,
        );
    }

    /// `x[r] = LayerNorm(x[r] + residual[r])`.
    pub(crate) fn add_norm(
        &mut self,
        x: &wgpu::Buffer,
        residual: &wgpu::Buffer,
        norm: (&wgpu::Buffer, &wgpu::Buffer, f32),
        shape: (usize, usize),
    ) {
        let pipeline = &self.kernels.add_norm;
        self.rows(
            pipeline,
            [Some(x), Some(residual), None, Some(norm.0), Some(norm.1)],
            shape,
            norm.2,
        );
    }

    /// `x[r] = source[index[r]]`.
    pub(crate) fn gather(
        &mut self,
        x: &wgpu::Buffer,
        source: &wgpu::Buffer,
        index: &wgpu::Buffer,
        shape: (usize, usize),
    ) {
        let pipeline = &self.kernels.gather;
        self.rows(
            pipeline,
            [Some(x), Some(source), Some(index), None, None],
            shape,
            0.0,
        );
    }

    /// The recorded dispatches, in one compute pass of `encoder` (wgpu orders the dispatches
    /// that share a buffer).
    pub(crate) fn record(self, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("forward"),
            timestamp_writes: None,
        });
        for (pipeline, group, (x, y)) in &self.steps {
            pass.set_pipeline(pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(*x, *y, 1);
        }
    }
}

impl Kernels {
    /// The matmul for weights in `format`.
    fn matmul(&self, format: WeightFormat) -> &wgpu::ComputePipeline {
        self.matmul[format as usize]
            .as_ref()
            .expect("the encoder builds a matmul for every weight format it uploads")
    }

    /// The pipelines, with a matmul for each of `formats` (those of the weights uploaded).
    pub(crate) fn new(device: &wgpu::Device, formats: &[WeightFormat]) -> Self {
        use Slot::{Read, Uniform, Write};
        let rows = include_str!("rows.wgsl");
        let row_slots = [Write, Read, Read, Read, Read, Uniform];
        // x, the weight, bias, y, the parameters; and the int8 form's scales.
        let matmul = |format| {
            let slots: &[Slot] = match format {
                WeightFormat::Int8 => &[Read, Read, Read, Write, Uniform, Read],
                _ => &[Read, Read, Read, Write, Uniform],
            };
            pipeline(device, "matmul", &matmul_source(format), "main", slots)
        };
        Self {
            matmul: [WeightFormat::F32, WeightFormat::F16, WeightFormat::Int8]
                .map(|format| formats.contains(&format).then(|| matmul(format))),
            attention: pipeline(
                device,
                "attention",
                include_str!("attention.wgsl"),
                "main",
                &[Read, Read, Write, Uniform],
            ),
            add_norm: pipeline(device, "add_norm", rows, "add_norm", &row_slots),
            gather: pipeline(device, "gather", rows, "gather", &row_slots),
            unused: device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("unused"),
                size: 16,
                usage: wgpu::BufferUsages::STORAGE,
                mapped_at_creation: false,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each form declares one `weight` reader in place of the f32 one, between the markers,
    /// whose comments stay; the int8 form's scales are per [`INT8_BLOCK`]. (The GPU tests
    /// compile and run every form.)
    #[test]
    fn matmul_source_replaces_only_the_weight_declarations() {
        for format in [WeightFormat::F32, WeightFormat::F16, WeightFormat::Int8] {
            let source = matmul_source(format);
            assert_eq!(source.matches("fn weight(").count(), 1, "{format:?}");
            assert_eq!(
                source.matches("var<storage, read> w:").count(),
                1,
                "{format:?}"
            );
            assert!(
                source.contains("// WEIGHTS: the weight's storage"),
                "{format:?}"
            );
            assert!(source.contains("// END WEIGHTS"), "{format:?}");
        }
        assert!(matmul_source(WeightFormat::F16).contains("unpack2x16float"));
        let int8 = matmul_source(WeightFormat::Int8);
        assert!(int8.contains(&format!("scales[index / {INT8_BLOCK}u]")));
    }
}
