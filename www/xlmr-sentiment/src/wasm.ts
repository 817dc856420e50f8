/**
 * Loads the WebAssembly module once, in browsers, workers, bundlers and Node, picking the
 * fastest build the context runs: relaxed SIMD with threads in a cross-origin isolated worker,
 * relaxed SIMD where `WebAssembly.validate` accepts it (Chrome 114+, Firefox 145+, Node 22+),
 * simd128 otherwise. The two single-thread builds share one wasm-bindgen glue; the threaded
 * build has its own (shared memory, and the script of its pool's workers).
 */

import * as singleThreadGlue from "../wasm/xlmr_sentiment_wasm.js";
import type { BundleLoader, Classifier, DeviceRequest } from "../wasm/xlmr_sentiment_wasm.js";

export type WasmClassifier = Classifier;
export type WasmDeviceRequest = DeviceRequest;
export type WasmBundleLoader = BundleLoader;

/** The builds of the module: their int8 kernels and threading differ (see the package README). */
export type WasmBuild = "relaxed-simd-threads" | "relaxed-simd" | "simd128";

type Glue = Pick<typeof singleThreadGlue, "BundleLoader" | "Classifier" | "requestDevice" | "tokenizerJsonFromSentencepiece">;

let ready: Promise<unknown> | undefined;
let loadedBuild: WasmBuild | "custom" | undefined;
let loadedThreads = 1;
let glue: Glue = singleThreadGlue;

const nodeProcess = (globalThis as { process?: { versions?: { node?: string; v8?: string } } }).process;
const isNode = typeof nodeProcess?.versions?.node === "string";

/**
 * The smallest module with a relaxed SIMD instruction: one function returning
 * `i32x4.relaxed_dot_i8x16_i7x16_add_s` of three zero vectors (the instruction our int8 kernel
 * is built on). Engines without relaxed SIMD reject it.
 */
function relaxedSimdProbe(): Uint8Array<ArrayBuffer> {
  const zeroVector = [0xfd, 0x0c, ...new Array(16).fill(0)]; // v128.const 0
  const body = [0x00, ...zeroVector, ...zeroVector, ...zeroVector, 0xfd, 0x93, 0x02, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, // types: () -> v128
    0x03, 0x02, 0x01, 0x00, // functions: one, of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code
  ]);
}

/** Whether the relaxed SIMD builds run here. */
function hasRelaxedSimd(): boolean {
  // Node 20 (V8 11.3) validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, and
  // then computes wrong relaxed dot products in our kernel (seen with tests/wasm-kernels): only
  // engines that ship relaxed SIMD by default (V8 11.4 onwards) get that build.
  const v8 = nodeProcess?.versions?.v8?.split(".").map(Number);
  if (isNode && v8 && (v8[0] < 11 || (v8[0] === 11 && v8[1] < 4))) return false;
  return WebAssembly.validate(relaxedSimdProbe());
}

/**
 * Whether the threaded build can run here: shared memory needs cross-origin isolation (COOP
 * `same-origin` + COEP `require-corp` or `credentialless`), its pool runs on Web Workers (not in
 * Node), and the thread that calls the model blocks while the pool works, which a page's main
 * thread may not do: only a worker qualifies (`loadInWorker` runs the model in one).
 */
function threadsAllowed(): boolean {
  const scope = globalThis as { crossOriginIsolated?: boolean; WorkerGlobalScope?: abstract new () => unknown };
  return (
    !isNode &&
    scope.crossOriginIsolated === true &&
    typeof SharedArrayBuffer === "function" &&
    typeof Worker === "function" &&
    typeof scope.WorkerGlobalScope === "function" &&
    globalThis instanceof scope.WorkerGlobalScope
  );
}

/** The cores the threaded build would use by default: the engine's `hardwareConcurrency`. */
function defaultThreads(): number {
  const cores = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return typeof cores === "number" && cores >= 1 ? Math.floor(cores) : 1;
}

/**
 * The build this context runs best: relaxed SIMD with threads in a cross-origin isolated worker
 * on a machine with more than one core, else relaxed SIMD if it validates, else simd128.
 * `threads` (default: the core count) of 1 rules the threaded build out.
 */
export function detectWasmBuild(threads: number = defaultThreads()): WasmBuild {
  if (!hasRelaxedSimd()) return "simd128";
  return threads > 1 && threadsAllowed() ? "relaxed-simd-threads" : "relaxed-simd";
}

/** Which build `initWasm` loaded (`custom` when the caller passed its own module), if any yet. */
export function loadedWasmBuild(): WasmBuild | "custom" | undefined {
  return loadedBuild;
}

/** The threads the loaded module computes on: the threaded build's pool size, else 1. */
export function loadedWasmThreads(): number {
  return loadedThreads;
}

/** The loaded build's classes (call after `initWasm` resolved). */
export function wasmGlue(): Glue {
  return glue;
}

function buildUrl(build: WasmBuild): URL {
  // Literal URLs, so bundlers find and emit every file.
  switch (build) {
    case "relaxed-simd-threads":
      return new URL("../wasm/xlmr_sentiment_wasm_relaxed_simd_threads.wasm", import.meta.url);
    case "relaxed-simd":
      return new URL("../wasm/xlmr_sentiment_wasm_relaxed_simd.wasm", import.meta.url);
    case "simd128":
      return new URL("../wasm/xlmr_sentiment_wasm_simd128.wasm", import.meta.url);
  }
}

const BUILDS: readonly string[] = ["relaxed-simd-threads", "relaxed-simd", "simd128"];

/**
 * Initialises the wasm module (idempotent). `source` overrides the choice: a build name, or the
 * module itself (a URL, its bytes, or a compiled `WebAssembly.Module` of a single-thread build).
 * `threads` caps the threaded build's pool (default: the core count; 1 rules that build out).
 * Resolves to the module's exports (its `memory` among them).
 */
export function initWasm(
  source?: WasmBuild | URL | string | BufferSource | WebAssembly.Module,
  threads?: number,
): Promise<unknown> {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    return Promise.reject(new RangeError(`threads must be a positive integer, got ${threads}`));
  }
  if (!ready) {
    ready = (async () => {
      const named = typeof source === "string" && BUILDS.includes(source);
      if (source !== undefined && !named) {
        loadedBuild = "custom";
        return singleThreadGlue.default({ module_or_path: source });
      }
      const poolSize = threads ?? defaultThreads();
      const build: WasmBuild = named ? (source as WasmBuild) : detectWasmBuild(poolSize);
      const url = buildUrl(build);
      if (build === "relaxed-simd-threads") {
        if (!threadsAllowed()) {
          throw new Error(
            "the relaxed-simd-threads build runs only in a cross-origin isolated worker (see the package README)",
          );
        }
        const threaded = await import("../wasm/threads/xlmr_sentiment_wasm.js");
        const exports = await threaded.default({ module_or_path: url });
        // Workers on the same module and memory, made rayon's global pool; it lives as long
        // as this thread.
        await threaded.initThreadPool(poolSize);
        glue = threaded;
        loadedThreads = poolSize;
        loadedBuild = build;
        return exports;
      }
      let module: URL | Uint8Array = url;
      if (isNode && url.protocol === "file:") {
        // Node's fetch cannot read file: URLs. The specifier is hidden from bundlers.
        const fsModule = "node:fs/promises";
        const { readFile } = await import(/* @vite-ignore */ fsModule);
        module = await readFile(url);
      }
      const exports = await singleThreadGlue.default({ module_or_path: module });
      loadedBuild = build;
      return exports;
    })();
    ready.catch(() => {
      ready = undefined;
      loadedBuild = undefined;
      loadedThreads = 1;
      glue = singleThreadGlue;
    });
  }
  return ready;
}
