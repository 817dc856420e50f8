//! A `serve` process for the server tests: started on a free port, its stderr collected.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use serde_json::Value;

/// A running server; killed on drop.
pub struct Server {
    /// The server process.
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Everything it wrote on stderr so far.
    pub stderr: Arc<std::sync::Mutex<String>>,
}

impl Server {
    /// `serve --model tiny-sentiment --addr 127.0.0.1:0 EXTRA`.
    pub fn start(extra: &[&str]) -> Server {
        let mut command = super::binary();
        command
            .arg("serve")
            .arg("--model")
            .arg(super::tiny_sentiment())
            .args(["--addr", "127.0.0.1:0"])
            .args(extra);
        Self::spawn(command)
    }

    /// `serve` with no flags at all: every setting from the environment.
    pub fn start_from_env(variables: &[(&str, &std::ffi::OsStr)]) -> Server {
        let mut command = super::binary();
        command.arg("serve").envs(variables.iter().copied());
        Self::spawn(command)
    }

    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("binary runs");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let mut base = None;
        let log = Arc::new(std::sync::Mutex::new(String::new()));
        for line in lines.by_ref() {
            let line = line.unwrap();
            log.lock().unwrap().push_str(&format!("{line}\n"));
            if let Some(addr) = line.strip_prefix("listening on ") {
                base = Some(addr.to_string());
                break;
            }
        }
        let base = base.unwrap_or_else(|| panic!("no address printed: {}", log.lock().unwrap()));
        // Keep reading stderr so the server never blocks on a full pipe.
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        Server {
            child,
            base,
            stderr: log,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn post(&self, path: &str, body: &str) -> (u16, Value) {
        self.post_with(path, body, None)
    }

    pub fn post_with(&self, path: &str, body: &str, key: Option<&str>) -> (u16, Value) {
        let mut request = agent()
            .post(&self.url(path))
            .header("Content-Type", "application/json");
        if let Some(key) = key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        answer(request.send(body))
    }

    pub fn get(&self, path: &str) -> (u16, String) {
        let mut response = agent().get(&self.url(path)).call().expect("request");
        let status = response.status().as_u16();
        (status, response.body_mut().read_to_string().unwrap())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A client that returns error statuses as answers.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// The status and JSON body of an answer.
pub fn answer(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
    let mut response = result.expect("request");
    let status = response.status().as_u16();
    let text = response
        .body_mut()
        .with_config()
        .limit(50_000_000)
        .read_to_string()
        .unwrap();
    let value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"));
    (status, value)
}
