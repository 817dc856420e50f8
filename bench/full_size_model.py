#!/usr/bin/env python3
"""Writes a full-size random XLM-R sentiment model: the real shapes, random weights.

The real model cannot be downloaded here (and tests may not download), yet memory and speed must
be measured at its size. This writes a Hugging Face folder with exactly the shapes of
`cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual` (vocab 250002, hidden 768, 12 layers,
12 heads, intermediate 3072, 514 positions, 3 labels: 278M parameters, 1.11 GB of f32):

    config.json         the real model's configuration
    tokenizer.json      XLM-R's structure with 250002 pieces: the fixture tokenizer's trained
                        pieces (so real text tokenizes into plausible sub-words) padded with
                        synthetic pieces that are rarely chosen
    model.safetensors   random weights from `transformers`' own initialisation (seeded)
    pytorch_model.bin   only with --bin, the format the real model ships in

Its labels are meaningless; it exists for load-memory figures and benchmarks. Run with the
fixtures' pinned environment (tests/fixtures/requirements.txt):

    python bench/full_size_model.py [--out target/full-size-model] [--bin]
"""

import argparse
import json
import os
import random

import torch
from transformers import XLMRobertaConfig, XLMRobertaForSequenceClassification

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURE_TOKENIZER = os.path.join(ROOT, "tests/fixtures/models/tiny-sentiment/tokenizer.json")

VOCAB_SIZE = 250002
# Letters of the model's eight languages, so synthetic pieces look like sub-words of real scripts.
ALPHABET = (
    "abcdefghijklmnopqrstuvwxyzàâäçéèêëîïôöùûüßñáíóúãõ"
    "ابتثجحخدذرزسشصضطظعغفقكلمنهوي"
    "अआइईउऊएऐओऔकखगघचछजझटठडढतथदधनपफबभमयरलवशसह"
)


def tokenizer_json():
    """XLM-R's tokenizer.json layout, grown to the real vocabulary size."""
    with open(FIXTURE_TOKENIZER, encoding="utf-8") as f:
        tok = json.load(f)
    vocab = tok["model"]["vocab"]
    mask = vocab.pop()  # `<mask>` stays the last id, as in XLM-R
    assert mask[0] == "<mask>"
    seen = {piece for piece, _ in vocab}
    floor = min(score for _, score in vocab[4:]) - 1.0
    rng = random.Random(0)
    while len(vocab) < VOCAB_SIZE - 1:
        piece = "".join(rng.choice(ALPHABET) for _ in range(rng.randint(2, 7)))
        if rng.random() < 0.5:
            piece = "\u2581" + piece  # SentencePiece's word-start marker
        if piece not in seen:
            seen.add(piece)
            # Lower scores than every trained piece: chosen only where nothing else fits.
            vocab.append([piece, floor - len(vocab) * 1e-5])
    vocab.append(mask)
    for added in tok["added_tokens"]:
        if added["content"] == "<mask>":
            added["id"] = VOCAB_SIZE - 1
    return tok


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=os.path.join(ROOT, "target/full-size-model"))
    parser.add_argument("--bin", action="store_true", help="also write pytorch_model.bin")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)

    torch.manual_seed(0)
    labels = ["negative", "neutral", "positive"]
    config = XLMRobertaConfig(
        vocab_size=VOCAB_SIZE,
        hidden_size=768,
        num_hidden_layers=12,
        num_attention_heads=12,
        intermediate_size=3072,
        hidden_act="gelu",
        max_position_embeddings=514,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        id2label=dict(enumerate(labels)),
        label2id={l: i for i, l in enumerate(labels)},
        architectures=["XLMRobertaForSequenceClassification"],
    )
    model = XLMRobertaForSequenceClassification(config).eval()
    params = sum(p.numel() for p in model.parameters())
    model.save_pretrained(args.out, safe_serialization=True)
    if args.bin:
        model.save_pretrained(args.out, safe_serialization=False)
    with open(os.path.join(args.out, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tokenizer_json(), f, ensure_ascii=False)
    print(f"{args.out}: {params:,} parameters")
    for name in sorted(os.listdir(args.out)):
        print(f"  {name}: {os.path.getsize(os.path.join(args.out, name)):,} bytes")


if __name__ == "__main__":
    main()
