//! A `.gguf` bundle read whole (`Classifier::load_bundle`, as the CLI and server load one).
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_fuzz::{counting_allocator, weights};
counting_allocator!();

fuzz_target!(|data: &[u8]| {
    let loaded = weights::bounded("bundle", data.len(), weights::TENSORS_PER_BYTE, || {
        xlmr_sentiment_core::Classifier::load_bundle(&data)
    });
    if let Ok(classifier) = loaded {
        weights::classifies(&classifier);
    }
});
