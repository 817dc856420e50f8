#!/usr/bin/env python3
"""Writes the benchmark's inputs, target/bench/texts.json, the same for every engine.

bench/native.sh times our engine and its peers on exactly the same texts, so the texts are built
here once, deterministically (seeded), and every engine reads them from one file:

    {"latency_text":     one text of exactly 32 tokens,
     "throughput_texts": 256 texts of 20 to 47 tokens each (uniformly drawn),
     "medium_text":      one text of exactly 128 tokens,
     "long_text":        one text of exactly 512 tokens}

Token counts are those of the full-size model's tokenizer (target/full-size-model/tokenizer.json,
run by the `tokenizers` library as written) and include `<s>` and `</s>`; 512 is XLM-R's limit, so
the long text is never truncated. The texts are natural-ish: whole sentences of the fixtures'
golden texts in the model's eight languages (tests/fixtures/models/tiny-sentiment/golden.json),
completed word by word to the exact length. Words that the model card's tweet preprocessing would
rewrite (`@user`, `http...`) are left out, so that preprocessing, on or off, changes nothing.
Each throughput text is in one language; the latency text is English; the medium and long texts
mix all eight (the medium one is drawn last, so the others stay as they were before it existed). Every count is checked before the file is written.

    python bench/texts.py [--model target/full-size-model] [--out target/bench/texts.json]
"""

import argparse
import json
import os
import random

from tokenizers import Tokenizer

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDEN = os.path.join(ROOT, "tests/fixtures/models/tiny-sentiment/golden.json")
LANGUAGES = ["ar", "en", "fr", "de", "hi", "it", "pt", "es"]

SEED = 20240521
LATENCY_TOKENS = 32
THROUGHPUT_COUNT = 256
THROUGHPUT_MIN, THROUGHPUT_MAX = 20, 47
MEDIUM_TOKENS = 128
LONG_TOKENS = 512


def sentences_by_language():
    """The golden texts of each language, without the words preprocessing would rewrite."""
    with open(GOLDEN, encoding="utf-8") as f:
        golden = json.load(f)
    out = {lang: [] for lang in LANGUAGES}
    for row in golden["texts"]:
        if row["kind"] not in out:
            continue
        words = [w for w in row["text"].split() if not w.startswith("@") and "http" not in w]
        if words:
            out[row["kind"]].append(" ".join(words))
    return out


class Builder:
    """Builds texts of an exact token count from a pool of sentences."""

    def __init__(self, tokenizer, rng):
        self.tokenizer = tokenizer
        self.rng = rng

    def count(self, text):
        return len(self.tokenizer.encode(text).ids)

    def build(self, sentences, target):
        """Whole sentences while they fit, then words, then any word that still fits."""
        order = sentences[:]
        self.rng.shuffle(order)
        text = ""
        i = 0
        # Whole sentences (cycling through the shuffled pool) while they fit.
        while True:
            candidate = (text + " " + order[i % len(order)]).strip()
            if self.count(candidate) > target:
                break
            text = candidate
            i += 1
        # The next sentence's words, in order, while they fit.
        for word in order[i % len(order)].split():
            candidate = (text + " " + word).strip()
            if self.count(candidate) > target:
                break
            text = candidate
        # Fill the gap with whichever word of the pool (in a seeded order) still fits.
        pool = sorted({w for s in sentences for w in s.split()})
        self.rng.shuffle(pool)
        while self.count(text) < target:
            for word in pool:
                candidate = (text + " " + word).strip()
                if self.count(candidate) <= target:
                    text = candidate
                    break
            else:
                raise RuntimeError(f"cannot reach {target} tokens from {text!r}")
        assert self.count(text) == target
        return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=os.path.join(ROOT, "target/full-size-model"))
    parser.add_argument("--out", default=os.path.join(ROOT, "target/bench/texts.json"))
    args = parser.parse_args()

    tokenizer = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    builder = Builder(tokenizer, random.Random(SEED))
    by_lang = sentences_by_language()

    latency = builder.build(by_lang["en"], LATENCY_TOKENS)
    throughput = []
    for i in range(THROUGHPUT_COUNT):
        lang = LANGUAGES[i % len(LANGUAGES)]
        target = builder.rng.randint(THROUGHPUT_MIN, THROUGHPUT_MAX)
        throughput.append(builder.build(by_lang[lang], target))
    # Languages in a seeded order rather than cycling, so batches of 16 mix them unevenly.
    builder.rng.shuffle(throughput)
    mixed = [s for lang in LANGUAGES for s in by_lang[lang]]
    long_text = builder.build(mixed, LONG_TOKENS)
    medium_text = builder.build(mixed, MEDIUM_TOKENS)

    # Check every count again, as the engines will see them.
    assert builder.count(latency) == LATENCY_TOKENS
    counts = [builder.count(t) for t in throughput]
    assert len(counts) == THROUGHPUT_COUNT
    assert all(THROUGHPUT_MIN <= n <= THROUGHPUT_MAX for n in counts), counts
    assert builder.count(medium_text) == MEDIUM_TOKENS
    assert builder.count(long_text) == LONG_TOKENS
    for text in [latency, medium_text, long_text, *throughput]:
        assert text == text.strip() and "@" not in text and "http" not in text

    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "latency_text": latency,
                "throughput_texts": throughput,
                "medium_text": medium_text,
                "long_text": long_text,
            },
            f,
            ensure_ascii=False,
            indent=1,
        )
        f.write("\n")
    print(
        f"{args.out}: latency text {LATENCY_TOKENS} tokens, {len(throughput)} throughput texts of "
        f"{min(counts)}-{max(counts)} tokens ({sum(counts)} in all), medium text {MEDIUM_TOKENS} tokens, "
        f"long text {LONG_TOKENS} tokens"
    )


if __name__ == "__main__":
    main()
