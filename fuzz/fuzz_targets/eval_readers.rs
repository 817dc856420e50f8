//! `eval --data` files: Parquet (by its magic), else JSONL or CSV as the first byte says.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment::eval::data::{open, Fields, Format};
use xlmr_sentiment_fuzz::{counting_allocator, scratch_file, within_bound, MIB};
counting_allocator!();

fuzz_target!(|input: &[u8]| {
    let (format, ext, data) = match input {
        [b'P', b'A', b'R', b'1', ..] => (Format::Parquet, "parquet", input),
        [b, rest @ ..] if b % 2 == 0 => (Format::Jsonl, "jsonl", rest),
        [_, rest @ ..] => (Format::Csv, "csv", rest),
        [] => return,
    };
    let path = scratch_file(data, ext);
    // Parquet decodes a row group at a time (a page decompressed, its dictionary): bounded by
    // the file's declared, checked sizes, which the file itself must hold.
    within_bound("eval data", data.len(), 64, 4 * MIB, || {
        let Ok(rows) = open(&path, format, &Fields::default(), "test") else {
            return;
        };
        let mut last = 0;
        for row in rows {
            let Ok(row) = row else { return };
            let line = match &row {
                Ok(row) => {
                    assert!(!row.label.is_empty());
                    row.line
                }
                Err(bad) => bad.line,
            };
            assert!(line > last, "rows go forward: line {line} after {last}");
            last = line;
        }
    });
});
