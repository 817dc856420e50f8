# Sourced by www/demo/build.sh and www/extension/build.sh: copies the files of a model folder that
# the page loads, found by the rule the CLI and the npm loader follow (crates/core/src/files.rs):
# config.json; tokenizer.json, else sentencepiece.bpe.model; model.safetensors, else
# pytorch_model.bin. A folder with none of a kind is refused, naming what is missing.
#
#   copy_model_folder SRC DST
copy_model_folder() {
    local src="$1" dst="$2" name found
    if [[ ! -f "$src/config.json" ]]; then
        echo "build.sh: $src has no config.json: not a model folder" >&2
        return 1
    fi
    mkdir -p "$dst"
    cp "$src/config.json" "$dst/"
    for kind in "tokenizer.json sentencepiece.bpe.model" "model.safetensors pytorch_model.bin"; do
        found=""
        for name in $kind; do
            if [[ -f "$src/$name" ]]; then
                cp "$src/$name" "$dst/"
                found="$name"
                break
            fi
        done
        if [[ -z "$found" ]]; then
            echo "build.sh: $src has none of: $kind" >&2
            return 1
        fi
    done
}
