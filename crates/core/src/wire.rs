//! The wire shapes of a prediction and of the per-call options: every adapter (CLI, batch job,
//! server, wasm) serializes these instead of building JSON by hand, so one file says what each
//! surface emits and reads.

use serde::ser::{SerializeMap, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::config::ScoreFunction;
use crate::error::{Error, Result};
use crate::options::ClassifyOptions;
use crate::prediction::{LabelScore, Prediction};

/// How many labels a shaped answer keeps, highest first: the pipeline's `top_k`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TopK {
    /// Every label.
    #[default]
    All,
    /// The `k` best (at least 1).
    Best(usize),
}

impl TopK {
    /// `None` means every label; `Some(0)` is no limit a caller can mean, so it gives `None`
    /// for the caller to refuse in its own words.
    pub fn new(k: Option<usize>) -> Option<Self> {
        match k {
            None => Some(Self::All),
            Some(0) => None,
            Some(k) => Some(Self::Best(k)),
        }
    }

    /// The limit as [`Prediction::top_k`] takes it.
    pub fn limit(self) -> Option<usize> {
        match self {
            Self::All => None,
            Self::Best(k) => Some(k),
        }
    }
}

/// The key spelling of a surface: snake case for the CLI, batch jobs and the HTTP API, camel
/// case for JavaScript.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Case {
    /// `language_supported`.
    Snake,
    /// `languageSupported`.
    Camel,
}

impl Case {
    fn language_supported(self) -> &'static str {
        match self {
            Self::Snake => "language_supported",
            Self::Camel => "languageSupported",
        }
    }
}

/// One line of the CLI's and the batch job's JSON output, after the caller's own key (`text` or
/// `id`, flattened in front): `{"label", "score", "scores": {label: score, ...}, "truncated"}`,
/// with `language` and `language_supported` when the prediction carries a language check.
/// `scores` holds the `top_k` highest labels, highest first.
#[derive(Debug, Clone)]
pub struct PredictionRecord<'a> {
    prediction: &'a Prediction,
    scores: Vec<LabelScore>,
}

impl<'a> PredictionRecord<'a> {
    /// The record of `prediction` with `top_k` labels in `scores`.
    pub fn new(prediction: &'a Prediction, top_k: TopK) -> Self {
        Self {
            prediction,
            scores: prediction.top_k(top_k.limit()),
        }
    }
}

impl Serialize for PredictionRecord<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        // A map, not a struct, so callers can flatten it after their own key.
        let p = self.prediction;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("label", &p.label)?;
        map.serialize_entry("score", &p.score)?;
        map.serialize_entry("scores", &ScoreMap(&self.scores))?;
        map.serialize_entry("truncated", &p.truncated)?;
        if let Some(check) = &p.language {
            map.serialize_entry("language", &check.language)?;
            map.serialize_entry(Case::Snake.language_supported(), &check.language_supported)?;
        }
        map.end()
    }
}

/// Scores as an object `{label: score}`, in the given order.
struct ScoreMap<'a>(&'a [LabelScore]);

impl Serialize for ScoreMap<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for s in self.0 {
            map.serialize_entry(&s.label, &s.score)?;
        }
        map.end()
    }
}

/// One label of a pipeline-shaped answer (the Hugging Face inference API, TEI's `/predict`,
/// transformers.js): `{"label", "score"}`, plus the text's `language` and language support when
/// the prediction carries a language check, so the answer keeps the pipeline's shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelEntry<'a> {
    /// The label and its score.
    pub score: LabelScore,
    /// The text's language check, if asked for.
    pub language: Option<&'a crate::LanguageCheck>,
    /// The spelling of the language-support key.
    pub case: Case,
}

impl Serialize for LabelEntry<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        let fields = if self.language.is_some() { 4 } else { 2 };
        let mut entry = serializer.serialize_struct("LabelEntry", fields)?;
        entry.serialize_field("label", &self.score.label)?;
        entry.serialize_field("score", &self.score.score)?;
        if let Some(check) = self.language {
            entry.serialize_field("language", &check.language)?;
            entry.serialize_field(self.case.language_supported(), &check.language_supported)?;
        }
        entry.end()
    }
}

/// A text's `top_k` labels, highest first, as [`LabelEntry`] values.
pub fn label_entries(prediction: &Prediction, top_k: TopK, case: Case) -> Vec<LabelEntry<'_>> {
    prediction
        .top_k(top_k.limit())
        .into_iter()
        .map(|score| LabelEntry {
            score,
            language: prediction.language.as_ref(),
            case,
        })
        .collect()
}

/// transformers.js' text-classification answer: a single text gives its list of labels; an
/// array of texts gives one list per text, or one flat entry per text when `top_k` is 1.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PipelineAnswer<'a> {
    /// One text, or many with `top_k` other than 1: a list of entries per text (a single text's
    /// list stands alone).
    Lists(Vec<Vec<LabelEntry<'a>>>),
    /// One text's list.
    One(Vec<LabelEntry<'a>>),
    /// Many texts with `top_k` 1: each text's best entry.
    Flat(Vec<LabelEntry<'a>>),
}

impl<'a> PipelineAnswer<'a> {
    /// The answer for `predictions`; `single` when the caller passed one string, not an array.
    pub fn new(predictions: &'a [Prediction], single: bool, top_k: TopK, case: Case) -> Self {
        let mut lists = predictions.iter().map(|p| label_entries(p, top_k, case));
        if single {
            Self::One(lists.next().unwrap_or_default())
        } else if top_k == TopK::Best(1) {
            Self::Flat(lists.filter_map(|l| l.into_iter().next()).collect())
        } else {
            Self::Lists(lists.collect())
        }
    }
}

impl<'a> PipelineAnswer<'a> {
    /// The answer of transformers' own (Python) pipeline, which differs from transformers.js
    /// only where `top_k` is given: with `top_k` absent (`None` here) a string gets a list of
    /// its best entry and a list of texts one best entry per text; with `top_k` given (`All`
    /// for the pipeline's `top_k=None`) a string gets its flat list and a list of texts one list
    /// per text, even for `top_k=1` (`TextClassificationPipeline.__call__`, `_legacy`).
    pub fn transformers(
        predictions: &'a [Prediction],
        single: bool,
        top_k: Option<TopK>,
        case: Case,
    ) -> Self {
        match top_k {
            None => Self::new(predictions, single, TopK::Best(1), case),
            Some(k) => {
                let mut lists = predictions.iter().map(|p| label_entries(p, k, case));
                if single {
                    Self::One(lists.next().unwrap_or_default())
                } else {
                    Self::Lists(lists.collect())
                }
            }
        }
    }
}

/// A text's full result for JavaScript (the npm package's `Prediction`): label, score, every
/// label's score in the model's order, the truncation flag, the token count, and with the
/// `language` option `language` and `languageSupported`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DetailedPrediction<'a> {
    /// The highest-scoring label.
    pub label: &'a str,
    /// Its score.
    pub score: f32,
    /// Every label's score, in the model's label order.
    pub scores: &'a [LabelScore],
    /// Whether the text was cut to the token limit.
    pub truncated: bool,
    /// Tokens the model saw, `<s>` and `</s>` included.
    pub tokens: usize,
    /// With the `language` option: the detected language (ISO 639-1) or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<Option<&'static str>>,
    /// With the `language` option: whether the model was trained on it, or null.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language_supported: Option<Option<bool>>,
}

impl<'a> From<&'a Prediction> for DetailedPrediction<'a> {
    fn from(p: &'a Prediction) -> Self {
        Self {
            label: &p.label,
            score: p.score,
            scores: &p.scores,
            truncated: p.truncated,
            tokens: p.tokens,
            language: p.language.as_ref().map(|c| c.language),
            language_supported: p.language.as_ref().map(|c| c.language_supported),
        }
    }
}

/// The options of a JavaScript `classify` call (the npm package's `ClassifyOptions`), every one
/// optional. Unknown keys are refused, so a misspelt option fails instead of being ignored;
/// transformers.js' `top_k` is accepted for `topK`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct WireOptions {
    /// Labels per text in a pipeline answer, highest first: 1 when absent, every label with
    /// `null`.
    #[serde(alias = "top_k", deserialize_with = "present")]
    pub top_k: Option<Option<usize>>,
    /// [`ClassifyOptions::preprocess`].
    pub preprocess: Option<bool>,
    /// [`ClassifyOptions::max_length`].
    pub max_length: Option<usize>,
    /// [`ClassifyOptions::batch_size`].
    pub batch_size: Option<usize>,
    /// [`ClassifyOptions::function`].
    pub function: Option<ScoreFunction>,
    /// [`ClassifyOptions::language`].
    pub language: Option<bool>,
}

/// A field that is present: `null` becomes `Some(None)`, so it differs from an absent one.
fn present<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<Option<Option<usize>>, D::Error> {
    Option::<usize>::deserialize(d).map(Some)
}

impl WireOptions {
    /// The keys a caller may pass, as JavaScript spells them.
    pub const NAMES: [&'static str; 7] = [
        "topK",
        "top_k",
        "preprocess",
        "maxLength",
        "batchSize",
        "function",
        "language",
    ];

    /// Parses options from JSON text; `null` means none.
    pub fn from_json(json: &str) -> Result<Self> {
        let options: Option<Self> = serde_json::from_str(json).map_err(|e| {
            let e = e.to_string();
            Error::MalformedOptions(match e.strip_prefix("unknown field ") {
                Some(rest) => format!(
                    "unknown {} (known: {})",
                    rest.split(", expected")
                        .next()
                        .unwrap_or(rest)
                        .replace('`', ""),
                    Self::NAMES.join(", ")
                ),
                None => e,
            })
        })?;
        Ok(options.unwrap_or_default())
    }

    /// The pipeline answer's `top_k`: 1 when absent.
    pub fn top_k(&self) -> Result<TopK> {
        match self.top_k {
            None => Ok(TopK::Best(1)),
            Some(k) => TopK::new(k).ok_or_else(|| {
                Error::MalformedOptions("topK must be a positive integer or null, got 0".into())
            }),
        }
    }

    /// The core options these ask for, the rest at their defaults.
    pub fn classify_options(&self) -> ClassifyOptions {
        let defaults = ClassifyOptions::default();
        ClassifyOptions {
            preprocess: self.preprocess.unwrap_or(defaults.preprocess),
            max_length: self.max_length,
            batch_size: self.batch_size.unwrap_or(defaults.batch_size),
            function: self.function,
            language: self.language.unwrap_or(defaults.language),
            ..defaults
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LanguageCheck;
    use serde_json::{json, to_value};

    fn prediction(language: Option<LanguageCheck>) -> Prediction {
        let score = |label: &str, score| LabelScore {
            label: label.into(),
            score,
        };
        Prediction {
            label: "positive".into(),
            label_id: 2,
            score: 0.5,
            scores: vec![
                score("negative", 0.25),
                score("neutral", 0.25),
                score("positive", 0.5),
            ],
            truncated: false,
            tokens: 4,
            language,
        }
    }

    const RU: LanguageCheck = LanguageCheck {
        language: Some("ru"),
        language_supported: Some(false),
    };

    #[test]
    fn record_lists_top_k_highest_first_and_the_language_when_checked() {
        let p = prediction(None);
        let record = to_value(PredictionRecord::new(&p, TopK::Best(2))).unwrap();
        assert_eq!(
            record,
            json!({"label": "positive", "score": 0.5,
                   "scores": {"positive": 0.5, "negative": 0.25}, "truncated": false})
        );
        // The text itself: serde_json's Map sorts keys unless another crate turns on its
        // preserve_order feature.
        let text = serde_json::to_string(&PredictionRecord::new(&p, TopK::All)).unwrap();
        assert!(
            text.contains(r#""scores":{"positive":0.5,"negative":0.25,"neutral":0.25}"#),
            "highest first, ties in label order: {text}"
        );
        let p = prediction(Some(RU));
        let record = to_value(PredictionRecord::new(&p, TopK::All)).unwrap();
        assert_eq!(record["language"], "ru");
        assert_eq!(record["language_supported"], false);
        assert_eq!(record["scores"].as_object().unwrap().len(), 3);
    }

    #[test]
    fn pipeline_answer_follows_transformers_js_shapes() {
        let ps = [prediction(None), prediction(Some(RU))];
        let answer =
            |single, k| to_value(PipelineAnswer::new(&ps, single, k, Case::Camel)).unwrap();
        assert_eq!(
            answer(true, TopK::Best(1)),
            json!([{"label": "positive", "score": 0.5}])
        );
        assert_eq!(
            answer(false, TopK::Best(1)),
            json!([{"label": "positive", "score": 0.5},
                   {"label": "positive", "score": 0.5, "language": "ru", "languageSupported": false}])
        );
        let lists = answer(false, TopK::All);
        assert_eq!(lists.as_array().unwrap().len(), 2);
        assert_eq!(lists[1].as_array().unwrap().len(), 3);
        let snake = to_value(label_entries(&ps[1], TopK::Best(1), Case::Snake)).unwrap();
        assert_eq!(snake[0]["language_supported"], false);
    }

    #[test]
    fn transformers_answer_gives_lists_whenever_top_k_is_given() {
        let ps = [prediction(None), prediction(None)];
        let answer = |single, k| {
            to_value(PipelineAnswer::transformers(&ps, single, k, Case::Snake)).unwrap()
        };
        let best = json!({"label": "positive", "score": 0.5});
        assert_eq!(answer(true, None), json!([best]));
        assert_eq!(answer(false, None), json!([best, best]));
        assert_eq!(answer(false, Some(TopK::Best(1))), json!([[best], [best]]));
        assert_eq!(answer(true, Some(TopK::Best(1))), json!([best]));
        let all = answer(true, Some(TopK::All));
        assert_eq!(
            all.as_array().unwrap().len(),
            3,
            "a flat list of every label"
        );
        assert_eq!(all[0], best);
        let lists = answer(false, Some(TopK::All));
        assert_eq!(lists[1].as_array().unwrap().len(), 3);
    }

    #[test]
    fn detailed_prediction_keeps_model_order_and_camel_case() {
        let p = prediction(Some(RU));
        let value = to_value(DetailedPrediction::from(&p)).unwrap();
        assert_eq!(value["scores"][0]["label"], "negative");
        assert_eq!(value["tokens"], 4);
        assert_eq!(value["languageSupported"], false);
        let plain = to_value(DetailedPrediction::from(&prediction(None))).unwrap();
        assert!(plain.get("language").is_none() && plain.get("languageSupported").is_none());
    }

    #[test]
    fn options_refuse_unknown_keys_and_read_top_k_both_ways() {
        let err = WireOptions::from_json(r#"{"topk": 2}"#)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("invalid options: unknown topk (known: topK, top_k,"),
            "{err}"
        );
        assert!(WireOptions::from_json(r#"{"batchSize": "many"}"#).is_err());
        let options = |json| WireOptions::from_json(json).unwrap();
        assert_eq!(options("null"), WireOptions::default());
        assert_eq!(options("{}").top_k().unwrap(), TopK::Best(1));
        assert_eq!(options(r#"{"topK": null}"#).top_k().unwrap(), TopK::All);
        assert_eq!(options(r#"{"top_k": 3}"#).top_k().unwrap(), TopK::Best(3));
        assert!(options(r#"{"topK": 0}"#).top_k().is_err());
        let core = options(r#"{"maxLength": 64, "preprocess": false, "function": "none"}"#)
            .classify_options();
        assert_eq!(core.max_length, Some(64));
        assert!(!core.preprocess);
        assert_eq!(core.function, Some(ScoreFunction::None));
        assert_eq!(core.batch_size, ClassifyOptions::DEFAULT_BATCH_SIZE);
    }
}
