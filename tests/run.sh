#!/usr/bin/env bash
# The one test command: installs what the tests need (skipping what is already there), then runs
# every test. CI runs exactly this through .ci/run, on a fresh clone of a bare machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain: the wasm32 target"
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
    rustup target add wasm32-unknown-unknown
fi

step "Rust tests (unit, parity with transformers, errors, CLI)"
cargo test --workspace --locked

step "the core builds for wasm32-unknown-unknown with simd128 (.cargo/config.toml)"
cargo build --locked -p xlmr-sentiment-core --target wasm32-unknown-unknown

step "all tests passed"
