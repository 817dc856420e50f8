//! Output rows of a batch job, JSON lines or CSV, rendered a chunk at a time into memory so the
//! job can append a chunk to the file in one write and checkpoint after it.

use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use xlmr_sentiment_core::{Prediction, PredictionRecord, TopK};

use crate::formats::FileFormat;
use crate::output::Line;

/// The `id` key of a JSON output row.
#[derive(Serialize)]
struct IdKey<'a> {
    id: &'a Value,
}

/// The layout of the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    /// One JSON object per input record.
    Jsonl,
    /// A header row, then one row per input record.
    Csv,
}

impl FileFormat for OutputFormat {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("jsonl", Self::Jsonl),
        ("ndjson", Self::Jsonl),
        ("csv", Self::Csv),
    ];
    const OF: &'static str = "output";
    const CHOICES: &'static str = "jsonl or csv";
}

impl OutputFormat {
    /// The format a file name implies: `.csv` (any case), else JSON lines.
    pub fn from_path(path: &Path) -> Self {
        Self::from_extension(path).unwrap_or(Self::Jsonl)
    }
}

/// The result for one input record: its prediction, or why there is none.
pub type Outcome<'a> = Result<&'a Prediction, &'a str>;

/// Renders output rows.
#[derive(Debug, Clone)]
pub struct RowWriter {
    format: OutputFormat,
    labels: Vec<String>,
    top_k: TopK,
    language: bool,
}

impl RowWriter {
    /// A writer for a model with these labels (CSV has a score column per label, in this order);
    /// `top_k` limits the JSON `scores` object to the k highest labels.
    pub fn new(format: OutputFormat, labels: &[String], top_k: Option<usize>) -> Self {
        Self {
            format,
            labels: labels.to_vec(),
            top_k: crate::output::top_k(top_k),
            language: false,
        }
    }

    /// With `language`, rows also carry `language` and `language_supported` (JSON fields, or
    /// CSV columns before `error`; empty where unknown).
    pub fn with_language(mut self, language: bool) -> Self {
        self.language = language;
        self
    }

    /// The bytes that start a new output file: the CSV header row, nothing for JSON lines.
    pub fn header(&self) -> Vec<u8> {
        match self.format {
            OutputFormat::Jsonl => Vec::new(),
            OutputFormat::Csv => {
                let mut columns = vec!["id".to_owned(), "label".into(), "score".into()];
                // Prefixed so a label named `id` or `error` cannot collide with a fixed column.
                columns.extend(self.labels.iter().map(|l| format!("score_{l}")));
                columns.push("truncated".into());
                if self.language {
                    columns.extend(["language".into(), "language_supported".into()]);
                }
                columns.push("error".into());
                csv_row(&columns)
            }
        }
    }

    /// Appends the row for record `id` (at 1-based `line`) to `out`.
    pub fn row(&self, out: &mut Vec<u8>, id: &Value, line: u64, outcome: Outcome<'_>) {
        match self.format {
            OutputFormat::Jsonl => {
                let key = IdKey { id };
                let value = match outcome {
                    Ok(p) => Line::Prediction {
                        key,
                        record: PredictionRecord::new(p, self.top_k),
                    },
                    Err(error) => Line::Error {
                        key: Some(key),
                        line,
                        error,
                    },
                };
                serde_json::to_writer(&mut *out, &value).expect("writing to memory");
                out.push(b'\n');
            }
            OutputFormat::Csv => {
                let id = match id {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let mut fields = vec![id];
                match outcome {
                    Ok(p) => {
                        fields.push(p.label.clone());
                        fields.push(p.score.to_string());
                        // Every label, in the model's order, whatever --top-k says: columns are
                        // fixed by the header.
                        fields.extend(self.labels.iter().map(|label| {
                            p.scores
                                .iter()
                                .find(|s| &s.label == label)
                                .map_or(String::new(), |s| s.score.to_string())
                        }));
                        fields.push(p.truncated.to_string());
                        if self.language {
                            let check = p.language.as_ref();
                            fields.push(
                                check
                                    .and_then(|c| c.language)
                                    .unwrap_or_default()
                                    .to_string(),
                            );
                            fields.push(
                                check
                                    .and_then(|c| c.language_supported)
                                    .map_or(String::new(), |s| s.to_string()),
                            );
                        }
                        fields.push(String::new());
                    }
                    Err(error) => {
                        let empty = self.labels.len() + 3 + if self.language { 2 } else { 0 };
                        fields.extend(std::iter::repeat_n(String::new(), empty));
                        fields.push(format!("line {line}: {error}"));
                    }
                }
                out.extend(csv_row(&fields));
            }
        }
    }
}

fn csv_row(fields: &[String]) -> Vec<u8> {
    // A small buffer: one row at a time, not the 8 KiB default per row.
    let mut writer = csv::WriterBuilder::new()
        .buffer_capacity(256)
        .from_writer(Vec::new());
    writer.write_record(fields).expect("writing to memory");
    writer.into_inner().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_from_path_and_name() {
        assert_eq!(
            OutputFormat::from_path(Path::new("a.CSV")),
            OutputFormat::Csv
        );
        assert_eq!(
            OutputFormat::from_path(Path::new("a.txt")),
            OutputFormat::Jsonl
        );
        assert_eq!(OutputFormat::from_name("NDJSON"), Ok(OutputFormat::Jsonl));
        let names = [OutputFormat::Jsonl, OutputFormat::Csv].map(OutputFormat::name);
        assert_eq!(names, ["jsonl", "csv"]);
    }
}
