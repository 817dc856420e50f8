#!/usr/bin/env bash
# Builds the server image (and, with --model, the model image) from local files only:
#
#   deploy/build-image.sh [--tag NAME:TAG] [--model FILE.gguf] [--model-tag NAME:TAG]
#
# 1. the static binary: `cargo build --release --locked --target x86_64-unknown-linux-musl
#    --no-default-features --features mimalloc -p xlmr-sentiment` (needs the musl target and
#    Debian's musl-tools; without the GPU backend, as a static binary cannot load a Vulkan
#    driver), then stripped;
# 2. `buildah bud --isolation chroot` of deploy/Containerfile (storage driver vfs, so it works
#    where overlay does not), tagged NAME:TAG (default xlmr-sentiment:VERSION);
# 3. with --model: the model image from deploy/Containerfile.model, holding FILE.gguf as
#    /model/model.gguf with its .sha256 (written here if FILE.gguf.sha256 is missing) and Debian's
#    static busybox for the init container's copy (default tag xlmr-sentiment-model:VERSION).
#
# With Docker instead of buildah: the same context folders work with
# `docker build -f deploy/Containerfile -t xlmr-sentiment target/image/server`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
TAG="xlmr-sentiment:$VERSION"
MODEL=""
MODEL_TAG="xlmr-sentiment-model:$VERSION"
while (($#)); do
    case "$1" in
        --tag) TAG="$2"; shift ;;
        --model) MODEL="$2"; shift ;;
        --model-tag) MODEL_TAG="$2"; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
BUILDAH=(buildah --storage-driver vfs)
TARGET=x86_64-unknown-linux-musl

rustup target list --installed | grep -qx "$TARGET" || rustup target add "$TARGET"
cargo build --release --locked --target "$TARGET" --no-default-features --features mimalloc -p xlmr-sentiment >&2
context=target/image/server
rm -rf "$context" && mkdir -p "$context"
cp "target/$TARGET/release/xlmr-sentiment" "$context/"
strip "$context/xlmr-sentiment"
"${BUILDAH[@]}" bud --isolation chroot -f deploy/Containerfile -t "$TAG" "$context" >&2
echo "$TAG"

if [[ -n "$MODEL" ]]; then
    [[ -f "$MODEL" ]] || { echo "error: --model $MODEL is not a file" >&2; exit 2; }
    context=target/image/model
    rm -rf "$context" && mkdir -p "$context"
    cp "$MODEL" "$context/model.gguf"
    if [[ -f "$MODEL.sha256" ]]; then
        sed "s|  .*$|  model.gguf|" "$MODEL.sha256" > "$context/model.gguf.sha256"
    else
        (cd "$context" && sha256sum model.gguf > model.gguf.sha256)
    fi
    cp /bin/busybox "$context/busybox"
    "${BUILDAH[@]}" bud --isolation chroot -f deploy/Containerfile.model -t "$MODEL_TAG" "$context" >&2
    echo "$MODEL_TAG"
fi
