//! Labelled data for `eval`: CSV (with a header row) or JSON lines, read by [`crate::records`]
//! as a stream of rows; Parquet files; and dataset folders in the Hub's layout (one folder per
//! config, see [`dataset_parts`]). Each row has a text, a gold label and optionally a language.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::contained::contained;
use super::parquet_check;
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
    /// Apache Parquet (as the Hub's dataset conversion writes): integer labels are named by the
    /// file's `huggingface` metadata (a `ClassLabel`), never guessed.
    Parquet,
    /// A dataset folder: one folder per config holding its splits ([`dataset_parts`]).
    Dataset,
}

/// `--format` and the JSON report name a format; `.csv`, `.jsonl` and `.ndjson` (any case)
/// imply one.
impl FileFormat for Format {
    const NAMES: &'static [(&'static str, Self)] = &[
        ("csv", Self::Csv),
        ("jsonl", Self::Jsonl),
        ("ndjson", Self::Jsonl),
        ("parquet", Self::Parquet),
        ("dataset", Self::Dataset),
    ];
    const OF: &'static str = "data";
    const CHOICES: &'static str = "csv, jsonl, parquet or dataset";
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
/// any size streams through in constant memory. A dataset folder gives the rows of `split`.
pub fn open(path: &Path, format: Format, fields: &Fields, split: &str) -> Result<Rows, Error> {
    let layout = match format {
        Format::Csv => Layout::Csv,
        Format::Jsonl => Layout::Jsonl,
        Format::Parquet => return parquet_rows(path, fields, None),
        Format::Dataset => return dataset_rows(path, fields, split),
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
        Format::Jsonl | Format::Parquet | Format::Dataset => None,
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

/// One config of a dataset folder: its files for a split, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetPart {
    /// The config's name (`english`, `all`, ...): the rows' language when it is not `all`.
    pub config: String,
    /// Its files for the split, in order (shards `0000`, `0001`, ...).
    pub files: Vec<PathBuf>,
}

/// The configs of a dataset folder and their files for `split`, in either layout the Hub's
/// Parquet conversion has used (`<config>/<split>/*.parquet`, or `<config>/*-<split>.parquet`),
/// or as `<config>/<split>.jsonl` or `.csv` with the same columns ([`split_files`]).
pub fn dataset_parts(dir: &Path, split: &str) -> Result<Vec<DatasetPart>, Error> {
    let io = |e: std::io::Error| Error::Io {
        path: dir.to_path_buf(),
        error: e,
    };
    let bad = |what: String| Error::BadData {
        path: dir.to_path_buf(),
        what,
    };
    // Every file one or two levels under each config folder, as `/`-separated relative paths.
    let mut configs: Vec<String> = Vec::new();
    let mut paths: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let Some(config) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        if !entry.file_type().map_err(io)?.is_dir() || config.starts_with('.') {
            continue;
        }
        for inner in std::fs::read_dir(entry.path()).map_err(io)? {
            let inner = inner.map_err(io)?;
            let Some(name) = inner.file_name().to_str().map(str::to_string) else {
                continue;
            };
            if inner.file_type().map_err(io)?.is_dir() {
                for file in std::fs::read_dir(inner.path()).map_err(io)? {
                    if let Some(file) = file.map_err(io)?.file_name().to_str() {
                        paths.push(format!("{config}/{name}/{file}"));
                    }
                }
            } else {
                paths.push(format!("{config}/{name}"));
            }
        }
        configs.push(config);
    }
    configs.sort();
    if configs.is_empty() {
        return Err(bad(
            "not a dataset folder: no config folders (such as all/ or english/) inside".into(),
        ));
    }
    let files = split_files(&paths, split);
    for config in &configs {
        if files.iter().any(|(c, _)| c == config) {
            continue;
        }
        let found = split_names(&dir.join(config)).map_err(io)?;
        // A config without this split is an error unless it is `all`, left out beside the
        // per-language configs.
        let all_beside_languages = config == "all" && !files.is_empty();
        if !found.is_empty() && !all_beside_languages {
            return Err(bad(format!(
                "config `{config}` has no `{split}` split (it has: {})",
                found.join(", ")
            )));
        }
    }
    if files.is_empty() {
        return Err(bad(format!(
            "no config holds a `{split}` split in a known layout (<config>/{split}/*.parquet, \
             <config>/*-{split}.parquet, or <config>/{split}.jsonl or .csv); configs: {}",
            configs.join(", ")
        )));
    }
    let mut parts: Vec<DatasetPart> = Vec::new();
    for (config, path) in files {
        let path = dir.join(&path);
        match parts.last_mut() {
            Some(part) if part.config == config => part.files.push(path),
            _ => parts.push(DatasetPart {
                config,
                files: vec![path],
            }),
        }
    }
    Ok(parts)
}

/// The data files of `split` among `paths` (`/`-separated, relative to a dataset folder: a
/// folder's files, or a Hub repository's listing), as (config, path), sorted: in the layouts
/// `<config>/<split>/*.parquet` (shards), `<config>/*-<split>.parquet`, `<config>/<split>.parquet`,
/// or `<config>/<split>.jsonl|.ndjson|.csv`. When per-language configs are there, `all` is left
/// out, since it holds the same rows; a dataset with only `all` keeps it. `eval`, `reproduce`
/// and `fetch --dataset` all choose files with this.
pub fn split_files(paths: &[String], split: &str) -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = paths
        .iter()
        .filter_map(|path| {
            let parts: Vec<&str> = path.split('/').collect();
            let ok = match parts.as_slice() {
                [_, s, file] => *s == split && has_extension(Path::new(file), "parquet"),
                [_, file] => {
                    let file = Path::new(file);
                    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
                    let parquet = has_extension(file, "parquet")
                        && (stem == split || stem.ends_with(&format!("-{split}")));
                    let text = stem == split
                        && ["jsonl", "ndjson", "csv"]
                            .iter()
                            .any(|e| has_extension(file, e));
                    parquet || text
                }
                _ => false,
            };
            ok.then(|| (parts[0].to_string(), path.clone()))
        })
        .collect();
    if files.iter().any(|(config, _)| config != "all") {
        files.retain(|(config, _)| config != "all");
    }
    files.sort();
    files
}

/// The splits a config folder holds, for the error that names them.
fn split_names(folder: &Path) -> std::io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let path = entry?.path();
        let name = if path.is_dir() {
            path.file_name()
                .and_then(|n| n.to_str())
                .map(str::to_string)
        } else {
            path.file_stem()
                .and_then(|s| s.to_str())
                .map(|s| s.rsplit('-').next().unwrap_or(s).to_string())
        };
        names.extend(name);
    }
    names.sort();
    names.dedup();
    Ok(names)
}

fn has_extension(path: &Path, extension: &str) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case(extension))
}

/// Every row of a dataset folder's `split`, config by config, each with its config as language
/// (unless the folder has only `all`, whose rows keep their own language field, if any).
fn dataset_rows(dir: &Path, fields: &Fields, split: &str) -> Result<Rows, Error> {
    let parts = dataset_parts(dir, split)?;
    let mut opened: Vec<Rows> = Vec::new();
    for part in parts {
        let language = (part.config != "all").then(|| part.config.clone());
        for file in &part.files {
            let rows = if has_extension(file, "parquet") {
                parquet_rows(file, fields, language.clone())?
            } else {
                let format = Format::from_extension(file).unwrap_or(Format::Jsonl);
                let rows = open(file, format, fields, split)?;
                let language = language.clone();
                Box::new(rows.map(move |row| {
                    row.map(|row| {
                        row.map(|mut row| {
                            if language.is_some() {
                                row.language.clone_from(&language);
                            }
                            row
                        })
                    })
                })) as Rows
            };
            opened.push(rows);
        }
    }
    Ok(Box::new(opened.into_iter().flatten()))
}

/// The footer of a Parquet file and the 8 bytes after it (its length and `PAR1`), or as much of
/// the file's end as there is.
fn parquet_tail(mut file: &std::fs::File) -> std::io::Result<Vec<u8>> {
    use std::io::{Read, Seek, SeekFrom};
    let size = file.metadata()?.len();
    if size < 8 {
        return Ok(Vec::new());
    }
    let mut last = [0u8; 8];
    file.seek(SeekFrom::Start(size - 8))?;
    file.read_exact(&mut last)?;
    let len = u64::from(u32::from_le_bytes(last[..4].try_into().expect("4 bytes")));
    let take = (len + 8).min(size);
    let mut tail = vec![0u8; take as usize];
    file.seek(SeekFrom::Start(size - take))?;
    file.read_exact(&mut tail)?;
    file.seek(SeekFrom::Start(0))?;
    Ok(tail)
}

/// The rows of a Parquet file; `language`, when given, is every row's language (a dataset
/// config's name). Integer labels become the names in the file's `huggingface` metadata. Every
/// call into the parquet crate's readers is [`contained`]: a damaged page it panics on is
/// refused like one it reports.
fn parquet_rows(path: &Path, fields: &Fields, language: Option<String>) -> Result<Rows, Error> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let bad = |what: String| Error::BadData {
        path: path.to_path_buf(),
        what,
    };
    let io = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let tail = parquet_tail(&file).map_err(io)?;
    // The page walk reads the file the reader opened (a clone shares its offset: the walk seeks
    // before each read and ends before the first row is read, as the parquet crate seeks too).
    let mut pages = file.try_clone().map_err(io)?;
    parquet_check::footer(&tail).map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let reader = contained(|| SerializedFileReader::new(file))
        .map_err(|panic| bad(format!("not a readable Parquet file: {panic}")))?
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let chunks: Vec<parquet_check::Chunk> = reader
        .metadata()
        .row_groups()
        .iter()
        .flat_map(|group| group.columns())
        .map(|column| parquet_check::Chunk {
            start: column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset()),
            len: column.compressed_size(),
        })
        .collect();
    parquet_check::page_headers(&mut pages, &chunks)
        .map_err(|e| bad(format!("not a readable Parquet file: {e}")))?;
    let metadata = reader.metadata().file_metadata();
    let columns: Vec<String> = metadata
        .schema_descr()
        .root_schema()
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect();
    for (name, required) in [
        (&fields.text, true),
        (&fields.label, true),
        (
            &fields.language,
            fields.language_required && language.is_none(),
        ),
    ] {
        if required && !columns.contains(name) {
            return Err(bad(format!(
                "no `{name}` column (columns: {})",
                columns.join(", ")
            )));
        }
    }
    let label_names = class_label_names(metadata.key_value_metadata(), &fields.label)
        .map_err(|e| bad(format!("its `huggingface` metadata: {e}")))?;
    let mut iter = contained(|| parquet::record::reader::RowIter::from_file_into(Box::new(reader)))
        .map_err(|panic| bad(format!("not a readable Parquet file: {panic}")))?;
    let fields = fields.clone();
    let path = path.to_path_buf();
    let mut number = 0u64;
    let mut damaged = false;
    // After a panic the reader's state is unknown: that row is the last.
    let rows = std::iter::from_fn(move || {
        if damaged {
            return None;
        }
        contained(|| iter.next()).unwrap_or_else(|panic| {
            damaged = true;
            Some(Err(parquet::errors::ParquetError::General(format!(
                "the parquet decoder failed on a damaged page ({panic})"
            ))))
        })
    });
    Ok(Box::new(rows.map(move |row| {
        number += 1;
        let row = row.map_err(|e| Error::BadData {
            path: path.clone(),
            what: format!("row {number}: {e}"),
        })?;
        Ok(parquet_row(&row, &fields, label_names.as_deref())
            .map(|(text, label, own_language)| Row {
                line: number,
                text,
                label,
                language: language.clone().or(own_language),
            })
            .map_err(|reason| BadRow {
                line: number,
                reason,
            }))
    })))
}

/// The label names of `label`'s `ClassLabel` in a Parquet file's `huggingface` metadata (as the
/// `datasets` library writes it), if it has one.
fn class_label_names(
    metadata: Option<&Vec<parquet::file::metadata::KeyValue>>,
    label: &str,
) -> Result<Option<Vec<String>>, String> {
    let Some(text) = metadata
        .into_iter()
        .flatten()
        .find(|kv| kv.key == "huggingface")
        .and_then(|kv| kv.value.as_deref())
    else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let feature = value
        .pointer("/info/features")
        .or_else(|| value.pointer("/features"))
        .and_then(|f| f.get(label));
    match feature {
        Some(f) if f.get("_type").and_then(Value::as_str) == Some("ClassLabel") => f
            .get("names")
            .and_then(Value::as_array)
            .and_then(|names| {
                names
                    .iter()
                    .map(|n| n.as_str().map(str::to_string))
                    .collect()
            })
            .map(Some)
            .ok_or_else(|| format!("the ClassLabel of `{label}` has no list of names")),
        _ => Ok(None),
    }
}

fn parquet_row(
    row: &parquet::record::Row,
    f: &Fields,
    label_names: Option<&[String]>,
) -> Result<RowFields, String> {
    use parquet::record::Field;
    let get = |name: &str| {
        row.get_column_iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v)
            .filter(|v| !matches!(v, Field::Null))
    };
    let text = match get(&f.text) {
        Some(Field::Str(s)) => s.clone(),
        Some(_) => return Err(format!("`{}` is not a string", f.text)),
        None => return Err(format!("no `{}` value", f.text)),
    };
    let id = |n: i64| -> Result<String, String> {
        match label_names {
            Some(names) => usize::try_from(n)
                .ok()
                .and_then(|i| names.get(i))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "label id {n} is not one of the file's {} label names ({})",
                        names.len(),
                        names.join(", ")
                    )
                }),
            // Taken as written: label matching then explains that labels are names.
            None => Ok(n.to_string()),
        }
    };
    let label = match get(&f.label) {
        Some(Field::Str(s)) => s.trim().to_owned(),
        Some(Field::Long(n)) => id(*n)?,
        Some(Field::Int(n)) => id(i64::from(*n))?,
        Some(Field::Short(n)) => id(i64::from(*n))?,
        Some(Field::Byte(n)) => id(i64::from(*n))?,
        Some(_) => return Err(format!("`{}` is not a string or an integer", f.label)),
        None => String::new(),
    };
    if label.is_empty() {
        return Err(format!("no `{}` value", f.label));
    }
    let language = match get(&f.language) {
        Some(Field::Str(s)) => Some(s.trim().to_owned()).filter(|s| !s.is_empty()),
        Some(_) => return Err(format!("`{}` is not a string", f.language)),
        None => None,
    };
    Ok((text, label, language))
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
        open(&path, format, fields, "test")
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    #[test]
    fn a_page_header_declaring_a_huge_list_is_refused_before_rows_stream() {
        // The parquet crate would skip this unknown field's 2^31 - 1 booleans one by one, reading
        // nothing for each: seconds per list. Inserted before the first page's header fields.
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/datasets/tweet_sentiment_multilingual/hindi/test/0000.parquet"
        );
        let good = std::fs::read(fixture).unwrap();
        let mut bad = good[..4].to_vec();
        bad.extend_from_slice(b"\x09\x28\xf1\xff\xff\xff\xff\x07");
        bad.extend_from_slice(&good[4..]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000.parquet");
        std::fs::write(&path, &bad).unwrap();
        match open(&path, Format::Parquet, &Fields::default(), "test") {
            Err(error) => {
                let message = error.to_string();
                assert!(
                    message.contains("a list of 2147483647 elements"),
                    "{message}"
                );
            }
            Ok(_) => panic!("a damaged page header was accepted"),
        }
        // The fixture itself reads.
        std::fs::write(&path, &good).unwrap();
        let rows = open(&path, Format::Parquet, &Fields::default(), "test").unwrap();
        assert!(rows.map(|r| r.unwrap()).filter(Result::is_ok).count() > 5);
    }

    #[test]
    fn a_dictionary_page_the_decoder_panics_on_is_the_files_error() {
        // The first chunk's dictionary page holds 12 values; declaring 60 makes parquet's
        // PlainDecoder slice past its end and panic (util/bit_util.rs).
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/datasets/tweet_sentiment_multilingual/hindi/test/0000.parquet"
        );
        let mut bytes = std::fs::read(fixture).unwrap();
        assert_eq!(bytes[14], 24, "DictionaryPageHeader.num_values, zigzag 12");
        bytes[14] = 120;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0000.parquet");
        std::fs::write(&path, &bytes).unwrap();
        let rows: Vec<_> = open(&path, Format::Parquet, &Fields::default(), "test")
            .unwrap()
            .collect();
        let error = rows.last().unwrap().as_ref().unwrap_err().to_string();
        assert!(
            error.contains("row 1: Parquet error: the parquet decoder failed on a damaged page"),
            "{error}"
        );
        assert_eq!(rows.len(), 1);
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
            Format::from_extension(Path::new("0000.parquet")),
            Some(Format::Parquet)
        );
        assert_eq!(
            [Format::Csv, Format::Jsonl, Format::Parquet].map(Format::name),
            ["csv", "jsonl", "parquet"]
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
        let err = open(&path, Format::Csv, &fields, "test")
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("no `lang` column") && err.contains("stars, review"),
            "{err}"
        );
        let optional = Fields {
            language_required: false,
            ..fields
        };
        assert_eq!(
            open(&path, Format::Csv, &optional, "test").unwrap().count(),
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
