//! `fetch` and `verify` against a local server on 127.0.0.1 that answers like the Hub's API and
//! file URLs (`HF_ENDPOINT`): a good download, an interrupted one resumed by a second run, a
//! tampered file, offline mode, and a manifest that makes a load refuse a changed file.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sha1::Sha1;
use sha2::{Digest, Sha256};

const MODEL_ID: &str = "tests/tiny-sentiment";
const COMMIT: &str = "0123456789abcdef0123456789abcdef01234567";
const FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];
const MANIFEST: &str = "xlmr-sentiment-manifest.json";

fn fixture_dir() -> PathBuf {
    common::tiny_sentiment()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// What the fake Hub does, and what it saw.
#[derive(Default)]
struct HubState {
    files: HashMap<String, Vec<u8>>,
    /// Serve this file with one byte changed (the hash headers stay those of the original).
    tamper: Option<String>,
    /// For downloads of this file from byte 0: send this many bytes, then stall.
    stall: Option<(String, usize)>,
    /// Bytes sent by a stalled response so far.
    stalled_sent: usize,
    /// The commit the API reports.
    commit: String,
    /// The model id it serves.
    model_id: String,
    /// (path, Range header, Authorization header) of every request.
    log: Vec<(String, Option<String>, Option<String>)>,
    /// Serve a dataset repository (`/api/datasets/...`, `/datasets/...`) listing `files`.
    dataset: bool,
}

struct FakeHub {
    state: Arc<Mutex<HubState>>,
    endpoint: String,
}

impl FakeHub {
    fn start() -> Self {
        let mut files = HashMap::new();
        for name in FILES {
            files.insert(
                name.to_string(),
                std::fs::read(fixture_dir().join(name)).unwrap(),
            );
        }
        let state = Arc::new(Mutex::new(HubState {
            files,
            commit: COMMIT.to_string(),
            model_id: MODEL_ID.to_string(),
            ..HubState::default()
        }));
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let shared = state.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = shared.clone();
                std::thread::spawn(move || {
                    let _ = serve(stream, &state);
                });
            }
        });
        Self { state, endpoint }
    }

    fn with<R>(&self, f: impl FnOnce(&mut HubState) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    fn requests(&self) -> Vec<(String, Option<String>, Option<String>)> {
        self.with(|s| s.log.clone())
    }
}

/// Answers one request the way huggingface.co does for what `hf-hub` asks.
fn serve(stream: TcpStream, state: &Mutex<HubState>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request_line = String::new();
    reader.read_line(&mut request_line)?;
    let path = request_line.split(' ').nth(1).unwrap_or("").to_string();
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let range = headers.get("range").cloned();
    let mut guard = state.lock().unwrap();
    guard.log.push((
        path.clone(),
        range.clone(),
        headers.get("authorization").cloned(),
    ));
    let commit = guard.commit.clone();
    let model_id = guard.model_id.clone();
    let mut out = stream;

    let (api, files) = if guard.dataset {
        ("datasets", "datasets/")
    } else {
        ("models", "")
    };
    let info_prefix = format!("/api/{api}/{model_id}/revision/");
    if let Some(revision) = path.strip_prefix(&info_prefix) {
        let branches = ["main", "refs%2Fconvert%2Fparquet"];
        if !branches.contains(&revision) && revision != commit && revision != COMMIT {
            return respond(
                &mut out,
                "404 Not Found",
                &[],
                b"{\"error\":\"Revision not found\"}",
            );
        }
        let mut listing: Vec<String> = [
            "README.md",
            "config.json",
            "tokenizer.json",
            "model.safetensors",
            "pytorch_model.bin",
        ]
        .map(String::from)
        .to_vec();
        if guard.dataset {
            listing = guard.files.keys().cloned().collect();
            listing.push("README.md".into());
            listing.sort();
        }
        let siblings: Vec<Value> = listing.iter().map(|f| json!({ "rfilename": f })).collect();
        let body = json!({ "id": model_id, "sha": commit, "siblings": siblings }).to_string();
        return respond(&mut out, "200 OK", &[], body.as_bytes());
    }

    let file_prefix = format!("/{files}{model_id}/resolve/");
    let Some(rest) = path.strip_prefix(&file_prefix) else {
        return respond(&mut out, "404 Not Found", &[], b"not found");
    };
    let (_revision, name) = rest.split_once('/').unwrap_or(("", ""));
    let Some(original) = guard.files.get(name).cloned() else {
        return respond(&mut out, "404 Not Found", &[], b"Entry not found");
    };
    // Small files live in Git (ETag: the Git blob SHA-1); large ones in LFS (X-Linked-Etag:
    // SHA-256 of the content).
    let git_sha1 = {
        let mut h = Sha1::new();
        h.update(format!("blob {}\0", original.len()).as_bytes());
        h.update(&original);
        hex(&h.finalize())
    };
    let lfs = name != "config.json" && !name.ends_with(".jsonl");
    let mut served = original.clone();
    if guard.tamper.as_deref() == Some(name) {
        let last = served.len() - 1;
        served[last] ^= 0x55;
    }
    let start: usize = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.split('-').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let end = match range.as_deref() {
        Some("bytes=0-0") => 0,
        _ => served.len() - 1,
    };
    let mut extra = vec![
        ("x-repo-commit".to_string(), commit.clone()),
        (
            "content-range".to_string(),
            format!("bytes {start}-{end}/{}", served.len()),
        ),
    ];
    if lfs {
        extra.push((
            "x-linked-etag".into(),
            format!("\"{}\"", hex(&Sha256::digest(&original))),
        ));
        extra.push(("etag".into(), format!("\"{git_sha1}\"")));
    } else {
        extra.push(("etag".into(), format!("\"{git_sha1}\"")));
    }
    let body = &served[start..=end];
    let stall = match &guard.stall {
        Some((file, after)) if file == name && start == 0 && end > 0 => Some(*after),
        _ => None,
    };
    drop(guard);
    match stall {
        None => respond(&mut out, "206 Partial Content", &extra, body),
        Some(after) => {
            // Headers announce the whole body; only part of it comes, then nothing: a dead
            // connection, as when the network drops or the client is killed.
            write_head(&mut out, "206 Partial Content", &extra, body.len())?;
            out.write_all(&body[..after])?;
            out.flush()?;
            state.lock().unwrap().stalled_sent = after;
            std::thread::sleep(Duration::from_secs(60));
            Ok(())
        }
    }
}

fn write_head(
    out: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    len: usize,
) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status}\r\ncontent-length: {len}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

fn respond(
    out: &mut TcpStream,
    status: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<()> {
    write_head(out, status, headers, body.len())?;
    out.write_all(body)?;
    out.flush()
}

/// The binary with a clean Hugging Face environment pointed at the fake Hub.
fn command(hub: &FakeHub, home: &Path, args: &[&str]) -> Command {
    let mut cmd = common::binary();
    cmd.args(args)
        .env("HF_ENDPOINT", &hub.endpoint)
        .env("HF_HOME", home.join("hf-home"))
        .env_remove("HF_TOKEN")
        .env_remove("HF_HUB_OFFLINE");
    cmd
}

/// `fetch MODEL_ID --revision COMMIT --dir DIR` against the fake Hub, not yet run.
fn fetch_command(hub: &FakeHub, home: &Path, dir: &Path) -> Command {
    let dir = dir.to_str().unwrap();
    let args = ["fetch", MODEL_ID, "--revision", COMMIT, "--dir", dir];
    command(hub, home, &args)
}

/// Runs `fetch` of the pinned commit into `dir`.
fn fetch(hub: &FakeHub, home: &Path, dir: &Path) -> Output {
    run(fetch_command(hub, home, dir))
}

fn run(mut cmd: Command) -> Output {
    cmd.output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_same_files(dir: &Path) {
    for name in FILES {
        assert_eq!(
            std::fs::read(dir.join(name)).unwrap(),
            std::fs::read(fixture_dir().join(name)).unwrap(),
            "{name} differs from the served file"
        );
    }
}

#[test]
fn good_download_writes_the_files_and_a_manifest_then_needs_no_network() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let mut cmd = fetch_command(&hub, home.path(), &dir);
    cmd.env("HF_TOKEN", "hf_test_token");
    let out = run(cmd);
    assert!(out.status.success(), "fetch failed: {}", text(&out.stderr));
    assert_same_files(&dir);
    assert!(
        !dir.join(".download").exists(),
        "the download cache is removed after success"
    );
    // The token is sent, and safetensors is chosen over pytorch_model.bin.
    let requests = hub.requests();
    assert!(requests
        .iter()
        .all(|(_, _, auth)| auth.as_deref() == Some("Bearer hf_test_token")));
    assert!(!requests
        .iter()
        .any(|(p, _, _)| p.contains("pytorch_model.bin")));

    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["model_id"], MODEL_ID);
    assert_eq!(manifest["revision"], COMMIT);
    for name in FILES {
        let bytes = std::fs::read(fixture_dir().join(name)).unwrap();
        assert_eq!(manifest["files"][name]["size"], bytes.len());
        assert_eq!(
            manifest["files"][name]["sha256"],
            hex(&Sha256::digest(&bytes))
        );
    }

    let verify = run(command(
        &hub,
        home.path(),
        &["verify", dir.to_str().unwrap()],
    ));
    assert!(verify.status.success(), "{}", text(&verify.stdout));
    let classify = run(command(
        &hub,
        home.path(),
        &["classify", "--model", dir.to_str().unwrap(), "I love this!"],
    ));
    assert!(classify.status.success(), "{}", text(&classify.stderr));

    // A second fetch of the same commit finds everything in place: no request at all, and the
    // same holds offline.
    let before = hub.requests().len();
    let again = fetch(&hub, home.path(), &dir);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(text(&again.stderr).contains("already present"));
    let mut offline = fetch_command(&hub, home.path(), &dir);
    offline.env("HF_HUB_OFFLINE", "1");
    assert!(run(offline).status.success());
    assert_eq!(hub.requests().len(), before, "nothing was requested");
}

#[test]
fn offline_mode_without_the_files_fails_without_network() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let mut cmd = fetch_command(&hub, home.path(), &dir);
    cmd.env("HF_HUB_OFFLINE", "1");
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("HF_HUB_OFFLINE"),
        "{}",
        text(&out.stderr)
    );
    assert!(hub.requests().is_empty());
}

fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn part_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "part") {
                found.push((path.clone(), entry.metadata().unwrap().len()));
            }
        }
    }
    found
}

#[test]
fn an_interrupted_download_resumes_where_it_stopped() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let half = std::fs::read(fixture_dir().join("model.safetensors"))
        .unwrap()
        .len()
        / 2;
    hub.with(|s| s.stall = Some(("model.safetensors".into(), half)));

    // The first run gets half of the weights, then the connection goes silent; the process is
    // killed, as a user's Ctrl-C or a crash would end it.
    let mut child: Child = fetch_command(&hub, home.path(), &dir).spawn().unwrap();
    wait_for("half of the weights to be sent", || {
        hub.with(|s| s.stalled_sent) > 0
    });
    wait_for("the partial file to reach the disk", || {
        part_files(&dir).iter().any(|(_, len)| *len == half as u64)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        !dir.join("model.safetensors").exists(),
        "no half-written file under the real name"
    );
    assert!(!dir.join(MANIFEST).exists());

    // The second run asks only for the rest, and ends with the whole, checked file.
    hub.with(|s| s.stall = None);
    let out = fetch(&hub, home.path(), &dir);
    assert!(out.status.success(), "resume failed: {}", text(&out.stderr));
    let resumed = hub.requests().iter().any(|(p, range, _)| {
        p.ends_with("/model.safetensors") && range.as_deref() == Some(&format!("bytes={half}-"))
    });
    assert!(
        resumed,
        "no range request from byte {half}: {:?}",
        hub.requests()
    );
    assert_same_files(&dir);
    assert!(part_files(&dir).is_empty());
}

#[test]
fn a_tampered_file_is_refused_and_never_lands() {
    let hub = FakeHub::start();
    hub.with(|s| s.tamper = Some("model.safetensors".into()));
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let out = fetch(&hub, home.path(), &dir);
    assert_eq!(out.status.code(), Some(2));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("model.safetensors") && stderr.contains("SHA-256"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(!dir.join("model.safetensors").exists());
    assert!(!dir.join(MANIFEST).exists());
    assert!(
        part_files(&dir).is_empty(),
        "the bad download is not kept for a resume"
    );
}

#[test]
fn a_commit_other_than_the_pinned_one_is_refused() {
    let hub = FakeHub::start();
    hub.with(|s| s.commit = "f".repeat(40));
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let out = fetch(&hub, home.path(), &dir);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains(COMMIT), "{}", text(&out.stderr));
    assert!(!dir.join("config.json").exists());
}

#[test]
fn the_default_model_at_its_pinned_commit_records_its_trained_languages() {
    const DEFAULT_ID: &str = "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual";
    const PINNED: &str = "82107f4ccba672c9ab1eee538e727e462cad21de";
    let hub = FakeHub::start();
    hub.with(|s| {
        s.model_id = DEFAULT_ID.into();
        s.commit = PINNED.into();
    });
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let out = run(command(
        &hub,
        home.path(),
        &["fetch", "--dir", dir.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["model_id"], DEFAULT_ID);
    assert_eq!(
        manifest["languages"],
        json!(["ar", "de", "en", "es", "fr", "hi", "it", "pt"])
    );
    // Loaded from that folder, a Russian text is called unsupported with no flag.
    let russian = "Мне очень понравилась эта книга, я читал её всю ночь и не мог остановиться";
    let out = run(command(
        &hub,
        home.path(),
        &[
            "classify",
            "--model",
            dir.to_str().unwrap(),
            "--language",
            russian,
        ],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let line: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(line["language"], "ru");
    assert_eq!(line["language_supported"], false);

    // Any other model: no languages recorded (never guessed).
    let hub = FakeHub::start();
    let other = home.path().join("other");
    assert!(fetch(&hub, home.path(), &other).status.success());
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(other.join(MANIFEST)).unwrap()).unwrap();
    assert!(manifest.get("languages").is_none(), "{manifest}");
}

#[test]
fn a_branch_is_resolved_to_its_commit_in_the_manifest() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    let out = run(command(
        &hub,
        home.path(),
        &["fetch", MODEL_ID, "--dir", dir.to_str().unwrap()],
    ));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("not a commit"));
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["revision"], COMMIT);
    // Files are then requested at the commit, never at the moving branch.
    assert!(hub
        .requests()
        .iter()
        .filter(|(p, _, _)| p.contains("/resolve/"))
        .all(|(p, _, _)| p.contains(COMMIT)));
}

#[test]
fn a_changed_file_is_refused_at_load_unless_overridden() {
    let hub = FakeHub::start();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("model");
    assert!(fetch(&hub, home.path(), &dir).status.success());

    // Flip the last byte of the weights: same size, still loadable, different hash.
    let weights = dir.join("model.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, &bytes).unwrap();

    let model = dir.to_str().unwrap();
    let refused = run(command(
        &hub,
        home.path(),
        &["classify", "--model", model, "hello"],
    ));
    assert_eq!(refused.status.code(), Some(2));
    let stderr = text(&refused.stderr);
    assert!(
        stderr.contains("model.safetensors") && stderr.contains("--no-verify"),
        "{stderr}"
    );

    let verify = run(command(&hub, home.path(), &["verify", model]));
    assert_eq!(verify.status.code(), Some(1));
    let report = text(&verify.stdout);
    assert!(
        report.contains("model.safetensors: DIFFERS: SHA-256"),
        "{report}"
    );
    assert!(report.contains("config.json: ok"), "{report}");

    let forced = run(command(
        &hub,
        home.path(),
        &["classify", "--model", model, "--no-verify", "hello"],
    ));
    assert!(forced.status.success(), "{}", text(&forced.stderr));

    std::fs::remove_file(dir.join("tokenizer.json")).unwrap();
    let verify = run(command(&hub, home.path(), &["verify", model]));
    assert!(text(&verify.stdout).contains("tokenizer.json: DIFFERS: the file is missing"));
}

const DATASET_ID: &str = "tests/tweet_sentiment_multilingual";

/// A fake Hub serving the fixture dataset's files (both splits of every config, `all` too) as a
/// dataset repository.
fn dataset_hub() -> FakeHub {
    let hub = FakeHub::start();
    let root = fixture_dir().join("../../datasets/tweet_sentiment_multilingual");
    hub.with(|s| {
        s.dataset = true;
        s.model_id = DATASET_ID.into();
        s.files.clear();
        for config in std::fs::read_dir(&root).unwrap() {
            let config = config.unwrap();
            if !config.file_type().unwrap().is_dir() {
                continue;
            }
            let name = config.file_name().into_string().unwrap();
            for split in ["test", "validation"] {
                let file = format!("{name}/{split}/0000.parquet");
                s.files
                    .insert(file.clone(), std::fs::read(root.join(&file)).unwrap());
            }
        }
    });
    hub
}

#[test]
fn a_dataset_is_fetched_pinned_hashed_resumed_and_then_offline() {
    let hub = dataset_hub();
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("data");
    let dir_arg = dir.to_str().unwrap();
    let args = ["fetch", "--dataset", DATASET_ID, "--dir", dir_arg];
    // An interrupted download of one file: the second run resumes it.
    hub.with(|s| s.stall = Some(("english/test/0000.parquet".into(), 600)));
    let mut child = command(&hub, home.path(), &args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_for("the stalled download", || hub.with(|s| s.stalled_sent) > 0);
    wait_for("a partial file", || !part_files(&dir).is_empty());
    child.kill().unwrap();
    child.wait().unwrap();
    hub.with(|s| s.stall = None);
    let output = run(command(&hub, home.path(), &args));
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("refs/convert/parquet"),
        "the branch is named: {stderr}"
    );
    let resumed = hub.requests().iter().any(|(path, range, _)| {
        path.ends_with("english/test/0000.parquet")
            && range
                .as_deref()
                .is_some_and(|r| r.starts_with("bytes=600-"))
    });
    assert!(
        resumed,
        "no range request resumed the file: {:?}",
        hub.requests()
    );

    // The test split of every language config, not `all` (the same rows), nor validation.
    let manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join(MANIFEST)).unwrap()).unwrap();
    assert_eq!(manifest["model_id"], DATASET_ID);
    assert_eq!(
        manifest["revision"], COMMIT,
        "the branch resolved to its commit"
    );
    assert_eq!(manifest["repo_type"], "dataset");
    let files: Vec<&String> = manifest["files"].as_object().unwrap().keys().collect();
    assert_eq!(files.len(), 8, "{files:?}");
    assert!(files
        .iter()
        .all(|f| f.ends_with("/test/0000.parquet") && !f.starts_with("all/")));
    for name in &files {
        let want = hub.with(|s| s.files[name.as_str()].clone());
        assert_eq!(std::fs::read(dir.join(name)).unwrap(), want, "{name}");
        assert_eq!(
            manifest["files"][name]["sha256"],
            hex(&Sha256::digest(&want))
        );
    }
    assert!(!dir.join(".download").exists());

    // Pinned and offline: the folder as it is, no request.
    let before = hub.requests().len();
    let pinned = [
        "fetch",
        "--dataset",
        DATASET_ID,
        "--revision",
        COMMIT,
        "--dir",
        dir_arg,
    ];
    let mut offline = command(&hub, home.path(), &pinned);
    offline.env("HF_HUB_OFFLINE", "1");
    let output = run(offline);
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert_eq!(hub.requests().len(), before, "offline made a request");

    // The fetched folder is what eval and reproduce read.
    let model = fixture_dir();
    let output = common::run(&[
        "reproduce",
        "--model",
        model.to_str().unwrap(),
        "--dataset",
        dir_arg,
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["results"][0]["overall"]["rows"], 96);

    // Another split on request; a tampered file never lands.
    let with_validation = [&pinned[..], &["--split", "test", "--split", "validation"]].concat();
    hub.with(|s| s.tamper = Some("french/validation/0000.parquet".into()));
    let output = run(command(&hub, home.path(), &with_validation));
    assert!(!output.status.success());
    assert!(
        text(&output.stderr).contains("french/validation/0000.parquet"),
        "{}",
        text(&output.stderr)
    );
    assert!(!dir.join("french/validation/0000.parquet").exists());
    hub.with(|s| s.tamper = None);
    let output = run(command(&hub, home.path(), &with_validation));
    assert!(output.status.success(), "{}", text(&output.stderr));
    assert!(dir.join("french/validation/0000.parquet").is_file());

    // A split the dataset lacks: one clear line.
    let output = run(command(
        &hub,
        home.path(),
        &[
            "fetch",
            "--dataset",
            DATASET_ID,
            "--dir",
            dir_arg,
            "--split",
            "train",
        ],
    ));
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("no `train` split"),
        "{}",
        text(&output.stderr)
    );
}
