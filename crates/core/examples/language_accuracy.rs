//! Accuracy and speed of the language check on the golden texts, by kind of text:
//!
//!     cargo run --release -p xlmr-sentiment-core --example language_accuracy [FILE]
//!
//! FILE defaults to tests/fixtures/languages.tsv (`expected<TAB>kind<TAB>text`, `null` for
//! texts that must get no language). A detection is right when it equals `expected`; for the
//! rows with a language, "none" counts those left without one and "wrong" those given another.

use std::collections::BTreeMap;
use std::time::Instant;

use xlmr_sentiment_core::detect_language;

fn main() {
    let path = std::env::args().nth(1).unwrap_or_else(|| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/languages.tsv"
        )
        .into()
    });
    let data = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<(Option<&str>, &str, &str)> = data
        .lines()
        .skip(1)
        .filter_map(|line| {
            let mut f = line.split('\t');
            let (expected, kind, text) = (f.next()?, f.next()?, f.next()?);
            Some(((expected != "null").then_some(expected), kind, text))
        })
        .collect();
    // kind -> (rows, right, none, wrong)
    let mut by_kind: BTreeMap<&str, (usize, usize, usize, usize)> = BTreeMap::new();
    let mut wrong_examples = Vec::new();
    for &(expected, kind, text) in &rows {
        let detected = detect_language(text).map(|l| l.code);
        let entry = by_kind.entry(kind).or_default();
        entry.0 += 1;
        if detected == expected {
            entry.1 += 1;
        } else if detected.is_none() {
            entry.2 += 1;
        } else {
            entry.3 += 1;
            wrong_examples.push(format!(
                "  {kind}: expected {}, got {}: {text}",
                expected.unwrap_or("null"),
                detected.unwrap_or("null")
            ));
        }
    }
    println!("kind          rows  right   none  wrong  accuracy");
    let mut total = (0, 0);
    for (kind, (n, right, none, wrong)) in &by_kind {
        total.0 += n;
        total.1 += right;
        println!(
            "{kind:<12} {n:>5} {right:>6} {none:>6} {wrong:>6}  {:>7.1}%",
            100.0 * *right as f64 / *n as f64
        );
    }
    println!(
        "all          {:>5} {:>6}                {:>7.1}%",
        total.0,
        total.1,
        100.0 * total.1 as f64 / total.0 as f64
    );
    for example in &wrong_examples {
        println!("{example}");
    }
    let rounds = 200;
    let start = Instant::now();
    for _ in 0..rounds {
        for &(_, _, text) in &rows {
            std::hint::black_box(detect_language(std::hint::black_box(text)));
        }
    }
    let per_text = start.elapsed().as_secs_f64() / (rounds * rows.len()) as f64;
    println!("time per text: {:.1} us", per_text * 1e6);
}
