//! Accuracy and time per text of whatlang and lingua on the golden texts
//! (`tests/fixtures/languages.tsv`), on the rows that have a language, by kind of text. The raw
//! detectors are compared (their top language), without xlmr-sentiment's own rules for texts too
//! short or mixed to tell.

use std::collections::BTreeMap;
use std::time::Instant;

fn iso_639_1_whatlang(lang: whatlang::Lang) -> String {
    // whatlang names languages by ISO 639-3; these are the ones the golden texts use.
    let code = match lang.code() {
        "ara" => "ar", "deu" => "de", "eng" => "en", "spa" => "es", "fra" => "fr", "hin" => "hi",
        "ita" => "it", "por" => "pt", "rus" => "ru", "jpn" => "ja", "cmn" => "zh", "kor" => "ko",
        "tur" => "tr", "nld" => "nl", "pol" => "pl", "ukr" => "uk", "swe" => "sv", "ind" => "id",
        "vie" => "vi", "ell" => "el", "heb" => "he", "pes" => "fa", "tha" => "th",
        other => other,
    };
    code.to_string()
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../../tests/fixtures/languages.tsv".into());
    let data = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let rows: Vec<(String, String, String)> = data
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split('\t').collect();
            (f.len() == 3 && f[0] != "null").then(|| (f[0].into(), f[1].into(), f[2].into()))
        })
        .collect();

    let started = Instant::now();
    let lingua = lingua::LanguageDetectorBuilder::from_all_languages()
        .with_preloaded_language_models()
        .build();
    // The first detection as well: the models may load lazily.
    lingua.detect_language_of("a first text to load the models");
    let lingua_load = started.elapsed();
    let detect_lingua = |text: &str| {
        lingua
            .detect_language_of(text)
            .map(|l| l.iso_code_639_1().to_string())
    };
    let detect_whatlang = |text: &str| whatlang::detect_lang(text).map(iso_639_1_whatlang);

    println!("detector   kind          rows  right  accuracy  time per text");
    let detectors: [(&str, &dyn Fn(&str) -> Option<String>); 2] =
        [("whatlang", &detect_whatlang), ("lingua", &detect_lingua)];
    for (name, detect) in detectors {
        let mut by_kind: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (expected, kind, text) in &rows {
            let entry = by_kind.entry(kind.as_str()).or_default();
            entry.0 += 1;
            if detect(text).as_deref() == Some(expected.as_str()) {
                entry.1 += 1;
            }
        }
        let rounds = 20;
        let start = Instant::now();
        for _ in 0..rounds {
            for (_, _, text) in &rows {
                std::hint::black_box(detect(std::hint::black_box(text)));
            }
        }
        let per_text = start.elapsed().as_secs_f64() / (rounds * rows.len()) as f64;
        let (mut n, mut right) = (0, 0);
        for (kind, (rows, ok)) in &by_kind {
            n += rows;
            right += ok;
            println!(
                "{name:<10} {kind:<12} {rows:>5} {ok:>6}  {:>7.1}%",
                100.0 * *ok as f64 / *rows as f64
            );
        }
        println!(
            "{name:<10} {:<12} {n:>5} {right:>6}  {:>7.1}%  {:>9.1} us",
            "all",
            100.0 * right as f64 / n as f64,
            per_text * 1e6
        );
    }
    println!(
        "lingua: {:.2} s to load its models and answer a first text",
        lingua_load.as_secs_f64()
    );
}
