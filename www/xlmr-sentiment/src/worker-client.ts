/**
 * The Web Worker form: the model loads and runs in a module worker, so the page stays responsive.
 *
 * ```js
 * import { loadInWorker } from "xlmr-sentiment/worker";
 * const classifier = await loadInWorker("/models/twitter-xlm-roberta-sentiment/");
 * await classifier.classify(["Great!", "Awful."]);
 * ```
 */

import { checkTexts } from "./classifier.js";
import type { WasmBuild } from "./wasm.js";
import type { LoadedInfo, WorkerLoadOptions, WorkerRequest, WorkerResponse } from "./protocol.js";
import type { ClassifyOptions, DeviceInfo, LabelScore, LoadOptions, ModelBytes, Prediction, ProgressEvent } from "./types.js";

/** A request without its id (distributes over the union). */
type Unsent<T> = T extends unknown ? Omit<T, "id"> : never;

type Pending = { resolve: (r: WorkerResponse) => void; reject: (e: Error) => void; onProgress?: (e: ProgressEvent) => void };

/** Sends typed requests to the worker and matches answers by id. */
class Channel {
  #next = 1;
  #pending = new Map<number, Pending>();

  constructor(readonly worker: Worker) {
    worker.addEventListener("message", (event: MessageEvent<WorkerResponse>) => {
      const message = event.data;
      const pending = this.#pending.get(message.id);
      if (!pending) return;
      if (message.type === "progress") {
        pending.onProgress?.(message.event);
        return;
      }
      this.#pending.delete(message.id);
      if (message.type === "error") pending.reject(new Error(message.message));
      else pending.resolve(message);
    });
    worker.addEventListener("error", (event) => {
      const error = new Error(`the classifier worker failed: ${event.message ?? "unknown error"}`);
      for (const pending of this.#pending.values()) pending.reject(error);
      this.#pending.clear();
    });
  }

  request(body: Unsent<WorkerRequest>, onProgress?: (e: ProgressEvent) => void, transfer: Transferable[] = []): Promise<WorkerResponse> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onProgress });
      this.worker.postMessage({ ...body, id } as WorkerRequest, transfer);
    });
  }
}

/** A classifier whose model lives in a Web Worker. Same `classify` as `SentimentClassifier`. */
export class WorkerClassifier {
  readonly labels: string[];
  /** For a bundle: the precision it was packed at (`f32`, `f16`, `q8_0`, `q4`). */
  readonly precision: string | undefined;
  readonly maxInputTokens: number;
  /** The languages the model was trained on (ISO 639-1, sorted), or `undefined` when unknown. */
  readonly trainedLanguages: string[] | undefined;
  /** The WebAssembly build the worker runs (`custom`: one passed as `wasm`). */
  readonly wasmBuild: WasmBuild | "custom";
  /** The threads the worker's model computes on (more than 1 only in a cross-origin isolated page). */
  readonly threads: number;
  #device: DeviceInfo;
  #channel: Channel;

  /** @internal */
  constructor(channel: Channel, info: LoadedInfo) {
    this.#channel = channel;
    this.labels = info.labels;
    this.precision = info.precision;
    this.maxInputTokens = info.maxInputTokens;
    this.trainedLanguages = info.trainedLanguages;
    this.wasmBuild = info.wasmBuild;
    this.threads = info.threads;
    this.#device = info.device;
  }

  /** Where the worker's model runs (WebAssembly or WebGPU) and why, as of the last answer. */
  get device(): DeviceInfo {
    return this.#device;
  }

  async classify(text: string, options?: ClassifyOptions): Promise<LabelScore[]>;
  async classify(texts: string[], options?: ClassifyOptions): Promise<LabelScore[] | LabelScore[][]>;
  async classify(input: string | string[], options: ClassifyOptions = {}): Promise<LabelScore[] | LabelScore[][]> {
    const answer = await this.#channel.request({ type: "classify", input, options, detailed: false });
    if (answer.type !== "classified") throw new Error(`unexpected worker answer ${answer.type}`);
    this.#device = answer.device;
    return answer.result as LabelScore[] | LabelScore[][];
  }

  /** Every label's score, the truncation flag and the token count, one result per text. */
  async classifyDetailed(texts: string[], options: ClassifyOptions = {}): Promise<Prediction[]> {
    checkTexts(texts);
    const answer = await this.#channel.request({ type: "classify", input: texts, options, detailed: true });
    if (answer.type !== "classified") throw new Error(`unexpected worker answer ${answer.type}`);
    this.#device = answer.device;
    return answer.result as Prediction[];
  }

  /** Stops the worker and frees the model. */
  terminate(): void {
    this.#channel.worker.terminate();
  }
}

function startWorker(): Worker {
  return new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
}

function wireOptions(options: LoadOptions): WorkerLoadOptions {
  const { onProgress: _p, fetch: _f, ...rest } = options;
  return rest;
}

async function finish(channel: Channel, answer: Promise<WorkerResponse>): Promise<WorkerClassifier> {
  try {
    const loaded = await answer;
    if (loaded.type !== "loaded") throw new Error(`unexpected worker answer ${loaded.type}`);
    return new WorkerClassifier(channel, loaded.info);
  } catch (error) {
    channel.worker.terminate();
    throw error;
  }
}

/** Starts a module worker and loads the model from `baseUrl` there (progress, Cache Storage). */
export function loadInWorker(baseUrl: string | URL, options: LoadOptions = {}): Promise<WorkerClassifier> {
  const channel = new Channel(startWorker());
  const absolute = new URL(String(baseUrl), globalThis.location?.href).href;
  return finish(channel, channel.request({ type: "load", baseUrl: absolute, options: wireOptions(options) }, options.onProgress));
}

/** Starts a module worker and loads the model from bytes; the buffers are moved, not copied. */
export function loadFromBytesInWorker(files: ModelBytes, options: LoadOptions = {}): Promise<WorkerClassifier> {
  const channel = new Channel(startWorker());
  const buffers = Object.values(files).map((f: Uint8Array | ArrayBuffer) => (f instanceof ArrayBuffer ? f : f?.buffer));
  const transfer = buffers.filter(
    (b, i, all): b is ArrayBuffer => b instanceof ArrayBuffer && all.indexOf(b) === i,
  );
  return finish(channel, channel.request({ type: "loadBytes", files, options: wireOptions(options) }, undefined, transfer));
}

export type { ClassifyOptions, Device, DeviceInfo, LabelScore, LoadOptions, ModelBundle, ModelBytes, ModelFiles, Prediction, ProgressEvent } from "./types.js";
