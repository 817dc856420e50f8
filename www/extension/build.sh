#!/usr/bin/env bash
# Builds the browser extension (Manifest V3) with the model inside it: an unpacked folder to load
# with chrome://extensions ("Load unpacked") or --load-extension, and a zip of that folder ready
# for the Chrome Web Store.
#
#   www/extension/build.sh --model DIR|FILE.gguf [--languages en,fr,...] [--out DIR]
#
# --model: a model folder (config.json, tokenizer.json or sentencepiece.bpe.model,
#   model.safetensors or pytorch_model.bin: the folders the CLI loads) or a bundle from
#   `xlmr-sentiment pack` (recommended: a q8_0 bundle is a quarter of the f32 weights).
# --languages: the model's trained languages, when the bundle does not record them.
# --out: the unpacked folder (default target/extension); the zip is written beside it as
#   DIR.zip. Needs the npm package built (www/xlmr-sentiment/build.sh).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../copy-model.sh
source "$here/../copy-model.sh"
out="$root/target/extension"
model=""
languages=""
while (($#)); do
    case "$1" in
        --model) model="$2"; shift 2 ;;
        --languages) languages="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n 2,13p "$0"; exit 0 ;;
        *) echo "build.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
if [[ -z "$model" ]]; then
    echo "build.sh: --model DIR|FILE.gguf is required: the model ships inside the extension" >&2
    exit 2
fi
package="$root/www/xlmr-sentiment"
if [[ ! -f "$package/dist/worker-client.js" ]]; then
    echo "build.sh: the npm package is not built; run www/xlmr-sentiment/build.sh first" >&2
    exit 1
fi
rm -rf "$out"
mkdir -p "$out/xlmr-sentiment"
cp "$here"/{manifest.json,background.js,offscreen.html,offscreen.js,popup.html,popup.js,popup.css} "$out/"
cp -r "$here/../ui" "$out/ui"
mkdir -p "$out/icons"
cp "$here"/icons/icon-*.png "$out/icons/"
cp -r "$package/dist" "$package/wasm" "$out/xlmr-sentiment/"
find "$out/xlmr-sentiment" -name '*.d.ts' -delete
if [[ -d "$model" ]]; then
    copy_model_folder "$model" "$out/model"
    path="model/"
else
    cp "$model" "$out/model.gguf"
    path="model.gguf"
fi
if [[ -n "$languages" ]]; then
    list=$(printf '%s' "$languages" | sed 's/[^a-z,]//g; s/,/", "/g')
    printf '{ "path": "%s", "languages": ["%s"] }\n' "$path" "$list" > "$out/model.json"
else
    printf '{ "path": "%s" }\n' "$path" > "$out/model.json"
fi
rm -f "$out.zip"
(cd "$out" && zip -q -r -X "$out.zip" .)
echo "unpacked extension: $out; Web Store zip: $out.zip ($(du -h "$out.zip" | cut -f1))"
