//! Parity with Hugging Face `transformers`: every golden text of every fixture model, one by one
//! and batched, must give the same token ids and scores within 1e-4 of the pipeline's.

mod common;

use common::{golden, load, weight_files, MODELS};
use xlmr_sentiment_core::{preprocess_tweet, ClassifyOptions, Prediction, ScoreFunction};

const TOLERANCE: f32 = 1e-4;

fn assert_close(name: &str, what: &str, text: &str, got: &[f32], want: &[f32], tolerance: f32) {
    assert_eq!(got.len(), want.len(), "{name}: {what} count for {text:?}");
    for (g, w) in got.iter().zip(want) {
        assert!(
            (g - w).abs() <= tolerance,
            "{name}: {what} of {text:?}: got {got:?}, want {want:?}"
        );
    }
}

fn scores(p: &Prediction) -> Vec<f32> {
    p.scores.iter().map(|s| s.score).collect()
}

#[test]
fn golden_files_cover_the_required_cases() {
    for name in MODELS {
        let g = golden(name);
        assert!(
            g.texts.len() >= 100,
            "{name}: only {} golden texts",
            g.texts.len()
        );
        for lang in ["ar", "en", "fr", "de", "hi", "it", "pt", "es"] {
            assert!(
                g.texts.iter().any(|t| t.kind == lang),
                "{name}: no {lang} text"
            );
        }
        assert!(
            g.texts.iter().any(|t| t.truncated),
            "{name}: truncation never exercised"
        );
        assert!(g.texts.iter().any(|t| t.text.is_empty()));
        assert!(g.texts.iter().any(|t| t.text.chars().count() >= 5000));
    }
}

#[test]
fn token_ids_match_transformers_exactly() {
    for name in MODELS {
        let g = golden(name);
        let classifier = load(name, weight_files(name)[0]);
        assert_eq!(classifier.labels(), g.labels.as_slice());
        assert_eq!(classifier.max_input_tokens(), g.max_length);
        let on = ClassifyOptions::default();
        let off = ClassifyOptions {
            preprocess: false,
            ..ClassifyOptions::default()
        };
        for t in &g.texts {
            assert_eq!(
                preprocess_tweet(&t.text),
                t.preprocessed,
                "{name}: preprocessing"
            );
            let encoded = classifier.encode(&t.text, &on).unwrap();
            assert_eq!(encoded.ids, t.input_ids, "{name}: ids of {:?}", t.text);
            assert_eq!(
                encoded.truncated, t.truncated,
                "{name}: truncated flag of {:?}",
                t.text
            );
            let encoded = classifier.encode(&t.preprocessed, &off).unwrap();
            assert_eq!(
                encoded.ids, t.input_ids,
                "{name}: ids without preprocessing"
            );
        }
    }
}

#[test]
fn each_text_alone_matches_the_pipeline() {
    for name in MODELS {
        let g = golden(name);
        for weights in weight_files(name) {
            let classifier = load(name, weights);
            let options = ClassifyOptions::default();
            for t in &g.texts {
                let p = classifier.classify(&[&t.text], &options).unwrap().remove(0);
                assert_close(name, "scores", &t.text, &scores(&p), &t.scores, TOLERANCE);
                assert_eq!(p.truncated, t.truncated);
                assert_eq!(p.tokens, t.input_ids.len());
                let best = t.scores.iter().cloned().fold(f32::MIN, f32::max);
                assert!(
                    (p.score - best).abs() <= TOLERANCE,
                    "{name}: top score of {:?}",
                    t.text
                );
            }
        }
    }
}

#[test]
fn logits_match_transformers() {
    for name in MODELS {
        let g = golden(name);
        let classifier = load(name, weight_files(name)[0]);
        let options = ClassifyOptions {
            function: Some(ScoreFunction::None),
            ..ClassifyOptions::default()
        };
        let texts: Vec<&str> = g.texts.iter().map(|t| t.text.as_str()).collect();
        let predictions = classifier.classify(&texts, &options).unwrap();
        for (t, p) in g.texts.iter().zip(&predictions) {
            assert_close(name, "logits", &t.text, &scores(p), &t.logits, TOLERANCE);
        }
        let expected = match g.score_function.as_str() {
            "softmax" => ScoreFunction::Softmax,
            _ => ScoreFunction::Sigmoid,
        };
        assert_eq!(
            classifier.config().default_score_function(),
            expected,
            "{name}"
        );
    }
}

#[test]
fn batches_give_the_same_scores_as_single_texts() {
    for name in MODELS {
        let g = golden(name);
        let classifier = load(name, weight_files(name)[0]);
        let texts: Vec<&str> = g.texts.iter().map(|t| t.text.as_str()).collect();
        let single: Vec<Prediction> = texts
            .iter()
            .map(|t| {
                classifier
                    .classify(&[t], &ClassifyOptions::default())
                    .unwrap()
                    .remove(0)
            })
            .collect();
        for (batch_size, max_batch_tokens) in [(1, 16384), (7, 16384), (32, 16384), (128, 300)] {
            let options = ClassifyOptions {
                batch_size,
                max_batch_tokens,
                ..ClassifyOptions::default()
            };
            let batched = classifier.classify(&texts, &options).unwrap();
            assert_eq!(batched.len(), texts.len());
            for ((t, b), s) in g.texts.iter().zip(&batched).zip(&single) {
                assert_close(
                    name,
                    "batched scores",
                    &t.text,
                    &scores(b),
                    &t.scores,
                    TOLERANCE,
                );
                assert_close(
                    name,
                    "batched vs alone",
                    &t.text,
                    &scores(b),
                    &scores(s),
                    1e-5,
                );
                assert_eq!(b.label, s.label);
            }
        }
        // Reversed input order comes back reversed: results follow the input, not the sort.
        let reversed: Vec<&str> = texts.iter().rev().copied().collect();
        let back = classifier
            .classify(&reversed, &ClassifyOptions::default())
            .unwrap();
        for (b, s) in back.iter().rev().zip(&single) {
            assert_close(name, "reversed", "", &scores(b), &scores(s), 1e-5);
        }
    }
}

#[test]
fn safetensors_and_pytorch_bin_load_the_same_model() {
    let name = "tiny-sentiment";
    assert_eq!(
        weight_files(name),
        ["model.safetensors", "pytorch_model.bin"]
    );
    let g = golden(name);
    let texts: Vec<&str> = g.texts.iter().map(|t| t.text.as_str()).collect();
    let options = ClassifyOptions::default();
    let a = load(name, "model.safetensors")
        .classify(&texts, &options)
        .unwrap();
    let b = load(name, "pytorch_model.bin")
        .classify(&texts, &options)
        .unwrap();
    assert_eq!(a, b);
}

#[test]
fn shorter_max_length_truncates_and_keeps_the_end_token() {
    let name = "tiny-sentiment";
    let classifier = load(name, "model.safetensors");
    let options = ClassifyOptions {
        max_length: Some(5),
        ..ClassifyOptions::default()
    };
    let text = "I absolutely love this new phone, the battery lasts forever!";
    let encoded = classifier.encode(text, &options).unwrap();
    let full = classifier
        .encode(text, &ClassifyOptions::default())
        .unwrap();
    assert!(encoded.truncated && !full.truncated);
    assert_eq!(encoded.ids.len(), 5);
    assert_eq!(encoded.ids[..4], full.ids[..4]);
    assert_eq!(encoded.ids[4], 2, "</s> stays last");
    let p = classifier.classify(&[text], &options).unwrap().remove(0);
    assert!(p.truncated);
    assert_eq!(p.tokens, 5);
}

#[test]
fn without_truncate_an_over_long_text_is_refused_alone() {
    let classifier = load("tiny-sentiment", "model.safetensors");
    let options = ClassifyOptions {
        max_length: Some(5),
        truncate: false,
        ..ClassifyOptions::default()
    };
    let long = "I absolutely love this new phone, the battery lasts forever!";
    let full = classifier
        .encode(long, &ClassifyOptions::default())
        .unwrap();
    let outcomes = classifier.classify_each(&[long, "ok"], &options).unwrap();
    match &outcomes[0] {
        Err(xlmr_sentiment_core::Error::TextTooLong { tokens, limit }) => {
            assert_eq!((*tokens, *limit), (full.ids.len(), 5));
        }
        other => panic!("expected TextTooLong, got {other:?}"),
    }
    let short = outcomes[1].as_ref().expect("the short text is classified");
    assert!(!short.truncated);
}
