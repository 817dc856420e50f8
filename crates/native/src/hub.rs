//! `fetch`: downloads a model folder from the Hugging Face Hub (or a mirror at `HF_ENDPOINT`) at a
//! pinned commit, checks every file against the content hash the Hub serves for it, and writes a
//! [`Manifest`] beside the files.
//!
//! Downloads go through the `hf-hub` crate into a cache inside the target folder
//! (`DIR/.download`), where an interrupted transfer is kept as a `.part` file and resumed with an
//! HTTP range request next time. A file is moved to its real name only once it is complete and
//! its hash checked, so `DIR` never holds a half-written or unverified model file.

use std::path::{Path, PathBuf};

use hf_hub::api::sync::{Api, ApiBuilder, ApiRepo};
use hf_hub::{Repo, RepoType};
use sha1::Sha1;
use sha2::Digest;
use xlmr_sentiment_core::{CONFIG_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, WEIGHT_FILES};

use crate::manifest::{hex, sha256_file, FileDigest, Manifest};
use crate::Error;

/// The model fetched when none is named.
pub const DEFAULT_MODEL_ID: &str = "cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual";

/// The commit of [`DEFAULT_MODEL_ID`] fetched by default: `main` as of 2026-09 ("Fixing main
/// reference paper"). Its config.json, tokenizer.json and pytorch_model.bin are those of December
/// 2022, when tokenizer.json was added. Pinned so that everyone runs the same weights.
pub const DEFAULT_REVISION: &str = "82107f4ccba672c9ab1eee538e727e462cad21de";

/// The languages [`DEFAULT_MODEL_ID`] was trained on, from its model card (the eight of the
/// UMSAB tweet sentiment benchmark): recorded in the manifest of a default fetch.
pub const DEFAULT_LANGUAGES: [&str; 8] = ["ar", "de", "en", "es", "fr", "hi", "it", "pt"];

/// The dataset fetched by `fetch --dataset` when none is named: the model card's benchmark data.
pub const DEFAULT_DATASET_ID: &str = "cardiffnlp/tweet_sentiment_multilingual";

/// The revision of a dataset fetched by default: the Hub's Parquet conversion of it (a branch:
/// the manifest records the commit it pointed to; pass that commit as `--revision` to pin it).
pub const PARQUET_REVISION: &str = "refs/convert/parquet";

/// What a fetch downloads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepoKind {
    /// A model repository: the files a classifier needs ([`choose_files`]).
    Model,
    /// A dataset repository: the data files of these splits ([`choose_dataset_files`]).
    Dataset {
        /// Splits to fetch, such as `test` and `validation`.
        splits: Vec<String>,
    },
}

/// The cache folder inside the target folder, removed after a complete fetch.
pub const DOWNLOAD_CACHE: &str = ".download";

/// What to fetch and how to reach the Hub.
#[derive(Debug, Clone)]
pub struct FetchSettings {
    /// Hugging Face model id.
    pub model_id: String,
    /// A commit hash, or a branch or tag (resolved to its commit, which the manifest records).
    pub revision: String,
    /// The folder the files end up in.
    pub dir: PathBuf,
    /// Hub address (`HF_ENDPOINT`), `https://huggingface.co` when unset.
    pub endpoint: Option<String>,
    /// Access token (`HF_TOKEN`) for gated or private models; else the token file of
    /// `huggingface-cli login` is used, if any.
    pub token: Option<String>,
    /// No network (`HF_HUB_OFFLINE`): succeed only if `dir` already holds the files.
    pub offline: bool,
    /// Draw progress bars (on a terminal).
    pub progress: bool,
    /// A model or a dataset.
    pub kind: RepoKind,
}

impl FetchSettings {
    /// Settings for `model_id` at `revision` (the pinned default for the default model, else
    /// `main`) into `dir`, with the endpoint, token and offline mode from the environment.
    pub fn from_env(model_id: Option<&str>, revision: Option<&str>, dir: Option<&Path>) -> Self {
        let model_id = model_id.unwrap_or(DEFAULT_MODEL_ID).to_string();
        let revision = match revision {
            Some(revision) => revision.to_string(),
            None if model_id == DEFAULT_MODEL_ID => DEFAULT_REVISION.to_string(),
            None => "main".to_string(),
        };
        let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| {
            let name = model_id.rsplit('/').next().unwrap_or(&model_id);
            Path::new("models").join(name)
        });
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        Self {
            model_id,
            revision,
            dir,
            endpoint: var("HF_ENDPOINT"),
            token: var("HF_TOKEN"),
            offline: var("HF_HUB_OFFLINE").is_some_and(|v| {
                matches!(v.to_ascii_lowercase().as_str(), "1" | "true" | "yes" | "on")
            }),
            progress: false,
            kind: RepoKind::Model,
        }
    }

    /// Settings for the dataset `dataset_id` (default [`DEFAULT_DATASET_ID`]) at `revision`
    /// (default [`PARQUET_REVISION`]), its `splits`, into `dir` (default `datasets/<name>`).
    pub fn dataset_from_env(
        dataset_id: Option<&str>,
        revision: Option<&str>,
        dir: Option<&Path>,
        splits: Vec<String>,
    ) -> Self {
        let id = dataset_id.unwrap_or(DEFAULT_DATASET_ID);
        let name = id.rsplit('/').next().unwrap_or(id);
        let dir = dir
            .map(Path::to_path_buf)
            .unwrap_or_else(|| Path::new("datasets").join(name));
        let mut settings = Self::from_env(
            Some(id),
            Some(revision.unwrap_or(PARQUET_REVISION)),
            Some(&dir),
        );
        settings.kind = RepoKind::Dataset { splits };
        settings
    }

    /// Whether the revision names one commit (40 hex digits) rather than a moving branch.
    pub fn is_pinned(&self) -> bool {
        is_commit_hash(&self.revision)
    }
}

fn is_commit_hash(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit())
}

/// What happened to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileOutcome {
    /// Downloaded (or resumed) and checked.
    Downloaded,
    /// Already in the folder with the right content; not downloaded again.
    AlreadyPresent,
}

/// The result of a fetch.
#[derive(Debug, Clone)]
pub struct FetchReport {
    /// The manifest written into the folder.
    pub manifest: Manifest,
    /// Each file and what was done with it.
    pub files: Vec<(String, FileOutcome)>,
}

/// Picks the files a classifier needs from a repository listing: `config.json`, the tokenizer
/// (`tokenizer.json`, else `sentencepiece.bpe.model`) and the weights (`model.safetensors`,
/// which is quicker to read and cannot run code, else `pytorch_model.bin`).
pub fn choose_files(listing: &[String]) -> Result<Vec<String>, String> {
    let has = |name: &str| listing.iter().any(|f| f == name);
    let first = |names: &[&str]| names.iter().find(|n| has(n)).map(|n| n.to_string());
    let mut files = Vec::new();
    if !has(CONFIG_FILE) {
        return Err("the repository has no config.json".into());
    }
    files.push(CONFIG_FILE.to_string());
    files.push(
        first(&[TOKENIZER_FILE, SENTENCEPIECE_FILE])
            .ok_or("the repository has no tokenizer.json or sentencepiece.bpe.model")?,
    );
    files.push(
        first(&WEIGHT_FILES)
            .ok_or("the repository has no model.safetensors or pytorch_model.bin")?,
    );
    Ok(files)
}

/// Picks a dataset repository's data files for `splits`, as `eval` reads them
/// ([`crate::eval::data::split_files`]: either layout of the Hub's Parquet conversion, or
/// JSONL/CSV; `all` left out beside per-language configs).
pub fn choose_dataset_files(listing: &[String], splits: &[String]) -> Result<Vec<String>, String> {
    let mut chosen = Vec::new();
    for split in splits {
        let files = crate::eval::data::split_files(listing, split);
        if files.is_empty() {
            return Err(format!(
                "no `{split}` split in a known layout (<config>/{split}/*.parquet or \
                 <config>/*-{split}.parquet)"
            ));
        }
        chosen.extend(files.into_iter().map(|(_, path)| path));
    }
    chosen.sort();
    chosen.dedup();
    Ok(chosen)
}

/// The files of `listing` that `kind` needs.
fn choose(kind: &RepoKind, listing: &[String]) -> Result<Vec<String>, String> {
    match kind {
        RepoKind::Model => choose_files(listing),
        RepoKind::Dataset { splits } => choose_dataset_files(listing, splits),
    }
}

/// The content hash the Hub serves as a file's ETag: the SHA-256 of the content for files kept
/// in Git LFS (`X-Linked-Etag`), the Git blob SHA-1 for small files kept in Git itself. Both
/// are addresses of the content at that commit, so checking them pins the bytes, not just the
/// name (huggingface_hub's `file_download.py` reads the same headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HubDigest {
    /// SHA-256 of the content (LFS files).
    Sha256(String),
    /// SHA-1 of `blob <len>\0<content>` (files stored in Git).
    GitBlobSha1(String),
}

impl HubDigest {
    /// Reads an ETag (quotes and a weak `W/` prefix removed).
    pub fn from_etag(etag: &str) -> Option<Self> {
        let etag = etag
            .trim()
            .trim_start_matches("W/")
            .trim_matches('"')
            .to_ascii_lowercase();
        let hex = etag.bytes().all(|b| b.is_ascii_hexdigit());
        match etag.len() {
            64 if hex => Some(Self::Sha256(etag)),
            40 if hex => Some(Self::GitBlobSha1(etag)),
            _ => None,
        }
    }

    /// Checks a file against this digest; `Err` says what differs.
    pub fn check(&self, path: &Path) -> Result<(), String> {
        let bytes_hash = match self {
            Self::Sha256(expected) => (expected, sha256_file(path).map_err(|e| e.to_string())?),
            Self::GitBlobSha1(expected) => (expected, git_blob_sha1(path)?),
        };
        let (expected, actual) = bytes_hash;
        if *expected == actual {
            Ok(())
        } else {
            let kind = match self {
                Self::Sha256(_) => "SHA-256",
                Self::GitBlobSha1(_) => "Git blob SHA-1",
            };
            Err(format!(
                "its {kind} is {actual} but the Hub lists {expected}"
            ))
        }
    }
}

fn git_blob_sha1(path: &Path) -> Result<String, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut hasher = Sha1::new();
    hasher.update(format!("blob {}\0", bytes.len()).as_bytes());
    hasher.update(&bytes);
    Ok(hex(&hasher.finalize()))
}

fn hub_error(what: impl std::fmt::Display) -> Error {
    Error::Hub(what.to_string())
}

/// Fetches the model described by `settings`; see the module documentation.
pub fn fetch(settings: &FetchSettings) -> Result<FetchReport, Error> {
    let dir = &settings.dir;
    if let Some(report) = already_complete(settings)? {
        return Ok(report);
    }
    if settings.offline {
        return Err(Error::Offline(format!(
            "{} does not hold a complete, verified copy of {} at {} (HF_HUB_OFFLINE is set, so \
             nothing is downloaded)",
            dir.display(),
            settings.model_id,
            settings.revision
        )));
    }
    std::fs::create_dir_all(dir).map_err(|error| Error::Io {
        path: dir.clone(),
        error,
    })?;
    let api = build_api(settings)?;

    // Resolve the revision to its commit first, then fetch every file at that commit, so a
    // branch that moves during the download cannot mix files of two commits.
    let info = repo(&api, settings, &settings.revision)
        .info()
        .map_err(|e| {
            hub_error(format!(
                "cannot read {} at {}: {e}",
                settings.model_id, settings.revision
            ))
        })?;
    if settings.is_pinned() && !info.sha.eq_ignore_ascii_case(&settings.revision) {
        return Err(hub_error(format!(
            "asked for commit {} but the Hub answered with {}",
            settings.revision, info.sha
        )));
    }
    if !is_commit_hash(&info.sha) {
        return Err(hub_error(format!(
            "the Hub gave `{}` as the commit hash",
            info.sha
        )));
    }
    let listing: Vec<String> = info.siblings.iter().map(|s| s.rfilename.clone()).collect();
    let files = choose(&settings.kind, &listing)
        .map_err(|e| hub_error(format!("{} at {}: {e}", settings.model_id, info.sha)))?;
    let repo = repo(&api, settings, &info.sha);

    let mut manifest = Manifest::new(&settings.model_id, &info.sha);
    if matches!(settings.kind, RepoKind::Dataset { .. }) {
        manifest.repo_type = Some("dataset".into());
    }
    if settings.model_id == DEFAULT_MODEL_ID && info.sha == DEFAULT_REVISION {
        manifest.languages = Some(DEFAULT_LANGUAGES.map(String::from).to_vec());
    }
    let mut outcomes = Vec::new();
    for name in files {
        let outcome = fetch_file(&api, &repo, &info.sha, dir, &name)?;
        let path = dir.join(&name);
        let size = std::fs::metadata(&path)
            .map_err(|error| Error::Io {
                path: path.clone(),
                error,
            })?
            .len();
        manifest.files.insert(
            name.clone(),
            FileDigest {
                size,
                sha256: sha256_file(&path)?,
            },
        );
        outcomes.push((name, outcome));
    }
    manifest.write(dir)?;
    // Only partial downloads could be left in the cache, and there are none after success.
    let _ = std::fs::remove_dir_all(dir.join(DOWNLOAD_CACHE));
    Ok(FetchReport {
        manifest,
        files: outcomes,
    })
}

/// The folder already holds this model at this pinned commit, every file as the manifest says.
fn already_complete(settings: &FetchSettings) -> Result<Option<FetchReport>, Error> {
    let Some(manifest) = Manifest::read(&settings.dir)? else {
        return Ok(None);
    };
    let same = manifest.model_id == settings.model_id
        && (manifest.revision.eq_ignore_ascii_case(&settings.revision)
            // A branch can move: only in offline mode is the recorded commit taken for it.
            || (settings.offline && !settings.is_pinned()));
    if !same {
        return Ok(None);
    }
    let names: Vec<String> = manifest.files.keys().cloned().collect();
    let wanted = manifest.repo_type.as_deref() == kind_name(&settings.kind)
        && choose(&settings.kind, &names).is_ok_and(|mut chosen| {
            chosen.sort();
            chosen == names
        });
    if !wanted || !manifest.verify(&settings.dir)?.is_empty() {
        return Ok(None);
    }
    let files = names
        .into_iter()
        .map(|name| (name, FileOutcome::AlreadyPresent))
        .collect();
    Ok(Some(FetchReport { manifest, files }))
}

/// The manifest's `repo_type` for `kind`.
fn kind_name(kind: &RepoKind) -> Option<&'static str> {
    match kind {
        RepoKind::Model => None,
        RepoKind::Dataset { .. } => Some("dataset"),
    }
}

fn build_api(settings: &FetchSettings) -> Result<Api, Error> {
    let mut builder = ApiBuilder::from_env()
        .with_cache_dir(settings.dir.join(DOWNLOAD_CACHE))
        .with_progress(settings.progress)
        .with_user_agent("xlmr-sentiment", env!("CARGO_PKG_VERSION"));
    if let Some(endpoint) = &settings.endpoint {
        builder = builder.with_endpoint(endpoint.trim_end_matches('/').to_string());
    }
    if settings.token.is_some() {
        builder = builder.with_token(settings.token.clone());
    }
    builder.build().map_err(hub_error)
}

fn repo(api: &Api, settings: &FetchSettings, revision: &str) -> ApiRepo {
    let repo_type = match settings.kind {
        RepoKind::Model => RepoType::Model,
        RepoKind::Dataset { .. } => RepoType::Dataset,
    };
    api.repo(Repo::with_revision(
        settings.model_id.clone(),
        repo_type,
        revision.to_string(),
    ))
}

/// Downloads one file into `dir` unless an identical copy is there.
fn fetch_file(
    api: &Api,
    repo: &ApiRepo,
    commit: &str,
    dir: &Path,
    name: &str,
) -> Result<FileOutcome, Error> {
    let metadata = api
        .metadata(&repo.url(name))
        .map_err(|e| hub_error(format!("{name}: {e}")))?;
    if !metadata.commit_hash().eq_ignore_ascii_case(commit) {
        return Err(hub_error(format!(
            "{name}: the Hub served it from commit {} instead of {commit}",
            metadata.commit_hash()
        )));
    }
    let digest = HubDigest::from_etag(metadata.etag()).ok_or_else(|| {
        hub_error(format!(
            "{name}: the server gave no content hash (ETag `{}`), so the file cannot be checked",
            metadata.etag()
        ))
    })?;
    let target = dir.join(name);
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(|error| Error::Io {
            path: parent.to_path_buf(),
            error,
        })?;
    }
    if target.is_file()
        && std::fs::metadata(&target).is_ok_and(|m| m.len() == metadata.size() as u64)
        && digest.check(&target).is_ok()
    {
        return Ok(FileOutcome::AlreadyPresent);
    }

    let pointer = repo.download(name).map_err(|e| {
        hub_error(format!(
            "{name}: download failed (run fetch again to resume): {e}"
        ))
    })?;
    // The cache keeps the content as a blob and the name as a symlink to it.
    let blob = std::fs::canonicalize(&pointer).map_err(|error| Error::Io {
        path: pointer.clone(),
        error,
    })?;
    let discard = || {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(&pointer);
    };
    let size = std::fs::metadata(&blob).map(|m| m.len()).unwrap_or(0);
    let verdict = if size != metadata.size() as u64 {
        Err(format!(
            "{size} bytes arrived but the Hub lists {}",
            metadata.size()
        ))
    } else {
        digest.check(&blob)
    };
    if let Err(reason) = verdict {
        discard();
        return Err(Error::Integrity {
            file: target,
            reason: format!(
                "the download was refused: {reason} (tampered with or corrupted on the way)"
            ),
        });
    }
    // Same file system (the cache is inside `dir`): the rename is atomic.
    std::fs::rename(&blob, &target).map_err(|error| Error::Io {
        path: target.clone(),
        error,
    })?;
    let _ = std::fs::remove_file(&pointer);
    Ok(FileOutcome::Downloaded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_etags() {
        let sha256 = "a".repeat(64);
        assert_eq!(
            HubDigest::from_etag(&format!("\"{sha256}\"")),
            Some(HubDigest::Sha256(sha256.clone()))
        );
        assert_eq!(
            HubDigest::from_etag(&format!("W/\"{}\"", "B".repeat(40))),
            Some(HubDigest::GitBlobSha1("b".repeat(40)))
        );
        assert_eq!(HubDigest::from_etag("\"abc\""), None);
        assert_eq!(HubDigest::from_etag(&"z".repeat(64)), None);
    }

    #[test]
    fn git_blob_hash_matches_git() {
        // `printf 'hello\n' | git hash-object --stdin`
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"hello\n").unwrap();
        let digest = HubDigest::GitBlobSha1("ce013625030ba8dba906f756967f9e9ca394464a".into());
        assert_eq!(digest.check(&path), Ok(()));
    }

    #[test]
    fn chooses_preferred_files() {
        let listing = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            choose_files(&listing(&[
                "config.json",
                "pytorch_model.bin",
                "model.safetensors",
                "sentencepiece.bpe.model",
                "tokenizer.json",
                "README.md"
            ]))
            .unwrap(),
            ["config.json", "tokenizer.json", "model.safetensors"]
        );
        assert_eq!(
            choose_files(&listing(&[
                "config.json",
                "pytorch_model.bin",
                "sentencepiece.bpe.model"
            ]))
            .unwrap(),
            [
                "config.json",
                "sentencepiece.bpe.model",
                "pytorch_model.bin"
            ]
        );
        assert!(choose_files(&listing(&["config.json", "tokenizer.json"])).is_err());
    }

    #[test]
    fn defaults_pin_the_default_model_only() {
        let default = FetchSettings::from_env(None, None, None);
        assert_eq!(default.revision, DEFAULT_REVISION);
        assert!(default.is_pinned());
        assert_eq!(
            default.dir,
            Path::new("models/twitter-xlm-roberta-base-sentiment-multilingual")
        );
        let other = FetchSettings::from_env(Some("org/other"), None, None);
        assert_eq!(other.revision, "main");
        assert!(!other.is_pinned());
    }
}
