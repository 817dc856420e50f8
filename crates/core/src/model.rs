//! `XLMRobertaForSequenceClassification` in f32, after Hugging Face's
//! `transformers/models/xlm_roberta/modeling_xlm_roberta.py` and in the shape of candle's
//! `candle-transformers/src/models/*.rs` (`new(cfg, weights.pp(..))`, `forward -> Result<Tensor>`).
//!
//! Our own rather than candle-transformers' `xlm_roberta` because we need typed errors for every
//! missing or mis-shaped tensor, configs without `position_embedding_type` (transformers 5), and
//! room for the speed work: Q, K and V are one fused matmul, and the last layer only computes the
//! first token (`<s>`), the only one the classification head reads.

use candle_core::{Device, Module, Tensor};
use candle_nn::{Embedding, LayerNorm};

use crate::config::{Activation, Config};
use crate::error::{Error, Result};
use crate::layers::{stack_rows, Linear, WordEmbedding};
use crate::weights::{Scope, TensorStore};

/// A padded batch ready for [`XlmRobertaForSequenceClassification::forward`].
#[derive(Debug)]
pub struct ModelInput {
    /// `[batch, seq]` token ids, padded on the right with `pad_token_id`.
    pub input_ids: Tensor,
    /// `[batch, seq]` position ids.
    pub position_ids: Tensor,
    /// `[batch, 1, 1, seq]`: 0 for real tokens, `f32::MIN` for padding, added to attention scores.
    pub attention_bias: Tensor,
}

impl ModelInput {
    /// Pads token sequences (each already `<s> .. </s>`) into one batch.
    ///
    /// Position ids follow `create_position_ids_from_input_ids` in modeling_xlm_roberta.py:
    /// `cumsum(ids != pad) * (ids != pad) + pad`, so real tokens count from `pad + 1` and any
    /// `<pad>` id (padding, or a literal `<pad>` in the text) sits at position `pad`. The attention
    /// mask is the tokenizer's: every real token, whatever its id, is attended to.
    pub fn from_sequences(sequences: &[&[u32]], pad_id: u32, device: &Device) -> Result<Self> {
        let batch = sequences.len();
        let seq_len = sequences.iter().map(|s| s.len()).max().unwrap_or(0);
        let mut ids = vec![pad_id; batch * seq_len];
        let mut positions = vec![pad_id; batch * seq_len];
        let mut bias = vec![f32::MIN; batch * seq_len];
        for (row, sequence) in sequences.iter().enumerate() {
            let mut count = 0;
            for (col, &id) in sequence.iter().enumerate() {
                let at = row * seq_len + col;
                ids[at] = id;
                bias[at] = 0.0;
                if id != pad_id {
                    count += 1;
                    positions[at] = pad_id + count;
                }
            }
        }
        Ok(Self {
            input_ids: Tensor::from_vec(ids, (batch, seq_len), device)?,
            position_ids: Tensor::from_vec(positions, (batch, seq_len), device)?,
            attention_bias: Tensor::from_vec(bias, (batch, 1, 1, seq_len), device)?,
        })
    }
}

fn linear(scope: &Scope, in_dim: usize, out_dim: usize) -> Result<Linear> {
    Linear::load(scope, in_dim, out_dim)
}

fn layer_norm(scope: &Scope, dim: usize, eps: f64) -> Result<LayerNorm> {
    Ok(LayerNorm::new(
        scope.get("weight", &[dim])?,
        scope.get("bias", &[dim])?,
        eps,
    ))
}

/// Word + position (+ token type 0) embeddings, then LayerNorm.
#[derive(Debug)]
struct Embeddings {
    word: WordEmbedding,
    /// Position table with token-type row 0 already added: token_type_ids are always 0 for XLM-R
    /// (type_vocab_size 1), so the sum is the same for every token.
    position_and_type: Embedding,
    layer_norm: LayerNorm,
}

impl Embeddings {
    fn new(cfg: &Config, scope: Scope) -> Result<Self> {
        let h = cfg.hidden_size;
        let word = scope
            .pp("word_embeddings")
            .get_stored("weight", &[cfg.vocab_size, h])?;
        let position = scope
            .pp("position_embeddings")
            .get("weight", &[cfg.max_position_embeddings, h])?;
        let token_type = scope
            .pp("token_type_embeddings")
            .get("weight", &[cfg.type_vocab_size, h])?;
        let position_and_type = position.broadcast_add(&token_type.narrow(0, 0, 1)?)?;
        Ok(Self {
            word: WordEmbedding::new(word),
            position_and_type: Embedding::new(position_and_type, h),
            layer_norm: layer_norm(&scope.pp("LayerNorm"), h, cfg.layer_norm_eps)?,
        })
    }

    /// `[batch, seq]` ids and positions to `[batch * seq, hidden]`.
    fn forward(&self, input_ids: &Tensor, position_ids: &Tensor) -> Result<Tensor> {
        let ids = input_ids.flatten_all()?;
        let positions = position_ids.flatten_all()?;
        let x = (self.word.forward(&ids, input_ids.device())?
            + self.position_and_type.forward(&positions)?)?;
        Ok(self.layer_norm.forward(&x)?)
    }
}

/// One encoder layer: self-attention and feed-forward, each with a residual LayerNorm.
#[derive(Debug)]
struct Layer {
    /// Query, key and value weights stacked (`[3 * hidden, hidden]`), for one matmul.
    qkv: Linear,
    /// For the last layer, which needs the query of `<s>` only: the query alone, and keys and
    /// values stacked. `None` for the other layers.
    first_token: Option<(Linear, Linear)>,
    attention_output: Linear,
    attention_norm: LayerNorm,
    intermediate: Linear,
    output: Linear,
    output_norm: LayerNorm,
    activation: Activation,
    num_heads: usize,
    head_dim: usize,
}

impl Layer {
    /// `last`: this is the final layer, where only `<s>` needs an output.
    fn new(cfg: &Config, scope: Scope, last: bool) -> Result<Self> {
        let h = cfg.hidden_size;
        let attention = scope.pp("attention");
        let own = attention.pp("self");
        let mut weights = Vec::with_capacity(3);
        let mut biases = Vec::with_capacity(3);
        for name in ["query", "key", "value"] {
            weights.push(own.pp(name).get_stored("weight", &[h, h])?);
            biases.push(own.pp(name).get("bias", &[h])?);
        }
        let first_token = if last {
            let query = Linear::new(weights[0].clone(), biases[0].clone())?;
            let key_value = Linear::new(stack_rows(&weights[1..])?, Tensor::cat(&biases[1..], 0)?)?;
            Some((query, key_value))
        } else {
            None
        };
        Ok(Self {
            qkv: Linear::new(stack_rows(&weights)?, Tensor::cat(&biases, 0)?)?,
            first_token,
            attention_output: linear(&attention.pp("output").pp("dense"), h, h)?,
            attention_norm: layer_norm(
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
            output_norm: layer_norm(&scope.pp("output").pp("LayerNorm"), h, cfg.layer_norm_eps)?,
            activation: cfg.activation,
            num_heads: cfg.num_attention_heads,
            head_dim: h / cfg.num_attention_heads,
        })
    }

    /// `[batch, seq, hidden]` (flattened to `[batch * seq, hidden]`) -> `[batch, heads, seq, dim]`.
    fn split_heads(&self, x: &Tensor, batch: usize, seq: usize) -> Result<Tensor> {
        Ok(x.reshape((batch, seq, self.num_heads, self.head_dim))?
            .transpose(1, 2)?
            .contiguous()?)
    }

    /// Runs the layer on `x` (`[batch * seq, hidden]`). With `first_token_only`, only the output
    /// for position 0 is computed and the result is `[batch, hidden]`.
    fn forward(
        &self,
        x: &Tensor,
        attention_bias: &Tensor,
        batch: usize,
        seq: usize,
        first_token_only: bool,
    ) -> Result<Tensor> {
        let h = self.num_heads * self.head_dim;
        let scale = 1.0 / (self.head_dim as f64).sqrt();
        let (residual, query_len, q, k, v);
        if let (true, Some((query, key_value))) = (first_token_only, &self.first_token) {
            residual = x
                .reshape((batch, seq, h))?
                .narrow(1, 0, 1)?
                .reshape((batch, h))?;
            let q_flat = query.forward(&residual)?;
            let kv = key_value.forward(x)?;
            query_len = 1;
            q = (self.split_heads(&q_flat, batch, 1)? * scale)?;
            k = self.split_heads(&kv.narrow(1, 0, h)?, batch, seq)?;
            v = self.split_heads(&kv.narrow(1, h, h)?, batch, seq)?;
        } else {
            residual = x.clone();
            let qkv = self.qkv.forward(x)?;
            query_len = seq;
            q = (self.split_heads(&qkv.narrow(1, 0, h)?, batch, seq)? * scale)?;
            k = self.split_heads(&qkv.narrow(1, h, h)?, batch, seq)?;
            v = self.split_heads(&qkv.narrow(1, 2 * h, h)?, batch, seq)?;
        }
        let scores = q.matmul(&k.t()?)?.broadcast_add(attention_bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs
            .matmul(&v)?
            .transpose(1, 2)?
            .reshape((batch * query_len, h))?;
        let attended = self
            .attention_norm
            .forward(&(self.attention_output.forward(&context)? + &residual)?)?;
        let inner = self.intermediate.forward(&attended)?;
        let inner = match self.activation {
            Activation::GeluErf => inner.gelu_erf()?,
            Activation::GeluTanh => inner.gelu()?,
            Activation::Relu => inner.relu()?,
        };
        Ok(self
            .output_norm
            .forward(&(self.output.forward(&inner)? + &attended)?)?)
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
    device: Device,
}

impl XlmRobertaForSequenceClassification {
    /// Builds the model from tensors named as in a Hugging Face checkpoint
    /// (`roberta.embeddings.*`, `roberta.encoder.layer.N.*`, `classifier.*`), checking every shape
    /// against `cfg`.
    pub fn new(cfg: &Config, weights: &TensorStore, device: &Device) -> Result<Self> {
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
        let roberta = weights.pp("roberta");
        let embeddings = Embeddings::new(cfg, roberta.pp("embeddings"))?;
        let last = cfg.num_hidden_layers - 1;
        let layers = (0..cfg.num_hidden_layers)
            .map(|i| Layer::new(cfg, roberta.pp("encoder").pp("layer").pp(i), i == last))
            .collect::<Result<Vec<_>>>()?;
        let extra = format!("roberta.encoder.layer.{}.", cfg.num_hidden_layers);
        if weights.has_prefix(&extra) {
            return Err(Error::InvalidConfig(format!(
                "the weights have more than num_hidden_layers = {} layers",
                cfg.num_hidden_layers
            )));
        }
        let classifier = weights.pp("classifier");
        let head = ClassificationHead {
            dense: linear(&classifier.pp("dense"), h, h)?,
            out_proj: linear(&classifier.pp("out_proj"), h, cfg.labels.len())?,
        };
        Ok(Self {
            embeddings,
            layers,
            head,
            device: device.clone(),
        })
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Logits `[batch, num_labels]` for a padded batch.
    pub fn forward(&self, input: &ModelInput) -> Result<Tensor> {
        let (batch, seq) = input.input_ids.dims2()?;
        let mut x = self
            .embeddings
            .forward(&input.input_ids, &input.position_ids)?;
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(&x, &input.attention_bias, batch, seq, i == last)?;
        }
        // x is now [batch, hidden]: the final hidden state of `<s>` for each text.
        let pooled = self.head.dense.forward(&x)?.tanh()?;
        Ok(self.head.out_proj.forward(&pooled)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_ids_start_after_pad_and_skip_padding() {
        let a: &[u32] = &[0, 10, 11, 2];
        let b: &[u32] = &[0, 1, 12, 2, 7, 2];
        let input = ModelInput::from_sequences(&[a, b], 1, &Device::Cpu).unwrap();
        let positions = input.position_ids.to_vec2::<u32>().unwrap();
        assert_eq!(positions[0], [2, 3, 4, 5, 1, 1]);
        // A literal <pad> inside a text keeps position `pad` and does not advance the count.
        assert_eq!(positions[1], [2, 1, 3, 4, 5, 6]);
        let ids = input.input_ids.to_vec2::<u32>().unwrap();
        assert_eq!(ids[0], [0, 10, 11, 2, 1, 1]);
        let bias = input
            .attention_bias
            .flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap();
        assert_eq!(&bias[..6], &[0., 0., 0., 0., f32::MIN, f32::MIN]);
        assert!(bias[6..].iter().all(|&b| b == 0.0));
    }
}
