//! A Unigram model (vocabulary lookup and Viterbi segmentation) that gives exactly the tokens of
//! `tokenizers`' own `Unigram` in a fraction of its memory.
//!
//! `tokenizers` 0.23 (`src/models/unigram/model.rs`, `trie.rs`) keeps each of XLM-R's 250,002
//! pieces as a `String` in a `Vec`, again as a key of a hash map to its id, and once more as a path
//! of a trie with a hash map in every node; before that, its `ModelWrapper` deserialises the whole
//! `model` section into a `serde_json::Value`. Loading the full-size tokenizer costs about 470 MB
//! natively. Here the pieces sit in one string with end offsets, the scores in one `Vec<f64>`, and
//! prefix search and exact lookup share one character-wise double-array trie (`crawdad`); the
//! vocabulary streams from the JSON straight into these buffers (`Deserialize` below).
//!
//! Exactness: the segmentation follows `Unigram::encode_optimized` step by step (same scores,
//! same `>` comparisons, hence the same ties), unknown characters score `min_score -
//! K_UNK_PENALTY` and runs of them fuse into one token as with `fuse_unk` (always on in
//! `Unigram::from`), and `Model::tokenize` looks every piece up by its string with the same
//! byte-fallback rule. Duplicate pieces resolve to their last id, as `Unigram::from` fills its
//! `token_to_ids` map in id order; an empty piece is found by exact lookup but never by prefix
//! search, as in `tokenizers`' trie. `tokenizers`' per-model cache only memoises results, so it is
//! left out. Sampling (`alpha`, `nbest_size`) is never read from `tokenizer.json` and is not
//! offered. Every setting `tokenizer.json` can give a Unigram model (`unk_id`, `byte_fallback`,
//! `vocab`) is supported, so there is no fallback path.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeStruct};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tokenizers::models::unigram::UnigramTrainer;
use tokenizers::{Model, Token};

/// `K_UNK_PENALTY` of `tokenizers`' `models/unigram/model.rs` (sentencepiece's `kUnkPenalty`):
/// an unknown character scores this much below the rarest piece.
const UNK_PENALTY: f64 = 10.0;

/// `crawdad` reserves U+FFFF as its end marker, so a piece containing it cannot be a trie key;
/// such pieces (XLM-R has none) are kept aside and compared directly.
const CRAWDAD_END_MARKER: char = '\u{ffff}';

/// Whether `piece` contains [`CRAWDAD_END_MARKER`]. `str::contains` with a non-ASCII char
/// searches for its UTF-8 as a string (a two-way searcher set up per call: 4% of a tokenizer
/// build over 250,002 pieces in V8); its lead byte 0xEF is rare, so it is looked for first.
fn contains_end_marker(piece: &str) -> bool {
    piece.as_bytes().contains(&0xEF) && piece.contains(CRAWDAD_END_MARKER)
}

/// Largest id `crawdad` can store as a value (`2^31 - 1`).
const MAX_ID: usize = (1 << 31) - 1;

/// `UnigramError::MissingUnkId`'s message in `tokenizers`.
const MISSING_UNK: &str = "Encountered an unknown token but `unk_id` is missing";

/// A Unigram vocabulary with `tokenizers`' segmentation, stored compactly.
///
/// Implements [`tokenizers::Model`], so it slots into a [`tokenizers::TokenizerImpl`] beside
/// `tokenizers`' own normalizers, pre-tokenizers, post-processors, decoders and added tokens.
/// It deserialises from, and serialises to, the `model` section of `tokenizer.json` exactly as
/// `tokenizers::models::unigram::Unigram` does. Cloning shares the vocabulary.
#[derive(Clone)]
pub struct CompactUnigram {
    vocab: Arc<Vocab>,
}

struct Vocab {
    /// Every piece, concatenated in id order.
    pieces: String,
    /// `ends[id]`: where piece `id` ends in `pieces`; it starts where piece `id - 1` ends.
    ends: Vec<u32>,
    /// Log-probability of each piece.
    scores: Vec<f64>,
    /// Every distinct non-empty piece without U+FFFF, to the last id that has it. `None` when
    /// there is no such piece (`crawdad` cannot build an empty trie).
    trie: Option<crawdad::Trie>,
    /// Last id of each distinct piece that contains U+FFFF (see [`CRAWDAD_END_MARKER`]).
    outside_trie: Vec<u32>,
    /// Last id of the empty piece, if the vocabulary has one.
    empty_id: Option<u32>,
    unk_id: Option<u32>,
    /// Lowest score, as `Unigram::from` computes it (`f64::INFINITY` for an empty vocabulary).
    min_score: f64,
    byte_fallback: bool,
}

impl fmt::Debug for CompactUnigram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactUnigram")
            .field("vocab", &self.vocab.scores.len())
            .field("unk_id", &self.vocab.unk_id)
            .field("byte_fallback", &self.vocab.byte_fallback)
            .finish()
    }
}

/// One token of a segmentation, before ids are looked up.
enum Segment {
    /// A piece of the vocabulary, with its id.
    Piece { start: usize, end: usize, id: u32 },
    /// A run of unknown characters fused into one token (`fuse_unk`).
    Unknown { start: usize, end: usize },
}

/// Best path ending at a character boundary (`BestPathNode` in `encode_optimized`).
#[derive(Clone, Copy)]
struct BestPath {
    id: u32,
    score: f64,
    /// Character index where the last token of the path starts; `None` until a path arrives.
    from: Option<usize>,
}

/// The vocabulary while it streams in from JSON.
#[derive(Default)]
struct VocabBuilder {
    pieces: String,
    ends: Vec<u32>,
    scores: Vec<f64>,
}

impl VocabBuilder {
    fn push_piece(&mut self, piece: &str) -> Result<(), String> {
        self.pieces.push_str(piece);
        let end = u32::try_from(self.pieces.len())
            .map_err(|_| "the vocabulary's pieces exceed 4 GiB".to_string())?;
        self.ends.push(end);
        Ok(())
    }
}

impl CompactUnigram {
    /// Builds the model from `(piece, score)` pairs in id order, with the checks of
    /// `Unigram::from`: an `unk_id` needs a non-empty vocabulary that contains it.
    pub fn from_pieces<'a>(
        vocab: impl IntoIterator<Item = (&'a str, f64)>,
        unk_id: Option<usize>,
        byte_fallback: bool,
    ) -> Result<Self, String> {
        let mut builder = VocabBuilder::default();
        for (piece, score) in vocab {
            builder.push_piece(piece)?;
            builder.scores.push(score);
        }
        Self::build(builder, unk_id, byte_fallback)
    }

    fn build(
        mut builder: VocabBuilder,
        unk_id: Option<usize>,
        byte_fallback: bool,
    ) -> Result<Self, String> {
        let n = builder.scores.len();
        debug_assert_eq!(n, builder.ends.len());
        if let Some(unk_id) = unk_id {
            // The messages of `UnigramError` in `tokenizers`.
            if n == 0 {
                return Err("The vocabulary is empty but at least <unk> is needed".into());
            }
            if unk_id >= n {
                return Err("The `unk_id` is larger than vocabulary size".into());
            }
        }
        if n > MAX_ID {
            return Err(format!("the vocabulary has {n} pieces, more than {MAX_ID}"));
        }
        // `Unigram::from`: `if score < &min_score`, so NaN scores never become the minimum.
        let mut min_score = f64::INFINITY;
        for &score in &builder.scores {
            if score < min_score {
                min_score = score;
            }
        }
        builder.pieces.shrink_to_fit();
        builder.ends.shrink_to_fit();
        builder.scores.shrink_to_fit();
        let mut vocab = Vocab {
            pieces: builder.pieces,
            ends: builder.ends,
            scores: builder.scores,
            trie: None,
            outside_trie: Vec::new(),
            empty_id: None,
            unk_id: unk_id.map(|id| id as u32),
            min_score,
            byte_fallback,
        };

        // Distinct pieces, each with its last id: sorted by piece, equal pieces by descending id,
        // then the first of every run is kept. The entries carry their piece (comparisons read the
        // slices directly; looking pieces up again by id jumps around `pieces` and `ends`, a
        // tenth of a native load) and its first 8 bytes as a big-endian number, zero-padded,
        // which settles most comparisons without a `memcmp` call: when two such prefixes differ,
        // they order as the pieces do (a shorter piece's padding sorts before any byte but 0, and
        // before a 0 byte the prefixes are equal).
        let prefix = |piece: &str| {
            let mut head = [0u8; 8];
            let len = piece.len().min(8);
            head[..len].copy_from_slice(&piece.as_bytes()[..len]);
            u64::from_be_bytes(head)
        };
        let mut order: Vec<(u64, &str, u32)> = (0..n as u32)
            .map(|id| {
                let piece = vocab.piece(id);
                (prefix(piece), piece, id)
            })
            .collect();
        order.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)).then(b.2.cmp(&a.2)));
        order.dedup_by(|later, kept| later.1 == kept.1);
        let mut empty_id = None;
        let mut outside_trie = Vec::new();
        order.retain(|&(_, piece, id)| {
            if piece.is_empty() {
                empty_id = Some(id);
                false
            } else if contains_end_marker(piece) {
                outside_trie.push(id);
                false
            } else {
                true
            }
        });
        let trie = if order.is_empty() {
            None
        } else {
            Some(
                crawdad::Trie::from_records(order.into_iter().map(|(_, piece, id)| (piece, id)))
                    .map_err(|e| format!("cannot index the vocabulary: {e}"))?,
            )
        };
        vocab.trie = trie;
        vocab.outside_trie = outside_trie;
        vocab.empty_id = empty_id;
        Ok(Self {
            vocab: Arc::new(vocab),
        })
    }
}

impl Vocab {
    fn piece(&self, id: u32) -> &str {
        let id = id as usize;
        let start = if id == 0 {
            0
        } else {
            self.ends[id - 1] as usize
        };
        &self.pieces[start..self.ends[id] as usize]
    }

    fn lookup(&self, token: &str) -> Option<u32> {
        if token.is_empty() {
            self.empty_id
        } else if contains_end_marker(token) {
            self.outside_trie
                .iter()
                .copied()
                .find(|&id| self.piece(id) == token)
        } else {
            self.trie.as_ref()?.exact_match(token.chars())
        }
    }

    /// Calls `found(chars, id)` for every piece that `text` starts with, `chars` being the
    /// piece's length in characters. Never reports the empty piece (`tokenizers`' trie reports
    /// a node only after consuming a byte). The order differs from `tokenizers`' (shortest first)
    /// only for pieces outside the trie, and does not matter: each length updates its own node.
    fn prefixes(&self, text: &str, mut found: impl FnMut(usize, u32)) {
        if let Some(trie) = &self.trie {
            // crawdad maps U+FFFF in the text to its end marker too, and would then report the
            // piece before it as one character longer: stop there, no trie key goes past it.
            let text = text.chars().take_while(|&c| c != CRAWDAD_END_MARKER);
            for (id, chars) in trie.common_prefix_search(text) {
                found(chars, id);
            }
        }
        for &id in &self.outside_trie {
            let piece = self.piece(id);
            if text.starts_with(piece) {
                found(piece.chars().count(), id);
            }
        }
    }

    /// The best segmentation of `sentence`: `Unigram::encode_optimized` of `tokenizers`
    /// (itself sentencepiece's `unigram_model.cc`, `EncodeOptimized`), on character indices
    /// instead of byte offsets (every lattice node lies on a character boundary).
    fn segment(&self, sentence: &str) -> tokenizers::Result<Vec<Segment>> {
        let bounds: Vec<usize> = sentence
            .char_indices()
            .map(|(i, _)| i)
            .chain([sentence.len()])
            .collect();
        let chars = bounds.len() - 1;
        let unk_score = self.min_score - UNK_PENALTY;
        let unset = BestPath {
            id: 0,
            score: 0.0,
            from: None,
        };
        let mut best = vec![unset; chars + 1];
        for start in 0..chars {
            let score_here = best[start].score;
            let mut has_single_char = false;
            self.prefixes(&sentence[bounds[start]..], |len, id| {
                // The first path to arrive wins; a later one only if strictly better.
                let candidate = self.scores[id as usize] + score_here;
                let target = &mut best[start + len];
                if target.from.is_none() || candidate > target.score {
                    *target = BestPath {
                        id,
                        score: candidate,
                        from: Some(start),
                    };
                }
                has_single_char |= len == 1;
            });
            if !has_single_char {
                let candidate = unk_score + score_here;
                let target = &mut best[start + 1];
                if target.from.is_none() || candidate > target.score {
                    *target = BestPath {
                        id: self.unk_id.ok_or(MISSING_UNK)?,
                        score: candidate,
                        from: Some(start),
                    };
                }
            }
        }

        // Backtrack from the end; consecutive unknown nodes (those whose id is `unk_id`, which
        // includes a literal match of the unknown piece) fuse into one token.
        let mut segments = Vec::new();
        let mut unknown_until: Option<usize> = None;
        let mut end = chars;
        while end > 0 {
            let node = best[end];
            // Every boundary gets a path: a one-character piece or the unknown node reaches it.
            let start = node.from.ok_or("unigram lattice has a gap")?;
            if Some(node.id) == self.unk_id {
                unknown_until.get_or_insert(end);
            } else {
                if let Some(until) = unknown_until.take() {
                    segments.push(Segment::Unknown {
                        start: bounds[end],
                        end: bounds[until],
                    });
                }
                segments.push(Segment::Piece {
                    start: bounds[start],
                    end: bounds[end],
                    id: node.id,
                });
            }
            end = start;
        }
        if let Some(until) = unknown_until {
            segments.push(Segment::Unknown {
                start: 0,
                end: bounds[until],
            });
        }
        segments.reverse();
        Ok(segments)
    }
}

impl Model for CompactUnigram {
    /// `tokenizers`' Unigram trainer trains a `Unigram`, not this type, so
    /// `TokenizerImpl::train` does not compile for a `CompactUnigram` tokenizer: it only runs
    /// trained vocabularies.
    type Trainer = UnigramTrainer;

    /// `Unigram::tokenize`: segment, then look every token up by its string.
    fn tokenize(&self, sentence: &str) -> tokenizers::Result<Vec<Token>> {
        if sentence.is_empty() {
            return Ok(Vec::new());
        }
        let vocab = &*self.vocab;
        let mut tokens = Vec::new();
        for segment in vocab.segment(sentence)? {
            match segment {
                // `token_to_ids.get(piece)` in `tokenizers` is this very id: the trie holds the
                // last id of each piece, as that map does.
                Segment::Piece { start, end, id } => {
                    tokens.push(Token::new(id, sentence[start..end].into(), (start, end)));
                }
                Segment::Unknown { start, end } => {
                    let text = &sentence[start..end];
                    // A fused run can itself be a piece that lost to single unknowns.
                    if let Some(id) = vocab.lookup(text) {
                        tokens.push(Token::new(id, text.into(), (start, end)));
                        continue;
                    }
                    if vocab.byte_fallback {
                        // Every byte as `<0xXX>` if the vocabulary has them all, else `unk`.
                        let bytes: Option<Vec<Token>> = text
                            .bytes()
                            .map(|byte| {
                                let name = format!("<0x{byte:02X}>");
                                let id = vocab.lookup(&name)?;
                                Some(Token::new(id, name, (start, end)))
                            })
                            .collect();
                        if let Some(bytes) = bytes {
                            tokens.extend(bytes);
                            continue;
                        }
                    }
                    let id = vocab.unk_id.ok_or(MISSING_UNK)?;
                    tokens.push(Token::new(id, text.into(), (start, end)));
                }
            }
        }
        Ok(tokens)
    }

    fn token_to_id(&self, token: &str) -> Option<u32> {
        self.vocab.lookup(token)
    }

    fn id_to_token(&self, id: u32) -> Option<String> {
        let known = (id as usize) < self.vocab.ends.len();
        known.then(|| self.vocab.piece(id).to_owned())
    }

    fn get_vocab(&self) -> HashMap<String, u32> {
        let n = self.vocab.ends.len() as u32;
        // In id order, so a duplicate piece maps to its last id.
        (0..n)
            .map(|id| (self.vocab.piece(id).to_owned(), id))
            .collect()
    }

    fn get_vocab_size(&self) -> usize {
        self.vocab.scores.len()
    }

    /// The core does no file I/O: serialise the model (or the whole tokenizer) with serde and
    /// write the JSON yourself.
    fn save(&self, _folder: &Path, _prefix: Option<&str>) -> tokenizers::Result<Vec<PathBuf>> {
        Err("CompactUnigram is not saved to files; serialise it with serde instead".into())
    }

    fn get_trainer(&self) -> UnigramTrainer {
        UnigramTrainer::default()
    }
}

/// Serialises as `tokenizers`' `Unigram` does (`models/unigram/serialization.rs`).
impl Serialize for CompactUnigram {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct Pieces<'a>(&'a Vocab);
        impl Serialize for Pieces<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut seq = serializer.serialize_seq(Some(self.0.scores.len()))?;
                for (id, score) in self.0.scores.iter().enumerate() {
                    seq.serialize_element(&(self.0.piece(id as u32), score))?;
                }
                seq.end()
            }
        }
        let vocab = &*self.vocab;
        let mut model = serializer.serialize_struct("Unigram", 4)?;
        model.serialize_field("type", "Unigram")?;
        model.serialize_field("unk_id", &vocab.unk_id)?;
        model.serialize_field("vocab", &Pieces(vocab))?;
        model.serialize_field("byte_fallback", &vocab.byte_fallback)?;
        model.end()
    }
}

/// Reads the `model` section of `tokenizer.json` as `tokenizers`' `UnigramVisitor` does (keys
/// `type`, `unk_id`, `byte_fallback`, `vocab`, others ignored, a later key overriding an earlier
/// one), but streams each `[piece, score]` pair into the compact buffers instead of building a
/// `Vec<(String, f64)>`.
impl<'de> Deserialize<'de> for CompactUnigram {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_struct(
            "Unigram",
            &["type", "vocab", "unk_id", "byte_fallback"],
            ModelVisitor,
        )
    }
}

struct ModelVisitor;

impl<'de> Visitor<'de> for ModelVisitor {
    type Value = CompactUnigram;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("struct Unigram")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CompactUnigram, A::Error> {
        let mut vocab: Option<VocabBuilder> = None;
        let mut unk_id: Option<usize> = None;
        let mut byte_fallback = false;
        while let Some(key) = map.next_key::<String>()? {
            match key.as_str() {
                "unk_id" => unk_id = map.next_value()?,
                "byte_fallback" => byte_fallback = map.next_value()?,
                "vocab" => {
                    let mut builder = VocabBuilder::default();
                    map.next_value_seed(PiecesSeed(&mut builder))?;
                    vocab = Some(builder);
                }
                "type" => {
                    let kind: String = map.next_value()?;
                    if kind != "Unigram" {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(&kind),
                            &"Unigram",
                        ));
                    }
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        let vocab = vocab.ok_or_else(|| de::Error::custom("Missing vocab"))?;
        CompactUnigram::build(vocab, unk_id, byte_fallback)
            .map_err(|e| de::Error::custom(format!("Unable to load vocab {e}")))
    }
}

/// The `vocab` array: each `[piece, score]` goes into the builder.
struct PiecesSeed<'a>(&'a mut VocabBuilder);

impl<'de> DeserializeSeed<'de> for PiecesSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PiecesSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of [piece, score] pairs")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(EntrySeed(self.0))?.is_some() {}
        Ok(())
    }
}

/// One `[piece, score]` pair, read like the tuple `(String, f64)` of `tokenizers`.
struct EntrySeed<'a>(&'a mut VocabBuilder);

impl<'de> DeserializeSeed<'de> for EntrySeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_tuple(2, self)
    }
}

impl<'de> Visitor<'de> for EntrySeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a [piece, score] pair")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        const PAIR: &str = "a [piece, score] pair";
        let builder = self.0;
        seq.next_element_seed(PieceSeed(&mut *builder))?
            .ok_or_else(|| de::Error::invalid_length(0, &PAIR))?;
        let score: f64 = seq
            .next_element()?
            .ok_or_else(|| de::Error::invalid_length(1, &PAIR))?;
        builder.scores.push(score);
        Ok(())
    }
}

/// A piece string, appended to the builder without an allocation of its own.
struct PieceSeed<'a>(&'a mut VocabBuilder);

impl<'de> DeserializeSeed<'de> for PieceSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for PieceSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a piece string")
    }

    fn visit_str<E: de::Error>(self, piece: &str) -> Result<(), E> {
        self.0.push_piece(piece).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(pieces: &[(&str, f64)], unk_id: Option<usize>) -> CompactUnigram {
        CompactUnigram::from_pieces(pieces.iter().copied(), unk_id, false).unwrap()
    }

    fn ids(model: &CompactUnigram, text: &str) -> Vec<(u32, String)> {
        model
            .tokenize(text)
            .unwrap()
            .into_iter()
            .map(|t| (t.id, t.value))
            .collect()
    }

    #[test]
    fn segments_like_the_tokenizers_doc_example() {
        // The example of `Unigram::encode` in tokenizers: "abcdacdxx" -> abcd, a, cd, xx.
        let m = model(
            &[
                ("<unk>", 0.0),
                ("a", 0.0),
                ("b", 0.0),
                ("c", 0.0),
                ("d", 0.0),
                ("cd", 1.0),
                ("ab", 2.0),
                ("abc", 5.0),
                ("abcd", 10.0),
            ],
            Some(0),
        );
        let tokens: Vec<String> = ids(&m, "abcdacdxx").into_iter().map(|t| t.1).collect();
        assert_eq!(tokens, ["abcd", "a", "cd", "xx"]);
        assert_eq!(ids(&m, "xx")[0].0, 0);
    }

    #[test]
    fn duplicates_empty_and_end_marker_pieces() {
        let m = model(
            &[
                ("<unk>", 0.0),
                ("a", -1.0),
                ("", -1.0),
                ("a", -2.0),
                ("x\u{ffff}", -1.0),
            ],
            Some(0),
        );
        assert_eq!(m.token_to_id("a"), Some(3));
        assert_eq!(m.token_to_id(""), Some(2));
        assert_eq!(m.token_to_id("x\u{ffff}"), Some(4));
        assert_eq!(m.get_vocab()["a"], 3);
        assert_eq!(
            ids(&m, "ax\u{ffff}"),
            [(3, "a".into()), (4, "x\u{ffff}".into())]
        );
    }

    #[test]
    fn a_fused_unknown_run_can_be_a_piece() {
        // Scores so high that two unknown characters (2 x 90) beat the piece "xy" (100): the
        // fused run "xy" is then looked up by its string and found.
        let m = model(
            &[
                ("<unk>", 100.0),
                ("a", 100.0),
                ("xy", 100.0),
                ("axy", 100.0),
            ],
            Some(0),
        );
        assert_eq!(ids(&m, "axy"), [(1, "a".into()), (2, "xy".into())]);
        assert_eq!(ids(&m, "xyz"), [(0, "xyz".into())]);
    }

    #[test]
    fn rejects_what_unigram_from_rejects() {
        assert!(CompactUnigram::from_pieces([], Some(0), false).is_err());
        assert!(CompactUnigram::from_pieces([("a", 0.0)], Some(1), false).is_err());
        let empty = CompactUnigram::from_pieces([], None, false).unwrap();
        assert_eq!(empty.tokenize("").unwrap(), []);
        assert!(empty.tokenize("a").is_err());
    }
}
