//! Native adapters over `xlmr-sentiment-core`: reading a model folder from disk, reading input
//! lines, writing predictions as JSON lines, and evaluating on labelled data. The
//! `xlmr-sentiment` binary is a thin CLI on top.

#![deny(missing_docs)]

pub mod batch;
pub mod bench;
pub mod eval;
pub mod formats;
pub mod html;
pub mod hub;
pub mod input;
pub mod languages;
pub mod manifest;
pub mod model_dir;
pub mod output;
pub mod pack;
pub mod provenance;
pub(crate) mod records;
pub mod reproduce;
pub mod server;

use std::path::PathBuf;

/// Errors of the native adapters; the binary maps them to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read or written.
    #[error("{path}: {error}")]
    Io {
        /// The path that failed.
        path: PathBuf,
        /// The OS error (part of the message, so not also reported as a source).
        error: std::io::Error,
    },
    /// A model folder lacks a file it needs.
    #[error("{dir}: {what}")]
    IncompleteModel {
        /// The model folder.
        dir: PathBuf,
        /// What is missing, in words.
        what: String,
    },
    /// The model files are present but invalid (as the core reports it).
    #[error("{dir}: {error}")]
    Model {
        /// The model folder.
        dir: PathBuf,
        /// The core's error (part of the message, so not also reported as a source).
        error: xlmr_sentiment_core::Error,
    },
    /// The model folder's manifest cannot be read.
    #[error("{path}: invalid manifest: {reason}")]
    InvalidManifest {
        /// The manifest file.
        path: PathBuf,
        /// What is wrong, in words.
        reason: String,
    },
    /// A model file is to be loaded from a folder whose manifest does not list it.
    #[error(
        "{dir}: {file} is not listed in the folder's manifest (pass --no-verify to load it anyway)"
    )]
    NotInManifest {
        /// The model folder.
        dir: PathBuf,
        /// The unlisted file.
        file: String,
    },
    /// A file's content is not what it must be: a download whose hash differs from the Hub's, or
    /// a model file that no longer matches its manifest.
    #[error("{file}: {reason}")]
    Integrity {
        /// The file concerned.
        file: PathBuf,
        /// What differs, in words.
        reason: String,
    },
    /// The Hub (or the mirror at `HF_ENDPOINT`) could not be used.
    #[error("{0}")]
    Hub(String),
    /// Offline mode (`HF_HUB_OFFLINE`) and the files are not here.
    #[error("{0}")]
    Offline(String),
    /// A data file (`eval` data, a batch job's input) cannot be used as a whole: unknown
    /// format, a missing column, no rows, fewer rows than a batch checkpoint covers.
    #[error("{path}: {what}")]
    BadData {
        /// The data file.
        path: PathBuf,
        /// What is wrong, in words.
        what: String,
    },
    /// A row of a data file cannot be evaluated: a missing field, invalid UTF-8, malformed JSON.
    #[error("{path}: line {line}: {reason} (--skip-bad-rows skips such rows)")]
    BadRow {
        /// The data file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// What is wrong, in words.
        reason: String,
    },
    /// A gold label in a data file is none of the model's labels.
    #[error(
        "{path}: line {line}: label `{label}` is not one of the model's labels ({}), compared \
         ignoring case{hint}",
        .labels.join(", ")
    )]
    UnknownLabel {
        /// The data file.
        path: PathBuf,
        /// 1-based line where the row starts.
        line: u64,
        /// The label as written in the data.
        label: String,
        /// The model's labels, in order.
        labels: Vec<String>,
        /// A hint for a likely cause, starting with "; ", or empty.
        hint: &'static str,
    },
    /// A batch job would clobber or mix up an output: it exists without a checkpoint, the
    /// checkpoint belongs to another input or other options, or the output is the input.
    #[error("{0}")]
    Refused(String),
    /// A batch job's input was cut or changed while the job read it: the rows written cover
    /// the input as it was, and the job stops rather than misread the rest.
    #[error("{path}: {what}")]
    InputChanged {
        /// The input file.
        path: PathBuf,
        /// What changed, and what to do, in words.
        what: String,
    },
    /// A batch job's output disk is full: the rows up to the last checkpoint are kept.
    #[error(
        "{path}: no space left on the device; the output up to its last checkpoint is kept: \
         free space, then run the same command again to resume"
    )]
    OutputFull {
        /// The output (or its checkpoint) being written.
        path: PathBuf,
    },
    /// The model failed on texts it had accepted (not a fault of any one text), or options it
    /// refuses: the call classified nothing.
    #[error("classification failed: {0}")]
    Classify(xlmr_sentiment_core::Error),
}
