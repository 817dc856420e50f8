"""`Classifier(...)(texts, ...)` against transformers: every golden text of every fixture model
within 1e-4, and the pipeline's answer shapes recorded from transformers itself
(tests/fixtures/pipeline_shapes.py)."""

import json
import os
import pickle

import pytest

import xlmr_sentiment
from conftest import FIXTURE_MODELS, ROOT, bundle, golden, labels, model_dir

TOLERANCE = 1e-4


@pytest.mark.parametrize("name", FIXTURE_MODELS)
def test_every_golden_text_matches_transformers(name):
    clf = xlmr_sentiment.Classifier(model_dir(name))
    assert clf.labels == labels(name)
    rows = golden(name)["texts"]
    answers = clf([row["text"] for row in rows], top_k=None)
    assert len(answers) == len(rows)
    for row, answer in zip(rows, answers):
        scores = {entry["label"]: entry["score"] for entry in answer}
        assert list(scores) == sorted(scores, key=scores.get, reverse=True), "highest first"
        for label, expected in zip(clf.labels, row["scores"]):
            assert abs(scores[label] - expected) <= TOLERANCE, (name, row["text"][:40], label)


def same_shape(ours, theirs, where):
    """Equal nesting and lengths, labels in the same order, scores within the tolerance."""
    assert type(ours) is type(theirs), f"{where}: {type(ours).__name__} vs {type(theirs).__name__}"
    if isinstance(theirs, list):
        assert len(ours) == len(theirs), f"{where}: {len(ours)} vs {len(theirs)} items"
        for i, (a, b) in enumerate(zip(ours, theirs)):
            same_shape(a, b, f"{where}[{i}]")
    else:
        assert set(ours) == set(theirs) == {"label", "score"}, where
        assert ours["label"] == theirs["label"], f"{where}: {ours['label']} vs {theirs['label']}"
        assert abs(ours["score"] - theirs["score"]) <= TOLERANCE, f"{where}: {ours['score']} vs {theirs['score']}"


def recorded_cases():
    with open(os.path.join(ROOT, "tests", "fixtures", "pipeline-shapes.json"), encoding="utf-8") as f:
        recorded = json.load(f)
    return [pytest.param(case, id=f"{case['model']}-{i}") for i, case in enumerate(recorded["cases"])]


@pytest.mark.parametrize("case", recorded_cases())
def test_answer_shapes_equal_the_pipelines(case):
    clf = xlmr_sentiment.Classifier(model_dir(case["model"]))
    # The pipeline never preprocesses; ours does by default (the one documented difference).
    ours = clf(case["texts"], preprocess=False, **case["kwargs"])
    same_shape(ours, case["answer"], f"{case['model']} {case['kwargs']}")


def test_shapes_by_hand():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    one = clf("I love this!")
    assert isinstance(one, list) and len(one) == 1 and set(one[0]) == {"label", "score"}
    assert len(clf(["a", "b"])) == 2 and all(isinstance(x, dict) for x in clf(["a", "b"]))
    assert [len(x) for x in clf(["a", "b"], top_k=1)] == [1, 1]
    assert len(clf("a", top_k=None)) == 3 and isinstance(clf("a", top_k=None)[0], dict)
    assert clf([]) == [] and clf([], top_k=None) == []
    assert clf(("a", "b")) == clf(["a", "b"]), "a tuple is a list of texts"


def test_preprocessing_is_on_by_default_and_can_be_turned_off():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))
    text = "@someone look at https://example.com/x"
    assert clf(text, top_k=None) == clf("@user look at http", top_k=None, preprocess=False)
    assert clf(text, top_k=None, preprocess=False) != clf(text, top_k=None)


def test_truncation_off_refuses_an_over_long_text():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-multilabel"))  # a 32-token limit
    long = "word " * 200
    assert clf(long)  # truncated by default
    with pytest.raises(ValueError, match=r"texts\[1\]: the text has \d+ tokens, more than the limit of 32"):
        clf(["short", long], truncation=False)
    assert clf.max_length == 32


def test_bundle_loads_and_info_traces_it():
    clf = xlmr_sentiment.Classifier(bundle("q8_0"))
    info = clf.info
    assert info["precision"] == "q8_0"
    assert len(info["weights_sha256"]) == 64
    assert info["version"] == xlmr_sentiment.__version__
    assert "attention" in info["kernels"]
    assert clf.labels == labels("tiny-sentiment")
    folder = xlmr_sentiment.Classifier(model_dir("tiny-sentiment")).info
    assert folder["precision"] == "f32" and folder["weights_file"].endswith(("model.safetensors", "pytorch_model.bin"))


def test_pickles_as_its_arguments():
    clf = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"), threads=1)
    copy = pickle.loads(pickle.dumps(clf))
    assert copy.threads == 1 and copy.model == clf.model
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"][:20]]
    assert copy(texts, top_k=None) == clf(texts, top_k=None)


def test_threads_do_not_change_scores():
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"]]
    one = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"), threads=1)(texts, top_k=None)
    two = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"), threads=2)(texts, top_k=None)
    for a, b in zip(one, two):
        for x, y in zip(a, b):
            assert x["label"] == y["label"] and abs(x["score"] - y["score"]) <= 1e-6
