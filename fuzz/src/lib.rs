//! What the fuzz targets share: an allocator that records the peak of live bytes during a call
//! (the allocation bounds), the fixture model, and a scratch file for the readers that take paths.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use xlmr_sentiment_core::{Classifier, ModelFiles};

pub mod weights;

/// The system allocator, counting live bytes and their peak (every thread: rayon's too).
pub struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn grew(by: usize) {
    let now = LIVE.fetch_add(by, Ordering::Relaxed) + by;
    PEAK.fetch_max(now, Ordering::Relaxed);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        if !p.is_null() {
            grew(layout.size());
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        System.dealloc(p, layout);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = System.realloc(p, layout, new_size);
        if !q.is_null() {
            if new_size >= layout.size() {
                grew(new_size - layout.size());
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        q
    }
}

/// Installs [`Counting`] as the global allocator of a fuzz target binary.
#[macro_export]
macro_rules! counting_allocator {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::Counting = $crate::Counting;
    };
}

/// Runs `f` and checks that the most bytes it held at once beyond what was live before stays
/// within `per_byte` times the input's length plus `fixed` bytes: the stated allocation bound
/// of a parser. A breach panics, which libFuzzer reports as a finding with its input.
pub fn within_bound<R>(
    what: &str,
    input_len: usize,
    per_byte: usize,
    fixed: usize,
    f: impl FnOnce() -> R,
) -> R {
    let base = LIVE.load(Ordering::Relaxed);
    PEAK.store(base, Ordering::Relaxed);
    let result = f();
    let extra = PEAK.load(Ordering::Relaxed).saturating_sub(base);
    let bound = input_len.saturating_mul(per_byte).saturating_add(fixed);
    assert!(
        extra <= bound,
        "{what}: {extra} bytes held at once for a {input_len}-byte input (bound {per_byte} x N + {fixed})"
    );
    result
}

/// One mebibyte, for stating bounds.
pub const MIB: usize = 1 << 20;

/// The tiny-sentiment fixture's `config.json`.
pub const CONFIG: &[u8] = include_bytes!("../../tests/fixtures/models/tiny-sentiment/config.json");
/// The fixture's tokenizer cut to 60 pieces (`seeds/tokenizer_json/mini.json`): the weights
/// targets need a valid one, and the full one would cost milliseconds per run.
pub const MINI_TOKENIZER: &[u8] = include_bytes!("../seeds/tokenizer_json/mini.json");

/// The tiny-sentiment fixture model, loaded once.
pub fn fixture_model() -> &'static Classifier {
    static MODEL: OnceLock<Classifier> = OnceLock::new();
    MODEL.get_or_init(|| {
        Classifier::load(ModelFiles {
            config: CONFIG,
            tokenizer: include_bytes!("../../tests/fixtures/models/tiny-sentiment/tokenizer.json"),
            weights: include_bytes!("../../tests/fixtures/models/tiny-sentiment/model.safetensors"),
        })
        .expect("the fixture model loads")
    })
}

/// Writes `data` to this process's scratch file (in /dev/shm where there is one) and returns its
/// path, for the readers that open a path as the CLI does.
pub fn scratch_file(data: &[u8], extension: &str) -> PathBuf {
    let dir = if std::path::Path::new("/dev/shm").is_dir() {
        PathBuf::from("/dev/shm")
    } else {
        std::env::temp_dir()
    };
    let path = dir.join(format!("xlmr-fuzz-{}.{extension}", std::process::id()));
    std::fs::write(&path, data).expect("the scratch file is writable");
    path
}
