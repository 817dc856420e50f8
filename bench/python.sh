#!/usr/bin/env bash
# Python benchmark: the wheel in-process, Ray Data and Spark jobs, against the CLI and against
# what a Python user runs instead (transformers' pipeline on PyTorch, ONNX Runtime from Python).
#
#   bench/python.sh [--quick] [--job-rows N] [--out FILE]
#
# On the full-size random model (the real model's shapes; bench/full_size_model.py): the f32
# folder and the q8_0 bundle ("int8"), on the texts of bench/native.sh (target/bench/texts.json).
# One process per run, one after the other:
#   in-process, at 1 and 2 threads (texts/s over the 256 throughput texts in batches of 16, the
#   protocol of bench/peers.py): `xlmr-sentiment bench` (the CLI), the wheel
#   (bench/python_bench.py --engine wheel), ONNX Runtime int8 from Python (bench/peers.py) and
#   transformers' pipeline on PyTorch f32 (bench/python_bench.py --engine pipeline);
#   jobs on both cores, over N rows (--job-rows, default 16,384, near the 20,000 rows of the
#   Ray and Spark tests; 256 with --quick), model loads included (so a small N favours the CLI,
#   whose start-up is the shortest): the CLI batch job (`--threads 2 classify --input ...
#   --output ...`), Ray Data (2 actors x 1 thread) and Spark (local[2]).
# Targets (issue 27): the wheel at least 0.95x the CLI in-process; the Ray and Spark jobs at least
# 0.85x the CLI batch job; the wheel's int8 at least 5x the transformers pipeline.
#
# Needs what bench/native.sh prepares (target/bench-venv, the model, its q8_0 bundle, the texts,
# the ONNX export: run it first) and target/python-venv with the wheel installed (tests/run.sh
# builds and installs it). The rows go to target/bench/python-rows.jsonl, then
# `bench/python_bench.py --report` writes --out (default bench/results/python.json; with --quick
# target/bench/python-quick.json) and its table beside it (.md), and prints the table.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
OUT=""
JOB_ROWS=16384
while (($#)); do
    case "$1" in
        --quick) QUICK=(--quick); JOB_ROWS=256 ;;
        --job-rows) JOB_ROWS="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "$OUT" ]]; then
    if ((${#QUICK[@]})); then OUT=target/bench/python-quick.json; else OUT=bench/results/python.json; fi
fi

MODEL=target/full-size-model
BUNDLE=target/full-size-q8_0.gguf
BIN=target/release/xlmr-sentiment
TEXTS=target/bench/texts.json
BENCH_PY=target/bench-venv/bin/python
OURS_PY=target/python-venv/bin/python
ROWS=target/bench/python-rows.jsonl

die() { echo "error: $*" >&2; exit 1; }
for f in "$MODEL/model.safetensors" "$BUNDLE" "$TEXTS" target/bench/onnx/model_quantized.onnx "$BENCH_PY"; do
    [[ -e "$f" ]] || die "$f is missing: run bench/native.sh first"
done
"$OURS_PY" -c 'import xlmr_sentiment, ray, pyspark' 2>/dev/null \
    || die "$OURS_PY lacks the wheel, ray or pyspark: run tests/run.sh (it builds and installs them)"
[[ -x "$BIN" ]] || cargo build --release --locked -p xlmr-sentiment >&2

step() { printf '\n== %s\n' "$*" >&2; }
# The last line of a run's stdout, as one row in this benchmark's shape.
keep() {
    local engine="$1" kind="$2" out="$3"
    printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1 | "$OURS_PY" -c '
import json, sys
engine, kind, texts = sys.argv[1], sys.argv[2], int(sys.argv[3])
r = json.loads(sys.stdin.read())
if engine:
    r = {"engine": engine, "kind": kind, "precision": r["precision"], "threads": r["threads"],
         "texts": texts, "texts_per_s": round(r["texts_per_s"], 2), "load_s": round(r["load_s"], 2),
         "peak_rss_mb": round(r["peak_rss_mb"])}
print(json.dumps(r))' "$engine" "$kind" "$( ((${#QUICK[@]})) && echo 64 || echo 256)" | tee -a "$ROWS" >&2
}
threads_env() { env RAYON_NUM_THREADS="$1" OMP_NUM_THREADS="$1" MKL_NUM_THREADS="$1" "${@:2}"; }

: > "$ROWS"
for t in 1 2; do
    for model in "$MODEL" "$BUNDLE"; do
        step "CLI in-process, $model, $t thread(s)"
        keep "xlmr-sentiment CLI" in-process "$(threads_env "$t" "$BIN" bench --model "$model" --texts "$TEXTS" --threads "$t" "${QUICK[@]}")"
        step "wheel in-process, $model, $t thread(s)"
        keep "" "" "$(threads_env "$t" "$OURS_PY" bench/python_bench.py --engine wheel --model "$model" --threads "$t" "${QUICK[@]}")"
    done
    step "ONNX Runtime int8 from Python, $t thread(s)"
    keep "onnxruntime (Python)" in-process "$(threads_env "$t" "$BENCH_PY" bench/peers.py --engine onnxruntime --precision int8 --threads "$t" "${QUICK[@]}")"
    step "transformers pipeline (PyTorch f32), $t thread(s)"
    keep "" "" "$(threads_env "$t" "$BENCH_PY" bench/python_bench.py --engine pipeline --model "$MODEL" --threads "$t" "${QUICK[@]}")"
done

# The jobs' input: JOB_ROWS rows of the throughput texts, as JSON lines with ids.
JOB_INPUT=target/bench/python-job.jsonl
"$OURS_PY" - "$TEXTS" "$JOB_ROWS" "$JOB_INPUT" <<'EOF'
import json, sys
texts = json.load(open(sys.argv[1]))["throughput_texts"]
with open(sys.argv[3], "w") as f:
    for i in range(int(sys.argv[2])):
        f.write(json.dumps({"id": i, "text": texts[i % len(texts)]}) + "\n")
EOF
for model in "$MODEL" "$BUNDLE"; do
    precision=f32; [[ "$model" == "$BUNDLE" ]] && precision=int8
    step "CLI batch job, $model, 2 threads, $JOB_ROWS rows"
    start=$(date +%s.%N)
    "$BIN" --threads 2 classify --model "$model" --input "$JOB_INPUT" --output target/bench/python-job-out.jsonl \
        --id-field id --overwrite 2> /dev/null
    end=$(date +%s.%N)
    "$OURS_PY" -c 'import json, sys; n, s, e, p = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]; print(json.dumps({"engine": "xlmr-sentiment CLI batch job (2 threads)", "kind": "job", "precision": p, "threads": 2, "texts": n, "texts_per_s": round(n / (e - s), 2)}))' \
        "$JOB_ROWS" "$start" "$end" "$precision" | tee -a "$ROWS" >&2
    step "Ray Data job, $model"
    keep "" "" "$("$OURS_PY" bench/python_bench.py --engine ray --model "$model" --rows "$JOB_ROWS")"
    step "Spark job, $model"
    keep "" "" "$("$OURS_PY" bench/python_bench.py --engine spark --model "$model" --rows "$JOB_ROWS" 2> /dev/null)"
done

"$OURS_PY" bench/python_bench.py --report "$ROWS" --out "$OUT" "${QUICK[@]}"
