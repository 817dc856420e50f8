//! Walks over a Parquet file's Thrift structures (compact protocol) before the parquet crate
//! reads them, refusing a list, set or map that declares more elements than the bytes left can
//! hold. The parquet crate skips unknown fields with `skip_till_depth`, which reads a boolean
//! list element as zero bytes (the compact protocol gives it one), so a few bytes declaring a
//! list of two billion booleans cost it seconds of CPU per list. Found by the `eval_readers`
//! fuzz target in a footer (a 6.9 KB file, 1 s); page headers are read by the same code, so
//! they are walked too. Every element of a container takes at least one byte, so a count over
//! the bytes left is damage.

use std::io::{Read, Seek, SeekFrom};

/// Most nesting the walk follows (the parquet crate's own limit is similar).
const MAX_DEPTH: u32 = 64;

struct Walk<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Walk<'_> {
    fn left(&self) -> usize {
        self.bytes.len() - self.at
    }

    fn byte(&mut self) -> Result<u8, String> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or("the footer ends inside a value")?;
        self.at += 1;
        Ok(b)
    }

    fn skip(&mut self, n: usize) -> Result<(), String> {
        if n > self.left() {
            return Err(format!("a value of {n} bytes where {} remain", self.left()));
        }
        self.at += n;
        Ok(())
    }

    fn varint(&mut self) -> Result<u64, String> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err("a varint of more than 10 bytes".into())
    }

    /// Elements that must each take at least one of the bytes left.
    fn count(&mut self, n: u64, what: &str) -> Result<u64, String> {
        if n > self.left() as u64 {
            return Err(format!(
                "a {what} of {n} elements where {} bytes remain",
                self.left()
            ));
        }
        Ok(n)
    }

    /// Skips a value of compact type `kind`; `in_container`: booleans take a byte there.
    fn value(&mut self, kind: u8, in_container: bool, depth: u32) -> Result<(), String> {
        if depth == 0 {
            return Err(format!("nested more than {MAX_DEPTH} deep"));
        }
        match kind {
            1 | 2 => {
                if in_container {
                    self.byte()?;
                }
            }
            3 => drop(self.byte()?),
            4..=6 => drop(self.varint()?),
            7 => self.skip(8)?,
            8 => {
                let len = self.varint()?;
                self.skip(usize::try_from(len).unwrap_or(usize::MAX))?;
            }
            9 | 10 => {
                let header = self.byte()?;
                let element = header & 0x0f;
                let size = match header >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..self.count(size, "list")? {
                    self.value(element, true, depth - 1)?;
                }
            }
            11 => {
                let size = self.varint()?;
                if size > 0 {
                    let kinds = self.byte()?;
                    for _ in 0..self.count(size, "map")? {
                        self.value(kinds >> 4, true, depth - 1)?;
                        self.value(kinds & 0x0f, true, depth - 1)?;
                    }
                }
            }
            12 => self.structure(depth - 1)?,
            13 => self.skip(16)?, // UUID
            other => return Err(format!("an unknown compact type {other}")),
        }
        Ok(())
    }

    fn structure(&mut self, depth: u32) -> Result<(), String> {
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(());
            }
            if header >> 4 == 0 {
                self.varint()?; // a field id given in full
            }
            self.value(header & 0x0f, false, depth)?;
        }
    }
}

impl Walk<'_> {
    /// Walks a `PageHeader` struct and returns its `compressed_page_size` (field 3, an i32).
    fn page_header(&mut self) -> Result<Option<i64>, String> {
        let mut id = 0i64;
        let mut compressed_size = None;
        loop {
            let header = self.byte()?;
            if header == 0 {
                return Ok(compressed_size);
            }
            id = match header >> 4 {
                0 => zigzag(self.varint()?),
                delta => id + i64::from(delta),
            };
            let kind = header & 0x0f;
            if id == 3 && kind == 5 {
                compressed_size = Some(zigzag(self.varint()?));
            } else {
                self.value(kind, false, MAX_DEPTH)?;
            }
        }
    }
}

fn zigzag(n: u64) -> i64 {
    (n >> 1) as i64 ^ -((n & 1) as i64)
}

/// A column chunk as the footer places it: its first page and its length in bytes.
pub(super) struct Chunk {
    pub(super) start: i64,
    pub(super) len: i64,
}

/// First read of a page header; a longer one (statistics) is read again in a bigger window.
const HEADER_WINDOW: usize = 4096;

/// Walks the header of every page in `chunks` of `file`, from each chunk's first page to its
/// end, as the parquet crate reads them while rows stream.
pub(super) fn page_headers(file: &mut (impl Read + Seek), chunks: &[Chunk]) -> Result<(), String> {
    let size = file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    let mut buffer = Vec::new();
    for (index, chunk) in chunks.iter().enumerate() {
        let (Ok(start), Ok(len)) = (u64::try_from(chunk.start), u64::try_from(chunk.len)) else {
            return Err(format!(
                "column chunk {index} is placed at a negative offset or length ({}, {})",
                chunk.start, chunk.len
            ));
        };
        let end = start.saturating_add(len).min(size);
        let mut at = start;
        let mut page = 0;
        while at < end {
            let left = usize::try_from(end - at).unwrap_or(usize::MAX);
            let mut window = left.min(HEADER_WINDOW);
            let (header_len, compressed) = loop {
                buffer.resize(window, 0);
                file.seek(SeekFrom::Start(at))
                    .and_then(|_| file.read_exact(&mut buffer))
                    .map_err(|e| e.to_string())?;
                let mut walk = Walk {
                    bytes: &buffer,
                    at: 0,
                };
                match walk.page_header() {
                    Ok(compressed) => break (walk.at, compressed),
                    Err(_) if window < left => window = left.min(window.saturating_mul(8)),
                    Err(e) => {
                        return Err(format!(
                            "the header of page {page} of column chunk {index} is damaged: {e}"
                        ))
                    }
                }
            };
            let compressed = compressed
                .and_then(|c| u64::try_from(c).ok())
                .ok_or_else(|| {
                    format!("page {page} of column chunk {index} has no valid compressed size")
                })?;
            at = at
                .saturating_add(header_len as u64)
                .saturating_add(compressed);
            page += 1;
        }
    }
    Ok(())
}

/// Checks the footer of the Parquet file `bytes` ends with (`<metadata><u32 length>PAR1`);
/// a file too short to have one is left to the parquet crate to refuse.
pub(super) fn footer(tail: &[u8]) -> Result<(), String> {
    let Some(end) = tail.len().checked_sub(8) else {
        return Ok(());
    };
    if &tail[end + 4..] != b"PAR1" {
        return Ok(());
    }
    let len = u32::from_le_bytes(tail[end..end + 4].try_into().expect("4 bytes")) as usize;
    let Some(start) = end.checked_sub(len) else {
        return Ok(());
    };
    let mut walk = Walk {
        bytes: &tail[start..end],
        at: 0,
    };
    walk.structure(MAX_DEPTH)
        .map_err(|e| format!("its footer is damaged: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(tail: &[u8]) -> Result<(), String> {
        super::footer(tail)
    }

    fn footer(metadata: &[u8]) -> Vec<u8> {
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(metadata);
        file.extend_from_slice(&(metadata.len() as u32).to_le_bytes());
        file.extend_from_slice(b"PAR1");
        file
    }

    #[test]
    fn a_list_of_more_booleans_than_bytes_is_refused() {
        // Field 1, a list (type 9) of 2^31 - 1 booleans (element type 1), then a stop.
        let error = check(&footer(b"\x19\xf1\xff\xff\xff\xff\x07\x00")).unwrap_err();
        assert!(error.contains("a list of 2147483647 elements"), "{error}");
        // Three booleans, each a byte: fine.
        assert!(check(&footer(b"\x19\x31\x01\x02\x01\x00")).is_ok());
    }

    fn pages(file: &[u8], chunks: &[Chunk]) -> Result<(), String> {
        page_headers(&mut std::io::Cursor::new(file), chunks)
    }

    #[test]
    fn page_headers_are_walked_to_the_chunk_end() {
        // Two pages: type 0, sizes 3 and 3 (zigzag 6), then 3 bytes of data each.
        let page = b"\x15\x00\x15\x06\x15\x06\x00abc";
        let mut file = b"PAR1".to_vec();
        file.extend_from_slice(page);
        file.extend_from_slice(page);
        let whole = Chunk {
            start: 4,
            len: 2 * page.len() as i64,
        };
        assert_eq!(pages(&file, &[whole]), Ok(()));
        // A header with a list of 2^31 - 1 booleans (field 20) before its fields.
        let mut hostile = b"PAR1\x09\x28\xf1\xff\xff\xff\xff\x07".to_vec();
        hostile.extend_from_slice(page);
        let chunk = Chunk {
            start: 4,
            len: hostile.len() as i64 - 4,
        };
        let error = pages(&hostile, &[chunk]).unwrap_err();
        assert!(
            error.contains("page 0 of column chunk 0 is damaged: a list of 2147483647"),
            "{error}"
        );
        // No compressed size, a negative one, a chunk at a negative offset.
        let no_size = b"PAR1\x15\x00\x00";
        let error = pages(no_size, &[Chunk { start: 4, len: 3 }]).unwrap_err();
        assert!(error.contains("no valid compressed size"), "{error}");
        let negative = b"PAR1\x15\x00\x25\x01\x00";
        assert!(pages(negative, &[Chunk { start: 4, len: 5 }]).is_err());
        assert!(pages(&file, &[Chunk { start: -1, len: 5 }]).is_err());
    }

    #[test]
    fn the_fixture_footers_pass() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/datasets");
        let mut checked = 0;
        for entry in walk(std::path::Path::new(dir)) {
            if entry.extension().is_some_and(|e| e == "parquet") {
                check(&std::fs::read(&entry).unwrap()).unwrap();
                checked += 1;
            }
        }
        assert!(checked > 10, "{checked} files");
    }

    fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
        out
    }
}
