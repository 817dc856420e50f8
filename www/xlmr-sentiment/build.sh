#!/usr/bin/env bash
# Builds the npm package: the wasm crate (release: simd128, relaxed SIMD, and relaxed SIMD with
# threads), wasm-bindgen glue, wasm-opt, then
# the TypeScript, and the licenses copied in beside the README for the tarball. `npm pack` and
# `npm publish` run it (the `prepack` script). Needs the wasm32 target, the nightly below with rust-src (threaded build),
# wasm-bindgen-cli at the exact version of the wasm-bindgen crate in Cargo.lock, and `npm ci` done
# here (tests/run.sh sees to all of them).
set -euo pipefail
# The threaded build's toolchain: a dated nightly, so a later nightly (or a change in -Z
# build-std) cannot break the build unseen. tests/run.sh reads this line; move both together.
NIGHTLY=nightly-2026-05-20
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
# The third build, for cross-origin isolated workers: relaxed SIMD plus wasm threads (shared
# memory, atomics), so rayon's pool runs on Web Workers (wasm-bindgen-rayon). The standard
# library must be rebuilt with atomics, which only nightly can do (-Z build-std, rust-src);
# tests/run.sh installs rust-src. Its own target dir: other flags, other std. 4 GiB maximum
# memory, as the single-thread builds have (a shared memory must declare its maximum; 1 GiB
# would be too small for the f32 model).
threads_target="$root/target/wasm-threads"
# The linker makes the memory shared and imported (so every worker instantiates the module on
# the same memory) and exports the thread-local storage symbols wasm-bindgen's thread support
# needs; current rustc no longer passes these for +atomics by itself.
threads_link="--shared-memory --import-memory --max-memory=4294967296 --export=__wasm_init_tls --export=__tls_size --export=__tls_align --export=__tls_base"
RUSTFLAGS="-C target-feature=+simd128,+relaxed-simd,+atomics,+bulk-memory,+mutable-globals --cfg getrandom_backend=\"wasm_js\" $(printf -- ' -C link-arg=%s' $threads_link)" \
    cargo +"$NIGHTLY" build --locked --release -p xlmr-sentiment-wasm --target wasm32-unknown-unknown \
    --features threads -Z build-std=panic_abort,std --target-dir "$threads_target" \
    --manifest-path "$root/Cargo.toml"
wasm-bindgen --target web --out-dir "$glue/threads" \
    "$threads_target/wasm32-unknown-unknown/release/xlmr_sentiment_wasm.wasm"
"$here/node_modules/.bin/wasm-opt" -O --enable-simd --enable-relaxed-simd --enable-bulk-memory \
    --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    --enable-reference-types --enable-multivalue --enable-threads \
    "$glue/threads/xlmr_sentiment_wasm_bg.wasm" -o "$glue/threads/xlmr_sentiment_wasm_bg.wasm"
# wasm-bindgen-rayon's worker script imports the glue as `../../..`, a folder that only bundlers
# resolve (to the package entry); browsers need the file itself.
helpers=("$glue"/threads/snippets/wasm-bindgen-rayon-*/src/workerHelpers.js)
if [ "${#helpers[@]}" -ne 1 ] || ! grep -q "import('../../..')" "${helpers[0]}"; then
    echo "build.sh: wasm-bindgen-rayon's worker script changed; check the import fix below" >&2
    exit 1
fi
sed -i "s|import('../../..')|import('../../../xlmr_sentiment_wasm.js')|" "${helpers[0]}"

# wasm-bindgen's comments over closure casts name each shim's index in the module, which the
# relaxed-SIMD build numbers differently (wgpu's WebGPU callbacks); the code itself must match.
code_of() { grep -v '^ *// Cast intrinsic for ' "$1"; }
for file in xlmr_sentiment_wasm.js xlmr_sentiment_wasm.d.ts xlmr_sentiment_wasm_bg.wasm.d.ts; do
    if ! cmp -s <(code_of "$glue/simd128/$file") <(code_of "$glue/relaxed-simd/$file"); then
        echo "build.sh: wasm-bindgen wrote a different $file for the relaxed-SIMD build" >&2
        exit 1
    fi
done
mkdir -p "$here/wasm"
cp "$glue/simd128/"xlmr_sentiment_wasm{.js,.d.ts,_bg.wasm.d.ts} "$here/wasm/"
cp "$glue/simd128/xlmr_sentiment_wasm_bg.wasm" "$here/wasm/xlmr_sentiment_wasm_simd128.wasm"
cp "$glue/relaxed-simd/xlmr_sentiment_wasm_bg.wasm" "$here/wasm/xlmr_sentiment_wasm_relaxed_simd.wasm"
mkdir -p "$here/wasm/threads"
cp -r "$glue/threads/"{xlmr_sentiment_wasm.js,xlmr_sentiment_wasm.d.ts,snippets} "$here/wasm/threads/"
cp "$glue/threads/xlmr_sentiment_wasm_bg.wasm" "$here/wasm/xlmr_sentiment_wasm_relaxed_simd_threads.wasm"
if ! grep -q relaxed_dot_i8x16_i7x16 <("$here/node_modules/.bin/wasm-dis" --enable-simd \
        --enable-relaxed-simd "$here/wasm/xlmr_sentiment_wasm_relaxed_simd.wasm" 2>/dev/null); then
    echo "build.sh: the relaxed-SIMD build has no relaxed dot product" >&2
    exit 1
fi
rm -rf "$here/dist"
"$here/node_modules/.bin/tsc" -p "$here/tsconfig.json"
# npm puts LICENSE* of the package folder into every tarball; the texts live once, at the root.
cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$here/"
for wasm in "$here"/wasm/*.wasm; do
    printf '%s: %s bytes raw, %s bytes gzipped\n' "$(basename "$wasm")" "$(wc -c < "$wasm")" \
        "$(gzip -9 -c "$wasm" | wc -c)" >&2
done
