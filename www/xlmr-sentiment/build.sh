#!/usr/bin/env bash
# Builds the npm package: the wasm crate (release, simd128 and relaxed SIMD), wasm-bindgen glue, wasm-opt, then
# the TypeScript. Needs the wasm32 target, wasm-bindgen-cli at the exact version of the
# wasm-bindgen crate in Cargo.lock, and `npm ci` done here (tests/run.sh sees to all three).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"

# Two builds of the same crate, one per int8 kernel (see crates/core/src/kernels/wasm32.rs):
# simd128 everywhere, and relaxed SIMD for engines that have it; src/wasm.ts picks one at load.
# Only the feature differs, so the second build recompiles just the core and the wasm crate, and
# wasm-bindgen writes the same JS glue for both (checked below): one glue, two modules.
rm -rf "$here/wasm"
glue="$(mktemp -d)"
trap 'rm -rf "$glue"' EXIT
for build in simd128 relaxed-simd; do
    features=""
    [ "$build" = relaxed-simd ] && features=relaxed-simd
    cargo build --locked --release -p xlmr-sentiment-wasm --target wasm32-unknown-unknown \
        --features "$features" --manifest-path "$root/Cargo.toml"
    wasm-bindgen --target web --out-dir "$glue/$build" \
        "$root/target/wasm32-unknown-unknown/release/xlmr_sentiment_wasm.wasm"
    "$here/node_modules/.bin/wasm-opt" -O --enable-simd --enable-relaxed-simd --enable-bulk-memory \
        --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
        --enable-reference-types --enable-multivalue \
        "$glue/$build/xlmr_sentiment_wasm_bg.wasm" -o "$glue/$build/xlmr_sentiment_wasm_bg.wasm"
done
for file in xlmr_sentiment_wasm.js xlmr_sentiment_wasm.d.ts xlmr_sentiment_wasm_bg.wasm.d.ts; do
    if ! cmp -s "$glue/simd128/$file" "$glue/relaxed-simd/$file"; then
        echo "build.sh: wasm-bindgen wrote a different $file for the relaxed-SIMD build" >&2
        exit 1
    fi
done
mkdir -p "$here/wasm"
cp "$glue/simd128/"xlmr_sentiment_wasm{.js,.d.ts,_bg.wasm.d.ts} "$here/wasm/"
cp "$glue/simd128/xlmr_sentiment_wasm_bg.wasm" "$here/wasm/xlmr_sentiment_wasm_simd128.wasm"
cp "$glue/relaxed-simd/xlmr_sentiment_wasm_bg.wasm" "$here/wasm/xlmr_sentiment_wasm_relaxed_simd.wasm"
if ! grep -q relaxed_dot_i8x16_i7x16 <("$here/node_modules/.bin/wasm-dis" --enable-simd \
        --enable-relaxed-simd "$here/wasm/xlmr_sentiment_wasm_relaxed_simd.wasm" 2>/dev/null); then
    echo "build.sh: the relaxed-SIMD build has no relaxed dot product" >&2
    exit 1
fi
rm -rf "$here/dist"
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.json"
for wasm in "$here"/wasm/*.wasm; do
    printf '%s: %s bytes raw, %s bytes gzipped\n' "$(basename "$wasm")" "$(wc -c < "$wasm")" \
        "$(gzip -9 -c "$wasm" | wc -c)"
done
