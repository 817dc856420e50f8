//! `xlmr-sentiment serve` as a client sees it: the built binary on a free port of 127.0.0.1
//! with the tiny fixture model; answers checked against the golden outputs, every error case
//! with its status and body, overload (429 at once, nothing lost), the API key, and SIGTERM
//! finishing the requests in flight.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use common::server::{agent, answer, Server};

fn model() -> PathBuf {
    common::tiny_sentiment()
}

fn golden() -> Value {
    common::golden("tiny-sentiment")
}

/// Labels in id order, from config.json's id2label.
fn labels() -> Vec<String> {
    common::labels("tiny-sentiment")
}

/// Checks one `[{"score","label"}]` answer against a golden row's values, highest first.
fn assert_scores(answer: &Value, want: &[f64], labels: &[String]) {
    let items = answer.as_array().expect("a list of scores");
    assert_eq!(items.len(), labels.len(), "{answer}");
    let scores: Vec<f64> = items.iter().map(|s| s["score"].as_f64().unwrap()).collect();
    assert!(
        scores.windows(2).all(|w| w[0] >= w[1]),
        "not highest first: {answer}"
    );
    for item in items {
        let label = item["label"].as_str().unwrap();
        let i = labels.iter().position(|l| l == label).unwrap();
        let got = item["score"].as_f64().unwrap();
        assert!(
            (got - want[i]).abs() < 1e-4,
            "{label}: {got} vs golden {}",
            want[i]
        );
    }
}

fn floats(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// Golden rows with a non-empty text (an empty text is a 400 here).
fn rows() -> Vec<Value> {
    golden()["texts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !r["text"].as_str().unwrap().is_empty())
        .cloned()
        .collect()
}

fn assert_error(answer: (u16, Value), status: u16, error_type: &str, contains: &str) {
    let (got_status, body) = answer;
    assert_eq!(got_status, status, "{body}");
    assert_eq!(body["error_type"], error_type, "{body}");
    let message = body["error"].as_str().expect("an error message");
    assert!(message.contains(contains), "`{message}` lacks `{contains}`");
    assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
}

#[test]
fn predict_matches_golden_single_batch_and_raw() {
    let server = Server::start(&[]);
    let labels = labels();
    let rows = rows();
    // One text per request.
    for row in rows.iter().take(20) {
        let body = json!({"inputs": row["text"], "truncate": true}).to_string();
        let (status, answer) = server.post("/predict", &body);
        assert_eq!(status, 200, "{answer}");
        assert_scores(&answer, &floats(&row["scores"]), &labels);
    }
    // Every golden text, in batches of 32 (`[["a"], ["b"]]`).
    for chunk in rows.chunks(32) {
        let inputs: Vec<Value> = chunk.iter().map(|r| json!([r["text"]])).collect();
        let body = json!({"inputs": inputs, "truncate": true}).to_string();
        let (status, answer) = server.post("/predict", &body);
        assert_eq!(status, 200, "{answer}");
        let answers = answer.as_array().unwrap();
        assert_eq!(answers.len(), chunk.len());
        for (a, row) in answers.iter().zip(chunk) {
            assert_scores(a, &floats(&row["scores"]), &labels);
        }
    }
    // Raw scores are the logits.
    let batch: Vec<Value> = rows.iter().take(8).map(|r| json!([r["text"]])).collect();
    let body = json!({"inputs": batch, "raw_scores": true, "truncate": true}).to_string();
    let (status, answer) = server.post("/predict", &body);
    assert_eq!(status, 200, "{answer}");
    for (a, row) in answer.as_array().unwrap().iter().zip(&rows) {
        assert_scores(a, &floats(&row["logits"]), &labels);
    }
    // `["a"]` is one text, like TEI: a flat answer.
    let body = json!({"inputs": [rows[0]["text"]]}).to_string();
    let (status, answer) = server.post("/predict", &body);
    assert_eq!(status, 200);
    assert_scores(&answer, &floats(&rows[0]["scores"]), &labels);
}

#[test]
fn hugging_face_shape() {
    let server = Server::start(&[]);
    let labels = labels();
    let rows = rows();
    // A single text: a list holding one list, every label.
    let (status, answer) = server.post("/", &json!({"inputs": rows[0]["text"]}).to_string());
    assert_eq!(status, 200, "{answer}");
    let outer = answer.as_array().unwrap();
    assert_eq!(outer.len(), 1);
    assert_scores(&outer[0], &floats(&rows[0]["scores"]), &labels);
    assert!(outer[0][0].get("label").is_some() && outer[0][0].get("score").is_some());
    // A list of strings is a batch; truncation is on by default (row 94 is over 512 tokens).
    let texts: Vec<&Value> = rows.iter().take(3).map(|r| &r["text"]).collect();
    let (status, answer) = server.post("/", &json!({"inputs": texts}).to_string());
    assert_eq!(status, 200, "{answer}");
    for (a, row) in answer.as_array().unwrap().iter().zip(&rows) {
        assert_scores(a, &floats(&row["scores"]), &labels);
    }
    let long = golden()["texts"][94].clone();
    assert_eq!(long["truncated"], true);
    let (status, answer) = server.post("/", &json!({"inputs": long["text"]}).to_string());
    assert_eq!(status, 200, "{answer}");
    assert_scores(&answer[0], &floats(&long["scores"]), &labels);
    // top_k and function_to_apply.
    let body = json!({"inputs": [rows[0]["text"], rows[1]["text"]],
        "parameters": {"top_k": 1, "function_to_apply": "none"}});
    let (status, answer) = server.post("/", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    for (a, row) in answer.as_array().unwrap().iter().zip(&rows) {
        let items = a.as_array().unwrap();
        assert_eq!(items.len(), 1);
        let logits = floats(&row["logits"]);
        let best = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        assert!((items[0]["score"].as_f64().unwrap() - best).abs() < 1e-4);
    }
    let body = json!({"inputs": "x", "parameters": {"function_to_apply": "relu"}});
    assert_error(
        server.post("/", &body.to_string()),
        422,
        "Validation",
        "relu",
    );
    assert_error(server.post("/", r#"{"inputs": []}"#), 400, "Empty", "empty");
}

#[test]
fn errors_have_their_status_and_body() {
    let server = Server::start(&["--payload-limit", "20000"]);
    // A TEI pair is refused with the convention explained.
    let answer = server.post("/predict", r#"{"inputs": ["I love it", "I hate it"]}"#);
    assert_error(answer, 422, "Validation", r#"[["a"], ["b"]]"#);
    let answer = server.post("/predict", r#"{"inputs": [["ok"], ["a", "b"]]}"#);
    assert_error(answer, 422, "Validation", "POST /");
    // Too long without truncate: the count and the limit are named.
    let long = golden()["texts"][94]["text"].clone();
    let answer = server.post("/predict", &json!({"inputs": long}).to_string());
    assert_error(answer, 422, "Validation", "limit of 512");
    let (_, body) = server.post("/predict", &json!({"inputs": long}).to_string());
    let message = body["error"].as_str().unwrap();
    let count: usize = message
        .split_whitespace()
        .skip_while(|w| *w != "has")
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no token count in `{message}`"));
    assert!(count > 512, "{message}");
    let (status, _) = server.post(
        "/predict",
        &json!({"inputs": long, "truncate": true}).to_string(),
    );
    assert_eq!(status, 200);
    // Empty input.
    assert_error(
        server.post("/predict", r#"{"inputs": ""}"#),
        400,
        "Empty",
        "empty",
    );
    assert_error(
        server.post("/predict", r#"{"inputs": []}"#),
        400,
        "Empty",
        "empty",
    );
    assert_error(
        server.post("/predict", r#"{"inputs": [["a"], [""]]}"#),
        400,
        "Empty",
        "text 1",
    );
    // Malformed JSON and wrong types.
    assert_error(
        server.post("/predict", r#"{"inputs": "#),
        422,
        "Validation",
        "JSON",
    );
    assert_error(
        server.post("/predict", "not json"),
        422,
        "Validation",
        "JSON",
    );
    assert_error(
        server.post("/predict", r#"{"text": "x"}"#),
        422,
        "Validation",
        "inputs",
    );
    let answer = server.post("/predict", r#"{"inputs": "x", "truncate": "yes"}"#);
    assert_error(answer, 422, "Validation", "truncate");
    let answer = server.post(
        "/predict",
        r#"{"inputs": "x", "truncation_direction": "left"}"#,
    );
    assert_error(answer, 422, "Validation", "left");
    let (status, _) = server.post(
        "/predict",
        r#"{"inputs": "x", "truncation_direction": "right"}"#,
    );
    assert_eq!(status, 200);
    // Client batch too large (32 is the limit).
    let batch: Vec<Value> = (0..33).map(|i| json!([format!("text {i}")])).collect();
    let answer = server.post("/predict", &json!({"inputs": batch}).to_string());
    assert_error(answer, 422, "Validation", "32");
    // Oversized payload (limit 20000 bytes here).
    let big = json!({"inputs": "a ".repeat(15_000)}).to_string();
    assert_error(
        server.post("/predict", &big),
        413,
        "Validation",
        "payload limit",
    );
    // Unknown route: JSON too.
    let (status, body) = server.post("/nope", "{}");
    assert_eq!(status, 404);
    assert!(body["error"].is_string());
    // The server is still fine.
    assert_eq!(server.get("/health").0, 200);
}

#[test]
fn api_key_is_enforced_except_on_health_and_ready() {
    let server = Server::start(&["--api-key", "s3cret"]);
    let body = r#"{"inputs": "hello"}"#;
    assert_error(
        server.post("/predict", body),
        401,
        "Unauthorized",
        "missing API key",
    );
    assert_error(
        server.post_with("/predict", body, Some("wrong")),
        401,
        "Unauthorized",
        "wrong API key",
    );
    assert_error(server.post("/", body), 401, "Unauthorized", "API key");
    let (status, _) = server.post_with("/predict", body, Some("s3cret"));
    assert_eq!(status, 200);
    let (status, _) = server.post_with("/", body, Some("s3cret"));
    assert_eq!(status, 200);
    assert_eq!(server.get("/info").0, 401);
    assert_eq!(server.get("/health").0, 200);
    assert_eq!(server.get("/ready").0, 200, "probes need no key");
}

#[test]
fn health_info_and_metrics() {
    let server = Server::start(&["--max-batch-tokens", "4096"]);
    assert_eq!(server.get("/health").0, 200);
    let (status, info) = server.get("/info");
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["labels"], json!(labels()));
    assert_eq!(info["max_input_length"], 512);
    assert_eq!(info["max_batch_tokens"], 4096);
    assert_eq!(info["max_client_batch_size"], 32);
    assert_eq!(info["max_concurrent_requests"], 512);
    assert_eq!(info["model_id"], "tiny-sentiment");
    // The default, auto: on this model and machine either device, and always why.
    assert_eq!(info["device"]["requested"], "auto", "{info}");
    assert!(info["device"]["reason"].is_string(), "{info}");
    let sha = info["weights_sha256"].as_str().unwrap();
    assert_eq!(sha.len(), 64);
    assert_eq!(
        sha,
        xlmr_sentiment::manifest::sha256_file(&model().join("model.safetensors")).unwrap()
    );
    server.post("/predict", r#"{"inputs": [["good"], ["bad"]]}"#);
    server.post("/predict", r#"{"inputs": ""}"#);
    let (status, text) = server.get("/metrics");
    assert_eq!(status, 200);
    for needle in [
        "te_request_count{method=\"predict\"} 2",
        "te_request_success{method=\"predict\"} 1",
        "te_request_failure{method=\"predict\",err=\"empty\"} 1",
        "te_queue_size 0",
        "te_batch_next_size_count 1",
        "te_batch_next_tokens_bucket{le=\"+Inf\"} 1",
        "te_predict_tokenization_duration_count 1",
        "te_predict_queue_duration_count 1",
        "te_predict_inference_duration_count 1",
        "te_predict_duration_count 1",
    ] {
        assert!(text.contains(needle), "no `{needle}` in\n{text}");
    }
}

/// A request of 32 long texts (each truncated to 512 tokens): heavy enough (about a second
/// here) that concurrent requests overlap. Returns the body and the golden scores per text.
fn heavy_batch() -> (String, Vec<Vec<f64>>) {
    let long = &golden()["texts"][94];
    assert_eq!(long["truncated"], true);
    let inputs = vec![json!([long["text"]]); 32];
    let body = json!({"inputs": inputs, "truncate": true}).to_string();
    (body, vec![floats(&long["scores"]); 32])
}

/// Sends `n` heavy requests at once from `n` threads; returns (status, body) per request.
fn burst(server: &Server, n: usize, body: &str) -> Vec<(u16, Value)> {
    let barrier = Arc::new(Barrier::new(n));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let url = server.url("/predict");
            let body = body.to_string();
            std::thread::spawn(move || {
                barrier.wait();
                answer(
                    agent()
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(&body),
                )
            })
        })
        .collect();
    handles.into_iter().map(|h| h.join().unwrap()).collect()
}

#[test]
fn overload_is_429_at_once_and_nothing_is_lost() {
    let server = Server::start(&["--max-concurrent-requests", "2"]);
    let labels = labels();
    let (body, want) = heavy_batch();
    let mut rejected = 0;
    let mut served = 0;
    // A few rounds at most: one is nearly always enough to see 429s.
    for _ in 0..5 {
        for (status, answer) in burst(&server, 30, &body) {
            match status {
                200 => {
                    served += 1;
                    let answers = answer.as_array().unwrap();
                    assert_eq!(answers.len(), 32);
                    for (a, w) in answers.iter().zip(&want) {
                        assert_scores(a, w, &labels);
                    }
                }
                429 => {
                    rejected += 1;
                    assert_error((status, answer), 429, "Overloaded", "overloaded");
                }
                other => panic!("unexpected {other}: {answer}"),
            }
        }
        if rejected > 0 {
            break;
        }
    }
    assert!(rejected > 0, "no request was refused");
    assert!(served > 0, "no request was served");
    assert_eq!(server.get("/health").0, 200);
    let (status, answer) = server.post("/predict", &body);
    assert_eq!(status, 200, "{answer}");
}

#[cfg(unix)]
#[test]
fn sigterm_finishes_requests_in_flight_then_exits_0() {
    let mut server = Server::start(&[]);
    let labels = labels();
    let (body, want) = heavy_batch();
    let n = 4;
    let barrier = Arc::new(Barrier::new(n + 1));
    let handles: Vec<_> = (0..n)
        .map(|_| {
            let barrier = barrier.clone();
            let url = server.url("/predict");
            let body = body.clone();
            std::thread::spawn(move || {
                barrier.wait();
                let answer = answer(
                    agent()
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(&body),
                );
                (answer, Instant::now())
            })
        })
        .collect();
    barrier.wait();
    // Let the requests reach the server, then ask it to stop while they are queued.
    std::thread::sleep(Duration::from_millis(150));
    let status = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let killed = Instant::now();
    let mut after_kill = 0;
    for handle in handles {
        let ((status, answer), done) = handle.join().unwrap();
        after_kill += usize::from(done > killed);
        assert_eq!(status, 200, "{answer}");
        for (a, w) in answer.as_array().unwrap().iter().zip(&want) {
            assert_scores(a, w, &labels);
        }
    }
    assert!(
        after_kill > 0,
        "every request ended before SIGTERM: nothing was in flight"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(exit) = server.child.try_wait().unwrap() {
            break exit;
        }
        assert!(Instant::now() < deadline, "the server did not exit");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(exit.code(), Some(0), "{}", server.stderr.lock().unwrap());
    let log = server.stderr.lock().unwrap().clone();
    assert!(log.contains("shutting down"), "{log}");
}

#[test]
fn language_fields_only_on_the_hugging_face_endpoint_when_asked() {
    let server = Server::start(&["--languages", "en,fr"]);
    let english = "The waiter was friendly and the soup was really delicious tonight";
    let russian = "Мне очень понравилась эта книга, я читал её всю ночь и не мог остановиться";
    let body = json!({"inputs": [english, russian, "👍👍"], "parameters": {"language": true}});
    let (status, answer) = server.post("/", &body.to_string());
    assert_eq!(status, 200, "{answer}");
    let want = [
        (json!("en"), json!(true)),
        (json!("ru"), json!(false)),
        (Value::Null, Value::Null),
    ];
    for (entries, (language, supported)) in answer.as_array().unwrap().iter().zip(want) {
        for entry in entries.as_array().unwrap() {
            assert_eq!(entry["language"], language, "{answer}");
            assert_eq!(entry["language_supported"], supported, "{answer}");
            assert!(entry["label"].is_string() && entry["score"].is_number());
        }
    }
    // Not asked: the answer is as before.
    let (_, answer) = server.post("/", &json!({"inputs": english}).to_string());
    assert!(answer[0][0].get("language").is_none(), "{answer}");
    // TEI's /predict stays exactly TEI's.
    let (status, answer) = server.post("/predict", &json!({"inputs": english}).to_string());
    assert_eq!(status, 200, "{answer}");
    for entry in answer.as_array().unwrap() {
        let mut keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["label", "score"], "{answer}");
    }
    let body = json!({"inputs": english, "parameters": {"language": "yes"}});
    assert_error(
        server.post("/", &body.to_string()),
        422,
        "Validation",
        "language",
    );
    // /info names the trained languages.
    let (status, info) = server.get("/info");
    assert_eq!(status, 200);
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["trained_languages"], json!(["en", "fr"]));
}

#[test]
fn every_setting_can_come_from_the_environment() {
    let model = model();
    let server = Server::start_from_env(&[
        ("MODEL", model.as_os_str()),
        ("ADDR", "127.0.0.1:0".as_ref()),
        ("API_KEY", "from-env".as_ref()),
        ("MAX_CLIENT_BATCH_SIZE", "2".as_ref()),
        ("AUTO_TRUNCATE", "true".as_ref()),
    ]);
    let (status, _) = server.post("/predict", r#"{"inputs": "hi"}"#);
    assert_eq!(status, 401, "API_KEY is enforced");
    let (status, _) = server.post_with("/predict", r#"{"inputs": "hi"}"#, Some("from-env"));
    assert_eq!(status, 200);
    assert_error(
        server.post_with(
            "/predict",
            r#"{"inputs": ["a", "b", "c"]}"#,
            Some("from-env"),
        ),
        422,
        "Validation",
        "",
    );
    let (status, info) = server.post_with("/predict", &long_text_body(None), Some("from-env"));
    assert_eq!(status, 200, "AUTO_TRUNCATE: {info}");
    // The environment is only serve's: a MODEL left in a shell does not feed classify.
    let output = common::binary()
        .args(["classify", "text"])
        .env("MODEL", &model)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--model"));
}

/// A /predict body whose text is longer than the fixture model's 512 tokens.
fn long_text_body(truncate: Option<bool>) -> String {
    let text = "word ".repeat(2_000);
    match truncate {
        None => json!({ "inputs": text }).to_string(),
        Some(t) => json!({ "inputs": text, "truncate": t }).to_string(),
    }
}

#[test]
fn auto_truncate_is_the_default_a_request_can_override() {
    let server = Server::start(&["--auto-truncate"]);
    let (status, answer) = server.post("/predict", &long_text_body(None));
    assert_eq!(status, 200, "{answer}");
    assert_error(
        server.post("/predict", &long_text_body(Some(false))),
        422,
        "Validation",
        "more than the limit",
    );
    let plain = Server::start(&[]);
    assert_error(
        plain.post("/predict", &long_text_body(None)),
        422,
        "Validation",
        "more than the limit",
    );
}

#[test]
fn api_key_from_a_file_and_info_without_paths() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("key");
    std::fs::write(&file, "s3cret\n").unwrap();
    let server = Server::start(&["--api-key-file", file.to_str().unwrap()]);
    assert_eq!(
        server
            .post_with("/predict", r#"{"inputs": "hi"}"#, Some("s3cret"))
            .0,
        200
    );
    assert_eq!(
        server
            .post_with("/predict", r#"{"inputs": "hi"}"#, Some("s3cret2"))
            .0,
        401
    );
    assert_eq!(
        server
            .post_with("/predict", r#"{"inputs": "hi"}"#, Some("s3cre"))
            .0,
        401
    );
    let (status, info) = agent()
        .get(&server.url("/info"))
        .header("Authorization", "Bearer s3cret")
        .call()
        .map(|mut r| (r.status().as_u16(), r.body_mut().read_to_string().unwrap()))
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        !info.contains("model_path") && !info.contains(model().to_str().unwrap()),
        "{info}"
    );
    let log = server.stderr.lock().unwrap().clone();
    assert!(!log.contains("s3cret"), "the key is never logged: {log}");
    // An empty file is refused at start.
    std::fs::write(&file, "").unwrap();
    let output = common::binary()
        .args(["serve", "--model"])
        .arg(model())
        .args(["--api-key-file", file.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("the file is empty"));
}

#[test]
fn cors_only_when_asked() {
    let preflight = |server: &Server| {
        agent()
            .options(&server.url("/predict"))
            .header("Origin", "https://app.example.com")
            .header("Access-Control-Request-Method", "POST")
            .header(
                "Access-Control-Request-Headers",
                "authorization,content-type",
            )
            .call()
            .unwrap()
    };
    let server = Server::start(&[
        "--cors-allow-origin",
        "https://app.example.com",
        "--api-key",
        "k",
    ]);
    let response = preflight(&server);
    assert_eq!(response.status().as_u16(), 200, "a preflight needs no key");
    assert_eq!(
        response
            .headers()
            .get("access-control-allow-origin")
            .unwrap(),
        "https://app.example.com"
    );
    let answer = agent()
        .post(&server.url("/predict"))
        .header("Origin", "https://app.example.com")
        .header("Authorization", "Bearer k")
        .header("Content-Type", "application/json")
        .send(r#"{"inputs": "hi"}"#)
        .unwrap();
    assert_eq!(
        answer.headers().get("access-control-allow-origin").unwrap(),
        "https://app.example.com"
    );
    let closed = Server::start(&[]);
    assert!(preflight(&closed)
        .headers()
        .get("access-control-allow-origin")
        .is_none());
}

#[test]
fn one_log_line_per_request_without_the_texts() {
    let secret_text = "my private message 4711";
    let body = json!({ "inputs": secret_text }).to_string();
    let server = Server::start(&["--json-logs"]);
    assert_eq!(server.post("/predict", &body).0, 200);
    assert_eq!(
        server.post("/predict", r#"{"inputs": ""}"#).0,
        400,
        "an empty text is 400 Empty"
    );
    // The log is written after the answer: give the server a moment.
    std::thread::sleep(Duration::from_millis(200));
    let log = server.stderr.lock().unwrap().clone();
    assert!(!log.contains(secret_text), "texts are not logged: {log}");
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message"] == "request")
        .collect();
    assert_eq!(lines.len(), 2, "{log}");
    let ok = &lines[0];
    assert_eq!(ok["route"], "/predict");
    assert_eq!(ok["method"], "POST");
    assert_eq!(ok["status"], 200);
    assert_eq!(ok["texts"], 1);
    assert!(ok["tokens"].as_u64().unwrap() > 2, "{ok}");
    for field in ["queue_ms", "inference_ms", "duration_ms"] {
        assert!(ok[field].as_f64().unwrap() >= 0.0, "{field}: {ok}");
    }
    assert!(ok["inference_ms"].as_f64().unwrap() > 0.0, "{ok}");
    assert_eq!(lines[1]["status"], 400);

    let server = Server::start(&["--log-texts"]);
    assert_eq!(server.post("/predict", &body).0, 200);
    std::thread::sleep(Duration::from_millis(200));
    let log = server.stderr.lock().unwrap().clone();
    let line = log
        .lines()
        .find(|l| l.contains("request"))
        .expect("a request line");
    assert!(
        line.contains(secret_text),
        "--log-texts puts the texts in: {line}"
    );
    assert!(
        line.contains("status=200") && line.contains("route=\"/predict\""),
        "{line}"
    );
}

/// A metric's value in `/metrics` (0 when absent).
fn metric(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The server process's resident memory, from /proc.
#[cfg(target_os = "linux")]
fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

/// An open-loop load: `total` requests sent at `rate` per second (from `senders` threads, so a
/// slow answer does not slow the arrivals); returns the statuses and bodies, the seconds from the
/// first send to the last, and the seconds until the last answer.
fn open_loop(
    server: &Server,
    body: &str,
    total: usize,
    rate: f64,
    senders: usize,
) -> (Vec<(u16, Value)>, f64, f64) {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let handles: Vec<_> = (0..senders)
        .map(|_| {
            let (next, url, body) = (next.clone(), server.url("/predict"), body.to_string());
            std::thread::spawn(move || {
                let agent = agent();
                let mut answers = Vec::new();
                let mut last_sent = started;
                loop {
                    let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n >= total {
                        return (answers, last_sent);
                    }
                    let due = started + Duration::from_secs_f64(n as f64 / rate);
                    if let Some(wait) = due.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    last_sent = Instant::now();
                    let result = agent
                        .post(&url)
                        .header("Content-Type", "application/json")
                        .send(&body);
                    answers.push(answer(result));
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    let mut last_sent = started;
    for handle in handles {
        let (some, sent) = handle.join().unwrap();
        answers.extend(some);
        last_sent = last_sent.max(sent);
    }
    let sending = (last_sent - started).as_secs_f64();
    (answers, sending, started.elapsed().as_secs_f64())
}

/// Ten times the load the server can take: its capacity measured first (as many clients as
/// `--max-concurrent-requests`, back to back), then requests arriving at 10x that rate, twice.
/// Every request gets exactly one answer, a 200 with the golden scores or an immediate 429; the
/// server's own counters agree; `/ready` answers 200 throughout; memory does not grow from one
/// round to the next. The figures go to stderr and to `target/tmp/server-overload.json`.
#[cfg(target_os = "linux")]
#[test]
fn ten_times_overload_gives_only_200s_and_429s_and_memory_stays_flat() {
    let server = Server::start(&["--max-concurrent-requests", "4"]);
    let pid = server.child.id();
    let labels = labels();
    let (body, want) = heavy_batch();
    let check = |answers: &[(u16, Value)]| -> (usize, usize) {
        let (mut ok, mut refused) = (0, 0);
        for (status, answer) in answers {
            match status {
                200 => {
                    ok += 1;
                    let answers = answer.as_array().unwrap();
                    assert_eq!(answers.len(), want.len());
                    for (a, w) in answers.iter().zip(&want) {
                        assert_scores(a, w, &labels);
                    }
                }
                429 => {
                    refused += 1;
                    assert_eq!(answer["error_type"], "Overloaded", "{answer}");
                }
                other => panic!("unexpected status {other}: {answer}"),
            }
        }
        (ok, refused)
    };

    // Capacity: 4 clients back to back, 10 requests each; all served.
    let capacity_requests = 40;
    let (answers, _, seconds) = open_loop(&server, &body, capacity_requests, f64::INFINITY, 4);
    assert_eq!(check(&answers), (capacity_requests, 0));
    let capacity = capacity_requests as f64 / seconds;
    let rss_warm = rss_mb(pid);

    // /ready, polled through both rounds.
    let polling = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let poller = {
        let (polling, url) = (polling.clone(), server.url("/ready"));
        std::thread::spawn(move || {
            let agent = agent();
            let mut statuses = Vec::new();
            while polling.load(std::sync::atomic::Ordering::Relaxed) {
                statuses.push(agent.get(&url).call().expect("/ready").status().as_u16());
                std::thread::sleep(Duration::from_millis(50));
            }
            statuses
        })
    };
    // Two rounds of 3 s at 10x the capacity; 64 senders keep the arrivals on time.
    let rate = 10.0 * capacity;
    let total = ((3.0 * rate) as usize).max(200);
    let mut rounds = Vec::new();
    for _ in 0..2 {
        let (answers, sending, seconds) = open_loop(&server, &body, total, rate, 64);
        assert_eq!(answers.len(), total, "a request got no answer");
        let (ok, refused) = check(&answers);
        assert!(ok > 0 && refused > 0, "{ok} served, {refused} refused");
        rounds.push(json!({
            "requests": total, "offered_per_s": total as f64 / sending, "served": ok,
            "served_per_s": ok as f64 / seconds, "refused_429": refused,
            "rss_mb_after": rss_mb(pid),
        }));
    }
    polling.store(false, std::sync::atomic::Ordering::Relaxed);
    let ready = poller.join().unwrap();
    assert!(
        !ready.is_empty() && ready.iter().all(|&s| s == 200),
        "/ready: {ready:?}"
    );

    // The server counted each request once: every 200 a success, every 429 an overload.
    let (_, metrics) = server.get("/metrics");
    let served: usize = rounds
        .iter()
        .map(|r| r["served"].as_u64().unwrap() as usize)
        .sum();
    let refused: usize = rounds
        .iter()
        .map(|r| r["refused_429"].as_u64().unwrap() as usize)
        .sum();
    let sent = capacity_requests + 2 * total;
    assert_eq!(
        metric(&metrics, "te_request_count{method=\"predict\"}"),
        sent as f64
    );
    assert_eq!(
        metric(&metrics, "te_request_success{method=\"predict\"}"),
        (capacity_requests + served) as f64
    );
    assert_eq!(
        metric(
            &metrics,
            "te_request_failure{method=\"predict\",err=\"overloaded\"}"
        ),
        refused as f64
    );
    // Flat: the second round ends where the first did (allocator slack aside).
    let (first, second) = (
        rounds[0]["rss_mb_after"].as_f64().unwrap(),
        rounds[1]["rss_mb_after"].as_f64().unwrap(),
    );
    assert!(
        second <= first * 1.1 + 8.0,
        "memory grew: {rss_warm:.1} MB warm, {first:.1} after round 1, {second:.1} after round 2"
    );
    let figures = json!({
        "model": "tiny-sentiment (fixture)", "max_concurrent_requests": 4,
        "request": "32 texts of 512 tokens (truncated)", "capacity_per_s": capacity,
        "target_rate_per_s": rate, "rss_mb_warm": rss_warm, "rounds": rounds,
        "ready_polls": ready.len(),
    });
    eprintln!("overload figures: {figures}");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("server-overload.json");
    std::fs::write(out, serde_json::to_string_pretty(&figures).unwrap()).unwrap();
}

#[test]
fn the_device_is_reported_and_the_gpu_answers_as_the_cpu() {
    let body = r#"{"inputs": [["good"], ["bad"], ["ça va, merci"]]}"#;
    let cpu = Server::start(&["--device", "cpu"]);
    let (_, info) = cpu.get("/info");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(
        info["device"],
        json!({"requested": "cpu", "device": "cpu", "adapter": null, "backend": null,
               "gpu_min_tokens": null, "gpu_weights": null, "gpu_weight_bytes": null,
               "reason": null})
    );
    let (status, on_cpu) = cpu.post("/predict", body);
    assert_eq!(status, 200);
    drop(cpu);
    if !common::gpu_present() {
        return;
    }
    let gpu = Server::start(&["--device", "gpu"]);
    let (_, info) = gpu.get("/info");
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info["device"]["device"], "gpu", "{info}");
    assert!(info["device"]["adapter"].is_string(), "{info}");
    // The fixture folder is f32, and so is its copy on the GPU.
    assert_eq!(info["device"]["gpu_weights"], "f32", "{info}");
    assert!(
        info["device"]["gpu_weight_bytes"].as_u64().unwrap() > 0,
        "{info}"
    );
    let (status, on_gpu) = gpu.post("/predict", body);
    assert_eq!(status, 200);
    for (a, b) in on_cpu
        .as_array()
        .unwrap()
        .iter()
        .zip(on_gpu.as_array().unwrap())
    {
        for (x, y) in a.as_array().unwrap().iter().zip(b.as_array().unwrap()) {
            assert_eq!(x["label"], y["label"]);
            let (x, y) = (x["score"].as_f64().unwrap(), y["score"].as_f64().unwrap());
            assert!((x - y).abs() < 1e-4, "{on_cpu} against {on_gpu}");
        }
    }
}

#[test]
fn openapi_document_and_docs_page_are_served_without_a_key() {
    let server = Server::start(&["--api-key", "secret"]);
    let (status, served) = server.get("/openapi.json");
    assert_eq!(status, 200);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    let committed: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&served).unwrap(),
        committed,
        "/openapi.json is not docs/openapi.json"
    );
    // Every route the router has is in the document.
    for route in ["/predict", "/", "/info", "/health", "/ready", "/metrics"] {
        assert!(
            committed["paths"][route].is_object(),
            "{route} is not documented"
        );
    }
    let (status, page) = server.get("/docs/");
    assert_eq!(status, 200);
    assert!(page.contains("swagger-ui"), "{page}");
    // Its scripts come from the server itself.
    let (status, script) = server.get("/docs/swagger-ui-bundle.js");
    assert_eq!(status, 200);
    assert!(script.len() > 100_000);
    let (status, init) = server.get("/docs/swagger-initializer.js");
    assert_eq!(status, 200);
    assert!(init.contains("/openapi.json"), "{init}");
    // The API itself still needs the key.
    assert_eq!(server.post("/predict", r#"{"inputs": "x"}"#).0, 401);
}

#[test]
fn bodies_must_be_objects_and_type_errors_name_the_field() {
    let server = Server::start(&[]);
    // serde would read a struct from a list of its fields' values: refused.
    assert_error(
        server.post("/predict", r#"["I love it"]"#),
        422,
        "Validation",
        "the body must be a JSON object",
    );
    assert_error(
        server.post("/", r#"{"inputs": "x", "parameters": [1, null]}"#),
        422,
        "Validation",
        "`parameters` must be a JSON object",
    );
    assert_error(
        server.post("/", r#"{"inputs": "x", "parameters": {"top_k": "two"}}"#),
        422,
        "Validation",
        "`parameters.top_k`",
    );
    assert_error(
        server.post("/predict", r#"{"inputs": "x", "raw_scores": 1}"#),
        422,
        "Validation",
        "`raw_scores`",
    );
    assert_error(
        server.post(
            "/predict",
            r#"{"inputs": "x", "truncation_direction": "up"}"#,
        ),
        422,
        "Validation",
        "`truncation_direction`",
    );
    assert_error(
        server.post("/predict", r#"{"inputs": "x"} trailing"#),
        422,
        "Validation",
        "JSON",
    );
    assert_error(
        server.post("/predict", r#"{"inputs": null}"#),
        422,
        "Validation",
        "missing",
    );
}
