/** The classifier in the calling thread: a thin shell over the wasm `Classifier`. */

import { initWasm, loadedWasmBuild, loadedWasmThreads, wasmGlue } from "./wasm.js";
import type { WasmBuild, WasmClassifier, WasmDeviceRequest } from "./wasm.js";
import { SENTENCEPIECE_FILE } from "./files.js";
import { fetchModel, isBundleUrl, streamBundle } from "./loader.js";
import type { ClassifyOptions, Device, DeviceInfo, LabelScore, LoadOptions, ModelBytes, Prediction, ProgressEvent } from "./types.js";

/** The texts of `classifyDetailed`: an array of strings (the wasm side also takes one string). */
export function checkTexts(texts: unknown): void {
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) {
    throw new TypeError("classify expects a string or an array of strings");
  }
}

/** A loaded model. Create it with `load` or `loadFromBytes`. */
export class SentimentClassifier {
  #inner: WasmClassifier | undefined;

  /** @internal */
  constructor(inner: WasmClassifier) {
    this.#inner = inner;
  }

  #model(): WasmClassifier {
    if (!this.#inner) throw new Error("this classifier was disposed");
    return this.#inner;
  }

  /** Label names in the model's order. */
  get labels(): string[] {
    return this.#model().labels;
  }

  /** The longest input in tokens, `<s>` and `</s>` included. */
  get maxInputTokens(): number {
    return this.#model().maxInputTokens;
  }

  /** For a bundle: the precision it was packed at (`f32`, `f16`, `q8_0`, `q4`). */
  get precision(): string | undefined {
    return this.#model().precision;
  }

  /** The languages the model was trained on (ISO 639-1, sorted), or `undefined` when unknown. */
  get trainedLanguages(): string[] | undefined {
    return this.#model().trainedLanguages;
  }

  /** The WebAssembly build running the model (`custom`: one the caller passed as `wasm`). */
  get wasmBuild(): WasmBuild | "custom" {
    this.#model();
    return loadedWasmBuild() ?? "custom";
  }

  /** The threads the model computes on: the pool of the `relaxed-simd-threads` build, else 1. */
  get threads(): number {
    this.#model();
    return loadedWasmThreads();
  }

  /** Where the model runs (WebAssembly or WebGPU) and why; it changes if the GPU is lost mid-run. */
  get device(): DeviceInfo {
    return this.#model().device as DeviceInfo;
  }

  /**
   * Classifies one text or many. Like transformers.js: a string gives `[{label, score}]` (the
   * `topK` best, 1 by default, all with `null`); an array gives one `{label, score}` per text
   * with `topK` 1, else one array per text.
   */
  async classify(text: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  async classify(texts: string[], options?: ClassifyOptions): Promise<LabelScore[] | LabelScore[][]>;
  async classify(input: string | string[], options: ClassifyOptions = {}): Promise<LabelScore[] | LabelScore[][]> {
    // The core validates the options and shapes the answer (its `PipelineAnswer`).
    return (await this.#model().classifyPipelineAsync(input, options)) as LabelScore[] | LabelScore[][];
  }

  /** Every label's score, the truncation flag and the token count, one result per text. */
  async classifyDetailed(texts: string[], options: ClassifyOptions = {}): Promise<Prediction[]> {
    checkTexts(texts);
    return (await this.#model().classifyAsync(texts, options)) as Prediction[];
  }

  /** Frees the model's memory; the classifier cannot be used afterwards. */
  dispose(): void {
    this.#inner?.free();
    this.#inner = undefined;
  }
}

/** A file as a `Uint8Array`: typed arrays, Node `Buffer`s and `ArrayBuffer`s are accepted. */
function asBytes(name: string, value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
  throw new TypeError(`${name} must be a Uint8Array or an ArrayBuffer, got ${value === null ? "null" : typeof value}`);
}

/**
 * Builds a classifier from files the caller already has. The weights are read tensor by tensor
 * straight into the model, so once this resolves the caller can drop its buffers and only one
 * copy of the weights remains (in wasm memory).
 */
export async function loadFromBytes(
  files: ModelBytes,
  options: Pick<LoadOptions, "wasm" | "threads" | "languages" | "device"> = {},
): Promise<SentimentClassifier> {
  if (files === null || typeof files !== "object") {
    throw new TypeError("files must be { config, tokenizer, weights } or { bundle }");
  }
  checkLanguages(options.languages);
  checkDevice(options.device);
  if ("bundle" in files) {
    const bundle = asBytes("bundle", files.bundle);
    const device = await startDevice(options);
    return placed(wasmGlue().Classifier.fromBundle(bundle, device), options.languages);
  }
  const config = asBytes("config", files.config);
  const tokenizer = asBytes("tokenizer", files.tokenizer);
  const weights = asBytes("weights", files.weights);
  const device = await startDevice(options);
  return placed(new (wasmGlue().Classifier)(config, tokenizer, weights, device), options.languages);
}

const DEVICES: readonly string[] = ["auto", "wasm", "webgpu"] satisfies Device[];

/** Rejects a `device` option that is not one of the three before anything loads. */
function checkDevice(device: unknown): void {
  if (device !== undefined && !DEVICES.includes(device as string)) {
    throw new TypeError(`device must be "auto", "wasm" or "webgpu", got ${JSON.stringify(device)}`);
  }
}

/**
 * Starts the wasm module, then asks it for the device (with `auto` and `webgpu`, the browser's
 * WebGPU adapter and a device on it; `webgpu` without one rejects with the reason).
 */
async function startDevice(options: Pick<LoadOptions, "wasm" | "threads" | "device">): Promise<WasmDeviceRequest> {
  await initWasm(options.wasm, options.threads);
  return wasmGlue().requestDevice(options.device ?? "auto");
}

/**
 * Wraps a loaded model once its device has warmed up (on a GPU: a first pass, and with `auto`
 * the crossover timed), setting its trained languages when the caller gave them.
 */
async function placed(inner: WasmClassifier, languages: string[] | undefined): Promise<SentimentClassifier> {
  try {
    await inner.calibrateDevice();
  } catch (error) {
    inner.free();
    throw error;
  }
  return withLanguages(inner, languages);
}

/** Rejects a `languages` option that is not an array of strings before anything loads. */
function checkLanguages(languages: unknown): void {
  if (languages === undefined) return;
  if (!Array.isArray(languages) || languages.some((l) => typeof l !== "string")) {
    throw new TypeError("languages must be an array of ISO 639-1 codes, such as [\"en\", \"fr\"]");
  }
}

/** Wraps a loaded model, setting its trained languages when the caller gave them. */
function withLanguages(inner: WasmClassifier, languages: string[] | undefined): SentimentClassifier {
  if (languages !== undefined) {
    try {
      inner.setTrainedLanguages(languages);
    } catch (error) {
      inner.free();
      throw error;
    }
  }
  return new SentimentClassifier(inner);
}

/**
 * Loads a model from `url`: a bundle when it names a `.gguf` file (written by `xlmr-sentiment
 * pack`), else the folder's `config.json`, `tokenizer.json` and weights; with progress events and
 * Cache Storage (see `LoadOptions`).
 */
export async function load(baseUrl: string | URL, options: LoadOptions = {}): Promise<SentimentClassifier> {
  checkLanguages(options.languages);
  checkDevice(options.device);
  if (isBundleUrl(baseUrl)) {
    // Streamed into wasm memory piece by piece: the page never holds the whole bundle. The
    // module starts, and the GPU is asked for, while the bundle is looked up and its first
    // slices read.
    let device: WasmDeviceRequest | undefined;
    const ready = startDevice(options).then((d) => {
      device = d;
    });
    ready.catch(() => undefined); // awaited by streamBundle
    let bytes = 0;
    const onProgress = (e: ProgressEvent) => {
      if (e.status === "done") bytes = e.loaded;
      options.onProgress?.(e);
    };
    let inner: WasmClassifier;
    try {
      inner = await streamBundle(
        baseUrl,
        { ...options, onProgress },
        (length) => {
          const loader = new (wasmGlue().BundleLoader)(length);
          return {
            push: (piece: Uint8Array) => loader.push(piece),
            // A copy of the request each time: `finish` takes it, and a damaged cached copy is
            // fetched again into a new loader.
            // `start` runs once `ready` has resolved, so `device` is there.
            finish: () => loader.finish((device as WasmDeviceRequest).clone()),
          };
        },
        ready,
      );
    } finally {
      // Each loader took a copy of the request; the request itself goes now, or once it has
      // arrived where the load failed first.
      ready.then(() => device?.free(), () => undefined);
    }
    const classifier = await placed(inner, options.languages);
    options.onProgress?.({ status: "ready", loaded: bytes, total: bytes, overall: { loaded: bytes, total: bytes } });
    return classifier;
  }
  const [, fetched] = await Promise.all([initWasm(options.wasm, options.threads), fetchModel(baseUrl, options)]);
  const files =
    fetched.tokenizerFile === SENTENCEPIECE_FILE
      ? { ...fetched.files, tokenizer: wasmGlue().tokenizerJsonFromSentencepiece(asBytes("sentencepiece.bpe.model", fetched.files.tokenizer)) }
      : fetched.files;
  const total = Object.values(fetched.files).reduce((sum: number, f: Uint8Array | ArrayBuffer) => sum + f.byteLength, 0);
  const classifier = await loadFromBytes(files, options);
  options.onProgress?.({ status: "ready", loaded: total, total, overall: { loaded: total, total } });
  return classifier;
}
