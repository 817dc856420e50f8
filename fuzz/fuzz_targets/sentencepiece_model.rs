//! `sentencepiece.bpe.model` (a protobuf) converted to tokenizer.json and loaded, as a model
//! folder without tokenizer.json is.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_fuzz::{counting_allocator, within_bound, MIB};
counting_allocator!();

fuzz_target!(|data: &[u8]| {
    let tokenizer = within_bound("sentencepiece.bpe.model", data.len(), 128, 8 * MIB, || {
        xlmr_sentiment_core::TextTokenizer::from_sentencepiece(data)
    });
    if let Ok(tokenizer) = tokenizer {
        if let Ok(encoded) = tokenizer.encode("Hello wörld ▁▁ 😀", 16) {
            assert!(encoded.ids.len() <= 16);
        }
    }
});
