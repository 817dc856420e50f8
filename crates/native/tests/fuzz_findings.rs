//! Inputs the fuzz targets (`fuzz/`) found that broke a reader's promise, kept as regression
//! tests. The inputs are in `tests/fixtures/fuzz/`, named after the target that found them;
//! their first bytes chose the target's format (see `fuzz/fuzz_targets/`).

mod common;

use std::path::PathBuf;

use xlmr_sentiment::batch::reader::{Fields, InputFormat, Reader};
use xlmr_sentiment::eval::data::{self, Format};

/// The finding's bytes after `skip` selector bytes, written as `name.ext` in `dir`.
fn finding(dir: &tempfile::TempDir, name: &str, skip: usize, ext: &str) -> PathBuf {
    let source = common::models_dir().join("../fuzz").join(name);
    let bytes = std::fs::read(&source).unwrap_or_else(|e| panic!("{}: {e}", source.display()));
    let path = dir.path().join(format!("input.{ext}"));
    std::fs::write(&path, &bytes[skip..]).unwrap();
    path
}

#[test]
fn csv_rows_after_crlf_and_blank_lines_have_their_own_line_numbers() {
    // The csv crate numbered the last two records of this file 4 and 4 (they are on 4 and 6).
    let dir = tempfile::tempdir().unwrap();
    let path = finding(&dir, "batch_readers-csv-crlf-blank-lines", 2, "csv");
    let fields = Fields {
        text: "text".into(),
        id: Some("id".into()),
    };
    let mut reader = Reader::open(&path, InputFormat::Csv, &fields).unwrap();
    let lines: Vec<u64> = std::iter::from_fn(|| reader.next_record())
        .map(|r| r.unwrap().line)
        .collect();
    assert_eq!(lines, [2, 3, 4, 6]);
}

#[test]
fn eval_csv_rows_have_increasing_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = finding(&dir, "eval_readers-csv-line-numbers", 1, "csv");
    let rows = data::open(&path, Format::Csv, &data::Fields::default(), "test").unwrap();
    let lines: Vec<u64> = rows
        .map(|row| match row.unwrap() {
            Ok(row) => row.line,
            Err(bad) => bad.line,
        })
        .collect();
    assert!(lines.windows(2).all(|w| w[0] < w[1]), "{lines:?}");
    assert!(lines.len() > 5, "{lines:?}");
}

#[test]
fn a_parquet_footer_declaring_more_elements_than_bytes_is_refused_at_once() {
    // The parquet crate spent over a second skipping its 68 million declared map entries.
    let dir = tempfile::tempdir().unwrap();
    let path = finding(
        &dir,
        "eval_readers-parquet-footer-huge-map.parquet",
        0,
        "parquet",
    );
    match data::open(&path, Format::Parquet, &data::Fields::default(), "test") {
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains("footer is damaged: a map of 68611547 elements"),
                "{message}"
            );
        }
        Ok(_) => panic!("a damaged footer was read"),
    }
}

#[test]
fn a_parquet_file_the_decoder_panicked_on_is_refused_with_an_error() {
    // parquet's PlainDecoder sliced past the end of this file's first dictionary page and
    // panicked; its second chunk's first page header has no size, which is now found first
    // (a dictionary page that alone is damaged: `eval::data`'s unit tests).
    let dir = tempfile::tempdir().unwrap();
    let path = finding(
        &dir,
        "eval_readers-parquet-dictionary-short.parquet",
        0,
        "parquet",
    );
    match data::open(&path, Format::Parquet, &data::Fields::default(), "test") {
        Err(error) => {
            let message = error.to_string();
            assert!(
                message.contains("page 0 of column chunk 1 has no valid compressed size"),
                "{message}"
            );
        }
        Ok(_) => panic!("a damaged file was read"),
    }
}
