//! Errors at the Python edge: the native crate's and the core's errors become exceptions with
//! their messages; nothing else reaches Python (no panic: every fallible call returns one).

use pyo3::create_exception;
use pyo3::exceptions::{PyException, PyRuntimeError, PyValueError};
use pyo3::PyErr;

create_exception!(
    _native,
    ModelError,
    PyException,
    "A model that cannot be used: a missing, corrupt or tampered file (named in the message), \
     or files that do not belong together."
);

/// A model folder or bundle that failed to load, or whose provenance cannot be read.
pub(crate) fn model_error(error: xlmr_sentiment::Error) -> PyErr {
    // The native crate's messages name the CLI's flag; here it is an argument.
    ModelError::new_err(
        error
            .to_string()
            .replace("pass --no-verify", "pass verify=False"),
    )
}

/// An error of a classification call: bad options are the caller's (`ValueError`), the rest a
/// failure of the model while running (`RuntimeError`).
pub(crate) fn call_error(error: xlmr_sentiment_core::Error) -> PyErr {
    use xlmr_sentiment_core::Error as E;
    match error {
        E::InvalidOption(_) | E::MalformedOptions(_) | E::TextTooLong { .. } => {
            PyValueError::new_err(error.to_string())
        }
        other => PyRuntimeError::new_err(other.to_string()),
    }
}
