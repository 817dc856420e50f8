//! Which language a text is in, and whether the model was trained on it.
//!
//! XLM-R's tokenizer takes text in about a hundred languages, but a classifier fine-tuned on a
//! few (the default model: ar, en, fr, de, hi, it, pt, es) gives confident-looking labels for the
//! others too. Detection runs on whatlang (character trigrams, 70 languages, no model files:
//! the README compares it with lingua). It is reported only when it can be trusted: a text with
//! fewer than three words, no letters (emoji only), letters of two scripts in comparable numbers,
//! or a detection whatlang is not confident of gets `None`, never a guess.

use whatlang::{Lang, Script};

use crate::error::{Error, Result};

/// Words (or, in scripts written without spaces, pairs of characters) a text needs before its
/// language is reported: "great movie" says too little to tell English from Dutch.
const MIN_WORDS: usize = 3;

/// The least whatlang confidence (the relative gap between its two best languages) reported.
/// whatlang's own `is_reliable` asks for 0.9, which left 22% of the golden sentences and 62%
/// of the tweets without a language; at 0.5 none of the 208 golden texts with a language got a
/// wrong one, at 0.45 one did (a Russian tweet taken for Bulgarian at 0.44). Chosen on those
/// texts: `cargo run --release -p xlmr-sentiment-core --example language_accuracy`.
const MIN_CONFIDENCE: f64 = 0.5;

/// Share of a text's letters the main script must hold; below it the text is called mixed.
const MIN_MAIN_SCRIPT_SHARE: f64 = 0.7;

/// A detected language.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language {
    /// ISO 639-1 code, such as `ru`.
    pub code: &'static str,
    /// English name, such as `Russian`.
    pub name: &'static str,
}

/// The language of `text`, or `None` when detection is not reliable: fewer than three words,
/// emoji or symbols only, mixed scripts, or an uncertain detection. Mentions (`@user`) and links
/// are left out first: they are in no language.
pub fn detect_language(text: &str) -> Option<Language> {
    let words: Vec<&str> = text
        .split_whitespace()
        .filter(|w| !is_mention_or_link(w))
        .collect();
    let mut counts: Vec<(ScriptGroup, usize)> = Vec::new();
    let (mut letters, mut spaceless, mut spaced_words) = (0usize, 0usize, 0usize);
    for word in &words {
        let mut spaced_letter = false;
        for c in word.chars().filter(|c| c.is_alphabetic()) {
            letters += 1;
            let group = ScriptGroup::of(c);
            if group.writes_without_spaces() {
                spaceless += 1;
            } else {
                spaced_letter = true;
            }
            match counts.iter_mut().find(|(g, _)| *g == group) {
                Some((_, n)) => *n += 1,
                None => counts.push((group, 1)),
            }
        }
        spaced_words += usize::from(spaced_letter);
    }
    let main = counts.iter().map(|&(_, n)| n).max()?;
    if (main as f64) < MIN_MAIN_SCRIPT_SHARE * letters as f64 {
        return None;
    }
    if spaced_words + spaceless / 2 < MIN_WORDS {
        return None;
    }
    let cleaned = words.join(" ");
    let info = whatlang::detect(&cleaned)?;
    if info.confidence() < MIN_CONFIDENCE {
        return None;
    }
    Some(Language {
        code: iso_639_1(info.lang()),
        name: info.lang().eng_name(),
    })
}

/// `@user` mentions and links (as the tweet preprocessing leaves them, or raw).
fn is_mention_or_link(word: &str) -> bool {
    word.starts_with('@')
        || word.starts_with("http:")
        || word.starts_with("https:")
        || word == "http"
        || word.starts_with("www.")
}

/// Scripts, with the three of Japanese (Han, Hiragana, Katakana) as one, so a Japanese text is
/// not called mixed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScriptGroup {
    Script(Script),
    HanKana,
    Other,
}

impl ScriptGroup {
    fn of(c: char) -> Self {
        let mut buf = [0u8; 4];
        match whatlang::detect_script(c.encode_utf8(&mut buf)) {
            Some(Script::Mandarin | Script::Hiragana | Script::Katakana) => Self::HanKana,
            Some(script) => Self::Script(script),
            None => Self::Other,
        }
    }

    /// Scripts written without spaces between words, where letters stand in for words.
    fn writes_without_spaces(self) -> bool {
        matches!(
            self,
            Self::HanKana | Self::Script(Script::Thai | Script::Khmer | Script::Myanmar)
        )
    }
}

/// The ISO 639-1 code of each language whatlang detects (it names them by ISO 639-3).
fn iso_639_1(lang: Lang) -> &'static str {
    match lang {
        Lang::Afr => "af",
        Lang::Aka => "ak",
        Lang::Amh => "am",
        Lang::Ara => "ar",
        Lang::Aze => "az",
        Lang::Bel => "be",
        Lang::Ben => "bn",
        Lang::Bul => "bg",
        Lang::Cat => "ca",
        Lang::Ces => "cs",
        Lang::Cmn => "zh",
        Lang::Cym => "cy",
        Lang::Dan => "da",
        Lang::Deu => "de",
        Lang::Ell => "el",
        Lang::Eng => "en",
        Lang::Epo => "eo",
        Lang::Est => "et",
        Lang::Fin => "fi",
        Lang::Fra => "fr",
        Lang::Guj => "gu",
        Lang::Heb => "he",
        Lang::Hin => "hi",
        Lang::Hrv => "hr",
        Lang::Hun => "hu",
        Lang::Hye => "hy",
        Lang::Ind => "id",
        Lang::Ita => "it",
        Lang::Jav => "jv",
        Lang::Jpn => "ja",
        Lang::Kan => "kn",
        Lang::Kat => "ka",
        Lang::Khm => "km",
        Lang::Kor => "ko",
        Lang::Lat => "la",
        Lang::Lav => "lv",
        Lang::Lit => "lt",
        Lang::Mal => "ml",
        Lang::Mar => "mr",
        Lang::Mkd => "mk",
        Lang::Mya => "my",
        Lang::Nep => "ne",
        Lang::Nld => "nl",
        Lang::Nob => "nb",
        Lang::Ori => "or",
        Lang::Pan => "pa",
        Lang::Pes => "fa",
        Lang::Pol => "pl",
        Lang::Por => "pt",
        Lang::Ron => "ro",
        Lang::Rus => "ru",
        Lang::Sin => "si",
        Lang::Slk => "sk",
        Lang::Slv => "sl",
        Lang::Sna => "sn",
        Lang::Spa => "es",
        Lang::Srp => "sr",
        Lang::Swe => "sv",
        Lang::Tam => "ta",
        Lang::Tel => "te",
        Lang::Tgl => "tl",
        Lang::Tha => "th",
        Lang::Tuk => "tk",
        Lang::Tur => "tr",
        Lang::Ukr => "uk",
        Lang::Urd => "ur",
        Lang::Uzb => "uz",
        Lang::Vie => "vi",
        Lang::Yid => "yi",
        Lang::Zul => "zu",
    }
}

/// The languages a model was trained on, as ISO 639-1 codes (lower case, sorted, no repeats).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrainedLanguages(Vec<String>);

impl TrainedLanguages {
    /// Parses a list such as `ar,en,fr` (commas or spaces between codes). Each code must be two
    /// ASCII letters; a code the detector cannot recognise is kept (the model may know
    /// languages the detector does not), but it never matches a detection.
    pub fn parse(list: &str) -> Result<Self> {
        Self::from_codes(list.split([',', ' ']).filter(|c| !c.is_empty()))
    }

    /// From separate codes (see [`TrainedLanguages::parse`]).
    pub fn from_codes<S: AsRef<str>>(codes: impl IntoIterator<Item = S>) -> Result<Self> {
        let mut out = Vec::new();
        for code in codes {
            let code = code.as_ref().trim().to_ascii_lowercase();
            if code.len() != 2 || !code.bytes().all(|b| b.is_ascii_lowercase()) {
                return Err(Error::InvalidOption(format!(
                    "{code:?} is not an ISO 639-1 language code (two letters, such as \"en\")"
                )));
            }
            out.push(code);
        }
        if out.is_empty() {
            return Err(Error::InvalidOption(
                "the list of trained languages is empty".into(),
            ));
        }
        out.sort();
        out.dedup();
        Ok(Self(out))
    }

    /// The codes, sorted.
    pub fn codes(&self) -> &[String] {
        &self.0
    }

    /// Whether `code` is one of them.
    pub fn contains(&self, code: &str) -> bool {
        self.0.iter().any(|c| c == code)
    }
}

impl std::fmt::Display for TrainedLanguages {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join(","))
    }
}

/// What a prediction says about its text's language (when asked for).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LanguageCheck {
    /// The detected language (ISO 639-1), or `None` when detection is not reliable.
    pub language: Option<&'static str>,
    /// `Some(true)` or `Some(false)` when both the language and the model's trained languages
    /// are known, else `None`.
    pub language_supported: Option<bool>,
}

impl LanguageCheck {
    /// Detects `text`'s language and checks it against `trained`.
    pub fn of(text: &str, trained: Option<&TrainedLanguages>) -> Self {
        let language = detect_language(text).map(|l| l.code);
        let language_supported = match (language, trained) {
            (Some(code), Some(trained)) => Some(trained.contains(code)),
            _ => None,
        };
        Self {
            language,
            language_supported,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_detectable_language_has_a_distinct_two_letter_code() {
        let mut codes: Vec<&str> = Lang::all().iter().map(|&l| iso_639_1(l)).collect();
        assert!(codes.iter().all(|c| c.len() == 2));
        codes.sort();
        let n = codes.len();
        codes.dedup();
        assert_eq!(codes.len(), n);
    }

    #[test]
    fn short_emoji_and_mixed_texts_are_not_guessed() {
        for text in [
            "",
            "😀😀🔥",
            "great movie",
            "@user http 👍",
            "很好",
            "Купил новый телефон, the camera is amazing",
        ] {
            assert_eq!(detect_language(text), None, "{text:?}");
        }
    }

    #[test]
    fn mentions_and_links_are_not_words() {
        assert_eq!(
            detect_language("@user @other http://t.co/x great"),
            None,
            "one real word"
        );
    }

    #[test]
    fn trained_languages_parse_and_reject_bad_codes() {
        let t = TrainedLanguages::parse("en, FR,ar,en").unwrap();
        assert_eq!(t.codes(), ["ar", "en", "fr"]);
        assert_eq!(t.to_string(), "ar,en,fr");
        assert!(t.contains("fr") && !t.contains("ru"));
        for bad in ["", "eng", "e1", "en,,x"] {
            assert!(TrainedLanguages::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn supported_is_null_unless_both_sides_are_known() {
        let trained = TrainedLanguages::parse("en").unwrap();
        let text = "The service at this restaurant was wonderful and friendly";
        assert_eq!(
            LanguageCheck::of(text, Some(&trained)),
            LanguageCheck {
                language: Some("en"),
                language_supported: Some(true)
            }
        );
        assert_eq!(LanguageCheck::of(text, None).language_supported, None);
        assert_eq!(
            LanguageCheck::of("ok", Some(&trained)),
            LanguageCheck {
                language: None,
                language_supported: None
            }
        );
    }
}
