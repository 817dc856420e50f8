//! Model folders with only `sentencepiece.bpe.model`: the converted tokenizer must be the one
//! `transformers` builds (its `tokenizer.json` for the same SentencePiece model is the fixture),
//! give the golden ids and scores, and bad files must fail with a typed error, never a panic.

mod common;

use common::{golden, read, Seeded};
use serde_json::Value;
use xlmr_sentiment_core::{
    tokenizer_json_from_sentencepiece, Classifier, ClassifyOptions, Error, ModelFiles,
    TextTokenizer,
};

/// The only fixture that keeps its SentencePiece model (`keep_spm` in `generate.py`).
const MODEL: &str = "tiny-sentiment";

fn converted() -> Vec<u8> {
    tokenizer_json_from_sentencepiece(&read(MODEL, "sentencepiece.bpe.model"))
        .expect("the fixture's SentencePiece model converts")
}

fn load_converted() -> Classifier {
    let tokenizer = converted();
    Classifier::load(ModelFiles {
        config: &read(MODEL, "config.json"),
        tokenizer: &tokenizer,
        weights: &read(MODEL, "model.safetensors"),
    })
    .expect("loads with the converted tokenizer")
}

fn convert_error(bytes: &[u8]) -> String {
    match TextTokenizer::from_sentencepiece(bytes) {
        Err(Error::InvalidSentencePiece(reason)) => reason,
        Err(other) => panic!("expected InvalidSentencePiece, got {other}"),
        Ok(_) => panic!("expected an error, got a tokenizer"),
    }
}

#[test]
fn the_json_is_the_one_transformers_wrote() {
    let ours: Value = serde_json::from_slice(&converted()).unwrap();
    let theirs: Value = serde_json::from_slice(&read(MODEL, "tokenizer.json")).unwrap();
    for key in [
        "version",
        "truncation",
        "padding",
        "added_tokens",
        "normalizer",
        "pre_tokenizer",
        "post_processor",
        "decoder",
    ] {
        assert_eq!(ours[key], theirs[key], "{key}");
    }
    let (ours, theirs) = (&ours["model"], &theirs["model"]);
    for key in ["type", "unk_id", "byte_fallback"] {
        assert_eq!(ours[key], theirs[key], "model.{key}");
    }
    let (ours, theirs) = (
        ours["vocab"].as_array().unwrap(),
        theirs["vocab"].as_array().unwrap(),
    );
    assert_eq!(ours.len(), theirs.len(), "vocabulary size");
    for (id, (a, b)) in ours.iter().zip(theirs).enumerate() {
        assert_eq!(a, b, "vocabulary entry {id}");
    }
    // Nothing more and nothing less than the above.
    assert_eq!(
        serde_json::from_slice::<Value>(&converted()).unwrap(),
        serde_json::from_slice::<Value>(&read(MODEL, "tokenizer.json")).unwrap()
    );
}

#[test]
fn ids_match_transformers_on_every_golden_text() {
    let g = golden(MODEL);
    let classifier = load_converted();
    assert_eq!(classifier.max_input_tokens(), g.max_length);
    let off = ClassifyOptions {
        preprocess: false,
        ..ClassifyOptions::default()
    };
    for t in &g.texts {
        let encoded = classifier
            .encode(&t.text, &ClassifyOptions::default())
            .unwrap();
        assert_eq!(encoded.ids, t.input_ids, "ids of {:?}", t.text);
        assert_eq!(
            encoded.truncated, t.truncated,
            "truncated flag of {:?}",
            t.text
        );
        let encoded = classifier.encode(&t.preprocessed, &off).unwrap();
        assert_eq!(encoded.ids, t.input_ids, "ids of {:?}", t.preprocessed);
    }
}

#[test]
fn scores_match_the_pipeline() {
    let g = golden(MODEL);
    let classifier = load_converted();
    let texts: Vec<&str> = g.texts.iter().map(|t| t.text.as_str()).collect();
    let predictions = classifier
        .classify(&texts, &ClassifyOptions::default())
        .unwrap();
    for (t, p) in g.texts.iter().zip(&predictions) {
        let scores: Vec<f32> = p.scores.iter().map(|s| s.score).collect();
        assert_eq!(scores.len(), t.scores.len());
        for (got, want) in scores.iter().zip(&t.scores) {
            assert!(
                (got - want).abs() <= 1e-4,
                "scores of {:?}: {scores:?} vs {:?}",
                t.text,
                t.scores
            );
        }
        assert_eq!(p.truncated, t.truncated);
    }
}

#[test]
fn garbage_is_not_a_sentencepiece_model() {
    let model = read(MODEL, "sentencepiece.bpe.model");
    convert_error(b"");
    convert_error(b"\xff\xff\xff\xff\xff\xff\xff\xff");
    convert_error(&read(MODEL, "tokenizer.json"));
    convert_error(&read(MODEL, "config.json"));
    let reason = convert_error(&model[..model.len() - 1]);
    assert!(reason.contains("not a SentencePiece model"), "{reason}");
    // A cut inside a field is a decode error; one that falls between two pieces leaves a smaller
    // but well-formed model. Either way: a tokenizer or a typed error, and no panic.
    for cut in (0..model.len()).step_by(997) {
        if let Err(e) = TextTokenizer::from_sentencepiece(&model[..cut]) {
            assert!(
                matches!(e, Error::InvalidSentencePiece(_)),
                "cut {cut}: {e}"
            );
        }
    }
}

#[test]
fn a_bpe_model_is_refused() {
    // Protobuf merges a repeated embedded message into the first: this appended
    // `trainer_spec { model_type: BPE }` (field 2, length 2: field 3 varint 2) turns the model
    // into a BPE one.
    let mut model = read(MODEL, "sentencepiece.bpe.model");
    model.extend([0x12, 0x02, 0x18, 0x02]);
    let reason = convert_error(&model);
    assert!(reason.contains("BPE"), "{reason}");
}

#[test]
fn a_damaged_charsmap_is_refused() {
    let model = read(MODEL, "sentencepiece.bpe.model");
    let tokenizer: Value = serde_json::from_slice(&read(MODEL, "tokenizer.json")).unwrap();
    let encoded = tokenizer["normalizer"]["normalizers"][0]["precompiled_charsmap"]
        .as_str()
        .unwrap();
    use base64::Engine;
    let charsmap = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let at = model
        .windows(charsmap.len())
        .position(|w| w == charsmap.as_slice())
        .expect("the charsmap is in the model");
    // The trie's root unit (after the 4-byte length) now points far outside the trie.
    let mut damaged = model.clone();
    damaged[at + 4..at + 8].copy_from_slice(&[0xff; 4]);
    let reason = convert_error(&damaged);
    assert!(
        reason.contains("precompiled_charsmap is damaged"),
        "{reason}"
    );
}

#[test]
fn damaged_models_never_panic() {
    let model = read(MODEL, "sentencepiece.bpe.model");
    let mut rng = Seeded::new(11);
    let mut refused = 0;
    for round in 0..200 {
        let mut damaged = model.clone();
        for _ in 0..1 + rng.below(4) {
            let at = rng.below(damaged.len());
            damaged[at] = rng.below(256) as u8;
        }
        let outcome =
            std::panic::catch_unwind(|| match TextTokenizer::from_sentencepiece(&damaged) {
                Ok(tokenizer) => {
                    for text in ["a text", "", "  Ünïcödé  ", "<mask> x"] {
                        let _ = tokenizer.encode(text, 512);
                    }
                    false
                }
                Err(e) => {
                    assert!(matches!(e, Error::InvalidSentencePiece(_)), "{e}");
                    true
                }
            });
        refused += usize::from(outcome.unwrap_or_else(|_| panic!("round {round} panicked")));
    }
    assert!(refused > 0, "no damage was ever detected");
}
