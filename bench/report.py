#!/usr/bin/env python3
"""Assembles bench/native.sh's rows into the results file and prints them as a table.

Each engine run of native.sh prints one JSON row (see bench/peers.py for the protocol); native.sh
collects them, one per line, and this script writes them with what is needed to read them later:

    {"machine": {"cpu", "cpu_family_model_stepping", "simd", "logical_cpus", "memory_gib",
                 "kernel", "load_average_before", "cpu_busy_percent_before"},
     "date": ISO 8601 UTC, "quick": bool,
     "versions": {"xlmr-sentiment", "rustc", "candle-core", "python", "onnxruntime", "torch", ...},
     "rows": [{"engine", "precision", "threads", "latency_p50_ms", "latency_p99_ms",
               "texts_per_s", "medium_ms", "long_ms", "load_s", "peak_rss_mb", ...}]}

and prints a Markdown table (also written beside the results file), with each row's ratio to ONNX Runtime at
the same precision and thread count (q4 is compared with int8): latency p50 over ONNX Runtime's
(below 1 is faster), texts/s over ONNX Runtime's (above 1 is faster), and the same for the
128-token and 512-token texts' times. Results written before the 128-token text existed print
an empty cell there. Rows may carry
`agreement_with_f32` (a fraction) and `max_prob_change` (our int8/q4 bundles on the golden texts):
they are kept and printed in a second table.

    python bench/report.py --rows ROWS.jsonl --out FILE [--quick] [--ours-version V]
        [--load-before L] [--busy-before PERCENT]
    python bench/report.py --print FILE      (the tables of an existing results file)
    python bench/report.py --markdown FILE   (rewrite FILE.md, the tables beside FILE.json)

Writing --out also writes the tables as Markdown beside it (native.json -> native.md).

bench/browser.sh's rows (a JSON list that bench/browser.mjs writes, one object per engine,
precision and isolation; its header lists the fields) go the same way, with "kind": "browser" and
the same machine, date and versions, and a table with our ratios to transformers.js at the same
precision and isolation:

    python bench/report.py --browser-rows ROWS.json --out FILE [--quick]
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIELDS = {
    "engine": str,
    "precision": str,
    "threads": int,
    "latency_p50_ms": (int, float),
    "latency_p99_ms": (int, float),
    "texts_per_s": (int, float),
    "medium_ms": (int, float),
    "long_ms": (int, float),
    "load_s": (int, float),
    "peak_rss_mb": (int, float),
}
ENGINES = ["xlmr-sentiment", "onnxruntime", "pytorch"]
PRECISIONS = ["f32", "int8", "q4"]
SIMD_FLAGS = ["avx2", "fma", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_int8"]
PYTHON_PACKAGES = ["onnxruntime", "onnx", "torch", "transformers", "tokenizers", "numpy"]


def read_rows(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            for key, kind in FIELDS.items():
                if not isinstance(row.get(key), kind):
                    raise SystemExit(f"error: {path}:{n}: `{key}` missing or not {kind}: {line.strip()}")
            if row["engine"] not in ENGINES or row["precision"] not in PRECISIONS:
                raise SystemExit(f"error: {path}:{n}: unknown engine or precision: {line.strip()}")
            rows.append(row)
    rows.sort(key=lambda r: (on_gpu(r), r["threads"], ENGINES.index(r["engine"]), PRECISIONS.index(r["precision"])))
    return rows


def on_gpu(row):
    """Whether a row of ours ran on a GPU (`--device gpu`: its `device` is `gpu: ADAPTER`)."""
    return row.get("device", "cpu").startswith("gpu")


BROWSER_FIELDS = {"engine": str, "precision": str, "isolated": bool, "threads": int}


def read_browser_rows(path):
    with open(path, encoding="utf-8") as f:
        rows = json.load(f)
    if not isinstance(rows, list) or not rows:
        raise SystemExit(f"error: {path}: expected a non-empty JSON list of rows")
    for n, row in enumerate(rows):
        for key, kind in BROWSER_FIELDS.items():
            if not isinstance(row.get(key), kind):
                raise SystemExit(f"error: {path}: row {n}: `{key}` missing or not {kind.__name__}")
        if row["engine"] not in ("xlmr-sentiment", "transformers.js"):
            raise SystemExit(f"error: {path}: row {n}: unknown engine {row['engine']}")
    return rows


def browser_versions(rows):
    """Each engine's version and Chromium's, as the rows recorded them."""
    out = {r["engine"]: r.get("version") for r in rows}
    out["chromium"] = next((r["chromium"] for r in rows if r.get("chromium")), None)
    return out


def cpu_info():
    """Model name, family/model/stepping (the name alone is often just "AMD EPYC" under a
    hypervisor, while family 25 is Zen 3/4 and 26 Zen 5) and the SIMD extensions that decide
    which kernels run."""
    fields = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if not line.strip():
                    break  # the first processor is enough
                key, _, value = line.partition(":")
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    flags = set(fields.get("flags", "").split())
    return {
        "cpu": fields.get("model name") or platform.processor() or "unknown",
        "cpu_family_model_stepping": "/".join(fields.get(k, "?") for k in ("cpu family", "model", "stepping")),
        "simd": [f for f in SIMD_FLAGS if f in flags],
    }


def memory_gib():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024**2, 1)
    return None


def command_version(*cmd):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def locked_version(crate):
    """The version of `crate` in Cargo.lock (the first one, if several)."""
    try:
        with open(os.path.join(ROOT, "Cargo.lock"), encoding="utf-8") as f:
            m = re.search(rf'name = "{re.escape(crate)}"\nversion = "([^"]+)"', f.read())
        return m.group(1) if m else None
    except OSError:
        return None


def versions(ours):
    out = {
        "xlmr-sentiment": ours,
        "rustc": command_version("rustc", "--version"),
        "candle-core": locked_version("candle-core"),
        "python": platform.python_version(),
    }
    for name in PYTHON_PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def reference(rows, row):
    """ONNX Runtime's row at the same thread count and precision (int8 for q4)."""
    want = "int8" if row["precision"] == "q4" else row["precision"]
    for r in rows:
        if r["engine"] == "onnxruntime" and r["precision"] == want and r["threads"] == row["threads"]:
            return r
    return None


def machine_line(results):
    m = results["machine"]
    return (
        f"{m['cpu']} (family/model/stepping {m['cpu_family_model_stepping']}"
        + (f", {' '.join(m['simd'])}" if m["simd"] else "")
        + f"), {m['logical_cpus']} logical CPUs, {results['date']}"
        + (f", CPU {m['cpu_busy_percent_before']}% busy before the runs" if m.get("cpu_busy_percent_before") else "")
        + (f" ({m['note']})" if m.get("note") else "")
        + (" (--quick: validation only, not a measurement)" if results.get("quick") else "")
    )


def browser_tables(results):
    """Each row, and ours over transformers.js at the same precision and isolation."""
    rows = results["rows"]

    def fixed(x, digits):
        return "" if x is None else f"{x:.{digits}f}"

    def ratio(a, b):
        return f"{a / b:.2f}x" if a is not None and b else ""

    gpu_rows = [r for r in rows if r.get("device") == "webgpu"]
    rows = [r for r in rows if r.get("device") != "webgpu"]
    lines = [
        machine_line(results),
        "",
        "| engine | precision | isolated | threads | load cold s | load cached s | latency p50 ms "
        "| latency after ms | texts/s | peak RSS MB | JS heap MB | latency vs transformers.js "
        "| texts/s vs transformers.js |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        peer = None
        if r["engine"] == "xlmr-sentiment":
            peer = next((p for p in rows if p["engine"] == "transformers.js" and p["precision"] == r["precision"]
                         and p["isolated"] == r["isolated"]), None)
        cells = [
            r["engine"], r["precision"], "yes" if r["isolated"] else "no", str(r["threads"]),
            fixed(r.get("load_cold_s"), 2), fixed(r.get("load_cached_s"), 2), fixed(r.get("latency_p50_ms"), 1),
            fixed(r.get("latency_after_ms"), 1), fixed(r.get("texts_per_s"), 2), fixed(r.get("peak_rss_mb"), 0),
            fixed(r.get("js_heap_mb"), 1),
            ratio(r.get("latency_p50_ms"), peer and peer.get("latency_p50_ms")),
            ratio(r.get("texts_per_s"), peer and peer.get("texts_per_s")),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "Ratios are ours over transformers.js at the same precision and isolation: latency below 1 "
        "is faster, texts/s above 1 is faster.",
    ]
    quality = [r for r in rows if "agreement_with_f32" in r]
    if quality:
        lines += ["", "| engine | isolated | int8 top label agrees with f32 | largest probability change |", "|---|---|---:|---:|"]
        for r in quality:
            lines.append(f"| {r['engine']} | {'yes' if r['isolated'] else 'no'} | {r['agreement_with_f32'] * 100:.1f}% "
                         f"| {fixed(r.get('max_prob_change'), 4)} |")
    if gpu_rows:
        lines += browser_gpu_table(gpu_rows, rows)
    return "\n".join(lines)


def browser_gpu_table(gpu_rows, cpu_rows):
    """The WebGPU rows: texts/s at batch 1, 16 and 128, against transformers.js on WebGPU and
    against our best CPU row (batch 16) of the same run."""

    def fixed(x, digits):
        return "" if x is None else f"{x:.{digits}f}"

    best_cpu = max((r.get("texts_per_s") or 0 for r in cpu_rows if r["engine"] == "xlmr-sentiment"), default=0)
    peer = next((r for r in gpu_rows if r["engine"] == "transformers.js"), None)
    lines = [
        "",
        "On WebGPU (f32 weights on the GPU):",
        "",
        "| engine | adapter | load cold s | load cached s | texts/s batch 1 | batch 16 | batch 128 "
        "| batch 128 vs transformers.js WebGPU | batch 128 vs our best CPU row | largest change vs its wasm f32 |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in gpu_rows:
        b128 = r.get("texts_per_s_batch128")
        theirs = peer and peer.get("texts_per_s_batch128")
        ours = r["engine"] == "xlmr-sentiment"
        adapter = (r.get("adapter") or "none") + (" (software)" if r.get("software_adapter") else "")
        cells = [
            r["engine"], adapter, fixed(r.get("load_cold_s"), 2), fixed(r.get("load_cached_s"), 2),
            fixed(r.get("texts_per_s_batch1"), 2), fixed(r.get("texts_per_s_batch16"), 2), fixed(b128, 2),
            f"{b128 / theirs:.2f}x" if ours and b128 and theirs else "",
            f"{b128 / best_cpu:.2f}x" if ours and b128 and best_cpu else "",
            "" if r.get("max_prob_change_vs_wasm") is None else f"{r['max_prob_change_vs_wasm']:.1e}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if any(r.get("software_adapter") for r in gpu_rows):
        lines += [
            "",
            "The adapter is a software one (SwiftShader runs WebGPU on the CPU): these figures only "
            "show that the GPU path runs, not how fast a GPU is.",
        ]
    return lines


def tables(results):
    if results.get("kind") == "browser":
        return browser_tables(results)
    rows = results["rows"]
    lines = [
        machine_line(results),
        "",
        "| engine | precision | threads | latency p50 ms | p99 ms | texts/s | 128 tokens ms "
        "| 512 tokens ms | load s | peak RSS MB | latency vs ORT | texts/s vs ORT | 128 vs ORT "
        "| 512 vs ORT |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]

    def ratio(r, ref, key):
        if ref is None or r.get(key) is None or not ref.get(key):
            return ""
        return f"{r[key] / ref[key]:.2f}x"

    cpu_rows = [r for r in rows if not on_gpu(r)]
    gpu_rows = [r for r in rows if on_gpu(r)]
    for r in cpu_rows:
        ref = None if r["engine"] == "onnxruntime" else reference(rows, r)
        medium = "" if r.get("medium_ms") is None else f"{r['medium_ms']:.0f}"
        lines.append(
            f"| {r['engine']} | {r['precision']} | {r['threads']} | {r['latency_p50_ms']:.1f} "
            f"| {r['latency_p99_ms']:.1f} | {r['texts_per_s']:.1f} | {medium} | {r['long_ms']:.0f} "
            f"| {r['load_s']:.2f} | {r['peak_rss_mb']:.0f} | {ratio(r, ref, 'latency_p50_ms')} "
            f"| {ratio(r, ref, 'texts_per_s')} | {ratio(r, ref, 'medium_ms')} | {ratio(r, ref, 'long_ms')} |"
        )
    lines += [
        "",
        "Ratios are to ONNX Runtime at the same thread count and precision (q4 to int8): times "
        "(latency p50, 128 and 512 tokens) over ONNX Runtime's (below 1 is faster), texts/s over "
        "ONNX Runtime's (above 1 is faster).",
    ]
    if gpu_rows:
        ours = [r for r in cpu_rows if r["engine"] == "xlmr-sentiment"]
        best = max(ours, key=lambda r: r.get("texts_per_s_batch128") or r["texts_per_s"], default=None)
        best_rate = best and (best.get("texts_per_s_batch128") or best["texts_per_s"])
        lines += [
            "",
            "On the GPU (`--device gpu`; weights f32 on the GPU whatever the bundle's precision):",
            "",
            "| adapter | precision | threads | texts/s, batch 1 | batch 16 | batch 128 | 512 tokens ms "
            "| load s | batch 128 vs our best CPU row |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for r in gpu_rows:
            wide = r.get("texts_per_s_batch128")
            vs = f"{wide / best_rate:.2f}x" if wide and best_rate else ""
            lines.append(
                f"| {r['device'][len('gpu: '):]} | {r['precision']} | {r['threads']} "
                f"| {1000 / r['latency_p50_ms']:.1f} | {r['texts_per_s']:.1f} "
                f"| {'' if wide is None else f'{wide:.1f}'} | {r['long_ms']:.0f} | {r['load_s']:.2f} | {vs} |"
            )
        if best is not None:
            lines += [
                "",
                f"Our best CPU row: {best['precision']} at {best['threads']} thread(s), {best_rate:.1f} texts/s"
                + (" at batch 128." if best.get("texts_per_s_batch128") else " at batch 16.")
                + " A software adapter (llvmpipe, SwiftShader) runs on the CPU: its rows show only that the GPU path runs.",
            ]
    quality = [r for r in rows if "agreement_with_f32" in r or "max_prob_change" in r]
    if quality:
        lines += [
            "",
            "| engine | precision | threads | top label agrees with f32 (golden texts) | largest probability change |",
            "|---|---|---:|---:|---:|",
        ]
        for r in quality:
            agree = r.get("agreement_with_f32")
            change = r.get("max_prob_change")
            agree_s = "" if agree is None else f"{agree * 100:.1f}%" + (" (below 99.5%)" if agree < 0.995 else "")
            change_s = "" if change is None else f"{change:.4f}"
            engine = r["engine"] + (" (GPU)" if on_gpu(r) else "")
            lines.append(f"| {engine} | {r['precision']} | {r['threads']} | {agree_s} | {change_s} |")
    return "\n".join(lines)


def write_markdown(results, json_path):
    """Writes the tables beside the results file (`native.json` -> `native.md`), so the README and
    docs link to figures no one pasted by hand."""
    md_path = os.path.splitext(json_path)[0] + ".md"
    versions_line = ", ".join(f"{k} {v}" for k, v in results.get("versions", {}).items() if v)
    name = os.path.basename(json_path)
    browser = results.get("kind") == "browser"
    text = (
        f"# {'Browser' if browser else 'Native'} benchmark: `{name}`\n\n"
        f"Written by `bench/report.py` from `{name}` (run `bench/{'browser' if browser else 'native'}.sh`); do not edit by hand. "
        "The model is a random network with the real model's shapes (`bench/full_size_model.py`): "
        "speed and memory are the real model's, its labels are meaningless.\n\n"
        f"{'Quick run (fewer repeats). ' if results.get('quick') else ''}Versions: {versions_line}.\n\n"
        f"{tables(results)}\n"
    )
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(text)
    return md_path


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", help="one JSON row per line, as the engines printed them")
    parser.add_argument("--out", help="the results file to write")
    parser.add_argument("--quick", action="store_true", help="the rows came from --quick runs")
    parser.add_argument("--ours-version", help="`xlmr-sentiment --version`")
    parser.add_argument("--load-before", help="/proc/loadavg's three averages before the runs")
    parser.add_argument("--busy-before", type=int, help="percent of CPU time busy just before the runs")
    parser.add_argument("--browser-rows", help="bench/browser.mjs's rows (a JSON list)")
    parser.add_argument("--print", metavar="FILE", dest="print_file", help="print an existing results file")
    parser.add_argument("--markdown", metavar="FILE", help="(re)write FILE's Markdown tables beside it")
    args = parser.parse_args()

    if args.markdown:
        with open(args.markdown, encoding="utf-8") as f:
            print(f"written: {write_markdown(json.load(f), args.markdown)}", file=sys.stderr)
        return
    if args.print_file:
        with open(args.print_file, encoding="utf-8") as f:
            print(tables(json.load(f)))
        return
    if not ((args.rows or args.browser_rows) and args.out):
        parser.error("--rows or --browser-rows, and --out, are required (or --print FILE)")
    results = {
        "machine": {
            **cpu_info(),
            "logical_cpus": os.cpu_count(),
            "memory_gib": memory_gib(),
            "kernel": platform.release(),
            "load_average_before": args.load_before,
            "cpu_busy_percent_before": args.busy_before,
        },
        "date": datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat(),
        "quick": args.quick,
        "versions": versions(args.ours_version or None),
    }
    if args.browser_rows:
        results["kind"] = "browser"
        results["rows"] = read_browser_rows(args.browser_rows)
        results["versions"] = browser_versions(results["rows"])
    else:
        results["rows"] = read_rows(args.rows)
    results = {"kind": results.pop("kind", "native"), **results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(results, f, indent=2)
        f.write("\n")
    print(tables(results))
    print(f"\nwritten: {args.out} and {write_markdown(results, args.out)}", file=sys.stderr)


if __name__ == "__main__":
    main()
