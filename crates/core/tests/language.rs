//! Language detection on the golden texts (`tests/fixtures/languages.tsv`: texts written for
//! it in the default model's eight languages, in five it was not trained on and ten others, and
//! texts that must get no language: emoji only, two words, mixed scripts).

use xlmr_sentiment_core::{detect_language, LanguageCheck, TrainedLanguages};

/// The default model's trained languages (its model card).
const DEFAULT_MODEL: &str = "ar,de,en,es,fr,hi,it,pt";

struct Row {
    expected: Option<String>,
    kind: String,
    text: String,
}

fn rows() -> Vec<Row> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/fixtures/languages.tsv"
    );
    let data = std::fs::read_to_string(path).expect("the golden language texts");
    let mut lines = data.lines();
    assert_eq!(lines.next(), Some("expected\tkind\ttext"));
    lines
        .map(|line| {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), 3, "{line:?}");
            Row {
                expected: (fields[0] != "null").then(|| fields[0].to_string()),
                kind: fields[1].to_string(),
                text: fields[2].to_string(),
            }
        })
        .collect()
}

/// Rows of `kind` (all kinds with `None`) whose expected language is `language`.
fn of<'a>(rows: &'a [Row], language: &str, kinds: &[&str]) -> Vec<&'a Row> {
    rows.iter()
        .filter(|r| r.expected.as_deref() == Some(language) && kinds.contains(&r.kind.as_str()))
        .collect()
}

#[test]
fn no_text_gets_a_wrong_language() {
    let rows = rows();
    let mut checked = 0;
    for row in rows.iter().filter(|r| r.expected.is_some()) {
        if let Some(detected) = detect_language(&row.text) {
            assert_eq!(
                Some(detected.code),
                row.expected.as_deref(),
                "{:?}",
                row.text
            );
        }
        checked += 1;
    }
    assert_eq!(checked, 208);
}

#[test]
fn most_sentences_and_tweets_get_their_language() {
    let rows = rows();
    for (kind, at_least) in [("sentence", 0.85), ("tweet", 0.6)] {
        let texts: Vec<&Row> = rows
            .iter()
            .filter(|r| r.kind == kind && r.expected.is_some())
            .collect();
        let detected = texts
            .iter()
            .filter(|r| detect_language(&r.text).is_some())
            .count();
        assert!(
            detected as f64 >= at_least * texts.len() as f64,
            "{kind}: {detected} of {} detected",
            texts.len()
        );
    }
}

#[test]
fn trained_languages_come_back_supported_and_five_others_unsupported() {
    let trained = TrainedLanguages::parse(DEFAULT_MODEL).unwrap();
    let rows = rows();
    for (languages, supported) in [
        (&["ar", "de", "en", "es", "fr", "hi", "it", "pt"][..], true),
        (&["ru", "ja", "zh", "ko", "tr"][..], false),
    ] {
        for language in languages {
            let texts = of(&rows, language, &["sentence", "tweet"]);
            assert!(texts.len() >= 10, "{language}: {} texts", texts.len());
            let mut answered = 0;
            for row in &texts {
                let check = LanguageCheck::of(&row.text, Some(&trained));
                // Too uncertain to tell is allowed (no note then), another answer is not.
                if check.language.is_none() {
                    assert_eq!(check.language_supported, None);
                    continue;
                }
                assert_eq!(
                    check,
                    LanguageCheck {
                        language: Some(language),
                        language_supported: Some(supported)
                    },
                    "{:?}",
                    row.text
                );
                answered += 1;
            }
            // Every language gets most of its sentences and tweets answered.
            assert!(
                answered * 2 >= texts.len(),
                "{language}: {answered} of {} answered",
                texts.len()
            );
        }
    }
}

#[test]
fn emoji_two_words_and_mixed_scripts_get_no_language_and_no_warning() {
    let trained = TrainedLanguages::parse(DEFAULT_MODEL).unwrap();
    let mut checked = 0;
    for row in rows().iter().filter(|r| r.expected.is_none()) {
        assert_eq!(
            LanguageCheck::of(&row.text, Some(&trained)),
            LanguageCheck {
                language: None,
                language_supported: None
            },
            "{} {:?}",
            row.kind,
            row.text
        );
        checked += 1;
    }
    assert_eq!(checked, 32);
}
