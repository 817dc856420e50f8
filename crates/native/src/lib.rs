//! Native adapters over `xlmr-sentiment-core`: reading a model folder from disk, reading input
//! lines, and writing predictions as JSON lines. The `xlmr-sentiment` binary is a thin CLI on top.

pub mod input;
pub mod model_dir;
pub mod output;

use std::path::PathBuf;

/// Errors of the native adapters; the binary maps them to exit codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file or folder could not be read.
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
}
