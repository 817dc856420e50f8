"""Shared helpers of the Python package's tests: the repository's fixture models and their
golden outputs from transformers, and the bundles the test command packs."""

import json
import os
import shutil

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
MODELS = os.path.join(ROOT, "tests", "fixtures", "models")
FIXTURE_MODELS = ("tiny-sentiment", "tiny-multilabel", "tiny-score")
# Written by tests/run.sh (`xlmr-sentiment pack` at every precision) before these tests run.
BUNDLES = os.path.join(ROOT, "target", "bundles")


def model_dir(name):
    path = os.path.join(MODELS, name)
    assert os.path.isfile(os.path.join(path, "config.json")), f"fixture model {path} is missing"
    return path


def golden(name):
    with open(os.path.join(model_dir(name), "golden.json"), encoding="utf-8") as f:
        return json.load(f)


def labels(name):
    with open(os.path.join(model_dir(name), "config.json"), encoding="utf-8") as f:
        id2label = json.load(f)["id2label"]
    return [id2label[k] for k in sorted(id2label, key=int)]


def bundle(precision):
    path = os.path.join(BUNDLES, f"tiny-sentiment-{precision}.gguf")
    assert os.path.isfile(path), f"{path} is missing: tests/run.sh packs it with `xlmr-sentiment pack`"
    return path


@pytest.fixture
def copy_of(tmp_path):
    """A copy of a fixture model folder or bundle in a temporary folder, to damage."""

    def copy(source):
        target = tmp_path / os.path.basename(source)
        if os.path.isdir(source):
            shutil.copytree(source, target)
        else:
            shutil.copyfile(source, target)
        return target

    return copy
