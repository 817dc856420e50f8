//! The Python module `xlmr_sentiment._native`: a thin adapter over `xlmr-sentiment-core` (the
//! pipeline, shapes and per-text outcomes) and the native crate's model loading (manifest and
//! `.sha256` checks, weights read in place). One binding file per concern, as in tokenizers'
//! bindings: `classifier.rs` (the `Classifier` class and its pipeline call), `arrow.rs`
//! (`classify_arrow`), `error.rs` (exceptions), `pool.rs` (the per-classifier thread pool).
//! The pure-Python part of the package (`python/xlmr_sentiment/`) adds Ray Data and Spark.

#![deny(missing_docs)]

mod arrow;
mod classifier;
mod error;
mod pool;

use pyo3::prelude::*;

/// The extension module; `xlmr_sentiment/__init__.py` re-exports what users see.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<classifier::Classifier>()?;
    m.add("ModelError", m.py().get_type::<error::ModelError>())?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
