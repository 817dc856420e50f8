//! `config.json` of a Hugging Face `XLMRobertaForSequenceClassification`, read with the field names
//! and class defaults of `transformers.XLMRobertaConfig` (a saved config omits nothing we rely on,
//! but a missing field means "the class default" there, so it does here too).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::error::{Error, Result};

/// The encoder's feed-forward activation (`hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// `gelu`: the exact erf form, as `torch.nn.functional.gelu` computes it.
    GeluErf,
    /// `gelu_new`, `gelu_pytorch_tanh`, `gelu_fast`: the tanh approximation.
    GeluTanh,
    /// `relu`.
    Relu,
}

/// How logits become scores, as in the `transformers` text-classification pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreFunction {
    /// Probabilities over labels that sum to 1 (single-label models).
    Softmax,
    /// One independent probability per label (multi-label models and single-logit heads).
    Sigmoid,
    /// The raw logits.
    None,
}

impl std::str::FromStr for ScoreFunction {
    type Err = crate::Error;

    /// The pipeline's `function_to_apply` names, `softmax`, `sigmoid` and `none`, in any case
    /// (the pipeline looks them up upper-cased in `ClassificationFunction`).
    fn from_str(name: &str) -> crate::Result<Self> {
        match name.to_ascii_lowercase().as_str() {
            "softmax" => Ok(Self::Softmax),
            "sigmoid" => Ok(Self::Sigmoid),
            "none" => Ok(Self::None),
            _ => Err(crate::Error::InvalidOption(format!(
                "function_to_apply must be \"softmax\", \"sigmoid\" or \"none\", not {name:?}"
            ))),
        }
    }
}

/// The raw fields of `config.json` that this crate reads, with Hugging Face names.
#[derive(Debug, Clone, Deserialize)]
pub struct RawConfig {
    /// `model_type`: `xlm-roberta` (or `roberta`, which shares the architecture).
    #[serde(default)]
    pub model_type: Option<String>,
    /// Rows of the word-embedding table.
    #[serde(default = "defaults::vocab_size")]
    pub vocab_size: usize,
    /// Width of every hidden state.
    #[serde(default = "defaults::hidden_size")]
    pub hidden_size: usize,
    /// Number of encoder layers.
    #[serde(default = "defaults::num_hidden_layers")]
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    #[serde(default = "defaults::num_attention_heads")]
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    #[serde(default = "defaults::intermediate_size")]
    pub intermediate_size: usize,
    /// Feed-forward activation name.
    #[serde(default = "defaults::hidden_act")]
    pub hidden_act: String,
    /// Rows of the position-embedding table.
    #[serde(default = "defaults::max_position_embeddings")]
    pub max_position_embeddings: usize,
    /// Rows of the token-type table (1 for XLM-R).
    #[serde(default = "defaults::type_vocab_size")]
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    #[serde(default = "defaults::layer_norm_eps")]
    pub layer_norm_eps: f64,
    /// Id of `<pad>`; also the offset of position ids.
    #[serde(default = "defaults::pad_token_id")]
    pub pad_token_id: u32,
    /// Only `absolute` exists for these checkpoints; configs saved by transformers 5 omit it.
    #[serde(default)]
    pub position_embedding_type: Option<String>,
    /// `single_label_classification`, `multi_label_classification` or `regression`.
    #[serde(default)]
    pub problem_type: Option<String>,
    /// Label names by output index; keys are decimal strings.
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
    /// The inverse of `id2label`.
    #[serde(default)]
    pub label2id: Option<BTreeMap<String, i64>>,
    /// Number of labels, used only when `id2label` is absent.
    #[serde(default)]
    pub num_labels: Option<usize>,
}

/// Class defaults of `transformers.XLMRobertaConfig` / `PretrainedConfig`.
mod defaults {
    pub fn vocab_size() -> usize {
        30522
    }
    pub fn hidden_size() -> usize {
        768
    }
    pub fn num_hidden_layers() -> usize {
        12
    }
    pub fn num_attention_heads() -> usize {
        12
    }
    pub fn intermediate_size() -> usize {
        3072
    }
    pub fn hidden_act() -> String {
        "gelu".into()
    }
    pub fn max_position_embeddings() -> usize {
        512
    }
    pub fn type_vocab_size() -> usize {
        2
    }
    pub fn layer_norm_eps() -> f64 {
        1e-12
    }
    pub fn pad_token_id() -> u32 {
        1
    }
}

/// A validated model configuration: sizes, labels and the score function.
#[derive(Debug, Clone)]
pub struct Config {
    /// Rows of the word-embedding table.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Number of encoder layers.
    pub num_hidden_layers: usize,
    /// Attention heads per layer.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Rows of the position-embedding table.
    pub max_position_embeddings: usize,
    /// Rows of the token-type table.
    pub type_vocab_size: usize,
    /// Epsilon of every LayerNorm.
    pub layer_norm_eps: f64,
    /// Id of `<pad>`.
    pub pad_token_id: u32,
    /// Label names, index = output position of the head.
    pub labels: Vec<String>,
    /// `problem_type` as written, if any.
    pub problem_type: Option<String>,
}

impl Config {
    /// Parses and validates the bytes of `config.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let raw: RawConfig =
            serde_json::from_slice(bytes).map_err(|e| Error::MalformedConfig(e.to_string()))?;
        Self::from_raw(raw)
    }

    /// Validates a parsed config.
    pub fn from_raw(raw: RawConfig) -> Result<Self> {
        let invalid = |msg: String| Err(Error::InvalidConfig(msg));
        if let Some(model_type) = raw.model_type.as_deref() {
            if model_type != "xlm-roberta" && model_type != "roberta" {
                return invalid(format!(
                    "model_type is `{model_type}`; only `xlm-roberta` (and `roberta`) are supported"
                ));
            }
        }
        if let Some(kind) = raw.position_embedding_type.as_deref() {
            if kind != "absolute" {
                return invalid(format!(
                    "position_embedding_type `{kind}` is not supported (only `absolute`)"
                ));
            }
        }
        for (name, value) in [
            ("vocab_size", raw.vocab_size),
            ("hidden_size", raw.hidden_size),
            ("num_hidden_layers", raw.num_hidden_layers),
            ("num_attention_heads", raw.num_attention_heads),
            ("intermediate_size", raw.intermediate_size),
            ("type_vocab_size", raw.type_vocab_size),
        ] {
            if value == 0 {
                return invalid(format!("{name} must be positive"));
            }
        }
        if !raw.hidden_size.is_multiple_of(raw.num_attention_heads) {
            return invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                raw.hidden_size, raw.num_attention_heads
            ));
        }
        if !(raw.layer_norm_eps.is_finite() && raw.layer_norm_eps > 0.0) {
            return invalid(format!(
                "layer_norm_eps {} must be positive",
                raw.layer_norm_eps
            ));
        }
        // Positions start at pad_token_id + 1 and `<s> </s>` need two of them.
        let pad = raw.pad_token_id as usize;
        if raw.max_position_embeddings < pad + 3 {
            return invalid(format!(
                "max_position_embeddings {} leaves no room for text after the padding offset {}",
                raw.max_position_embeddings,
                pad + 1
            ));
        }
        if pad >= raw.vocab_size {
            return invalid(format!(
                "pad_token_id {pad} is outside the vocabulary of {}",
                raw.vocab_size
            ));
        }
        let activation = match raw.hidden_act.as_str() {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => return invalid(format!("hidden_act `{other}` is not supported")),
        };
        match raw.problem_type.as_deref() {
            None
            | Some("single_label_classification")
            | Some("multi_label_classification")
            | Some("regression") => {}
            Some(other) => return invalid(format!("problem_type `{other}` is not supported")),
        }
        let labels = labels_from(&raw)?;
        Ok(Self {
            vocab_size: raw.vocab_size,
            hidden_size: raw.hidden_size,
            num_hidden_layers: raw.num_hidden_layers,
            num_attention_heads: raw.num_attention_heads,
            intermediate_size: raw.intermediate_size,
            activation,
            max_position_embeddings: raw.max_position_embeddings,
            type_vocab_size: raw.type_vocab_size,
            layer_norm_eps: raw.layer_norm_eps,
            pad_token_id: raw.pad_token_id,
            labels,
            problem_type: raw.problem_type,
        })
    }

    /// Longest input, `<s>` and `</s>` included: `max_position_embeddings - pad_token_id - 1`,
    /// because position ids start at `pad_token_id + 1`. For XLM-R (514 positions, pad 1) this is
    /// 512, the `model_max_length` of its tokenizer.
    pub fn max_input_tokens(&self) -> usize {
        self.max_position_embeddings - self.pad_token_id as usize - 1
    }

    /// The score function the `transformers` text-classification pipeline picks for this config
    /// (`TextClassificationPipeline.postprocess`): sigmoid for `multi_label_classification` or a
    /// single output, softmax otherwise.
    pub fn default_score_function(&self) -> ScoreFunction {
        if self.problem_type.as_deref() == Some("multi_label_classification")
            || self.labels.len() == 1
        {
            ScoreFunction::Sigmoid
        } else {
            ScoreFunction::Softmax
        }
    }
}

/// Most labels named `LABEL_i` from `num_labels` alone; a model with more names them in
/// `id2label`, whose size the file itself bounds.
pub const MAX_GENERATED_LABELS: usize = 1 << 16;

/// Label names from `id2label` (or `LABEL_i` for `num_labels`, 2 by default, as `PretrainedConfig`
/// does), checked against `label2id` when present.
fn labels_from(raw: &RawConfig) -> Result<Vec<String>> {
    let labels = match &raw.id2label {
        Some(id2label) => {
            if id2label.is_empty() {
                return Err(Error::InvalidConfig("id2label is empty".into()));
            }
            let mut labels = vec![None; id2label.len()];
            for (key, name) in id2label {
                let index: usize = key
                    .trim()
                    .parse()
                    .ok()
                    .filter(|&i| i < labels.len())
                    .ok_or_else(|| {
                        Error::InvalidConfig(format!(
                            "id2label key `{key}` is not an index from 0 to {}",
                            id2label.len() - 1
                        ))
                    })?;
                if labels[index].replace(name.clone()).is_some() {
                    return Err(Error::InvalidConfig(format!(
                        "id2label repeats index {index}"
                    )));
                }
            }
            labels
                .into_iter()
                .map(|l| l.expect("every index filled"))
                .collect()
        }
        None => {
            let n = raw.num_labels.unwrap_or(2);
            if n == 0 {
                return Err(Error::InvalidConfig("num_labels must be positive".into()));
            }
            // Without id2label the names are made here, so a damaged count must not allocate
            // them (the config_json fuzz target found 330000000038315080).
            if n > MAX_GENERATED_LABELS {
                return Err(Error::InvalidConfig(format!(
                    "num_labels is {n}; without id2label at most {MAX_GENERATED_LABELS} are named"
                )));
            }
            (0..n).map(|i| format!("LABEL_{i}")).collect::<Vec<_>>()
        }
    };
    if let (Some(n), Some(_)) = (raw.num_labels, &raw.id2label) {
        if n != labels.len() {
            return Err(Error::InvalidConfig(format!(
                "num_labels is {n} but id2label names {} labels",
                labels.len()
            )));
        }
    }
    if let Some(label2id) = &raw.label2id {
        // Only check label2id when id2label is given: transformers fills both from num_labels.
        if raw.id2label.is_some() {
            for (name, &id) in label2id {
                let agrees = usize::try_from(id).ok().and_then(|i| labels.get(i)) == Some(name);
                if !agrees {
                    return Err(Error::InvalidConfig(format!(
                        "label2id maps `{name}` to {id}, which id2label does not"
                    )));
                }
            }
            if label2id.len() != labels.len() {
                return Err(Error::InvalidConfig(format!(
                    "label2id has {} entries but id2label has {}",
                    label2id.len(),
                    labels.len()
                )));
            }
        }
    }
    Ok(labels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Config> {
        Config::from_json(json.as_bytes())
    }

    #[test]
    fn reads_labels_in_index_order() {
        let c = parse(r#"{"id2label":{"2":"positive","0":"negative","1":"neutral"}}"#).unwrap();
        assert_eq!(c.labels, ["negative", "neutral", "positive"]);
        assert_eq!(c.default_score_function(), ScoreFunction::Softmax);
    }

    #[test]
    fn defaults_follow_transformers() {
        let c = parse("{}").unwrap();
        assert_eq!(c.labels, ["LABEL_0", "LABEL_1"]);
        assert_eq!(c.hidden_size, 768);
        assert_eq!(c.max_input_tokens(), 510);
    }

    #[test]
    fn max_input_tokens_of_xlmr_is_512() {
        let c = parse(r#"{"max_position_embeddings":514,"pad_token_id":1}"#).unwrap();
        assert_eq!(c.max_input_tokens(), 512);
    }

    #[test]
    fn score_functions_parse_by_their_pipeline_names() {
        for f in [
            ScoreFunction::Softmax,
            ScoreFunction::Sigmoid,
            ScoreFunction::None,
        ] {
            let name = serde_json::to_value(f).unwrap();
            assert_eq!(name.as_str().unwrap().parse::<ScoreFunction>().unwrap(), f);
        }
        assert_eq!(
            "SIGMOID".parse::<ScoreFunction>().unwrap(),
            ScoreFunction::Sigmoid
        );
        assert!("relu".parse::<ScoreFunction>().is_err());
    }

    #[test]
    fn multi_label_and_single_logit_use_sigmoid() {
        let multi =
            parse(r#"{"problem_type":"multi_label_classification","id2label":{"0":"a","1":"b"}}"#)
                .unwrap();
        assert_eq!(multi.default_score_function(), ScoreFunction::Sigmoid);
        let single = parse(r#"{"id2label":{"0":"score"}}"#).unwrap();
        assert_eq!(single.default_score_function(), ScoreFunction::Sigmoid);
    }

    #[test]
    fn malformed_json_is_reported() {
        assert!(matches!(
            parse("{\"hidden_size\": "),
            Err(Error::MalformedConfig(_))
        ));
        assert!(matches!(
            parse(r#"{"hidden_size": "big"}"#),
            Err(Error::MalformedConfig(_))
        ));
    }

    #[test]
    fn inconsistent_configs_are_rejected() {
        for bad in [
            r#"{"id2label":{"0":"a","2":"b"}}"#,
            r#"{"id2label":{"0":"a","x":"b"}}"#,
            r#"{"id2label":{"0":"a","1":"b"},"label2id":{"a":1,"b":0}}"#,
            r#"{"id2label":{"0":"a","1":"b"},"num_labels":3}"#,
            r#"{"hidden_size":100,"num_attention_heads":12}"#,
            r#"{"hidden_act":"swish"}"#,
            r#"{"model_type":"bert"}"#,
            r#"{"position_embedding_type":"relative_key"}"#,
            r#"{"problem_type":"ranking"}"#,
            r#"{"max_position_embeddings":3}"#,
            r#"{"hidden_size":0}"#,
        ] {
            assert!(
                matches!(parse(bad), Err(Error::InvalidConfig(_))),
                "accepted {bad}"
            );
        }
    }
}
