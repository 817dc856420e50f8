#!/usr/bin/env bash
# Compares the language detectors of issue 10, whatlang and lingua (every language), on the
# golden texts (tests/fixtures/languages.tsv): accuracy by kind of text and time per text
# (native, release), then the size each adds to a wasm32 build (raw and gzipped).
#
#   bench/language.sh
#
# Builds bench/language (its own cargo project, outside the workspace) into
# target/language-comparison. The first run downloads lingua's language models from crates.io
# (hundreds of MB) and takes several minutes. Not part of the test command.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export CARGO_TARGET_DIR="$ROOT/target/language-comparison"
cd "$ROOT/bench/language"

echo "== accuracy and speed (native, release)"
cargo run --quiet --release --bin compare -- "$ROOT/tests/fixtures/languages.tsv"

echo
echo "== size of a wasm32 build with each detector (release, LTO)"
rustup target add wasm32-unknown-unknown >/dev/null 2>&1 || true
for detector in none whatlang lingua; do
    features=()
    [[ "$detector" == none ]] || features=(--features "$detector")
    cargo build --quiet --release --lib --target wasm32-unknown-unknown \
        --no-default-features "${features[@]}"
    wasm="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/language_detector_comparison.wasm"
    cp "$wasm" "$CARGO_TARGET_DIR/$detector.wasm"
    raw=$(stat -c %s "$wasm")
    gz=$(gzip -9 -c "$wasm" | wc -c)
    printf '%-9s %12s bytes raw %12s bytes gzipped\n' "$detector" "$raw" "$gz"
done
