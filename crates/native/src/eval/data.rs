//! Labelled data for `eval`: CSV (with a header row) or JSON lines, read by [`crate::records`]
//! as a stream of rows, each with a text, a gold label and optionally a language.

use std::path::Path;

use serde_json::{Map, Value};

use crate::formats::FileFormat;
use crate::records::{csv_field, Body, Layout, Records};
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
    let layout = match format {
        Format::Csv => Layout::Csv,
        Format::Jsonl => Layout::Jsonl,
    };
    let records = Records::open(path, layout)?;
    let columns = match format {
        Format::Csv => {
            let language = records.column(&fields.language);
            if language.is_none() && fields.language_required {
                records.required_column(&fields.language)?;
            }
            Some(Columns {
                text: records.required_column(&fields.text)?,
                label: records.required_column(&fields.label)?,
                language,
            })
        }
        Format::Jsonl => None,
    };
    Ok(Box::new(DataRows {
        records,
        fields: fields.clone(),
        columns,
    }))
}

/// A row's text, label and language.
type RowFields = (String, String, Option<String>);

struct Columns {
    text: usize,
    label: usize,
    language: Option<usize>,
}

struct DataRows {
    records: Records,
    fields: Fields,
    /// CSV: where the fields are.
    columns: Option<Columns>,
}

impl Iterator for DataRows {
    type Item = Result<Result<Row, BadRow>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        let record = match self.records.next_record()? {
            Ok(record) => record,
            Err(e) => return Some(Err(e)),
        };
        let line = record.line;
        let row = match record.body {
            Body::Object(object) => json_row(&object, &self.fields),
            Body::Csv(record) => csv_row(
                &record,
                self.columns.as_ref().expect("CSV columns found at open"),
                &self.fields,
            ),
            Body::Bad(reason) | Body::Line(Err(reason)) => Err(reason),
            Body::Line(Ok(_)) => unreachable!("eval reads JSONL or CSV, not plain lines"),
        };
        Some(Ok(match row {
            Ok((text, label, language)) => Ok(Row {
                line,
                text,
                label,
                language,
            }),
            Err(reason) => Err(BadRow { line, reason }),
        }))
    }
}

fn json_row(object: &Map<String, Value>, f: &Fields) -> Result<RowFields, String> {
    let field = |name: &str| object.get(name).filter(|v| !v.is_null());
    let text = match field(&f.text) {
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(format!("`{}` is not a string", f.text)),
        None => return Err(format!("no `{}` field", f.text)),
    };
    let label = match field(&f.label) {
        Some(Value::String(s)) => s.trim().to_owned(),
        // A number is taken as written, so `2` reaches label matching as "2" and its error
        // explains that labels are names.
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => return Err(format!("`{}` is not a string", f.label)),
        None => String::new(),
    };
    if label.is_empty() {
        return Err(format!("no `{}` field", f.label));
    }
    let language = match field(&f.language) {
        Some(Value::String(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(_) => return Err(format!("`{}` is not a string", f.language)),
        None => None,
    };
    Ok((text, label, language))
}

fn csv_row(record: &csv::ByteRecord, columns: &Columns, f: &Fields) -> Result<RowFields, String> {
    let text = csv_field(record, columns.text, &f.text)
        .transpose()?
        .ok_or_else(|| format!("no `{}` field ({} fields)", f.text, record.len()))?;
    let label = csv_field(record, columns.label, &f.label)
        .transpose()?
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .ok_or_else(|| format!("no `{}` field", f.label))?;
    let language = match columns.language {
        Some(i) => csv_field(record, i, &f.language)
            .transpose()?
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty()),
        None => None,
    };
    Ok((text, label, language))
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
