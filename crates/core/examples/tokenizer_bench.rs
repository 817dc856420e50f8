//! Memory and speed of loading a Unigram `tokenizer.json` with [`CompactUnigram`] against
//! `tokenizers`' own `Tokenizer::from_bytes`, and of encoding the golden texts with each.
//!
//! ```sh
//! python bench/full_size_model.py    # writes target/full-size-model (250,002 pieces)
//! cargo run --release -p xlmr-sentiment-core --example tokenizer_bench -- [TOKENIZER_JSON]
//! ```
//!
//! Each load runs in a fresh child process, so its resident-set figures are its own: `kept` is
//! the RSS after the load minus the RSS before it (the file's bytes are already read), `peak` the
//! high-water mark (`VmHWM`) minus the same baseline. The heap columns count the bytes the
//! allocator hands out, which is what wasm linear memory has to grow to (it never shrinks).
//! The compact load includes the checks every `TextTokenizer::from_json` makes (a pass over the
//! JSON for the charsmap, model type and added tokens, about 10-20 ms), which the `tokenizers` row
//! skips. Linux only (`/proc/self`).
//!
//! [`CompactUnigram`]: xlmr_sentiment_core::CompactUnigram

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

use tokenizers::models::unigram::Unigram;
use tokenizers::{
    Model, ModelWrapper, Normalizer, OffsetReferential, OffsetType, PreTokenizedString,
    PreTokenizer, Tokenizer,
};
use xlmr_sentiment_core::{unigram_tokenizer_from_json, CompactUnigram, UnigramTokenizer};

/// Counts live and peak heap bytes.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Relaxed) + by;
    PEAK.fetch_max(now, Relaxed);
}

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grew(layout.size());
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if new_size > layout.size() {
            grew(new_size - layout.size());
        } else {
            LIVE.fetch_sub(layout.size() - new_size, Relaxed);
        }
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

const MB: f64 = 1e6;

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: usize = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn hwm_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    let kb: usize = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// Child process: load `path` one way and print `load_ms kept peak heap_kept heap_peak`.
fn measure(mode: &str, path: &Path) {
    let bytes = std::fs::read(path).expect("tokenizer.json");
    let rss = rss_bytes();
    let (heap, t) = (LIVE.load(Relaxed), Instant::now());
    PEAK.store(heap, Relaxed);
    let loaded: Box<dyn std::any::Any> = match mode {
        "compact" => Box::new(unigram_tokenizer_from_json(&bytes).expect("compact load")),
        _ => Box::new(Tokenizer::from_bytes(&bytes).expect("tokenizers load")),
    };
    let ms = t.elapsed().as_secs_f64() * 1e3;
    println!(
        "{ms:.0} {} {} {} {}",
        rss_bytes().saturating_sub(rss),
        hwm_bytes().saturating_sub(rss),
        LIVE.load(Relaxed) - heap,
        PEAK.load(Relaxed) - heap,
    );
    drop(loaded);
}

fn golden_texts(root: &Path) -> Vec<String> {
    let mut texts = Vec::new();
    for name in ["tiny-sentiment", "tiny-multilabel", "tiny-score"] {
        let path = root
            .join("tests/fixtures/models")
            .join(name)
            .join("golden.json");
        let golden: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).expect("golden.json")).unwrap();
        for t in golden["texts"].as_array().unwrap() {
            texts.push(t["text"].as_str().unwrap().to_owned());
        }
    }
    texts
}

/// Microseconds per item for `ours` and `theirs`: the best first pass over a fresh clone
/// (`tokenizers`' Unigram starts with an empty cache on every clone) and the best later pass.
/// Passes alternate between the two, so load from other processes hits both alike.
fn compare<A: Clone, B: Clone>(
    items: &[String],
    ours: (&A, impl Fn(&A, &str)),
    theirs: (&B, impl Fn(&B, &str)),
) -> [(f64, f64); 2] {
    fn pass<T>(t: &T, items: &[String], f: &impl Fn(&T, &str)) -> f64 {
        let start = Instant::now();
        items.iter().for_each(|item| f(t, item));
        start.elapsed().as_secs_f64() * 1e6 / items.len() as f64
    }
    let mut best = [(f64::MAX, f64::MAX); 2];
    for _ in 0..3 {
        best[0].0 = best[0].0.min(pass(&ours.0.clone(), items, &ours.1));
        best[1].0 = best[1].0.min(pass(&theirs.0.clone(), items, &theirs.1));
    }
    for _ in 0..20 {
        best[0].1 = best[0].1.min(pass(ours.0, items, &ours.1));
        best[1].1 = best[1].1.min(pass(theirs.0, items, &theirs.1));
    }
    best
}

fn print_speed(what: &str, [ours, theirs]: [(f64, f64); 2]) {
    println!("\n{what}, µs each (first pass on a fresh tokenizer / best later pass):");
    println!("  compact     {:.2} / {:.2}", ours.0, ours.1);
    println!("  tokenizers  {:.2} / {:.2}", theirs.0, theirs.1);
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() == 4 && args[1] == "--measure" {
        return measure(&args[2], Path::new(&args[3]));
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let path = args
        .get(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target/full-size-model/tokenizer.json"));
    let size = std::fs::metadata(&path)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run python bench/full_size_model.py)",
                path.display()
            )
        })
        .len();
    println!("{} ({:.1} MB)\n", path.display(), size as f64 / MB);

    println!("| load | time | RSS kept | RSS peak | heap kept | heap peak |");
    println!("|---|---|---|---|---|---|");
    for mode in ["compact", "tokenizers"] {
        let out = std::process::Command::new(&args[0])
            .args(["--measure", mode])
            .arg(&path)
            .output()
            .expect("run the measuring child");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Vec<f64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        println!(
            "| {mode} | {:.0} ms | {:.1} MB | {:.1} MB | {:.1} MB | {:.1} MB |",
            v[0],
            v[1] / MB,
            v[2] / MB,
            v[3] / MB,
            v[4] / MB
        );
    }

    let bytes = std::fs::read(&path).unwrap();
    let ours: UnigramTokenizer = unigram_tokenizer_from_json(&bytes).unwrap();
    let theirs = Tokenizer::from_bytes(&bytes).unwrap();
    let texts = golden_texts(&root);
    let speed = compare(
        &texts,
        (&ours, |t: &UnigramTokenizer, text: &str| {
            t.encode(text, true).unwrap();
        }),
        (&theirs, |t: &Tokenizer, text: &str| {
            t.encode(text, true).unwrap();
        }),
    );
    print_speed(&format!("encode, {} golden texts", texts.len()), speed);

    // The models alone, on the words the normalizer and pre-tokenizer make of the same texts.
    let mut words = Vec::new();
    for text in &texts {
        let mut pre = PreTokenizedString::from(text.as_str());
        pre.normalize(|s| theirs.get_normalizer().map_or(Ok(()), |n| n.normalize(s)))
            .unwrap();
        if let Some(p) = theirs.get_pre_tokenizer() {
            p.pre_tokenize(&mut pre).unwrap();
        }
        let splits = pre.get_splits(OffsetReferential::Original, OffsetType::Byte);
        words.extend(splits.into_iter().map(|(word, _, _)| word.to_owned()));
    }
    let ModelWrapper::Unigram(unigram) = theirs.get_model() else {
        panic!("not a Unigram model")
    };
    let speed = compare(
        &words,
        (ours.get_model(), |m: &CompactUnigram, word: &str| {
            m.tokenize(word).unwrap();
        }),
        (unigram, |m: &Unigram, word: &str| {
            m.tokenize(word).unwrap();
        }),
    );
    print_speed(&format!("the model alone, {} words", words.len()), speed);
}
