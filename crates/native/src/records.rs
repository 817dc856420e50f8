//! Records of a data file, shared by batch jobs and `eval`: plain lines, JSON lines, or CSV with
//! a header row, streamed in constant memory with one handling of byte-order marks, blank lines,
//! invalid UTF-8, malformed JSON and short CSV rows. What a record's fields mean (an id and a
//! text, or a labelled text) is the caller's.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{Map, Value};

use crate::formats::csv_error;
use crate::input::Lines;
use crate::Error;

/// How a file holds its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// One text per line (`\n`, a trailing `\r` removed); every line is a record, blank ones too.
    Lines,
    /// One JSON object per line. Blank lines are not records.
    Jsonl,
    /// Comma-separated values with a header row naming the columns (RFC 4180 quoting, so fields
    /// may hold commas, quotes and newlines).
    Csv,
}

/// One record as the file holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// 1-based line of the file where the record starts (a CSV record may span lines; the header
    /// is line 1).
    pub line: u64,
    /// Its content.
    pub body: Body,
}

/// A record's content.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// A plain line: its text, or why it is not text.
    Line(Result<String, String>),
    /// A JSON line's object.
    Object(Map<String, Value>),
    /// A CSV record's fields, in column order; find a column with [`Records::column`] and read
    /// it with [`csv_field`].
    Csv(csv::ByteRecord),
    /// A JSON line that is not an object of valid UTF-8 JSON: why.
    Bad(String),
}

/// A stream of records that can also skip raw units (lines, or CSV records) without parsing
/// them, which is how a restarted batch job passes over what it already wrote.
pub struct Records {
    kind: Kind,
    /// Raw units (lines, CSV records) read so far, records or not (blank JSONL lines count).
    units: u64,
    bytes: Arc<AtomicU64>,
    path: PathBuf,
}

enum Kind {
    Lines(Lines<BufReader<CountingReader>>),
    Jsonl(Lines<BufReader<CountingReader>>),
    Csv {
        reader: csv::Reader<CountingReader>,
        /// The header row, each name trimmed.
        headers: Vec<String>,
    },
}

impl Records {
    /// Opens `path` (`-` for standard input). For CSV the header row is read now, so a missing
    /// column is an error before any work is done.
    pub fn open(path: &Path, layout: Layout) -> Result<Self, Error> {
        let inner: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            Box::new(std::fs::File::open(path).map_err(|error| io_error(path, error))?)
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let counting = CountingReader {
            inner,
            bytes: bytes.clone(),
        };
        let kind = match layout {
            Layout::Lines => Kind::Lines(Lines::new(BufReader::new(counting))),
            Layout::Jsonl => Kind::Jsonl(Lines::new(BufReader::new(counting))),
            Layout::Csv => {
                // flexible: a short or long record becomes a bad row of ours, not a reader error.
                let mut reader = csv::ReaderBuilder::new()
                    .flexible(true)
                    .from_reader(counting);
                let headers = reader
                    .byte_headers()
                    .map_err(|e| csv_error(path, e))?
                    .iter()
                    .map(|h| String::from_utf8_lossy(h).trim().to_owned())
                    .collect();
                Kind::Csv { reader, headers }
            }
        };
        Ok(Self {
            kind,
            units: 0,
            bytes,
            path: path.to_path_buf(),
        })
    }

    /// The index of a CSV column by its name (compared after trimming spaces); `None` for a
    /// file without it, or one that is not CSV.
    pub fn column(&self, name: &str) -> Option<usize> {
        match &self.kind {
            Kind::Csv { headers, .. } => headers.iter().position(|h| h == name),
            _ => None,
        }
    }

    /// The index of a CSV column that must be there, or the error naming the columns there are.
    pub fn required_column(&self, name: &str) -> Result<usize, Error> {
        self.column(name).ok_or_else(|| {
            let headers = match &self.kind {
                Kind::Csv { headers, .. } => headers.join(", "),
                _ => String::new(),
            };
            Error::BadData {
                path: self.path.clone(),
                what: format!("no `{name}` column in the header row (its columns: {headers})"),
            }
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
        let mut record = csv::ByteRecord::new();
        while self.units < n {
            let path = &self.path;
            let more = match &mut self.kind {
                Kind::Lines(lines) | Kind::Jsonl(lines) => lines
                    .next()
                    .transpose()
                    .map_err(|error| io_error(path, error))?
                    .is_some(),
                Kind::Csv { reader, .. } => reader
                    .read_byte_record(&mut record)
                    .map_err(|e| csv_error(path, e))?,
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

    /// The next record; `None` at the end. An `Err` is a read failure that ends reading.
    pub fn next_record(&mut self) -> Option<Result<Record, Error>> {
        loop {
            let (lines, json) = match &mut self.kind {
                Kind::Lines(lines) => (lines, false),
                Kind::Jsonl(lines) => (lines, true),
                Kind::Csv { reader, .. } => {
                    let mut record = csv::ByteRecord::new();
                    match reader.read_byte_record(&mut record) {
                        Ok(false) => return None,
                        Ok(true) => {}
                        Err(e) => return Some(Err(csv_error(&self.path, e))),
                    }
                    self.units += 1;
                    let line = record.position().map_or(0, |p| p.line());
                    return Some(Ok(Record {
                        line,
                        body: Body::Csv(record),
                    }));
                }
            };
            let line = match lines.next()? {
                Ok(line) => line,
                Err(error) => return Some(Err(io_error(&self.path, error))),
            };
            self.units += 1;
            let number = line.number as u64;
            if !json {
                return Some(Ok(Record {
                    line: number,
                    body: Body::Line(line.text),
                }));
            }
            if let Some(body) = json_body(line.text) {
                return Some(Ok(Record { line: number, body }));
            }
        }
    }
}

fn io_error(path: &Path, error: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// A JSON line's body; `None` for a blank line.
fn json_body(text: Result<String, String>) -> Option<Body> {
    let Ok(text) = text else {
        return Some(Body::Bad("not valid UTF-8".into()));
    };
    // A byte-order mark some editors write; not part of the JSON.
    let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
    // Blank lines (a trailing newline, spacing) are not records.
    if text.trim().is_empty() {
        return None;
    }
    Some(match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(object)) => Body::Object(object),
        Ok(_) => Body::Bad("not a JSON object".into()),
        Err(e) => Body::Bad(format!("not valid JSON ({e})")),
    })
}

/// A CSV record's field `index` (the column `name`) as text: `None` when the record is too short
/// to have it, an error when it is not valid UTF-8.
pub fn csv_field(
    record: &csv::ByteRecord,
    index: usize,
    name: &str,
) -> Option<Result<String, String>> {
    record.get(index).map(|bytes| {
        String::from_utf8(bytes.to_vec()).map_err(|e| {
            format!(
                "`{name}` is not valid UTF-8 (byte {})",
                e.utf8_error().valid_up_to()
            )
        })
    })
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
