//! Shared helpers for the CLI's integration tests: the built binary, the committed fixture
//! models (`tests/fixtures/generate.py`) and their golden outputs.

#![allow(dead_code)]

pub mod server;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// The folder of the committed fixture models.
pub fn models_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/models")
}

/// One fixture model's folder.
pub fn model_dir(name: &str) -> PathBuf {
    models_dir().join(name)
}

/// The three-label fixture most tests use.
pub fn tiny_sentiment() -> PathBuf {
    model_dir("tiny-sentiment")
}

/// The built `xlmr-sentiment` binary, with stdout and stderr captured and no stdin.
pub fn binary() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xlmr-sentiment"));
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Runs the binary to completion.
pub fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("binary runs")
}

/// Runs the binary with `stdin` written to its standard input, then closed.
pub fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = binary()
        .args(args)
        .stdin(Stdio::piped())
        .spawn()
        .expect("binary runs");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin).unwrap();
    drop(pipe);
    child.wait_with_output().unwrap()
}

/// Each line of `text` as JSON; a line that is not JSON fails the test.
pub fn parse_json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// The JSON lines a run printed.
pub fn stdout_json_lines(output: &Output) -> Vec<Value> {
    parse_json_lines(&String::from_utf8(output.stdout.clone()).unwrap())
}

/// The JSON lines of a file a run wrote.
pub fn file_json_lines(file: &Path) -> Vec<Value> {
    parse_json_lines(&std::fs::read_to_string(file).unwrap())
}

/// A fixture's `golden.json`: the outputs `transformers` produced for it.
pub fn golden(name: &str) -> Value {
    let path = model_dir(name).join("golden.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// The golden rows whose text fits on one line of a text file.
pub fn single_line_rows(golden: &Value) -> Vec<&Value> {
    golden["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["text"].as_str().unwrap().contains(['\n', '\r', '\u{85}']))
        .collect()
}

/// The texts of [`single_line_rows`].
pub fn single_line_texts(name: &str) -> Vec<String> {
    single_line_rows(&golden(name))
        .into_iter()
        .map(|r| r["text"].as_str().unwrap().to_owned())
        .collect()
}

/// A fixture's labels in id order, from its config.json's `id2label`.
pub fn labels(name: &str) -> Vec<String> {
    let config: Value =
        serde_json::from_slice(&std::fs::read(model_dir(name).join("config.json")).unwrap())
            .unwrap();
    let id2label = config["id2label"].as_object().unwrap();
    (0..id2label.len())
        .map(|i| id2label[&i.to_string()].as_str().unwrap().to_string())
        .collect()
}

/// Whether this machine has a GPU adapter for `--device gpu` (lavapipe counts). Without one the
/// caller's GPU checks are skipped, saying so, unless `XLMR_REQUIRE_GPU` is set (the README's
/// test command sets it where it installed lavapipe), which fails instead.
pub fn gpu_present() -> bool {
    #[cfg(feature = "gpu")]
    let found = xlmr_sentiment_core::Gpu::request_blocking().map(|_| ());
    #[cfg(not(feature = "gpu"))]
    let found: Result<(), String> = Err("built without the gpu feature".into());
    match found {
        Ok(()) => true,
        Err(error) if std::env::var_os("XLMR_REQUIRE_GPU").is_some() => {
            panic!("XLMR_REQUIRE_GPU is set but there is no GPU: {error}")
        }
        Err(error) => {
            eprintln!("GPU checks skipped: {error}");
            false
        }
    }
}
