//! A `.gguf` bundle as a download gives it (`BundleStream`), cut into pieces whose sizes the
//! input's last bytes choose; it must load exactly when the whole read loads.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_core::{BundleStream, Classifier};
use xlmr_sentiment_fuzz::{counting_allocator, weights};
counting_allocator!();

fuzz_target!(|input: &[u8]| {
    // The last 4 bytes: a seed for the piece sizes and whether the length is announced.
    let Some((data, tail)) = input.split_last_chunk::<4>() else {
        return;
    };
    let mut seed = u32::from_le_bytes(*tail);
    let announce = seed & 1 == 1;
    let streamed = weights::bounded(
        "bundle stream",
        data.len(),
        weights::TENSORS_PER_BYTE,
        || {
            let mut stream = BundleStream::new(announce.then_some(data.len() as u64));
            let mut rest = data;
            while !rest.is_empty() {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let cut = (1 + (seed >> 8) as usize % 4096).min(rest.len());
                let (piece, after) = rest.split_at(cut);
                stream.push(piece.to_vec())?;
                rest = after;
            }
            stream.finish()
        },
    );
    let whole = Classifier::load_bundle(&data);
    assert_eq!(
        streamed.is_ok(),
        whole.is_ok(),
        "streamed: {:?}, whole: {:?}",
        streamed.as_ref().err(),
        whole.as_ref().err()
    );
    if let Ok(classifier) = streamed {
        weights::classifies(&classifier);
    }
});
