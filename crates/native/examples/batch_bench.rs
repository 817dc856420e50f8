//! A batch job, measured from outside: writes LINES seeded lines of text (tweet-length pieces of
//! the fixtures' golden texts, in all their languages and scripts) to a scratch folder, runs
//! `BIN classify --model MODEL --input FILE --output FILE.jsonl` on them as a user would, and
//! samples the job while it runs. Prints texts per second, the time between checkpoints (one
//! chunk of `8 x --batch-size` rows written and synced: the latency of a row in a batch job),
//! and the job's resident memory at 10%, 50%, 90% and 100% of the rows, which is how "memory
//! stays flat" is shown on a 10-million-line file.
//!
//!   cargo run --release -p xlmr-sentiment --example batch_bench -- BIN MODEL LINES [ARGS...]
//!
//! ARGS go to `classify` unchanged (e.g. `--batch-size 16`). Threads come from the environment:
//! run it under `RAYON_NUM_THREADS=T`. A figure, not a test: see README, "Batch jobs".

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Knuth's MMIX LCG: the same lines on every run and machine.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

fn write_input(path: &Path, lines: u64) -> std::io::Result<u64> {
    let texts: Vec<Vec<String>> = xlmr_sentiment::pack::default_texts()
        .into_iter()
        .map(|t| t.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .filter(|words| !words.is_empty())
        .collect();
    let mut random = Lcg(20261125);
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut bytes = 0;
    let mut line = String::new();
    for _ in 0..lines {
        let words = &texts[random.below(texts.len())];
        // 1 to 40 words from a random place: tweet-sized, and a text without spaces (Chinese,
        // Japanese, Thai) comes whole. A 5,000-character text can still come up in full.
        let take = 1 + random.below(40);
        let start = random.below(words.len());
        line.clear();
        for (i, word) in words[start..].iter().take(take).enumerate() {
            if i > 0 {
                line.push(' ');
            }
            line.push_str(word);
        }
        line.push('\n');
        out.write_all(line.as_bytes())?;
        bytes += line.len() as u64;
    }
    out.flush()?;
    Ok(bytes)
}

/// (VmRSS, VmHWM) of a live process in MB, from /proc.
fn memory_mb(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kb / 1024.0)
    };
    Some((field("VmRSS:")?, field("VmHWM:")?))
}

/// Rows the job has checkpointed, from its checkpoint file (absent before the first one).
fn rows_done(checkpoint: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(checkpoint).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value["rows_done"].as_u64()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: batch_bench BIN MODEL LINES [CLASSIFY ARGS...]");
        std::process::exit(2);
    }
    let (bin, model) = (&args[0], &args[1]);
    let lines: u64 = args[2].parse().expect("LINES is a number");
    let scratch = tempfile::tempdir().expect("a scratch folder");
    let input: PathBuf = scratch.path().join("input.txt");
    let output: PathBuf = scratch.path().join("output.jsonl");
    let checkpoint = PathBuf::from(format!("{}.checkpoint", output.display()));

    let written = Instant::now();
    let bytes = write_input(&input, lines).expect("the input is written");
    eprintln!(
        "input: {lines} lines, {:.1} MB, written in {:.1} s",
        bytes as f64 / 1e6,
        written.elapsed().as_secs_f64()
    );

    let started = Instant::now();
    let mut child = Command::new(bin)
        .arg("classify")
        .arg("--model")
        .arg(model)
        .arg("--input")
        .arg(&input)
        .arg("--output")
        .arg(&output)
        .args(&args[3..])
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary starts");
    let pid = child.id();

    // Sampled until exit: checkpoint times (for the chunk latency) and memory by progress.
    let mut checkpoints: Vec<(u64, Instant)> = Vec::new();
    let mut memory: Vec<(u64, f64, f64)> = Vec::new();
    let mut last_memory = Instant::now() - Duration::from_secs(1);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        let done = rows_done(&checkpoint);
        if let Some(done) = done {
            if checkpoints.last().is_none_or(|&(d, _)| d != done) {
                checkpoints.push((done, Instant::now()));
            }
        }
        if last_memory.elapsed() >= Duration::from_millis(200) {
            if let Some((rss, hwm)) = memory_mb(pid) {
                memory.push((done.unwrap_or(0), rss, hwm));
            }
            last_memory = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = started.elapsed().as_secs_f64();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).ok();
    if !status.success() {
        eprintln!("the job failed ({status}):\n{stderr}");
        std::process::exit(1);
    }
    let rows = std::io::BufRead::lines(std::io::BufReader::new(
        std::fs::File::open(&output).expect("the output exists"),
    ))
    .count() as u64;
    assert_eq!(rows, lines, "one output row per input line");

    // Chunk latency: from one checkpoint to the next, skipping the first (which includes the
    // model load). Polled every 2 ms, so shorter chunks merge.
    let mut gaps: Vec<Duration> = checkpoints
        .windows(2)
        .map(|pair| pair[1].1 - pair[0].1)
        .collect();
    gaps.sort();
    let at = |q: f64| -> f64 {
        if gaps.is_empty() {
            return f64::NAN;
        }
        gaps[((gaps.len() as f64 * q).ceil() as usize).clamp(1, gaps.len()) - 1].as_secs_f64()
            * 1000.0
    };
    // The first checkpoint (0 rows) is written before any work; the second counts one chunk.
    let chunk_rows = checkpoints.get(1).map_or(0, |&(d, _)| d);
    println!(
        "{lines} lines: {:.0} texts/s ({:.1} s, model load included); chunk of {chunk_rows} rows every p50 {:.0} ms, p99 {:.0} ms",
        lines as f64 / elapsed,
        elapsed,
        at(0.50),
        at(0.99),
    );
    let mut line = String::from("resident memory (MB) at");
    for fraction in [0.1, 0.5, 0.9] {
        let target = (lines as f64 * fraction) as u64;
        if let Some(&(_, rss, _)) = memory.iter().find(|&&(done, _, _)| done >= target) {
            line += &format!(" {:.0}%: {rss:.1};", fraction * 100.0);
        }
    }
    if let Some(&(_, rss, hwm)) = memory.last() {
        line += &format!(" last sample: {rss:.1}; peak (VmHWM): {hwm:.1}");
    }
    println!("{line}");
}
