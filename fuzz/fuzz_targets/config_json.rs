//! `config.json` as a model folder gives it: parsed and validated, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_fuzz::{counting_allocator, within_bound, MIB};
counting_allocator!();

fuzz_target!(|data: &[u8]| {
    // serde_json's values: up to ~48 bytes per input byte (`[[[[` nests a Vec per byte); and
    // the `LABEL_i` names `num_labels` alone may ask for (about 40 bytes each).
    let names = xlmr_sentiment_core::MAX_GENERATED_LABELS * 40;
    let config = within_bound("config.json", data.len(), 64, MIB + names, || {
        xlmr_sentiment_core::Config::from_json(data)
    });
    if let Ok(config) = config {
        // A validated config answers its derived questions without overflow.
        let _ = config.max_input_tokens();
        let _ = config.default_score_function();
    }
});
