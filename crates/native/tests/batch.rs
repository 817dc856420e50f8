//! Batch jobs as a user runs them: `classify --input FILE --output FILE` with bad rows written in
//! place, JSONL and CSV with ids, and a job killed midway that resumes to the very output of an
//! uninterrupted run.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::file_json_lines as json_lines;
use serde_json::Value;

fn model() -> PathBuf {
    common::tiny_sentiment()
}

/// `classify --model tiny-sentiment ARGS`.
fn command(args: &[&str]) -> Command {
    let mut command = common::binary();
    command
        .arg("classify")
        .arg("--model")
        .arg(model())
        .args(args);
    command
}

fn run(args: &[&str]) -> Output {
    command(args).output().expect("binary runs")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn golden_texts() -> Vec<String> {
    common::single_line_texts("tiny-sentiment")
}

#[test]
fn bad_rows_are_written_in_place_and_the_job_goes_on() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.txt");
    std::fs::write(&input, b"good text\n\xff\xfe bad\nmore text\n").unwrap();
    let output = tmp.path().join("out.jsonl");
    let result = run(&["--input", path(&input), "--output", path(&output)]);
    assert_eq!(result.status.code(), Some(1), "{result:?}");
    assert!(result.stdout.is_empty());
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0]["id"], 1);
    assert!(rows[0]["label"].is_string() && rows[0]["scores"].as_object().unwrap().len() == 3);
    assert_eq!(
        (&rows[1]["id"], &rows[1]["line"]),
        (&Value::from(2), &Value::from(2))
    );
    assert!(rows[1]["error"]
        .as_str()
        .unwrap()
        .contains("not valid UTF-8"));
    assert_eq!(rows[2]["id"], 3);
    assert!(!output.with_extension("jsonl.checkpoint").exists());

    // JSONL: invalid UTF-8, a missing field, malformed JSON, a blank line (not a row).
    let input = tmp.path().join("in.jsonl");
    std::fs::write(
        &input,
        b"{\"text\": \"I love it\"}\n\xff\n{\"body\": \"x\"}\n\n{oops\n{\"text\": \"ok\"}\n",
    )
    .unwrap();
    let output = tmp.path().join("out2.jsonl");
    let result = run(&["--input", path(&input), "--output", path(&output)]);
    assert_eq!(result.status.code(), Some(1));
    let rows = json_lines(&output);
    let ids: Vec<Value> = rows.iter().map(|r| r["id"].clone()).collect();
    assert_eq!(ids, [1, 2, 3, 5, 6].map(Value::from));
    assert!(rows[0]["label"].is_string());
    assert_eq!(rows[1]["error"], "not valid UTF-8");
    assert_eq!(rows[2]["error"], "no `text` field");
    assert!(rows[3]["error"]
        .as_str()
        .unwrap()
        .starts_with("not valid JSON"));
    assert!(rows[4]["label"].is_string());
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(stderr.contains("3 of 5"), "{stderr}");
}

#[test]
fn jsonl_and_csv_with_ids() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = golden_texts();
    // The reference: the same texts through `classify` to standard output.
    let reference = run(&[&texts[0], &texts[1], &texts[2]]);
    let reference: Vec<Value> = String::from_utf8(reference.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    let input = tmp.path().join("reviews.ndjson");
    let lines: String = texts[..3]
        .iter()
        .enumerate()
        .map(|(i, t)| {
            format!(
                "{}\n",
                serde_json::json!({"review": t, "key": format!("r{i}")})
            )
        })
        .collect();
    std::fs::write(&input, lines).unwrap();
    let output = tmp.path().join("out.jsonl");
    let result = run(&[
        "--input",
        path(&input),
        "--output",
        path(&output),
        "--text-field",
        "review",
        "--id-field",
        "key",
    ]);
    assert!(result.status.success(), "{result:?}");
    let rows = json_lines(&output);
    assert_eq!(rows.len(), 3);
    for (i, (row, want)) in rows.iter().zip(&reference).enumerate() {
        assert_eq!(row["id"], format!("r{i}"));
        for key in ["label", "score", "scores", "truncated"] {
            assert_eq!(row[key], want[key], "{key}");
        }
    }

    // CSV in (a quoted text with a comma and a newline), CSV out.
    let input = tmp.path().join("reviews.csv");
    // flexible: the last record is short (no text), a bad row.
    let mut writer = csv::WriterBuilder::new()
        .flexible(true)
        .from_path(&input)
        .unwrap();
    writer.write_record(["key", "review"]).unwrap();
    writer.write_record(["a", &texts[0]]).unwrap();
    writer
        .write_record(["b", "two lines,\nand a comma"])
        .unwrap();
    writer.write_record(["c", &texts[2]]).unwrap();
    writer.write_record(["d"]).unwrap();
    writer.flush().unwrap();
    let output = tmp.path().join("out.csv");
    let result = run(&[
        "--input",
        path(&input),
        "--output",
        path(&output),
        "--text-column",
        "review",
        "--id-column",
        "key",
    ]);
    assert_eq!(result.status.code(), Some(1), "{result:?}");
    let mut reader = csv::Reader::from_path(&output).unwrap();
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header,
        [
            "id",
            "label",
            "score",
            "score_negative",
            "score_neutral",
            "score_positive",
            "truncated",
            "error"
        ]
    );
    let records: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 4);
    let ids: Vec<&str> = records.iter().map(|r| &r[0]).collect();
    assert_eq!(ids, ["a", "b", "c", "d"]);
    for (record, want) in [(&records[0], &reference[0]), (&records[2], &reference[2])] {
        assert_eq!(&record[1], want["label"].as_str().unwrap());
        let score: f64 = record[2].parse().unwrap();
        assert!((score - want["score"].as_f64().unwrap()).abs() < 1e-6);
        let negative: f64 = record[3].parse().unwrap();
        assert!((negative - want["scores"]["negative"].as_f64().unwrap()).abs() < 1e-6);
        assert_eq!(&record[6], "false");
        assert_eq!(&record[7], "");
    }
    assert!(
        !records[1][1].is_empty(),
        "a multi-line CSV field is one text"
    );
    assert_eq!(&records[3][1], "");
    assert!(
        records[3][7].contains("no `review` field"),
        "{:?}",
        records[3]
    );
}

fn count_lines(file: &Path) -> usize {
    std::fs::read(file)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count())
        .unwrap_or(0)
}

#[test]
fn a_killed_job_resumes_to_the_output_of_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let texts = golden_texts();
    let total = 4000;
    let mut data: Vec<u8> = Vec::new();
    for i in 0..total {
        if i == 777 {
            data.extend_from_slice(b"\xff bad line\n");
        } else {
            data.extend_from_slice(texts[i % texts.len()].as_bytes());
            data.push(b'\n');
        }
    }
    let input = tmp.path().join("texts.txt");
    std::fs::write(&input, &data).unwrap();
    let args = |output: &Path| {
        vec![
            "--input".to_owned(),
            path(&input).to_owned(),
            "--output".to_owned(),
            path(output).to_owned(),
            "--batch-size".to_owned(),
            "2".to_owned(),
        ]
    };

    let whole = tmp.path().join("whole.jsonl");
    let whole_args = args(&whole);
    let result = run(&whole_args.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(result.status.code(), Some(1), "the bad line is reported");
    assert_eq!(count_lines(&whole), total);

    let resumed = tmp.path().join("resumed.jsonl");
    let checkpoint = tmp.path().join("resumed.jsonl.checkpoint");
    let argv = args(&resumed);
    let mut child = command(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    // Midway: a few chunks (of 64 rows) are on disk and the job is still running.
    while !(checkpoint.exists() && count_lines(&resumed) >= 300) {
        assert!(Instant::now() < deadline, "the job made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL: no chance to clean up.
    child.wait().unwrap();
    let written = count_lines(&resumed);
    assert!(written < total, "killed midway ({written} rows written)");
    assert!(checkpoint.exists());

    let result = command(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert_eq!(result.status.code(), Some(1), "{result:?}");
    assert!(
        !checkpoint.exists(),
        "a finished job removes its checkpoint"
    );
    assert!(
        std::fs::read(&resumed).unwrap() == std::fs::read(&whole).unwrap(),
        "the resumed output differs from an uninterrupted run's"
    );
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(stderr.contains(&format!("1 of {total}")), "{stderr}");

    // The output now exists without a checkpoint: running again refuses to clobber it...
    let again = command(&argv.iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert!(stderr.contains("--overwrite"), "{stderr}");
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&whole).unwrap()
    );
    // ...unless told to.
    let mut overwrite: Vec<&str> = argv.iter().map(String::as_str).collect();
    overwrite.push("--overwrite");
    let result = run(&overwrite);
    assert_eq!(result.status.code(), Some(1));
    assert_eq!(
        std::fs::read(&resumed).unwrap(),
        std::fs::read(&whole).unwrap()
    );
}

#[test]
fn a_changed_input_or_other_options_are_refused_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.txt");
    std::fs::write(&input, "one\ntwo\nthree\n").unwrap();
    let output = tmp.path().join("out.jsonl");
    let checkpoint = tmp.path().join("out.jsonl.checkpoint");
    // An interrupted job, as a crash in its second chunk leaves it: run the job to its end,
    // then put back a checkpoint that says one row of three was done and cut the output there
    // plus a partial row.
    let args = ["--input", path(&input), "--output", path(&output)];
    assert!(run(&args).status.success());
    let first_row = std::fs::read_to_string(&output)
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .len()
        + 1;
    // The checkpoint the job writes after its first chunk (the format of `batch::checkpoint`).
    let identity = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        let modified = std::fs::metadata(p)
            .unwrap()
            .modified()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        use sha2::Digest;
        serde_json::json!({
            "path": std::path::absolute(p).unwrap(),
            "size": bytes.len(),
            "modified_ns": modified,
            "prefix_sha256": format!("{:x}", sha2::Sha256::digest(&bytes)),
        })
    };
    let weights = std::fs::read(model().join("model.safetensors")).unwrap();
    let weights_sha256 = {
        use sha2::Digest;
        format!("{:x}", sha2::Sha256::digest(&weights))
    };
    let options_with = |weights_sha256: &str| {
        serde_json::json!({
            "input_format": "lines", "text_field": "text", "id_field": null,
            "output_format": "jsonl", "top_k": null,
            "model": std::path::absolute(model()).unwrap(), "weights_sha256": weights_sha256,
            "preprocess": true, "max_length": null,
        })
    };
    let options = options_with(&weights_sha256);
    let write_checkpoint_with = |input_identity: Value, options: &Value| {
        let value = serde_json::json!({
            "input": input_identity, "options": options, "units_done": 1, "rows_done": 1,
            "rows_failed": 0, "output_len": first_row,
        });
        std::fs::write(&checkpoint, value.to_string()).unwrap();
    };
    let write_checkpoint = |input_identity: Value| write_checkpoint_with(input_identity, &options);
    let finished = std::fs::read(&output).unwrap();

    // The checkpoint as the job writes it: the job resumes and the output is whole again.
    write_checkpoint(identity(&input));
    std::fs::write(&output, &finished[..first_row + 5]).unwrap(); // a partial second chunk
    let result = run(&args);
    assert!(result.status.success(), "{result:?}");
    assert_eq!(std::fs::read(&output).unwrap(), finished);

    // A job interrupted with other weights at the model's path: refused, naming the model.
    write_checkpoint_with(identity(&input), &options_with(&"0".repeat(64)));
    let result = run(&args);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(
        stderr.contains("weights are not those the unfinished job ran with"),
        "{stderr}"
    );
    std::fs::remove_file(&checkpoint).unwrap();

    // Other options than the interrupted job's: refused.
    write_checkpoint(identity(&input));
    let result = run(&[
        "--input",
        path(&input),
        "--output",
        path(&output),
        "--no-preprocess",
    ]);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(stderr.contains("other options"), "{stderr}");

    // The input changed since: refused, and nothing is written.
    std::fs::write(&input, "one\ntwo\nthree\nfour\n").unwrap();
    let result = run(&args);
    assert_eq!(result.status.code(), Some(2));
    let stderr = String::from_utf8(result.stderr).unwrap();
    assert!(
        stderr.contains("the input changed") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(std::fs::read(&output).unwrap(), finished);
    assert!(checkpoint.exists());
}

#[test]
fn output_dash_writes_the_rows_of_a_file_job_to_stdout_and_keeps_no_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in.csv");
    std::fs::write(&input, b"id,text\na,good text\nb,\xff bad\nc,more text\n").unwrap();
    for format in ["jsonl", "csv"] {
        let file = tmp.path().join(format!("out.{format}"));
        let common = [
            "--input",
            path(&input),
            "--id-field",
            "id",
            "--output-format",
            format,
        ];
        let to_file = run(&[&common[..], &["--output", path(&file)]].concat());
        assert_eq!(to_file.status.code(), Some(1), "{to_file:?}");
        let to_stdout = command(&[&common[..], &["--output", "-"]].concat())
            .current_dir(tmp.path())
            .output()
            .unwrap();
        assert_eq!(to_stdout.status.code(), Some(1), "{to_stdout:?}");
        assert_eq!(to_stdout.stdout, std::fs::read(&file).unwrap(), "{format}");
        let stderr = String::from_utf8(to_stdout.stderr).unwrap();
        assert!(stderr.contains("in standard output"), "{stderr}");
    }
    let mut left: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["in.csv", "out.csv", "out.jsonl"],
        "no checkpoint, no file named -"
    );
}
