//! `Classifier`: a model folder or bundle loaded once, called like transformers'
//! `pipeline("text-classification")`. The shapes, options and per-text outcomes are the core's
//! (`PipelineAnswer::transformers`, `ClassifyOptions`); this file converts Python values to them
//! and back, and runs the work with the GIL released on the classifier's own pool.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList, PyString, PyTuple};
use xlmr_sentiment::model_dir;
use xlmr_sentiment::provenance::Provenance;
use xlmr_sentiment_core::{Case, ClassifyOptions, LabelEntry, PipelineAnswer, ScoreFunction, TopK};

use crate::error::{call_error, model_error};
use crate::pool::Pool;

/// A sentiment (sequence-classification) model, loaded once and called on texts.
///
/// `Classifier(model, *, threads=None, verify=True)`: `model` is a model folder (as `fetch`
/// writes it, or any Hugging Face XLM-R classifier folder) or a `.gguf` bundle (`pack`). With
/// `verify`, the files are checked against the folder's manifest or the bundle's `.sha256`, when
/// there is one, and a file that differs is refused. `threads` sizes the classifier's own thread
/// pool (default: one thread per core).
#[pyclass(module = "xlmr_sentiment", frozen)]
pub(crate) struct Classifier {
    pub(crate) inner: Arc<xlmr_sentiment_core::Classifier>,
    pub(crate) pool: Pool,
    model: PathBuf,
    verify: bool,
    /// Computed on first use of `info`: hashing the weights reads the whole file.
    provenance: OnceLock<Provenance>,
}

/// A call's options, as the pipeline names them.
pub(crate) struct CallOptions {
    /// `None` when the caller gave no `top_k`: the pipeline's legacy shapes.
    pub(crate) top_k: Option<TopK>,
    pub(crate) classify: ClassifyOptions,
}

impl CallOptions {
    /// Reads the keyword arguments of `__call__`; an unknown one is a `TypeError`, as Python
    /// reports it for a function.
    fn from_kwargs(kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let mut options = Self {
            top_k: None,
            classify: ClassifyOptions::default(),
        };
        let Some(kwargs) = kwargs else {
            return Ok(options);
        };
        for (key, value) in kwargs.iter() {
            let key: String = key.extract()?;
            match key.as_str() {
                "top_k" => options.top_k = Some(top_k(&value)?),
                "function_to_apply" => {
                    if !value.is_none() {
                        let name: String = value.extract().map_err(|_| {
                            PyTypeError::new_err("function_to_apply must be a str or None")
                        })?;
                        options.classify.function =
                            Some(name.parse::<ScoreFunction>().map_err(call_error)?);
                    }
                }
                "preprocess" => options.classify.preprocess = flag(&key, &value)?,
                "truncation" => options.classify.truncate = flag(&key, &value)?,
                "max_length" => {
                    options.classify.max_length = if value.is_none() {
                        None
                    } else {
                        Some(value.extract().map_err(|_| {
                            PyTypeError::new_err("max_length must be a positive int or None")
                        })?)
                    }
                }
                "batch_size" => {
                    options.classify.batch_size = value
                        .extract()
                        .map_err(|_| PyTypeError::new_err("batch_size must be a positive int"))?
                }
                _ => {
                    return Err(PyTypeError::new_err(format!(
                        "unexpected keyword argument '{key}' (known: top_k, function_to_apply, \
                         preprocess, truncation, max_length, batch_size)"
                    )))
                }
            }
        }
        Ok(options)
    }
}

/// `top_k`: `None` for every label, else a positive int.
fn top_k(value: &Bound<'_, PyAny>) -> PyResult<TopK> {
    if value.is_none() {
        return Ok(TopK::All);
    }
    if value.is_instance_of::<pyo3::types::PyBool>() {
        return Err(PyTypeError::new_err(
            "top_k must be a positive int or None, not bool",
        ));
    }
    let k: i64 = value
        .extract()
        .map_err(|_| PyTypeError::new_err("top_k must be a positive int or None"))?;
    usize::try_from(k)
        .ok()
        .and_then(|k| TopK::new(Some(k)))
        .ok_or_else(|| PyValueError::new_err(format!("top_k must be at least 1, got {k}")))
}

fn flag(name: &str, value: &Bound<'_, PyAny>) -> PyResult<bool> {
    value
        .extract()
        .map_err(|_| PyTypeError::new_err(format!("{name} must be a bool")))
}

/// The texts of a call: one `str`, or a list or tuple of them. `None` or another type, in
/// place of the texts or as one of them, is a `TypeError` naming it.
pub(crate) fn texts_of(texts: &Bound<'_, PyAny>) -> PyResult<(Vec<String>, bool)> {
    if let Ok(text) = texts.cast::<PyString>() {
        return Ok((vec![text.to_cow()?.into_owned()], true));
    }
    let items: Vec<Bound<'_, PyAny>> = if let Ok(list) = texts.cast::<PyList>() {
        list.iter().collect()
    } else if let Ok(tuple) = texts.cast::<PyTuple>() {
        tuple.iter().collect()
    } else {
        return Err(PyTypeError::new_err(format!(
            "texts must be a str or a list of str, not {}",
            type_name(texts)
        )));
    };
    let texts = items
        .iter()
        .enumerate()
        .map(|(i, item)| match item.cast::<PyString>() {
            Ok(s) => Ok(s.to_cow()?.into_owned()),
            Err(_) => Err(PyTypeError::new_err(format!(
                "texts[{i}] is {}, not str",
                type_name(item)
            ))),
        })
        .collect::<PyResult<Vec<String>>>()?;
    Ok((texts, false))
}

fn type_name(value: &Bound<'_, PyAny>) -> String {
    if value.is_none() {
        return "None".into();
    }
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "an object".into())
}

fn entries<'py>(py: Python<'py>, entries: &[LabelEntry<'_>]) -> PyResult<Bound<'py, PyList>> {
    let dicts = entries
        .iter()
        .map(|e| {
            let dict = PyDict::new(py);
            dict.set_item("label", &e.score.label)?;
            dict.set_item("score", f64::from(e.score.score))?;
            Ok(dict)
        })
        .collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, dicts)
}

impl Classifier {
    pub(crate) fn load(
        py: Python<'_>,
        model: PathBuf,
        threads: Option<usize>,
        verify: bool,
    ) -> PyResult<Self> {
        if threads == Some(0) {
            return Err(PyValueError::new_err("threads must be at least 1"));
        }
        let inner = py
            .detach(|| model_dir::load_with(&model, verify))
            .map_err(model_error)?;
        Ok(Self {
            inner: Arc::new(inner),
            pool: Pool::new(threads),
            model,
            verify,
            provenance: OnceLock::new(),
        })
    }
}

#[pymethods]
impl Classifier {
    #[new]
    #[pyo3(signature = (model, *, threads = None, verify = true))]
    fn new(py: Python<'_>, model: PathBuf, threads: Option<usize>, verify: bool) -> PyResult<Self> {
        Self::load(py, model, threads, verify)
    }

    /// The model's labels, in `id2label` order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.inner.labels().to_vec()
    }

    /// The model's token limit per text, `<s>` and `</s>` included (512 for XLM-R).
    #[getter]
    fn max_length(&self) -> usize {
        self.inner.max_input_tokens()
    }

    /// The size of the classifier's thread pool as asked for (`None`: one thread per core).
    #[getter]
    fn threads(&self) -> Option<usize> {
        self.pool.threads()
    }

    /// The model folder or bundle this classifier was loaded from.
    #[getter]
    fn model(&self) -> PathBuf {
        self.model.clone()
    }

    /// What results are computed with: `model_id`, `revision`, `weights_file`,
    /// `weights_sha256`, `precision`, `kernels`, `version` (the first use hashes the weights).
    #[getter]
    fn info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let provenance = match self.provenance.get() {
            Some(p) => p,
            None => {
                let p = py
                    .detach(|| Provenance::of(&self.model, &self.inner))
                    .map_err(model_error)?;
                self.provenance.get_or_init(|| p)
            }
        };
        let dict = PyDict::new(py);
        dict.set_item("model_id", &provenance.model_id)?;
        dict.set_item("revision", &provenance.revision)?;
        dict.set_item("weights_file", &provenance.weights_file)?;
        dict.set_item("weights_sha256", &provenance.weights_sha256)?;
        dict.set_item("precision", &provenance.precision)?;
        dict.set_item("kernels", &provenance.kernels)?;
        dict.set_item("version", provenance.version)?;
        Ok(dict)
    }

    /// Classifies `texts` (a str or a list of str) as `transformers.pipeline(
    /// "text-classification")` does, with the same answer shapes and options: `top_k`
    /// (absent: the best label, as the pipeline; `None`: every label, highest first; `k`: the
    /// k best, as one list per text), `function_to_apply` (`"softmax"`, `"sigmoid"`, `"none"`;
    /// default: the model config's), `truncation` (default True: a text over `max_length`
    /// tokens is cut; False: it is a `ValueError`). One difference: `preprocess` (default True)
    /// applies the model card's tweet preprocessing (`@user`, `http`), which the pipeline does
    /// not. Also `max_length` (a lower token limit) and `batch_size`.
    #[pyo3(signature = (texts, **options))]
    fn __call__<'py>(
        &self,
        py: Python<'py>,
        texts: &Bound<'py, PyAny>,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyList>> {
        let options = CallOptions::from_kwargs(options)?;
        let (texts, single) = texts_of(texts)?;
        let classifier = &self.inner;
        let outcomes = py
            .detach(|| {
                self.pool
                    .install(|| classifier.classify_each(&texts, &options.classify))
            })?
            .map_err(call_error)?;
        let predictions = outcomes
            .into_iter()
            .enumerate()
            .map(|(i, outcome)| {
                outcome.map_err(|e| {
                    let which = if single {
                        "the text".to_string()
                    } else {
                        format!("texts[{i}]")
                    };
                    match call_error(e) {
                        err if err.is_instance_of::<PyValueError>(py) => {
                            PyValueError::new_err(format!("{which}: {}", err.value(py)))
                        }
                        err => err,
                    }
                })
            })
            .collect::<PyResult<Vec<_>>>()?;
        match PipelineAnswer::transformers(&predictions, single, options.top_k, Case::Snake) {
            PipelineAnswer::One(list) | PipelineAnswer::Flat(list) => entries(py, &list),
            PipelineAnswer::Lists(lists) => PyList::new(
                py,
                lists
                    .iter()
                    .map(|l| entries(py, l))
                    .collect::<PyResult<Vec<_>>>()?,
            ),
        }
    }

    /// Classifies an Arrow string array; see the package's `classify_arrow`.
    #[pyo3(signature = (array, *, preprocess = true, truncation = true, max_length = None, batch_size = None))]
    fn classify_arrow<'py>(
        &self,
        py: Python<'py>,
        array: pyo3_arrow::input::AnyArray,
        preprocess: bool,
        truncation: bool,
        max_length: Option<usize>,
        batch_size: Option<usize>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let defaults = ClassifyOptions::default();
        let options = ClassifyOptions {
            preprocess,
            truncate: truncation,
            max_length,
            batch_size: batch_size.unwrap_or(defaults.batch_size),
            ..defaults
        };
        crate::arrow::classify(py, self, array, &options)
    }

    /// Pickles as its arguments: the unpickled copy loads the model again (from the same path,
    /// which must exist where it is unpickled), so Ray and Spark can ship a classifier.
    fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyTuple>> {
        let py = slf.py();
        let this = slf.get();
        let restore = py.import("xlmr_sentiment")?.getattr("_restore")?;
        let args = (this.model.clone(), this.pool.threads(), this.verify).into_pyobject(py)?;
        PyTuple::new(py, [restore, args.into_any()])
    }

    fn __repr__(&self) -> String {
        format!(
            "Classifier({:?}, threads={}, labels={:?})",
            self.model.display().to_string(),
            self.pool
                .threads()
                .map_or_else(|| "None".to_string(), |t| t.to_string()),
            self.inner.labels()
        )
    }
}
