//! The npm package's hand-written TypeScript types (`www/xlmr-sentiment/src/types.ts`) against
//! the core's wire model, which the wasm adapter serializes: a field added or renamed on one
//! side and not the other fails here.

use std::collections::BTreeSet;
use std::path::PathBuf;

use xlmr_sentiment_core::{
    label_entries, Case, DetailedPrediction, LabelScore, LanguageCheck, Prediction, TopK,
    WireOptions,
};

fn types_ts() -> String {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../www/xlmr-sentiment/src/types.ts");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The property names of `export interface NAME { ... }` (top-level members only).
fn interface_fields(source: &str, name: &str) -> BTreeSet<String> {
    let start = source
        .find(&format!("export interface {name} {{"))
        .unwrap_or_else(|| panic!("types.ts has no interface {name}"));
    let body = &source[start..];
    let body = &body[body.find('{').unwrap() + 1..body.find("\n}").unwrap()];
    body.lines()
        .map(str::trim)
        .filter(|line| {
            !line.starts_with('*') && !line.starts_with("/**") && !line.starts_with("//")
        })
        .filter_map(|line| {
            let (field, _) = line.split_once(':')?;
            let field = field.trim().trim_end_matches('?');
            field
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
                .then(|| field.to_owned())
        })
        .collect()
}

fn keys(value: serde_json::Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn prediction() -> Prediction {
    Prediction {
        label: "positive".into(),
        label_id: 1,
        score: 0.75,
        scores: vec![
            LabelScore {
                label: "negative".into(),
                score: 0.25,
            },
            LabelScore {
                label: "positive".into(),
                score: 0.75,
            },
        ],
        truncated: false,
        tokens: 5,
        language: Some(LanguageCheck {
            language: Some("en"),
            language_supported: Some(true),
        }),
    }
}

#[test]
fn prediction_interface_matches_detailed_prediction() {
    let p = prediction();
    let wire = keys(serde_json::to_value(DetailedPrediction::from(&p)).unwrap());
    assert_eq!(interface_fields(&types_ts(), "Prediction"), wire);
}

#[test]
fn label_score_interface_matches_label_entry() {
    let p = prediction();
    let entries = label_entries(&p, TopK::Best(1), Case::Camel);
    let wire = keys(serde_json::to_value(&entries[0]).unwrap());
    assert_eq!(interface_fields(&types_ts(), "LabelScore"), wire);
}

#[test]
fn classify_options_interface_matches_wire_options() {
    let ts = interface_fields(&types_ts(), "ClassifyOptions");
    // `top_k` is transformers.js' spelling, accepted but not part of the declared type.
    let wire: BTreeSet<String> = WireOptions::NAMES
        .iter()
        .filter(|&&n| n != "top_k")
        .map(|&n| n.to_owned())
        .collect();
    assert_eq!(ts, wire);
    for name in WireOptions::NAMES {
        let json = format!(r#"{{"{name}": null}}"#);
        WireOptions::from_json(&json).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn npm_folder_file_names_are_the_core_rule() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../www/xlmr-sentiment/src/files.ts");
    let source =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let constant = |name: &str| -> String {
        let start = source
            .find(&format!("export const {name} = "))
            .unwrap_or_else(|| panic!("files.ts has no {name}"));
        let rest = &source[start..];
        rest[rest.find('=').unwrap() + 1..rest.find(';').unwrap()]
            .trim()
            .to_owned()
    };
    let quoted = |s: &str| format!("\"{s}\"");
    use xlmr_sentiment_core::{CONFIG_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, WEIGHT_FILES};
    assert_eq!(constant("CONFIG_FILE"), quoted(CONFIG_FILE));
    assert_eq!(constant("TOKENIZER_FILE"), quoted(TOKENIZER_FILE));
    assert_eq!(constant("SENTENCEPIECE_FILE"), quoted(SENTENCEPIECE_FILE));
    let weights: Vec<String> = WEIGHT_FILES.iter().map(|w| quoted(w)).collect();
    assert_eq!(
        constant("WEIGHT_FILES"),
        format!("[{}]", weights.join(", "))
    );
}
