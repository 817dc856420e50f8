#!/usr/bin/env bash
# Native speed benchmark: our engine and its peers, back to back, with one protocol.
#
#   bench/native.sh [--quick] [--out FILE] [--peers-only] [--gpu]
#
# On this machine, one engine run per process, one after the other, at 1 and then 2 threads:
#   xlmr-sentiment  f32 (the safetensors folder), int8 (the q8_0 bundle), q4 (the Q4_K bundle)
#   onnxruntime     f32 and dynamic int8 (quantize_dynamic, QInt8), CPU execution provider
#   pytorch         f32
# all on the full-size random model (the real model's shapes; bench/full_size_model.py) and on the
# same texts (bench/texts.py). Every timed call goes from text to scores (tokenize, model,
# softmax); the protocol, identical for every engine, is described in bench/peers.py: load time
# to the first result, latency p50/p99 of one 32-token text, texts/s over 256 texts of 20-47
# tokens in batches of 16, one 512-token text, peak RSS.
#
# Steps, each skipped when its output is already there and current:
#   1. target/bench-venv: a Python venv with bench/requirements.txt (rebuilt when that changes);
#      a benchmark may use Python, tests may not
#   2. target/full-size-model (bench/full_size_model.py)
#   3. target/bench/texts.json (bench/texts.py, always rewritten: it is fast and deterministic)
#   4. target/bench/onnx/model.onnx and model_quantized.onnx (bench/export_onnx.py)
#   5. cargo build --release -p xlmr-sentiment, then the bundles target/full-size-q8_0.gguf and
#      target/full-size-q4.gguf (`xlmr-sentiment pack`)
#   6. the engine runs, each printing one JSON row; bench/report.py writes them to --out
#      (default bench/results/native.json, meant to be committed; with --quick,
#      target/bench/native-quick.json) and prints a Markdown table with ratios to ONNX Runtime
#      (the only thing written to stdout; progress goes to stderr).
#
# --quick runs fewer repetitions, to check that everything works: its numbers mean little.
# --peers-only skips the build, the bundles and our rows (to rerun or check the peers alone).
# --gpu adds our rows with --device gpu (f32 and the q8_0 bundle, both f32 on the GPU) at the
# highest thread count, where `--device gpu` finds an adapter: texts/s at batch 1 (from the
# latency), 16 and 128, the load time and the adapter's name. On a software adapter (lavapipe)
# they only show that the GPU path runs.
# Threads: each run gets RAYON_NUM_THREADS, CANDLE_NUM_THREADS, OMP_NUM_THREADS and
# MKL_NUM_THREADS set to T; ours also gets --threads T, ONNX Runtime intra_op_num_threads=T and
# inter_op_num_threads=1, PyTorch torch.set_num_threads(T). Compare engines only within one run:
# the CPU of this kind of machine changes between sessions. Run it on an otherwise idle machine.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
OUT=""
PEERS_ONLY=0
GPU=0
while (($#)); do
    case "$1" in
        --quick) QUICK=(--quick) ;;
        --out)
            [[ $# -ge 2 ]] || { echo "error: --out needs a file" >&2; exit 2; }
            OUT="$2"
            shift
            ;;
        --out=*) OUT="${1#--out=}" ;;
        --peers-only) PEERS_ONLY=1 ;;
        --gpu) GPU=1 ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "$OUT" ]]; then
    if ((${#QUICK[@]})); then OUT=target/bench/native-quick.json; else OUT=bench/results/native.json; fi
fi

THREADS=(1 2)
MODEL=target/full-size-model
BIN=target/release/xlmr-sentiment
VENV=target/bench-venv
PY="$VENV/bin/python"
TEXTS=target/bench/texts.json
ROWS=target/bench/rows.jsonl

step() { printf '\n== %s\n' "$*" >&2; }

# 1. The Python venv, reinstalled whenever bench/requirements.txt changes.
REQ_HASH="$(sha256sum bench/requirements.txt | cut -d' ' -f1)"
if [[ ! -x "$PY" || "$(cat "$VENV/requirements.sha256" 2>/dev/null)" != "$REQ_HASH" ]]; then
    step "creating $VENV (torch from PyPI is the CUDA build, ~5 GB: a few minutes)"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --progress-bar off -r bench/requirements.txt >&2
    echo "$REQ_HASH" >"$VENV/requirements.sha256"
fi

# 2. The full-size random model.
if [[ ! -f "$MODEL/config.json" || ! -f "$MODEL/tokenizer.json" || ! -f "$MODEL/model.safetensors" ]]; then
    step "writing $MODEL"
    "$PY" bench/full_size_model.py --out "$MODEL" >&2
fi

# 3. The texts, 4. the ONNX files.
step "texts"
"$PY" bench/texts.py --model "$MODEL" --out "$TEXTS" >&2
step "ONNX export"
"$PY" bench/export_onnx.py --model "$MODEL" --out target/bench/onnx >&2

# 5. Our binary and bundles.
declare -A BUNDLE=([int8]=target/full-size-q8_0.gguf [q4]=target/full-size-q4.gguf)
declare -A PACK_PRECISION=([int8]=q8_0 [q4]=q4)
OURS_VERSION=""
if ((!PEERS_ONLY)); then
    step "building xlmr-sentiment"
    cargo build --release -p xlmr-sentiment >&2
    OURS_VERSION="$("$BIN" --version)"
    for p in int8 q4; do
        if [[ ! "${BUNDLE[$p]}" -nt "$MODEL/model.safetensors" ]]; then
            step "packing ${BUNDLE[$p]}"
            "$BIN" pack "$MODEL" --precision "${PACK_PRECISION[$p]}" --out "${BUNDLE[$p]}" >&2
        fi
    done
fi

# 6. The runs, one process each. Only the last line of stdout is the row; stderr passes through.
run() {
    local threads="$1" label="$2"
    shift 2
    step "$label, $threads thread(s)"
    local out
    out="$(env RAYON_NUM_THREADS="$threads" CANDLE_NUM_THREADS="$threads" \
        OMP_NUM_THREADS="$threads" MKL_NUM_THREADS="$threads" "$@")"
    local row
    row="$(printf '%s\n' "$out" | sed '/^[[:space:]]*$/d' | tail -n 1)"
    if [[ "$row" != "{"*"}" ]]; then
        echo "error: $label at $threads thread(s) printed no JSON row on stdout" >&2
        exit 1
    fi
    printf '%s\n' "$row" >&2
    printf '%s\n' "$row" >>"$ROWS"
}

# How busy the CPU is just before the runs (the load average would still show the build).
busy_percent() {
    local -a a b
    read -ra a < <(head -n 1 /proc/stat)
    sleep 2
    read -ra b < <(head -n 1 /proc/stat)
    local total=0 k
    for k in 1 2 3 4 5 6 7 8; do total=$((total + b[k] - a[k])); done
    local idle=$((b[4] - a[4] + b[5] - a[5]))
    echo $((total > 0 ? 100 * (total - idle) / total : 0))
}
BUSY_BEFORE="$(busy_percent)"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
if ((BUSY_BEFORE > 10)); then
    echo "warning: the CPU was ${BUSY_BEFORE}% busy before the runs: other work is running, the numbers will be noisy" >&2
fi
mkdir -p "$(dirname "$ROWS")"
: >"$ROWS"
for t in "${THREADS[@]}"; do
    if ((!PEERS_ONLY)); then
        run "$t" "xlmr-sentiment f32" "$BIN" bench --model "$MODEL" --texts "$TEXTS" --threads "$t" "${QUICK[@]}"
        for p in int8 q4; do
            run "$t" "xlmr-sentiment $p" "$BIN" bench --model "${BUNDLE[$p]}" --reference "$MODEL" --texts "$TEXTS" --threads "$t" "${QUICK[@]}"
        done
    fi
    for p in f32 int8; do
        run "$t" "onnxruntime $p" "$PY" bench/peers.py --engine onnxruntime --precision "$p" --threads "$t" --texts "$TEXTS" "${QUICK[@]}"
    done
    run "$t" "pytorch f32" "$PY" bench/peers.py --engine pytorch --precision f32 --threads "$t" --texts "$TEXTS" "${QUICK[@]}"
done

if ((GPU && !PEERS_ONLY)); then
    if probe="$("$BIN" classify --device gpu --model tests/fixtures/models/tiny-sentiment probe 2>&1 >/dev/null)"; then
        t="${THREADS[-1]}"
        run "$t" "xlmr-sentiment f32 on the GPU" "$BIN" bench --device gpu --model "$MODEL" --texts "$TEXTS" --threads "$t" "${QUICK[@]}"
        run "$t" "xlmr-sentiment int8 on the GPU" "$BIN" bench --device gpu --model "${BUNDLE[int8]}" --reference "$MODEL" --texts "$TEXTS" --threads "$t" "${QUICK[@]}"
    else
        echo "warning: --gpu: no GPU rows: $probe" >&2
    fi
fi

step "results"
"$PY" bench/report.py --rows "$ROWS" --out "$OUT" "${QUICK[@]}" \
    --ours-version "$OURS_VERSION" --load-before "$LOAD_BEFORE" --busy-before "$BUSY_BEFORE"
