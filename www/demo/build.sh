#!/usr/bin/env bash
# Builds the demo page as a folder of static files: the page (index.html, app.js, style.css) and
# the npm package's dist/ and wasm/ under xlmr-sentiment/. Serve the folder with any static file
# server; put the model in its model/ folder (or open the page with ?model=URL).
#
#   www/demo/build.sh [OUT] [--model DIR|FILE.gguf]
#
# OUT defaults to target/demo. --model copies a model folder's files into OUT/model/ (config.json,
# tokenizer.json or sentencepiece.bpe.model, model.safetensors or pytorch_model.bin: the folders
# the CLI loads), or a bundle to OUT/model.gguf (open ?model=./model.gguf).
# Needs the npm package built (www/xlmr-sentiment/build.sh; tests/run.sh does it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
# shellcheck source=../copy-model.sh
source "$here/../copy-model.sh"
out="$root/target/demo"
model=""
while (($#)); do
    case "$1" in
        --model) model="$2"; shift 2 ;;
        -h|--help) sed -n 2,11p "$0"; exit 0 ;;
        *) out="$1"; shift ;;
    esac
done
package="$root/www/xlmr-sentiment"
if [[ ! -f "$package/dist/worker-client.js" ]]; then
    echo "build.sh: the npm package is not built; run www/xlmr-sentiment/build.sh first" >&2
    exit 1
fi
mkdir -p "$out/xlmr-sentiment"
cp "$here/index.html" "$here/app.js" "$here/style.css" "$here/sw.js" "$out/"
rm -rf "$out/ui"
cp -r "$here/../ui" "$out/ui"
rm -rf "$out/xlmr-sentiment/dist" "$out/xlmr-sentiment/wasm"
cp -r "$package/dist" "$package/wasm" "$out/xlmr-sentiment/"
# The page's own files, for the service worker to keep (offline use): every file written above
# but sw.js itself, and a version that changes with their contents.
(
    cd "$out"
    files=(index.html app.js style.css $(find ui xlmr-sentiment -type f ! -name "*.d.ts" | sort))
    version=$(cat "${files[@]}" | sha256sum | cut -c1-16)
    printf '{\n  "version": "%s",\n  "files": [\n' "$version"
    for i in "${!files[@]}"; do
        sep=","; [ "$i" -eq $((${#files[@]} - 1)) ] && sep=""
        printf '    "./%s"%s\n' "${files[$i]}" "$sep"
    done
    printf '  ]\n}\n'
) > "$out/shell.json"
if [[ -n "$model" ]]; then
    if [[ -d "$model" ]]; then
        rm -rf "$out/model"
        copy_model_folder "$model" "$out/model"
    else
        cp "$model" "$out/model.gguf"
    fi
fi
echo "demo written to $out; serve it, e.g. python3 -m http.server -d $out 8000"
