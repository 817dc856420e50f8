/**
 * transformers.js' entry point, so code written for it runs on this package by changing the
 * import: `pipeline("text-classification", modelUrl, { progress_callback, device, dtype })`
 * resolves to a callable taking `(texts, { top_k })` and answering in transformers.js' shapes,
 * with its progress events (initiate, download, progress, progress_total, done, ready). Checked
 * against answers and events recorded from transformers.js itself
 * (`tests/fixtures/transformers-js/`).
 */

import { load, SentimentClassifier } from "./classifier.js";
import { loadInWorker, WorkerClassifier } from "./worker-client.js";
import type { ClassifyOptions, Device, LabelScore, LoadOptions, ProgressEvent } from "./types.js";

/** The tasks this package runs (transformers.js' names; `sentiment-analysis` is its alias). */
export const PIPELINE_TASKS = ["text-classification", "sentiment-analysis"] as const;

/** A progress event in transformers.js' shape (`status` says which fields are present). */
export type PipelineProgressEvent =
  | { status: "initiate" | "download" | "done"; name: string; file: string }
  | { status: "progress"; name: string; file: string; progress: number; loaded: number; total: number }
  | {
      status: "progress_total";
      name: string;
      progress: number;
      loaded: number;
      total: number;
      files: Record<string, { loaded: number; total: number }>;
    }
  | { status: "ready"; task: string; model: string };

/** Options of `pipeline`: transformers.js' names, and this package's `load` options. */
export interface PipelineOptions extends Omit<LoadOptions, "onProgress" | "device"> {
  /** Called with every loading event, in transformers.js' shapes. */
  progress_callback?: (event: PipelineProgressEvent) => void;
  /**
   * `"auto"` (the default), `"wasm"` (also `"cpu"`) or `"webgpu"` (also `"gpu"`), as
   * transformers.js spells them: see `LoadOptions.device`.
   */
  device?: string;
  /**
   * The precision the model at the URL must have (`"fp32"`, `"fp16"`, `"q8"`/`"int8"`, `"q4"`,
   * or `"auto"` for any). The URL decides what loads (a folder is fp32, a bundle its packed
   * precision); a different one is an error rather than a silent surprise.
   */
  dtype?: string;
  /**
   * Run the model in a Web Worker (default: `true` in a page, where a model on the page's thread
   * would freeze it; always `false` where there is no `Worker`, as in Node).
   */
  worker?: boolean;
}

/** What `pipeline` resolves to: call it like transformers.js' text-classification pipeline. */
export interface TextClassificationPipeline {
  (text: string, options?: ClassifyOptions & { top_k?: number | null }): Promise<LabelScore[]>;
  (texts: string[], options?: ClassifyOptions & { top_k?: number | null }): Promise<LabelScore[] | LabelScore[][]>;
  /** `"text-classification"` (or `"sentiment-analysis"`, as asked). */
  readonly task: string;
  /** The model URL, as given. */
  readonly model: string;
  /** The loaded classifier, for this package's own API (`classifyDetailed`, `labels`, ...). */
  readonly classifier: SentimentClassifier | WorkerClassifier;
  /** Frees the model (and stops its worker). */
  dispose(): Promise<void>;
}

const KNOWN_OPTIONS = new Set(["progress_callback", "device", "dtype", "worker", "cache", "weights", "fetch", "wasm", "threads", "languages"]);
/** transformers.js device names to this package's. */
const DEVICES: Record<string, Device> = { auto: "auto", wasm: "wasm", cpu: "wasm", webgpu: "webgpu", gpu: "webgpu" };
/** transformers.js dtype names to the precisions `xlmr-sentiment pack` writes. */
const DTYPES: Record<string, string> = { fp32: "f32", fp16: "f16", q8: "q8_0", int8: "q8_0", q4: "q4" };

/** Loads a text-classification pipeline from `model` (a folder URL or a `.gguf` bundle URL). */
export async function pipeline(task: string, model: string | URL, options: PipelineOptions = {}): Promise<TextClassificationPipeline> {
  if (!(PIPELINE_TASKS as readonly string[]).includes(task)) {
    throw new TypeError(`xlmr-sentiment runs the ${PIPELINE_TASKS.map((t) => `"${t}"`).join(" and ")} tasks, not ${JSON.stringify(task)}`);
  }
  if (model === undefined || model === null || String(model) === "") {
    throw new TypeError("pipeline needs the model's URL: a folder (config.json, tokenizer.json, weights) or a .gguf bundle");
  }
  const unknown = Object.keys(options).filter((key) => !KNOWN_OPTIONS.has(key));
  if (unknown.length > 0) {
    throw new TypeError(
      `pipeline does not take ${unknown.map((k) => `"${k}"`).join(", ")} (it takes ${[...KNOWN_OPTIONS].map((k) => `"${k}"`).join(", ")}); ` +
        "the URL says which files load",
    );
  }
  const { progress_callback, device, dtype, worker, ...loadOptions } = options;
  if (device !== undefined && !Object.hasOwn(DEVICES, device)) {
    throw new Error(
      `device ${JSON.stringify(device)} is not available in xlmr-sentiment; use "auto", "wasm" (WebAssembly, on every core of a cross-origin isolated page) or "webgpu"`,
    );
  }
  const wanted = dtype === undefined || dtype === "auto" ? undefined : DTYPES[dtype];
  if (dtype !== undefined && dtype !== "auto" && wanted === undefined) {
    throw new TypeError(`dtype ${JSON.stringify(dtype)} is not one of "auto", ${Object.keys(DTYPES).map((d) => `"${d}"`).join(", ")}`);
  }

  const name = String(model);
  const onProgress = progress_callback ? progressAdapter(name, task, progress_callback) : undefined;
  const inWorker = (worker ?? typeof window !== "undefined") && typeof Worker === "function";
  const placement = { ...loadOptions, onProgress, device: device === undefined ? undefined : DEVICES[device] };
  const classifier = inWorker ? await loadInWorker(model, placement) : await load(model, placement);
  const precision = classifier.precision ?? "f32";
  if (wanted !== undefined && precision !== wanted) {
    release(classifier);
    throw new Error(`the model at ${name} is ${precision}, not the ${dtype} asked for: point the URL at a ${wanted} bundle (xlmr-sentiment pack --precision ${wanted}) or drop dtype`);
  }

  const call = (input: string | string[], callOptions: ClassifyOptions & { top_k?: number | null } = {}) =>
    classifier.classify(input as string[], callOptions);
  return Object.assign(call, {
    task,
    model: name,
    classifier,
    dispose: async () => release(classifier),
  }) as TextClassificationPipeline;
}

function release(classifier: SentimentClassifier | WorkerClassifier): void {
  if (classifier instanceof WorkerClassifier) classifier.terminate();
  else classifier.dispose();
}

/** Turns this package's progress events into transformers.js': each `progress` is followed by
 * a `progress_total` over every file seen so far, and `ready` names the task and model. */
function progressAdapter(name: string, task: string, callback: (event: PipelineProgressEvent) => void): (event: ProgressEvent) => void {
  const files: Record<string, { loaded: number; total: number }> = {};
  const percent = (loaded: number, total: number) => (total > 0 ? (100 * loaded) / total : 0);
  return (event) => {
    const file = event.file ?? "";
    switch (event.status) {
      case "initiate":
      case "download":
        callback({ status: event.status, name, file });
        break;
      case "done":
        files[file] = { loaded: event.loaded, total: event.total || event.loaded };
        callback({ status: "done", name, file });
        break;
      case "progress": {
        files[file] = { loaded: event.loaded, total: event.total };
        callback({ status: "progress", name, file, progress: percent(event.loaded, event.total), loaded: event.loaded, total: event.total });
        const loaded = event.overall.loaded;
        const total = event.overall.total;
        callback({ status: "progress_total", name, progress: percent(loaded, total), loaded, total, files: structuredClone(files) });
        break;
      }
      case "ready":
        callback({ status: "ready", task, model: name });
        break;
    }
  };
}
