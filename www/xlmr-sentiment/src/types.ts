/** Public types of the xlmr-sentiment package. */

import type { WasmBuild } from "./wasm.js";

/** One label and its probability (or raw logit with `function: "none"`). */
export interface LabelScore {
  label: string;
  score: number;
  /** With `language: true`: the text's detected language (ISO 639-1), or `null` when detection is not reliable. */
  language?: string | null;
  /** With `language: true`: whether the model was trained on that language; `null` unless both are known. */
  languageSupported?: boolean | null;
}

/** Options of `classify`, shaped like transformers.js' text-classification pipeline. */
export interface ClassifyOptions {
  /** How many labels to return per text, highest first: 1 by default; `null` returns every label. */
  topK?: number | null;
  /** The model card's tweet preprocessing (`@handle` -> `@user`, links -> `http`); on by default. */
  preprocess?: boolean;
  /** Token limit per text, `<s>` and `</s>` included (default and maximum: the model's, 512). */
  maxLength?: number;
  /** Texts per forward pass (default 32). */
  batchSize?: number;
  /** Score function; by default the one the transformers pipeline picks for the model. */
  function?: "softmax" | "sigmoid" | "none";
  /**
   * Detect each text's language: every result also carries `language` (ISO 639-1, or `null` for
   * very short text, emoji only or mixed scripts) and `languageSupported` (whether the model was
   * trained on it: `null` unless both are known). Off by default.
   */
  language?: boolean;
}

/** A text's full result: `classifyDetailed` returns one per text. */
export interface Prediction {
  /** The highest-scoring label and its score. */
  label: string;
  score: number;
  /** Every label's score, in the model's label order. */
  scores: LabelScore[];
  /** Whether the text was cut to the token limit before classification. */
  truncated: boolean;
  /** Tokens the model saw, `<s>` and `</s>` included. */
  tokens: number;
  /** With `language: true`: see `LabelScore.language`. */
  language?: string | null;
  /** With `language: true`: see `LabelScore.languageSupported`. */
  languageSupported?: boolean | null;
}

/** The three files of a Hugging Face model folder, as bytes. */
export interface ModelFiles {
  config: Uint8Array | ArrayBuffer;
  tokenizer: Uint8Array | ArrayBuffer;
  /** `model.safetensors` or `pytorch_model.bin`. */
  weights: Uint8Array | ArrayBuffer;
}

/** A bundle written by `xlmr-sentiment pack` (one `.gguf` file: weights, config and tokenizer). */
export interface ModelBundle {
  bundle: Uint8Array | ArrayBuffer;
}

/** A model as bytes: the three files of a folder, or one bundle. */
export type ModelBytes = ModelFiles | ModelBundle;

/** Loading progress. `loaded`/`total` are bytes (`total` is 0 while unknown). */
export interface ProgressEvent {
  status: "initiate" | "download" | "progress" | "done" | "ready";
  /** The file this event is about (absent for `ready`). */
  file?: string;
  loaded: number;
  total: number;
  /** Bytes over all files so far. */
  overall: { loaded: number; total: number };
  /** Whether the file came from Cache Storage rather than the network. */
  cached?: boolean;
}

/** Options of `load`. */
export interface LoadOptions {
  /** Called on every progress event. */
  onProgress?: (event: ProgressEvent) => void;
  /**
   * Cache Storage name to keep the files in, or `false` for no caching. Default
   * `"xlmr-sentiment"`. Without Cache Storage, or when it throws (QuotaExceededError), files stay
   * in memory only.
   */
  cache?: string | false;
  /**
   * Weights file name under the base URL (folders only). Default: `model.safetensors`, else
   * `pytorch_model.bin`, as natively; a folder without `tokenizer.json` is read from its
   * `sentencepiece.bpe.model`.
   */
  weights?: string;
  /** `fetch` to use (default: the global one). */
  fetch?: typeof fetch;
  /**
   * Which WebAssembly module to run. Default: the fastest build this context supports, from the
   * package's `wasm/` folder: `relaxed-simd-threads` in a cross-origin isolated worker (what
   * `loadInWorker` gives in a page served with COOP/COEP headers) on a machine with more than one
   * core; else `relaxed-simd` where `WebAssembly.validate` accepts relaxed SIMD; else `simd128`.
   * Bundlers emit every file. A build name forces that build; a URL, the bytes or a compiled
   * `WebAssembly.Module` use that module (one of the package's single-thread `.wasm` files).
   * The first load in a thread decides for the whole thread.
   */
  wasm?: WasmBuild | URL | string | BufferSource | WebAssembly.Module;
  /**
   * Threads of the `relaxed-simd-threads` build (default: `navigator.hardwareConcurrency`); 1
   * picks a single-thread build. Like `wasm`, the first load in a thread decides.
   */
  threads?: number;
  /**
   * The languages the model was trained on (ISO 639-1 codes such as `["en", "fr"]`), for the
   * `language` option. Default: as recorded in the bundle (`xlmr-sentiment pack` records the
   * default model's eight); unknown for other models, never guessed.
   */
  languages?: string[];
  /**
   * Where the model runs: `"auto"` (the default) uses WebGPU where the browser has an adapter
   * and a batch is large enough to be faster there (a crossover timed at load), WebAssembly
   * otherwise; `"wasm"` never touches the GPU; `"webgpu"` runs every batch on the GPU and fails
   * to load without one. A batch whose GPU pass fails (the device lost) is redone on the CPU,
   * and `classifier.device` says what was chosen and why.
   */
  device?: Device;
}

/** The `device` option: see `LoadOptions.device`. */
export type Device = "auto" | "wasm" | "webgpu";

/** Where a classifier runs, and why: `classifier.device`. */
export interface DeviceInfo {
  /** What was asked for. */
  requested: Device;
  /** `webgpu` where batches (those of at least `gpuMinTokens` tokens) run on the GPU, else `wasm`. */
  device: "wasm" | "webgpu";
  /** The WebGPU adapter, where one was found (browsers may leave its name out). */
  adapter: { name: string; backend: string; deviceType: string; driver: string } | null;
  /** With `auto` on the GPU: the fewest tokens a batch must hold to run there. */
  gpuMinTokens: number | null;
  /** Where the GPU holds the model: how its dense layers are stored (`int8` for q8_0 and q4; `f16` for an f16 bundle or a folder saved in f16; else `f32`; `mixed` where layers differ). */
  gpuWeights: "f32" | "f16" | "int8" | "mixed" | null;
  /** Where the GPU holds the model: its bytes there (the word embeddings stay on the CPU). */
  gpuWeightBytes: number | null;
  /** Why the CPU runs batches where the GPU was allowed (no adapter, slower here, lost mid-run), or how `auto` chose. */
  reason: string | null;
}
