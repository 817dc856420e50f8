//! A batch job's input file (lines, JSONL, CSV) read as the job reads it; a resumed read
//! (`skip` past the units done, as after a checkpoint) gives the same records as the rest of a
//! full read.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment::batch::reader::{Fields, InputFormat, Reader};
use xlmr_sentiment_fuzz::{counting_allocator, scratch_file, within_bound, MIB};
counting_allocator!();

fuzz_target!(|input: &[u8]| {
    let [format, flags, rest @ ..] = input else {
        return;
    };
    let (format, ext) = match format % 3 {
        0 => (InputFormat::Lines, "txt"),
        1 => (InputFormat::Jsonl, "jsonl"),
        _ => (InputFormat::Csv, "csv"),
    };
    let fields = Fields {
        text: "text".into(),
        id: (flags & 1 == 1).then(|| "id".into()),
    };
    let path = scratch_file(rest, ext);
    // Records stream: what is held is about one record (and its JSON tree) at a time.
    let read = within_bound("batch input", rest.len(), 64, MIB, || {
        let mut reader = match Reader::open(&path, format, &fields) {
            Ok(reader) => reader,
            Err(_) => return None,
        };
        let mut records = Vec::new();
        while let Some(record) = reader.next_record() {
            match record {
                Ok(record) => records.push((reader.units(), record)),
                Err(_) => return None,
            }
        }
        Some(records)
    });
    let Some(records) = read else { return };
    let lines: Vec<u64> = records.iter().map(|(_, r)| r.line).collect();
    assert!(
        lines.windows(2).all(|w| w[0] < w[1]),
        "lines go up: {lines:?}"
    );
    // Resume after the record the flags pick.
    let Some(k) = (!records.is_empty()).then(|| (*flags as usize >> 1) % records.len()) else {
        return;
    };
    let mut resumed = Reader::open(&path, format, &fields).expect("it opened before");
    resumed
        .skip(records[k].0)
        .expect("the file has these units");
    for (_, expected) in &records[k + 1..] {
        let got = resumed
            .next_record()
            .expect("a record")
            .expect("read before");
        assert_eq!(&got, expected);
    }
    assert!(resumed.next_record().is_none());
});
