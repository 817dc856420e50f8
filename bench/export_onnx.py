#!/usr/bin/env python3
"""Exports the full-size model to ONNX for the ONNX Runtime peer of bench/native.sh.

Writes, from target/full-size-model (an `XLMRobertaForSequenceClassification` folder):

    target/bench/onnx/model.onnx            fp32; inputs input_ids and attention_mask (int64,
                                            [batch, sequence], both axes dynamic), output logits
    target/bench/onnx/model_quantized.onnx  dynamic int8: onnxruntime.quantization.quantize_dynamic
                                            with QInt8 weights and its defaults (per-tensor), the
                                            way transformers.js / optimum ship their `q8` models

The export uses the TorchScript exporter with eager attention, the graph that ONNX Runtime's
optimiser fuses into its Attention, LayerNorm and GELU kernels. ONNX Runtime's logits are then
checked against PyTorch's on a few texts, one at a time and as a padded batch, and the largest
absolute differences printed. Nothing is done when both files exist and are newer than the model's
weights (--force redoes it).

    python bench/export_onnx.py [--model target/full-size-model] [--out target/bench/onnx] [--force]
"""

import argparse
import os

import numpy as np
import onnxruntime as ort
import torch
from onnxruntime.quantization import QuantType, quantize_dynamic
from tokenizers import Tokenizer
from transformers import XLMRobertaForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OPSET = 17
CHECK_TEXTS = [
    "I absolutely love this new phone, the battery lasts forever!",
    "Schon wieder Verspätung bei der Bahn, das nervt total.",
    "الخدمة سيئة للغاية ولن أعود مرة أخرى.",
    "Ok.",
]


class LogitsOnly(torch.nn.Module):
    """The classifier with plain tensor inputs and outputs, as the exporter wants them."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, input_ids, attention_mask):
        return self.model(input_ids=input_ids, attention_mask=attention_mask).logits


def up_to_date(outputs, source):
    return all(os.path.exists(p) and os.path.getmtime(p) > os.path.getmtime(source) for p in outputs)


def encode(tokenizer, texts):
    tokenizer.enable_truncation(512)
    tokenizer.enable_padding(pad_id=1, pad_token="<pad>")
    enc = tokenizer.encode_batch(texts)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    return ids, mask


def check(model, tokenizer, paths):
    """Largest |logit difference| between PyTorch and each ONNX file, per text and batched."""
    sessions = {name: ort.InferenceSession(path, providers=["CPUExecutionProvider"]) for name, path in paths.items()}
    batches = [[t] for t in CHECK_TEXTS] + [CHECK_TEXTS]
    worst = {name: 0.0 for name in paths}
    agree = {name: 0 for name in paths}
    rows = 0
    for texts in batches:
        ids, mask = encode(tokenizer, texts)
        with torch.inference_mode():
            want = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).logits.numpy()
        rows += len(texts)
        for name, session in sessions.items():
            (got,) = session.run(["logits"], {"input_ids": ids, "attention_mask": mask})
            worst[name] = max(worst[name], float(np.abs(got - want).max()))
            agree[name] += int((got.argmax(-1) == want.argmax(-1)).sum())
    for name in paths:
        print(f"  {name}: max |logit - PyTorch| = {worst[name]:.3g}, top label agrees on {agree[name]}/{rows}")
    return worst


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "target/full-size-model"))
    parser.add_argument("--out", default=os.path.join(ROOT, "target/bench/onnx"))
    parser.add_argument("--force", action="store_true", help="export even if the files are up to date")
    args = parser.parse_args()

    fp32 = os.path.join(args.out, "model.onnx")
    int8 = os.path.join(args.out, "model_quantized.onnx")
    weights = os.path.join(args.model, "model.safetensors")
    if not args.force and up_to_date([fp32, int8], weights):
        print(f"{args.out}: up to date")
        return
    os.makedirs(args.out, exist_ok=True)

    model = XLMRobertaForSequenceClassification.from_pretrained(
        args.model, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    ids, mask = encode(tokenizer, CHECK_TEXTS)
    axes = {0: "batch", 1: "sequence"}
    with torch.no_grad():
        torch.onnx.export(
            LogitsOnly(model).eval(),
            (torch.from_numpy(ids), torch.from_numpy(mask)),
            fp32,
            input_names=["input_ids", "attention_mask"],
            output_names=["logits"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "logits": {0: "batch"}},
            opset_version=OPSET,
            do_constant_folding=True,
            dynamo=False,
        )
    # The exporter restores the wrapper's training flag afterwards, recursively: keep eval mode.
    model.eval()
    quantize_dynamic(fp32, int8, weight_type=QuantType.QInt8)
    for path in (fp32, int8):
        print(f"{path}: {os.path.getsize(path):,} bytes")
    worst = check(model, tokenizer, {"fp32": fp32, "int8": int8})
    if worst["fp32"] > 1e-3:
        raise SystemExit(f"error: the fp32 export differs from PyTorch by {worst['fp32']:.3g}")


if __name__ == "__main__":
    main()
