#!/usr/bin/env bash
# Server throughput by build: the host (glibc) binary, the static musl binary with musl's own
# allocator, the static musl binary with mimalloc (what the image ships), and that binary inside
# the server image (buildah run, host network). Each serves the full-size q8_0 bundle on
# 127.0.0.1 and takes the same bounded load from examples/serve_load (CONCURRENCY clients,
# BATCH texts per request, REQUESTS requests), twice; the figures are texts/s.
#
#   bench/server.sh [CONCURRENCY] [BATCH] [REQUESTS]      (default 4 8 64)
#
# Needs target/full-size-q8_0.gguf (bench/native.sh packs it) and buildah with the image
# (deploy/build-image.sh; this script builds what is missing). Prints one line per run and a
# summary with each build's ratio to the host binary (target: the image at least 0.95x).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
CONCURRENCY="${1:-4}"
BATCH="${2:-8}"
REQUESTS="${3:-64}"
BUNDLE=target/full-size-q8_0.gguf
MUSL=x86_64-unknown-linux-musl
[[ -f "$BUNDLE" ]] || { echo "error: $BUNDLE is missing: run bench/native.sh first" >&2; exit 1; }

cargo build --release --locked -p xlmr-sentiment --bin xlmr-sentiment --example serve_load >&2
mkdir -p target/bench/server
cp target/release/xlmr-sentiment target/bench/server/glibc
cargo build --release --locked --target "$MUSL" -p xlmr-sentiment >&2
cp "target/$MUSL/release/xlmr-sentiment" target/bench/server/musl-system
cargo build --release --locked --target "$MUSL" --features mimalloc -p xlmr-sentiment >&2
cp "target/$MUSL/release/xlmr-sentiment" target/bench/server/musl-mimalloc
deploy/build-image.sh --tag xlmr-sentiment:bench > /dev/null

port=18181
load() {
    for _ in 1 2; do
        target/release/examples/serve_load "http://127.0.0.1:$port" "$CONCURRENCY" "$BATCH" "$REQUESTS" 2>&1 \
            | sed -n 's/.* \([0-9.]*\) texts\/s.*/\1/p' | head -n 1
    done
}
wait_ready() {
    for _ in $(seq 600); do
        curl -sf "http://127.0.0.1:$port/ready" > /dev/null && return 0
        sleep 0.1
    done
    echo "error: the server did not become ready" >&2
    return 1
}
declare -A RATE
for build in glibc musl-system musl-mimalloc; do
    "target/bench/server/$build" serve --model "$BUNDLE" --addr "127.0.0.1:$port" 2> /dev/null &
    pid=$!
    wait_ready
    RATE[$build]="$(load | tr '\n' ' ')"
    kill -TERM "$pid"; wait "$pid" || true
    echo "$build: ${RATE[$build]}texts/s" >&2
done
models="$(mktemp -d)"
cp "$BUNDLE" "$models/model.gguf"
# The image runs as user 65532.
chmod 755 "$models" && chmod 644 "$models/model.gguf"
ctr="$(buildah --storage-driver vfs from xlmr-sentiment:bench)"
buildah --storage-driver vfs run --isolation chroot --network host -v "$models:/model:ro" \
    --env "ADDR=127.0.0.1:$port" "$ctr" -- /xlmr-sentiment serve 2> /dev/null &
pid=$!
wait_ready
RATE[image]="$(load | tr '\n' ' ')"
server="$(pgrep -P "$pid" -f xlmr-sentiment || pgrep -f '^/xlmr-sentiment serve' | head -n 1)"
kill -TERM "$server" 2> /dev/null || true
wait "$pid" || true
buildah --storage-driver vfs rm "$ctr" > /dev/null
rm -rf "$models"
echo "image: ${RATE[image]}texts/s" >&2

best() { tr ' ' '\n' <<< "$1" | sed '/^$/d' | sort -g | tail -n 1; }
host="$(best "${RATE[glibc]}")"
echo "CPU: $(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1), $(nproc) logical CPUs; load $CONCURRENCY x $BATCH texts x $REQUESTS requests; best of 2"
for build in glibc musl-system musl-mimalloc image; do
    rate="$(best "${RATE[$build]}")"
    printf '%-14s %8s texts/s  %sx the host binary\n' "$build" "$rate" "$(awk -v a="$rate" -v b="$host" 'BEGIN { printf "%.2f", a / b }')"
done
