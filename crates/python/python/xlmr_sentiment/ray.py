"""Ray Data: ``ds.map_batches(SentimentPredictor, ...)`` classifies a dataset's text column.

::

    import ray
    from xlmr_sentiment.ray import SentimentPredictor

    ds = ray.data.read_parquet("s3://bucket/texts/")
    scored = ds.map_batches(
        SentimentPredictor,
        fn_constructor_kwargs={"model": "/models/sentiment-q8_0.gguf", "threads": 1},
        concurrency=8,          # actors: each loads the model once
        num_cpus=1,             # as many as `threads`
        batch_format="pyarrow",
    )

Each batch keeps every input column and gets ``label``, ``score``, ``scores``, ``truncated`` and
``error`` appended; a null or unclassifiable text gets its ``error`` and never fails the job.
"""

from typing import Optional

import pyarrow as pa

from . import RESULT_FIELDS, Classifier, _checked_options

__all__ = ["SentimentPredictor"]


class SentimentPredictor:
    """A callable class for ``Dataset.map_batches``: one ``Classifier`` per actor.

    ``model`` must be readable on every node (a shared path, or a file that Ray's runtime env
    ships). ``threads`` sizes the actor's own pool: give ``map_batches`` the same ``num_cpus``.
    Other keywords (``preprocess``, ``truncation``, ``max_length``, ``batch_size``) go to
    ``Classifier.classify_arrow``.
    """

    def __init__(
        self,
        model: str,
        *,
        text_column: str = "text",
        threads: Optional[int] = 1,
        verify: bool = True,
        **options,
    ) -> None:
        self.classifier = Classifier(model, threads=threads, verify=verify)
        self.text_column = text_column
        self.options = _checked_options(options, self.classifier)

    def __call__(self, batch) -> pa.Table:
        table = _as_table(batch)
        if self.text_column not in table.column_names:
            raise KeyError(
                f"no column {self.text_column!r} in the batch (columns: {', '.join(table.column_names)}); "
                "pass text_column= to SentimentPredictor"
            )
        clash = [name for name in RESULT_FIELDS if name in table.column_names]
        if clash:
            raise ValueError(f"the batch already has column(s) {', '.join(clash)}, which the results would replace")
        results = self.classifier.classify_arrow(table.column(self.text_column), **self.options)
        for name, column in zip(RESULT_FIELDS, results.flatten()):
            table = table.append_column(name, column)
        return table


def _as_table(batch) -> pa.Table:
    """A batch in any of Ray's formats as a ``pyarrow.Table``."""
    if isinstance(batch, pa.Table):
        return batch
    if isinstance(batch, pa.RecordBatch):
        return pa.Table.from_batches([batch])
    if isinstance(batch, dict):
        return pa.table(batch)
    if type(batch).__name__ == "DataFrame":  # pandas, without importing it
        return pa.Table.from_pandas(batch, preserve_index=False)
    raise TypeError(f"a batch must be a pyarrow Table, a dict of columns or a pandas DataFrame, not {type(batch).__name__}")
