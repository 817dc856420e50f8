//! Labelled data for `eval`: CSV (with a header row) or JSON lines, read as a stream of rows,
//! each with a text, a gold label and optionally a language.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::formats::{csv_error, FileFormat};
use crate::input::Lines;
use crate::Error;

/// The layout of a data file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Comma-separated values with a header row naming the columns (RFC 4180 quoting, so fields
    /// may hold commas, quotes and newlines).
    Csv,
    /// One JSON object per line.
    Jsonl,
}

/// `--format` and the JSON report name a format; `.csv`, `.jsonl` and `.ndjson` (any case)
/// imply one.
impl FileFormat for Format {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("csv", Self::Csv),
        ("jsonl", Self::Jsonl),
        ("ndjson", Self::Jsonl),
    ];
    const OF: &'static str = "data";
    const CHOICES: &'static str = "csv or jsonl";
}

/// Which columns (CSV) or object fields (JSON lines) hold what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    /// The text to classify.
    pub text: String,
    /// The gold label.
    pub label: String,
    /// The language, for the per-language breakdown.
    pub language: String,
    /// Whether a CSV file without the language column is an error (the user named the column)
    /// rather than a file with no languages (the default name, absent).
    pub language_required: bool,
}

impl Default for Fields {
    fn default() -> Self {
        Self {
            text: "text".into(),
            label: "label".into(),
            language: "language".into(),
            language_required: false,
        }
    }
}

/// One labelled text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// 1-based line of the file where the row starts (a CSV record may span lines; the header
    /// is line 1).
    pub line: u64,
    /// The text, as written.
    pub text: String,
    /// The gold label, surrounding whitespace removed; never empty.
    pub label: String,
    /// The language, surrounding whitespace removed; `None` when missing or empty.
    pub language: Option<String>,
}

/// A row that cannot be evaluated: a field is missing or of the wrong type, a line is not valid
/// UTF-8 or not a JSON object, or its text could not be classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// What is wrong, in words.
    pub reason: String,
}

/// Each item: `Err` for a failure that ends reading (I/O); `Ok(Err)` for a bad row, after which
/// reading can go on.
pub type Rows = Box<dyn Iterator<Item = Result<Result<Row, BadRow>, Error>>>;

/// Opens `path` (`-` for standard input) as `format` and returns its rows lazily, so a file of
/// any size streams through in constant memory.
pub fn open(path: &Path, format: Format, fields: &Fields) -> Result<Rows, Error> {
    let io_error = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let reader: Box<dyn Read> = if path.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(path).map_err(io_error)?)
    };
    match format {
        Format::Jsonl => Ok(Box::new(JsonRows {
            lines: Lines::new(Box::new(BufReader::new(reader))),
            fields: fields.clone(),
            path: path.to_path_buf(),
        })),
        Format::Csv => Ok(Box::new(CsvRows::new(reader, fields, path)?)),
    }
}

struct JsonRows {
    lines: Lines<Box<dyn BufRead>>,
    fields: Fields,
    path: PathBuf,
}

impl Iterator for JsonRows {
    type Item = Result<Result<Row, BadRow>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let line = match self.lines.next()? {
                Ok(line) => line,
                Err(error) => {
                    return Some(Err(Error::Io {
                        path: self.path.clone(),
                        error,
                    }))
                }
            };
            let number = line.number as u64;
            let bad = |reason: String| {
                Some(Ok(Err(BadRow {
                    line: number,
                    reason,
                })))
            };
            let text = match line.text {
                Ok(text) => text,
                Err(_) => return bad("not valid UTF-8".into()),
            };
            // A byte-order mark some editors write; not part of the JSON.
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            // Blank lines (a trailing newline, spacing) are not rows.
            if text.trim().is_empty() {
                continue;
            }
            let object = match serde_json::from_str::<Value>(text) {
                Ok(Value::Object(object)) => object,
                Ok(_) => return bad("not a JSON object".into()),
                Err(e) => return bad(format!("not valid JSON ({e})")),
            };
            let f = &self.fields;
            let field = |name: &str| object.get(name).filter(|v| !v.is_null());
            let text = match field(&f.text) {
                Some(Value::String(s)) => s.clone(),
                Some(_) => return bad(format!("`{}` is not a string", f.text)),
                None => return bad(format!("no `{}` field", f.text)),
            };
            let label = match field(&f.label) {
                Some(Value::String(s)) => s.trim().to_owned(),
                // A number is taken as written, so `2` reaches label matching as "2" and its
                // error explains that labels are names.
                Some(Value::Number(n)) => n.to_string(),
                Some(_) => return bad(format!("`{}` is not a string", f.label)),
                None => String::new(),
            };
            if label.is_empty() {
                return bad(format!("no `{}` field", f.label));
            }
            let language = match field(&f.language) {
                Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
                Some(_) => return bad(format!("`{}` is not a string", f.language)),
                None => None,
            };
            return Some(Ok(Ok(Row {
                line: number,
                text,
                label,
                language,
            })));
        }
    }
}

struct CsvRows {
    reader: csv::Reader<Box<dyn Read>>,
    record: csv::ByteRecord,
    path: PathBuf,
    fields: Fields,
    text: usize,
    label: usize,
    language: Option<usize>,
}

impl CsvRows {
    /// Reads the header row and finds the columns (names compared after trimming spaces).
    fn new(reader: Box<dyn Read>, fields: &Fields, path: &Path) -> Result<Self, Error> {
        // flexible: a short or long record becomes a bad row of ours, not a reader error.
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(reader);
        let headers: Vec<String> = reader
            .byte_headers()
            .map_err(|e| csv_error(path, e))?
            .iter()
            .map(|h| String::from_utf8_lossy(h).trim().to_owned())
            .collect();
        let find = |name: &str| headers.iter().position(|h| h == name);
        let missing = |name: &str| Error::BadData {
            path: path.to_path_buf(),
            what: format!(
                "no `{name}` column in the header row (its columns: {})",
                headers.join(", ")
            ),
        };
        let text = find(&fields.text).ok_or_else(|| missing(&fields.text))?;
        let label = find(&fields.label).ok_or_else(|| missing(&fields.label))?;
        let language = find(&fields.language);
        if language.is_none() && fields.language_required {
            return Err(missing(&fields.language));
        }
        Ok(Self {
            reader,
            record: csv::ByteRecord::new(),
            path: path.to_path_buf(),
            fields: fields.clone(),
            text,
            label,
            language,
        })
    }

    fn field(&self, index: usize, name: &str) -> Result<Option<String>, String> {
        self.record
            .get(index)
            .map(|bytes| {
                String::from_utf8(bytes.to_vec()).map_err(|e| {
                    format!(
                        "`{name}` is not valid UTF-8 (byte {})",
                        e.utf8_error().valid_up_to()
                    )
                })
            })
            .transpose()
    }
}

impl Iterator for CsvRows {
    type Item = Result<Result<Row, BadRow>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.reader.read_byte_record(&mut self.record) {
            Ok(false) => return None,
            Ok(true) => {}
            Err(e) => return Some(Err(csv_error(&self.path, e))),
        }
        let line = self.record.position().map_or(0, |p| p.line());
        let row = (|| {
            let f = &self.fields;
            let text = self
                .field(self.text, &f.text)?
                .ok_or_else(|| format!("no `{}` field ({} fields)", f.text, self.record.len()))?;
            let label = self
                .field(self.label, &f.label)?
                .map(|l| l.trim().to_owned())
                .filter(|l| !l.is_empty())
                .ok_or_else(|| format!("no `{}` field", f.label))?;
            let language = match self.language {
                Some(i) => self
                    .field(i, &f.language)?
                    .map(|l| l.trim().to_owned())
                    .filter(|l| !l.is_empty()),
                None => None,
            };
            Ok(Row {
                line,
                text,
                label,
                language,
            })
        })();
        Some(Ok(row.map_err(|reason| BadRow { line, reason })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(format: Format, data: &[u8], fields: &Fields) -> Vec<Result<Row, BadRow>> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, data).unwrap();
        open(&path, format, fields)
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    fn row(line: u64, text: &str, label: &str, language: Option<&str>) -> Result<Row, BadRow> {
        Ok(Row {
            line,
            text: text.into(),
            label: label.into(),
            language: language.map(Into::into),
        })
    }

    fn bad(line: u64, reason: &str) -> Result<Row, BadRow> {
        Err(BadRow {
            line,
            reason: reason.into(),
        })
    }

    #[test]
    fn format_from_extension_and_name() {
        assert_eq!(
            Format::from_extension(Path::new("a/b.CSV")),
            Some(Format::Csv)
        );
        assert_eq!(
            Format::from_extension(Path::new("b.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(
            Format::from_extension(Path::new("b.jsonl")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_extension(Path::new("b.json")), None);
        assert_eq!(Format::from_extension(Path::new("-")), None);
        assert_eq!(Format::from_name("JSONL"), Ok(Format::Jsonl));
        assert!(Format::from_name("tsv").is_err());
        assert_eq!(
            [Format::Csv, Format::Jsonl].map(Format::name),
            ["csv", "jsonl"]
        );
    }

    #[test]
    fn csv_quotes_newlines_bom_and_bad_rows() {
        // Starts with a UTF-8 byte-order mark, as Excel writes, right before a needed column.
        let data = b"\xef\xbb\xbftext,id, label ,language\n\
                    \"Hello, \"\"world\"\"\nsecond line\",1, Positive ,en\n\
                    plain,2,negative,\n\
                    short,3\n\
                    \xff bad,4,neutral,fr\n\
                    ,5,neutral, de \n";
        let got = rows(Format::Csv, data, &Fields::default());
        assert_eq!(
            got,
            [
                row(2, "Hello, \"world\"\nsecond line", "Positive", Some("en")),
                row(4, "plain", "negative", None),
                bad(5, "no `label` field"),
                bad(6, "`text` is not valid UTF-8 (byte 0)"),
                row(7, "", "neutral", Some("de")),
            ]
        );
    }

    #[test]
    fn csv_columns_by_name_and_missing_columns() {
        let fields = Fields {
            text: "review".into(),
            label: "stars".into(),
            language: "lang".into(),
            language_required: true,
        };
        let got = rows(Format::Csv, b"lang,stars,review\nes,good,Bien\n", &fields);
        assert_eq!(got, [row(2, "Bien", "good", Some("es"))]);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.csv");
        std::fs::write(&path, "stars,review\ngood,Bien\n").unwrap();
        let err = open(&path, Format::Csv, &fields).err().unwrap().to_string();
        assert!(
            err.contains("no `lang` column") && err.contains("stars, review"),
            "{err}"
        );
        let optional = Fields {
            language_required: false,
            ..fields
        };
        assert_eq!(
            open(&path, Format::Csv, &optional).unwrap().count(),
            1,
            "the default language column may be absent"
        );
    }

    #[test]
    fn jsonl_rows_blank_lines_and_bad_rows() {
        let data = b"{\"text\": \"a\", \"label\": \" neutral \", \"language\": \"en\"}\n\
                     \n\
                     {\"text\": \"b\"}\n\
                     {\"text\": \"c\", \"label\": 2, \"language\": null}\n\
                     [1]\n\
                     {\"text\": \xff}\n\
                     {\"text\": 5, \"label\": \"x\"}\n\
                     {oops\r\n\
                     {\"text\": \"d\", \"label\": \"neutral\", \"language\": \"\"}";
        let got = rows(Format::Jsonl, data, &Fields::default());
        assert_eq!(got.len(), 8);
        assert_eq!(got[0], row(1, "a", "neutral", Some("en")));
        assert_eq!(got[1], bad(3, "no `label` field"));
        assert_eq!(got[2], row(4, "c", "2", None));
        assert_eq!(got[3], bad(5, "not a JSON object"));
        assert_eq!(got[4], bad(6, "not valid UTF-8"));
        assert_eq!(got[5], bad(7, "`text` is not a string"));
        assert!(got[6]
            .as_ref()
            .unwrap_err()
            .reason
            .starts_with("not valid JSON"));
        assert_eq!(got[7], row(9, "d", "neutral", None));
    }
}
