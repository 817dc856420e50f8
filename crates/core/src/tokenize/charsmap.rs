//! Checks a SentencePiece `precompiled_charsmap` before `tokenizers` uses it.
//!
//! `tokenizers` 0.22 deserialises a `Precompiled` normalizer with `.expect("Precompiled")`
//! (`src/normalizers/mod.rs`), and `spm_precompiled` 0.1.4 indexes its double-array trie and its
//! replacement string without bounds checks. A damaged charsmap therefore panics, at load or on
//! some later text, instead of failing with an error. The trie is small, so we walk every state
//! reachable from the root once and prove that no lookup can leave the arrays.
//!
//! Layout (sentencepiece `normalizer.cc`, `Darts::DoubleArray`): a little-endian u32 byte length
//! of the trie, the trie as little-endian u32 units, then the replacement strings, UTF-8 with NUL
//! terminators. A unit packs `has_leaf` (bit 8), `label` (bits 0-7 and bit 31), `value`
//! (bits 0-30) and `offset` (bits 10-31, shifted left by 8 when bit 9 is set).

use base64::Engine;

fn has_leaf(unit: u32) -> bool {
    (unit >> 8) & 1 == 1
}

fn value(unit: u32) -> usize {
    (unit & ((1 << 31) - 1)) as usize
}

fn label(unit: u32) -> u32 {
    unit & ((1 << 31) | 0xFF)
}

fn offset(unit: u32) -> usize {
    ((unit >> 10) << ((unit & (1 << 9)) >> 6)) as usize
}

/// Verifies a base64 `precompiled_charsmap` string as found in `tokenizer.json`.
pub(crate) fn check_base64(encoded: &str) -> Result<(), String> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|e| format!("precompiled_charsmap is not valid base64: {e}"))?;
    check(&bytes)
}

/// Verifies a decoded charsmap: it parses, and no trie lookup can index out of bounds.
pub(crate) fn check(bytes: &[u8]) -> Result<(), String> {
    let bad = |what: &str| Err(format!("precompiled_charsmap is damaged: {what}"));
    if bytes.len() < 4 {
        return bad("shorter than its header");
    }
    let trie_bytes = u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")) as usize;
    let units_end = 4 + (trie_bytes / 4) * 4;
    if units_end > bytes.len() {
        return bad("the trie is longer than the data");
    }
    let trie: Vec<u32> = bytes[4..units_end]
        .chunks_exact(4)
        .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    let Ok(normalized) = std::str::from_utf8(&bytes[units_end..]) else {
        return bad("the replacement strings are not UTF-8");
    };
    if trie.is_empty() {
        return bad("the trie is empty");
    }
    // Mirrors `DoubleArray::common_prefix_search`: start at `0 ^ offset(trie[0])`; for each byte
    // `c` go to `node ^ c`, stop unless its label is `c`, else move to `that ^ offset(that)` and
    // report `value(trie[next])` if the unit has a leaf.
    let mut seen = vec![false; trie.len()];
    let mut pending = vec![offset(trie[0])];
    while let Some(node) = pending.pop() {
        if node >= seen.len() {
            // Fine unless some byte leads on from here; checked below per byte.
        } else if std::mem::replace(&mut seen[node], true) {
            continue;
        }
        for c in 1..=255usize {
            let child = node ^ c;
            let Some(&unit) = trie.get(child) else {
                return bad("a transition leaves the trie");
            };
            if label(unit) as usize != c {
                continue;
            }
            let next = child ^ offset(unit);
            if has_leaf(unit) {
                let Some(&leaf) = trie.get(next) else {
                    return bad("a leaf lies outside the trie");
                };
                let start = value(leaf);
                if start > normalized.len() || !normalized.is_char_boundary(start) {
                    return bad("a replacement starts outside the strings or inside a character");
                }
            }
            pending.push(next);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_damage() {
        assert!(check(&[]).is_err());
        assert!(check(&[8, 0, 0, 0, 1]).is_err());
        // A one-unit trie whose root points at itself: every byte leaves the trie.
        assert!(check(&[4, 0, 0, 0, 0, 0, 0, 0]).is_err());
        assert!(check_base64("not base64!").is_err());
    }
}
