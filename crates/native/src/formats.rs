//! File formats by name, shared by batch jobs (input and output) and `eval` data: the values a
//! `--format` option takes and the file extensions that imply a format are looked up alike
//! (ASCII case ignored) in the table of names each format enum keeps ([`FileFormat`]); and the
//! error for a CSV file that cannot be read.

use std::path::Path;

use crate::Error;

/// A file format known by names: the values a `--format` option takes, which are also the file
/// extensions that imply the format. Names are compared ignoring ASCII case.
pub trait FileFormat: Copy + PartialEq + 'static {
    /// Each name with the format it stands for; a format's first name is its own, the one
    /// reports and checkpoints record. Every format must have one (each enum's tests check).
    const NAMES: &'static [(&'static str, Self)];
    /// What the formats are of, for the error on an unknown name: `input`, `output`, `data`.
    const OF: &'static str;
    /// The names to suggest after an unknown one, in words: `lines, jsonl or csv`.
    const CHOICES: &'static str;

    /// The format's own name.
    fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|&&(_, format)| format == self)
            .map_or("", |&(name, _)| name)
    }

    /// The format a `--format` value names; else "unknown {OF} format `{value}` ({CHOICES})".
    fn from_name(value: &str) -> Result<Self, String> {
        find(Self::NAMES, value)
            .ok_or_else(|| format!("unknown {} format `{value}` ({})", Self::OF, Self::CHOICES))
    }

    /// The format a file name's extension names (`a/b.CSV`: csv); `None` without an extension
    /// or for another one.
    fn from_extension(path: &Path) -> Option<Self> {
        find(Self::NAMES, path.extension()?.to_str()?)
    }
}

fn find<F: Copy>(names: &[(&'static str, F)], name: &str) -> Option<F> {
    names
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, format)| format)
}

/// The error for a CSV data file that cannot be read: the OS error as [`Error::Io`], anything
/// else (malformed CSV, invalid UTF-8 in the header) as [`Error::BadData`].
pub(crate) fn csv_error(path: &Path, e: csv::Error) -> Error {
    let path = path.to_path_buf();
    let what = format!("cannot read as CSV: {e}");
    match e.into_kind() {
        csv::ErrorKind::Io(error) => Error::Io { path, error },
        _ => Error::BadData { path, what },
    }
}
