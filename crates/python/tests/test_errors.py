"""Bad input and damaged models: each a clear exception of the right type, never a crash."""

import hashlib
import multiprocessing
import os

import pytest

import xlmr_sentiment
from conftest import bundle, golden, model_dir


@pytest.fixture(scope="module")
def clf():
    return xlmr_sentiment.Classifier(model_dir("tiny-sentiment"))


@pytest.mark.parametrize(
    "texts, message",
    [
        (None, "texts must be a str or a list of str, not None"),
        (42, "not int"),
        (b"bytes", "not bytes"),
        ([None], r"texts\[0\] is None, not str"),
        (["ok", 3.5], r"texts\[1\] is float, not str"),
        ({"text": "a"}, "not dict"),
    ],
)
def test_texts_of_the_wrong_type(clf, texts, message):
    with pytest.raises(TypeError, match=message):
        clf(texts)


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"top_k": 0}, ValueError, "top_k must be at least 1"),
        ({"top_k": -1}, ValueError, "top_k must be at least 1"),
        ({"top_k": "2"}, TypeError, "top_k must be a positive int or None"),
        ({"top_k": True}, TypeError, "not bool"),
        ({"function_to_apply": "relu"}, ValueError, "function_to_apply must be"),
        ({"max_length": 100_000}, ValueError, "exceeds the model's limit"),
        ({"batch_size": 0}, ValueError, "batch_size must be at least 1"),
        ({"truncate": True}, TypeError, "unexpected keyword argument 'truncate'"),
        ({"preprocess": "yes"}, TypeError, "preprocess must be a bool"),
    ],
)
def test_bad_options(clf, kwargs, error, message):
    with pytest.raises(error, match=message):
        clf("text", **kwargs)


def test_function_to_apply_any_case(clf):
    assert clf("a", function_to_apply="SOFTMAX") == clf("a", function_to_apply="softmax")


def test_missing_model_names_the_path(tmp_path):
    with pytest.raises(xlmr_sentiment.ModelError, match="no-such-model"):
        xlmr_sentiment.Classifier(tmp_path / "no-such-model")
    with pytest.raises(ValueError, match="threads must be at least 1"):
        xlmr_sentiment.Classifier(model_dir("tiny-sentiment"), threads=0)
    assert issubclass(xlmr_sentiment.ModelError, Exception)


def test_truncated_weights_are_a_model_error(copy_of):
    folder = copy_of(model_dir("tiny-sentiment"))
    os.remove(folder / "pytorch_model.bin")
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    with pytest.raises(xlmr_sentiment.ModelError, match="corrupt safetensors weights"):
        xlmr_sentiment.Classifier(folder)


def test_folder_without_tokenizer_is_a_model_error(copy_of):
    folder = copy_of(model_dir("tiny-sentiment"))
    os.remove(folder / "tokenizer.json")
    os.remove(folder / "sentencepiece.bpe.model")
    with pytest.raises(xlmr_sentiment.ModelError, match="tokenizer"):
        xlmr_sentiment.Classifier(folder)


def test_tampered_bundle_is_refused_unless_verify_is_off(copy_of):
    path = copy_of(bundle("q8_0"))
    data = bytearray(path.read_bytes())
    (path.parent / (path.name + ".sha256")).write_text(f"{hashlib.sha256(data).hexdigest()}  {path.name}\n")
    assert xlmr_sentiment.Classifier(path).labels  # intact: loads
    at = data.index(b"xlm-roberta")  # general.architecture, which no reader uses
    data[at + 10] = ord("b")
    path.write_bytes(bytes(data))
    with pytest.raises(xlmr_sentiment.ModelError, match="sha256|SHA-256"):
        xlmr_sentiment.Classifier(path)
    xlmr_sentiment.Classifier(path, verify=False)  # the user's call: it loads
    data[-100] ^= 0x10  # inside the tensors: the bundle's own digest refuses it anyway
    path.write_bytes(bytes(data))
    with pytest.raises(xlmr_sentiment.ModelError, match="does not match the digest"):
        xlmr_sentiment.Classifier(path, verify=False)


def test_cut_bundle_is_a_model_error(copy_of):
    path = copy_of(bundle("q8_0"))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    with pytest.raises(xlmr_sentiment.ModelError):
        xlmr_sentiment.Classifier(path)


def classify_in_child(queue):
    queue.put(CLASSIFIER("I love this!", top_k=None))


def test_works_in_a_forked_child_after_use_in_the_parent():
    global CLASSIFIER
    CLASSIFIER = xlmr_sentiment.Classifier(model_dir("tiny-sentiment"), threads=2)
    expected = CLASSIFIER("I love this!", top_k=None)  # the parent's pool now has threads
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=classify_in_child, args=(queue,))
    child.start()
    child.join(60)
    assert child.exitcode == 0, "the child finished (a pool inherited from the parent would hang)"
    assert queue.get(timeout=5) == expected


def test_every_golden_text_classifies_without_error(clf):
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"]]
    assert len(clf(texts)) == len(texts)
