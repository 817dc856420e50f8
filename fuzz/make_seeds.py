"""Writes the hand-made seeds of fuzz/seeds/ that the fixtures do not already give.

Run from the repository root: python3 fuzz/make_seeds.py. Standard library only. The outputs are
committed; fuzz/run.sh adds the fixture files themselves (models, datasets) to each corpus.
"""
import json
import os
import struct

ROOT = os.path.dirname(os.path.abspath(__file__))
FIXTURE = os.path.join(ROOT, "..", "tests", "fixtures", "models", "tiny-sentiment", "tokenizer.json")


def write(target, name, data):
    folder = os.path.join(ROOT, "seeds", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def mini_tokenizer(pieces=60, charsmap=False):
    """The fixture's tokenizer.json cut to its first `pieces` pieces and `<mask>` after them."""
    with open(FIXTURE, encoding="utf-8") as f:
        t = json.load(f)
    t["model"]["vocab"] = t["model"]["vocab"][:pieces] + [["<mask>", 0.0]]
    for token in t["added_tokens"]:
        if token["content"] == "<mask>":
            token["id"] = pieces
    if not charsmap:
        t["normalizer"]["normalizers"] = [
            n for n in t["normalizer"]["normalizers"] if n["type"] != "Precompiled"
        ]
    return json.dumps(t, ensure_ascii=False, separators=(",", ":"))


def main():
    mini = mini_tokenizer()
    # fuzz/src/lib.rs loads this one as the weights targets' tokenizer (fast to build).
    write("tokenizer_json", "mini.json", mini)
    write("tokenizer_json", "mini-one-piece.json", mini_tokenizer(pieces=5))
    write("config_json", "minimal.json", json.dumps({"vocab_size": 10, "hidden_size": 8,
          "num_hidden_layers": 1, "num_attention_heads": 2, "intermediate_size": 16,
          "id2label": {"0": "a", "1": "b"}}))
    write("config_json", "multilabel.json", json.dumps({"problem_type":
          "multi_label_classification", "id2label": {"0": "x"}, "label2id": {"x": 0},
          "hidden_act": "gelu_new", "max_position_embeddings": 40}))

    # Batch readers: the first byte picks the format (0 lines, 1 JSONL, 2 CSV), the second
    # whether an id field is named.
    write("batch_readers", "lines", b"\x00\x00I love this!\r\n\nworst ever \xff\nok")
    write("batch_readers", "jsonl", b"\x01\x01" + "\n".join([
        json.dumps({"id": 7, "text": "bien"}), "{not json", json.dumps({"text": 3}),
        "", json.dumps({"id": [1], "text": "ok"})]).encode())
    write("batch_readers", "csv", b"\x02\x01id,text\n1,\"a \"\"quoted\"\"\nline\"\n2,b\n3\n4,\xfe\n")

    # Eval readers: the first byte picks JSONL (even) or CSV (odd) unless the file is Parquet.
    write("eval_readers", "jsonl", b"\x00" + "\n".join([
        json.dumps({"text": "good", "label": "positive", "language": "english"}),
        json.dumps({"text": "mal", "label": 0}), json.dumps({"label": "neutral"})]).encode())
    write("eval_readers", "csv", b"\x01text,label,language\n\"a,b\",negative,fr\n,x,\nc,,de\n")

    # Server bodies: the first byte picks the route (even /predict, odd /) and auto-truncate.
    bodies = [
        (0, {"inputs": "I love this!"}),
        (2, {"inputs": ["a", "b"], "truncate": True, "raw_scores": True,
             "truncation_direction": "right"}),
        (0, {"inputs": [["a"]]}),
        (1, {"inputs": ["good", "bad"], "parameters": {"top_k": 2, "function_to_apply": "sigmoid",
             "truncation": False, "language": True}}),
        (1, {"inputs": "x", "parameters": None}),
    ]
    for i, (route, body) in enumerate(bodies):
        write("server_bodies", f"body{i}", bytes([route]) + json.dumps(body).encode())

    # Classification: flags byte, max_length (u16, 0 = the model's), batch size byte, then texts
    # separated by U+001F.
    texts = ["I love this! @someone http://x.y", "😀😀 très bien \u0000", "a" * 700,
             "الخدمة سيئة", "  "]
    write("classify_text", "texts", struct.pack("<BHB", 0b1011, 0, 3) +
          "\x1f".join(texts).encode())
    write("classify_text", "short-limit", struct.pack("<BHB", 0b0110, 5, 1) + b"hello world")


if __name__ == "__main__":
    main()
