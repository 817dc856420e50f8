//! One text's classification, as the `transformers` text-classification pipeline scores it.

use serde::Serialize;

use crate::config::ScoreFunction;
use crate::language::LanguageCheck;
use crate::tokenize::Encoded;

/// One label and its score.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelScore {
    /// Label name from `id2label`.
    pub label: String,
    /// Probability (or raw logit with [`ScoreFunction::None`]).
    pub score: f32,
}

/// The classification of one text.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Prediction {
    /// The highest-scoring label.
    pub label: String,
    /// Its index in the model's labels (`id2label`) and in [`Prediction::scores`].
    pub label_id: usize,
    /// Its score.
    pub score: f32,
    /// Every label's score, in the model's label order (`id2label`).
    pub scores: Vec<LabelScore>,
    /// Whether the text was cut to the token limit before classification.
    pub truncated: bool,
    /// Tokens the model saw, `<s>` and `</s>` included.
    pub tokens: usize,
    /// With [`crate::ClassifyOptions::language`]: the text's detected language and whether the model
    /// was trained on it (serialized as the fields `language` and `language_supported`).
    #[serde(flatten)]
    pub language: Option<LanguageCheck>,
}

impl Prediction {
    /// The prediction for one text's `logits`, scored with `function`: the first highest score
    /// wins, like numpy's argmax in the pipeline.
    pub(crate) fn from_logits(
        labels: &[String],
        logits: &[f32],
        function: ScoreFunction,
        encoded: &Encoded,
    ) -> Self {
        let scores: Vec<LabelScore> = labels
            .iter()
            .zip(apply(function, logits))
            .map(|(label, score)| LabelScore {
                label: label.clone(),
                score,
            })
            .collect();
        let best = scores.iter().enumerate().fold(0, |best, (i, s)| {
            if s.score > scores[best].score {
                i
            } else {
                best
            }
        });
        Self {
            label: scores[best].label.clone(),
            label_id: best,
            score: scores[best].score,
            scores,
            truncated: encoded.truncated,
            tokens: encoded.ids.len(),
            language: encoded.language.clone(),
        }
    }

    /// The `k` highest scores, highest first (ties keep label order); `None` gives all labels.
    pub fn top_k(&self, k: Option<usize>) -> Vec<LabelScore> {
        let mut sorted = self.scores.clone();
        sorted.sort_by(|a, b| b.score.total_cmp(&a.score));
        sorted.truncate(k.unwrap_or(sorted.len()));
        sorted
    }
}

/// The pipeline's `softmax` (max-shifted) and `sigmoid`, in f32.
fn apply(function: ScoreFunction, logits: &[f32]) -> Vec<f32> {
    match function {
        ScoreFunction::None => logits.to_vec(),
        ScoreFunction::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
        ScoreFunction::Softmax => {
            let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            exps.into_iter().map(|e| e / sum).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_is_shifted_and_normalised() {
        let p = apply(ScoreFunction::Softmax, &[1000.0, 1000.0, f32::NEG_INFINITY]);
        assert_eq!(p, [0.5, 0.5, 0.0]);
        let p = apply(ScoreFunction::Softmax, &[0.0, 2.0_f32.ln()]);
        assert!((p[0] - 1.0 / 3.0).abs() < 1e-7 && (p[1] - 2.0 / 3.0).abs() < 1e-7);
    }

    #[test]
    fn sigmoid_and_none() {
        assert_eq!(apply(ScoreFunction::Sigmoid, &[0.0]), [0.5]);
        assert_eq!(apply(ScoreFunction::None, &[-3.5, 2.0]), [-3.5, 2.0]);
    }

    #[test]
    fn top_k_sorts_highest_first() {
        let p = Prediction {
            label: "b".into(),
            label_id: 1,
            score: 0.7,
            scores: vec![
                LabelScore {
                    label: "a".into(),
                    score: 0.1,
                },
                LabelScore {
                    label: "b".into(),
                    score: 0.7,
                },
                LabelScore {
                    label: "c".into(),
                    score: 0.2,
                },
            ],
            truncated: false,
            tokens: 3,
            language: None,
        };
        let labels = |k| p.top_k(k).into_iter().map(|s| s.label).collect::<Vec<_>>();
        assert_eq!(labels(None), ["b", "c", "a"]);
        assert_eq!(labels(Some(1)), ["b"]);
        assert_eq!(labels(Some(9)), ["b", "c", "a"]);
    }
}
