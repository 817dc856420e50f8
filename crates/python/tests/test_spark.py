"""Spark on a local PySpark (local[2]): 20,000 rows in 4 partitions through mapInArrow, every
row back exactly once with its id and the in-process answer."""

import os
import sys

import pytest

pyspark = pytest.importorskip("pyspark", reason="tests/run.sh installs pyspark")

import xlmr_sentiment  # noqa: E402
from conftest import golden, model_dir  # noqa: E402
from xlmr_sentiment.spark import classify  # noqa: E402

ROWS = 20_000
MODEL = model_dir("tiny-sentiment")


@pytest.fixture(scope="module")
def spark():
    # Spark's Python workers run `python3` from PATH unless told: this interpreter has the
    # package and pyarrow.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("xlmr-sentiment-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    yield session
    session.stop()


def test_every_row_once_with_its_id(spark):
    texts = [row["text"] for row in golden("tiny-sentiment")["texts"]]
    rows = [(i, None if i % 997 == 0 else texts[i % len(texts)]) for i in range(ROWS)]
    df = spark.createDataFrame(rows, "id long, text string").repartition(4)
    assert df.rdd.getNumPartitions() == 4
    scored = classify(df, model=MODEL)
    assert scored.columns == ["id", "text", *xlmr_sentiment.RESULT_FIELDS]
    got = {row["id"]: row.asDict() for row in scored.collect()}
    assert sorted(got) == list(range(ROWS)), "every id exactly once"
    import pyarrow as pa

    want = xlmr_sentiment.Classifier(MODEL).classify_arrow(pa.array([t for _, t in rows])).to_pylist()
    for i in range(ROWS):
        result = {k: got[i][k] for k in xlmr_sentiment.RESULT_FIELDS}
        assert result == want[i], f"row {i}"


def test_column_errors_are_clear(spark):
    df = spark.createDataFrame([(1, "a")], "id long, body string")
    with pytest.raises(KeyError, match="no column 'text'"):
        classify(df, model=MODEL)
    df = spark.createDataFrame([("a", "x")], "text string, label string")
    with pytest.raises(ValueError, match="already has column"):
        classify(df, model=MODEL)
