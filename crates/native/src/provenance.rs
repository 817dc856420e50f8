//! What a result was computed with: the model's id and revision, the weights' SHA-256, the
//! precision, the kernels this CPU ran and this program's version. Eval reports and bench rows
//! carry it: scores on a bundle depend on the CPU's int8 kernel, so a figure without it cannot be
//! compared or reproduced.

use std::path::Path;

use serde::Serialize;
use xlmr_sentiment_core::Classifier;

use crate::manifest::{sha256_file, Manifest};
use crate::{model_dir, Error};

/// The provenance of one run (`"provenance"` in `eval --json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Provenance {
    /// Hugging Face model id, when known (from `fetch`'s manifest or the bundle's header).
    pub model_id: Option<String>,
    /// The commit the files were downloaded at, when known.
    pub revision: Option<String>,
    /// The file the weights were read from: the bundle, or the folder's weights file.
    pub weights_file: String,
    /// SHA-256 of that file, lower-case hex, computed now (not taken from a manifest).
    pub weights_sha256: String,
    /// `f32` for a folder; a bundle's packed precision (`f16`, `q8_0`, `q4`, `f32`).
    pub precision: String,
    /// The f32, int8 and attention kernels this CPU runs.
    pub kernels: String,
    /// This program's version.
    pub version: &'static str,
}

impl Provenance {
    /// The provenance of `classifier`, loaded from `model` (a folder or a bundle file).
    pub fn of(model: &Path, classifier: &Classifier) -> Result<Self, Error> {
        let weights = model_dir::weights_file(model)?;
        let (model_id, revision, precision) = match classifier.bundle_info() {
            Some(info) => (
                info.source.model_id.clone(),
                info.source.revision.clone(),
                info.precision.clone(),
            ),
            None => {
                let manifest = Manifest::read(model)?;
                (
                    manifest.as_ref().map(|m| m.model_id.clone()),
                    manifest.map(|m| m.revision),
                    "f32".to_string(),
                )
            }
        };
        Ok(Self {
            model_id,
            revision,
            weights_sha256: sha256_file(&weights)?,
            weights_file: weights.display().to_string(),
            precision,
            kernels: kernels(),
            version: env!("CARGO_PKG_VERSION"),
        })
    }
}

/// The kernels this CPU runs, in one line: `"<f32>, <int8>, attention <attention>"`.
pub fn kernels() -> String {
    let names = xlmr_sentiment_core::kernel_names();
    format!(
        "{}, {}, attention {}",
        names.f32, names.int8, names.attention
    )
}
