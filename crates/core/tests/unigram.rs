//! The compact Unigram model against `tokenizers`' own: for every fixture tokenizer (and for
//! synthetic vocabularies that hit the corner cases of `Unigram`), the same encodings on the
//! golden texts and on thousands of generated strings, with and without special tokens; the same
//! vocabulary, added tokens and serialised JSON; damaged files fail with a typed error.

mod common;

use common::{golden, read, Seeded as Rng, MODELS};
use serde_json::{json, Value};
use tokenizers::{Encoding, Model, Tokenizer};
use xlmr_sentiment_core::{
    unigram_tokenizer_from_json, CompactUnigram, Error, TextTokenizer, UnigramTokenizer,
};

/// Drawing texts from the seeded generator.
impl Rng {
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// A character from `lo..=hi` (code points), skipping surrogates.
    fn char_in(&mut self, lo: u32, hi: u32) -> char {
        loop {
            let c = lo + self.below((hi - lo + 1) as usize) as u32;
            if let Some(c) = char::from_u32(c) {
                return c;
            }
        }
    }
}

/// Code point ranges of scripts, symbols and oddities the generated texts draw from.
const SCRIPTS: &[(u32, u32)] = &[
    (0x41, 0x7a),       // ASCII letters and some punctuation
    (0xc0, 0x17f),      // Latin-1 and Latin Extended-A
    (0x370, 0x3ff),     // Greek
    (0x400, 0x4ff),     // Cyrillic
    (0x590, 0x5ff),     // Hebrew
    (0x600, 0x6ff),     // Arabic
    (0x900, 0x97f),     // Devanagari
    (0xe00, 0xe7f),     // Thai
    (0x3040, 0x30ff),   // Hiragana, Katakana
    (0x4e00, 0x9fff),   // CJK
    (0xac00, 0xd7a3),   // Hangul
    (0x1f300, 0x1faff), // emoji
    (0x300, 0x36f),     // combining marks
];

/// Characters that are unknown to any vocabulary here, or that normalizers treat specially.
const ODDITIES: &[(u32, u32)] = &[
    (0x0, 0x1f),         // C0 controls
    (0x7f, 0x9f),        // DEL, C1 controls
    (0x200b, 0x200f),    // zero-width and direction marks
    (0x2028, 0x202e),    // separators and embeddings
    (0xe000, 0xf8ff),    // private use
    (0xfe00, 0xfe0f),    // variation selectors
    (0xfff0, 0xffff),    // specials, U+FFFF included
    (0x10000, 0x10ffff), // anything in the supplementary planes
];

const WHITESPACE: &[&str] = &[
    " ",
    "  ",
    "    ",
    "\t",
    "\n",
    "\r\n",
    "\u{a0}",
    "\u{3000}",
    "\u{85}",
    "\u{feff}",
    " \u{200e}",
];

const SPECIALS: &[&str] = &[
    "<s>", "</s>", "<pad>", "<unk>", "<mask>", " <mask>", "<mask> ", "<mas", "<<s>>", "</s></s>",
];

/// `count` strings mixing scripts, emoji, whitespace runs, control and unknown characters, very
/// long words, words and pieces of the vocabulary, and special-token literals.
fn generated_texts(seed: u64, count: usize, words: &[String]) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            let mut text = String::new();
            for _ in 0..1 + rng.below(12) {
                match rng.below(9) {
                    0 | 1 => text.push_str(rng.pick::<String>(words)),
                    2 => {
                        let (lo, hi) = *rng.pick(SCRIPTS);
                        for _ in 0..1 + rng.below(8) {
                            text.push(rng.char_in(lo, hi));
                        }
                    }
                    3 => {
                        let (lo, hi) = *rng.pick(ODDITIES);
                        text.push(rng.char_in(lo, hi));
                    }
                    4 => text.push_str(rng.pick::<&str>(WHITESPACE)),
                    5 => text.push_str(rng.pick::<&str>(SPECIALS)),
                    6 => text.push_str(["👍", "❤️", "👨‍👩‍👧", "🇪🇸", "😂😂"][rng.below(5)]),
                    7 if rng.below(8) == 0 => {
                        // A very long word: one piece or character repeated, or random letters.
                        let n = 100 + rng.below(2000);
                        match rng.below(3) {
                            0 => text.push_str(&rng.pick::<String>(words).trim().repeat(n / 4)),
                            1 => text.push_str(&"x".repeat(n)),
                            _ => {
                                for _ in 0..n {
                                    text.push(rng.char_in(0x61, 0x7a));
                                }
                            }
                        }
                    }
                    _ => text.push(' '),
                }
            }
            text
        })
        .collect()
}

/// Words of the golden texts and pieces of the vocabulary (`▁` as a space), to build texts from.
fn words_for(tokenizer_json: &Value, texts: &[String]) -> Vec<String> {
    let mut words: Vec<String> = texts
        .iter()
        .flat_map(|t| t.split_whitespace().map(str::to_owned))
        .collect();
    if let Some(vocab) = tokenizer_json["model"]["vocab"].as_array() {
        words.extend(
            vocab
                .iter()
                .filter_map(|e| e[0].as_str())
                .map(|p| p.replace('\u{2581}', " ")),
        );
    }
    words.sort();
    words.dedup();
    words
}

fn compact(bytes: &[u8]) -> UnigramTokenizer {
    unigram_tokenizer_from_json(bytes).expect("the compact tokenizer loads")
}

fn reference(bytes: &[u8]) -> Tokenizer {
    Tokenizer::from_bytes(bytes).expect("tokenizers loads the file")
}

fn encode_ours(t: &UnigramTokenizer, text: &str, special: bool) -> Result<Encoding, String> {
    t.encode(text, special).map_err(|e| e.to_string())
}

fn encode_theirs(t: &Tokenizer, text: &str, special: bool) -> Result<Encoding, String> {
    t.encode(text, special).map_err(|e| e.to_string())
}

/// Both tokenizers give the same encoding (ids, tokens, offsets, masks) of every text, with and
/// without special tokens, or both fail.
fn assert_same_encodings(
    name: &str,
    ours: &UnigramTokenizer,
    theirs: &Tokenizer,
    texts: &[String],
) {
    for text in texts {
        for special in [true, false] {
            match (
                encode_ours(ours, text, special),
                encode_theirs(theirs, text, special),
            ) {
                (Ok(a), Ok(b)) => {
                    if a != b {
                        assert_eq!(a.get_ids(), b.get_ids(), "{name}: ids of {text:?}");
                        assert_eq!(a.get_tokens(), b.get_tokens(), "{name}: tokens of {text:?}");
                        assert_eq!(a, b, "{name}: encoding of {text:?}");
                    }
                }
                (Err(_), Err(_)) => {}
                (a, b) => panic!("{name}: {text:?} gives {a:?} here but {b:?} in tokenizers"),
            }
        }
    }
}

/// Same vocabulary, added tokens and JSON as `tokenizers`.
fn assert_same_vocabulary(name: &str, ours: &UnigramTokenizer, theirs: &Tokenizer) {
    assert_eq!(
        ours.get_vocab_size(true),
        theirs.get_vocab_size(true),
        "{name}"
    );
    assert_eq!(
        ours.get_vocab_size(false),
        theirs.get_vocab_size(false),
        "{name}"
    );
    let vocab = theirs.get_vocab(true);
    assert_eq!(ours.get_vocab(true), vocab, "{name}: vocabulary");
    for (token, id) in &vocab {
        assert_eq!(
            ours.token_to_id(token),
            Some(*id),
            "{name}: id of {token:?}"
        );
    }
    for id in 0..theirs.get_vocab_size(false) as u32 + 2 {
        assert_eq!(
            ours.id_to_token(id),
            theirs.id_to_token(id),
            "{name}: token {id}"
        );
    }
    assert_eq!(
        ours.get_added_tokens_decoder(),
        theirs.get_added_tokens_decoder(),
        "{name}: added tokens"
    );
    // The whole tokenizer, model scores included, serialises to the very same JSON.
    assert_eq!(
        serde_json::to_string(ours).unwrap(),
        theirs.to_string(false).unwrap(),
        "{name}: serialised tokenizer"
    );
}

#[test]
fn fixture_tokenizers_match_tokenizers_on_golden_and_generated_texts() {
    for (index, name) in MODELS.into_iter().enumerate() {
        let bytes = read(name, "tokenizer.json");
        let (ours, theirs) = (compact(&bytes), reference(&bytes));
        assert_same_vocabulary(name, &ours, &theirs);

        let golden_texts: Vec<String> = golden(name)
            .texts
            .into_iter()
            .flat_map(|t| [t.text, t.preprocessed])
            .collect();
        assert_same_encodings(name, &ours, &theirs, &golden_texts);

        let json: Value = serde_json::from_slice(&bytes).unwrap();
        let generated = generated_texts(index as u64 + 1, 2500, &words_for(&json, &golden_texts));
        assert_same_encodings(name, &ours, &theirs, &generated);
    }
}

#[test]
fn text_tokenizer_uses_the_compact_model_and_keeps_its_ids() {
    let name = "tiny-sentiment";
    let bytes = read(name, "tokenizer.json");
    let tokenizer = TextTokenizer::from_json(&bytes).unwrap();
    let theirs = reference(&bytes);
    assert_eq!(tokenizer.vocab_size(), theirs.get_vocab_size(true));
    assert_eq!(tokenizer.added_tokens(), 2);
    for token in ["<s>", "</s>", "<mask>", "▁the", "nope"] {
        assert_eq!(tokenizer.token_to_id(token), theirs.token_to_id(token));
    }
    for t in golden(name).texts {
        let ids = tokenizer.encode(&t.preprocessed, usize::MAX).unwrap().ids;
        assert_eq!(
            ids,
            theirs
                .encode(t.preprocessed.as_str(), true)
                .unwrap()
                .get_ids()
        );
    }
}

/// A `tokenizer.json` with the given model and pre-tokenizer, no normalizer, and `<s>`/`</s>`
/// around every text when they are in `added`.
fn synthetic(model: Value, pre_tokenizer: Value, added: &[(u32, &str)]) -> Vec<u8> {
    let added_tokens: Vec<Value> = added
        .iter()
        .map(|(id, content)| {
            json!({"id": id, "content": content, "single_word": false, "lstrip": false,
                   "rstrip": false, "normalized": false, "special": true})
        })
        .collect();
    let post_processor = if added.len() >= 2 {
        json!({"type": "RobertaProcessing", "sep": [added[1].1, added[1].0],
               "cls": [added[0].1, added[0].0], "trim_offsets": true, "add_prefix_space": true})
    } else {
        Value::Null
    };
    serde_json::to_vec(&json!({
        "version": "1.0", "truncation": null, "padding": null, "added_tokens": added_tokens,
        "normalizer": null, "pre_tokenizer": pre_tokenizer, "post_processor": post_processor,
        "decoder": null, "model": model,
    }))
    .unwrap()
}

/// Texts made of `alphabet` (pieces or characters), spaces and an unknown character now and then.
fn texts_from(alphabet: &[&str], seed: u64, count: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|_| {
            (0..rng.below(14))
                .map(|_| match rng.below(10) {
                    0 => " ".to_string(),
                    1 => rng.char_in(0x3b1, 0x3c9).to_string(),
                    _ => rng.pick::<&str>(alphabet).to_string(),
                })
                .collect()
        })
        .collect()
}

#[test]
fn corner_cases_of_unigram_match_tokenizers() {
    let unigram = |vocab: Value, unk_id: Value, byte_fallback: bool| json!({"type": "Unigram", "unk_id": unk_id, "vocab": vocab, "byte_fallback": byte_fallback});
    let split = json!({"type": "WhitespaceSplit"});
    let cases: Vec<(&str, Vec<u8>, Vec<&str>)> = vec![
        (
            // Duplicate pieces (the last id wins), an empty piece, U+FFFF (outside crawdad's
            // trie), equal scores (ties), and `<unk>` itself as a literal piece of the text.
            "duplicates and ties",
            synthetic(
                unigram(
                    json!([
                        ["<s>", 0.0],
                        ["</s>", 0.0],
                        ["<unk>", 0.0],
                        ["a", -1.0],
                        ["b", -1.0],
                        ["ab", -2.0],
                        ["", -0.5],
                        ["a", -3.0],
                        ["b\u{ffff}", -1.5],
                        ["\u{ffff}", -4.0],
                        ["abab", -4.0],
                        ["ba", -2.0],
                        ["é", -2.0]
                    ]),
                    json!(2),
                    false,
                ),
                Value::Null,
                &[(0, "<s>"), (1, "</s>")],
            ),
            vec![
                "a", "b", "ab", "ba", "\u{ffff}", "<unk>", "é", "e\u{301}", "c",
            ],
        ),
        (
            // Positive scores: two unknown characters can beat a piece, and the fused run is then
            // itself that piece, found by its string.
            "fused unknowns that are a piece",
            synthetic(
                unigram(
                    json!([
                        ["<unk>", 100.0],
                        ["a", 100.0],
                        ["xy", 100.0],
                        ["axy", 100.0]
                    ]),
                    json!(0),
                    false,
                ),
                split.clone(),
                &[],
            ),
            vec!["a", "x", "y", "xy", "z"],
        ),
        (
            // Byte fallback: unknown runs become <0xXX> pieces when all their bytes have one.
            "byte fallback",
            synthetic(
                unigram(
                    json!([
                        ["<unk>", 0.0],
                        ["<s>", 0.0],
                        ["</s>", 0.0],
                        ["a", -1.0],
                        ["<0x62>", -5.0],
                        ["<0x63>", -5.0],
                        ["<0xCE>", -5.0],
                        ["<0xB1>", -5.0]
                    ]),
                    json!(0),
                    true,
                ),
                split.clone(),
                &[(1, "<s>"), (2, "</s>")],
            ),
            vec!["a", "b", "c", "bc", "α", "β", "<0x62>"],
        ),
        (
            // No unk_id: an unknown character is an error, in both.
            "no unk_id",
            synthetic(
                unigram(
                    json!([["a", -1.0], ["b", -2.0], ["ab", -1.0]]),
                    Value::Null,
                    false,
                ),
                split.clone(),
                &[],
            ),
            vec!["a", "b", "ab"],
        ),
        (
            "empty vocabulary without unk_id",
            synthetic(unigram(json!([]), Value::Null, false), split.clone(), &[]),
            vec!["a"],
        ),
        (
            // Extreme scores: sums overflow to -inf and ties at -inf resolve the same way.
            "extreme scores",
            synthetic(
                unigram(
                    json!([["<unk>", -1e308], ["a", -1e308], ["aa", -1.7e308], ["b", 0]]),
                    json!(0),
                    false,
                ),
                Value::Null,
                &[],
            ),
            vec!["a", "aa", "b", "c"],
        ),
    ];
    for (index, (name, bytes, alphabet)) in cases.into_iter().enumerate() {
        let (ours, theirs) = (compact(&bytes), reference(&bytes));
        assert_same_vocabulary(name, &ours, &theirs);
        let texts = texts_from(&alphabet, 100 + index as u64, 3000);
        assert_same_encodings(name, &ours, &theirs, &texts);
    }
}

#[test]
fn other_models_load_through_tokenizers() {
    let word_level = synthetic(
        json!({"type": "WordLevel", "vocab": {"<s>": 0, "</s>": 1, "<unk>": 2, "hello": 3,
               "world": 4}, "unk_token": "<unk>"}),
        json!({"type": "WhitespaceSplit"}),
        &[(0, "<s>"), (1, "</s>")],
    );
    let tokenizer = TextTokenizer::from_json(&word_level).unwrap();
    assert_eq!(
        tokenizer.encode("hello big world", 10).unwrap().ids,
        [0, 3, 2, 4, 1]
    );
    let bpe = synthetic(
        json!({"type": "BPE", "dropout": null, "unk_token": "<unk>",
               "continuing_subword_prefix": null, "end_of_word_suffix": null, "fuse_unk": false,
               "byte_fallback": false, "ignore_merges": false,
               "vocab": {"<s>": 0, "</s>": 1, "<unk>": 2, "a": 3, "b": 4, "ab": 5},
               "merges": [["a", "b"]]}),
        json!({"type": "WhitespaceSplit"}),
        &[(0, "<s>"), (1, "</s>")],
    );
    let tokenizer = TextTokenizer::from_json(&bpe).unwrap();
    assert_eq!(tokenizer.encode("ab ba", 10).unwrap().ids, [0, 5, 4, 3, 1]);
    assert!(matches!(
        unigram_tokenizer_from_json(&bpe),
        Err(Error::InvalidTokenizer(m)) if m.contains("not a Unigram")
    ));
}

fn load_error(bytes: &[u8]) -> String {
    let direct = unigram_tokenizer_from_json(bytes).map(|_| ());
    match TextTokenizer::from_json(bytes) {
        Err(Error::InvalidTokenizer(reason)) => {
            assert!(
                matches!(direct, Err(Error::InvalidTokenizer(_))),
                "{direct:?}"
            );
            reason
        }
        Err(other) => panic!("expected InvalidTokenizer, got {other}"),
        Ok(_) => panic!("expected an error, got a tokenizer"),
    }
}

#[test]
fn damaged_unigram_sections_are_invalid_tokenizers() {
    let bytes = read("tiny-sentiment", "tokenizer.json");
    let original: Value = serde_json::from_slice(&bytes).unwrap();
    type Edit = Box<dyn Fn(&mut Value)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "entry not a pair",
            Box::new(|j| j["model"]["vocab"][5] = json!("a")),
        ),
        (
            "entry too short",
            Box::new(|j| j["model"]["vocab"][5] = json!(["a"])),
        ),
        (
            "entry too long",
            Box::new(|j| j["model"]["vocab"][5] = json!(["a", 1.0, 2])),
        ),
        (
            "piece not a string",
            Box::new(|j| j["model"]["vocab"][5] = json!([1, 1.0])),
        ),
        (
            "score not a number",
            Box::new(|j| j["model"]["vocab"][5] = json!(["a", "x"])),
        ),
        (
            "vocab an object",
            Box::new(|j| j["model"]["vocab"] = json!({"a": 1.0})),
        ),
        (
            "vocab missing",
            Box::new(|j| {
                j["model"].as_object_mut().unwrap().remove("vocab");
            }),
        ),
        (
            "unk_id too large",
            Box::new(|j| j["model"]["unk_id"] = json!(962)),
        ),
        (
            "unk_id negative",
            Box::new(|j| j["model"]["unk_id"] = json!(-1)),
        ),
        (
            "unk_id a string",
            Box::new(|j| j["model"]["unk_id"] = json!("3")),
        ),
        (
            "byte_fallback null",
            Box::new(|j| j["model"]["byte_fallback"] = Value::Null),
        ),
        (
            "empty vocab with unk",
            Box::new(|j| j["model"]["vocab"] = json!([])),
        ),
        ("version", Box::new(|j| j["version"] = json!("2.0"))),
        (
            "model missing",
            Box::new(|j| {
                j.as_object_mut().unwrap().remove("model");
            }),
        ),
        (
            "model not a map",
            Box::new(|j| j["model"] = json!("Unigram")),
        ),
        (
            "added token moved",
            Box::new(|j| j["added_tokens"][4]["id"] = json!(5)),
        ),
        (
            "added token past the end",
            Box::new(|j| j["added_tokens"][4]["id"] = json!(970)),
        ),
        (
            "added token twice",
            Box::new(|j| {
                let again = json!({"id": 7, "content": "<s>", "single_word": false, "lstrip": false,
                               "rstrip": false, "normalized": false, "special": true});
                j["added_tokens"].as_array_mut().unwrap().push(again);
            }),
        ),
        (
            "added token empty",
            Box::new(|j| j["added_tokens"][4]["content"] = json!("")),
        ),
        (
            "added token without flags",
            Box::new(|j| {
                j["added_tokens"][4]
                    .as_object_mut()
                    .unwrap()
                    .remove("special");
            }),
        ),
        (
            "normalizer unknown",
            Box::new(|j| j["normalizer"] = json!({"type": "Nope"})),
        ),
        (
            "charsmap damaged",
            Box::new(|j| {
                j["normalizer"]["normalizers"][0]["precompiled_charsmap"] = json!("BAAAAAAAAAA=");
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut json = original.clone();
        edit(&mut json);
        let reason = load_error(&serde_json::to_vec(&json).unwrap());
        assert!(!reason.is_empty(), "{what}");
    }
    // A duplicate in the vocabulary is no error: the last id wins, as in tokenizers.
    let mut json = original.clone();
    json["model"]["vocab"][6] = json!(["▁", -1.0]);
    let bytes = serde_json::to_vec(&json).unwrap();
    assert_eq!(
        compact(&bytes).token_to_id("▁"),
        reference(&bytes).token_to_id("▁")
    );
}

#[test]
fn truncated_or_corrupted_json_never_panics() {
    let bytes = read("tiny-sentiment", "tokenizer.json");
    let texts = [
        "a text",
        "",
        "hello <mask> wörld 👍",
        "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
    ];
    let mut rng = Rng::new(11);
    for round in 0..400 {
        let mut damaged = bytes.clone();
        if round % 2 == 0 {
            damaged.truncate(rng.below(bytes.len() - 1));
        } else {
            for _ in 0..1 + rng.below(4) {
                // The vocabulary fills most of the file, so the damage mostly lands there.
                let at = rng.below(damaged.len());
                damaged[at] = rng.below(256) as u8;
            }
        }
        let outcome = std::panic::catch_unwind(|| {
            let loaded = TextTokenizer::from_json(&damaged);
            if round % 2 == 0 {
                assert!(
                    matches!(loaded, Err(Error::InvalidTokenizer(_))),
                    "round {round}: truncated JSON must not load"
                );
            }
            if let Ok(tokenizer) = loaded {
                for text in texts {
                    let _ = tokenizer.encode(text, 16);
                }
                // Where the damage leaves a loadable file, both agree on it.
                if let (Ok(ours), Ok(theirs)) = (
                    unigram_tokenizer_from_json(&damaged),
                    Tokenizer::from_bytes(&damaged),
                ) {
                    let texts: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
                    assert_same_encodings("damaged", &ours, &theirs, &texts);
                }
            }
        });
        assert!(outcome.is_ok(), "round {round} panicked");
    }
}

#[test]
fn the_model_alone_answers_like_tokenizers_unigram() {
    let bytes = read("tiny-multilabel", "tokenizer.json");
    let mut json: Value = serde_json::from_slice(&bytes).unwrap();
    // `Unigram` wants `type` as a borrowed string, which a `Value` cannot lend; its
    // `ModelWrapper` strips the key before handing the rest over, so do the same for both.
    json["model"].as_object_mut().unwrap().remove("type");
    let ours: CompactUnigram = serde_json::from_value(json["model"].clone()).unwrap();
    let theirs: tokenizers::models::unigram::Unigram =
        serde_json::from_value(json["model"].clone()).unwrap();
    assert_eq!(ours.get_vocab(), theirs.get_vocab());
    assert_eq!(ours.get_vocab_size(), theirs.get_vocab_size());
    assert_eq!(
        serde_json::to_string(&ours).unwrap(),
        serde_json::to_string(&theirs).unwrap()
    );
    for text in [
        "▁hello▁world",
        "▁xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "ü日本",
        "",
    ] {
        assert_eq!(
            ours.tokenize(text).unwrap(),
            theirs.tokenize(text).unwrap(),
            "{text:?}"
        );
    }
}

/// The full-size random tokenizer (250,002 pieces) written by `python bench/full_size_model.py`.
/// Ignored by default (it needs that file and is slow in debug builds): run it with
/// `--release -- --ignored` after writing the file; without the file it fails.
#[test]
#[ignore]
fn full_size_tokenizer_matches_tokenizers() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/full-size-model/tokenizer.json");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with `python bench/full_size_model.py`",
            path.display()
        )
    });
    let (ours, theirs) = (compact(&bytes), reference(&bytes));
    assert_same_vocabulary("full-size", &ours, &theirs);
    let golden_texts: Vec<String> = MODELS
        .iter()
        .flat_map(|name| golden(name).texts)
        .flat_map(|t| [t.text, t.preprocessed])
        .collect();
    assert_same_encodings("full-size", &ours, &theirs, &golden_texts);
    let json: Value = serde_json::from_slice(&bytes).unwrap();
    let generated = generated_texts(42, 3000, &words_for(&json, &golden_texts));
    assert_same_encodings("full-size", &ours, &theirs, &generated);
}
