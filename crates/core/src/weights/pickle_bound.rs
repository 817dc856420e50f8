//! A walk over a `data.pkl` before candle's unpickler runs it, refusing what would make the
//! unpickler allocate far more than the file holds: a string whose declared length runs past
//! the end (candle allocates the declared length before reading, `pickle.rs`'s `BinUnicode`),
//! and objects fetched from the memo so often that their copies multiply (candle clones a
//! memoized object on every `BINGET`; a few hundred bytes can nest copies of copies into
//! gigabytes). Found by the `pytorch_bin` fuzz target.
//!
//! The walk knows the opcodes candle reads (its `OpCode`, a subset of protocol 2 as
//! `torch.save` writes it) and tracks, per stack item and memo slot, how many objects it stands
//! for. An opcode it does not know ends the walk: candle refuses it too.

use std::collections::HashMap;

/// Most objects the unpickler may make per byte of the pickle, copies from and into the memo
/// included, a string counting one per 16 of its bytes besides itself: `torch.save`'s pickles
/// make under one per byte (measured on the fixtures: see the test), since every object costs
/// at least one opcode and only small ones are memoized.
const OBJECTS_PER_BYTE: u64 = 2;

/// What a stack item stands for: a mark, or a count of objects.
#[derive(Clone, Copy)]
enum Item {
    Mark,
    Objects(u64),
}

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
    stack: Vec<Item>,
    memo: HashMap<u32, u64>,
    /// Objects made so far (a new one counts 1, a copy counts what it copies).
    made: u64,
    /// The most `made` may reach.
    limit: u64,
}

impl Walk<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(|| {
            format!(
                "an argument of {n} bytes at byte {} runs past the end ({} bytes)",
                self.at,
                self.bytes.len()
            )
        })?;
        let taken = &self.bytes[self.at..end];
        self.at = end;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, String> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn line(&mut self) -> Result<(), String> {
        let rest = &self.bytes[self.at..];
        let n = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or("a GLOBAL name without its newline")?;
        self.at += n + 1;
        Ok(())
    }

    /// Counts `n` objects made; an error past the limit.
    fn make(&mut self, n: u64) -> Result<(), String> {
        self.made = self.made.saturating_add(n);
        if self.made > self.limit {
            return Err(format!(
                "it would make more than {} objects from {} bytes (memoized objects copied \
                 over and over): not a state dict",
                self.limit,
                self.bytes.len()
            ));
        }
        Ok(())
    }

    /// Pushes an item standing for `objects`, of which `new` are made now.
    fn push_made(&mut self, objects: u64, new: u64) -> Result<(), String> {
        self.make(new)?;
        self.stack.push(Item::Objects(objects));
        Ok(())
    }

    /// Pushes an item of `objects`, one of them (the container) made now.
    fn push(&mut self, objects: u64) -> Result<(), String> {
        self.push_made(objects, 1)
    }

    fn pop(&mut self) -> Result<u64, String> {
        match self.stack.pop() {
            Some(Item::Objects(n)) => Ok(n),
            Some(Item::Mark) => Err("an object expected, a mark found".into()),
            None => Err("the stack is empty".into()),
        }
    }

    /// Pops to the last mark; the objects above it, summed.
    fn pop_to_mark(&mut self) -> Result<u64, String> {
        let mut sum = 0u64;
        loop {
            match self.stack.pop() {
                Some(Item::Objects(n)) => sum = sum.saturating_add(n),
                Some(Item::Mark) => return Ok(sum),
                None => return Err("no mark on the stack".into()),
            }
        }
    }

    /// Folds `objects` into the item now on top (an append, a set item, a build).
    fn add_to_top(&mut self, objects: u64) -> Result<(), String> {
        let top = self.pop()?;
        self.push_made(top.saturating_add(objects), 0)
    }

    fn top(&self) -> Result<u64, String> {
        match self.stack.last() {
            Some(Item::Objects(n)) => Ok(*n),
            _ => Err("nothing to memoize".into()),
        }
    }

    /// A fetch from the memo: candle clones the object.
    fn get(&mut self, id: u32) -> Result<(), String> {
        let objects = *self.memo.get(&id).ok_or(format!("memo {id} is not set"))?;
        self.push_made(objects, objects)
    }

    /// A store into the memo: candle clones the object on top.
    fn put(&mut self, id: u32) -> Result<(), String> {
        let top = self.top()?;
        self.make(top)?;
        self.memo.insert(id, top);
        Ok(())
    }
}

/// Walks `bytes` as candle's unpickler would; an error names what is wrong.
pub(super) fn check_pickle(bytes: &[u8]) -> Result<(), String> {
    objects_made(bytes).map(drop)
}

/// The objects candle would make unpickling `bytes`, or why it must not.
fn objects_made(bytes: &[u8]) -> Result<u64, String> {
    let mut w = Walk {
        bytes,
        at: 0,
        stack: Vec::new(),
        memo: HashMap::new(),
        made: 0,
        limit: (bytes.len() as u64).saturating_mul(OBJECTS_PER_BYTE),
    };
    while w.at < bytes.len() {
        let op = w.take(1)?[0];
        match op {
            0x80 => drop(w.take(1)?), // PROTO
            b'c' => {
                w.line()?;
                w.line()?;
                w.push(1)?;
            }
            b'K' => {
                w.take(1)?;
                w.push(1)?;
            }
            b'M' => {
                w.take(2)?;
                w.push(1)?;
            }
            b'J' => {
                w.take(4)?;
                w.push(1)?;
            }
            b'G' => {
                w.take(8)?;
                w.push(1)?;
            }
            b'X' => {
                let len = w.u32()? as usize;
                w.take(len)?;
                let weight = 1 + len as u64 / 16;
                w.push_made(weight, weight)?;
            }
            0x8a => {
                let len = w.take(1)?[0] as usize;
                w.take(len)?;
                w.push(1)?;
            }
            b'(' => w.stack.push(Item::Mark),
            b'N' | 0x88 | 0x89 | b'}' | b')' | b']' => w.push(1)?,
            b't' | b'd' => {
                let n = w.pop_to_mark()?;
                w.push(n.saturating_add(1))?;
            }
            0x85..=0x87 => {
                let mut n = 1u64;
                for _ in 0..(op - 0x84) {
                    n = n.saturating_add(w.pop()?);
                }
                w.push(n)?;
            }
            b'Q' => {
                let id = w.pop()?;
                w.push(id.saturating_add(1))?;
            }
            b'a' | b'b' => {
                let n = w.pop()?;
                w.add_to_top(n)?;
            }
            b's' => {
                let n = w.pop()?.saturating_add(w.pop()?);
                w.add_to_top(n)?;
            }
            b'e' | b'u' => {
                let n = w.pop_to_mark()?;
                w.add_to_top(n)?;
            }
            b'R' | 0x81 => {
                let n = w.pop()?.saturating_add(w.pop()?);
                w.push(n.saturating_add(1))?;
            }
            b'q' => {
                let id = w.take(1)?[0] as u32;
                w.put(id)?;
            }
            b'r' => {
                let id = w.u32()?;
                w.put(id)?;
            }
            b'h' => {
                let id = w.take(1)?[0] as u32;
                w.get(id)?;
            }
            b'j' => {
                let id = w.u32()?;
                w.get(id)?;
            }
            b'.' => break, // STOP
            // An opcode candle does not read: it refuses the file itself.
            _ => break,
        }
    }
    Ok(w.made)
}

#[cfg(test)]
mod tests {
    use super::{check_pickle, objects_made, OBJECTS_PER_BYTE};

    #[test]
    fn a_string_longer_than_the_file_is_refused() {
        // PROTO 2, BINUNICODE of 2.4 GB with 3 bytes behind it.
        let pickle = b"\x80\x02X\x00\x00\x00\x90abc.";
        let error = check_pickle(pickle).unwrap_err();
        assert!(error.contains("runs past the end"), "{error}");
        assert!(check_pickle(b"\x80\x02X\x03\x00\x00\x00abc.").is_ok());
    }

    #[test]
    fn copies_of_copies_through_the_memo_are_refused() {
        // A list, memoized; then 30 times: a new list of two fetches of the last one,
        // memoized in its place: 2^30 objects from 200 bytes.
        let mut pickle = b"\x80\x02]q\x00".to_vec();
        for _ in 0..30 {
            pickle.extend_from_slice(b"(h\x00h\x00lq\x00");
        }
        pickle.push(b'.');
        // `l` (LIST) is not an opcode candle reads: the walk stops there, harmlessly.
        assert!(check_pickle(&pickle).is_ok());
        let mut pickle = b"\x80\x02]q\x00".to_vec();
        for _ in 0..30 {
            pickle.extend_from_slice(b"(h\x00h\x00tq\x00");
        }
        pickle.push(b'.');
        let error = check_pickle(&pickle).unwrap_err();
        assert!(error.contains("more than"), "{error}");
    }

    #[test]
    fn the_fixture_state_dict_passes() {
        let bin = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/models/tiny-score/pytorch_model.bin"
        ))
        .unwrap();
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bin)).unwrap();
        let name = archive
            .file_names()
            .filter_map(Result::ok)
            .find(|n| n.ends_with("data.pkl"))
            .unwrap()
            .into_owned();
        let mut pickle = Vec::new();
        std::io::Read::read_to_end(&mut archive.by_name(&name).unwrap(), &mut pickle).unwrap();
        let made = objects_made(&pickle).unwrap();
        let per_byte = made as f64 / pickle.len() as f64;
        eprintln!(
            "{made} objects from {} bytes: {per_byte:.2} per byte",
            pickle.len()
        );
        assert!(
            per_byte * 2.0 < OBJECTS_PER_BYTE as f64,
            "the limit leaves a margin"
        );
    }
}
