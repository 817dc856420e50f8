/**
 * Loads the WebAssembly module once, in browsers, workers, bundlers and Node, picking the
 * fastest build the engine runs: relaxed SIMD where `WebAssembly.validate` accepts it (Chrome
 * 114+, Firefox 145+, Node 22+), simd128 otherwise. Both builds share one wasm-bindgen glue.
 */

import init, { BundleLoader as WasmBundleLoader, Classifier as WasmClassifier } from "../wasm/xlmr_sentiment_wasm.js";

export { WasmBundleLoader, WasmClassifier };

/** The two builds of the module: their int8 kernels differ (see the package README). */
export type WasmBuild = "relaxed-simd" | "simd128";

let ready: Promise<unknown> | undefined;
let loadedBuild: WasmBuild | "custom" | undefined;

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

/** The build this engine runs best: relaxed SIMD if it validates, else simd128. */
export function detectWasmBuild(): WasmBuild {
  // Node 20 (V8 11.3) validates relaxed SIMD only behind --experimental-wasm-relaxed-simd, and
  // then computes wrong relaxed dot products in our kernel (seen with tests/wasm-kernels): only
  // engines that ship relaxed SIMD by default (V8 11.4 onwards) get that build.
  const v8 = nodeProcess?.versions?.v8?.split(".").map(Number);
  if (isNode && v8 && (v8[0] < 11 || (v8[0] === 11 && v8[1] < 4))) return "simd128";
  return WebAssembly.validate(relaxedSimdProbe()) ? "relaxed-simd" : "simd128";
}

/** Which build `initWasm` loaded (`custom` when the caller passed its own module), if any yet. */
export function loadedWasmBuild(): WasmBuild | "custom" | undefined {
  return loadedBuild;
}

function buildUrl(build: WasmBuild): URL {
  // Literal URLs, so bundlers find and emit both files.
  return build === "relaxed-simd"
    ? new URL("../wasm/xlmr_sentiment_wasm_relaxed_simd.wasm", import.meta.url)
    : new URL("../wasm/xlmr_sentiment_wasm_simd128.wasm", import.meta.url);
}

/**
 * Initialises the wasm module (idempotent). `source` overrides the choice: a build name, or the
 * module itself (a URL, its bytes, or a compiled `WebAssembly.Module`).
 */
export function initWasm(source?: WasmBuild | URL | string | BufferSource | WebAssembly.Module): Promise<unknown> {
  if (!ready) {
    ready = (async () => {
      const named = source === "relaxed-simd" || source === "simd128";
      if (source !== undefined && !named) {
        loadedBuild = "custom";
        return init({ module_or_path: source });
      }
      const build: WasmBuild = named ? (source as WasmBuild) : detectWasmBuild();
      const url = buildUrl(build);
      loadedBuild = build;
      if (isNode && url.protocol === "file:") {
        // Node's fetch cannot read file: URLs. The specifier is hidden from bundlers.
        const fsModule = "node:fs/promises";
        const { readFile } = await import(/* @vite-ignore */ fsModule);
        return init({ module_or_path: await readFile(url) });
      }
      return init({ module_or_path: url });
    })();
    ready.catch(() => {
      ready = undefined;
      loadedBuild = undefined;
    });
  }
  return ready;
}
