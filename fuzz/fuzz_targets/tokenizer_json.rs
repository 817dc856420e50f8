//! `tokenizer.json` (its head check, the SentencePiece charsmap check, the Unigram loader or
//! tokenizers' own), then a few texts through whatever loaded.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_fuzz::{counting_allocator, within_bound, MIB};
counting_allocator!();

const TEXTS: [&str; 4] = [
    "I love this!",
    "",
    "  \u{0}\u{feff}x\u{301}",
    "très 😀 الخدمة",
];

fuzz_target!(|data: &[u8]| {
    // The parse holds the JSON tree and the vocabulary's structures at once.
    let tokenizer = within_bound("tokenizer.json", data.len(), 96, 8 * MIB, || {
        xlmr_sentiment_core::TextTokenizer::from_json(data)
    });
    let Ok(tokenizer) = tokenizer else { return };
    for text in TEXTS {
        for max_tokens in [0, 1, 2, 3, 8, 512] {
            if let Ok(encoded) = tokenizer.encode(text, max_tokens) {
                assert!(
                    encoded.ids.len() <= max_tokens,
                    "{} ids over {max_tokens}",
                    encoded.ids.len()
                );
                // A loaded tokenizer must not emit an id the model's embeddings cannot hold.
                assert!(encoded
                    .ids
                    .iter()
                    .all(|&id| (id as usize) < tokenizer.vocab_size()));
            }
        }
    }
});
