//! Arbitrary text through tokenization and classification on the fixture model, with every
//! option the input picks (preprocessing, truncation, language check, score function,
//! `max_length`, batch sizes); each text's outcome equals its outcome alone.
#![no_main]
use libfuzzer_sys::fuzz_target;
use xlmr_sentiment_core::{ClassifyOptions, ScoreFunction};
use xlmr_sentiment_fuzz::fixture_model;

fuzz_target!(|input: &[u8]| {
    let [flags, limit_lo, limit_hi, batch, rest @ ..] = input else {
        return;
    };
    let model = fixture_model();
    let limit = u16::from_le_bytes([*limit_lo, *limit_hi]) as usize;
    let options = ClassifyOptions {
        preprocess: flags & 1 == 1,
        truncate: flags & 2 == 2,
        language: flags & 4 == 4,
        function: [
            None,
            Some(ScoreFunction::Softmax),
            Some(ScoreFunction::Sigmoid),
            Some(ScoreFunction::None),
        ][(*flags as usize >> 3) % 4],
        // 0 is the model's limit; others up to just past it (an error past it).
        max_length: (limit != 0).then_some(limit % (model.max_input_tokens() + 4)),
        batch_size: 1 + (*batch as usize % 8),
        max_batch_tokens: 1 + (*batch as usize >> 3) * 97,
    };
    let text = String::from_utf8_lossy(rest);
    let texts: Vec<&str> = text.split('\u{1f}').take(16).collect();
    let Ok(outcomes) = model.classify_each(&texts, &options) else {
        return;
    };
    assert_eq!(outcomes.len(), texts.len());
    let softmax = options.function == Some(ScoreFunction::Softmax) || options.function.is_none();
    for (text, outcome) in texts.iter().zip(&outcomes) {
        let Ok(prediction) = outcome else { continue };
        assert!(prediction.scores.iter().all(|s| s.score.is_finite()));
        assert!(model.labels().contains(&prediction.label));
        if softmax {
            let sum: f32 = prediction.scores.iter().map(|s| s.score).sum();
            assert!((sum - 1.0).abs() < 1e-4, "softmax sums to {sum}");
        }
        let alone = model
            .classify_each(&[*text], &options)
            .expect("options were valid");
        let alone = alone[0].as_ref().expect("it classified in the batch");
        assert_eq!(alone.label, prediction.label);
        assert_eq!(alone.tokens, prediction.tokens);
        for (a, b) in alone.scores.iter().zip(&prediction.scores) {
            assert!(
                (a.score - b.score).abs() < 1e-4,
                "batched {} alone {}",
                b.score,
                a.score
            );
        }
    }
});
