"""The installed wheel as pip laid it out: both licenses, the type stubs and py.typed."""

import importlib.metadata
import os

import xlmr_sentiment
from conftest import ROOT


def test_the_wheel_carries_licenses_stubs_and_its_version():
    dist = importlib.metadata.distribution("xlmr-sentiment")
    files = {str(f).replace(os.sep, "/") for f in dist.files}
    for name in ("LICENSE-MIT", "LICENSE-APACHE"):
        found = [f for f in files if f.endswith(f"/licenses/{name}")]
        assert found, f"{name} in the wheel's dist-info: {sorted(files)}"
        with open(dist.locate_file(found[0]), encoding="utf-8") as got, open(os.path.join(ROOT, name), encoding="utf-8") as want:
            assert got.read() == want.read(), f"{name} is the repository's"
    for name in ("xlmr_sentiment/py.typed", "xlmr_sentiment/_native.pyi", "xlmr_sentiment/__init__.pyi"):
        assert name in files, name
    assert dist.version == xlmr_sentiment.__version__
    assert dist.metadata["License-Expression"] == "MIT OR Apache-2.0"
