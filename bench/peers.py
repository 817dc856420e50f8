#!/usr/bin/env python3
"""Times one peer engine (ONNX Runtime or PyTorch) with bench/native.sh's protocol.

bench/native.sh compares our engine with its peers on the same machine, texts and protocol; this
script is the peers' side of that protocol (`xlmr-sentiment bench` is ours). One process runs one
engine at one precision and thread count, and prints ONE JSON row on stdout:

    {"engine", "precision", "threads", "latency_p50_ms", "latency_p99_ms", "texts_per_s",
     "medium_ms", "long_ms", "load_s", "peak_rss_mb"}

Every timed call goes from text to scores: tokenization (`tokenizers`, running the model's
tokenizer.json as written, truncation at 512, padding with id 1 to the longest text of the batch,
attention mask), the model, and a softmax over the logits. In order:

1. load: from just before the model is loaded (libraries already imported) until the scores of
   the first call on the latency text are back: `load_s`.
2. latency: the 32-token text, 3 warm-up calls, then 50 timed calls: `latency_p50_ms` and
   `latency_p99_ms` (percentiles with linear interpolation between the closest ranks, numpy's
   default: the 99th of 50 lies between the two slowest).
3. throughput: the 256 texts of 20-47 tokens, in file order, in consecutive batches of 16: texts
   over the total time, `texts_per_s`.
4. medium and long texts: the 128-token text, then the 512-token text, each with 1 warm-up call,
   then the median of 5: `medium_ms` and `long_ms`.
5. `peak_rss_mb`: VmHWM of /proc/self/status at the end, in MiB (kB / 1024).

--quick (to validate the pipeline, not to measure): 1 warm-up and 10 latency calls, the first 64
throughput texts, and one medium-text and one long-text call with no warm-up.

Engines: `onnxruntime` runs target/bench/onnx/model.onnx (f32) or model_quantized.onnx (int8) on
the CPU execution provider with intra_op_num_threads=T, inter_op_num_threads=1, sequential
execution and every graph optimisation; `pytorch` runs the safetensors folder with
torch.set_num_threads(T) under torch.inference_mode() (f32 only).

    python bench/peers.py --engine onnxruntime|pytorch --precision f32|int8 --threads T
        [--texts target/bench/texts.json] [--quick]
"""

import argparse
import json
import math
import os
import sys
import time

import numpy as np
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from procstat import peak_rss_mb  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MAX_LENGTH = 512
PAD_ID = 1
BATCH_SIZE = 16

FULL = {"latency_warmup": 3, "latency_runs": 50, "throughput_texts": 256, "long_warmup": 1, "long_runs": 5}
QUICK = {"latency_warmup": 1, "latency_runs": 10, "throughput_texts": 64, "long_warmup": 0, "long_runs": 1}


def percentile(values, q):
    """The q-th percentile, interpolating linearly between the closest ranks (numpy's default)."""
    s = sorted(values)
    pos = (len(s) - 1) * q / 100
    lo, hi = math.floor(pos), math.ceil(pos)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def softmax(logits):
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


class Engine:
    """Tokenizer plus model: `classify(texts)` returns the scores, one row per text."""

    def __init__(self, model_dir):
        self.tokenizer = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_LENGTH)
        self.tokenizer.enable_padding(pad_id=PAD_ID, pad_token="<pad>")

    def encode(self, texts):
        enc = self.tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in enc], dtype=np.int64)
        mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
        return ids, mask


class OnnxRuntime(Engine):
    def __init__(self, model_dir, onnx_dir, precision, threads):
        import onnxruntime as ort

        super().__init__(model_dir)
        name = {"f32": "model.onnx", "int8": "model_quantized.onnx"}[precision]
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(
            os.path.join(onnx_dir, name), options, providers=["CPUExecutionProvider"]
        )

    def classify(self, texts):
        ids, mask = self.encode(texts)
        (logits,) = self.session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
        return softmax(logits.astype(np.float32))


class PyTorch(Engine):
    def __init__(self, model_dir, precision, threads):
        import torch
        from transformers import XLMRobertaForSequenceClassification

        if precision != "f32":
            raise SystemExit("error: the PyTorch peer runs f32 only")
        super().__init__(model_dir)
        self.torch = torch
        self.model = XLMRobertaForSequenceClassification.from_pretrained(
            model_dir, dtype=torch.float32
        ).eval()

    def classify(self, texts):
        torch = self.torch
        ids, mask = self.encode(texts)
        with torch.inference_mode():
            logits = self.model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits
            return torch.softmax(logits.float(), dim=-1).numpy()


def timed(fn, *args):
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", required=True, choices=["onnxruntime", "pytorch"])
    parser.add_argument("--precision", required=True, choices=["f32", "int8"])
    parser.add_argument("--threads", required=True, type=int)
    parser.add_argument("--texts", default=os.path.join(ROOT, "target/bench/texts.json"))
    parser.add_argument("--model", default=os.path.join(ROOT, "target/full-size-model"))
    parser.add_argument("--onnx-dir", default=os.path.join(ROOT, "target/bench/onnx"))
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, to validate")
    args = parser.parse_args()
    plan = QUICK if args.quick else FULL
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    latency_text, medium_text, long_text = texts["latency_text"], texts["medium_text"], texts["long_text"]
    batch_texts = texts["throughput_texts"][: plan["throughput_texts"]]

    # Import the engine's libraries first: load time is the model's, not Python's.
    if args.engine == "onnxruntime":
        import onnxruntime  # noqa: F401
    else:
        import torch

        torch.set_num_threads(args.threads)
        import transformers  # noqa: F401

    # 1. Load, until the first result.
    start = time.perf_counter()
    if args.engine == "onnxruntime":
        engine = OnnxRuntime(args.model, args.onnx_dir, args.precision, args.threads)
    else:
        engine = PyTorch(args.model, args.precision, args.threads)
    first = engine.classify([latency_text])
    load_s = time.perf_counter() - start

    # 2. Latency.
    for _ in range(plan["latency_warmup"]):
        engine.classify([latency_text])
    latency = [timed(engine.classify, [latency_text]) for _ in range(plan["latency_runs"])]

    # 3. Throughput.
    start = time.perf_counter()
    for i in range(0, len(batch_texts), BATCH_SIZE):
        engine.classify(batch_texts[i : i + BATCH_SIZE])
    texts_per_s = len(batch_texts) / (time.perf_counter() - start)

    # 4. Medium and long texts.
    for _ in range(plan["long_warmup"]):
        engine.classify([medium_text])
    medium_runs = [timed(engine.classify, [medium_text]) for _ in range(plan["long_runs"])]
    for _ in range(plan["long_warmup"]):
        engine.classify([long_text])
    long_runs = [timed(engine.classify, [long_text]) for _ in range(plan["long_runs"])]

    # 5. Peak memory, then sanity checks outside the timed regions.
    rss = peak_rss_mb()
    assert first.shape == (1, 3) and abs(float(first.sum()) - 1) < 1e-4, first
    assert len(engine.tokenizer.encode(latency_text).ids) == 32
    assert len(engine.tokenizer.encode(medium_text).ids) == 128
    assert len(engine.tokenizer.encode(long_text).ids) == 512

    row = {
        "engine": args.engine,
        "precision": args.precision,
        "threads": args.threads,
        "latency_p50_ms": round(percentile(latency, 50) * 1e3, 3),
        "latency_p99_ms": round(percentile(latency, 99) * 1e3, 3),
        "texts_per_s": round(texts_per_s, 2),
        "medium_ms": round(percentile(medium_runs, 50) * 1e3, 3),
        "long_ms": round(percentile(long_runs, 50) * 1e3, 3),
        "load_s": round(load_s, 3),
        "peak_rss_mb": round(rss, 1),
    }
    sys.stdout.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
