#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz, libFuzzer, AddressSanitizer) of every parser a user's
# bytes reach. Not part of the test command.
#
#   fuzz/run.sh [SECONDS] [TARGET ...]
#
# Runs each target (all by default) for SECONDS (default 60) and prints, per target, the
# executions, coverage, corpus size and findings of this run, then the totals over every run
# recorded in fuzz/out/history.tsv. A finding is a crash or panic, a case over 1 s (timeout) or
# over 2 GB (out of memory); its input lands in fuzz/artifacts/TARGET/ and the script exits 1.
# Reproduce one with: cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE
# Long runs: call it repeatedly (e.g. in the background, 600 s at a time); the corpus in
# fuzz/corpus/ grows across runs and the history adds up the hours.
set -euo pipefail
cd "$(dirname "$0")"
root=$(cd .. && pwd)
seconds=${1:-60}
shift || true
all=(config_json tokenizer_json sentencepiece_model safetensors pytorch_bin gguf_bundle
     gguf_stream batch_readers eval_readers server_bodies classify_text)
targets=("${@:-${all[@]}}")

# Tools: a nightly toolchain (sanitizers) and cargo-fuzz, installed where missing.
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --version 0.13.2

fixtures=$root/tests/fixtures
mkdir -p out corpus artifacts
# Bundles of the fixtures for the GGUF targets, packed by the CLI at every precision.
bundles=out/bundles
if [ ! -f "$bundles/done" ]; then
  (cd "$root" && cargo build --quiet -p xlmr-sentiment --bin xlmr-sentiment)
  mkdir -p "$bundles"
  for model in tiny-sentiment tiny-score; do
    for precision in f32 f16 q8_0 q4; do
      "$root/target/debug/xlmr-sentiment" pack "$fixtures/models/$model" --precision $precision \
        --out "$bundles/$model-$precision.gguf" > /dev/null
    done
  done
  touch "$bundles/done"
fi

# Each target's seeds: fuzz/seeds/TARGET (committed) and the fixture files it reads.
seed() { # target files...
  local target=$1 file; shift
  mkdir -p "corpus/$target"
  [ -d "seeds/$target" ] && cp -n seeds/"$target"/* "corpus/$target/"
  for file in "$@"; do
    cp -n "$file" "corpus/$target/fixture-$(basename "$(dirname "$file")")-$(basename "$file")"
  done
}
seed config_json "$fixtures"/models/*/config.json
seed tokenizer_json "$fixtures"/models/*/tokenizer.json
seed sentencepiece_model "$fixtures"/models/*/sentencepiece.bpe.model
seed safetensors "$fixtures"/models/*/model.safetensors
seed pytorch_bin "$fixtures"/models/*/pytorch_model.bin
seed gguf_bundle "$bundles"/*.gguf
seed gguf_stream
for b in "$bundles"/*.gguf; do # the stream's last 4 bytes: pieces' seed, bit 0 = length known
  [ -f "corpus/gguf_stream/$(basename "$b")" ] || { cat "$b"; printf '\x01\x10\x00\x00'; } > "corpus/gguf_stream/$(basename "$b")"
done
seed batch_readers
seed eval_readers $(find "$fixtures/datasets" -name '*.parquet' | sort | head -n 4)
seed server_bodies
seed classify_text
[ -f corpus/classify_text/fixture-languages ] ||
  { printf '\x09\x00\x00\x07'; cut -f2 "$fixtures/languages.tsv" | tr '\n' '\037'; } > corpus/classify_text/fixture-languages

dict_of() {
  case $1 in
    gguf_*) echo dict/gguf.dict ;;
    safetensors|pytorch_bin) echo dict/weights.dict ;;
    sentencepiece_model|classify_text) echo "" ;;
    *) echo dict/json.dict ;;
  esac
}

cargo +nightly fuzz build -O --debug-assertions 2> out/build.log > /dev/null ||
  { tail -n 30 out/build.log; exit 2; }
[ -f out/history.tsv ] || printf 'date\ttarget\tseconds\texecutions\tcov\tft\tcorpus\tfindings\n' > out/history.tsv
found=0
printf '%-20s %8s %12s %8s %8s %8s %8s  %s\n' target seconds executions exec/s cov ft corpus findings
for target in "${targets[@]}"; do
  mkdir -p "artifacts/$target"
  before=$(ls "artifacts/$target" | wc -l)
  dict=$(dict_of "$target")
  log=out/$target.log
  start=$(date +%s)
  # -timeout: a case over 1 s is a finding; -rss_limit_mb: over 2 GB is; inputs up to 10 MB.
  cargo +nightly fuzz run -O --debug-assertions "$target" "corpus/$target" -- \
    -max_total_time="$seconds" -timeout=1 -rss_limit_mb=2048 -max_len=10485760 \
    -print_final_stats=1 -artifact_prefix="artifacts/$target/" ${dict:+-dict=$dict} \
    > "$log" 2>&1 || true
  took=$(( $(date +%s) - start ))
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  corpus=$(ls "corpus/$target" | wc -l)
  new=$(( $(ls "artifacts/$target" | wc -l) - before ))
  what=$( ((new)) && ls -t "artifacts/$target" | head -n "$new" | tr '\n' ' ' || echo none)
  ((new)) && found=1
  printf '%-20s %8s %12s %8s %8s %8s %8s  %s\n' "$target" "$took" "${execs:-?}" "${rate:-?}" \
    "${cov:-?}" "${ft:-?}" "$corpus" "$what"
  ((new)) && grep -m 3 -E "panicked|ERROR: libFuzzer|SUMMARY" "$log" | sed 's/^/    /'
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$target" "$took" "${execs:-0}" \
    "${cov:-}" "${ft:-}" "$corpus" "$new" >> out/history.tsv
done
echo
echo "all runs recorded in fuzz/out/history.tsv:"
awk -F'\t' 'NR > 1 { s[$2] += $3; e[$2] += $4; f[$2] += $8 }
  END { printf "%-20s %8s %14s %8s\n", "target", "hours", "executions", "findings";
        for (t in s) printf "%-20s %8.2f %14d %8d\n", t, s[t] / 3600, e[t], f[t] }' out/history.tsv | sort
exit $found
