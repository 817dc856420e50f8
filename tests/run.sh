#!/usr/bin/env bash
# The one test command: installs what the tests need (skipping what is already there), then runs
# every test. CI runs exactly this through .ci/run, on a fresh clone of a bare machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

# Each step says how long the command has run (the budget on a fresh machine is 40 minutes).
step() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

step "tools: Chromium, the wasm32 targets, nightly's rust-src, wasm-bindgen-cli (the version in Cargo.lock), npm packages"
# The browser tests use $CHROMIUM when set (any Chromium or Chrome binary), else Debian's; only a
# Debian machine without either gets it from apt.
if [ -n "${CHROMIUM:-}" ]; then
    [ -x "$CHROMIUM" ] || { echo "CHROMIUM=$CHROMIUM is not an executable" >&2; exit 1; }
elif [ ! -x /usr/bin/chromium ]; then
    if ! command -v apt-get > /dev/null; then
        echo "no Chromium: install one and set CHROMIUM=/path/to/chromium" >&2
        exit 1
    fi
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium
fi
# The GPU tests run on a software Vulkan (Mesa's lavapipe) where no GPU is installed; a Debian
# machine gets it from apt, and then the GPU tests must run (XLMR_REQUIRE_GPU), not skip.
if [ ! -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ] && command -v apt-get > /dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq mesa-vulkan-drivers
fi
if [ -e /usr/share/vulkan/icd.d/lvp_icd.x86_64.json ]; then
    export XLMR_REQUIRE_GPU=1
else
    echo "no software Vulkan here: the GPU tests skip unless the machine has a GPU"
fi
# Mesa's device-select layer would print an error per process without a Wayland display.
export NODEVICE_SELECT=1
for target in wasm32-unknown-unknown wasm32-wasip1; do
    if ! rustup target list --installed | grep -qx "$target"; then
        rustup target add "$target"
    fi
done
# The npm package's threaded build rebuilds std with wasm atomics: the dated nightly that
# www/xlmr-sentiment/build.sh pins, with its rust-src.
nightly=$(sed -n 's/^NIGHTLY=//p' www/xlmr-sentiment/build.sh)
if ! rustup toolchain list | grep -q "^$nightly-"; then
    rustup toolchain install "$nightly" --profile minimal --component rust-src
fi
if ! rustup +"$nightly" component list --installed | grep -q '^rust-src'; then
    rustup component add rust-src --toolchain "$nightly"
fi
bindgen_version=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"$/\1/p')
if [ "$(wasm-bindgen --version 2>/dev/null | cut -d' ' -f2)" != "$bindgen_version" ]; then
    # Not --locked: the CLI's own lock file names a crate version the registry here lacks.
    # --force: cargo's own record may list this version while the binary is gone.
    cargo install --force wasm-bindgen-cli --version "$bindgen_version"
fi
for component in clippy rustfmt; do
    if ! rustup component list --installed | grep -q "^$component"; then
        rustup component add "$component"
    fi
done
(cd www/xlmr-sentiment && npm ci --no-audit --no-fund)
(cd tests/vite-consumer && npm ci --no-audit --no-fund)
(cd tests/wasm-kernels && npm ci --no-audit --no-fund)
(cd www/demo && npm ci --no-audit --no-fund)
(cd www/extension && npm ci --no-audit --no-fund)
# The Python environments of the Python, deploy and API steps are downloads, not builds: they
# install in the background while the lint and the Rust tests compile, and each of those
# steps waits for them.
mkdir -p target/tmp
venvs_log=target/tmp/python-venvs.log
(
    set -e
    for venv_and_requirements in "target/python-venv crates/python/requirements-test.txt" \
        "target/deploy-venv deploy/requirements-test.txt" \
        "target/api-venv tests/deploy/requirements-api.txt"; do
        set -- $venv_and_requirements
        [ -x "$1/bin/python" ] || python3 -m venv "$1"
        "$1/bin/pip" install -q --disable-pip-version-check -r "$2"
    done
) > "$venvs_log" 2>&1 &
venvs_pid=$!
# A run that stops early stops the installs too.
trap 'kill "$venvs_pid" 2> /dev/null || true' EXIT
venvs_ready=""
wait_for_venvs() {
    [ -z "$venvs_ready" ] || return 0
    if ! wait "$venvs_pid"; then
        cat "$venvs_log" >&2
        echo "installing the Python test environments failed (log above)" >&2
        exit 1
    fi
    venvs_ready=1
}

step "lint: rustfmt, clippy with warnings as errors (host and wasm32)"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo clippy -p xlmr-sentiment-wasm --target wasm32-unknown-unknown --locked -- -D warnings

step "Rust tests (unit, parity with transformers, errors, CLI; the GPU path on lavapipe)"
cargo test --workspace --locked
# The figures of the server's 10x overload test (crates/native/tests/server.rs).
echo "serve at 10x its capacity: $(tr -s ' \n' ' ' < target/tmp/server-overload.json)"

step "the wasm int8 kernels (simd128 and relaxed SIMD builds) against exact sums, in Node and Chromium"
tests/wasm-kernels/run.sh

step "fixture bundles for the npm and Python tests: xlmr-sentiment pack at every precision"
mkdir -p target/bundles
for precision in f32 f16 q8_0 q4; do
    target/debug/xlmr-sentiment pack tests/fixtures/models/tiny-sentiment --precision "$precision" \
        --out "target/bundles/tiny-sentiment-$precision.gguf" > /dev/null
done

step "the HTML reports (reproduce --html, eval --html) in Chromium: tables, bars, confusion matrices, nothing fetched, screenshots"
mkdir -p target/tmp
target/debug/xlmr-sentiment reproduce --model tests/fixtures/models/tiny-sentiment \
    --model target/bundles/tiny-sentiment-q8_0.gguf --dataset tests/fixtures/datasets/tweet_sentiment_multilingual \
    --html target/tmp/reproduce.html > /dev/null
target/debug/xlmr-sentiment eval --model tests/fixtures/models/tiny-sentiment \
    --data tests/fixtures/datasets/tweet_sentiment_multilingual --html target/tmp/eval.html > /dev/null
node tests/reports/screenshot.mjs target/tmp/reproduce.html target/tmp/eval.html

step "Python package: the wheel (maturin, abi3), then pytest: parity, pipeline shapes, bad input, Ray Data, Spark"
# Spark needs a Java runtime (17+ for PySpark 4); only a Debian machine without one gets it.
if ! command -v java > /dev/null; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq openjdk-17-jre-headless
fi
venv=target/python-venv
wait_for_venvs
rm -rf target/wheels
# The dev profile (dependencies at opt-level 3, ours at 1, as for `cargo test`) reuses the
# dependencies the Rust tests just built, where a release build would compile them all again.
# The code is the release wheel's; the tests run tiny models.
"$venv/bin/maturin" build --profile dev --locked -m crates/python/Cargo.toml --out target/wheels -i "$venv/bin/python"
"$venv/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps target/wheels/*.whl
# From another folder, so `import xlmr_sentiment` is the installed wheel, not the sources.
(cd target && python-venv/bin/python -m pytest -q -p no:cacheprovider ../crates/python/tests)

step "deploy: the Kubernetes manifests (schemas, policy scan), the images built and run with buildah"
# buildah builds and runs the images without a container engine; Debian's static busybox goes
# into the model image; musl-tools builds the static binary's C (ring, mimalloc).
missing=()
command -v buildah > /dev/null || missing+=(buildah)
[ -x /bin/busybox ] || missing+=(busybox-static)
command -v musl-gcc > /dev/null || missing+=(musl-tools)
if [ "${#missing[@]}" -gt 0 ]; then
    sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}"
fi
deploy_venv=target/deploy-venv
wait_for_venvs
"$deploy_venv/bin/kubernetes-validate" --strict --kubernetes-version 1.33 deploy/k8s/namespace.yaml \
    deploy/k8s/deployment.yaml deploy/k8s/service.yaml deploy/k8s/hpa.yaml deploy/k8s/pdb.yaml \
    deploy/k8s/networkpolicy.yaml
"$deploy_venv/bin/checkov" --config-file deploy/k8s/.checkov.yaml -d deploy/k8s
python3 tests/deploy/image_test.py

step "the server's API: /openapi.json equals docs/openapi.json, schemathesis against it, /docs offline in Chromium"
api_venv=target/api-venv
wait_for_venvs
python3 tests/deploy/api_test.py "$api_venv/bin/python"

step "npm package build and tarball: npm pack, whose prepack runs build.sh (core + wasm crate for wasm32: simd128, relaxed-SIMD and threaded builds; wasm-bindgen, wasm-opt, tsc)"
rm -rf target/npm && mkdir -p target/npm
(cd www/xlmr-sentiment && npm pack --pack-destination ../../target/npm)
# The package's types against the wasm-bindgen declarations the build just wrote.
www/xlmr-sentiment/node_modules/.bin/tsc --noEmit -p www/xlmr-sentiment/tsconfig.json

step "npm package tests: the tarball's contents, Node, the worker form in headless Chromium (threaded when cross-origin isolated), WebGPU on SwiftShader"
(cd www/xlmr-sentiment && node --test test/)

step "npm package in a Vite app: the tarball installed, vite build and vite dev, the README's example and both forms in Chromium"
(cd tests/vite-consumer && node --test)

step "the demo page in Chromium: typed texts against the golden outputs, no request off the origin, screenshots"
(cd www/demo && node --test test/)

step "the extension, unpacked in Chromium: popup, context-menu handler on a selection, requests"
(cd www/extension && node --test test/)

step "all tests passed"
