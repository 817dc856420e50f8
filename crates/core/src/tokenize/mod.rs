//! The model's `tokenizer.json`, run as written by the `tokenizers` crate (the behaviour of every
//! deployed fast tokenizer and of `transformers` 4.x), with truncation done per call; or built from
//! a SentencePiece model (`sentencepiece.rs`) for folders that ship no `tokenizer.json`.
//!
//! A Unigram model (XLM-R's) runs on [`CompactUnigram`] (`unigram.rs`) inside `tokenizers`' own
//! pipeline, so its 250,002 pieces take tens of MB instead of hundreds; other models load with
//! `Tokenizer::from_bytes` as they are.

mod charsmap;
mod sentencepiece;
mod unigram;

pub use sentencepiece::tokenizer_json_from_sentencepiece;
pub use unigram::CompactUnigram;

use tokenizers::{
    AddedToken, DecoderWrapper, Encoding, Model, NormalizerWrapper, PostProcessor,
    PostProcessorWrapper, PreTokenizerWrapper, Tokenizer, TokenizerImpl, TruncationDirection,
};

use crate::error::{Error, Result};
use crate::language::LanguageCheck;

/// Calls `check` on every JSON object inside `value` (itself included), stopping at the first
/// error.
fn each_object(
    value: &serde_json::Value,
    check: &mut impl FnMut(&serde_json::Map<String, serde_json::Value>) -> Result<()>,
) -> Result<()> {
    match value {
        serde_json::Value::Object(map) => {
            check(map)?;
            map.values().try_for_each(|v| each_object(v, check))
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(|v| each_object(v, check)),
        _ => Ok(()),
    }
}

/// Finds every `Precompiled` normalizer (possibly inside a `Sequence`) and checks its charsmap.
fn check_normalizers(value: &serde_json::Value) -> Result<()> {
    each_object(value, &mut |map| {
        if map.get("type").and_then(|t| t.as_str()) != Some("Precompiled") {
            return Ok(());
        }
        // tokenizers panics on a Precompiled normalizer it cannot read
        // (`normalizers/mod.rs`, `.expect("Precompiled")`), so its one field is required.
        let encoded = map
            .get("precompiled_charsmap")
            .and_then(|c| c.as_str())
            .ok_or_else(|| {
                Error::InvalidTokenizer(
                    "a Precompiled normalizer needs a `precompiled_charsmap` string".into(),
                )
            })?;
        charsmap::check_base64(encoded).map_err(Error::InvalidTokenizer)
    })
}

/// The longest regular expression a tokenizer may hold. tokenizers compiles each `Regex`
/// pattern (of a `Replace` normalizer or decoder, or a `Split` pre-tokenizer) with Oniguruma,
/// which held about 250 bytes per byte of pattern: a 105 KB pattern in a 108 KB file took 27 MB
/// (found by the `tokenizer_json` fuzz target). Real tokenizers' patterns are at most a few
/// hundred bytes (GPT-2's is 90).
const MAX_REGEX_BYTES: usize = 4096;

/// Refuses any `Regex` pattern longer than [`MAX_REGEX_BYTES`] in a normalizer, pre-tokenizer
/// or decoder.
fn check_regex_patterns(section: &str, value: &serde_json::Value) -> Result<()> {
    each_object(
        value,
        &mut |map| match map.get("Regex").and_then(|p| p.as_str()) {
            Some(pattern) if pattern.len() > MAX_REGEX_BYTES => {
                Err(Error::InvalidTokenizer(format!(
                    "{section}: a regular expression of {} bytes (at most {MAX_REGEX_BYTES})",
                    pattern.len()
                )))
            }
            _ => Ok(()),
        },
    )
}

/// Checks a post-processor before tokenizers runs it, and returns the ids it adds to a single
/// text. tokenizers reads a `TemplateProcessing` without checking it and panics when it encodes
/// (`processors/template.rs`): on a special token the template names but `special_tokens` lacks,
/// and on a single-text template that uses the second sequence. Found by the `tokenizer_json`
/// fuzz target.
fn check_post_processor(value: &serde_json::Value) -> Result<Vec<u64>> {
    let bad = |what: String| Error::InvalidTokenizer(format!("post_processor: {what}"));
    // `PostProcessorWrapper` is untagged and only Sequence and ByteLevel check their `type`, so
    // the variant is the first whose fields are there, in its order (Roberta, Bert, ByteLevel,
    // Template, Sequence): a "TemplateXrocessing" is a template (the tokenizer_json fuzz target).
    let has = |key: &str| value.get(key).is_some();
    let kind = match value.get("type").and_then(|t| t.as_str()) {
        _ if has("sep") && has("cls") => Some("RobertaProcessing"),
        Some("ByteLevel") => Some("ByteLevel"),
        _ if has("single") && has("pair") && has("special_tokens") => Some("TemplateProcessing"),
        other => other,
    };
    let mut ids = Vec::new();
    match kind {
        Some("Sequence") => {
            for processor in value
                .get("processors")
                .and_then(|p| p.as_array())
                .into_iter()
                .flatten()
            {
                ids.extend(check_post_processor(processor)?);
            }
        }
        Some("TemplateProcessing") => {
            let specials = value.get("special_tokens").and_then(|t| t.as_object());
            let single = value.get("single").and_then(|t| t.as_array());
            for piece in single.into_iter().flatten() {
                if let Some(sequence) = piece.get("Sequence") {
                    let id = sequence.get("id").and_then(|i| i.as_str());
                    if id != Some("A") {
                        return Err(bad(format!(
                            "the single-text template uses sequence {id:?}; only \"A\" exists"
                        )));
                    }
                }
                if let Some(special) = piece.get("SpecialToken") {
                    let name = special
                        .get("id")
                        .and_then(|i| i.as_str())
                        .unwrap_or_default();
                    let token = specials.and_then(|t| t.get(name)).ok_or_else(|| {
                        bad(format!(
                            "the template adds {name:?}, which special_tokens lacks"
                        ))
                    })?;
                    let token_ids = token.get("ids").and_then(|i| i.as_array());
                    let tokens = token.get("tokens").and_then(|t| t.as_array());
                    if token_ids.map(Vec::len) != tokens.map(Vec::len) {
                        return Err(bad(format!(
                            "special token {name:?} has a different number of ids and tokens"
                        )));
                    }
                    ids.extend(token_ids.into_iter().flatten().filter_map(|i| i.as_u64()));
                }
            }
        }
        Some("RobertaProcessing") => {
            for key in ["sep", "cls"] {
                ids.extend(
                    value
                        .get(key)
                        .and_then(|t| t.get(1))
                        .and_then(|i| i.as_u64()),
                );
            }
        }
        _ => {}
    }
    Ok(ids)
}

/// The parts of `tokenizer.json` read before `tokenizers` sees the file: the normalizer (its
/// charsmap is checked), the model's type (which loader to use) and the added tokens with their
/// ids (checked afterwards). The (large) vocabulary is skipped without being stored.
///
/// The pre-tokenizer, post-processor and decoder are read as JSON values so that their text is
/// checked (valid UTF-8, valid escapes: tokenizers panics on a decoder that is not valid JSON,
/// `decoders/mod.rs`, `.expect("Helper")`; found by the `tokenizer_json` fuzz target) and their
/// regular expressions are bounded.
#[derive(serde::Deserialize)]
struct Head {
    #[serde(default)]
    normalizer: Option<serde_json::Value>,
    #[serde(default)]
    pre_tokenizer: Option<serde_json::Value>,
    #[serde(default)]
    post_processor: Option<serde_json::Value>,
    #[serde(default)]
    decoder: Option<serde_json::Value>,
    #[serde(default)]
    model: Option<ModelHead>,
    #[serde(default)]
    added_tokens: Vec<AddedTokenWithId>,
}

/// The model's `type`, which picks the loader; its other keys are skipped.
#[derive(serde::Deserialize)]
struct ModelHead {
    #[serde(rename = "type", default)]
    kind: Option<String>,
}

/// The longest added token, and the most bytes of added tokens in all. `tokenizers` builds a
/// double-array Aho-Corasick automaton over them (daachorse) at about 1.7 us per byte: a 510 KB
/// token took 0.86 s to refuse, so a 10 MB file could hold the loader for 17 s. XLM-R's five
/// special tokens are 26 bytes. Found by the `tokenizer_json` fuzz target (a 255 KB token).
const MAX_ADDED_TOKEN_BYTES: usize = 1024;
const MAX_ADDED_TOKENS_BYTES: usize = 64 * 1024;

fn check_added_token_sizes(tokens: &[AddedTokenWithId]) -> Result<()> {
    let mut total = 0;
    for AddedTokenWithId { id, token } in tokens {
        let len = token.content.len();
        if len > MAX_ADDED_TOKEN_BYTES {
            return Err(Error::InvalidTokenizer(format!(
                "added token {id} is {len} bytes long (at most {MAX_ADDED_TOKEN_BYTES})"
            )));
        }
        total += len;
    }
    if total > MAX_ADDED_TOKENS_BYTES {
        return Err(Error::InvalidTokenizer(format!(
            "the {} added tokens hold {total} bytes (at most {MAX_ADDED_TOKENS_BYTES} in all)",
            tokens.len()
        )));
    }
    Ok(())
}

/// One entry of `added_tokens`, as `tokenizers`' (private) `AddedTokenWithId` reads it.
#[derive(serde::Deserialize)]
struct AddedTokenWithId {
    id: u32,
    #[serde(flatten)]
    token: AddedToken,
}

impl Head {
    /// Parses the head and checks every charsmap, so a damaged one fails here instead of
    /// panicking inside `tokenizers`.
    fn parse(bytes: &[u8]) -> Result<Self> {
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
        if let Some(normalizer) = &head.normalizer {
            check_normalizers(normalizer)?;
        }
        if let Some(processor) = &head.post_processor {
            check_post_processor(processor)?;
        }
        check_added_token_sizes(&head.added_tokens)?;
        for (section, value) in [
            ("normalizer", &head.normalizer),
            ("pre_tokenizer", &head.pre_tokenizer),
            ("decoder", &head.decoder),
        ] {
            if let Some(value) = value {
                check_regex_patterns(section, value)?;
            }
        }
        Ok(head)
    }

    fn is_unigram(&self) -> bool {
        let kind = self.model.as_ref().and_then(|m| m.kind.as_deref());
        kind == Some("Unigram")
    }

    /// Checks that every added token got the id `tokenizer.json` gives it. `tokenizers` only
    /// logs a warning when they differ (`tokenizer/serialization.rs`, `TokenizerVisitor`) and
    /// numbers the token anew, which would silently feed the model other embedding rows.
    fn check_added_ids(&self, assigned: impl Fn(u32) -> Option<AddedToken>) -> Result<()> {
        for AddedTokenWithId { id, token } in &self.added_tokens {
            if assigned(*id).as_ref() != Some(token) {
                return Err(Error::InvalidTokenizer(format!(
                    "added token {:?} has id {id} in tokenizer.json, but that id holds {} once \
                     the vocabulary is loaded",
                    token.content,
                    match assigned(*id) {
                        Some(other) => format!("{:?}", other.content),
                        None => "no added token".into(),
                    }
                )));
            }
        }
        Ok(())
    }
}

/// A `tokenizer.json` with a Unigram model, run by `tokenizers` with [`CompactUnigram`] as the
/// model and `tokenizers`' own normalizer, pre-tokenizer, post-processor, decoder and added tokens.
pub type UnigramTokenizer = TokenizerImpl<
    CompactUnigram,
    NormalizerWrapper,
    PreTokenizerWrapper,
    PostProcessorWrapper,
    DecoderWrapper,
>;

/// Loads a `tokenizer.json` whose model is Unigram without ever building `tokenizers`' own
/// `Unigram`: `tokenizers`' deserializer assembles the tokenizer (normalizer, pre-tokenizer,
/// post-processor, decoder, truncation, padding, then the added tokens, as
/// `Tokenizer::from_bytes` does), while the `model` section streams into a [`CompactUnigram`].
/// Gives the ids of `Tokenizer::from_bytes` on every input.
///
/// Fails with [`Error::InvalidTokenizer`] when the JSON is malformed, a charsmap is damaged, the
/// model is not Unigram, or an added token would not get the id the file gives it.
pub fn unigram_tokenizer_from_json(bytes: &[u8]) -> Result<UnigramTokenizer> {
    let head = Head::parse(bytes)?;
    if !head.is_unigram() {
        return Err(Error::InvalidTokenizer(
            "the model is not a Unigram model (\"type\": \"Unigram\")".into(),
        ));
    }
    load_unigram(bytes, &head)
}

fn load_unigram(bytes: &[u8], head: &Head) -> Result<UnigramTokenizer> {
    let tokenizer =
        UnigramTokenizer::from_bytes(bytes).map_err(|e| Error::InvalidTokenizer(e.to_string()))?;
    let decoder = tokenizer.get_added_tokens_decoder();
    head.check_added_ids(|id| decoder.get(&id).cloned())?;
    Ok(tokenizer)
}

/// The tokenizer behind [`TextTokenizer`]: compact for Unigram models, `tokenizers`' own for the
/// rest (BPE, WordPiece, WordLevel).
#[derive(Debug, Clone)]
enum Inner {
    Unigram(Box<UnigramTokenizer>),
    Other(Box<Tokenizer>),
}

/// The calls [`TextTokenizer`] makes, for any model type.
fn encode_with<M: Model>(
    tokenizer: &TokenizerImpl<
        M,
        NormalizerWrapper,
        PreTokenizerWrapper,
        PostProcessorWrapper,
        DecoderWrapper,
    >,
    text: &str,
    budget: usize,
) -> Result<(Encoding, usize)> {
    let mut encoding = tokenizer
        .encode(text, false)
        .map_err(|e| Error::Tokenization(e.to_string()))?;
    let text_tokens = encoding.len();
    if text_tokens > budget {
        encoding.truncate(budget, 0, TruncationDirection::Right);
    }
    let encoding = tokenizer
        .post_process(encoding, None, true)
        .map_err(|e| Error::Tokenization(e.to_string()))?;
    Ok((encoding, text_tokens))
}

/// A tokenizer that yields `<s> .. </s>` id sequences no longer than a given limit.
#[derive(Debug, Clone)]
pub struct TextTokenizer {
    inner: Inner,
    /// Special tokens the post-processor adds to one sequence (2 for `<s> A </s>`).
    added_tokens: usize,
}

/// One text ready for the model: its ids, whether they were cut to fit and how many there were
/// before, and (when asked for) its language. [`crate::Classifier::encode`] makes it; the
/// classifier's batches take it, so a server can prepare texts on request threads and run them
/// on its model thread.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Encoded {
    /// Token ids including the special tokens.
    pub ids: Vec<u32>,
    /// True when tokens were dropped to respect the length limit.
    pub truncated: bool,
    /// Tokens of the whole text, special tokens included, before any truncation (what a server
    /// reports when it refuses an over-long text rather than cutting it).
    pub untruncated_tokens: usize,
    /// With [`crate::ClassifyOptions::language`]: the raw text's detected language and whether
    /// the model was trained on it, carried into its prediction.
    pub language: Option<LanguageCheck>,
}

impl TextTokenizer {
    /// Parses `tokenizer.json`. Truncation and padding settings stored in the file are ignored:
    /// the classifier sets the limit per call and pads per batch. A Unigram model loads through
    /// [`unigram_tokenizer_from_json`] (same ids, a fraction of the memory), any other with
    /// `tokenizers::Tokenizer::from_bytes`. Either way every added token must get the id the file
    /// gives it.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        let head = Head::parse(bytes)?;
        let invalid = |e: tokenizers::Error| Error::InvalidTokenizer(e.to_string());
        let (inner, added_tokens) = if head.is_unigram() {
            let mut tokenizer = load_unigram(bytes, &head)?;
            tokenizer.with_truncation(None).map_err(invalid)?;
            tokenizer.with_padding(None);
            let added = tokenizer
                .get_post_processor()
                .map(|p| p.added_tokens(false));
            (Inner::Unigram(Box::new(tokenizer)), added)
        } else {
            let mut tokenizer = Tokenizer::from_bytes(bytes).map_err(invalid)?;
            tokenizer.with_truncation(None).map_err(invalid)?;
            tokenizer.with_padding(None);
            let decoder = tokenizer.get_added_tokens_decoder();
            head.check_added_ids(|id| decoder.get(&id).cloned())?;
            let added = tokenizer
                .get_post_processor()
                .map(|p| p.added_tokens(false));
            (Inner::Other(Box::new(tokenizer)), added)
        };
        let tokenizer = Self {
            inner,
            added_tokens: added_tokens.unwrap_or(0),
        };
        // The ids the post-processor adds must have embedding rows, as the vocabulary's do.
        let added_ids = head
            .post_processor
            .as_ref()
            .map(check_post_processor)
            .transpose()?;
        if let Some(id) = added_ids
            .into_iter()
            .flatten()
            .find(|&id| id >= tokenizer.vocab_size() as u64)
        {
            return Err(Error::InvalidTokenizer(format!(
                "post_processor: it adds token id {id}, beyond the vocabulary's {} ids",
                tokenizer.vocab_size()
            )));
        }
        Ok(tokenizer)
    }

    /// Builds the tokenizer from an XLM-R `sentencepiece.bpe.model`, for model folders without
    /// `tokenizer.json`: converts it with [`tokenizer_json_from_sentencepiece`] and loads the result
    /// with [`TextTokenizer::from_json`]. Every failure is [`Error::InvalidSentencePiece`].
    pub fn from_sentencepiece(model: &[u8]) -> Result<Self> {
        Self::from_json(&tokenizer_json_from_sentencepiece(model)?).map_err(|e| match e {
            Error::InvalidTokenizer(reason) => Error::InvalidSentencePiece(reason),
            other => other,
        })
    }

    /// Vocabulary size including added tokens: one more than the largest id it can emit.
    pub fn vocab_size(&self) -> usize {
        match &self.inner {
            Inner::Unigram(t) => t.get_vocab_size(true),
            Inner::Other(t) => t.get_vocab_size(true),
        }
    }

    /// Number of special tokens wrapped around every text.
    pub fn added_tokens(&self) -> usize {
        self.added_tokens
    }

    /// The id of a token string, if the vocabulary has it.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        match &self.inner {
            Inner::Unigram(t) => t.token_to_id(token),
            Inner::Other(t) => t.token_to_id(token),
        }
    }

    /// Tokenizes `text` into at most `max_tokens` ids (special tokens included).
    ///
    /// Truncation keeps the start of the text and always ends with `</s>`: the text alone is cut to
    /// `max_tokens - added_tokens`, then the post-processor adds `<s>`/`</s>`. This is what
    /// `tokenizers`' `TruncationStrategy::LongestFirst` does for one sequence
    /// (`tokenizers/src/utils/truncation.rs`), i.e. `tokenizer(text, truncation=True,
    /// max_length=max_tokens)` in `transformers`.
    pub fn encode(&self, text: &str, max_tokens: usize) -> Result<Encoded> {
        let budget = max_tokens.checked_sub(self.added_tokens).ok_or_else(|| {
            Error::InvalidOption(format!(
                "max_length {max_tokens} is smaller than the {} special tokens",
                self.added_tokens
            ))
        })?;
        let (encoding, text_tokens) = match &self.inner {
            Inner::Unigram(t) => encode_with(t, text, budget)?,
            Inner::Other(t) => encode_with(t, text, budget)?,
        };
        Ok(Encoded {
            ids: encoding.get_ids().to_vec(),
            truncated: text_tokens > budget,
            untruncated_tokens: text_tokens + self.added_tokens,
            language: None,
        })
    }
}
