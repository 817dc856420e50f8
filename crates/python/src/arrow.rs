//! `classify_arrow`: an Arrow string array in (utf8, large_utf8 or string_view, from any
//! producer of the Arrow PyCapsule interface, read in place), a struct array out with one row
//! per input row: `label`, `score`, `scores` (every label's score in `labels` order),
//! `truncated`, `error`. A null or unclassifiable text gets its error in its row; no Python
//! object is made per row.

use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, Float32Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::{Array, ArrayRef, StructArray};
use arrow_schema::{DataType, Field, Fields};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3_arrow::input::AnyArray;
use pyo3_arrow::{PyArray, PyChunkedArray};
use xlmr_sentiment_core::ClassifyOptions;

use crate::classifier::Classifier;
use crate::error::call_error;

/// What a null input row gets in its `error` field.
const NULL_TEXT: &str = "the text is null";

/// The fields of the result struct.
fn fields() -> Fields {
    Fields::from(vec![
        Field::new("label", DataType::Utf8, true),
        Field::new("score", DataType::Float32, true),
        Field::new(
            "scores",
            DataType::List(Arc::new(Field::new("item", DataType::Float32, true))),
            true,
        ),
        Field::new("truncated", DataType::Boolean, true),
        Field::new("error", DataType::Utf8, true),
    ])
}

/// Classifies every chunk of `array` with the GIL released; an `Array` in gives a
/// `pyarrow.StructArray`, a stream (a `ChunkedArray`) a `pyarrow.ChunkedArray` of them.
pub(crate) fn classify<'py>(
    py: Python<'py>,
    classifier: &Classifier,
    array: AnyArray,
    options: &ClassifyOptions,
) -> PyResult<Bound<'py, PyAny>> {
    let single = matches!(array, AnyArray::Array(_));
    let (chunks, field) = array.into_chunked_array()?.into_inner();
    if !matches!(
        field.data_type(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    ) {
        return Err(PyTypeError::new_err(format!(
            "classify_arrow takes a string array (utf8, large_utf8 or string_view), not {}",
            field.data_type()
        )));
    }
    classifier
        .inner
        .check_options(options)
        .map_err(call_error)?;
    let model = &classifier.inner;
    let results = py
        .detach(|| {
            classifier.pool.install(|| {
                chunks
                    .iter()
                    .map(|chunk| classify_chunk(model, chunk, options))
                    .collect::<xlmr_sentiment_core::Result<Vec<ArrayRef>>>()
            })
        })?
        .map_err(call_error)?;
    let out_field = Arc::new(Field::new(field.name(), DataType::Struct(fields()), false));
    if single {
        let array = results.into_iter().next().expect("one chunk for one array");
        // pyarrow.array(x) imports any object with __arrow_c_array__.
        let exported = PyArray::new(array, out_field).into_pyobject(py)?;
        py.import("pyarrow")?.getattr("array")?.call1((exported,))
    } else {
        PyChunkedArray::try_new(results, out_field)?.into_pyarrow(py)
    }
}

/// One chunk's rows, in order.
fn classify_chunk(
    classifier: &xlmr_sentiment_core::Classifier,
    chunk: &ArrayRef,
    options: &ClassifyOptions,
) -> xlmr_sentiment_core::Result<ArrayRef> {
    let texts: Vec<Option<&str>> = match chunk.data_type() {
        DataType::Utf8 => chunk.as_string::<i32>().iter().collect(),
        DataType::LargeUtf8 => chunk.as_string::<i64>().iter().collect(),
        DataType::Utf8View => chunk.as_string_view().iter().collect(),
        other => unreachable!("checked before: {other}"),
    };
    let present: Vec<&str> = texts.iter().flatten().copied().collect();
    let mut outcomes = classifier.classify_each(&present, options)?.into_iter();
    let rows: Vec<Result<_, String>> = texts
        .iter()
        .map(|text| match text {
            None => Err(NULL_TEXT.to_string()),
            Some(_) => outcomes
                .next()
                .expect("one outcome per present text")
                .map_err(|e| e.to_string()),
        })
        .collect::<Vec<Result<_, _>>>();
    Ok(Arc::new(rows_to_struct(classifier.labels().len(), rows)))
}

/// The result struct of `rows`, each a prediction or its error.
fn rows_to_struct(
    labels: usize,
    rows: Vec<Result<xlmr_sentiment_core::Prediction, String>>,
) -> StructArray {
    let n = rows.len();
    let mut label = StringBuilder::with_capacity(n, n * 8);
    let mut score = Float32Builder::with_capacity(n);
    let mut scores = ListBuilder::with_capacity(Float32Builder::with_capacity(n * labels), n);
    let mut truncated = BooleanBuilder::with_capacity(n);
    let mut error = StringBuilder::new();
    for row in rows {
        match row {
            Ok(p) => {
                label.append_value(&p.label);
                score.append_value(p.score);
                for s in &p.scores {
                    scores.values().append_value(s.score);
                }
                scores.append(true);
                truncated.append_value(p.truncated);
                error.append_null();
            }
            Err(e) => {
                label.append_null();
                score.append_null();
                scores.append(false);
                truncated.append_null();
                error.append_value(e);
            }
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(label.finish()),
        Arc::new(score.finish()),
        Arc::new(scores.finish()),
        Arc::new(truncated.finish()),
        Arc::new(error.finish()),
    ];
    StructArray::new(fields(), columns, None)
}
