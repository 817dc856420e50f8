//! Records of a data file, shared by batch jobs and `eval`: plain lines, JSON lines, or CSV with
//! a header row, streamed in constant memory with one handling of byte-order marks, blank lines,
//! invalid UTF-8, malformed JSON and short CSV rows. What a record's fields mean (an id and a
//! text, or a labelled text) is the caller's.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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
        /// The line breaks read, to number the records.
        breaks: Arc<Mutex<LineBreaks>>,
    },
}

impl Records {
    /// Opens `path` (`-` for standard input). For CSV the header row is read now, so a missing
    /// column is an error before any work is done.
    pub fn open(path: &Path, layout: Layout) -> Result<Self, Error> {
        Self::open_prefix(path, layout, None)
    }

    /// Like [`Records::open`], reading at most the first `len` bytes of a file: a batch job
    /// reads the input as it was when the job started, not lines appended while it runs.
    pub fn open_prefix(path: &Path, layout: Layout, len: Option<u64>) -> Result<Self, Error> {
        let inner: Box<dyn Read + Send> = if path.as_os_str() == "-" {
            Box::new(std::io::stdin())
        } else {
            let file = std::fs::File::open(path).map_err(|error| io_error(path, error))?;
            match len {
                Some(len) => Box::new(file.take(len)),
                None => Box::new(file),
            }
        };
        let bytes = Arc::new(AtomicU64::new(0));
        let breaks = Arc::new(Mutex::new(LineBreaks::default()));
        let counting = CountingReader {
            inner,
            bytes: bytes.clone(),
            breaks: (layout == Layout::Csv).then(|| breaks.clone()),
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
                Kind::Csv {
                    reader,
                    headers,
                    breaks,
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
                Kind::Csv { reader, breaks, .. } => {
                    let more = reader
                        .read_byte_record(&mut record)
                        .map_err(|e| csv_error(path, e))?;
                    // Passes over the skipped record's line breaks.
                    csv_line(breaks, &record);
                    more
                }
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
                Kind::Csv { reader, breaks, .. } => {
                    let mut record = csv::ByteRecord::new();
                    match reader.read_byte_record(&mut record) {
                        Ok(false) => return None,
                        Ok(true) => {}
                        Err(e) => return Some(Err(csv_error(&self.path, e))),
                    }
                    self.units += 1;
                    let line = csv_line(breaks, &record);
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

/// Counts the bytes taken from the file, for the progress bar, and notes a CSV file's line
/// breaks.
struct CountingReader {
    inner: Box<dyn Read + Send>,
    bytes: Arc<AtomicU64>,
    breaks: Option<Arc<Mutex<LineBreaks>>>,
}

impl Read for CountingReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(breaks) = &self.breaks {
            breaks.lock().expect("not poisoned").scan(&buf[..n]);
        }
        Ok(n)
    }
}

/// The 1-based line where a CSV record starts.
fn csv_line(breaks: &Mutex<LineBreaks>, record: &csv::ByteRecord) -> u64 {
    let start = record.position().map_or(0, |p| p.byte());
    breaks.lock().expect("not poisoned").line_of(start)
}

/// The CR and LF bytes read that no record has passed yet, to number CSV records by line: the
/// csv crate's own count is off after a CRLF and after blank lines (a record after `\r\n` is
/// put on the line before, one after two blank lines two lines early; found by the
/// `batch_readers` fuzz target). Holds at most the breaks of the reader's buffer and of one
/// record.
#[derive(Debug, Default)]
struct LineBreaks {
    pending: std::collections::VecDeque<(u64, u8)>,
    /// Line breaks (LF, CRLF or a lone CR) before the first pending byte.
    lines_before: u64,
    /// Bytes scanned so far.
    offset: u64,
}

impl LineBreaks {
    fn scan(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                self.pending.push_back((self.offset + i as u64, b));
            }
        }
        self.offset += bytes.len() as u64;
    }

    /// The line of a record whose span, as the csv crate reports it, starts at byte `start`:
    /// the span may begin with the line breaks (the end of a CRLF, blank lines) before the
    /// record's first byte.
    fn line_of(&mut self, start: u64) -> u64 {
        // The breaks before the span, then those it starts with (contiguous from `start`).
        let mut next = start;
        while let Some(&(at, b)) = self.pending.front() {
            if at > next {
                break;
            }
            if at == next {
                next += 1;
            }
            self.pending.pop_front();
            // LF ends a line, and so does a CR alone (the csv crate ends a record there too);
            // the byte after a CR was read before any record after it.
            let lone_cr = b == b'\r'
                && self
                    .pending
                    .front()
                    .is_none_or(|&(after, c)| (after, c) != (at + 1, b'\n'));
            if b == b'\n' || lone_cr {
                self.lines_before += 1;
            }
        }
        self.lines_before + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines of a CSV file's records, as `Records` numbers them.
    fn lines(csv: &[u8]) -> Vec<u64> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, csv).unwrap();
        let mut records = Records::open(&path, Layout::Csv).unwrap();
        std::iter::from_fn(|| records.next_record())
            .map(|r| r.unwrap().line)
            .collect()
    }

    #[test]
    fn csv_records_are_numbered_by_the_line_they_start_on() {
        assert_eq!(lines(b"id,text\n1,a\n2,b\n"), [2, 3]);
        // CRLF: the csv crate alone says 1, 2, 3.
        assert_eq!(lines(b"id,text\r\n1,a\r\n2,b\r\n3,c\r\n"), [2, 3, 4]);
        // Blank lines: the csv crate alone says 2, 3, 5.
        assert_eq!(lines(b"id,text\n1,a\n\n2,b\n\n\n3,c\n"), [2, 4, 7]);
        assert_eq!(lines(b"id,text\r\n1,a\r\n\r\n2,b"), [2, 4]);
        // A quoted field over three lines, then a lone CR (old Mac files) as a line break.
        assert_eq!(lines(b"id,text\n1,\"a\nb\r\nc\"\n2,d\r3,e\n"), [2, 5, 6]);
        assert_eq!(lines(b"id,text\r1,a\r\r2,b"), [2, 4]);
    }

    #[test]
    fn skipping_csv_records_keeps_the_numbering() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, b"id,text\r\n1,a\r\n\r\n2,b\r\n3,\"x\ny\"\n4,d\n").unwrap();
        let mut records = Records::open(&path, Layout::Csv).unwrap();
        records.skip(2).unwrap();
        let rest: Vec<u64> = std::iter::from_fn(|| records.next_record())
            .map(|r| r.unwrap().line)
            .collect();
        assert_eq!(rest, [5, 7]);
    }
}
