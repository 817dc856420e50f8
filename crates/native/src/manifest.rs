//! The manifest `fetch` writes beside a model's files: where they came from (model id and the
//! commit they were taken at) and each file's size and SHA-256, so that a copy carried to another
//! machine can be checked (`verify`), and a load can refuse a file that changed.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use xlmr_sentiment_core::TrainedLanguages;

use crate::Error;

/// The manifest's file name inside a model folder.
pub const MANIFEST_FILE: &str = "xlmr-sentiment-manifest.json";

/// The manifest layout written by this version.
const FORMAT: u32 = 1;

/// Where a model folder's files came from, and what they must hash to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Layout version of this file.
    pub format: u32,
    /// Hugging Face model id, such as `cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual`.
    pub model_id: String,
    /// The full commit hash the files were downloaded at.
    pub revision: String,
    /// File name to size and SHA-256.
    pub files: BTreeMap<String, FileDigest>,
    /// The languages the model was trained on (ISO 639-1), when known: recorded by `fetch` for
    /// the default model at its pinned revision (from its model card), absent otherwise. Never
    /// guessed; `--languages` sets them for any model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub languages: Option<Vec<String>>,
    /// `dataset` for a dataset folder (`fetch --dataset`, where `model_id` is the dataset's id);
    /// absent for a model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo_type: Option<String>,
}

/// The size and SHA-256 of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileDigest {
    /// Size in bytes.
    pub size: u64,
    /// SHA-256, lower-case hex.
    pub sha256: String,
}

/// How a file on disk differs from its manifest entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The file is not there.
    Missing,
    /// The size differs (checked first: cheap, and enough for a truncated copy).
    Size {
        /// Size in the manifest.
        expected: u64,
        /// Size on disk.
        actual: u64,
    },
    /// Same size, different content.
    Sha256 {
        /// Hash in the manifest.
        expected: String,
        /// Hash on disk.
        actual: String,
    },
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::Missing => write!(f, "the file is missing"),
            Mismatch::Size { expected, actual } => {
                write!(f, "{actual} bytes where the manifest says {expected}")
            }
            Mismatch::Sha256 { expected, actual } => {
                write!(f, "SHA-256 {actual} where the manifest says {expected}")
            }
        }
    }
}

impl Manifest {
    /// A manifest for `model_id` at `revision` with no files yet.
    pub fn new(model_id: &str, revision: &str) -> Self {
        Self {
            format: FORMAT,
            model_id: model_id.to_string(),
            revision: revision.to_string(),
            files: BTreeMap::new(),
            languages: None,
            repo_type: None,
        }
    }

    /// The trained languages, parsed (an invalid list is an invalid manifest).
    pub fn trained_languages(&self, dir: &Path) -> Result<Option<TrainedLanguages>, Error> {
        self.languages
            .as_ref()
            .map(|codes| {
                TrainedLanguages::from_codes(codes).map_err(|e| Error::InvalidManifest {
                    path: dir.join(MANIFEST_FILE),
                    reason: format!("languages: {e}"),
                })
            })
            .transpose()
    }

    /// Reads the manifest of `dir`, or `None` if the folder has none.
    pub fn read(dir: &Path) -> Result<Option<Self>, Error> {
        let path = dir.join(MANIFEST_FILE);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => return Err(Error::Io { path, error }),
        };
        let manifest: Manifest =
            serde_json::from_slice(&bytes).map_err(|e| Error::InvalidManifest {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if manifest.format != FORMAT {
            return Err(Error::InvalidManifest {
                path,
                reason: format!(
                    "format {} is not the {FORMAT} this version reads",
                    manifest.format
                ),
            });
        }
        // A model's files sit in its folder; a dataset's under its config and split folders.
        let dataset = manifest.repo_type.as_deref() == Some("dataset");
        let bad = |name: &&String| {
            if dataset {
                !name.split('/').all(is_plain_file_name)
            } else {
                !is_plain_file_name(name)
            }
        };
        if let Some(name) = manifest.files.keys().find(bad) {
            return Err(Error::InvalidManifest {
                path,
                reason: format!(
                    "`{name}` is not a plain file name{}",
                    if dataset { " or a path of them" } else { "" }
                ),
            });
        }
        Ok(Some(manifest))
    }

    /// Writes the manifest into `dir` atomically (a temporary file, then a rename), so a crash
    /// never leaves a half-written manifest.
    pub fn write(&self, dir: &Path) -> Result<(), Error> {
        let mut json = serde_json::to_vec_pretty(self).expect("a manifest always serialises");
        json.push(b'\n');
        write_atomically(&dir.join(MANIFEST_FILE), &json)
    }

    /// Checks one listed file: size first, then SHA-256. `Ok(None)` when it matches.
    pub fn check(&self, dir: &Path, name: &str) -> Result<Option<Mismatch>, Error> {
        let Some(expected) = self.files.get(name) else {
            return Err(Error::NotInManifest {
                dir: dir.to_path_buf(),
                file: name.to_string(),
            });
        };
        let path = dir.join(name);
        let actual_size = match std::fs::metadata(&path) {
            Ok(meta) => meta.len(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Some(Mismatch::Missing));
            }
            Err(error) => return Err(Error::Io { path, error }),
        };
        if actual_size != expected.size {
            return Ok(Some(Mismatch::Size {
                expected: expected.size,
                actual: actual_size,
            }));
        }
        let actual = sha256_file(&path)?;
        if actual != expected.sha256 {
            return Ok(Some(Mismatch::Sha256 {
                expected: expected.sha256.clone(),
                actual,
            }));
        }
        Ok(None)
    }

    /// Checks every listed file; the mismatches by file name (empty when all match).
    pub fn verify(&self, dir: &Path) -> Result<Vec<(String, Mismatch)>, Error> {
        let mut mismatches = Vec::new();
        for name in self.files.keys() {
            if let Some(mismatch) = self.check(dir, name)? {
                mismatches.push((name.clone(), mismatch));
            }
        }
        Ok(mismatches)
    }
}

/// A manifest names files in its own folder only: no separators, no `..`.
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains(['/', '\\'])
        && name != MANIFEST_FILE
}

/// SHA-256 of a file, streamed (model files are gigabytes), as lower-case hex.
pub fn sha256_file(path: &Path) -> Result<String, Error> {
    let io_error = |error| Error::Io {
        path: path.to_path_buf(),
        error,
    };
    let mut file = File::open(path).map_err(io_error)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).map_err(io_error)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

/// Lower-case hex of a digest.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `bytes` to `path` through a temporary file in the same folder and a rename: readers
/// see the old file or the whole new one, never a part.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let temp = temp_path(path);
    let io_error = |path: &Path| {
        let path = path.to_path_buf();
        move |error| Error::Io { path, error }
    };
    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    std::fs::rename(&temp, path).map_err(io_error(path))
}

/// `dir/.name.partial`: where a file is written before it is renamed into place.
pub fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.partial"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder_with(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Manifest) {
        let dir = tempfile::tempdir().unwrap();
        let mut manifest = Manifest::new("org/model", &"a".repeat(40));
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
            manifest.files.insert(
                name.to_string(),
                FileDigest {
                    size: bytes.len() as u64,
                    sha256: hex(&Sha256::digest(bytes)),
                },
            );
        }
        (dir, manifest)
    }

    #[test]
    fn round_trips_and_verifies() {
        let (dir, manifest) = folder_with(&[("config.json", b"{}"), ("w.bin", b"weights")]);
        manifest.write(dir.path()).unwrap();
        let read = Manifest::read(dir.path()).unwrap().unwrap();
        assert_eq!(read, manifest);
        assert!(read.verify(dir.path()).unwrap().is_empty());
        assert!(!temp_path(&dir.path().join(MANIFEST_FILE)).exists());
    }

    #[test]
    fn names_each_kind_of_mismatch() {
        let (dir, manifest) = folder_with(&[("a", b"1234"), ("b", b"1234"), ("c", b"1234")]);
        std::fs::write(dir.path().join("a"), b"12345").unwrap();
        std::fs::write(dir.path().join("b"), b"1235").unwrap();
        std::fs::remove_file(dir.path().join("c")).unwrap();
        let found = manifest.verify(dir.path()).unwrap();
        assert!(matches!(found[0], (ref n, Mismatch::Size { expected: 4, actual: 5 }) if n == "a"));
        assert!(matches!(found[1], (ref n, Mismatch::Sha256 { .. }) if n == "b"));
        assert_eq!(found[2], ("c".to_string(), Mismatch::Missing));
        assert!(matches!(
            manifest.check(dir.path(), "unlisted"),
            Err(Error::NotInManifest { .. })
        ));
    }

    #[test]
    fn refuses_damaged_or_escaping_manifests() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Manifest::read(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(MANIFEST_FILE), b"{\"format\": 1,").unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(Error::InvalidManifest { .. })
        ));
        let mut manifest = Manifest::new("m", "r");
        manifest.files.insert(
            "../etc/passwd".into(),
            FileDigest {
                size: 1,
                sha256: "00".into(),
            },
        );
        manifest.write(dir.path()).unwrap();
        // Nor in a dataset's manifest, whose files may sit in folders.
        let mut dataset = manifest.clone();
        dataset.repo_type = Some("dataset".into());
        dataset.write(dir.path()).unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(Error::InvalidManifest { reason, .. }) if reason.contains("plain file name")
        ));
        let digest = dataset.files.remove("../etc/passwd").unwrap();
        dataset
            .files
            .insert("english/test/0000.parquet".into(), digest);
        dataset.write(dir.path()).unwrap();
        assert!(Manifest::read(dir.path()).is_ok());
        manifest.write(dir.path()).unwrap();
        assert!(matches!(
            Manifest::read(dir.path()),
            Err(Error::InvalidManifest { reason, .. }) if reason.contains("plain file name")
        ));
    }
}
