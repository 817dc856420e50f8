#!/usr/bin/env bash
# Browser speed benchmark: our npm package against transformers.js, side by side in headless
# Chromium, with one protocol and the same weights.
#
#   bench/browser.sh [--quick] [--gpu] [--out FILE]
#
# --gpu adds our rows and transformers.js' on WebGPU (f32, texts/s at batch 1, 16 and 128, the
# load time and the adapter's name: see bench/browser.mjs), in a table of their own. Without a
# GPU, Chromium's WebGPU adapter is SwiftShader, a software one: its figures only show that the
# path runs, and the table says so; there the full-size model takes seconds per text, so the
# GPU runs take hours (the correctness checks are in www/xlmr-sentiment/test/webgpu.test.mjs).
#
# Eight runs, one after the other, each in its own Chromium on a fresh profile:
#   engine          xlmr-sentiment (www/xlmr-sentiment's worker form, as a page should run it:
#                   `loadInWorker(url, { threads: 1 })` of a bundle when not isolated; isolated,
#                   `loadInWorker(url, { threads: 2 })`, which runs the threaded build)
#                   transformers.js (bench/browser/package.json pins the version; `pipeline(
#                   'text-classification', id, { dtype, device: 'wasm' })`, main thread)
#   precision       f32: our target/full-size-f32.gguf, transformers.js' onnx/model.onnx
#                   int8: our target/full-size-q8_0.gguf, transformers.js' onnx/model_quantized.onnx
#   isolation       not isolated (no SharedArrayBuffer, one thread), and cross-origin isolated
#                   (the server sends COOP same-origin and COEP require-corp; transformers.js gets
#                   env.backends.onnx.wasm.numThreads = 2, ours a pool of 2 threads)
# all on the full-size random model (the real model's shapes; bench/full_size_model.py): the same
# weights on both sides, packed by `xlmr-sentiment pack` for us and exported by
# bench/export_onnx.py for ONNX Runtime (the same files bench/native.sh measures).
#
# Per run (bench/browser.mjs drives Chromium, bench/browser/page.mjs is the page):
#   load_cold_s      import of the library to the first result, on the fresh profile
#   load_cached_s    the same on a second page of that profile (both engines keep the model in
#                    Cache Storage); every figure below is from this second page.
#                    cached_load_model_requests counts the model files it fetched again (0 when
#                    the cache worked; transformers.js fails to store the 1.1 GB fp32 file)
#   latency_p50_ms   one 32-token text (target/bench/texts.json), median of 20 calls after 3
#                    warm-ups; latency_after_ms: 20 more calls after the throughput pass
#   texts_per_s      the first 64 throughput texts (20-47 tokens), in batches of 16
#   peak_rss_mb      the highest VmHWM (/proc) of the run's renderer processes, as
#                    www/xlmr-sentiment/bench/browser-memory.mjs measures it
#   js_heap_mb       JS heap in use after the cached load and a garbage collection (CDP
#                    Runtime.getHeapUsage; wasm memory is not part of it)
#   threads          the thread count the engine really runs with (onnxruntime-web writes it back)
#   wasm_build       ours only: the WebAssembly build the package picked (relaxed-simd-threads,
#                    relaxed-simd, simd128)
#   agreement_with_f32, max_prob_change
#                    int8 rows: on the throughput texts, the share whose top label is the one the
#                    same engine's f32 gives, and the largest change of any label's probability
#   also: version (of the engine), chromium, first_result (the first answer: with the same
#                    weights both engines agree to about 1e-3), requests (all the run's requests)
# Ours runs with `preprocess: false` (the texts contain nothing the tweet preprocessing changes).
#
# Network: pages come from a 127.0.0.1 server (tests/chromium.mjs: `serveFiles`, and
# `launchChromium` for Debian's /usr/bin/chromium through playwright-core, headless). transformers.js
# runs with env.allowRemoteModels = false and env.localModelPath = '/models/', and onnxruntime-web's
# wasm files (by default from jsDelivr) come from bench/browser/node_modules. Every request is
# logged on stderr; any request that leaves 127.0.0.1 fails the run.
#
# Steps, each skipped when its output is already there:
#   1. www/xlmr-sentiment/dist and wasm (www/xlmr-sentiment/build.sh)
#   2. target/release/xlmr-sentiment, the bundles target/full-size-q8_0.gguf and
#      target/full-size-f32.gguf (`xlmr-sentiment pack`)
#   3. target/bench/texts.json and target/bench/onnx/*.onnx: written by bench/native.sh (run it
#      first; this script stops with a message if they are missing)
#   4. target/bench/transformers-js/xlmr-full-size: the transformers.js model folder, symbolic
#      links to the full-size model's config.json and tokenizer.json and to the ONNX files (as
#      onnx/model.onnx and onnx/model_quantized.onnx), and bench/browser/tokenizer_config.json
#      (transformers.js loads no tokenizer without one; XLM-R's names XLMRobertaTokenizer)
#   5. bench/browser/node_modules (`npm ci`; install scripts are off, see bench/browser/.npmrc)
#   6. the runs (their rows to target/bench/browser-rows.json), then bench/report.py writes them
#      with the machine, date and versions to --out (default bench/results/browser.json, meant
#      to be committed; with --quick, target/bench/browser-quick.json), its Markdown table with
#      our ratios to transformers.js at the same precision and isolation beside it (.md), and
#      prints that table on stdout (the only thing written there; progress goes to stderr).
#
# --quick runs fewer repetitions (3 latency calls after 1 warm-up, 16 texts), to check that
# everything works: its numbers mean little. Compare engines only within one run, on an otherwise
# idle machine: the CPU of this kind of machine changes between sessions.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

QUICK=()
GPU=()
OUT=""
while (($#)); do
    case "$1" in
        --quick) QUICK=(--quick) ;;
        --gpu) GPU=(--gpu) ;;
        --out)
            [[ $# -ge 2 ]] || { echo "error: --out needs a file" >&2; exit 2; }
            OUT="$2"
            shift
            ;;
        --out=*) OUT="${1#--out=}" ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [[ -z "$OUT" ]]; then
    if ((${#QUICK[@]})); then OUT=target/bench/browser-quick.json; else OUT=bench/results/browser.json; fi
fi

MODEL=target/full-size-model
BIN=target/release/xlmr-sentiment
PKG=www/xlmr-sentiment
TEXTS=target/bench/texts.json
ONNX=target/bench/onnx
TFJS_MODEL=target/bench/transformers-js/xlmr-full-size

step() { printf '\n== %s\n' "$*" >&2; }
die() { echo "error: $*" >&2; exit 1; }

# 1. The npm package.
if [[ ! -f "$PKG/dist/index.js" || ! -f "$PKG/wasm/xlmr_sentiment_wasm_relaxed_simd.wasm" ]]; then
    step "building $PKG"
    "$PKG/build.sh" >&2
fi

# 2. The bundles.
[[ -f "$MODEL/config.json" && -f "$MODEL/tokenizer.json" ]] || die "$MODEL is missing: run bench/native.sh first"
declare -A BUNDLE=([f32]=target/full-size-f32.gguf [q8_0]=target/full-size-q8_0.gguf)
for p in f32 q8_0; do
    if [[ ! -f "${BUNDLE[$p]}" ]]; then
        if [[ ! -x "$BIN" ]]; then
            step "building xlmr-sentiment"
            cargo build --release -p xlmr-sentiment >&2
        fi
        step "packing ${BUNDLE[$p]}"
        "$BIN" pack "$MODEL" --precision "$p" --out "${BUNDLE[$p]}" --no-verify >&2
    fi
done

# 3. The texts and the ONNX files.
for f in "$TEXTS" "$ONNX/model.onnx" "$ONNX/model_quantized.onnx"; do
    [[ -f "$f" ]] || die "$f is missing: run bench/native.sh first (it writes it)"
done

# 4. The transformers.js model folder.
mkdir -p "$TFJS_MODEL/onnx"
ln -sfn "$ROOT/$MODEL/config.json" "$TFJS_MODEL/config.json"
ln -sfn "$ROOT/$MODEL/tokenizer.json" "$TFJS_MODEL/tokenizer.json"
ln -sfn "$ROOT/$ONNX/model.onnx" "$TFJS_MODEL/onnx/model.onnx"
ln -sfn "$ROOT/$ONNX/model_quantized.onnx" "$TFJS_MODEL/onnx/model_quantized.onnx"
cp bench/browser/tokenizer_config.json "$TFJS_MODEL/tokenizer_config.json"

# 5. transformers.js and playwright-core.
if [[ ! -d bench/browser/node_modules ]]; then
    step "npm ci in bench/browser"
    (cd bench/browser && npm ci --no-audit --no-fund >&2)
fi
[[ -x "${CHROMIUM:-/usr/bin/chromium}" ]] || die "no Chromium at ${CHROMIUM:-/usr/bin/chromium}: apt-get install -y chromium"

# 6. The runs.
step "benchmark$( ((${#QUICK[@]})) && echo ' (quick)'), writing $OUT"
ROWS=target/bench/browser-rows.json
node bench/browser.mjs --out "$ROWS" "${QUICK[@]}" "${GPU[@]}"
# The results file (machine, date, versions, rows) and its Markdown table beside it.
python3 bench/report.py --browser-rows "$ROWS" --out "$OUT" "${QUICK[@]}"
