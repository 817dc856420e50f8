//! Builds XLM-R's `tokenizer.json` from a SentencePiece `sentencepiece.bpe.model`, for model
//! folders that ship only the latter (such as `cardiffnlp/twitter-xlm-roberta-base-sentiment`).
//!
//! The result is what `transformers` 4.57 writes for `XLMRobertaTokenizerFast(vocab_file=...)`:
//! its `XLMRobertaConverter` (`src/transformers/convert_slow_tokenizer.py`, a `SpmConverter`)
//! followed by the special tokens `XLMRobertaTokenizerFast.__init__` adds. The JSON then loads
//! through [`TextTokenizer::from_json`](super::TextTokenizer::from_json) like any other, so there is
//! one tokenizer code path.
//!
//! The converter applies the fairseq offset: fairseq's dictionary starts with `<s>`=0, `<pad>`=1,
//! `</s>`=2, `<unk>`=3 and then lists the SentencePiece pieces from index 3 on (SentencePiece's own
//! `<unk>`, `<s>`, `</s>` at 0-2 are dropped), so piece `i` gets id `i + 1`; `<mask>` comes last.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use prost::Message;
use serde::Serialize;
use serde_json::{json, Value};

use super::charsmap;
use crate::error::{Error, Result};

/// The parts of `sentencepiece_model.proto` (google/sentencepiece, `src/sentencepiece_model.proto`)
/// the conversion reads; prost skips every other field. All fields are proto2 `optional`, hence
/// `Option`; absent ones take the defaults the `.proto` declares.
mod proto {
    /// `message ModelProto`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        /// `repeated SentencePiece pieces = 1`.
        #[prost(message, repeated, tag = "1")]
        pub pieces: Vec<SentencePiece>,
        /// `optional TrainerSpec trainer_spec = 2`.
        #[prost(message, optional, tag = "2")]
        pub trainer_spec: Option<TrainerSpec>,
        /// `optional NormalizerSpec normalizer_spec = 3`.
        #[prost(message, optional, tag = "3")]
        pub normalizer_spec: Option<NormalizerSpec>,
    }

    /// `message ModelProto.SentencePiece`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SentencePiece {
        /// `optional string piece = 1` ("piece must not be empty").
        #[prost(string, optional, tag = "1")]
        pub piece: Option<String>,
        /// `optional float score = 2`.
        #[prost(float, optional, tag = "2")]
        pub score: Option<f32>,
        /// `optional Type type = 3 [default = NORMAL]`; an enum is a varint on the wire, so it is
        /// read as an `int32` (values in [`super::piece_type`]).
        #[prost(int32, optional, tag = "3")]
        pub kind: Option<i32>,
    }

    /// `message TrainerSpec`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TrainerSpec {
        /// `optional ModelType model_type = 3 [default = UNIGRAM]`: UNIGRAM 1, BPE 2, WORD 3, CHAR 4.
        #[prost(int32, optional, tag = "3")]
        pub model_type: Option<i32>,
    }

    /// `message NormalizerSpec`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NormalizerSpec {
        /// `optional bytes precompiled_charsmap = 2`.
        #[prost(bytes = "vec", optional, tag = "2")]
        pub precompiled_charsmap: Option<Vec<u8>>,
    }
}

/// `ModelProto.SentencePiece.Type` values.
mod piece_type {
    pub const NORMAL: i32 = 1;
    pub const UNKNOWN: i32 = 2;
    pub const CONTROL: i32 = 3;
    pub const USER_DEFINED: i32 = 4;
}

/// `TrainerSpec.ModelType.UNIGRAM`, the only kind XLM-R uses and `Unigram` can run.
const UNIGRAM: i32 = 1;

/// SentencePiece pieces 0-2 (`<unk>`, `<s>`, `</s>` in XLM-R's model) that the offset drops.
const SPM_RESERVED: usize = 3;

/// fairseq's first four symbols; `<unk>` (3) is the Unigram model's `unk_id`.
const FAIRSEQ_SPECIALS: [&str; 4] = ["<s>", "<pad>", "</s>", "<unk>"];
const UNK_ID: usize = 3;
const MASK: &str = "<mask>";

/// `tokenizer.json`'s top level, in the order `tokenizers` writes it.
#[derive(Serialize)]
struct TokenizerJson<'a> {
    version: &'static str,
    truncation: Option<()>,
    padding: Option<()>,
    added_tokens: Vec<AddedToken<'a>>,
    normalizer: Value,
    pre_tokenizer: Value,
    post_processor: Value,
    decoder: Value,
    model: UnigramModel<'a>,
}

/// One entry of `added_tokens` (`tokenizers`' `AddedTokenWithId`).
#[derive(Serialize, Clone)]
struct AddedToken<'a> {
    id: usize,
    content: &'a str,
    single_word: bool,
    lstrip: bool,
    rstrip: bool,
    normalized: bool,
    special: bool,
}

impl<'a> AddedToken<'a> {
    fn new(id: usize, content: &'a str, special: bool) -> Self {
        Self {
            id,
            content,
            single_word: false,
            lstrip: false,
            rstrip: false,
            normalized: false,
            special,
        }
    }
}

/// The `Unigram` model: pieces with their log-probabilities.
#[derive(Serialize)]
struct UnigramModel<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    unk_id: usize,
    vocab: Vec<(&'a str, f64)>,
    byte_fallback: bool,
}

fn invalid(what: impl Into<String>) -> Error {
    Error::InvalidSentencePiece(what.into())
}

/// Converts the bytes of an XLM-R `sentencepiece.bpe.model` into the bytes of the `tokenizer.json`
/// that `transformers`' `XLMRobertaTokenizerFast` would save for it.
///
/// Fails with [`Error::InvalidSentencePiece`] when the bytes are not a SentencePiece model, the
/// model is not Unigram (BPE, word and char models are not XLM-R's), its first three pieces are
/// not the reserved `<unk>`, `<s>`, `</s>` the offset drops, a piece is empty, duplicated or has a
/// non-finite score, or the normalizer's charsmap is damaged.
pub fn tokenizer_json_from_sentencepiece(model: &[u8]) -> Result<Vec<u8>> {
    let proto = proto::ModelProto::decode(model)
        .map_err(|e| invalid(format!("not a SentencePiece model ({e})")))?;

    let model_type = proto
        .trainer_spec
        .as_ref()
        .and_then(|t| t.model_type)
        .unwrap_or(UNIGRAM);
    if model_type != UNIGRAM {
        let name = match model_type {
            2 => "BPE",
            3 => "word",
            4 => "char",
            _ => "unknown",
        };
        return Err(invalid(format!(
            "it is a {name} model (type {model_type}); only Unigram models, as XLM-R's, can be \
             converted"
        )));
    }
    if proto.pieces.is_empty() {
        return Err(invalid("it has no pieces"));
    }

    let mut pieces = Vec::with_capacity(proto.pieces.len());
    for (index, p) in proto.pieces.iter().enumerate() {
        let piece = p.piece.as_deref().unwrap_or_default();
        let score = p.score.unwrap_or_default();
        let kind = p.kind.unwrap_or(piece_type::NORMAL);
        if piece.is_empty() {
            return Err(invalid(format!("piece {index} is empty")));
        }
        if !score.is_finite() {
            return Err(invalid(format!(
                "piece {index} ({piece:?}) has score {score}"
            )));
        }
        pieces.push((piece, score, kind));
    }
    // The offset silently drops pieces 0-2 and gives every later piece id + 1: right only for
    // models laid out like XLM-R's (unk_id 0, bos_id 1, eos_id 2). Anything else would shift the
    // ids against the embedding rows without an error, so refuse it.
    for (index, (piece, _, kind)) in pieces.iter().take(SPM_RESERVED).enumerate() {
        if *kind != piece_type::UNKNOWN && *kind != piece_type::CONTROL {
            return Err(invalid(format!(
                "piece {index} ({piece:?}) is an ordinary piece, but XLM-R's layout reserves \
                 pieces 0-2 for <unk>, <s> and </s>"
            )));
        }
    }
    if pieces.len() <= SPM_RESERVED {
        return Err(invalid("it has no pieces besides <unk>, <s> and </s>"));
    }

    // XLMRobertaConverter.vocab: the fairseq specials, pieces[3:] with their scores, `<mask>`.
    let mut vocab: Vec<(&str, f64)> = FAIRSEQ_SPECIALS.iter().map(|s| (*s, 0.0)).collect();
    vocab.extend(
        pieces[SPM_RESERVED..]
            .iter()
            .map(|(piece, score, _)| (*piece, f64::from(*score))),
    );
    vocab.push((MASK, 0.0));
    let mut ids: HashMap<&str, usize> = HashMap::with_capacity(vocab.len());
    for (id, (piece, _)) in vocab.iter().enumerate() {
        if ids.insert(piece, id).is_some() {
            return Err(invalid(format!(
                "{piece:?} appears twice in the vocabulary (pieces, <s>, <pad>, </s>, <unk>, <mask>)"
            )));
        }
    }

    // SpmConverter.tokenizer: CONTROL pieces become special added tokens, USER_DEFINED ones plain
    // added tokens, both `normalized=False`, at their vocabulary id; one missing from the
    // vocabulary (a control piece among 0-2 named other than <s>/</s>) gets the next free id, as
    // `tokenizers`' AddedVocabulary assigns it.
    let mut added: BTreeMap<usize, AddedToken> = BTreeMap::new();
    let mut next_id = vocab.len();
    for (piece, _, kind) in &pieces {
        if *kind != piece_type::CONTROL && *kind != piece_type::USER_DEFINED {
            continue;
        }
        let id = match ids.get(piece) {
            Some(&id) => id,
            None => {
                next_id += 1;
                ids.insert(piece, next_id - 1);
                next_id - 1
            }
        };
        added.insert(id, AddedToken::new(id, piece, *kind == piece_type::CONTROL));
    }
    // XLMRobertaTokenizerFast.__init__ then adds its special tokens: bos/eos/unk/pad as plain
    // special strings, and `<mask>` as AddedToken("<mask>", lstrip=True) (normalized by default) so
    // "a <mask>" swallows the space before it.
    for (id, special) in FAIRSEQ_SPECIALS.iter().enumerate() {
        added.insert(id, AddedToken::new(id, special, true));
    }
    let mask_id = vocab.len() - 1;
    added.insert(
        mask_id,
        AddedToken {
            lstrip: true,
            normalized: true,
            ..AddedToken::new(mask_id, MASK, true)
        },
    );

    // SpmConverter.normalizer: Precompiled(charsmap) only when the model has one, then
    // Strip(right) and Replace(" {2,}" -> "▁"). It ignores NormalizerSpec.add_dummy_prefix and
    // remove_extra_whitespaces (both true in XLM-R's model): Strip, Replace and the Metaspace
    // below stand in for them.
    let mut normalizers = Vec::new();
    let charsmap = proto
        .normalizer_spec
        .as_ref()
        .and_then(|n| n.precompiled_charsmap.as_deref())
        .unwrap_or_default();
    if !charsmap.is_empty() {
        // `tokenizers` would panic on a damaged charsmap (see `charsmap.rs`).
        charsmap::check(charsmap).map_err(invalid)?;
        normalizers.push(json!({
            "type": "Precompiled",
            "precompiled_charsmap": base64::engine::general_purpose::STANDARD.encode(charsmap),
        }));
    }
    normalizers.push(json!({"type": "Strip", "strip_left": false, "strip_right": true}));
    normalizers.push(json!({"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": "▁"}));

    // SpmConverter.pre_tokenizer/decoder: Metaspace with prepend_scheme "always" (XLM-R's
    // tokenizer has no `add_prefix_space` and no `legacy=False`), split on by default.
    let metaspace = json!({
        "type": "Metaspace",
        "replacement": "▁",
        "prepend_scheme": "always",
        "split": true,
    });
    // XLMRobertaConverter.post_processor: "<s> $A </s>", pair "<s> $A </s> </s> $B </s>".
    let special = |name: &str| json!({"SpecialToken": {"id": name, "type_id": 0}});
    let sequence = |name: &str| json!({"Sequence": {"id": name, "type_id": 0}});
    let post_processor = json!({
        "type": "TemplateProcessing",
        "single": [special("<s>"), sequence("A"), special("</s>")],
        "pair": [
            special("<s>"), sequence("A"), special("</s>"),
            special("</s>"), sequence("B"), special("</s>"),
        ],
        "special_tokens": {
            "</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]},
            "<s>": {"id": "<s>", "ids": [0], "tokens": ["<s>"]},
        },
    });

    let tokenizer = TokenizerJson {
        version: "1.0",
        truncation: None,
        padding: None,
        added_tokens: added.into_values().collect(),
        normalizer: json!({"type": "Sequence", "normalizers": normalizers}),
        pre_tokenizer: metaspace.clone(),
        post_processor,
        decoder: metaspace,
        // byte_fallback stays false even if the model was trained with it: SpmConverter only
        // warns (XLMRobertaConverter keeps handle_byte_fallback = False).
        model: UnigramModel {
            kind: "Unigram",
            unk_id: UNK_ID,
            vocab,
            byte_fallback: false,
        },
    };
    serde_json::to_vec(&tokenizer).map_err(|e| invalid(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::proto::{ModelProto, NormalizerSpec, SentencePiece, TrainerSpec};
    use super::*;

    fn piece(piece: &str, score: f32, kind: i32) -> SentencePiece {
        SentencePiece {
            piece: Some(piece.into()),
            score: Some(score),
            kind: Some(kind),
        }
    }

    /// A minimal XLM-R-shaped model: <unk>, <s>, </s>, then a few pieces.
    fn model() -> ModelProto {
        ModelProto {
            pieces: vec![
                piece("<unk>", 0.0, piece_type::UNKNOWN),
                piece("<s>", 0.0, piece_type::CONTROL),
                piece("</s>", 0.0, piece_type::CONTROL),
                piece("▁", -1.0, piece_type::NORMAL),
                piece("a", -2.0, piece_type::NORMAL),
                piece("<url>", 0.0, piece_type::USER_DEFINED),
            ],
            trainer_spec: None,
            normalizer_spec: None,
        }
    }

    fn convert(model: &ModelProto) -> Result<Value> {
        let bytes = tokenizer_json_from_sentencepiece(&model.encode_to_vec())?;
        Ok(serde_json::from_slice(&bytes).unwrap())
    }

    fn error(model: &ModelProto) -> String {
        match convert(model) {
            Err(Error::InvalidSentencePiece(m)) => m,
            other => panic!("expected InvalidSentencePiece, got {other:?}"),
        }
    }

    #[test]
    fn offsets_pieces_and_keeps_user_defined_symbols() {
        let json = convert(&model()).unwrap();
        let vocab: Vec<&str> = json["model"]["vocab"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v[0].as_str().unwrap())
            .collect();
        assert_eq!(
            vocab,
            ["<s>", "<pad>", "</s>", "<unk>", "▁", "a", "<url>", "<mask>"]
        );
        let added: Vec<(u64, &str, bool)> = json["added_tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| {
                (
                    t["id"].as_u64().unwrap(),
                    t["content"].as_str().unwrap(),
                    t["special"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            added,
            [
                (0, "<s>", true),
                (1, "<pad>", true),
                (2, "</s>", true),
                (3, "<unk>", true),
                (6, "<url>", false),
                (7, "<mask>", true)
            ]
        );
        // No charsmap: no Precompiled normalizer.
        assert_eq!(json["normalizer"]["normalizers"][0]["type"], "Strip");
        let tokenizer =
            super::super::TextTokenizer::from_sentencepiece(&model().encode_to_vec()).unwrap();
        assert_eq!(
            tokenizer.encode("a <url>", 10).unwrap().ids,
            [0, 4, 5, 6, 2]
        );
    }

    #[test]
    fn rejects_models_the_offset_would_misplace() {
        let mut m = model();
        m.trainer_spec = Some(TrainerSpec {
            model_type: Some(2),
        });
        assert!(error(&m).contains("BPE"));

        let mut m = model();
        m.pieces[1].kind = None; // NORMAL by default
        assert!(error(&m).contains("reserves"));

        let mut m = model();
        m.pieces.truncate(3);
        assert!(error(&m).contains("no pieces besides"));

        let mut m = model();
        m.pieces[4].piece = Some(String::new());
        assert!(error(&m).contains("empty"));

        let mut m = model();
        m.pieces[4].score = Some(f32::NAN);
        assert!(error(&m).contains("score"));

        let mut m = model();
        m.pieces[4].piece = Some("<mask>".into());
        assert!(error(&m).contains("twice"));

        let mut m = model();
        m.normalizer_spec = Some(NormalizerSpec {
            precompiled_charsmap: Some(vec![4, 0, 0, 0, 0, 0, 0, 0]),
        });
        assert!(error(&m).contains("damaged"));

        assert!(error(&ModelProto::default()).contains("no pieces"));
    }
}
