//! XLM-R's encoder and head on a GPU, the same computation as `crate::model` (packed texts,
//! fused QKV, attention per text, only `<s>` in the last layer), in f32. The word-embedding
//! table stays on the CPU: the rows a batch uses are gathered there and sent up.

use std::sync::Arc;

use candle_core::Tensor;

use super::kernels::{Epilogue, Kernels, Recorder, Weight, WeightFormat, INT8_BLOCK, MAX_KEYS};
use super::Gpu;
use crate::config::{Activation, Config};
use crate::device::GpuWeights;
use crate::error::{Error, Result};
use crate::kernels::Span;
use crate::layers::values;
use crate::weights::{Scope, Stored, TensorStore};

/// A dense layer's weight (`[out, in]`, as stored) and bias on the GPU.
#[derive(Debug)]
struct Dense {
    weight: Weight,
    bias: wgpu::Buffer,
    in_dim: usize,
    out_dim: usize,
}

/// LayerNorm's scale and shift on the GPU.
#[derive(Debug)]
struct Norm {
    gamma: wgpu::Buffer,
    beta: wgpu::Buffer,
    eps: f32,
}

impl Dense {
    /// `y[rows, out] = epilogue(x[rows, in] . weight^T + bias)`, recorded into `pass`.
    fn record(
        &self,
        pass: &mut Recorder<'_>,
        x: &wgpu::Buffer,
        y: &wgpu::Buffer,
        rows: usize,
        epilogue: Epilogue,
    ) {
        let shape = (rows, self.out_dim, self.in_dim);
        pass.matmul(x, &self.weight, &self.bias, y, shape, epilogue);
    }
}

impl Norm {
    fn parts(&self) -> (&wgpu::Buffer, &wgpu::Buffer, f32) {
        (&self.gamma, &self.beta, self.eps)
    }
}

#[derive(Debug)]
struct Layer {
    qkv: Dense,
    attention_output: Dense,
    attention_norm: Norm,
    intermediate: Dense,
    output: Dense,
    output_norm: Norm,
}

/// A model's weights on a GPU (all but the word embeddings), and its pipelines.
#[derive(Debug)]
pub(crate) struct GpuEncoder {
    gpu: Arc<Gpu>,
    kernels: Kernels,
    uploaded: GpuWeights,
    /// Position rows with token type 0 added (`[positions, hidden]`), as the CPU model keeps.
    position_table: wgpu::Buffer,
    embedding_norm: Norm,
    layers: Vec<Layer>,
    head_dense: Dense,
    head_out: Dense,
    hidden: usize,
    heads: usize,
    intermediate: usize,
    activation: Activation,
}

impl GpuEncoder {
    /// The model's weights from `weights` (left there for the CPU model), the dense layers'
    /// in the bundle's precision (see [`HostWeight`]), the rest as f32. Refused, with the reason, where the GPU's limits
    /// cannot hold the model's shapes.
    pub(crate) fn new(cfg: &Config, weights: &TensorStore, gpu: Arc<Gpu>) -> Result<Self> {
        if cfg.max_input_tokens() > MAX_KEYS {
            return Err(Error::GpuUnavailable(format!(
                "the GPU path takes texts of up to {MAX_KEYS} tokens; this model takes {}",
                cfg.max_input_tokens()
            )));
        }
        let h = cfg.hidden_size;
        let widest = (4 * cfg.intermediate_size.max(3 * h)) as u64;
        if gpu.max_binding() < widest * 64 {
            return Err(Error::GpuUnavailable(format!(
                "the GPU binds at most {} bytes, too few for 64 tokens of this model",
                gpu.max_binding()
            )));
        }
        let upload = Upload {
            gpu: &gpu,
            bytes: Default::default(),
            formats: Default::default(),
        };
        let roberta = weights.pp("roberta");
        let embeddings = roberta.pp("embeddings");
        let position = embeddings
            .pp("position_embeddings")
            .read("weight", &[cfg.max_position_embeddings, h])?;
        let token_type = embeddings
            .pp("token_type_embeddings")
            .read("weight", &[cfg.type_vocab_size, h])?;
        let position_table = upload.tensor(
            "position table",
            position.broadcast_add(&token_type.narrow(0, 0, 1)?)?,
        )?;
        let embedding_norm = upload.norm(&embeddings.pp("LayerNorm"), h, cfg.layer_norm_eps)?;
        let mut layers = Vec::with_capacity(cfg.num_hidden_layers);
        for i in 0..cfg.num_hidden_layers {
            let scope = roberta.pp("encoder").pp("layer").pp(i);
            let attention = scope.pp("attention");
            let own = attention.pp("self");
            let mut qkv_weight = Vec::with_capacity(3);
            let mut qkv_bias = Vec::with_capacity(3 * h);
            for name in ["query", "key", "value"] {
                qkv_weight.push(HostWeight::read(&own.pp(name), &[h, h])?);
                qkv_bias.extend(values(own.pp(name).read("bias", &[h])?)?);
            }
            layers.push(Layer {
                qkv: Dense {
                    weight: upload.weight("qkv", HostWeight::concat(qkv_weight)),
                    bias: upload.floats("qkv bias", &qkv_bias),
                    in_dim: h,
                    out_dim: 3 * h,
                },
                attention_output: upload.dense(&attention.pp("output").pp("dense"), h, h)?,
                attention_norm: upload.norm(
                    &attention.pp("output").pp("LayerNorm"),
                    h,
                    cfg.layer_norm_eps,
                )?,
                intermediate: upload.dense(
                    &scope.pp("intermediate").pp("dense"),
                    h,
                    cfg.intermediate_size,
                )?,
                output: upload.dense(&scope.pp("output").pp("dense"), cfg.intermediate_size, h)?,
                output_norm: upload.norm(
                    &scope.pp("output").pp("LayerNorm"),
                    h,
                    cfg.layer_norm_eps,
                )?,
            });
        }
        let classifier = weights.pp("classifier");
        let head_dense = upload.dense(&classifier.pp("dense"), h, h)?;
        let head_out = upload.dense(&classifier.pp("out_proj"), h, cfg.labels.len())?;
        let uploaded = upload.weights();
        let formats: Vec<WeightFormat> = upload.formats.borrow().iter().copied().collect();
        let kernels = Kernels::new(&gpu.device, &formats);
        gpu.wait()?;
        if let Some(fault) = gpu.fault() {
            return Err(Error::GpuUnavailable(fault));
        }
        Ok(Self {
            gpu,
            kernels,
            uploaded,
            position_table,
            embedding_norm,
            layers,
            head_dense,
            head_out,
            hidden: h,
            heads: cfg.num_attention_heads,
            intermediate: cfg.intermediate_size,
            activation: cfg.activation,
        })
    }

    /// How the model's weights sit on the GPU.
    pub(crate) fn weights(&self) -> &GpuWeights {
        &self.uploaded
    }

    /// The GPU this encoder runs on.
    pub(crate) fn gpu(&self) -> &Gpu {
        &self.gpu
    }

    /// Frees the weights' GPU memory now, rather than when the classifier goes: after a
    /// failure no batch uses them again. (The device may be shared with other classifiers, so
    /// it stays.)
    pub(crate) fn release(&self) {
        let dense = |d: &Dense| {
            d.weight.destroy();
            d.bias.destroy();
        };
        let norm = |n: &Norm| {
            n.gamma.destroy();
            n.beta.destroy();
        };
        self.position_table.destroy();
        norm(&self.embedding_norm);
        for layer in &self.layers {
            [
                &layer.qkv,
                &layer.attention_output,
                &layer.intermediate,
                &layer.output,
            ]
            .into_iter()
            .for_each(dense);
            norm(&layer.attention_norm);
            norm(&layer.output_norm);
        }
        dense(&self.head_dense);
        dense(&self.head_out);
    }

    /// The most tokens one pass takes: the feed-forward's (or QKV's) activations must fit one
    /// binding.
    pub(crate) fn max_tokens(&self) -> usize {
        let widest = 4 * self.intermediate.max(3 * self.hidden) as u64;
        (self.gpu.max_binding() / widest) as usize
    }

    /// Logits (`[texts, labels]`, flat) for packed texts: `word_rows` is `[tokens, hidden]`,
    /// `positions` one position id per token, `spans` where each text sits.
    pub(crate) async fn forward(
        &self,
        word_rows: &[f32],
        positions: &[u32],
        spans: &[Span],
    ) -> Result<Vec<f32>> {
        let device = &self.gpu.device;
        let (h, tokens, texts) = (self.hidden, positions.len(), spans.len());
        let storage = wgpu::BufferUsages::STORAGE;
        let scratch = |label: &str, floats: usize| {
            device.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: (floats.max(4) * 4) as u64,
                usage: storage | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            })
        };
        if let Some(fault) = self.gpu.fault() {
            return Err(Error::Gpu(fault));
        }
        // This pass's errors come back through error scopes: in a browser an uncaptured error
        // is an event with no order against the read-back, so the fault handler could hear of
        // it only after the logits were taken. Scopes nest, so they are popped in reverse.
        let [validation, memory, internal] = [
            wgpu::ErrorFilter::Validation,
            wgpu::ErrorFilter::OutOfMemory,
            wgpu::ErrorFilter::Internal,
        ]
        .map(|filter| device.push_error_scope(filter));
        let init = |label: &str, bytes: &[u8]| self.gpu.buffer_with(label, bytes, storage);
        let mut x = init("hidden", bytemuck::cast_slice(word_rows));
        let position_ids = init("position ids", bytemuck::cast_slice(positions));
        // Every token's query over its text's keys; in the last layer, `<s>`'s only.
        let all_queries: Vec<[u32; 4]> = spans
            .iter()
            .flat_map(|s| {
                (s.start..s.start + s.len)
                    .map(|t| [t as u32, s.start as u32, s.len as u32, t as u32])
            })
            .collect();
        let first_queries: Vec<[u32; 4]> = spans
            .iter()
            .enumerate()
            .map(|(i, s)| [s.start as u32, s.start as u32, s.len as u32, i as u32])
            .collect();
        let firsts: Vec<u32> = spans.iter().map(|s| s.start as u32).collect();
        let all_queries = init("queries", bytemuck::cast_slice(&all_queries));
        let first_queries = init("first queries", bytemuck::cast_slice(&first_queries));
        let firsts = init("first tokens", bytemuck::cast_slice(&firsts));

        let mut pass = Recorder::new(&self.gpu, &self.kernels);
        pass.embed(
            &x,
            &self.position_table,
            &position_ids,
            self.embedding_norm.parts(),
            (tokens, h),
        );
        let mut buffers = Vec::new();
        let last = self.layers.len().saturating_sub(1);
        for (i, layer) in self.layers.iter().enumerate() {
            let only_first = i == last;
            let rows = if only_first { texts } else { tokens };
            let qkv = scratch("qkv", tokens * 3 * h);
            layer
                .qkv
                .record(&mut pass, &x, &qkv, tokens, Epilogue::None);
            let context = scratch("context", rows * h);
            let queries = if only_first {
                &first_queries
            } else {
                &all_queries
            };
            pass.attention(&qkv, queries, &context, (rows, self.heads, h));
            let residual = if only_first {
                let picked = scratch("first rows", texts * h);
                pass.gather(&picked, &x, &firsts, (texts, h));
                picked
            } else {
                x
            };
            let attended = scratch("attended", rows * h);
            layer
                .attention_output
                .record(&mut pass, &context, &attended, rows, Epilogue::None);
            pass.add_norm(
                &attended,
                &residual,
                layer.attention_norm.parts(),
                (rows, h),
            );
            let inner = scratch("inner", rows * self.intermediate);
            layer
                .intermediate
                .record(&mut pass, &attended, &inner, rows, self.activation.into());
            let out = scratch("output", rows * h);
            layer
                .output
                .record(&mut pass, &inner, &out, rows, Epilogue::None);
            pass.add_norm(&out, &attended, layer.output_norm.parts(), (rows, h));
            buffers.extend([qkv, context, residual, attended, inner]);
            x = out;
        }
        let pooled = scratch("pooled", texts * h);
        self.head_dense
            .record(&mut pass, &x, &pooled, texts, Epilogue::Tanh);
        let labels = self.head_out.out_dim;
        let logits = scratch("logits", texts * labels);
        self.head_out
            .record(&mut pass, &pooled, &logits, texts, Epilogue::None);

        let bytes = (texts * labels * 4) as u64;
        let readback = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("logits read-back"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
            label: Some("forward"),
        });
        pass.record(&mut encoder);
        encoder.copy_buffer_to_buffer(&logits, 0, &readback, 0, bytes);
        self.gpu.queue.submit([encoder.finish()]);
        let scope_errors = [internal.pop(), memory.pop(), validation.pop()];
        let (sender, receiver) = futures_channel::oneshot::channel();
        readback.map_async(wgpu::MapMode::Read, .., move |result| {
            let _ = sender.send(result);
        });
        self.gpu.wait()?;
        let mapped = receiver
            .await
            .map_err(|_| Error::Gpu("the GPU dropped the read-back".into()))?;
        for error in scope_errors {
            if let Some(error) = error.await {
                return Err(Error::Gpu(format!("the pass failed on the GPU: {error}")));
            }
        }
        if let Some(fault) = self.gpu.fault() {
            return Err(Error::Gpu(fault));
        }
        mapped.map_err(|e| Error::Gpu(format!("reading the logits back: {e}")))?;
        let view = readback
            .get_mapped_range(..)
            .map_err(|e| Error::Gpu(format!("reading the logits back: {e}")))?;
        let logits: Vec<f32> = bytemuck::cast_slice(&view).to_vec();
        drop(view);
        readback.unmap();
        drop(buffers);
        Ok(logits)
    }
}

/// Tensors into GPU buffers.
struct Upload<'a> {
    gpu: &'a Gpu,
    /// The bytes uploaded so far.
    bytes: std::cell::Cell<u64>,
    /// The dense layers' weight formats seen.
    formats: std::cell::RefCell<std::collections::BTreeSet<WeightFormat>>,
}

impl Upload<'_> {
    fn floats(&self, label: &str, values: &[f32]) -> wgpu::Buffer {
        self.bytes(label, bytemuck::cast_slice(values))
    }

    fn bytes(&self, label: &str, bytes: &[u8]) -> wgpu::Buffer {
        self.bytes.set(self.bytes.get() + bytes.len() as u64);
        self.gpu
            .buffer_with(label, bytes, wgpu::BufferUsages::STORAGE)
    }

    /// What was uploaded: the dense layers' format (`mixed` where they differ) and the bytes.
    fn weights(&self) -> GpuWeights {
        let formats = self.formats.borrow();
        GpuWeights {
            format: match formats.first() {
                Some(format) if formats.len() == 1 => format.name().into(),
                _ => "mixed".into(),
            },
            bytes: self.bytes.get(),
        }
    }

    fn tensor(&self, label: &str, tensor: Tensor) -> Result<wgpu::Buffer> {
        Ok(self.floats(label, &values(tensor)?))
    }

    /// A dense layer's weight, in its [`HostWeight`] form.
    fn weight(&self, label: &str, host: HostWeight) -> Weight {
        let mut formats = self.formats.borrow_mut();
        match host {
            HostWeight::F32(values) => {
                formats.insert(WeightFormat::F32);
                Weight::F32(self.floats(label, &values))
            }
            HostWeight::F16(bits) => {
                formats.insert(WeightFormat::F16);
                Weight::F16(self.bytes(label, bytemuck::cast_slice(&bits)))
            }
            HostWeight::Quantized(values) => {
                formats.insert(WeightFormat::Int8);
                let (quantized, scales) = int8_blocks(&values);
                Weight::Int8 {
                    values: self.bytes(label, bytemuck::cast_slice(&quantized)),
                    scales: self.floats(label, &scales),
                }
            }
        }
    }

    fn dense(&self, scope: &Scope, in_dim: usize, out_dim: usize) -> Result<Dense> {
        Ok(Dense {
            weight: self.weight("weight", HostWeight::read(scope, &[out_dim, in_dim])?),
            bias: self.tensor("bias", scope.read("bias", &[out_dim])?)?,
            in_dim,
            out_dim,
        })
    }

    fn norm(&self, scope: &Scope, dim: usize, eps: f64) -> Result<Norm> {
        Ok(Norm {
            gamma: self.tensor("gamma", scope.read("weight", &[dim])?)?,
            beta: self.tensor("beta", scope.read("bias", &[dim])?)?,
            eps: eps as f32,
        })
    }
}

/// A dense layer's weight read for the GPU, in the form it is uploaded in: the bundle's
/// precision where the shader can read it, so the GPU holds what the file holds.
#[derive(Debug)]
enum HostWeight {
    /// A folder's weights, or an f32 bundle's.
    F32(Vec<f32>),
    /// An f16 bundle's values (each exactly an f16), as f16 bits.
    F16(Vec<u16>),
    /// A quantized bundle's values (Q8_0, Q4), expanded: uploaded as int8 blocks of
    /// [`INT8_BLOCK`] with a scale each, which hold Q8_0's values exactly and Q4's within half
    /// an int8 step.
    Quantized(Vec<f32>),
}

impl HostWeight {
    /// `scope.weight`, of `shape`. A bundle's f16 matrices reach the store expanded to f32, so
    /// a matrix whose every value is an f16 goes up as f16: no value changes.
    fn read(scope: &Scope, shape: &[usize]) -> Result<Self> {
        match scope.read_stored("weight", shape)? {
            Stored::Dense(tensor) => {
                let values = values(tensor)?;
                let halves: Vec<u16> = values
                    .iter()
                    .map(|&v| half::f16::from_f32(v))
                    .zip(&values)
                    .map_while(|(h, &v)| (h.to_f32() == v).then_some(h.to_bits()))
                    .collect();
                Ok(if halves.len() == values.len() {
                    Self::F16(halves)
                } else {
                    Self::F32(values)
                })
            }
            Stored::Quantized(_) | Stored::InPlace(_) => {
                Ok(Self::Quantized(values(scope.read("weight", shape)?)?))
            }
        }
    }

    /// Matrices stacked row-wise (the fused QKV): in their common form, else as f32.
    fn concat(parts: Vec<Self>) -> Self {
        if parts.iter().all(|p| matches!(p, Self::F16(_))) {
            let mut bits = Vec::new();
            for part in parts {
                if let Self::F16(part) = part {
                    bits.extend(part);
                }
            }
            return Self::F16(bits);
        }
        let quantized = parts.iter().all(|p| matches!(p, Self::Quantized(_)));
        let values: Vec<f32> = parts.into_iter().flat_map(Self::into_f32).collect();
        if quantized {
            Self::Quantized(values)
        } else {
            Self::F32(values)
        }
    }

    fn into_f32(self) -> Vec<f32> {
        match self {
            Self::F32(values) | Self::Quantized(values) => values,
            Self::F16(bits) => bits
                .into_iter()
                .map(|b| half::f16::from_bits(b).to_f32())
                .collect(),
        }
    }
}

/// `values` as int8, in blocks of [`INT8_BLOCK`] in row-major order, each with the scale that
/// maps its largest magnitude to 127 (as ggml's Q8_0 does).
fn int8_blocks(values: &[f32]) -> (Vec<i8>, Vec<f32>) {
    let mut quantized = Vec::with_capacity(values.len());
    let mut scales = Vec::with_capacity(values.len().div_ceil(INT8_BLOCK));
    for block in values.chunks(INT8_BLOCK) {
        let largest = block.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = largest / 127.0;
        let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
        quantized.extend(
            block
                .iter()
                .map(|v| (v * inverse).round().clamp(-127.0, 127.0) as i8),
        );
        scales.push(scale);
    }
    (quantized, scales)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int8_blocks_hold_q8_0_values_exactly() {
        // Values a Q8_0 block holds: a scale times integers whose largest magnitude is 127.
        let scale = 0.013_f32;
        let level = |i: usize| {
            if i.is_multiple_of(INT8_BLOCK) {
                -127.0
            } else {
                (i * 37 % 255) as f32 - 127.0
            }
        };
        let values: Vec<f32> = (0..70).map(|i| scale * level(i)).collect();
        let (quantized, scales) = int8_blocks(&values);
        assert_eq!(scales.len(), 3);
        for (i, v) in values.iter().enumerate() {
            let back = f32::from(quantized[i]) * scales[i / INT8_BLOCK];
            assert!(
                (back - v).abs() <= 1e-6 * v.abs().max(1.0),
                "{i}: {back} vs {v}"
            );
        }
    }

    #[test]
    fn an_all_zero_block_stays_zero() {
        let (quantized, scales) = int8_blocks(&[0.0; 40]);
        assert!(quantized.iter().all(|&q| q == 0));
        assert_eq!(scales, vec![0.0, 0.0]);
    }
}
