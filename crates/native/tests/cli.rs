//! The `xlmr-sentiment classify` command as a user runs it: fixture models, golden outputs, and
//! one clear line with exit code 2 for each usage or model error.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::{golden, single_line_rows, stdout_json_lines as json_lines};
use serde_json::Value;

fn models() -> PathBuf {
    common::models_dir()
}

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    common::run_with_stdin(args, stdin.unwrap_or_default())
}

fn assert_matches_golden(line: &Value, row: &Value, labels: &[Value]) {
    assert_eq!(line["text"], row["text"]);
    assert_eq!(line["truncated"], row["truncated"]);
    let scores = line["scores"].as_object().unwrap();
    assert_eq!(scores.len(), labels.len());
    for (label, want) in labels.iter().zip(row["scores"].as_array().unwrap()) {
        let got = scores[label.as_str().unwrap()].as_f64().unwrap();
        assert!(
            (got - want.as_f64().unwrap()).abs() < 1e-4,
            "{label}: {got} vs {want}"
        );
    }
    // "scores" lists labels highest first, and "label"/"score" are the first entry.
    let values: Vec<f64> = scores.values().map(|v| v.as_f64().unwrap()).collect();
    assert!(values.windows(2).all(|w| w[0] >= w[1]));
    let (top_label, top_score) = scores.iter().next().unwrap();
    assert_eq!(line["label"], top_label.as_str());
    assert_eq!(line["score"], *top_score);
}

#[test]
fn classifies_stdin_lines_in_order_like_transformers() {
    classify_golden_lines_on(&[]);
}

/// `--device gpu`: the same golden outputs from the GPU (lavapipe in CI), where there is one.
#[test]
fn classifies_like_transformers_on_the_gpu() {
    if common::gpu_present() {
        classify_golden_lines_on(&["--device", "gpu"]);
    }
}

/// Without a GPU adapter (`WGPU_BACKEND=gl` names a backend this build lacks), `--device gpu`
/// is one clear error and `auto` runs on the CPU.
#[test]
fn gpu_without_an_adapter_is_an_error_and_auto_runs_on_the_cpu() {
    let model = models().join("tiny-sentiment");
    let model = model.to_str().unwrap();
    let output = common::binary()
        .env("WGPU_BACKEND", "gl")
        .args(["classify", "--device", "gpu", "--model", model, "good"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no usable GPU"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    let output = common::binary()
        .env("WGPU_BACKEND", "gl")
        .args(["classify", "--device", "auto", "--model", model, "good"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn classify_golden_lines_on(device: &[&str]) {
    for model in ["tiny-sentiment", "tiny-multilabel", "tiny-score"] {
        let golden = golden(model);
        let rows = single_line_rows(&golden);
        assert!(rows.len() >= 100);
        let input: String = rows
            .iter()
            .map(|r| format!("{}\n", r["text"].as_str().unwrap()))
            .collect();
        let dir = models().join(model);
        let output = run(
            &[
                "classify",
                "--model",
                dir.to_str().unwrap(),
                "--batch-size",
                "5",
            ]
            .into_iter()
            .chain(device.iter().copied())
            .collect::<Vec<_>>(),
            Some(input.as_bytes()),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let lines = json_lines(&output);
        assert_eq!(lines.len(), rows.len());
        let labels = golden["labels"].as_array().unwrap();
        for (line, row) in lines.iter().zip(&rows) {
            assert_matches_golden(line, row, labels);
        }
    }
}

#[test]
fn classifies_arguments_and_input_files() {
    let golden = golden("tiny-sentiment");
    let rows = single_line_rows(&golden);
    let dir = models().join("tiny-sentiment");
    let texts: Vec<&str> = rows
        .iter()
        .take(3)
        .map(|r| r["text"].as_str().unwrap())
        .collect();
    let mut args = vec!["classify", "--model", dir.to_str().unwrap()];
    args.extend(&texts);
    let output = run(&args, None);
    assert!(output.status.success());
    let lines = json_lines(&output);
    let labels = golden["labels"].as_array().unwrap();
    for (line, row) in lines.iter().zip(&rows) {
        assert_matches_golden(line, row, labels);
    }

    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("texts.txt");
    std::fs::write(
        &file,
        texts.iter().map(|t| format!("{t}\r\n")).collect::<String>(),
    )
    .unwrap();
    let output = run(
        &[
            "classify",
            "--model",
            dir.to_str().unwrap(),
            "--input",
            file.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success());
    assert_eq!(
        json_lines(&output),
        lines,
        "CRLF file gives the same results as arguments"
    );
}

#[test]
fn flags_change_the_output_as_documented() {
    let dir = models().join("tiny-sentiment");
    let dir = dir.to_str().unwrap();
    let text = "@someone I absolutely love this new phone https://t.co/x";

    let output = run(&["classify", "--model", dir, "--top-k", "1", text], None);
    let line = &json_lines(&output)[0];
    assert_eq!(line["scores"].as_object().unwrap().len(), 1);

    let output = run(
        &["classify", "--model", dir, "--max-length", "6", text],
        None,
    );
    let short = &json_lines(&output)[0];
    assert_eq!(short["truncated"], true);

    let with = &json_lines(&run(&["classify", "--model", dir, text], None))[0];
    let without = &json_lines(&run(
        &["classify", "--model", dir, "--no-preprocess", text],
        None,
    ))[0];
    let preprocessed = &json_lines(&run(
        &[
            "classify",
            "--model",
            dir,
            "--no-preprocess",
            "@user I absolutely love this new phone http",
        ],
        None,
    ))[0];
    assert_ne!(
        with["scores"], without["scores"],
        "preprocessing is on by default"
    );
    assert_eq!(with["scores"], preprocessed["scores"]);
    assert_eq!(with["text"], text, "the output shows the text as given");
}

#[test]
fn bad_lines_get_an_error_object_and_the_rest_goes_on() {
    let dir = models().join("tiny-sentiment");
    let output = run(
        &["classify", "--model", dir.to_str().unwrap()],
        Some(b"good text\n\xff\xfe bad\nmore text\n"),
    );
    assert_eq!(output.status.code(), Some(1));
    let lines = json_lines(&output);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["text"], "good text");
    assert_eq!(lines[1]["line"], 2);
    assert!(lines[1]["error"]
        .as_str()
        .unwrap()
        .contains("not valid UTF-8"));
    assert_eq!(lines[2]["text"], "more text");
}

fn copy_model(from: &str, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(models().join(from)).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}

fn assert_one_line_error(args: &[&str], must_contain: &str) {
    let output = run(args, None);
    assert_eq!(output.status.code(), Some(2), "{args:?}");
    assert!(output.stdout.is_empty(), "{args:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    assert!(stderr.contains(must_contain), "{args:?}: {stderr}");
}

#[test]
fn usage_and_model_errors_print_one_line_and_exit_2() {
    let tmp = tempfile::tempdir().unwrap();
    let good = models().join("tiny-sentiment");
    let good = good.to_str().unwrap();

    assert_one_line_error(
        &["classify", "--model", "/no/such/dir", "x"],
        "no such model folder",
    );
    assert_one_line_error(&["classify", "x"], "--model");
    assert_one_line_error(&["classify", "--model", good, "--bogus", "x"], "--bogus");
    assert_one_line_error(
        &["classify", "--model", good, "--max-length", "513", "x"],
        "exceeds the model's limit of 512",
    );
    assert_one_line_error(
        &["classify", "--model", good, "--batch-size", "0", "x"],
        "--batch-size",
    );
    assert_one_line_error(
        &["classify", "--model", good, "--top-k", "many", "x"],
        "--top-k",
    );
    assert_one_line_error(
        &["classify", "--model", good, "--input", "/no/such/file"],
        "/no/such/file",
    );

    // Each case: a copy of a fixture model, damaged one way, and the words its error must say.
    let damaged = |name: &str, from: &str, damage: &dyn Fn(&Path), says: &str| {
        let dir = tmp.path().join(name);
        copy_model(from, &dir);
        damage(&dir);
        assert_one_line_error(&["classify", "--model", dir.to_str().unwrap(), "x"], says);
    };
    let remove = |dir: &Path, file: &str| std::fs::remove_file(dir.join(file)).unwrap();
    damaged(
        "truncated",
        "tiny-sentiment",
        &|dir| {
            remove(dir, "pytorch_model.bin");
            let weights = std::fs::read(dir.join("model.safetensors")).unwrap();
            std::fs::write(dir.join("model.safetensors"), &weights[..weights.len() / 2]).unwrap();
        },
        "corrupt safetensors weights",
    );
    damaged(
        "no-weights",
        "tiny-sentiment",
        &|dir| {
            remove(dir, "model.safetensors");
            remove(dir, "pytorch_model.bin");
        },
        "no model.safetensors or pytorch_model.bin",
    );
    damaged(
        "bad-config",
        "tiny-sentiment",
        &|dir| std::fs::write(dir.join("config.json"), "{\"hidden_size\": ").unwrap(),
        "config.json is malformed",
    );
    damaged(
        "no-tokenizer",
        "tiny-sentiment",
        &|dir| {
            remove(dir, "tokenizer.json");
            remove(dir, "sentencepiece.bpe.model");
        },
        "tokenizer.json is missing, and there is no sentencepiece.bpe.model",
    );
    damaged(
        "bad-sentencepiece",
        "tiny-sentiment",
        &|dir| {
            remove(dir, "tokenizer.json");
            std::fs::write(dir.join("sentencepiece.bpe.model"), b"\xff\xff\xff\xff").unwrap();
        },
        "sentencepiece.bpe.model is invalid",
    );
    damaged(
        "mismatched",
        "tiny-multilabel",
        &|dir| {
            let other = models().join("tiny-sentiment/tokenizer.json");
            std::fs::copy(other, dir.join("tokenizer.json")).unwrap();
        },
        "belongs to another model",
    );
}

#[test]
fn a_folder_with_only_sentencepiece_classifies_like_one_with_tokenizer_json() {
    let tmp = tempfile::tempdir().unwrap();
    let spm_only = tmp.path().join("spm-only");
    copy_model("tiny-sentiment", &spm_only);
    std::fs::remove_file(spm_only.join("tokenizer.json")).unwrap();
    let golden = golden("tiny-sentiment");
    let rows = single_line_rows(&golden);
    let input: String = rows
        .iter()
        .map(|r| format!("{}\n", r["text"].as_str().unwrap()))
        .collect();
    let classify = |dir: &Path| {
        let output = run(
            &["classify", "--model", dir.to_str().unwrap()],
            Some(input.as_bytes()),
        );
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    };
    let converted = classify(&spm_only);
    let original = classify(&models().join("tiny-sentiment"));
    assert_eq!(converted.stdout, original.stdout);
    let lines = json_lines(&converted);
    let labels = golden["labels"].as_array().unwrap();
    assert_eq!(lines.len(), rows.len());
    for (line, row) in lines.iter().zip(&rows) {
        assert_matches_golden(line, row, labels);
    }
}

#[test]
fn help_exits_0() {
    let output = run(&["classify", "--help"], None);
    assert!(output.status.success());
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains("--top-k"));
}

#[test]
fn language_check_adds_two_fields_and_a_summary() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = models().join("tiny-sentiment");
    let dir = dir.to_str().unwrap();
    let english = "The waiter was friendly and the soup was really delicious tonight";
    let russian = "Мне очень понравилась эта книга, я читал её всю ночь и не мог остановиться";
    let emoji = "😂😂 👍";
    let texts = [english, russian, emoji];

    // Off by default: no fields.
    let plain = json_lines(&run(&["classify", "--model", dir, english], None));
    assert!(plain[0].get("language").is_none());

    // The fixture model's trained languages are unknown: detected, never called unsupported.
    let mut args = vec!["classify", "--model", dir, "--language"];
    args.extend(texts);
    let output = run(&args, None);
    assert!(output.status.success(), "{output:?}");
    let lines = json_lines(&output);
    let fields = |l: &Value| (l["language"].clone(), l["language_supported"].clone());
    assert_eq!(fields(&lines[0]), (Value::from("en"), Value::Null));
    assert_eq!(fields(&lines[1]), (Value::from("ru"), Value::Null));
    assert_eq!(fields(&lines[2]), (Value::Null, Value::Null));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(stderr.contains("trained languages are unknown"), "{stderr}");

    // Told the trained languages: supported or not, and the summary names the others.
    let mut args = vec![
        "classify",
        "--model",
        dir,
        "--language",
        "--languages",
        "en,fr",
    ];
    args.extend(texts);
    let output = run(&args, None);
    let lines = json_lines(&output);
    assert_eq!(fields(&lines[0]), (Value::from("en"), Value::from(true)));
    assert_eq!(fields(&lines[1]), (Value::from("ru"), Value::from(false)));
    assert_eq!(fields(&lines[2]), (Value::Null, Value::Null));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("1 of 3 texts in languages the model was not trained on: ru 1"),
        "{stderr}"
    );

    // A bad list is a usage error.
    assert_one_line_error(
        &[
            "classify",
            "--model",
            dir,
            "--languages",
            "english",
            english,
        ],
        "not an ISO 639-1 language code",
    );

    // Recorded in a manifest (as `fetch` does for the default model): used without a flag (the
    // manifest lists no files here, so they are loaded with --no-verify).
    let folder = tmp.path().join("model");
    copy_model("tiny-sentiment", &folder);
    let manifest = serde_json::json!({
        "format": 1, "model_id": "tests/tiny-sentiment", "revision": "0".repeat(40),
        "files": {}, "languages": ["ru"],
    });
    std::fs::write(
        folder.join("xlmr-sentiment-manifest.json"),
        manifest.to_string(),
    )
    .unwrap();
    let folder = folder.to_str().unwrap();
    let lines = json_lines(&run(
        &[
            "classify",
            "--model",
            folder,
            "--no-verify",
            "--language",
            russian,
        ],
        None,
    ));
    assert_eq!(fields(&lines[0]), (Value::from("ru"), Value::from(true)));

    // `pack` carries them into the bundle; `pack --languages` overrides them.
    let bundle = tmp.path().join("model.gguf");
    let bundle_str = bundle.to_str().unwrap();
    let pack_then_classify = |extra: &[&str]| {
        let mut args = vec![
            "pack",
            folder,
            "--no-verify",
            "--precision",
            "f32",
            "--out",
            bundle_str,
        ];
        args.extend(extra);
        let packed = run(&args, None);
        assert!(packed.status.success(), "{packed:?}");
        let lines = json_lines(&run(
            &["classify", "--model", bundle_str, "--language", russian],
            None,
        ));
        fields(&lines[0])
    };
    assert_eq!(
        pack_then_classify(&[]),
        (Value::from("ru"), Value::from(true))
    );
    assert_eq!(
        pack_then_classify(&["--languages", "en"]),
        (Value::from("ru"), Value::from(false))
    );

    // A batch job: the fields in JSON lines, two columns in CSV, and the summary.
    let input = tmp.path().join("in.txt");
    std::fs::write(&input, texts.join("\n")).unwrap();
    let csv = tmp.path().join("out.csv");
    let output = run(
        &[
            "classify",
            "--model",
            dir,
            "--languages",
            "en",
            "--language",
            "--input",
            input.to_str().unwrap(),
            "--output",
            csv.to_str().unwrap(),
        ],
        None,
    );
    assert!(output.status.success(), "{output:?}");
    let written = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = written.lines().collect();
    assert!(
        rows[0].ends_with(",truncated,language,language_supported,error"),
        "{}",
        rows[0]
    );
    assert!(rows[1].ends_with(",en,true,"), "{}", rows[1]);
    assert!(rows[2].ends_with(",ru,false,"), "{}", rows[2]);
    assert!(rows[3].ends_with(",false,,,"), "{}", rows[3]);
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.contains("1 of 3 texts in languages the model was not trained on: ru 1"),
        "{stderr}"
    );
}

#[test]
fn help_has_a_quick_start_exit_codes_short_summaries_and_only_flags_that_act() {
    let text = |args: &[&str]| {
        let output = run(args, None);
        assert!(output.status.success(), "{output:?}");
        String::from_utf8(output.stdout).unwrap()
    };
    let top = text(&["--help"]);
    assert!(
        top.contains("Quick start:") && top.contains("Exit codes:"),
        "{top}"
    );
    let commands = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty());
    for line in commands {
        assert!(line.len() <= 100, "a summary that wraps: {line}");
    }
    // serve forms its batches by tokens: a --batch-size there would be ignored.
    let serve = text(&["serve", "--help"]);
    assert!(!serve.contains("--batch-size"), "{serve}");
    assert!(serve.contains("\"truncate\": true"), "{serve}");
    assert!(text(&["classify", "--help"]).contains("--batch-size"));
    assert!(text(&["pack", "--help"]).contains("<f32|f16|q8_0|q4>"));
    assert!(text(&["verify", "--help"]).contains("<DIR|FILE>"));
}
