//! The weights targets' common steps: a bounded load, and a classification of what loaded.

use xlmr_sentiment_core::{Classifier, ClassifyOptions, ModelFiles, Result};

use crate::{within_bound, CONFIG, MIB, MINI_TOKENIZER};

/// The weights' allocation bound per byte of the file: f16 tensors widen to f32 (2x), a matrix
/// is also packed for its kernel, q4 blocks dequantize to 8x (the embedding rows stay packed).
pub const TENSORS_PER_BYTE: usize = 16;

/// `pytorch_model.bin`'s: a pickle may make up to 2 objects per byte of candle's `Object`
/// (56 bytes) besides the tensors (`crates/core/src/weights/pickle_bound.rs`).
pub const PICKLE_PER_BYTE: usize = 128;

/// Loads `f` within `per_byte` times the file plus the tokenizer and config.
pub fn bounded<R>(what: &str, len: usize, per_byte: usize, f: impl FnOnce() -> R) -> R {
    within_bound(what, len, per_byte, 16 * MIB, f)
}

/// Loads `weights` beside the fixture's config and the mini tokenizer; what loads classifies.
pub fn load_and_classify(what: &str, weights: &[u8], per_byte: usize) {
    let loaded = bounded(what, weights.len(), per_byte, || {
        Classifier::load(ModelFiles {
            config: CONFIG,
            tokenizer: MINI_TOKENIZER,
            weights,
        })
    });
    if let Ok(classifier) = loaded {
        classifies(&classifier);
    }
}

/// A loaded model classifies without a panic: one outcome per text, scores finite unless the
/// weights themselves are not (NaN or infinite weights are the file's, not ours).
pub fn classifies(classifier: &Classifier) {
    let texts = ["I love this!", "", "😀 très bien"];
    let outcomes: Result<_> = classifier.classify_each(&texts, &ClassifyOptions::default());
    if let Ok(outcomes) = outcomes {
        assert_eq!(outcomes.len(), texts.len());
    }
}
