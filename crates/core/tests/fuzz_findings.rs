//! Inputs the fuzz targets (`fuzz/`) found that once panicked or allocated gigabytes, kept as
//! regression tests: each is now refused with a typed error. The inputs are in
//! `tests/fixtures/fuzz/`, named after the target that found them.

mod common;

use xlmr_sentiment_core::{
    Classifier, Config, Error, ModelFiles, TextTokenizer, MAX_GENERATED_LABELS,
};

fn finding(name: &str) -> Vec<u8> {
    let path = common::model_dir("tiny-sentiment")
        .join("../../fuzz")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn model_file(name: &str) -> Vec<u8> {
    common::read("tiny-sentiment", name)
}

#[test]
fn a_decoder_that_is_not_valid_utf8_is_refused_not_a_panic() {
    // tokenizers' decoder reader panicked (`.expect("Helper")`) on it.
    match TextTokenizer::from_json(&finding("tokenizer_json-decoder-invalid-utf8.json")) {
        Err(Error::InvalidTokenizer(reason)) => assert!(reason.contains("line 1"), "{reason}"),
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    // The same with a lone surrogate escaped in the decoder of the real fixture.
    let json = String::from_utf8(model_file("tokenizer.json")).unwrap();
    let at = json.find("\"decoder\"").unwrap();
    let broken = format!(
        "{}\"decoder\": \"\\ud800\", \"x\":{}",
        &json[..at],
        &json[at + 10..]
    );
    assert!(matches!(
        TextTokenizer::from_json(broken.as_bytes()),
        Err(Error::InvalidTokenizer(_))
    ));
}

#[test]
fn a_precompiled_normalizer_without_its_charsmap_is_refused_not_a_panic() {
    let json: serde_json::Value = serde_json::from_slice(&model_file("tokenizer.json")).unwrap();
    for replacement in [
        serde_json::json!(null),
        serde_json::json!(12),
        serde_json::json!([]),
    ] {
        let mut broken = json.clone();
        let normalizers = broken["normalizer"]["normalizers"].as_array_mut().unwrap();
        let precompiled = normalizers
            .iter_mut()
            .find(|n| n["type"] == "Precompiled")
            .unwrap();
        precompiled["precompiled_charsmap"] = replacement.clone();
        let bytes = serde_json::to_vec(&broken).unwrap();
        match TextTokenizer::from_json(&bytes) {
            Err(Error::InvalidTokenizer(reason)) => {
                assert!(reason.contains("precompiled_charsmap"), "{reason}")
            }
            other => panic!("{replacement}: got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn a_pickle_string_longer_than_the_file_is_refused_before_it_is_allocated() {
    // The finding: the fixture's archive with data.pkl's first string length mutated to 2.4 GB.
    // candle's unpickler allocated it before reading; now the archive's checksum, read first,
    // refuses it.
    let load = |weights: &[u8]| {
        Classifier::load(ModelFiles {
            config: &model_file("config.json"),
            tokenizer: &model_file("tokenizer.json"),
            weights,
        })
    };
    match load(&finding("pytorch_bin-pickle-string-past-end.bin")) {
        Err(Error::CorruptWeights { format, reason }) => {
            assert_eq!(format, "pytorch");
            assert!(reason.contains("checksum"), "{reason}");
        }
        other => panic!("expected CorruptWeights, got {:?}", other.map(|_| ())),
    }
    // The same string in an archive whose checksum is right: refused by the walk over the
    // pickle before candle runs it.
    let mut archive = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    archive
        .start_file("pytorch_model/data.pkl", stored)
        .unwrap();
    std::io::Write::write_all(&mut archive, b"\x80\x02X\x00\x00\x00\x90abc.").unwrap();
    let bytes = archive.finish().unwrap().into_inner();
    match load(&bytes) {
        Err(Error::CorruptWeights { reason, .. }) => {
            assert!(reason.contains("runs past the end"), "{reason}")
        }
        other => panic!("expected CorruptWeights, got {:?}", other.map(|_| ())),
    }
}

/// An edit of a post-processor's JSON.
type Change = fn(&mut serde_json::Value);

#[test]
fn a_template_naming_a_missing_special_token_or_sequence_b_is_refused_not_a_panic() {
    // tokenizers panicked when it encoded with these templates (`processors/template.rs`).
    match TextTokenizer::from_json(&finding("tokenizer_json-template-unknown-special.json")) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(reason.contains("special_tokens lacks"), "{reason}")
        }
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    // The same under another `type`: tokenizers reads any object with a template's fields as
    // one (its wrapper is untagged and the template's tag is not checked).
    match TextTokenizer::from_json(&finding("tokenizer_json-template-misnamed-type.json")) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(
                reason.contains("adds \"</s>\", which special_tokens lacks"),
                "{reason}"
            )
        }
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    let json: serde_json::Value = serde_json::from_slice(&model_file("tokenizer.json")).unwrap();
    let cases: [(&str, Change); 3] = [
        (
            "only \"A\" exists",
            |p| p["single"][1] = serde_json::json!({"Sequence": {"id": "B", "type_id": 0}}),
        ),
        ("different number of ids", |p| {
            p["special_tokens"]["<s>"]["ids"] = serde_json::json!([0, 0])
        }),
        ("beyond the vocabulary", |p| {
            p["special_tokens"]["<s>"]["ids"] = serde_json::json!([100000])
        }),
    ];
    for (expected, change) in cases {
        let mut broken = json.clone();
        change(&mut broken["post_processor"]);
        match TextTokenizer::from_json(&serde_json::to_vec(&broken).unwrap()) {
            Err(Error::InvalidTokenizer(reason)) => assert!(reason.contains(expected), "{reason}"),
            other => panic!("{expected}: got {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn a_regular_expression_of_many_kilobytes_is_refused_before_it_is_compiled() {
    // A 105 KB pattern in a Replace normalizer: compiling it held 27 MB for a 108 KB file.
    match TextTokenizer::from_json(&finding("tokenizer_json-regex-105kb.json")) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(
                reason.contains("regular expression of 105196 bytes"),
                "{reason}"
            )
        }
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    // The bound holds in each section that compiles patterns; a short pattern still loads.
    let json: serde_json::Value = serde_json::from_slice(&model_file("tokenizer.json")).unwrap();
    let replace = |pattern: &str| serde_json::json!({"type": "Replace", "pattern": {"Regex": pattern}, "content": " "});
    let split = |pattern: &str| {
        serde_json::json!({"type": "Split", "pattern": {"Regex": pattern},
                           "behavior": "Isolated", "invert": false})
    };
    for section in ["normalizer", "pre_tokenizer", "decoder"] {
        for (length, loads) in [(8, true), (5000, false)] {
            let pattern = format!("a{{2,}}{}", "b".repeat(length - 5));
            let mut changed = json.clone();
            changed[section] = match section {
                "pre_tokenizer" => serde_json::json!({"type": "Sequence", "pretokenizers": [
                    split(&pattern), json["pre_tokenizer"].clone()]}),
                "decoder" => serde_json::json!({"type": "Sequence", "decoders": [
                    replace(&pattern), json["decoder"].clone()]}),
                _ => serde_json::json!({"type": "Sequence", "normalizers": [
                    replace(&pattern), json["normalizer"].clone()]}),
            };
            let result = TextTokenizer::from_json(&serde_json::to_vec(&changed).unwrap());
            match (result, loads) {
                (Ok(_), true) => {}
                (Err(Error::InvalidTokenizer(reason)), false) => {
                    assert!(reason.starts_with(section), "{section}: {reason}")
                }
                (other, _) => panic!(
                    "{section}, {length}-byte pattern: {:?}",
                    other.map(|_| ()).map_err(|e| e.to_string())
                ),
            }
        }
    }
}

#[test]
fn a_huge_num_labels_without_id2label_is_refused_before_naming_them() {
    // 330000000038315080 `LABEL_i` names were about to be allocated.
    match Config::from_json(&finding("config_json-num-labels-huge.json")) {
        Err(Error::InvalidConfig(reason)) => {
            assert!(
                reason.contains("num_labels is 330000000038315080"),
                "{reason}"
            )
        }
        other => panic!("expected InvalidConfig, got {other:?}"),
    }
    let most = format!(r#"{{"num_labels":{MAX_GENERATED_LABELS}}}"#);
    let config = Config::from_json(most.as_bytes()).unwrap();
    assert_eq!(config.labels.len(), MAX_GENERATED_LABELS);
    assert_eq!(config.labels[MAX_GENERATED_LABELS - 1], "LABEL_65535");
    let one_more = format!(r#"{{"num_labels":{}}}"#, MAX_GENERATED_LABELS + 1);
    assert!(matches!(
        Config::from_json(one_more.as_bytes()),
        Err(Error::InvalidConfig(_))
    ));
}

#[test]
fn added_tokens_of_many_kilobytes_are_refused_before_tokenizers_indexes_them() {
    // One added token of 255,784 bytes: tokenizers' automaton over it took over a second.
    match TextTokenizer::from_json(&finding("tokenizer_json-added-token-255kb.json")) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(
                reason.contains("added token 5 is 255784 bytes long"),
                "{reason}"
            )
        }
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    // Many short ones that add up: 70 of 1,000 bytes.
    let mut json: serde_json::Value =
        serde_json::from_slice(&model_file("tokenizer.json")).unwrap();
    let first_free = json["added_tokens"].as_array().unwrap().len() as u32 + 1000;
    for i in 0..70 {
        json["added_tokens"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": first_free + i, "content": format!("{i:04}{}", "x".repeat(996)),
                "single_word": false, "lstrip": false, "rstrip": false,
                "normalized": false, "special": true
            }));
    }
    match TextTokenizer::from_json(&serde_json::to_vec(&json).unwrap()) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(reason.contains("hold 70"), "{reason}");
            assert!(reason.contains("at most 65536 in all"), "{reason}")
        }
        other => panic!("expected InvalidTokenizer, got {:?}", other.map(|_| ())),
    }
    assert!(TextTokenizer::from_json(&model_file("tokenizer.json")).is_ok());
}
