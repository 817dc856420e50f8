//! The `xlmr-sentiment eval` command as a user runs it, on labelled data built from the fixture
//! model's golden outputs: the predictions are known (the argmax of each golden `scores`, which
//! `transformers` computed), so every metric is computed here independently of the command and
//! compared with its `--json` report.

mod common;

use std::path::Path;
use std::process::Output;

use common::run;
use serde_json::{json, Value};
use sha2::Digest;

const MODEL: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/models/tiny-sentiment"
);

fn eval_args<'a>(data: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["eval", "--model", MODEL, "--data", data];
    args.extend_from_slice(extra);
    args
}

/// Runs `eval` of the fixture model on DATA with `extra` arguments.
fn eval(data: &str, extra: &[&str]) -> Output {
    run(&eval_args(data, extra))
}

fn success_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout.clone()).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

/// One labelled text: the golden text, its gold label and language, and the label the model
/// predicts according to the golden scores.
struct Case {
    text: String,
    gold: usize,
    predicted: usize,
    language: Option<String>,
}

/// Every golden text of `tiny-sentiment`. Gold is the predicted label for most texts and a
/// deliberately different one for every third, so each label has errors both ways; the language
/// is the golden `kind` for the eight languages and none for the hard cases.
fn cases() -> (Vec<String>, Vec<Case>) {
    let golden = common::golden("tiny-sentiment");
    let labels: Vec<String> = golden["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().to_owned())
        .collect();
    let cases = golden["texts"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, row)| {
            let scores: Vec<f64> = row["scores"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_f64().unwrap())
                .collect();
            // First maximum, like the pipeline's argmax.
            let predicted =
                (0..scores.len()).fold(0, |b, j| if scores[j] > scores[b] { j } else { b });
            let gold = if i % 3 == 0 {
                (predicted + 1 + i % 2) % labels.len()
            } else {
                predicted
            };
            let kind = row["kind"].as_str().unwrap();
            Case {
                text: row["text"].as_str().unwrap().to_owned(),
                gold,
                predicted,
                language: (kind != "hard").then(|| kind.to_owned()),
            }
        })
        .collect();
    (labels, cases)
}

/// Accuracy, macro-F1 over `n` labels, per-label (precision, recall, F1, support, predicted)
/// and the confusion matrix, straight from the definitions in docs/eval.md.
fn expected(cases: &[&Case], n: usize) -> (f64, f64, Vec<[f64; 5]>, Vec<Vec<u64>>) {
    let mut confusion = vec![vec![0u64; n]; n];
    for c in cases {
        confusion[c.gold][c.predicted] += 1;
    }
    let div = |a: f64, b: f64| if b == 0.0 { 0.0 } else { a / b };
    let per_label: Vec<[f64; 5]> = (0..n)
        .map(|l| {
            let tp = confusion[l][l] as f64;
            let support = confusion[l].iter().sum::<u64>() as f64;
            let predicted = confusion.iter().map(|r| r[l]).sum::<u64>() as f64;
            let (p, r) = (div(tp, predicted), div(tp, support));
            let f1 = div(2.0 * p * r, p + r);
            [p, r, f1, support, predicted]
        })
        .collect();
    let correct = cases.iter().filter(|c| c.gold == c.predicted).count() as f64;
    let accuracy = correct / cases.len() as f64;
    let macro_f1 = per_label.iter().map(|m| m[2]).sum::<f64>() / n as f64;
    (accuracy, macro_f1, per_label, confusion)
}

fn close(got: &Value, want: f64, what: &str) {
    let got = got.as_f64().unwrap_or_else(|| panic!("{what}: {got}"));
    assert!((got - want).abs() < 1e-12, "{what}: {got} vs {want}");
}

/// Checks a `--json` report against metrics computed here from the golden outputs.
fn assert_report(report: &Value, labels: &[String], cases: &[Case]) {
    let all: Vec<&Case> = cases.iter().collect();
    let (accuracy, macro_f1, per_label, confusion) = expected(&all, labels.len());
    assert_eq!(report["rows"], cases.len());
    assert_eq!(report["labels"], json!(labels));
    close(&report["accuracy"], accuracy, "accuracy");
    close(&report["macro_f1"], macro_f1, "macro_f1");
    assert_eq!(report["confusion"], json!(confusion));
    for (i, (label, want)) in labels.iter().zip(&per_label).enumerate() {
        let got = &report["per_label"][i];
        assert_eq!(got["label"], label.as_str());
        for (j, key) in ["precision", "recall", "f1", "support", "predicted"]
            .iter()
            .enumerate()
        {
            close(&got[key], want[j], &format!("{label} {key}"));
        }
    }
    // Sanity of the fixture data itself: each label has some errors, so nothing is trivially 1.
    assert!(accuracy > 0.5 && accuracy < 0.8, "{accuracy}");

    let mut languages: Vec<Option<&str>> = cases.iter().map(|c| c.language.as_deref()).collect();
    languages.sort_by_key(|l| (l.is_none(), *l));
    languages.dedup();
    let got = report["languages"].as_array().expect("a languages list");
    assert_eq!(got.len(), languages.len());
    for (got, language) in got.iter().zip(languages) {
        assert_eq!(got["language"], json!(language));
        let subset: Vec<&Case> = cases
            .iter()
            .filter(|c| c.language.as_deref() == language)
            .collect();
        let (accuracy, macro_f1, _, _) = expected(&subset, labels.len());
        assert_eq!(got["rows"], subset.len());
        close(
            &got["accuracy"],
            accuracy,
            &format!("{language:?} accuracy"),
        );
        close(
            &got["macro_f1"],
            macro_f1,
            &format!("{language:?} macro_f1"),
        );
    }
    assert!(report["seconds"].as_f64().unwrap() > 0.0);
    assert!(report["texts_per_second"].as_f64().unwrap() > 0.0);
}

fn write_jsonl(path: &Path, labels: &[String], cases: &[Case]) {
    let lines: String = cases
        .iter()
        .map(|c| {
            let mut row = json!({"text": c.text, "label": labels[c.gold]});
            if let Some(language) = &c.language {
                row["language"] = json!(language);
            }
            format!("{row}\n")
        })
        .collect();
    std::fs::write(path, lines).unwrap();
}

/// A CSV field, always quoted, quotes doubled (RFC 4180).
fn quoted(field: &str) -> String {
    format!("\"{}\"", field.replace('"', "\"\""))
}

#[test]
fn jsonl_report_matches_metrics_computed_from_golden_outputs() {
    let (labels, cases) = cases();
    assert!(cases.iter().any(|c| c.text.contains('\n')));
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("labelled.jsonl");
    write_jsonl(&data, &labels, &cases);
    let report = success_json(&eval(
        data.to_str().unwrap(),
        &["--json", "--batch-size", "7"],
    ));
    assert_report(&report, &labels, &cases);
    assert_eq!(report["format"], "jsonl");
    assert_eq!(report["skipped_rows"], 0);
    assert_eq!(
        report["options"],
        json!({"preprocess": true, "max_length": null, "batch_size": 7})
    );
}

#[test]
fn csv_with_quotes_newlines_renamed_columns_and_any_case_labels() {
    let (labels, cases) = cases();
    assert!(cases.iter().any(|c| c.text.contains(['"', ','])));
    let tmp = tempfile::tempdir().unwrap();
    // Extension in capitals, columns in another order with other names, labels upper-cased.
    let data = tmp.path().join("labelled.CSV");
    let mut csv = String::from("id,sentiment,lang,review\r\n");
    for (i, c) in cases.iter().enumerate() {
        let language = c.language.as_deref().unwrap_or("");
        let label = labels[c.gold].to_uppercase();
        csv += &format!("{i},{label},{language},{}\r\n", quoted(&c.text));
    }
    std::fs::write(&data, csv).unwrap();
    let report = success_json(&eval(
        data.to_str().unwrap(),
        &[
            "--text-field",
            "review",
            "--label-field",
            "sentiment",
            "--language-field",
            "lang",
            "--json",
        ],
    ));
    assert_eq!(report["format"], "csv");
    assert_report(&report, &labels, &cases);
}

#[test]
fn human_report_has_every_section_and_languages_from_the_data_or_detected() {
    let (labels, mut cases) = cases();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("labelled.ndjson");
    write_jsonl(&data, &labels, &cases);
    let output = eval(data.to_str().unwrap(), &[]);
    assert!(output.status.success());
    let text = String::from_utf8(output.stdout).unwrap();
    for needle in [
        "accuracy",
        "macro-F1",
        "precision  recall      F1  support  predicted",
        "confusion matrix (rows: gold label, columns: predicted label)",
        "gold \\ predicted",
        "language",
        "(none)",
        "texts/s",
        "not loading the model",
    ] {
        assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
    }
    let report = success_json(&eval(data.to_str().unwrap(), &["--json"]));
    let accuracy = format!("accuracy  {:.4}", report["accuracy"].as_f64().unwrap());
    assert!(text.contains(&accuracy), "{accuracy:?} in:\n{text}");

    for c in &mut cases {
        c.language = None;
    }
    write_jsonl(&data, &labels, &cases);
    // No languages in the data: the per-language figures are by detected language, and say so.
    let output = eval(data.to_str().unwrap(), &[]);
    let text = String::from_utf8(output.stdout).unwrap();
    assert!(
        text.contains("no languages in the data: detected from the text"),
        "{text}"
    );
    let report = success_json(&eval(data.to_str().unwrap(), &["--json"]));
    let detected = report["languages_detected_rows"].as_u64().unwrap();
    let languages = report["languages"].as_array().unwrap();
    let counted: u64 = languages
        .iter()
        .filter(|l| !l["language"].is_null())
        .map(|l| l["rows"].as_u64().unwrap())
        .sum();
    assert!(detected > 0, "{report}");
    assert_eq!(counted, detected, "{report}");
    let each: Vec<&str> = languages
        .iter()
        .filter_map(|l| l["language"].as_str())
        .collect();
    assert!(
        each.iter().all(|code| code.len() == 2),
        "ISO 639-1 codes: {each:?}"
    );
}

fn assert_one_line_error(args: &[&str], must_contain: &[&str]) {
    let output = run(args);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(output.stdout.is_empty(), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    for needle in must_contain {
        assert!(stderr.contains(needle), "{needle:?} in {args:?}: {stderr}");
    }
}

#[test]
fn unknown_labels_stop_with_the_label_the_line_and_the_model_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.jsonl");
    std::fs::write(
        &data,
        "{\"text\": \"a\", \"label\": \"Positive\"}\n\n{\"text\": \"b\", \"label\": \"pos\"}\n",
    )
    .unwrap();
    let data = data.to_str().unwrap();
    let says = ["line 3", "`pos`", "negative, neutral, positive"];
    assert_one_line_error(&eval_args(data, &[]), &says);
    // Not a bad row: skipping it would score a different label set.
    assert_one_line_error(&eval_args(data, &["--skip-bad-rows"]), &says);

    let ids = tmp.path().join("ids.csv");
    std::fs::write(&ids, "text,label\nhello,2\n").unwrap();
    assert_one_line_error(
        &eval_args(ids.to_str().unwrap(), &[]),
        &["line 2", "`2`", "not read as label ids"],
    );
}

#[test]
fn bad_rows_stop_the_run_unless_skipped_and_counted() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.jsonl");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(b"{\"text\": \"good\", \"label\": \"neutral\"}\n");
    bytes.extend_from_slice(b"{\"text\": \"no label\"}\n");
    bytes.extend_from_slice(b"{\"text\": \"\xff\xfe\", \"label\": \"neutral\"}\n");
    bytes.extend_from_slice(b"{not json\n");
    bytes.extend_from_slice(b"{\"text\": \"fine too\", \"label\": \"NEGATIVE\"}\n");
    std::fs::write(&data, bytes).unwrap();
    let data = data.to_str().unwrap();
    assert_one_line_error(
        &eval_args(data, &[]),
        &["line 2", "no `label` field", "--skip-bad-rows"],
    );

    let output = eval(data, &["--skip-bad-rows", "--json"]);
    let report = success_json(&output);
    assert_eq!(report["rows"], 2);
    assert_eq!(report["skipped_rows"], 3);
    let stderr = String::from_utf8(output.stderr).unwrap();
    for needle in [
        "skipped line 2: no `label` field",
        "skipped line 3: not valid UTF-8",
        "skipped line 4: not valid JSON",
    ] {
        assert!(stderr.contains(needle), "{needle:?} in {stderr}");
    }

    // A CSV row with too few fields, and one whose text is not UTF-8.
    let csv = tmp.path().join("d.csv");
    std::fs::write(&csv, b"text,label\nok,neutral\nshort\n\"\xff\",neutral\n").unwrap();
    let csv = csv.to_str().unwrap();
    assert_one_line_error(&eval_args(csv, &[]), &["line 3", "no `label` field"]);
    let output = eval(csv, &["--skip-bad-rows", "--json"]);
    let report = success_json(&output);
    assert_eq!(
        (report["rows"].as_u64(), report["skipped_rows"].as_u64()),
        (Some(1), Some(2))
    );
    assert!(String::from_utf8(output.stderr)
        .unwrap()
        .contains("skipped line 4: `text` is not valid UTF-8"));
}

#[test]
fn format_columns_and_options_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let txt = tmp.path().join("data.txt");
    std::fs::write(&txt, "{\"text\": \"hi\", \"label\": \"neutral\"}\n").unwrap();
    let txt = txt.to_str().unwrap();
    assert_one_line_error(
        &eval_args(txt, &[]),
        &["cannot tell the format", "--format"],
    );
    // --format overrides the extension.
    let report = success_json(&eval(txt, &["--format", "jsonl", "--json"]));
    assert_eq!(report["rows"], 1);
    assert_one_line_error(&eval_args(txt, &["--format", "xml"]), &["--format"]);

    let csv = tmp.path().join("d.csv");
    std::fs::write(&csv, "body,label\nhi,neutral\n").unwrap();
    let csv = csv.to_str().unwrap();
    assert_one_line_error(&eval_args(csv, &[]), &["no `text` column", "body, label"]);
    assert_one_line_error(
        &eval_args(csv, &["--text-field", "body", "--language-field", "lang"]),
        &["no `lang` column"],
    );
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "\n").unwrap();
    assert_one_line_error(
        &eval_args(empty.to_str().unwrap(), &[]),
        &["no row to evaluate"],
    );
    assert_one_line_error(&eval_args("/no/such/file.csv", &[]), &["/no/such/file.csv"]);
    assert_one_line_error(
        &["eval", "--model", "/no/such/dir", "--data", csv],
        &["no such model folder"],
    );
    assert_one_line_error(
        &eval_args(csv, &["--max-length", "513"]),
        &["exceeds the model's limit of 512"],
    );
    assert_one_line_error(&["eval", "--model", MODEL], &["--data"]);
}

#[test]
fn options_reach_the_classifier() {
    // Truncating to 3 tokens (<s>, one piece, </s>) leaves too little text to tell texts apart
    // the way the full texts do, so the predictions, and the confusion matrix, change.
    let (labels, cases) = cases();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d.jsonl");
    write_jsonl(&data, &labels, &cases);
    let data = data.to_str().unwrap();
    let full = success_json(&eval(data, &["--json"]));
    let short = success_json(&eval(
        data,
        &["--json", "--max-length", "3", "--no-preprocess"],
    ));
    assert_eq!(
        short["options"],
        json!({"preprocess": false, "max_length": 3, "batch_size": 32})
    );
    assert_ne!(full["confusion"], short["confusion"]);
}

#[test]
fn the_report_names_the_weights_hash_precision_kernels_and_version() {
    let (labels, cases) = cases();
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("labelled.jsonl");
    write_jsonl(&data, &labels, &cases);
    let weights = Path::new(MODEL).join("model.safetensors");
    // Hashed here with sha2 itself, not with the code under test.
    let sha256: String = sha2::Sha256::digest(std::fs::read(&weights).unwrap())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();

    let report = success_json(&eval(data.to_str().unwrap(), &["--json"]));
    let provenance = &report["provenance"];
    assert_eq!(provenance["weights_sha256"], sha256.as_str());
    assert_eq!(provenance["weights_file"], weights.display().to_string());
    assert_eq!(provenance["precision"], "f32");
    assert_eq!(provenance["version"], env!("CARGO_PKG_VERSION"));
    // The fixture folder has no manifest from `fetch`: its origin is unknown, not guessed.
    assert_eq!(provenance["model_id"], Value::Null);
    assert_eq!(provenance["revision"], Value::Null);
    let kernels = provenance["kernels"].as_str().unwrap();
    let names = xlmr_sentiment_core::kernel_names();
    for name in [&names.f32, &names.int8, &names.attention] {
        assert!(kernels.contains(name.as_str()), "{kernels} names {name}");
    }

    let human = eval(data.to_str().unwrap(), &[]);
    assert!(human.status.success());
    let text = String::from_utf8(human.stdout).unwrap();
    assert!(text.contains(&format!("(SHA-256 {sha256})")), "{text}");
    assert!(text.contains("origin not recorded, f32"), "{text}");
    assert!(
        text.contains(&format!(
            "run       xlmr-sentiment {}; kernels ",
            env!("CARGO_PKG_VERSION")
        )),
        "{text}"
    );
}

const DATASET: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/datasets/tweet_sentiment_multilingual"
);

/// The figures tests/fixtures/card_dataset.py computed with transformers and scikit-learn for
/// `protocol` (`card`, `preprocess`, `max_length_512`).
fn card_expected(protocol: &str) -> Value {
    let text = std::fs::read_to_string(format!("{DATASET}/expected.json")).unwrap();
    let expected: Value = serde_json::from_str(&text).unwrap();
    expected["models"]["tiny-sentiment"][protocol].clone()
}

/// A report's rows, accuracy and macro-F1 equal the expected overall figures.
fn assert_card_overall(report: &Value, overall: &Value) {
    assert_eq!(report["rows"], overall["rows"]);
    close(
        &report["accuracy"],
        overall["accuracy"].as_f64().unwrap(),
        "accuracy",
    );
    close(
        &report["macro_f1"],
        overall["f1_macro"].as_f64().unwrap(),
        "macro-F1",
    );
}

/// A report's overall and per-language figures equal the expected ones of `protocol`.
fn assert_card_figures(report: &Value, protocol: &str) {
    let want = card_expected(protocol);
    assert_card_overall(report, &want["overall"]);
    let languages = report["languages"].as_array().unwrap();
    let per_language = want["per_language"].as_object().unwrap();
    assert_eq!(languages.len(), per_language.len(), "{protocol}");
    for got in languages {
        let name = got["language"].as_str().unwrap();
        let want = &per_language[name];
        assert_eq!(got["rows"], want["rows"], "{protocol} {name}");
        close(&got["accuracy"], want["accuracy"].as_f64().unwrap(), name);
        close(&got["macro_f1"], want["f1_macro"].as_f64().unwrap(), name);
    }
}

/// The card's protocol and its two variations, on the dataset folder in the Hub's layout: equal
/// to transformers + scikit-learn, overall and per language (each config a language).
#[test]
fn dataset_folder_equals_transformers_and_scikit_learn() {
    for (protocol, flags) in [
        ("card", &["--no-preprocess", "--max-length", "128"][..]),
        ("preprocess", &["--max-length", "128"][..]),
        (
            "max_length_512",
            &["--no-preprocess", "--max-length", "512"][..],
        ),
    ] {
        let mut args = flags.to_vec();
        args.push("--json");
        let report = success_json(&eval(DATASET, &args));
        assert_eq!(report["format"], "dataset");
        assert_card_figures(&report, protocol);
    }
}

/// Copies the fixture dataset's `split` files into `dir` as `<config>/<name(config)>`.
fn copy_layout(dir: &Path, split: &str, name: impl Fn(&str) -> String) {
    for entry in std::fs::read_dir(DATASET).unwrap() {
        let entry = entry.unwrap();
        if !entry.file_type().unwrap().is_dir() {
            continue;
        }
        let config = entry.file_name().to_str().unwrap().to_string();
        std::fs::create_dir_all(dir.join(&config)).unwrap();
        std::fs::copy(
            entry.path().join(split).join("0000.parquet"),
            dir.join(&config).join(name(&config)),
        )
        .unwrap();
    }
}

#[test]
fn the_other_parquet_layout_and_a_single_file() {
    let dir = tempfile::tempdir().unwrap();
    copy_layout(dir.path(), "test", |_| {
        "tweet_sentiment_multilingual-test.parquet".into()
    });
    std::fs::copy(
        format!("{DATASET}/english/validation/0000.parquet"),
        dir.path()
            .join("english/tweet_sentiment_multilingual-validation.parquet"),
    )
    .unwrap();
    let data = dir.path().to_str().unwrap();
    let flags = ["--no-preprocess", "--max-length", "128", "--json"];
    assert_card_figures(&success_json(&eval(data, &flags)), "card");
    // Another split is another set of files.
    let mut validation = flags.to_vec();
    validation.extend(["--split", "validation"]);
    // Only english has a validation file here: the other configs lack the split.
    let output = eval(data, &validation);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("has no `validation` split"), "{stderr}");

    // One Parquet file: integer labels named by its metadata; `all` has no language column.
    let all = format!("{DATASET}/all/test/0000.parquet");
    let report = success_json(&eval(&all, &flags));
    assert_eq!(report["format"], "parquet");
    assert_card_overall(&report, &card_expected("card")["overall"]);
}

#[test]
fn a_folder_with_only_all_and_one_in_jsonl() {
    // Only `all`: read alone, no per-language figures from configs.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("all/test")).unwrap();
    std::fs::copy(
        format!("{DATASET}/all/test/0000.parquet"),
        dir.path().join("all/test/0000.parquet"),
    )
    .unwrap();
    let flags = ["--no-preprocess", "--max-length", "128", "--json"];
    let report = success_json(&eval(dir.path().to_str().unwrap(), &flags));
    assert_eq!(report["rows"], 96);

    // JSONL with the same columns, one file per config: `<config>/test.jsonl`.
    let dir = tempfile::tempdir().unwrap();
    let golden: Value =
        serde_json::from_str(&std::fs::read_to_string(format!("{MODEL}/golden.json")).unwrap())
            .unwrap();
    let texts: Vec<&str> = golden["texts"]
        .as_array()
        .unwrap()
        .iter()
        .take(6)
        .map(|t| t["text"].as_str().unwrap())
        .collect();
    for (config, chunk) in [("english", &texts[..3]), ("french", &texts[3..])] {
        std::fs::create_dir_all(dir.path().join(config)).unwrap();
        let lines: String = chunk
            .iter()
            .map(|t| json!({"text": t, "label": "neutral"}).to_string() + "\n")
            .collect();
        std::fs::write(dir.path().join(config).join("test.jsonl"), lines).unwrap();
    }
    let report = success_json(&eval(dir.path().to_str().unwrap(), &flags));
    assert_eq!(report["rows"], 6);
    let languages: Vec<&str> = report["languages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["language"].as_str().unwrap())
        .collect();
    assert_eq!(languages, ["english", "french"]);
}

#[test]
fn dataset_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let fails = |data: &str, extra: &[&str], message: &str| {
        let output = eval(data, extra);
        assert_eq!(output.status.code(), Some(2), "{message}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "want {message:?} in {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    };
    fails(data, &[], "not a dataset folder");
    std::fs::create_dir_all(dir.path().join("english/train")).unwrap();
    std::fs::write(dir.path().join("english/train/0000.parquet"), b"x").unwrap();
    fails(data, &[], "has no `test` split (it has: train)");
    std::fs::create_dir_all(dir.path().join("english/test")).unwrap();
    std::fs::write(dir.path().join("english/test/0000.parquet"), b"not parquet").unwrap();
    fails(data, &[], "not a readable Parquet file");
    // A column named by a flag that the file lacks: its columns are listed.
    let parquet = std::fs::read(format!("{DATASET}/english/test/0000.parquet")).unwrap();
    let renamed = dir.path().join("renamed.parquet");
    std::fs::write(&renamed, &parquet).unwrap();
    fails(
        renamed.to_str().unwrap(),
        &["--text-field", "words"],
        "no `words` column (columns: text, label)",
    );
}

fn sha256_hex(path: &str) -> String {
    format!("{:x}", sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

/// `reproduce` on the fixture dataset, the f32 folder beside its q8_0 bundle: the folder's
/// figures under each protocol equal transformers + scikit-learn; the bundle agrees with it and
/// says how much; every result is traced; --out writes the same JSON and a Markdown table.
#[test]
fn reproduce_equals_transformers_and_traces_every_figure() {
    let dir = tempfile::tempdir().unwrap();
    let bundle = dir.path().join("tiny-q8_0.gguf");
    let bundle = bundle.to_str().unwrap();
    let packed = run(&["pack", MODEL, "--precision", "q8_0", "--out", bundle]);
    assert!(
        packed.status.success(),
        "{}",
        String::from_utf8_lossy(&packed.stderr)
    );
    let out = dir.path().join("report.json");
    let out = out.to_str().unwrap();
    let html = dir.path().join("report.html");
    let args = [
        "reproduce",
        "--model",
        MODEL,
        "--model",
        bundle,
        "--dataset",
        DATASET,
        "--json",
        "--out",
        out,
        "--html",
        html.to_str().unwrap(),
    ];
    let report = success_json(&run(&args));
    assert_eq!(report["card"]["f1_macro"], 0.692628774202147);
    let results = report["results"].as_array().unwrap();
    let shape: Vec<(&str, &str)> = results
        .iter()
        .map(|r| {
            (
                r["precision"].as_str().unwrap(),
                r["protocol"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        shape,
        [
            ("f32", "card"),
            ("f32", "preprocess"),
            ("f32", "max_length_512"),
            ("q8_0", "card"),
            ("q8_0", "preprocess"),
            ("q8_0", "max_length_512"),
        ]
    );
    for result in &results[..3] {
        let protocol = result["protocol"].as_str().unwrap();
        let want = card_expected(protocol);
        let overall = &want["overall"];
        for figure in ["f1_micro", "f1_macro", "accuracy"] {
            close(
                &result["overall"][figure],
                overall[figure].as_f64().unwrap(),
                figure,
            );
        }
        assert_eq!(result["overall"]["rows"], overall["rows"]);
        for (language, want) in want["per_language"].as_object().unwrap() {
            let got = &result["per_language"][language];
            assert_eq!(got["rows"], want["rows"], "{protocol} {language}");
            close(
                &got["accuracy"],
                want["accuracy"].as_f64().unwrap(),
                language,
            );
            close(
                &got["f1_macro"],
                want["f1_macro"].as_f64().unwrap(),
                language,
            );
        }
        // Beside the card: the difference and its verdict (a random model is far from it).
        let card_accuracy = 0.6931034482758621;
        let accuracy = result["overall"]["accuracy"].as_f64().unwrap();
        close(
            &result["vs_card"]["accuracy"]["absolute"],
            accuracy - card_accuracy,
            "diff",
        );
        assert_eq!(result["vs_card"]["verdict"], "outside");
        assert!(
            result["agreement"].is_null(),
            "the f32 folder is the reference"
        );
        let trace = &result["trace"];
        assert_eq!(
            trace["weights_sha256"],
            sha256_hex(&format!("{MODEL}/model.safetensors"))
        );
        assert_eq!(
            trace["tokenizer_sha256"],
            sha256_hex(&format!("{MODEL}/tokenizer.json"))
        );
        assert_eq!(trace["precision"], "f32");
        assert!(trace["kernels"].as_str().unwrap().contains("attention"));
        assert!(!trace["cpu"].as_str().unwrap().is_empty());
        assert_eq!(trace["date"].as_str().unwrap().len(), 20);
        assert_eq!(trace["split"], "test");
    }
    for result in &results[3..] {
        let agreement = &result["agreement"];
        assert_eq!(agreement["reference"], MODEL);
        let share = agreement["top_label_agreement"].as_f64().unwrap();
        assert!(share > 0.9 && share <= 1.0, "{agreement}");
        let protocol = result["protocol"].as_str().unwrap();
        let reference = results[..3]
            .iter()
            .find(|r| r["protocol"] == protocol)
            .unwrap();
        let change_here = result["overall"]["accuracy"].as_f64().unwrap()
            - reference["overall"]["accuracy"].as_f64().unwrap();
        close(
            &agreement["accuracy_change"],
            change_here,
            "accuracy change",
        );
        assert_eq!(result["trace"]["weights_sha256"], sha256_hex(bundle));
        assert!(result["trace"]["tokenizer_sha256"].is_null());
    }
    // --out: the same JSON, and the Markdown beside it.
    let written: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(written, report);
    let markdown = std::fs::read_to_string(dir.path().join("report.md")).unwrap();
    assert!(
        markdown.contains("| model | precision | protocol |"),
        "{markdown}"
    );
    assert!(markdown.contains("| english | 12 |"), "{markdown}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("table class=\"comparison\"") && page.contains("class=\"confusion\""));
    assert!(
        !page.contains("http") && !page.contains("<script"),
        "self-contained"
    );
}

#[test]
fn reproduce_errors_are_one_clear_line() {
    let fails = |args: &[&str], message: &str| {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{message}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "want {message:?} in {stderr}");
        assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    };
    // A model whose labels are not the dataset's.
    let multilabel = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/models/tiny-multilabel"
    );
    fails(
        &["reproduce", "--model", multilabel, "--dataset", DATASET],
        "negative",
    );
    // A label outside the model's, and a missing split.
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("english")).unwrap();
    std::fs::write(
        dir.path().join("english/test.jsonl"),
        "{\"text\": \"hi\", \"label\": \"joy\"}\n",
    )
    .unwrap();
    let data = dir.path().to_str().unwrap();
    fails(&["reproduce", "--model", MODEL, "--dataset", data], "joy");
    fails(
        &[
            "reproduce",
            "--model",
            MODEL,
            "--dataset",
            data,
            "--split",
            "validation",
        ],
        "`validation`",
    );
    fails(
        &["reproduce", "--model", MODEL, "--dataset", "/nonexistent"],
        "/nonexistent",
    );
}
