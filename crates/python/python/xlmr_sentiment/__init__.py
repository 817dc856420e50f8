"""On-device multilingual sentiment classification (XLM-RoBERTa sequence classifiers).

``Classifier(model)`` loads a model folder or a ``.gguf`` bundle once; calling it answers like
``transformers.pipeline("text-classification")``. ``Classifier.classify_arrow`` takes an Arrow
string array and returns one struct row per text. ``xlmr_sentiment.ray`` and
``xlmr_sentiment.spark`` run it as Ray Data and Spark batch jobs.
"""

from ._native import Classifier, ModelError, __version__

__all__ = ["ARROW_OPTIONS", "Classifier", "ModelError", "RESULT_FIELDS", "__version__"]

#: The columns ``classify_arrow``'s struct has, and that the Ray and Spark helpers append.
RESULT_FIELDS = ("label", "score", "scores", "truncated", "error")


def _restore(model, threads, verify):
    """Unpickles a ``Classifier``: loads the model again from its path."""
    return Classifier(model, threads=threads, verify=verify)


#: The keywords of ``Classifier.classify_arrow`` that the Ray and Spark helpers pass on.
ARROW_OPTIONS = ("preprocess", "truncation", "max_length", "batch_size")


def _checked_options(options, classifier=None):
    """``options`` for ``classify_arrow``: an unknown name is a ``TypeError`` where it is given,
    not in a worker; with a ``classifier``, the values are tried once on no rows as well."""
    unknown = sorted(set(options) - set(ARROW_OPTIONS))
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) {', '.join(unknown)} (known: {', '.join(ARROW_OPTIONS)})")
    if classifier is not None:
        import pyarrow as pa

        classifier.classify_arrow(pa.array([], pa.string()), **options)
    return dict(options)
