//! Input texts as lines: from a file or standard input, streamed, one text per line.

use std::io::BufRead;

/// One input line: its 1-based number and its text, or why it cannot be read as text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    /// 1-based line number.
    pub number: usize,
    /// The text without its line ending (`\n` or `\r\n`), or the reason it is unusable.
    pub text: Result<String, String>,
}

/// Reads lines lazily, so a file of any size streams through in constant memory.
/// A line that is not valid UTF-8 becomes an error for that line only.
#[derive(Debug)]
pub struct Lines<R> {
    reader: R,
    number: usize,
    buffer: Vec<u8>,
}

impl<R: BufRead> Lines<R> {
    /// Wraps a buffered reader.
    pub fn new(reader: R) -> Self {
        Self {
            reader,
            number: 0,
            buffer: Vec::new(),
        }
    }
}

impl<R: BufRead> Iterator for Lines<R> {
    type Item = std::io::Result<Line>;

    fn next(&mut self) -> Option<Self::Item> {
        self.buffer.clear();
        match self.reader.read_until(b'\n', &mut self.buffer) {
            Ok(0) => None,
            Ok(_) => {
                self.number += 1;
                let mut bytes = self.buffer.as_slice();
                if let Some(rest) = bytes.strip_suffix(b"\n") {
                    bytes = rest.strip_suffix(b"\r").unwrap_or(rest);
                }
                let text = std::str::from_utf8(bytes).map(str::to_owned).map_err(|e| {
                    format!(
                        "line {} is not valid UTF-8 (byte {})",
                        self.number,
                        e.valid_up_to()
                    )
                });
                Some(Ok(Line {
                    number: self.number,
                    text,
                }))
            }
            Err(e) => Some(Err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_flags_bad_utf8() {
        let data = b"one\r\ntwo\n\xff\xfe\n\nlast";
        let lines: Vec<Line> = Lines::new(&data[..]).map(Result::unwrap).collect();
        let texts: Vec<_> = lines.iter().map(|l| l.text.clone()).collect();
        assert_eq!(texts[0], Ok("one".into()));
        assert_eq!(texts[1], Ok("two".into()));
        assert_eq!(texts[2], Err("line 3 is not valid UTF-8 (byte 0)".into()));
        assert_eq!(texts[3], Ok(String::new()));
        assert_eq!(texts[4], Ok("last".into()));
        assert_eq!(lines[4].number, 5);
    }
}
