//! Weights as a model folder gives them (`model.safetensors`, recognised by content) with the
//! fixture's config and a small tokenizer; what loads must classify.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_fuzz::{counting_allocator, weights};
counting_allocator!();

fuzz_target!(|data: &[u8]| weights::load_and_classify(
    "model.safetensors",
    data,
    weights::TENSORS_PER_BYTE
));
