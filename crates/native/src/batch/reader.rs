//! The input of a batch job as a stream of records (read by [`crate::records`]): plain lines,
//! JSON lines or CSV, each record with its id and its text, or the reason it has no usable text.

use std::path::Path;

use serde_json::Value;

use crate::formats::FileFormat;
use crate::records::{csv_field, Body, Layout, Records};
use crate::Error;

/// The layout of the input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One text per line (`\n`, a trailing `\r` removed); every line is a record, blank ones too.
    Lines,
    /// One JSON object per line; the text is a field. Blank lines are not records.
    Jsonl,
    /// Comma-separated values with a header row; the text is a column.
    Csv,
}

impl FileFormat for InputFormat {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("lines", Self::Lines),
        ("txt", Self::Lines),
        ("jsonl", Self::Jsonl),
        ("ndjson", Self::Jsonl),
        ("csv", Self::Csv),
    ];
    const OF: &'static str = "input";
    const CHOICES: &'static str = "lines, jsonl or csv";
}

impl InputFormat {
    /// The format a file name implies: `.jsonl`/`.ndjson`, `.csv` (any case), else lines.
    pub fn from_path(path: &Path) -> Self {
        Self::from_extension(path).unwrap_or(Self::Lines)
    }

    fn layout(self) -> Layout {
        match self {
            Self::Lines => Layout::Lines,
            Self::Jsonl => Layout::Jsonl,
            Self::Csv => Layout::Csv,
        }
    }
}

/// Where the text and the id of a record are (JSONL fields or CSV columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The field or column holding the text.
    pub text: String,
    /// The field or column holding the id; `None`: the record's line number is its id.
    pub id: Option<String>,
}

/// One input record.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line of the file where the record starts (a CSV record may span lines; the header
    /// is line 1).
    pub line: u64,
    /// The id to write with the result: the id field's value, or the line number.
    pub id: Value,
    /// The text, or why the record has none (invalid UTF-8, malformed JSON, a missing field).
    pub text: Result<String, String>,
}

/// A batch job's records over [`Records`]: each with its id and text.
pub struct Reader {
    records: Records,
    fields: Fields,
    /// CSV: the text column and the id column.
    columns: Option<(usize, Option<usize>)>,
}

impl Reader {
    /// Opens `path` (`-` for standard input). For CSV the header row is read now, so a missing
    /// column is an error before any work is done.
    pub fn open(path: &Path, format: InputFormat, fields: &Fields) -> Result<Self, Error> {
        Self::open_prefix(path, format, fields, None)
    }

    /// Like [`Reader::open`], reading at most the first `len` bytes (the input's size when the
    /// job started).
    pub fn open_prefix(
        path: &Path,
        format: InputFormat,
        fields: &Fields,
        len: Option<u64>,
    ) -> Result<Self, Error> {
        let records = Records::open_prefix(path, format.layout(), len)?;
        let columns = match format {
            InputFormat::Csv => Some((
                records.required_column(&fields.text)?,
                fields
                    .id
                    .as_deref()
                    .map(|id| records.required_column(id))
                    .transpose()?,
            )),
            _ => None,
        };
        Ok(Self {
            records,
            fields: fields.clone(),
            columns,
        })
    }

    /// Raw units consumed so far: lines (lines, JSONL) or data records (CSV).
    pub fn units(&self) -> u64 {
        self.records.units()
    }

    /// Bytes taken from the file so far: progress, not a position.
    pub fn bytes_read(&self) -> u64 {
        self.records.bytes_read()
    }

    /// Passes over `n` raw units without parsing them; fails if the input has fewer.
    pub fn skip(&mut self, n: u64) -> Result<(), Error> {
        self.records.skip(n)
    }

    /// The next record; `None` at the end. An `Err` is a read failure that ends the job.
    pub fn next_record(&mut self) -> Option<Result<Record, Error>> {
        let raw = match self.records.next_record()? {
            Ok(raw) => raw,
            Err(e) => return Some(Err(e)),
        };
        let line = raw.line;
        let bad = |id: Value, reason: String| Record {
            line,
            id,
            text: Err(reason),
        };
        Some(Ok(match raw.body {
            Body::Line(text) => Record {
                line,
                id: Value::from(line),
                text,
            },
            Body::Bad(reason) => bad(line.into(), reason),
            Body::Object(object) => {
                let fields = &self.fields;
                let id = match &fields.id {
                    None => Value::from(line),
                    Some(name) => match object.get(name) {
                        Some(v) if !v.is_null() => v.clone(),
                        _ => return Some(Ok(bad(line.into(), format!("no `{name}` field")))),
                    },
                };
                let text = match object.get(&fields.text) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(Value::Null) | None => Err(format!("no `{}` field", fields.text)),
                    Some(_) => Err(format!("`{}` is not a string", fields.text)),
                };
                Record { line, id, text }
            }
            Body::Csv(record) => {
                let (text, id) = self.columns.expect("CSV columns found at open");
                let field = |index: usize, name: &str| {
                    csv_field(&record, index, name).unwrap_or_else(|| {
                        Err(format!("no `{name}` field ({} fields)", record.len()))
                    })
                };
                let id = match (id, &self.fields.id) {
                    (Some(index), Some(name)) => match field(index, name) {
                        Ok(id) => Value::from(id),
                        Err(reason) => return Some(Ok(bad(line.into(), reason))),
                    },
                    _ => Value::from(line),
                };
                Record {
                    line,
                    id,
                    text: field(text, &self.fields.text),
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records(format: InputFormat, data: &[u8], fields: &Fields) -> Vec<Record> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("input");
        std::fs::write(&path, data).unwrap();
        let mut reader = Reader::open(&path, format, fields).unwrap();
        std::iter::from_fn(|| reader.next_record())
            .map(Result::unwrap)
            .collect()
    }

    fn fields(id: Option<&str>) -> Fields {
        Fields {
            text: "text".into(),
            id: id.map(Into::into),
        }
    }

    #[test]
    fn jsonl_ids_blank_lines_and_bad_rows() {
        let data =
            b"{\"text\": \"a\", \"id\": \"x1\"}\n\n{\"id\": 7}\n{oops\n\xff\n{\"text\": \"b\"}\n";
        let got = records(InputFormat::Jsonl, data, &fields(Some("id")));
        assert_eq!(got.len(), 5);
        assert_eq!((got[0].line, &got[0].id), (1, &Value::from("x1")));
        assert_eq!(got[0].text, Ok("a".into()));
        assert_eq!(got[1].id, Value::from(7));
        assert_eq!(got[1].text, Err("no `text` field".into()));
        assert!(got[2]
            .text
            .as_ref()
            .unwrap_err()
            .starts_with("not valid JSON"));
        assert_eq!(got[3].text, Err("not valid UTF-8".into()));
        assert_eq!(got[4].text, Err("no `id` field".into()));
        assert_eq!(
            got[4].id,
            Value::from(6),
            "without its id, a row is named by line"
        );
    }

    #[test]
    fn csv_ids_and_skip() {
        let data = b"id,text\na,\"one, \"\"quoted\"\"\nline\"\nb,two\nc\n";
        let got = records(InputFormat::Csv, data, &fields(Some("id")));
        assert_eq!(got[0].text, Ok("one, \"quoted\"\nline".into()));
        assert_eq!((got[1].line, &got[1].id), (4, &Value::from("b")));
        assert!(got[2].text.is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, data).unwrap();
        let mut reader = Reader::open(&path, InputFormat::Csv, &fields(None)).unwrap();
        reader.skip(2).unwrap();
        let next = reader.next_record().unwrap().unwrap();
        assert_eq!((next.line, next.id), (5, Value::from(5)));
        assert!(reader.skip(9).is_err());
        assert!(Reader::open(&path, InputFormat::Csv, &fields(Some("key"))).is_err());
    }

    #[test]
    fn format_from_path() {
        assert_eq!(
            InputFormat::from_path(Path::new("a.NDJSON")),
            InputFormat::Jsonl
        );
        assert_eq!(InputFormat::from_path(Path::new("a.csv")), InputFormat::Csv);
        assert_eq!(
            InputFormat::from_path(Path::new("a.txt")),
            InputFormat::Lines
        );
        let names =
            [InputFormat::Lines, InputFormat::Jsonl, InputFormat::Csv].map(InputFormat::name);
        assert_eq!(names, ["lines", "jsonl", "csv"]);
        assert_eq!(
            InputFormat::from_name("tsv"),
            Err("unknown input format `tsv` (lines, jsonl or csv)".into())
        );
    }
}
