//! `XLMRobertaForSequenceClassification`, after Hugging Face's
//! `transformers/models/xlm_roberta/modeling_xlm_roberta.py`, in the shape of candle's
//! `candle-transformers/src/models/*.rs` (`new(cfg, weights)`, `forward`), on the kernels of
//! [`crate::kernels`].
//!
//! Our own rather than candle-transformers' `xlm_roberta` for typed errors on every missing or
//! mis-shaped tensor, configs without `position_embedding_type` (transformers 5), and speed:
//! - the texts of a batch are packed one after another (`[tokens, hidden]`), never padded:
//!   every dense layer runs on real tokens only and attention runs per text;
//! - Q, K and V are one fused matrix product;
//! - the last layer computes attention, feed-forward and norms for `<s>` only, the one token
//!   the classification head reads;
//! - quantized matrices of a bundle (Q8_0, 4-bit) run as int8 products.

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::config::{Activation, Config};
use crate::error::{Error, Result};
use crate::kernels::{self, Linear, Span};
use crate::layers::WordEmbedding;
use crate::weights::{Scope, Stored, TensorStore};

fn values(tensor: Tensor) -> Result<Vec<f32>> {
    Ok(tensor.flatten_all()?.to_vec1::<f32>()?)
}

/// Whether a stored matrix runs as int8: the integer block types of a bundle do; f32 and the
/// f16 of an `f16` bundle run in f32.
fn runs_as_int8(stored: &Stored) -> bool {
    match stored {
        Stored::Dense(_) => false,
        Stored::Quantized(q) => is_integer_blocks(q.dtype()),
        Stored::InPlace(m) => is_integer_blocks(m.dtype),
    }
}

/// Whether a ggml type is integer blocks (Q8_0, Q4_K, ...), not f32 or a half float.
fn is_integer_blocks(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// One dense layer from its stored weight matrices (stacked top to bottom: a fused projection
/// passes several) and their biases.
fn linear_of(weights: Vec<Stored>, biases: Vec<Tensor>, in_dim: usize) -> Result<Linear> {
    let mut bias = Vec::new();
    for b in biases {
        bias.extend(values(b)?);
    }
    let int8 = weights.iter().any(runs_as_int8);
    let all_q8_0 = weights
        .iter()
        .all(|stored| matches!(stored, Stored::Quantized(q) if q.dtype() == GgmlDType::Q8_0));
    if int8 && all_q8_0 && in_dim > 0 && in_dim.is_multiple_of(Q8_0_BLOCK_VALUES) {
        return linear_from_q8_0(weights, bias, in_dim);
    }
    if int8 && in_dim > 0 && weights.iter().all(|w| matches!(w, Stored::Quantized(_))) {
        return linear_from_blocks(weights, bias, in_dim);
    }
    let mut weight = Vec::new();
    for stored in weights {
        // Taken out of the store, so each matrix's f32 copy lives only until it is packed.
        weight.extend(values(stored.to_dense()?)?);
    }
    let out_dim = bias.len();
    if int8 {
        Linear::int8(&weight, bias, in_dim, out_dim)
    } else {
        Linear::f32(&weight, bias, in_dim, out_dim)
    }
}

/// Rows expanded at a time by [`linear_from_blocks`].
const ROWS_PER_EXPANSION: usize = 64;

/// [`linear_of`] for other block types (a q4 bundle's Q4_K or Q4_0): the matrix is expanded to
/// f32 [`ROWS_PER_EXPANSION`] rows at a time and each row quantized as it comes, with candle's
/// own dequantization (the codes equal those of expanding the whole matrix first), so a load
/// never holds a whole layer in f32 (9.4 MB, and as much again for its copy, for the largest).
fn linear_from_blocks(weights: Vec<Stored>, bias: Vec<f32>, in_dim: usize) -> Result<Linear> {
    let mut rows = kernels::Int8Rows::new(in_dim, bias.len());
    for stored in weights {
        let Stored::Quantized(q) = stored else {
            unreachable!("linear_of checked that every matrix is quantized")
        };
        for part in &q.parts {
            let bytes = part.data()?;
            let part_rows = part.shape().dims()[0];
            let row_bytes = bytes.len() / part_rows.max(1);
            for first in (0..part_rows).step_by(ROWS_PER_EXPANSION) {
                let n = (part_rows - first).min(ROWS_PER_EXPANSION);
                let blocks = &bytes[first * row_bytes..(first + n) * row_bytes];
                let chunk = qtensor_from_ggml(part.dtype(), blocks, vec![n, in_dim], &Device::Cpu)?
                    .dequantize(&Device::Cpu)?;
                for row in values(chunk)?.chunks_exact(in_dim) {
                    rows.push(row);
                }
            }
        }
    }
    Linear::int8_from_rows(rows, bias)
}

/// Values per Q8_0 block, and its bytes: an f16 scale, then 32 i8 values (ggml's `block_q8_0`).
const Q8_0_BLOCK_VALUES: usize = 32;
const Q8_0_BLOCK_BYTES: usize = 34;

/// [`linear_of`] for Q8_0 matrices (a q8_0 bundle): each row is decoded from its blocks into one
/// f32 row and quantized at once, the arithmetic of candle's `BlockQ8_0::to_float` (`q as f32 *
/// d`), so the codes equal those of dequantizing the whole matrix first, without its f32 copy
/// (2.4-9.4 MB a matrix, written and read back for every layer of a load). Rows are split over
/// rayon's threads.
fn linear_from_q8_0(weights: Vec<Stored>, bias: Vec<f32>, in_dim: usize) -> Result<Linear> {
    let row_bytes = in_dim / Q8_0_BLOCK_VALUES * Q8_0_BLOCK_BYTES;
    let mut rows = kernels::Int8Rows::new(in_dim, bias.len());
    for stored in weights {
        let Stored::Quantized(q) = stored else {
            unreachable!("linear_of checked that every matrix is Q8_0")
        };
        for part in &q.parts {
            let bytes = part.data()?;
            if bytes.len() % row_bytes != 0 {
                return Err(Error::CorruptWeights {
                    format: "gguf",
                    reason: format!(
                        "a Q8_0 matrix of {} bytes is not made of {in_dim}-value rows",
                        bytes.len()
                    ),
                });
            }
            rows.push_decoded(bytes.len() / row_bytes, |i, row| {
                let encoded = &bytes[i * row_bytes..][..row_bytes];
                for (block, values) in encoded
                    .chunks_exact(Q8_0_BLOCK_BYTES)
                    .zip(row.chunks_exact_mut(Q8_0_BLOCK_VALUES))
                {
                    let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
                    for (value, &code) in values.iter_mut().zip(&block[2..]) {
                        *value = code as i8 as f32 * d;
                    }
                }
            });
        }
    }
    Linear::int8_from_rows(rows, bias)
}

fn linear(scope: &Scope, in_dim: usize, out_dim: usize) -> Result<Linear> {
    let weight = scope.take_stored("weight", &[out_dim, in_dim])?;
    let bias = scope.take("bias", &[out_dim])?;
    linear_of(vec![weight], vec![bias], in_dim)
}

/// `torch.nn.LayerNorm` over the hidden size.
#[derive(Debug)]
struct LayerNorm {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl LayerNorm {
    fn load(scope: &Scope, dim: usize, eps: f64) -> Result<Self> {
        Ok(Self {
            weight: values(scope.take("weight", &[dim])?)?,
            bias: values(scope.take("bias", &[dim])?)?,
            eps: eps as f32,
        })
    }

    fn forward(&self, x: &mut [f32]) {
        kernels::layer_norm(x, self.weight.len(), &self.weight, &self.bias, self.eps);
    }
}

/// Word + position (+ token type 0) embeddings, then LayerNorm.
#[derive(Debug)]
struct Embeddings {
    word: WordEmbedding,
    /// Position table with token-type row 0 already added (`[positions, hidden]`): token type
    /// ids are always 0 for XLM-R (type_vocab_size 1), so the sum is the same for every token.
    position_and_type: Vec<f32>,
    /// Rows of the position table.
    positions: usize,
    layer_norm: LayerNorm,
    hidden: usize,
    pad_id: u32,
}

impl Embeddings {
    fn new(cfg: &Config, scope: Scope) -> Result<Self> {
        let h = cfg.hidden_size;
        let word = scope
            .pp("word_embeddings")
            .take_stored("weight", &[cfg.vocab_size, h])?;
        let position = scope
            .pp("position_embeddings")
            .take("weight", &[cfg.max_position_embeddings, h])?;
        let token_type = scope
            .pp("token_type_embeddings")
            .take("weight", &[cfg.type_vocab_size, h])?;
        let position_and_type = values(position.broadcast_add(&token_type.narrow(0, 0, 1)?)?)?;
        Ok(Self {
            word: WordEmbedding::new(word),
            position_and_type,
            positions: cfg.max_position_embeddings,
            layer_norm: LayerNorm::load(&scope.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            hidden: h,
            pad_id: cfg.pad_token_id,
        })
    }

    /// Packed `[tokens, hidden]` for the texts' ids, one text after another.
    ///
    /// Position ids follow `create_position_ids_from_input_ids` in modeling_xlm_roberta.py:
    /// `cumsum(ids != pad) * (ids != pad) + pad`, so real tokens count from `pad + 1` and a `<pad>`
    /// id (a literal `<pad>` in the text) sits at position `pad`.
    fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<f32>> {
        let ids: Vec<u32> = sequences.iter().flat_map(|s| s.iter().copied()).collect();
        let ids_tensor = Tensor::new(ids.as_slice(), &Device::Cpu)?;
        let mut x = values(self.word.forward(&ids_tensor, &Device::Cpu)?)?;
        let h = self.hidden;
        let mut row = 0;
        for sequence in sequences {
            let mut count = 0;
            for &id in sequence.iter() {
                let position = if id == self.pad_id {
                    self.pad_id
                } else {
                    count += 1;
                    self.pad_id + count
                } as usize;
                let table = self
                    .position_and_type
                    .get(position * h..(position + 1) * h)
                    .ok_or_else(|| {
                        Error::Inference(candle_core::Error::Msg(format!(
                            "position {position} is past the model's {} positions",
                            self.positions
                        )))
                    })?;
                for (v, p) in x[row * h..(row + 1) * h].iter_mut().zip(table) {
                    *v += p;
                }
                row += 1;
            }
        }
        self.layer_norm.forward(&mut x);
        Ok(x)
    }
}

/// One encoder layer: self-attention and feed-forward, each with a residual LayerNorm.
#[derive(Debug)]
struct Layer {
    /// Query, key and value projections stacked (`hidden -> 3 * hidden`), one product.
    qkv: Linear,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    activation: Activation,
    heads: usize,
}

impl Layer {
    fn new(cfg: &Config, scope: Scope) -> Result<Self> {
        let h = cfg.hidden_size;
        let attention = scope.pp("attention");
        let own = attention.pp("self");
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for name in ["query", "key", "value"] {
            weights.push(own.pp(name).take_stored("weight", &[h, h])?);
            biases.push(own.pp(name).take("bias", &[h])?);
        }
        Ok(Self {
            qkv: linear_of(weights, biases, h)?,
            attention_output: linear(&attention.pp("output").pp("dense"), h, h)?,
            attention_norm: LayerNorm::load(
                &attention.pp("output").pp("LayerNorm"),
                h,
                cfg.layer_norm_eps,
            )?,
            intermediate: linear(
                &scope.pp("intermediate").pp("dense"),
                h,
                cfg.intermediate_size,
            )?,
            output: linear(&scope.pp("output").pp("dense"), cfg.intermediate_size, h)?,
            output_norm: LayerNorm::load(
                &scope.pp("output").pp("LayerNorm"),
                h,
                cfg.layer_norm_eps,
            )?,
            activation: cfg.activation,
            heads: cfg.num_attention_heads,
        })
    }

    /// Runs the layer on packed `x` (`[tokens, hidden]`). With `first_token_only`, only `<s>`'s
    /// output is computed and the result is `[texts, hidden]`.
    fn forward(&self, x: Vec<f32>, spans: &[Span], first_token_only: bool) -> Result<Vec<f32>> {
        let h = self.attention_output.out_dim();
        let tokens = x.len() / h;
        let qkv = self.qkv.forward(&x, tokens)?;
        let exact = !self.qkv.is_int8();
        let context = kernels::attention(&qkv, spans, h, self.heads, first_token_only, exact)?;
        drop(qkv);
        let residual = if first_token_only {
            let mut firsts = Vec::with_capacity(spans.len() * h);
            for span in spans {
                firsts.extend_from_slice(&x[span.start * h..(span.start + 1) * h]);
            }
            firsts
        } else {
            x
        };
        let rows = residual.len() / h;
        let mut attended = self.attention_output.forward(&context, rows)?;
        for (a, r) in attended.iter_mut().zip(&residual) {
            *a += r;
        }
        self.attention_norm.forward(&mut attended);
        let inner = self
            .intermediate
            .forward_then(&attended, rows, Some(self.activation))?;
        let mut out = self.output.forward(&inner, rows)?;
        for (o, a) in out.iter_mut().zip(&attended) {
            *o += a;
        }
        self.output_norm.forward(&mut out);
        Ok(out)
    }
}

/// `XLMRobertaClassificationHead`: dense -> tanh -> out_proj on the `<s>` token.
#[derive(Debug)]
struct ClassificationHead {
    dense: Linear,
    out_proj: Linear,
}

/// XLM-RoBERTa encoder with a sequence-classification head.
#[derive(Debug)]
pub struct XlmRobertaForSequenceClassification {
    embeddings: Embeddings,
    layers: Vec<Layer>,
    head: ClassificationHead,
}

impl XlmRobertaForSequenceClassification {
    /// Builds the model from tensors named as in a Hugging Face checkpoint
    /// (`roberta.embeddings.*`, `roberta.encoder.layer.N.*`, `classifier.*`), checking every shape
    /// against `cfg`. Tensors are taken out of `weights` as they are converted.
    pub fn new(cfg: &Config, weights: &TensorStore) -> Result<Self> {
        let h = cfg.hidden_size;
        let out_proj = "classifier.out_proj.weight";
        if let Some(shape) = weights.shape_of(out_proj) {
            if shape.len() == 2 && shape[0] != cfg.labels.len() {
                return Err(Error::LabelCountMismatch {
                    labels: cfg.labels.len(),
                    head: shape[0],
                });
            }
        }
        let extra = format!("roberta.encoder.layer.{}.", cfg.num_hidden_layers);
        if weights.has_prefix(&extra) {
            return Err(Error::InvalidConfig(format!(
                "the weights have more than num_hidden_layers = {} layers",
                cfg.num_hidden_layers
            )));
        }
        let roberta = weights.pp("roberta");
        let embeddings = Embeddings::new(cfg, roberta.pp("embeddings"))?;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, roberta.pp("encoder").pp("layer").pp(i)))
            .collect::<Result<Vec<_>>>()?;
        let classifier = weights.pp("classifier");
        let head = ClassificationHead {
            dense: linear(&classifier.pp("dense"), h, h)?,
            out_proj: linear(&classifier.pp("out_proj"), h, cfg.labels.len())?,
        };
        Ok(Self {
            embeddings,
            layers,
            head,
        })
    }

    /// Logits (one row of `num_labels` per text) for token sequences, each already
    /// `<s> .. </s>` and at most the model's position limit long.
    pub fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        // The whole pass runs inside rayon's pool, so its hundreds of parallel steps are
        // forked and joined by pool threads. Called from outside the pool, each step would be
        // injected into it and the caller put to sleep until it ends: a wake-up and a sleep per
        // step, 10-20% of one 32-token text's time at one thread (perf: `__schedule`,
        // `sched_yield`), and at two threads on two cores three threads took turns on them:
        // q8_0 on Zen 5, `bench --threads 2`, one 32-token text 8.6-9.5 ms injected against
        // 5.0-6.1 ms in the pool. (On Zen 3 with an earlier kernel, injecting had measured
        // faster for batches, 33-36 texts/s against 26-28 in the pool; splitting, below, was not
        // tried there.)
        // A batch of several texts is split into one group per thread, each group's pass on its
        // own thread (the steps inside still split when a thread is idle): fewer fork-joins,
        // each at one-thread efficiency. The results do not change, as every step works per
        // token or per text (activations are quantized per row). q8_0, 2 threads, batches of 16:
        // natively on Zen 5 224-228 texts/s against 162-179 unsplit (in the pool or injected);
        // in Chromium (threaded wasm, where every wait and wake-up of the calling Web Worker is
        // an `Atomics.wait` and `notify`) 13.7-14.1 texts/s against 12.0-12.6.
        let threads = rayon::current_num_threads();
        if threads > 1 && sequences.len() > 1 {
            rayon::scope(|_| self.forward_split(sequences, threads))
        } else {
            rayon::scope(|_| self.forward_in_pool(sequences))
        }
    }

    /// A batch as up to `threads` groups of consecutive texts with about equal token counts,
    /// one pass per group side by side; the logits in input order.
    fn forward_split(&self, sequences: &[&[u32]], threads: usize) -> Result<Vec<Vec<f32>>> {
        let logits: Vec<Vec<Vec<f32>>> = split_by_tokens(sequences, threads)
            .par_iter()
            .map(|group| self.forward_in_pool(group))
            .collect::<Result<_>>()?;
        Ok(logits.into_iter().flatten().collect())
    }

    fn forward_in_pool(&self, sequences: &[&[u32]]) -> Result<Vec<Vec<f32>>> {
        if sequences.iter().any(|s| s.is_empty()) {
            return Err(Error::InvalidOption("an empty token sequence".into()));
        }
        let mut spans = Vec::with_capacity(sequences.len());
        let mut start = 0;
        for s in sequences {
            spans.push(Span {
                start,
                len: s.len(),
            });
            start += s.len();
        }
        let mut x = self.embeddings.forward(sequences)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x, &spans, i == last)?;
        }
        // x is now [texts, hidden]: the final hidden state of `<s>` for each text.
        let mut pooled = self.head.dense.forward(&x, sequences.len())?;
        for v in &mut pooled {
            *v = v.tanh();
        }
        let logits = self.head.out_proj.forward(&pooled, sequences.len())?;
        Ok(logits
            .chunks_exact(self.head.out_proj.out_dim())
            .map(<[f32]>::to_vec)
            .collect())
    }
}

/// `sequences` cut into at most `groups` runs of consecutive sequences, each ending at the first
/// sequence that brings the tokens so far to its share of the total.
fn split_by_tokens<'a>(sequences: &'a [&'a [u32]], groups: usize) -> Vec<&'a [&'a [u32]]> {
    let total: usize = sequences.iter().map(|s| s.len()).sum();
    let mut runs = Vec::with_capacity(groups);
    let (mut start, mut tokens) = (0, 0);
    for (i, s) in sequences.iter().enumerate() {
        tokens += s.len();
        if runs.len() + 1 < groups && tokens * groups >= total * (runs.len() + 1) {
            runs.push(&sequences[start..=i]);
            start = i + 1;
        }
    }
    if start < sequences.len() {
        runs.push(&sequences[start..]);
    }
    runs
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::QuantizedRows;
    use candle_core::quantized::QTensor;

    #[test]
    fn batches_split_into_runs_of_about_equal_tokens() {
        let texts: Vec<Vec<u32>> = [5, 40, 7, 7, 30, 2, 9]
            .iter()
            .map(|&n| vec![1; n])
            .collect();
        let sequences: Vec<&[u32]> = texts.iter().map(Vec::as_slice).collect();
        let lengths = |runs: &[&[&[u32]]]| -> Vec<Vec<usize>> {
            runs.iter()
                .map(|r| r.iter().map(|s| s.len()).collect())
                .collect()
        };
        assert_eq!(
            lengths(&split_by_tokens(&sequences, 2)),
            [vec![5, 40, 7], vec![7, 30, 2, 9]]
        );
        assert_eq!(
            lengths(&split_by_tokens(&sequences, 3)),
            [vec![5, 40], vec![7, 7, 30], vec![2, 9]]
        );
        assert_eq!(
            lengths(&split_by_tokens(&sequences, 1)),
            [vec![5, 40, 7, 7, 30, 2, 9]]
        );
        // More groups than texts: never an empty group.
        assert_eq!(
            lengths(&split_by_tokens(&sequences[1..3], 4)),
            [vec![40], vec![7]]
        );
        assert_eq!(lengths(&split_by_tokens(&sequences[..2], 4)), [vec![5, 40]]);
        assert!(split_by_tokens(&[], 2).is_empty());
    }

    /// The Q8_0 path quantizes each decoded row exactly as dequantizing the whole matrix and
    /// quantizing it would: the two layers give bit-identical outputs, over a fused projection
    /// of two matrices (one split into two parts, as a bundle's large tensors are).
    #[test]
    fn q8_0_rows_quantize_as_the_dequantized_matrix() -> Result<()> {
        let in_dim = 96;
        let make = |rows: usize, seed: usize| -> Result<QTensor> {
            let w: Vec<f32> = (0..rows * in_dim)
                .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 357.0)
                .collect();
            Ok(QTensor::quantize(
                &Tensor::from_vec(w, (rows, in_dim), &Device::Cpu)?,
                GgmlDType::Q8_0,
            )?)
        };
        let (top, bottom_a, bottom_b) = (make(20, 1)?, make(8, 2)?, make(12, 3)?);
        let bias: Vec<f32> = (0..40).map(|i| i as f32 / 10.0 - 2.0).collect();
        let mut dense = values(top.dequantize(&Device::Cpu)?)?;
        dense.extend(values(bottom_a.dequantize(&Device::Cpu)?)?);
        dense.extend(values(bottom_b.dequantize(&Device::Cpu)?)?);
        let reference = Linear::int8(&dense, bias.clone(), in_dim, 40)?;

        let bottom = QuantizedRows {
            parts: vec![bottom_a.into(), bottom_b.into()],
            dims: vec![20, in_dim],
        };
        let fused = linear_of(
            vec![
                Stored::Quantized(QuantizedRows::whole(top)),
                Stored::Quantized(bottom),
            ],
            vec![
                Tensor::new(&bias[..20], &Device::Cpu)?,
                Tensor::new(&bias[20..], &Device::Cpu)?,
            ],
            in_dim,
        )?;
        let x: Vec<f32> = (0..5 * in_dim)
            .map(|i| ((i * 31) % 17) as f32 / 4.0 - 2.0)
            .collect();
        let want = reference.forward(&x, 5)?;
        let got = fused.forward(&x, 5)?;
        assert_eq!(
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        Ok(())
    }
}
