"""Spark: ``classify(df, model=...)`` appends sentiment columns to a DataFrame.

::

    from xlmr_sentiment.spark import classify

    scored = classify(spark.read.parquet("texts/"), model="/models/sentiment-q8_0.gguf")

It runs through ``DataFrame.mapInArrow``: each Python worker loads the model once and reuses it
for every Arrow batch of every task it runs. ``model`` is a path readable on every executor, or
the name of a file or folder shipped with ``SparkContext.addFile`` (looked up with
``SparkFiles.get`` where the path does not exist).
"""

import os
from typing import Dict, Iterator, Optional, Tuple

import pyarrow as pa

from . import RESULT_FIELDS, Classifier, _checked_options

__all__ = ["classify", "result_schema"]

# One classifier per Python worker process and set of load arguments, kept across tasks (Spark
# reuses its Python workers).
_LOADED: Dict[Tuple[str, Optional[int], bool], Classifier] = {}


def _worker_classifier(model: str, threads: Optional[int], verify: bool) -> Classifier:
    key = (model, threads, verify)
    if key not in _LOADED:
        path = model
        if not os.path.exists(path):
            from pyspark import SparkFiles

            path = SparkFiles.get(model)
        _LOADED[key] = Classifier(path, threads=threads, verify=verify)
    return _LOADED[key]


def result_schema():
    """The Spark types of the appended columns, in order."""
    from pyspark.sql.types import ArrayType, BooleanType, FloatType, StringType, StructField

    return [
        StructField("label", StringType(), True),
        StructField("score", FloatType(), True),
        StructField("scores", ArrayType(FloatType(), True), True),
        StructField("truncated", BooleanType(), True),
        StructField("error", StringType(), True),
    ]


def classify(
    df,
    *,
    model: str,
    text_column: str = "text",
    threads: Optional[int] = 1,
    verify: bool = True,
    **options,
):
    """``df`` with ``label``, ``score``, ``scores``, ``truncated`` and ``error`` appended.

    ``threads`` is each worker's pool size: match ``spark.task.cpus``. Other keywords
    (``preprocess``, ``truncation``, ``max_length``, ``batch_size``) go to
    ``Classifier.classify_arrow``. A null or unclassifiable text gets its ``error`` and never
    fails the job.
    """
    from pyspark.sql.types import StructType

    names = df.schema.fieldNames()
    if text_column not in names:
        raise KeyError(f"no column {text_column!r} in the DataFrame (columns: {', '.join(names)})")
    clash = [name for name in RESULT_FIELDS if name in names]
    if clash:
        raise ValueError(f"the DataFrame already has column(s) {', '.join(clash)}, which the results would replace")
    schema = StructType(df.schema.fields + result_schema())
    # Names checked on the driver, so a misspelt option fails before any task runs.
    options = _checked_options(options)

    def predict(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        classifier = _worker_classifier(model, threads, verify)
        for batch in batches:
            results = classifier.classify_arrow(batch.column(text_column), **options)
            yield pa.RecordBatch.from_arrays(
                list(batch.columns) + results.flatten(),
                names=list(batch.schema.names) + list(RESULT_FIELDS),
            )

    return df.mapInArrow(predict, schema)
