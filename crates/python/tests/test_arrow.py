"""`classify_arrow`: Arrow strings in, one struct row per text out, errors in their rows."""

import pyarrow as pa
import pytest

import xlmr_sentiment
from conftest import FIXTURE_MODELS, golden, model_dir

TOLERANCE = 1e-4


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_every_golden_text_matches_transformers(name):
    clf = xlmr_sentiment.Classifier(model_dir(name))
    rows = golden(name)["texts"]
    result = clf.classify_arrow(pa.array([row["text"] for row in rows]))
    assert isinstance(result, pa.StructArray)
    assert [f.name for f in result.type] == list(xlmr_sentiment.RESULT_FIELDS)
    assert result.type.field("score").type == pa.float32()
    assert result.type.field("scores").type == pa.list_(pa.float32())
    for row, got in zip(rows, result.to_pylist()):
        assert got["error"] is None
        assert got["truncated"] == row["truncated"]
        for score, expected in zip(got["scores"], row["scores"]):
            assert abs(score - expected) <= TOLERANCE
        best = max(range(len(clf.labels)), key=lambda i: got["scores"][i])
        assert got["label"] == clf.labels[best] and got["score"] == got["scores"][best]


def test_same_answers_as_the_pipeline_call():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"]]
    arrow = clf.classify_arrow(pa.array(texts)).to_pylist()
    for got, best in zip(arrow, clf(texts)):
        assert got["label"] == best["label"]
        assert abs(got["score"] - best["score"]) <= 1e-6


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string(), pa.string_view()])
def test_every_string_type_with_nulls_in_their_rows(kind):
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    texts = ["I love this!", None, "", "Schrecklich."]
    result = clf.classify_arrow(pa.array(texts, type=kind)).to_pylist()
    assert len(result) == 4
    assert result[1] == {"label": None, "score": None, "scores": None, "truncated": None, "error": "the text is null"}
    for i in (0, 2, 3):
        assert result[i]["error"] is None and result[i]["label"] in clf.labels
    plain = clf.classify_arrow(pa.array(["I love this!", "", "Schrecklich."])).to_pylist()
    assert [result[i] for i in (0, 2, 3)] == plain, "a null row does not move the others"


def test_chunked_array_gives_chunked_result():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    chunked = pa.chunked_array([["a", "b"], ["c"], []])
    result = clf.classify_arrow(chunked)
    assert isinstance(result, pa.ChunkedArray)
    assert [len(c) for c in result.chunks] == [2, 1, 0]
    assert result.to_pylist() == clf.classify_arrow(pa.array(["a", "b", "c"])).to_pylist()


def test_over_long_rows_without_truncation_get_errors_not_exceptions():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-multilabel"))
    result = clf.classify_arrow(pa.array(["short", "word " * 200]), truncation=False).to_pylist()
    assert result[0]["error"] is None
    assert "more than the limit of 32" in result[1]["error"] and result[1]["label"] is None
    assert clf.classify_arrow(pa.array(["word " * 200])).to_pylist()[0]["truncated"] is True


def test_not_a_string_array_is_a_type_error():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    with pytest.raises(TypeError, match="string array"):
        clf.classify_arrow(pa.array([1, 2, 3]))
    with pytest.raises(ValueError):
        clf.classify_arrow(["not", "arrow"])
    with pytest.raises(ValueError, match="max_length"):
        clf.classify_arrow(pa.array(["a"]), max_length=100_000)
