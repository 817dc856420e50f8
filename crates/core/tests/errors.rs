//! Every bad input gets its own typed error, and no input makes loading or classifying panic.

mod common;

use common::{read, Seeded};
use xlmr_sentiment_core::{Classifier, ClassifyOptions, Error, ModelFiles};

fn try_load(config: &[u8], tokenizer: &[u8], weights: &[u8]) -> Result<Classifier, Error> {
    Classifier::load(ModelFiles {
        config,
        tokenizer,
        weights,
    })
}

struct Files {
    config: Vec<u8>,
    tokenizer: Vec<u8>,
    weights: Vec<u8>,
}

fn files(name: &str, weights: &str) -> Files {
    Files {
        config: read(name, "config.json"),
        tokenizer: read(name, "tokenizer.json"),
        weights: read(name, weights),
    }
}

impl Files {
    fn load(&self) -> Result<Classifier, Error> {
        try_load(&self.config, &self.tokenizer, &self.weights)
    }

    fn with_config(mut self, edit: impl FnOnce(&mut serde_json::Value)) -> Self {
        let mut config: serde_json::Value = serde_json::from_slice(&self.config).unwrap();
        edit(&mut config);
        self.config = serde_json::to_vec(&config).unwrap();
        self
    }
}

fn replace_bytes(haystack: &mut [u8], from: &[u8], to: &[u8]) {
    assert_eq!(from.len(), to.len());
    let at = haystack
        .windows(from.len())
        .position(|w| w == from)
        .expect("pattern present");
    haystack[at..at + to.len()].copy_from_slice(to);
}

#[test]
fn fixtures_load() {
    files("tiny-sentiment", "model.safetensors").load().unwrap();
}

#[test]
fn truncated_weights_are_corrupt() {
    for weights in ["model.safetensors", "pytorch_model.bin"] {
        let full = read("tiny-sentiment", weights);
        for cut in [
            full.len() - 1,
            full.len() - 4096,
            full.len() / 2,
            4096,
            100,
            12,
        ] {
            let f = Files {
                weights: full[..cut].to_vec(),
                ..files("tiny-sentiment", weights)
            };
            let err = f.load().unwrap_err();
            assert!(
                matches!(err, Error::CorruptWeights { .. }),
                "{weights} cut at {cut}: {err}"
            );
            assert!(err.to_string().starts_with("corrupt"), "{err}");
        }
    }
}

#[test]
fn unknown_weight_formats_are_named() {
    for garbage in [
        &b""[..],
        b"<!doctype html><html>",
        b"\x80\x02}q\x00(X",
        &[0u8; 64],
    ] {
        let f = Files {
            weights: garbage.to_vec(),
            ..files("tiny-sentiment", "model.safetensors")
        };
        assert!(matches!(f.load(), Err(Error::UnknownWeightsFormat(_))));
    }
}

#[test]
fn a_missing_tensor_is_named() {
    let mut f = files("tiny-sentiment", "model.safetensors");
    // Same length, so the header offsets stay valid: only the name changes.
    replace_bytes(
        &mut f.weights,
        b"\"classifier.dense.weight\"",
        b"\"classifier.dense.weighz\"",
    );
    match f.load() {
        Err(Error::MissingTensor(name)) => assert_eq!(name, "classifier.dense.weight"),
        other => panic!("expected MissingTensor, got {other:?}"),
    }

    let f = files("tiny-sentiment", "pytorch_model.bin").with_config(|c| {
        c["num_hidden_layers"] = 3.into();
    });
    match f.load() {
        Err(Error::MissingTensor(name)) => assert!(name.starts_with("roberta.encoder.layer.2.")),
        other => panic!("expected MissingTensor, got {other:?}"),
    }
}

#[test]
fn more_layers_than_the_config_says_is_an_error() {
    let f = files("tiny-multilabel", "model.safetensors").with_config(|c| {
        c["num_hidden_layers"] = 2.into();
    });
    assert!(matches!(f.load(), Err(Error::InvalidConfig(m)) if m.contains("num_hidden_layers")));
}

#[test]
fn shapes_that_disagree_with_the_config_are_named() {
    let f = files("tiny-sentiment", "model.safetensors").with_config(|c| {
        c["intermediate_size"] = 65.into();
    });
    match f.load() {
        Err(Error::ShapeMismatch {
            name,
            expected,
            actual,
        }) => {
            assert_eq!(name, "roberta.encoder.layer.0.intermediate.dense.weight");
            assert_eq!(expected, [65, 32]);
            assert_eq!(actual, [64, 32]);
        }
        other => panic!("expected ShapeMismatch, got {other:?}"),
    }
    let f = files("tiny-sentiment", "pytorch_model.bin").with_config(|c| {
        c["vocab_size"] = 5000.into();
    });
    assert!(matches!(
        f.load(),
        Err(Error::ShapeMismatch { name, .. }) if name == "roberta.embeddings.word_embeddings.weight"
    ));
}

#[test]
fn a_tokenizer_larger_than_the_embeddings_is_rejected() {
    let f = Files {
        tokenizer: read("tiny-sentiment", "tokenizer.json"),
        ..files("tiny-multilabel", "model.safetensors")
    };
    match f.load() {
        Err(Error::VocabularyTooLarge {
            tokenizer_vocab,
            embedding_rows,
        }) => {
            assert_eq!((tokenizer_vocab, embedding_rows), (962, 802));
        }
        other => panic!("expected VocabularyTooLarge, got {other:?}"),
    }
}

#[test]
fn malformed_json_is_reported_per_file() {
    let f = files("tiny-sentiment", "model.safetensors");
    let half = f.config[..f.config.len() / 2].to_vec();
    assert!(matches!(
        try_load(&half, &f.tokenizer, &f.weights),
        Err(Error::MalformedConfig(_))
    ));
    let half = f.tokenizer[..f.tokenizer.len() / 2].to_vec();
    assert!(matches!(
        try_load(&f.config, &half, &f.weights),
        Err(Error::InvalidTokenizer(_))
    ));
    assert!(matches!(
        try_load(b"[1, 2]", &f.tokenizer, &f.weights),
        Err(Error::MalformedConfig(_))
    ));
}

#[test]
fn id2label_must_match_the_head() {
    let f = files("tiny-sentiment", "model.safetensors").with_config(|c| {
        c["id2label"] = serde_json::json!({"0": "negative", "1": "positive"});
        c["label2id"] = serde_json::json!({"negative": 0, "positive": 1});
    });
    match f.load() {
        Err(e @ Error::LabelCountMismatch { labels: 2, head: 3 }) => {
            assert!(e.to_string().contains("id2label names 2 labels"), "{e}");
        }
        other => panic!("expected LabelCountMismatch, got {other:?}"),
    }
}

#[test]
fn bad_options_are_rejected() {
    let classifier = files("tiny-sentiment", "model.safetensors").load().unwrap();
    for options in [
        ClassifyOptions {
            max_length: Some(513),
            ..Default::default()
        },
        ClassifyOptions {
            max_length: Some(2),
            ..Default::default()
        },
        ClassifyOptions {
            max_length: Some(0),
            ..Default::default()
        },
        ClassifyOptions {
            batch_size: 0,
            ..Default::default()
        },
    ] {
        assert!(
            matches!(
                classifier.classify(&["hi"], &options),
                Err(Error::InvalidOption(_))
            ),
            "{options:?}"
        );
    }
    assert!(classifier
        .classify(&[] as &[&str], &ClassifyOptions::default())
        .unwrap()
        .is_empty());
}

#[test]
fn damaged_files_never_panic() {
    let f = files("tiny-sentiment", "model.safetensors");
    let bin = read("tiny-sentiment", "pytorch_model.bin");
    let mut rng = Seeded::new(7);
    for round in 0..240 {
        let (mut config, mut tokenizer, mut weights) =
            (f.config.clone(), f.tokenizer.clone(), f.weights.clone());
        let target = match round % 4 {
            0 => &mut config,
            1 => &mut tokenizer,
            2 => &mut weights,
            _ => {
                weights = bin.clone();
                &mut weights
            }
        };
        // Damage the structured part: headers, JSON, the zip directory at the end.
        for _ in 0..1 + rng.below(4) {
            let region = if round % 4 == 3 && rng.below(2) == 0 {
                target.len() - 1 - rng.below(2048)
            } else {
                rng.below(target.len().min(2048))
            };
            target[region] = rng.below(256) as u8;
        }
        if rng.below(5) == 0 {
            let keep = rng.below(target.len());
            target.truncate(keep);
        }
        let outcome = std::panic::catch_unwind(|| {
            if let Ok(classifier) = try_load(&config, &tokenizer, &weights) {
                let _ = classifier.classify(&["a text", ""], &ClassifyOptions::default());
            }
        });
        assert!(outcome.is_ok(), "round {round} panicked");
    }
}

#[test]
fn encoded_sequences_are_checked_before_the_model_sees_them() {
    let classifier = common::load("tiny-sentiment", "model.safetensors");
    let options = xlmr_sentiment_core::ClassifyOptions::default();
    let good = classifier.encode("I love this!", &options).unwrap();
    let direct = classifier.classify(&["I love this!"], &options).unwrap();
    let via_encoded = classifier
        .classify_encoded(std::slice::from_ref(&good), &options)
        .unwrap()
        .into_iter()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(direct, via_encoded);
    for ids in [vec![], vec![0, 999_999, 2], vec![0; 600]] {
        let bad = xlmr_sentiment_core::Encoded {
            ids,
            ..Default::default()
        };
        // The bad sequence is refused alone: its neighbours keep their predictions.
        let outcomes = classifier
            .classify_encoded(&[good.clone(), bad, good.clone()], &options)
            .unwrap();
        assert!(matches!(outcomes[1], Err(Error::InvalidOption(_))));
        for outcome in [&outcomes[0], &outcomes[2]] {
            assert_eq!(outcome.as_ref().unwrap(), &direct[0]);
        }
    }
}
