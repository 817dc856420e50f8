/** Loads the WebAssembly module once, in browsers, workers, bundlers and Node. */

import init, { BundleLoader as WasmBundleLoader, Classifier as WasmClassifier } from "../wasm/xlmr_sentiment_wasm.js";

export { WasmBundleLoader, WasmClassifier };

let ready: Promise<unknown> | undefined;

const nodeProcess = (globalThis as { process?: { versions?: { node?: string } } }).process;
const isNode = typeof nodeProcess?.versions?.node === "string";

/** Initialises the wasm module (idempotent). */
export function initWasm(source?: URL | string | BufferSource | WebAssembly.Module): Promise<unknown> {
  if (!ready) {
    ready = (async () => {
      if (source !== undefined) return init({ module_or_path: source });
      const url = new URL("../wasm/xlmr_sentiment_wasm_bg.wasm", import.meta.url);
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
    });
  }
  return ready;
}
