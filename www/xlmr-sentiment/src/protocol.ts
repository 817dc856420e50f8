/** The typed message protocol between the page and the module worker. */

import type { WasmBuild } from "./wasm.js";
import type { ClassifyOptions, DeviceInfo, LabelScore, LoadOptions, ModelBytes, Prediction, ProgressEvent } from "./types.js";

/** Load options that can cross to a worker (no functions). */
export type WorkerLoadOptions = Omit<LoadOptions, "onProgress" | "fetch">;

/** Page -> worker. Every request has an `id`; its answer carries the same `id`. */
export type WorkerRequest =
  | { id: number; type: "load"; baseUrl: string; options: WorkerLoadOptions }
  | { id: number; type: "loadBytes"; files: ModelBytes; options: WorkerLoadOptions }
  | { id: number; type: "classify"; input: string | string[]; options: ClassifyOptions; detailed: boolean };

/** What a successful load answers. */
export interface LoadedInfo {
  labels: string[];
  /** For a bundle: the precision it was packed at. */
  precision?: string;
  maxInputTokens: number;
  /** The languages the model was trained on, when known. */
  trainedLanguages?: string[];
  /** The WebAssembly build the worker runs. */
  wasmBuild: WasmBuild | "custom";
  /** The threads the worker's model computes on. */
  threads: number;
  /** Where the model runs, and why. */
  device: DeviceInfo;
}

/** Worker -> page. */
export type WorkerResponse =
  | { id: number; type: "progress"; event: ProgressEvent }
  | { id: number; type: "loaded"; info: LoadedInfo }
  | { id: number; type: "classified"; result: Prediction[] | LabelScore[] | LabelScore[][]; device: DeviceInfo }
  | { id: number; type: "error"; message: string };
