//! A walk over a Parquet file's footer (Thrift compact protocol) before the parquet crate reads
//! it, refusing a list, set or map that declares more elements than the bytes left can hold.
//! The parquet crate skips unknown fields with `skip_till_depth`, which reads a boolean list
//! element as zero bytes (the compact protocol gives it one), so a few bytes declaring a list of
//! two billion booleans cost it seconds of CPU per list. Found by the `eval_readers` fuzz
//! target (a 6.9 KB file, 1 s). Every element of a container takes at least one byte, so a
//! count over the bytes left is damage.

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

/// Checks the footer of the Parquet file `bytes` ends with (`<metadata><u32 length>PAR1`);
/// a file too short to have one is left to the parquet crate to refuse.
pub(super) fn check(tail: &[u8]) -> Result<(), String> {
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
    use super::check;

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
