//! `eval`: classify a labelled data file and score the predictions against its gold labels,
//! overall and per language, timing the classification.
//!
//! [`data`] reads the rows, [`metrics`] is the arithmetic, [`report`] renders the result; this
//! module runs the rows through the classifier in chunks.

mod contained;
pub mod data;
pub mod metrics;
mod parquet_check;
pub mod report;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use xlmr_sentiment_core::{Classifier, ClassifyOptions};

use crate::formats::FileFormat;
use crate::Error;
use data::{BadRow, Fields, Format, Row};
use metrics::Tally;

/// Texts handed to [`Classifier::classify`] at once (at least the batch size): a few hundred
/// fill whole batches while memory stays bounded however large the file.
pub const CHUNK: usize = 256;

/// Bad rows kept with their reasons in an [`Evaluation`]; the rest are only counted.
pub const KEPT_BAD_ROWS: usize = 10;

/// What to evaluate, and how.
#[derive(Debug, Clone)]
pub struct EvalConfig {
    /// The data file, `-` for standard input.
    pub data: PathBuf,
    /// The data's format; `None` infers it from the file's extension.
    pub format: Option<Format>,
    /// Column or field names.
    pub fields: Fields,
    /// Passed to the classifier unchanged.
    pub options: ClassifyOptions,
    /// Count and report bad rows instead of stopping at the first.
    pub skip_bad_rows: bool,
    /// The split a dataset folder is read for (`test`, `validation`, ...).
    pub split: String,
}

/// The outcome of an evaluation.
#[derive(Debug, Clone)]
pub struct Evaluation {
    /// The data file.
    pub data: PathBuf,
    /// The format it was read as.
    pub format: Format,
    /// The model's labels, in `id2label` order: the order of every per-label list and of the
    /// confusion matrix's rows and columns.
    pub labels: Vec<String>,
    /// Gold/predicted counts, overall and per language.
    pub tally: Tally,
    /// Rows skipped as bad (only with `skip_bad_rows`).
    pub skipped: u64,
    /// The first [`KEPT_BAD_ROWS`] skipped rows, with their reasons.
    pub skipped_examples: Vec<BadRow>,
    /// Time spent inside [`Classifier::classify`] (tokenization and the model), excluding
    /// loading the model and reading the data.
    pub classify_time: Duration,
    /// The classification options used.
    pub options: ClassifyOptions,
    /// When the data has no languages: the rows whose language was detected from the text
    /// instead (the per-language figures are then by detected language; 0 otherwise).
    pub detected_languages: u64,
}

impl Evaluation {
    /// Texts classified per second of [`Evaluation::classify_time`] (0 when nothing was timed).
    pub fn texts_per_second(&self) -> f64 {
        let seconds = self.classify_time.as_secs_f64();
        if seconds > 0.0 {
            self.tally.overall.total() as f64 / seconds
        } else {
            0.0
        }
    }
}

/// Matches gold labels in the data to the model's labels: exactly first, then ignoring case
/// (Unicode lowercase), as long as that picks one label.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    labels: Vec<String>,
    lowercase: Vec<String>,
}

impl LabelMatcher {
    /// A matcher for the model's labels, in order.
    pub fn new(labels: &[String]) -> Self {
        Self {
            labels: labels.to_vec(),
            lowercase: labels.iter().map(|l| l.to_lowercase()).collect(),
        }
    }

    /// The index of `label` among the model's labels.
    pub fn find(&self, label: &str) -> Option<usize> {
        if let Some(i) = self.labels.iter().position(|l| l == label) {
            return Some(i);
        }
        let lower = label.to_lowercase();
        let mut hits = self
            .lowercase
            .iter()
            .enumerate()
            .filter(|(_, l)| **l == lower);
        match (hits.next(), hits.next()) {
            (Some((i, _)), None) => Some(i),
            _ => None,
        }
    }
}

/// Reads `config.data`, classifies its texts in chunks of [`CHUNK`], and tallies gold against
/// predicted labels.
///
/// Stops at the first unknown gold label (always: skipping those would quietly score a different
/// label set), at an I/O error, and at the first bad row unless `skip_bad_rows`. A file with no
/// row to evaluate is an error too, since its metrics would mean nothing.
pub fn evaluate(classifier: &Classifier, config: &EvalConfig) -> Result<Evaluation, Error> {
    let path = &config.data;
    let format = match config.format {
        Some(format) => format,
        None if path.is_dir() => Format::Dataset,
        None => Format::from_extension(path).ok_or_else(|| Error::BadData {
            path: path.clone(),
            what: "cannot tell the format from the file name (.csv, .jsonl, .ndjson or \
                   .parquet); give --format"
                .into(),
        })?,
    };
    let labels = classifier.labels().to_vec();
    let matcher = LabelMatcher::new(&labels);
    let mut run = Run {
        classifier,
        config,
        evaluation: Evaluation {
            data: path.clone(),
            format,
            labels: labels.clone(),
            tally: Tally::new(labels.len()),
            skipped: 0,
            skipped_examples: Vec::new(),
            classify_time: Duration::ZERO,
            options: config.options.clone(),
            detected_languages: 0,
        },
        detected: Tally::new(labels.len()),
        detected_count: 0,
    };
    let chunk = CHUNK.max(config.options.batch_size);
    let mut pending: Vec<(Row, usize)> = Vec::with_capacity(chunk);
    for row in data::open(path, format, &config.fields, &config.split)? {
        let row = match row? {
            Ok(row) => row,
            Err(bad) => {
                run.bad_row(bad)?;
                continue;
            }
        };
        let gold = matcher
            .find(&row.label)
            .ok_or_else(|| unknown_label(path, &row, &labels))?;
        pending.push((row, gold));
        if pending.len() == chunk {
            run.classify(&pending)?;
            pending.clear();
        }
    }
    run.classify(&pending)?;
    let mut evaluation = run.evaluation;
    // No language column (or no row with a language): per-language figures by the detected
    // language instead.
    if !evaluation.tally.has_languages() && run.detected.has_languages() {
        evaluation.tally.by_language = run.detected.by_language;
        evaluation.detected_languages = run.detected_count;
    }
    if evaluation.tally.overall.total() == 0 {
        let skipped = match evaluation.skipped {
            0 => String::new(),
            n => format!(" ({n} bad row(s) skipped)"),
        };
        return Err(Error::BadData {
            path: path.clone(),
            what: format!("no row to evaluate{skipped}"),
        });
    }
    Ok(evaluation)
}

/// The error for a gold label that is none of the model's.
pub(crate) fn unknown_label(path: &Path, row: &Row, labels: &[String]) -> Error {
    // Hugging Face datasets often store label ids; say so rather than guess a mapping, which
    // could be off by one (star ratings from 1) without any error.
    let hint = if row.label.chars().all(|c| c.is_ascii_digit()) {
        "; numbers are not read as label ids: write the label names"
    } else {
        ""
    };
    Error::UnknownLabel {
        path: path.to_path_buf(),
        line: row.line,
        label: row.label.clone(),
        labels: labels.to_vec(),
        hint,
    }
}

struct Run<'a> {
    classifier: &'a Classifier,
    config: &'a EvalConfig,
    evaluation: Evaluation,
    /// The counts by detected language, used when no row has a language in the data.
    detected: Tally,
    detected_count: u64,
}

impl Run<'_> {
    fn bad_row(&mut self, bad: BadRow) -> Result<(), Error> {
        if !self.config.skip_bad_rows {
            return Err(Error::BadRow {
                path: self.config.data.clone(),
                line: bad.line,
                reason: bad.reason,
            });
        }
        self.evaluation.skipped += 1;
        if self.evaluation.skipped_examples.len() < KEPT_BAD_ROWS {
            self.evaluation.skipped_examples.push(bad);
        }
        Ok(())
    }

    /// Classifies a chunk and counts each row; a text the classifier rejects is a bad row.
    fn classify(&mut self, rows: &[(Row, usize)]) -> Result<(), Error> {
        if rows.is_empty() {
            return Ok(());
        }
        let texts: Vec<&str> = rows.iter().map(|(r, _)| r.text.as_str()).collect();
        let options = &self.config.options;
        let start = Instant::now();
        let predictions = self
            .classifier
            .classify_each(&texts, options)
            .map_err(Error::Classify)?;
        self.evaluation.classify_time += start.elapsed();
        for ((row, gold), prediction) in rows.iter().zip(predictions) {
            match prediction {
                Ok(prediction) => {
                    let predicted = prediction.label_id;
                    self.evaluation
                        .tally
                        .add(*gold, predicted, row.language.as_deref());
                    // Kept in case the data turns out to have no language at all; once a row
                    // has one, the detected counts can no longer be used and detection stops.
                    if !self.evaluation.tally.has_languages() {
                        let detected = self.classifier.check_language(&row.text).language;
                        if detected.is_some() {
                            self.detected_count += 1;
                        }
                        self.detected.add(*gold, predicted, detected);
                    }
                }
                Err(error) => self.bad_row(BadRow {
                    line: row.line,
                    reason: format!("cannot be classified: {error}"),
                })?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_match_exactly_then_ignoring_case() {
        let labels: Vec<String> = ["negative", "Neutral", "POSITIVE", "ÉTÉ"]
            .map(String::from)
            .to_vec();
        let m = LabelMatcher::new(&labels);
        assert_eq!(m.find("negative"), Some(0));
        assert_eq!(m.find("NEGATIVE"), Some(0));
        assert_eq!(m.find("neutral"), Some(1));
        assert_eq!(m.find("Positive"), Some(2));
        assert_eq!(m.find("été"), Some(3));
        assert_eq!(m.find("pos"), None);
        assert_eq!(m.find("0"), None);

        // Two labels equal but for case: only an exact match decides.
        let labels: Vec<String> = ["yes", "YES"].map(String::from).to_vec();
        let m = LabelMatcher::new(&labels);
        assert_eq!(m.find("YES"), Some(1));
        assert_eq!(m.find("Yes"), None);
    }
}
