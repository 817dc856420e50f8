#!/usr/bin/env bash
# The core's unit tests compiled for wasm32-wasip1 (simd128), once without and once with the
# `relaxed-simd` feature, i.e. the two int8 kernels of the npm package's two builds, each run
# against exact integer sums in Node and in headless Chromium (run.mjs). Needs the
# wasm32-wasip1 target, Chromium and `npm ci` here (tests/run.sh sees to all three).
# Arguments go to the test binaries (default: the kernel tests).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# Own target directory: these flags differ from the wasm32-unknown-unknown build's.
export CARGO_TARGET_WASM32_WASIP1_RUSTFLAGS="-C target-feature=+simd128"
# The kernels under test are the core's own code (opt-level 1 as in every test build); its
# dependencies only need to link, and at opt-level 0 they build in a fraction of the time.
deps_unoptimised='profile.dev.package."*".opt-level=0'
binaries=()
for features in "" "relaxed-simd"; do
    binaries+=("$(cargo test --locked -p xlmr-sentiment-core --lib --target wasm32-wasip1 \
        --target-dir "$root/target/wasm32-wasip1-tests" --features "$features" --no-run \
        --config "$deps_unoptimised" \
        --message-format=json --manifest-path "$root/Cargo.toml" \
        | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)")
done
args=("$@")
[ ${#args[@]} -gt 0 ] || args=(kernels --test-threads=1)
node "$here/run.mjs" "${binaries[@]}" -- "${args[@]}"
