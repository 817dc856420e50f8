//! A bounded loopback load on a running `xlmr-sentiment serve`: CONCURRENCY clients, each sending
//! requests of BATCH texts back to back until REQUESTS have been answered; prints texts per
//! second and the latency percentiles of the requests. Texts are the fixtures' golden texts.
//!
//!   cargo run --release -p xlmr-sentiment --example serve_load -- URL [CONCURRENCY] [BATCH] [REQUESTS]
//!
//! URL is the server's base, e.g. http://127.0.0.1:8080. A figure, not a test: see README,
//! "Serving over HTTP", for the numbers and the commands that gave them.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let url = args
        .first()
        .cloned()
        .unwrap_or_else(|| "http://127.0.0.1:8080".into());
    let number = |i: usize, default: usize| {
        args.get(i)
            .map(|a| a.parse().expect("a number"))
            .unwrap_or(default)
    };
    let (concurrency, batch, requests) = (number(1, 4), number(2, 8), number(3, 64));
    let texts = xlmr_sentiment::pack::default_texts();
    let texts: Vec<String> = texts.into_iter().filter(|t| !t.trim().is_empty()).collect();

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (url, texts, next) = (url.clone(), texts.clone(), next.clone());
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .build()
                    .into();
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= requests {
                        break;
                    }
                    let inputs: Vec<Vec<&str>> = (0..batch)
                        .map(|i| vec![texts[(n * batch + i) % texts.len()].as_str()])
                        .collect();
                    let body =
                        serde_json::json!({ "inputs": inputs, "truncate": true }).to_string();
                    let sent = Instant::now();
                    let response = agent
                        .post(&format!("{url}/predict"))
                        .header("content-type", "application/json")
                        .send(&body)
                        .expect("the server answers");
                    assert_eq!(response.status(), 200, "request {n} failed");
                    latencies.push(sent.elapsed());
                }
                latencies
            })
        })
        .collect();
    let mut latencies: Vec<Duration> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("client thread"))
        .collect();
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let at = |q: f64| {
        latencies[((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len()) - 1]
    };
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "{requests} requests of {batch} texts, {concurrency} clients: {:.1} texts/s; latency p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        (requests * batch) as f64 / elapsed,
        ms(at(0.50)),
        ms(at(0.99)),
        ms(*latencies.last().unwrap()),
    );
}
