//! `reproduce`: the model card's benchmark on this machine. The card's protocol (the raw text,
//! truncated to 128 tokens, the top label) over a dataset folder's test split, for each model
//! given (a folder and its bundles, say), beside the card's figures with the difference and a
//! verdict; then the same data under two protocol changes (the card's tweet preprocessing on,
//! truncation at 512), so a user who sees a difference learns what each change is worth; and,
//! per precision, how often its top labels agree with the f32 model's.
//!
//! The figures are those of [`crate::eval::metrics`] (F1 micro equals accuracy for one label per
//! text; macro-F1 over every label of the model), checked against scikit-learn on the fixture
//! dataset (`tests/fixtures/card_dataset.py`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use xlmr_sentiment_core::{Classifier, ClassifyOptions};

use crate::eval::data::{self, Fields, Format, Row};
use crate::eval::metrics::{Confusion, Tally};
use crate::eval::{unknown_label, LabelMatcher, CHUNK};
use crate::manifest::sha256_file;
use crate::provenance::Provenance;
use crate::Error;

/// The figures on the card of `cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual`:
/// its test split of `cardiffnlp/tweet_sentiment_multilingual` (`all`, 6,960 texts).
pub const CARD: CardFigures = CardFigures {
    f1_micro: 0.6931034482758621,
    f1_macro: 0.692628774202147,
    accuracy: 0.6931034482758621,
};

/// Per-language macro-F1 of XLM-T's own multilingual model in its paper (Barbieri et al., 2022):
/// a different model, shown only as a sanity band, since the card gives no per-language figures.
pub const XLMT_PAPER_MACRO_F1: [(&str, f64); 8] = [
    ("arabic", 0.669),
    ("english", 0.706),
    ("french", 0.712),
    ("german", 0.773),
    ("hindi", 0.564),
    ("italian", 0.691),
    ("portuguese", 0.754),
    ("spanish", 0.679),
];

/// The card's three figures.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CardFigures {
    /// F1 micro (equal to accuracy with one label per text).
    pub f1_micro: f64,
    /// F1 macro over the three labels.
    pub f1_macro: f64,
    /// Accuracy.
    pub accuracy: f64,
}

/// How texts are prepared for the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Protocol {
    /// `card`, `preprocess` or `max_length_512`.
    pub name: &'static str,
    /// The card's tweet preprocessing (`@user`, `http`).
    pub preprocess: bool,
    /// Tokens per text, `<s>` and `</s>` included (longer texts are cut).
    pub max_length: usize,
}

/// The card's protocol first (tweetnlp's trainer: raw text, `max_length=128`), then one change
/// at a time.
pub const PROTOCOLS: [Protocol; 3] = [
    Protocol {
        name: "card",
        preprocess: false,
        max_length: 128,
    },
    Protocol {
        name: "preprocess",
        preprocess: true,
        max_length: 128,
    },
    Protocol {
        name: "max_length_512",
        preprocess: false,
        max_length: 512,
    },
];

/// Overall figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Overall {
    /// Texts scored.
    pub rows: u64,
    /// F1 micro.
    pub f1_micro: f64,
    /// F1 macro over the model's labels.
    pub f1_macro: f64,
    /// Accuracy.
    pub accuracy: f64,
}

/// One language's figures (the card has none per language).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LanguageFigures {
    /// Texts of the language.
    pub rows: u64,
    /// Accuracy.
    pub accuracy: f64,
    /// F1 macro over the model's labels.
    pub f1_macro: f64,
}

/// One figure beside the card's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Difference {
    /// Ours minus the card's.
    pub absolute: f64,
    /// `absolute` over the card's figure.
    pub relative: f64,
}

/// The comparison of a result with the card.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VsCard {
    /// F1 micro.
    pub f1_micro: Difference,
    /// F1 macro.
    pub f1_macro: Difference,
    /// Accuracy.
    pub accuracy: Difference,
    /// `within 1%`, `within 2%` or `outside`, by the largest relative difference.
    pub verdict: &'static str,
}

/// How one model's top labels compare with the reference (f32) model's, same protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Agreement {
    /// The reference model, as given.
    pub reference: String,
    /// Share of texts whose top label is the reference's.
    pub top_label_agreement: f64,
    /// This model's accuracy minus the reference's.
    pub accuracy_change: f64,
}

/// What a protocol change did, against the same model under the card's protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProtocolChange {
    /// Accuracy minus the card protocol's.
    pub accuracy_change: f64,
    /// F1 macro minus the card protocol's.
    pub f1_macro_change: f64,
    /// Texts whose top label differs from the card protocol's.
    pub changed_predictions: u64,
}

/// What a result was computed with.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trace {
    /// Model id, revision, weights file and hash, precision, kernels, version.
    #[serde(flatten)]
    pub provenance: Provenance,
    /// SHA-256 of the folder's `tokenizer.json` (or `sentencepiece.bpe.model`); null for a
    /// bundle, whose tokenizer is inside it (covered by `weights_sha256`).
    pub tokenizer_sha256: Option<String>,
    /// The CPU's model name.
    pub cpu: String,
    /// When the run started (UTC).
    pub date: String,
    /// The dataset folder and split.
    pub dataset: String,
    /// The split read.
    pub split: String,
}

/// One model under one protocol.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReproduceResult {
    /// The model as given.
    pub model: String,
    /// `f32` or the bundle's precision.
    pub precision: String,
    /// The protocol's name.
    pub protocol: &'static str,
    /// The protocol's settings.
    pub settings: Protocol,
    /// Overall figures.
    pub overall: Overall,
    /// Per language (dataset config), in the dataset's order.
    pub per_language: BTreeMap<String, LanguageFigures>,
    /// The model's labels: the order of `confusion`'s rows and columns.
    pub labels: Vec<String>,
    /// `confusion[gold][predicted]`: texts, overall.
    pub confusion: Vec<Vec<u64>>,
    /// Beside the card's figures.
    pub vs_card: VsCard,
    /// Against the f32 model (absent for the reference itself).
    pub agreement: Option<Agreement>,
    /// Against the same model under the card's protocol (absent for the card's protocol).
    pub vs_card_protocol: Option<ProtocolChange>,
    /// What it was computed with.
    pub trace: Trace,
}

/// The whole report (`reproduce --json`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// The card's figures.
    pub card: CardFigures,
    /// One per model and protocol, the card's protocol first for each model.
    pub results: Vec<ReproduceResult>,
}

/// A model to score: how it was given, and loaded.
pub struct Model {
    /// The path as given.
    pub path: PathBuf,
    /// The loaded model.
    pub classifier: Classifier,
}

/// Runs every protocol for every model over `dataset`'s `split`.
pub fn reproduce(models: &[Model], dataset: &Path, split: &str) -> Result<Report, Error> {
    let date = utc_now();
    let cpu = cpu_model();
    let rows: Vec<Row> = data::open(dataset, Format::Dataset, &Fields::default(), split)?
        .map(|row| match row? {
            Ok(row) => Ok(row),
            Err(bad) => Err(Error::BadRow {
                path: dataset.to_path_buf(),
                line: bad.line,
                reason: bad.reason,
            }),
        })
        .collect::<Result<_, Error>>()?;
    if rows.is_empty() {
        return Err(Error::BadData {
            path: dataset.to_path_buf(),
            what: format!("the `{split}` split has no rows"),
        });
    }
    // The reference for agreement: the first f32 model, else the first model.
    let reference = models
        .iter()
        .position(|m| {
            m.classifier
                .bundle_info()
                .is_none_or(|b| b.precision == "f32")
        })
        .unwrap_or(0);
    let mut golds = Vec::new();
    for model in models {
        let labels = model.classifier.labels();
        let matcher = LabelMatcher::new(labels);
        let gold = rows
            .iter()
            .map(|row| {
                matcher
                    .find(&row.label)
                    .ok_or_else(|| unknown_label(dataset, row, labels))
            })
            .collect::<Result<Vec<_>, _>>()?;
        golds.push(gold);
    }
    let mut predictions: Vec<Vec<Vec<usize>>> = Vec::new(); // [model][protocol][row]
    for model in models {
        let mut per_protocol = Vec::new();
        for protocol in PROTOCOLS {
            per_protocol.push(predict(&model.classifier, &rows, protocol, dataset)?);
        }
        predictions.push(per_protocol);
    }
    let mut results = Vec::new();
    for (m, model) in models.iter().enumerate() {
        let provenance = Provenance::of(&model.path, &model.classifier)?;
        let trace = Trace {
            tokenizer_sha256: tokenizer_sha256(&model.path)?,
            cpu: cpu.clone(),
            date: date.clone(),
            dataset: dataset.display().to_string(),
            split: split.to_string(),
            provenance,
        };
        let labels = model.classifier.labels().len();
        for (p, protocol) in PROTOCOLS.into_iter().enumerate() {
            let mut tally = Tally::new(labels);
            for ((row, &gold), &predicted) in rows.iter().zip(&golds[m]).zip(&predictions[m][p]) {
                tally.add(gold, predicted, row.language.as_deref());
            }
            let overall = overall(&tally.overall);
            let confusion = tally.overall.rows();
            let per_language = tally
                .languages()
                .into_iter()
                .map(|(language, confusion)| {
                    let metrics = confusion.metrics();
                    (
                        language.unwrap_or("(none)").to_string(),
                        LanguageFigures {
                            rows: metrics.rows,
                            accuracy: metrics.accuracy,
                            f1_macro: metrics.macro_f1,
                        },
                    )
                })
                .collect();
            let agreement = (m != reference).then(|| {
                let ours = &predictions[m][p];
                let theirs = &predictions[reference][p];
                let same = ours.iter().zip(theirs).filter(|(a, b)| a == b).count();
                let reference_accuracy = theirs
                    .iter()
                    .zip(&golds[reference])
                    .filter(|(a, b)| a == b)
                    .count() as f64
                    / rows.len() as f64;
                Agreement {
                    reference: models[reference].path.display().to_string(),
                    top_label_agreement: same as f64 / rows.len() as f64,
                    accuracy_change: overall.accuracy - reference_accuracy,
                }
            });
            let vs_card_protocol = (p > 0).then(|| {
                let card = results
                    .iter()
                    .rev()
                    .find(|r: &&ReproduceResult| r.protocol == PROTOCOLS[0].name)
                    .map(|r| (r.overall.accuracy, r.overall.f1_macro))
                    .unwrap_or_default();
                ProtocolChange {
                    accuracy_change: overall.accuracy - card.0,
                    f1_macro_change: overall.f1_macro - card.1,
                    changed_predictions: predictions[m][p]
                        .iter()
                        .zip(&predictions[m][0])
                        .filter(|(a, b)| a != b)
                        .count() as u64,
                }
            });
            results.push(ReproduceResult {
                model: model.path.display().to_string(),
                precision: trace.provenance.precision.clone(),
                protocol: protocol.name,
                settings: protocol,
                vs_card: vs_card(&overall),
                overall,
                per_language,
                labels: model.classifier.labels().to_vec(),
                confusion,
                agreement,
                vs_card_protocol,
                trace: trace.clone(),
            });
        }
    }
    Ok(Report {
        card: CARD,
        results,
    })
}

/// The XLM-T paper's macro-F1 for a config, or a dash.
fn xlmt_band(config: &str) -> String {
    XLMT_PAPER_MACRO_F1
        .iter()
        .find(|(name, _)| *name == config)
        .map_or("-".to_string(), |(_, f1)| format!("{f1:.3}"))
}

/// The top label of every row under `protocol`; a text the model cannot take is an error.
fn predict(
    classifier: &Classifier,
    rows: &[Row],
    protocol: Protocol,
    dataset: &Path,
) -> Result<Vec<usize>, Error> {
    let options = ClassifyOptions {
        preprocess: protocol.preprocess,
        max_length: Some(protocol.max_length.min(classifier.max_input_tokens())),
        ..ClassifyOptions::default()
    };
    let mut predicted = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(CHUNK) {
        let texts: Vec<&str> = chunk.iter().map(|r| r.text.as_str()).collect();
        let answers = classifier
            .classify_each(&texts, &options)
            .map_err(Error::Classify)?;
        for (row, answer) in chunk.iter().zip(answers) {
            let prediction = answer.map_err(|e| Error::BadRow {
                path: dataset.to_path_buf(),
                line: row.line,
                reason: format!("cannot be classified: {e}"),
            })?;
            predicted.push(prediction.label_id);
        }
    }
    Ok(predicted)
}

fn overall(confusion: &Confusion) -> Overall {
    let metrics = confusion.metrics();
    Overall {
        rows: metrics.rows,
        // One label per text: every wrong prediction is one false positive and one false
        // negative, so micro precision = micro recall = micro F1 = accuracy.
        f1_micro: metrics.accuracy,
        f1_macro: metrics.macro_f1,
        accuracy: metrics.accuracy,
    }
}

fn vs_card(ours: &Overall) -> VsCard {
    let difference = |ours: f64, card: f64| Difference {
        absolute: ours - card,
        relative: (ours - card) / card,
    };
    let f1_micro = difference(ours.f1_micro, CARD.f1_micro);
    let f1_macro = difference(ours.f1_macro, CARD.f1_macro);
    let accuracy = difference(ours.accuracy, CARD.accuracy);
    let worst = [&f1_micro, &f1_macro, &accuracy]
        .iter()
        .map(|d| d.relative.abs())
        .fold(0.0, f64::max);
    let verdict = if worst <= 0.01 {
        "within 1%"
    } else if worst <= 0.02 {
        "within 2%"
    } else {
        "outside"
    };
    VsCard {
        f1_micro,
        f1_macro,
        accuracy,
        verdict,
    }
}

/// The folder's tokenizer file's SHA-256; `None` for a bundle.
fn tokenizer_sha256(model: &Path) -> Result<Option<String>, Error> {
    if model.is_file() {
        return Ok(None);
    }
    for name in ["tokenizer.json", "sentencepiece.bpe.model"] {
        let path = model.join(name);
        if path.is_file() {
            return sha256_file(&path).map(Some);
        }
    }
    Ok(None)
}

/// The CPU's model name (Linux: `/proc/cpuinfo`), else the architecture.
fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|text| {
            text.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// Now, as `YYYY-MM-DDTHH:MM:SSZ`.
fn utc_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rest) = ((seconds / 86_400) as i64, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's `civil_from_days`).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

impl Report {
    /// Each model's result under the card's protocol, in order.
    fn card_protocol(&self) -> Vec<&ReproduceResult> {
        self.results
            .iter()
            .filter(|r| r.protocol == PROTOCOLS[0].name)
            .collect()
    }

    /// The report as Markdown: the comparison with the card, per language, per precision.
    pub fn markdown(&self) -> String {
        let mut out = String::from("# The model card's benchmark, reproduced\n\n");
        let card = &self.card;
        out += &format!(
            "The card: F1 micro {:.4}, F1 macro {:.4}, accuracy {:.4} (its test split, 6,960 \
             texts). Protocols: `card` (raw text, 128 tokens, the card's), `preprocess` (the \
             card's tweet preprocessing on), `max_length_512` (512 tokens).\n\n",
            card.f1_micro, card.f1_macro, card.accuracy
        );
        out += "| model | precision | protocol | rows | F1 micro | F1 macro | accuracy | \
                accuracy vs card | verdict | agreement with f32 |\n\
                |---|---|---|---:|---:|---:|---:|---:|---|---:|\n";
        for r in &self.results {
            let agreement = r.agreement.as_ref().map_or("(reference)".to_string(), |a| {
                format!(
                    "{:.2}% ({:+.4} accuracy)",
                    a.top_label_agreement * 100.0,
                    a.accuracy_change
                )
            });
            out += &format!(
                "| {} | {} | {} | {} | {:.4} | {:.4} | {:.4} | {:+.4} ({:+.2}%) | {} | {} |\n",
                r.model,
                r.precision,
                r.protocol,
                r.overall.rows,
                r.overall.f1_micro,
                r.overall.f1_macro,
                r.overall.accuracy,
                r.vs_card.accuracy.absolute,
                r.vs_card.accuracy.relative * 100.0,
                r.vs_card.verdict,
                agreement
            );
        }
        out += "\n## What each protocol change does (against the card's protocol, same model)\n\n\
                | model | precision | protocol | accuracy change | F1 macro change | changed top labels |\n\
                |---|---|---|---:|---:|---:|\n";
        for r in &self.results {
            if let Some(c) = &r.vs_card_protocol {
                out += &format!(
                    "| {} | {} | {} | {:+.4} | {:+.4} | {} of {} |\n",
                    r.model,
                    r.precision,
                    r.protocol,
                    c.accuracy_change,
                    c.f1_macro_change,
                    c.changed_predictions,
                    r.overall.rows
                );
            }
        }
        out += "\n## Per language, the card's protocol (the card gives none)\n\n";
        let cards = self.card_protocol();
        if let Some(first) = cards.first() {
            out += "| language | rows |";
            for r in &cards {
                out += &format!(" {} ({}) accuracy | macro-F1 |", r.model, r.precision);
            }
            out += " XLM-T paper macro-F1 (another model: a sanity band only) |";
            out += "\n|---|---:|";
            out += &"---:|---:|".repeat(cards.len());
            out += "---:|\n";
            for (language, figures) in &first.per_language {
                out += &format!("| {language} | {} |", figures.rows);
                for r in &cards {
                    let f = &r.per_language[language];
                    out += &format!(" {:.4} | {:.4} |", f.accuracy, f.f1_macro);
                }
                out += &format!(" {} |\n", xlmt_band(language));
            }
        }
        out += "\n## Trace\n\n";
        let mut seen = Vec::new();
        for r in &self.results {
            if seen.contains(&&r.model) {
                continue;
            }
            seen.push(&r.model);
            let t = &r.trace;
            out +=
                &format!(
                "- {}: model id {}, revision {}, weights `{}` SHA-256 {}, tokenizer SHA-256 {}, \
                 precision {}, kernels {}, xlmr-sentiment {}, CPU {}, {}; data {} (`{}`)\n",
                r.model,
                t.provenance.model_id.as_deref().unwrap_or("not recorded"),
                t.provenance.revision.as_deref().unwrap_or("not recorded"),
                t.provenance.weights_file,
                t.provenance.weights_sha256,
                t.tokenizer_sha256.as_deref().unwrap_or("(inside the bundle)"),
                t.provenance.precision,
                t.provenance.kernels,
                t.provenance.version,
                t.cpu,
                t.date,
                t.dataset,
                t.split
            );
        }
        out
    }
}

impl Report {
    /// The report as one self-contained HTML page: the comparison with the card, per-language
    /// accuracy bars per model (the card's protocol), and each model's confusion matrix.
    pub fn html(&self) -> String {
        use crate::html::{bar, confusion, escape, page, table};
        let card = &self.card;
        let mut body = format!(
            "<p>The card: F1 micro {:.4}, F1 macro {:.4}, accuracy {:.4} (its test split, 6,960 \
             texts). Protocols: <b>card</b> (raw text, 128 tokens), <b>preprocess</b> (the \
             card's tweet preprocessing on), <b>max_length_512</b> (512 tokens).</p>\n",
            card.f1_micro, card.f1_macro, card.accuracy
        );
        body += "<h2>Beside the card</h2>\n";
        let header = [
            "model",
            "precision",
            "protocol",
            "rows",
            "F1 micro",
            "F1 macro",
            "accuracy",
            "accuracy vs card",
            "verdict",
            "agreement with f32",
        ]
        .map(String::from);
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .map(|r| {
                let class = if r.vs_card.verdict == "outside" {
                    "outside"
                } else {
                    "within"
                };
                vec![
                    escape(&r.model),
                    escape(&r.precision),
                    r.protocol.to_string(),
                    r.overall.rows.to_string(),
                    format!("{:.4}", r.overall.f1_micro),
                    format!("{:.4}", r.overall.f1_macro),
                    format!("{:.4}", r.overall.accuracy),
                    format!(
                        "{:+.4} ({:+.2}%)",
                        r.vs_card.accuracy.absolute,
                        r.vs_card.accuracy.relative * 100.0
                    ),
                    format!("<span class=\"{class}\">{}</span>", r.vs_card.verdict),
                    r.agreement.as_ref().map_or("(reference)".into(), |a| {
                        format!("{:.2}%", a.top_label_agreement * 100.0)
                    }),
                ]
            })
            .collect();
        body += &table("comparison", &header, &rows);
        body += "<h2>What each protocol change does</h2>\n";
        let rows: Vec<Vec<String>> = self
            .results
            .iter()
            .filter_map(|r| {
                let c = r.vs_card_protocol.as_ref()?;
                Some(vec![
                    escape(&r.model),
                    escape(&r.precision),
                    r.protocol.to_string(),
                    format!("{:+.4}", c.accuracy_change),
                    format!("{:+.4}", c.f1_macro_change),
                    format!("{} of {}", c.changed_predictions, r.overall.rows),
                ])
            })
            .collect();
        let header = [
            "model",
            "precision",
            "protocol",
            "accuracy change",
            "F1 macro change",
            "changed top labels",
        ]
        .map(String::from);
        body += &table("changes", &header, &rows);
        let cards = self.card_protocol();
        if let Some(first) = cards.first() {
            body += "<h2>Accuracy per language, the card's protocol</h2>\n\
                     <p><small>The card gives no per-language figures.</small></p>\n";
            let mut rows = Vec::new();
            for language in first.per_language.keys() {
                for (i, r) in cards.iter().enumerate() {
                    let figures = &r.per_language[language];
                    rows.push(vec![
                        if i == 0 {
                            escape(language)
                        } else {
                            String::new()
                        },
                        format!("{} ({})", escape(&r.model), escape(&r.precision)),
                        figures.rows.to_string(),
                        bar(figures.accuracy, i % 2 == 1),
                        format!("{:.4}", figures.f1_macro),
                    ]);
                }
            }
            let header = ["language", "model", "rows", "accuracy", "macro-F1"].map(String::from);
            body += &table("bars", &header, &rows);
        }
        body += "<h2>Confusion matrices, the card's protocol</h2>\n";
        for r in &cards {
            body += &format!("<h3>{} ({})</h3>\n", escape(&r.model), escape(&r.precision));
            body += &confusion(&r.labels, &r.confusion);
        }
        body += "<h2>Trace</h2>\n<ul class=\"trace\">\n";
        for r in &cards {
            let t = &r.trace;
            body += &format!(
                "<li>{}: model id {}, revision {}, weights SHA-256 {}, tokenizer SHA-256 {}, \
                 precision {}, kernels {}, xlmr-sentiment {}, CPU {}, {}; data {} ({})</li>\n",
                escape(&r.model),
                escape(t.provenance.model_id.as_deref().unwrap_or("not recorded")),
                escape(t.provenance.revision.as_deref().unwrap_or("not recorded")),
                t.provenance.weights_sha256,
                t.tokenizer_sha256
                    .as_deref()
                    .unwrap_or("(inside the bundle)"),
                escape(&t.provenance.precision),
                escape(&t.provenance.kernels),
                t.provenance.version,
                escape(&t.cpu),
                t.date,
                escape(&t.dataset),
                escape(&t.split)
            );
        }
        body += "</ul>\n";
        page("The model card's benchmark, reproduced", &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_by_the_largest_relative_difference() {
        let at = |accuracy: f64| Overall {
            rows: 1,
            f1_micro: accuracy,
            f1_macro: CARD.f1_macro,
            accuracy,
        };
        assert_eq!(vs_card(&at(CARD.accuracy)).verdict, "within 1%");
        assert_eq!(vs_card(&at(CARD.accuracy * 0.985)).verdict, "within 2%");
        assert_eq!(vs_card(&at(CARD.accuracy * 1.03)).verdict, "outside");
        let d = vs_card(&at(0.7)).accuracy;
        assert!((d.absolute - (0.7 - CARD.accuracy)).abs() < 1e-12);
    }

    #[test]
    fn dates_are_civil_utc() {
        let now = utc_now();
        assert_eq!(now.len(), 20, "{now}");
        assert!(now.starts_with("20") && now.ends_with('Z'), "{now}");
    }
}
