//! A model on disk: a Hugging Face folder (`config.json`, `tokenizer.json` or only
//! `sentencepiece.bpe.model`, converted on load, and `model.safetensors` or `pytorch_model.bin`),
//! or a bundle file written by `pack` (GGUF, with its SHA-256 in `FILE.sha256` beside it).

use std::path::{Path, PathBuf};

use std::fs::File;

use xlmr_sentiment_core::{
    past_end, Classifier, DeviceRequest, InPlaceBytes, ReadAt, WeightsSource,
};

use crate::manifest::Manifest;
use crate::Error;

/// The folder's file names, the core's one rule (shared with the npm loader).
pub use xlmr_sentiment_core::{SENTENCEPIECE_FILE, TOKENIZER_FILE, WEIGHT_FILES};

fn read(path: PathBuf) -> Result<Vec<u8>, Error> {
    std::fs::read(&path).map_err(|error| Error::Io { path, error })
}

/// The file a model's weights are read from: a bundle itself, or the folder's weights file.
pub fn weights_file(model: &Path) -> Result<PathBuf, Error> {
    if model.is_file() {
        Ok(model.to_path_buf())
    } else {
        weights_path(model)
    }
}

/// The weights file a folder would be loaded from.
pub fn weights_path(dir: &Path) -> Result<PathBuf, Error> {
    if !dir.is_dir() {
        return Err(Error::Io {
            path: dir.to_path_buf(),
            error: std::io::Error::new(std::io::ErrorKind::NotFound, "no such model folder"),
        });
    }
    WEIGHT_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| Error::IncompleteModel {
            dir: dir.to_path_buf(),
            what: "no model.safetensors or pytorch_model.bin in this folder".into(),
        })
}

/// The bytes of the folder's `tokenizer.json`, or, when it has none, the `tokenizer.json` that
/// `transformers` would build from its `sentencepiece.bpe.model` (some XLM-R models ship only that).
pub fn tokenizer_json(dir: &Path) -> Result<Vec<u8>, Error> {
    let json = dir.join(TOKENIZER_FILE);
    if json.is_file() {
        return read(json);
    }
    let spm = dir.join(SENTENCEPIECE_FILE);
    if !spm.is_file() {
        return Err(Error::IncompleteModel {
            dir: dir.to_path_buf(),
            what: format!(
                "{TOKENIZER_FILE} is missing, and there is no {SENTENCEPIECE_FILE} to build it from"
            ),
        });
    }
    xlmr_sentiment_core::tokenizer_json_from_sentencepiece(&read(spm)?).map_err(|error| {
        Error::Model {
            dir: dir.to_path_buf(),
            error,
        }
    })
}

/// A weights file read in place, one tensor's range at a time: the file is never held whole in
/// memory beside the model (the page cache may keep it, but that memory is the kernel's to
/// reclaim), so loading needs one copy of the weights, not two.
///
/// The one table a model looks up by row, a bundle's quantized word embeddings (204 MB of a
/// 299 MB q8_0 bundle, 108 of 160 MB at q4), is not read at load: it is left in the file
/// ([`WeightsSource::in_place`]) and the rows a batch uses are read with `pread` for each pass,
/// from the kernel's page cache once warm (a few dozen syscalls of under a microsecond for a
/// text that takes milliseconds). The process never holds the table, and the cache is shared
/// by every process reading the same file and dropped under memory pressure. (A memory map did
/// the same with fewer syscalls, but the kernel maps up to 16 cached neighbouring pages into
/// the process on each fault, so the peak RSS rose with the variety of tokens read: 182 to 211
/// MB at q4 between runs.) Replace a bundle in use by writing a new file and renaming it over the
/// old one, as `pack` and `fetch` do: the open file then stays the old one.
pub struct WeightsFile {
    file: std::sync::Arc<SharedFile>,
    len: u64,
}

/// An open file shared between the loader and a model's in-place tables, and its length and
/// modification time when opened.
struct SharedFile {
    file: File,
    len: u64,
    modified: Option<std::time::SystemTime>,
}

impl SharedFile {
    /// An error if the open file is no longer as it was when opened: cut, or written over in
    /// place (a rename over it leaves the open file as it was). One `fstat` per read, well
    /// under a microsecond beside each row's `pread`.
    fn unchanged(&self) -> std::io::Result<()> {
        let now = self.file.metadata()?;
        if now.len() != self.len || now.modified().ok() != self.modified {
            return Err(std::io::Error::other(format!(
                "the weights file changed on disk after it was loaded ({} bytes then, {} now); \
                 replace a model in use by renaming a new file over it",
                self.len,
                now.len()
            )));
        }
        Ok(())
    }
}

impl ReadAt for SharedFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        // Checked after the read: bytes read while the file was being rewritten are not used.
        read_exact_at(&self.file, offset, buf)
            .and_then(|()| self.unchanged())
            .or_else(|error| self.unchanged().and(Err(error)))
    }
}

impl WeightsSource for WeightsFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(past_end(offset, buf.len(), self.len));
        }
        read_exact_at(&self.file.file, offset, buf)
    }

    fn in_place(&self, offset: u64, len: u64) -> Option<InPlaceBytes> {
        InPlaceBytes::new(self.file.clone(), offset, len)
    }
}

impl WeightsFile {
    /// Opens `path` for reading in place.
    pub fn open(path: &Path) -> Result<Self, Error> {
        let io_error = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = File::open(path).map_err(io_error)?;
        let metadata = file.metadata().map_err(io_error)?;
        let len = metadata.len();
        Ok(Self {
            file: std::sync::Arc::new(SharedFile {
                file,
                len,
                modified: metadata.modified().ok(),
            }),
            len,
        })
    }
}

/// The checksum file beside a bundle: `FILE.sha256`, in `sha256sum` format.
pub fn checksum_path(bundle: &Path) -> PathBuf {
    let mut name = bundle.file_name().unwrap_or_default().to_os_string();
    name.push(".sha256");
    bundle.with_file_name(name)
}

/// Checks a bundle against the SHA-256 in its checksum file, if it has one. `Ok(false)` when
/// there is no checksum file.
pub fn check_bundle(bundle: &Path) -> Result<bool, Error> {
    let sums = checksum_path(bundle);
    let text = match std::fs::read_to_string(&sums) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(error) => return Err(Error::Io { path: sums, error }),
    };
    let expected = text
        .split_whitespace()
        .next()
        .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or_else(|| Error::InvalidManifest {
            path: sums.clone(),
            reason: "it does not start with a SHA-256".into(),
        })?
        .to_ascii_lowercase();
    let actual = crate::manifest::sha256_file(bundle)?;
    if actual != expected {
        return Err(Error::Integrity {
            file: bundle.to_path_buf(),
            reason: format!(
                "SHA-256 {actual} where {} says {expected}: the file changed or is damaged \
                 (pass --no-verify to load it anyway)",
                sums.display()
            ),
        });
    }
    Ok(true)
}

#[cfg(unix)]
fn read_exact_at(file: &File, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut offset: u64, mut buf: &mut [u8]) -> std::io::Result<()> {
    while !buf.is_empty() {
        match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
            0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
            n => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
        }
    }
    Ok(())
}

/// Checks the files about to be loaded against the folder's manifest, if it has one.
fn check_manifest(dir: &Path, files: &[&Path]) -> Result<(), Error> {
    let Some(manifest) = Manifest::read(dir)? else {
        return Ok(());
    };
    for path in files {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if let Some(mismatch) = manifest.check(dir, &name)? {
            return Err(Error::Integrity {
                file: path.to_path_buf(),
                reason: format!(
                    "{mismatch}: it changed since it was fetched ({} at {}). Run `xlmr-sentiment \
                     verify {}` to see every difference, or pass --no-verify to load it anyway",
                    manifest.model_id,
                    manifest.revision,
                    dir.display()
                ),
            });
        }
    }
    Ok(())
}

/// Loads the classifier in `dir`, refusing any file that differs from the folder's manifest.
pub fn load(dir: &Path) -> Result<Classifier, Error> {
    load_with(dir, true)
}

/// Loads the classifier in `dir` (a folder, or a bundle file); with `verify`, each file is first
/// checked against the folder's manifest (written by `fetch`), or a bundle against its
/// `.sha256` file, when there is one. The weights are read in place.
pub fn load_with(dir: &Path, verify: bool) -> Result<Classifier, Error> {
    load_on(dir, verify, &DeviceRequest::cpu())
}

/// [`load_with`], the model placed on the device `device` asks for (`--device`).
pub fn load_on(dir: &Path, verify: bool, device: &DeviceRequest) -> Result<Classifier, Error> {
    if dir.is_file() {
        if verify {
            check_bundle(dir)?;
        }
        let bundle = WeightsFile::open(dir)?;
        return Classifier::load_bundle_with(&bundle, device).map_err(|error| Error::Model {
            dir: dir.to_path_buf(),
            error,
        });
    }
    let weights_path = weights_path(dir)?;
    let config_path = dir.join(xlmr_sentiment_core::CONFIG_FILE);
    if verify {
        // The tokenizer is read from whichever of its two files the folder has.
        // (With neither, `tokenizer_json` below says so.)
        let tokenizer_path = [TOKENIZER_FILE, SENTENCEPIECE_FILE]
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file());
        let mut files = vec![config_path.as_path(), weights_path.as_path()];
        files.extend(tokenizer_path.as_deref());
        check_manifest(dir, &files)?;
    }
    let tokenizer = tokenizer_json(dir)?;
    let config = read(config_path)?;
    let weights = WeightsFile::open(&weights_path)?;
    let mut classifier = Classifier::load_from_source_with(&config, &tokenizer, &weights, device)
        .map_err(|error| Error::Model {
        dir: dir.to_path_buf(),
        error,
    })?;
    if let Some(manifest) = Manifest::read(dir)? {
        classifier.set_trained_languages(manifest.trained_languages(dir)?);
    }
    Ok(classifier)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_range_left_in_place_reads_the_file_bytes_and_stays_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("weights.bin");
        let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        let file = WeightsFile::open(&path).unwrap();
        let range = file.in_place(1234, 5000).expect("a file can");
        let mut buf = vec![0u8; 100];
        range.read(4900, &mut buf).unwrap();
        assert_eq!(buf, &bytes[1234 + 4900..1234 + 5000]);
        // Past the range's end, even inside the file: refused.
        assert!(range.read(4901, &mut buf).is_err());
        assert!(file.in_place(9_000, 1_001).is_none());
        assert!(file.in_place(u64::MAX, 2).is_none());
        // Reads still work beside it.
        let mut four = [0u8; 4];
        file.read_at(9_996, &mut four).unwrap();
        assert_eq!(four, bytes[9_996..]);
    }
}
