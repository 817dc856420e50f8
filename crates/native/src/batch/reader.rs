//! The input of a batch job as a stream of records: plain lines, JSON lines or CSV, each record
//! with its id and its text, or the reason it has no usable text.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::Value;

use crate::formats::{csv_error, FileFormat};
use crate::input::Lines;
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

/// A stream of records that can also skip raw input units (lines, or CSV records) without
/// parsing them, which is how a restarted job passes over what it already wrote.
pub struct Reader {
    kind: Kind,
    /// Raw units (lines, CSV records) read so far, records or not (blank JSONL lines count).
    units: u64,
    bytes: Arc<AtomicU64>,
    path: PathBuf,
}

enum Kind {
    Lines(Lines<BufReader<CountingReader>>),
    Jsonl(Lines<BufReader<CountingReader>>, Fields),
    Csv {
        reader: csv::Reader<CountingReader>,
        record: csv::ByteRecord,
        text: usize,
        id: Option<usize>,
        fields: Fields,
    },
}

impl Reader {
    /// Opens `path` (`-` for standard input). For CSV the header row is read now, so a missing
    /// column is an error before any work is done.
    pub fn open(path: &Path, format: InputFormat, fields: &Fields) -> Result<Self, Error> {
        let io = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let inner: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(io)?)
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let counting = CountingReader {
            inner,
            bytes: bytes.clone(),
        };
        let kind = match format {
            InputFormat::Lines => Kind::Lines(Lines::new(BufReader::new(counting))),
            InputFormat::Jsonl => Kind::Jsonl(Lines::new(BufReader::new(counting)), fields.clone()),
            InputFormat::Csv => {
                // flexible: a short record becomes a bad row of ours, not a reader error.
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .from_reader(counting);
                let headers: Vec<String> = reader
                    .byte_headers()
                    .map_err(|e| csv_error(path, e))?
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                    .collect();
                let find = |name: &str| {
                    headers
                        .iter()
                        .position(|h| h == name)
                        .ok_or_else(|| Error::BadData {
                            path: path.to_path_buf(),
                            what: format!(
                                "no `{name}` column in the header row (its columns: {})",
                                headers.join(", ")
                            ),
                        })
                };
                let text = find(&fields.text)?;
                let id = fields.id.as_deref().map(find).transpose()?;
                Kind::Csv {
                    reader,
                    record: csv::ByteRecord::new(),
                    text,
                    id,
                    fields: fields.clone(),
                }
            }
        };
        Ok(Self {
            kind,
            units: 0,
            bytes,
            path: path.to_path_buf(),
        })
    }

    /// Raw units consumed so far: lines (lines, JSONL) or data records (CSV).
    pub fn units(&self) -> u64 {
        self.units
    }

    /// Bytes taken from the file so far (read ahead by the buffer, so a little past the last
    /// record): progress, not a position.
    pub fn bytes_read(&self) -> u64 {
        self.bytes.load(Ordering::Relaxed)
    }

    /// Passes over `n` raw units without parsing them; fails if the input has fewer.
    pub fn skip(&mut self, n: u64) -> Result<(), Error> {
        while self.units < n {
            let more = match &mut self.kind {
                Kind::Lines(lines) | Kind::Jsonl(lines, _) => lines
                    .next()
                    .transpose()
                    .map_err(|error| self.io(error))?
                    .is_some(),
                Kind::Csv { reader, record, .. } => reader
                    .read_byte_record(record)
                    .map_err(|e| csv_error(&self.path, e))?,
            };
            if !more {
                return Err(Error::BadData {
                    path: self.path.clone(),
                    what: format!(
                        "the checkpoint says {n} rows were done but the input has only {}",
                        self.units
                    ),
                });
            }
            self.units += 1;
        }
        Ok(())
    }

    /// The next record; `None` at the end. An `Err` is a read failure that ends the job.
    pub fn next_record(&mut self) -> Option<Result<Record, Error>> {
        loop {
            match &mut self.kind {
                Kind::Lines(lines) => {
                    let line = match lines.next()? {
                        Ok(line) => line,
                        Err(error) => return Some(Err(self.io(error))),
                    };
                    self.units += 1;
                    return Some(Ok(Record {
                        line: line.number as u64,
                        id: Value::from(line.number),
                        text: line.text,
                    }));
                }
                Kind::Jsonl(lines, fields) => {
                    let line = match lines.next()? {
                        Ok(line) => line,
                        Err(error) => return Some(Err(self.io(error))),
                    };
                    self.units += 1;
                    if let Some(record) = json_record(line.number as u64, line.text, fields) {
                        return Some(Ok(record));
                    }
                }
                Kind::Csv {
                    reader,
                    record,
                    text,
                    id,
                    fields,
                } => {
                    match reader.read_byte_record(record) {
                        Ok(false) => return None,
                        Ok(true) => {}
                        Err(e) => return Some(Err(csv_error(&self.path, e))),
                    }
                    self.units += 1;
                    let line = record.position().map_or(0, |p| p.line());
                    return Some(Ok(csv_record(line, record, *text, *id, fields)));
                }
            }
        }
    }

    fn io(&self, error: std::io::Error) -> Error {
        Error::Io {
            path: self.path.clone(),
            error,
        }
    }
}

/// A JSONL line as a record; `None` for a blank line.
fn json_record(line: u64, text: Result<String, String>, fields: &Fields) -> Option<Record> {
    let bad = |id: Value, reason: String| Record {
        line,
        id,
        text: Err(reason),
    };
    let text = match text {
        Ok(text) => text,
        Err(_) => return Some(bad(line.into(), "not valid UTF-8".into())),
    };
    // A byte-order mark some editors write; not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    if text.trim().is_empty() {
        return None;
    }
    let object = match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => object,
        Ok(_) => return Some(bad(line.into(), "not a JSON object".into())),
        Err(e) => return Some(bad(line.into(), format!("not valid JSON ({e})"))),
    };
    let id = match &fields.id {
        None => Value::from(line),
        Some(name) => match object.get(name) {
            Some(v) if !v.is_null() => v.clone(),
            _ => return Some(bad(line.into(), format!("no `{name}` field"))),
        },
    };
    let text = match object.get(&fields.text) {
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Null) | None => Err(format!("no `{}` field", fields.text)),
        Some(_) => Err(format!("`{}` is not a string", fields.text)),
    };
    Some(Record { line, id, text })
}

fn csv_record(
    line: u64,
    record: &csv::ByteRecord,
    text: usize,
    id: Option<usize>,
    fields: &Fields,
) -> Record {
    let field = |index: usize, name: &str| -> Result<String, String> {
        let bytes = record
            .get(index)
            .ok_or_else(|| format!("no `{name}` field ({} fields)", record.len()))?;
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            format!(
                "`{name}` is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })
    };
    let id = match (id, &fields.id) {
        (Some(index), Some(name)) => match field(index, name) {
            Ok(id) => Value::from(id),
            Err(reason) => {
                return Record {
                    line,
                    id: line.into(),
                    text: Err(reason),
                }
            }
        },
        _ => Value::from(line),
    };
    Record {
        line,
        id,
        text: field(text, &fields.text),
    }
}

/// Counts the bytes taken from the file, for the progress bar.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    bytes: Arc<AtomicU64>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
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
