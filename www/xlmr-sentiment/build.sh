#!/usr/bin/env bash
# Builds the npm package: the wasm crate (release, simd128), wasm-bindgen glue, wasm-opt, then
# the TypeScript. Needs the wasm32 target, wasm-bindgen-cli at the exact version of the
# wasm-bindgen crate in Cargo.lock, and `npm ci` done here (tests/run.sh sees to all three).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

cargo build --locked --release -p xlmr-sentiment-wasm --target wasm32-unknown-unknown \
    --manifest-path "$root/Cargo.toml"
rm -rf "$here/wasm"
wasm-bindgen --target web --out-dir "$here/wasm" \
    "$root/target/wasm32-unknown-unknown/release/xlmr_sentiment_wasm.wasm"
"$here/node_modules/.bin/wasm-opt" -O --enable-simd --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$here/wasm/xlmr_sentiment_wasm_bg.wasm" -o "$here/wasm/xlmr_sentiment_wasm_bg.wasm"
rm -rf "$here/dist"
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.json"
wasm="$here/wasm/xlmr_sentiment_wasm_bg.wasm"
printf 'wasm: %s bytes raw, %s bytes gzipped\n' "$(wc -c < "$wasm")" "$(gzip -9 -c "$wasm" | wc -c)"
