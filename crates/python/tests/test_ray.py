"""Ray Data on a local Ray: 20,000 rows in several blocks through two actors, every row back
exactly once with its id and the in-process answer, also when an actor dies mid-job."""

import os
import sys

import pyarrow as pa
import pytest

ray = pytest.importorskip("ray", reason="tests/run.sh installs ray[data]")

import xlmr_sentiment  # noqa: E402
from conftest import golden, model_dir  # noqa: E402
from xlmr_sentiment.ray import SentimentPredictor  # noqa: E402

ROWS = 20_000
MODEL = model_dir("tiny-sentiment")


@pytest.fixture(scope="module")
def local_ray():
    # More logical CPUs than actors: an actor pool holding every CPU stalls Ray Data's
    # all-to-all steps (../shared/REFERENCE.md).
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    yield
    ray.shutdown()


def table():
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"]]
    column = [None if i % 997 == 0 else texts[i % len(texts)] for i in range(ROWS)]
    return pa.table({"id": pa.array(range(ROWS), pa.int64()), "text": column, "shard": [i % 7 for i in range(ROWS)]})


def expected():
    data = table()
    return xlmr_sentiment.Classifier(MODEL).classify_arrow(data.column("text")).to_pylist()


def check(rows, want):
    assert len(rows) == ROWS
    by_id = {}
    for row in rows:
        assert row["id"] not in by_id, f"id {row['id']} twice"
        by_id[row["id"]] = row
    assert sorted(by_id) == list(range(ROWS)), "every id exactly once"
    for i in range(ROWS):
        got, exp = by_id[i], want[i]
        assert got["shard"] == i % 7, "input columns kept"
        assert {k: got[k] for k in xlmr_sentiment.RESULT_FIELDS} == exp, f"row {i}"
    assert sum(1 for r in rows if r["error"] == "the text is null") == len(range(0, ROWS, 997))


def test_two_actors_every_row_once(local_ray):
    ds = ray.data.from_arrow(table()).repartition(8)
    scored = ds.map_batches(
        SentimentPredictor,
        fn_constructor_kwargs={"model": MODEL, "threads": 1},
        concurrency=2,
        num_cpus=1,
        batch_format="pyarrow",
        batch_size=1024,
    )
    check(scored.take_all(), expected())


class DyingOnce(SentimentPredictor):
    """Kills its own actor process on its third batch, once per job (a marker file says)."""

    def __init__(self, marker, **kwargs):
        super().__init__(**kwargs)
        self.marker = marker
        self.batches = 0

    def __call__(self, batch):
        self.batches += 1
        if self.batches == 3 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            os._exit(1)
        return super().__call__(batch)


def test_an_actor_killed_mid_job_loses_no_row(local_ray, tmp_path):
    marker = str(tmp_path / "died")
    ds = ray.data.from_arrow(table()).repartition(8)
    scored = ds.map_batches(
        DyingOnce,
        fn_constructor_kwargs={"marker": marker, "model": MODEL, "threads": 1},
        concurrency=2,
        num_cpus=1,
        batch_format="pyarrow",
        batch_size=1024,
    )
    rows = scored.take_all()
    assert os.path.exists(marker), "an actor died during the job"
    check(rows, expected())
