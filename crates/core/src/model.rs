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

use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::config::{Activation, Config};
use crate::error::{Error, Result};
use crate::kernels::{self, Linear, Span};
use crate::layers::{linear, linear_of, values, WordEmbedding};
use crate::weights::{Scope, TensorStore};

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
    fn forward(&self, sequences: &[&[u32]]) -> Result<Vec<f32>> {
        let (mut x, positions) = self.inputs(sequences)?;
        let h = self.hidden;
        for (row, &position) in x.chunks_exact_mut(h).zip(&positions) {
            let at = position as usize * h;
            for (v, p) in row.iter_mut().zip(&self.position_and_type[at..at + h]) {
                *v += p;
            }
        }
        self.layer_norm.forward(&mut x);
        Ok(x)
    }

    /// The word rows (`[tokens, hidden]`) and position ids of packed texts, before the sum and
    /// the norm.
    ///
    /// Position ids follow `create_position_ids_from_input_ids` in modeling_xlm_roberta.py:
    /// `cumsum(ids != pad) * (ids != pad) + pad`, so real tokens count from `pad + 1` and a `<pad>`
    /// id (a literal `<pad>` in the text) sits at position `pad`.
    fn inputs(&self, sequences: &[&[u32]]) -> Result<(Vec<f32>, Vec<u32>)> {
        let ids: Vec<u32> = sequences.iter().flat_map(|s| s.iter().copied()).collect();
        let mut positions = Vec::with_capacity(ids.len());
        for sequence in sequences {
            let mut count = 0;
            for &id in sequence.iter() {
                let position = if id == self.pad_id {
                    self.pad_id
                } else {
                    count += 1;
                    self.pad_id + count
                };
                if position as usize >= self.positions {
                    return Err(Error::OutOfRange(format!(
                        "position {position} is past the model's {} positions",
                        self.positions
                    )));
                }
                positions.push(position);
            }
        }
        let ids_tensor = Tensor::new(ids.as_slice(), &Device::Cpu)?;
        Ok((values(self.word.forward(&ids_tensor)?)?, positions))
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
    /// The quantized tables this model looks up by row instead of converting at load (the
    /// word embeddings, most of its size): a bundle's copy may stay in place in the file.
    pub(crate) const ROW_TABLES: &'static [&'static str] =
        &["roberta.embeddings.word_embeddings.weight"];

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

impl XlmRobertaForSequenceClassification {
    /// What the GPU encoder needs from the CPU model: the word rows (`[tokens, hidden]`) and
    /// position ids of packed texts (the word table stays in CPU memory).
    #[cfg(feature = "gpu")]
    pub(crate) fn embedding_inputs(&self, sequences: &[&[u32]]) -> Result<(Vec<f32>, Vec<u32>)> {
        self.embeddings.inputs(sequences)
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
}
