#!/usr/bin/env python3
"""One run of bench/python.sh (read its header first), printing ONE JSON row on stdout; or, with
--report, the results file and its table from those rows.

    python bench/python_bench.py --engine wheel --model M --threads T [--quick]
    python bench/python_bench.py --engine pipeline --model DIR --threads T [--quick]
    python bench/python_bench.py --engine ray|spark --model M --rows N
    python bench/python_bench.py --report ROWS.jsonl --out FILE [--quick]

In-process engines (the wheel, transformers' pipeline) follow bench/peers.py's throughput pass:
the 256 texts of 20-47 tokens (64 with --quick), in file order, in consecutive batches of 16,
after one warm-up batch; texts over the total time. Each call goes from texts to every label's
score (`top_k=None`). The wheel runs with its defaults (the card's preprocessing, a no-op on
these texts, as in the CLI's `bench`), the pipeline with `truncation=True`.

Jobs (Ray Data, Spark) classify N rows (the throughput texts repeated) from the moment the job
is defined until every result is back, the workers' model loads included (Ray and the Spark
session are started before the clock). Ray: 2 actors x 1 thread, `ray.init(num_cpus=4)` (see
../shared/REFERENCE.md), 8 blocks; Spark: `local[2]`, 2 partitions, one thread per task.

Rows: {"engine", "kind" ("in-process" or "job"), "precision", "threads", "texts",
"texts_per_s", "load_s" (in-process only), "peak_rss_mb" (in-process only)}.
"""

import argparse
import datetime
import json
import os
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from procstat import peak_rss_mb  # noqa: E402
TEXTS = os.path.join(ROOT, "target", "bench", "texts.json")
BATCH = 16


def throughput_texts(quick):
    with open(TEXTS, encoding="utf-8") as f:
        texts = json.load(f)["throughput_texts"]
    return texts[:64] if quick else texts


def timed_batches(call, texts):
    call(texts[:BATCH])  # warm-up
    start = time.perf_counter()
    for i in range(0, len(texts), BATCH):
        call(texts[i : i + BATCH])
    return len(texts) / (time.perf_counter() - start)


def precision_of(model):
    return "int8" if model.endswith("q8_0.gguf") else "q4" if model.endswith("q4.gguf") else "f32"


def in_process(args):
    texts = throughput_texts(args.quick)
    start = time.perf_counter()
    if args.engine == "wheel":
        from xlmr_sentiment import Classifier

        clf = Classifier(args.model, threads=args.threads)
        clf(texts[:1], top_k=None)
        load_s = time.perf_counter() - start
        rate = timed_batches(lambda batch: clf(batch, top_k=None), texts)
    else:
        import torch
        from transformers import pipeline

        torch.set_num_threads(args.threads)
        pipe = pipeline("text-classification", model=args.model, device="cpu", top_k=None)
        with torch.inference_mode():
            pipe(texts[:1], truncation=True)
            load_s = time.perf_counter() - start
            rate = timed_batches(lambda batch: pipe(batch, batch_size=BATCH, truncation=True), texts)
    return {
        "engine": "xlmr-sentiment wheel" if args.engine == "wheel" else "transformers pipeline",
        "kind": "in-process",
        "precision": precision_of(args.model),
        "threads": args.threads,
        "texts": len(texts),
        "texts_per_s": round(rate, 2),
        "load_s": round(load_s, 2),
        "peak_rss_mb": round(peak_rss_mb()),
    }


def job_rows(n):
    texts = throughput_texts(False)
    return [(i, texts[i % len(texts)]) for i in range(n)]


def ray_job(args):
    import pyarrow as pa
    import ray
    from xlmr_sentiment.ray import SentimentPredictor

    rows = job_rows(args.rows)
    ray.init(num_cpus=4, include_dashboard=False, log_to_driver=False)
    table = pa.table({"id": [r[0] for r in rows], "text": [r[1] for r in rows]})
    start = time.perf_counter()
    ds = ray.data.from_arrow(table).repartition(8).map_batches(
        SentimentPredictor,
        fn_constructor_kwargs={"model": args.model, "threads": 1},
        concurrency=2,
        num_cpus=1,
        batch_format="pyarrow",
        batch_size=256,
    )
    done = sum(len(b) for b in ds.iter_batches(batch_format="pyarrow", batch_size=None))
    wall = time.perf_counter() - start
    ray.shutdown()
    assert done == len(rows), f"{done} rows back of {len(rows)}"
    return job_row("ray data (2 actors x 1 thread)", args, wall)


def spark_job(args):
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession
    from pyspark.sql import functions as F
    from xlmr_sentiment.spark import classify

    spark = (
        SparkSession.builder.master("local[2]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    df = spark.createDataFrame(job_rows(args.rows), "id long, text string").repartition(2).cache()
    df.count()
    start = time.perf_counter()
    out = classify(df, model=args.model).agg(F.count("label"), F.sum("score")).collect()
    wall = time.perf_counter() - start
    spark.stop()
    assert out[0][0] == args.rows, f"{out[0][0]} labels back of {args.rows}"
    return job_row("spark (local[2])", args, wall)


def job_row(engine, args, wall):
    return {
        "engine": engine,
        "kind": "job",
        "precision": precision_of(args.model),
        "threads": 2,
        "texts": args.rows,
        "texts_per_s": round(args.rows / wall, 2),
    }


def report(args):
    sys.path.insert(0, HERE)
    import report as native_report

    with open(args.report, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    results = {
        "kind": "python",
        "machine": {**native_report.cpu_info(), "logical_cpus": os.cpu_count(), "memory_gib": native_report.memory_gib()},
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "quick": args.quick,
        "rows": rows,
    }
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    table = tables(results, native_report.machine_line(results))
    md = os.path.splitext(args.out)[0] + ".md"
    with open(md, "w", encoding="utf-8") as f:
        f.write(
            f"# Python benchmark: `{os.path.basename(args.out)}`\n\nWritten by `bench/python_bench.py --report` "
            "(run `bench/python.sh`); do not edit by hand. The full-size random model (the real model's "
            "shapes; speed is the real model's, labels meaningless).\n\n" + table + "\n"
        )
    print(table)
    print(f"written: {args.out} and {md}", file=sys.stderr)


def tables(results, machine):
    rows = results["rows"]
    cli_batch = "xlmr-sentiment CLI batch job (2 threads)"

    def find(engine, kind, precision, threads):
        return next((r for r in rows if r["engine"] == engine and r["kind"] == kind
                     and r["precision"] == precision and r["threads"] == threads), None)

    def reference(r):
        """The row each target compares with, and the target."""
        if r["engine"] == "xlmr-sentiment wheel":
            return find("xlmr-sentiment CLI", "in-process", r["precision"], r["threads"]), "the CLI in-process, target 0.95x"
        if r["kind"] == "job" and r["engine"] != cli_batch:
            return find(cli_batch, "job", r["precision"], 2), "the CLI batch job, target 0.85x"
        return None, ""

    lines = [machine, "", "| engine | kind | precision | threads | texts | texts/s | load s | peak RSS MB | ratio | to |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        ref, to = reference(r)
        cells = [r["engine"], r["kind"], r["precision"], str(r["threads"]), str(r["texts"]), f"{r['texts_per_s']:.1f}",
                 "" if r.get("load_s") is None else f"{r['load_s']:.2f}",
                 "" if r.get("peak_rss_mb") is None else str(r["peak_rss_mb"]),
                 f"{r['texts_per_s'] / ref['texts_per_s']:.2f}x" if ref else "", to if ref else ""]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    for threads in sorted({r["threads"] for r in rows if r["kind"] == "in-process"}):
        wheel = find("xlmr-sentiment wheel", "in-process", "int8", threads)
        pipe = find("transformers pipeline", "in-process", "f32", threads)
        ort = find("onnxruntime (Python)", "in-process", "int8", threads)
        if wheel and pipe:
            lines.append(f"- {threads} thread(s): the wheel's int8 over transformers' pipeline (PyTorch f32): "
                         f"{wheel['texts_per_s'] / pipe['texts_per_s']:.2f}x (target 5x)")
        if wheel and ort:
            lines.append(f"- {threads} thread(s): the wheel's int8 over ONNX Runtime int8 from Python: "
                         f"{wheel['texts_per_s'] / ort['texts_per_s']:.2f}x")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=["wheel", "pipeline", "ray", "spark"])
    parser.add_argument("--model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rows", type=int, default=2048)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--report", metavar="ROWS")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.report:
        return report(args)
    if not (args.engine and args.model):
        parser.error("--engine and --model are required (or --report ROWS --out FILE)")
    run = {"wheel": in_process, "pipeline": in_process, "ray": ray_job, "spark": spark_job}[args.engine]
    print(json.dumps(run(args)))


if __name__ == "__main__":
    main()
