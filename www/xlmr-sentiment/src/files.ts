/**
 * A model folder's file names, in the order `load(url)` tries them: the core's one rule
 * (`crates/core/src/files.rs`, which the native CLI follows too), checked against it by
 * `crates/core/tests/wire_types.rs`.
 */
export const CONFIG_FILE = "config.json";
export const TOKENIZER_FILE = "tokenizer.json";
export const SENTENCEPIECE_FILE = "sentencepiece.bpe.model";
export const WEIGHT_FILES = ["model.safetensors", "pytorch_model.bin"];
