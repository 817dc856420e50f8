// Peak memory of loading a model through the npm package in Node: the figure the browser pays
// too, since the same wasm module holds the model. Prints the weights file size, the process's
// peak resident memory, the wasm memory once loaded, and what stays on the JS side after the
// caller drops its file buffers.
//
//   node --expose-gc bench/load-memory.mjs DIR [weights-file-name]
//
// DIR is a model folder (config.json, tokenizer.json, model.safetensors or pytorch_model.bin),
// such as tests/fixtures/models/tiny-sentiment or the full-size random model that
// bench/full_size_model.py writes to target/full-size-model. Run after www/xlmr-sentiment/build.sh.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { loadFromBytes } from "../dist/index.js";
import { initWasm } from "../dist/wasm.js";

const [dir, weightsName] = process.argv.slice(2);
if (!dir) {
  console.error("usage: node --expose-gc bench/load-memory.mjs DIR [weights-file-name]");
  process.exit(2);
}
if (typeof globalThis.gc !== "function") {
  console.error("run with node --expose-gc, so the figures after load are not just uncollected garbage");
  process.exit(2);
}

const MB = (bytes) => `${(bytes / 1e6).toFixed(1)} MB`;
const peakRss = () => process.resourceUsage().maxRSS * 1024;
async function pickWeights() {
  if (weightsName) return weightsName;
  for (const name of ["model.safetensors", "pytorch_model.bin"]) {
    if (await stat(join(dir, name)).catch(() => null)) return name;
  }
  throw new Error(`${dir} has no model.safetensors or pytorch_model.bin`);
}

const wasm = await initWasm();
const wasmBytes = () => wasm.memory.buffer.byteLength;
gc();
const before = { rss: process.memoryUsage().rss, wasm: wasmBytes() };

const name = await pickWeights();
let files = {
  config: new Uint8Array(await readFile(join(dir, "config.json"))),
  tokenizer: new Uint8Array(await readFile(join(dir, "tokenizer.json"))),
  weights: new Uint8Array(await readFile(join(dir, name))),
};
const fileBytes = files.config.byteLength + files.tokenizer.byteLength + files.weights.byteLength;
const started = performance.now();
const classifier = await loadFromBytes(files);
const loadMs = performance.now() - started;
files = undefined; // the caller lets go of its buffers, as load() does
gc();
await new Promise((resolve) => setTimeout(resolve, 100));
gc();
const after = process.memoryUsage();
const result = await classifier.classify("I love this!");

console.log(`model: ${dir} (${name})`);
console.log(`files: ${MB(fileBytes)} (weights ${MB((await stat(join(dir, name))).size)})`);
console.log(`load time: ${(loadMs / 1000).toFixed(2)} s`);
console.log(`peak RSS of the process: ${MB(peakRss())} (RSS before reading the files: ${MB(before.rss)})`);
console.log(`wasm memory: ${MB(before.wasm)} before load, ${MB(wasmBytes())} after load and one classify`);
console.log(`after load, files dropped: RSS ${MB(after.rss)}, JS array buffers ${MB(after.arrayBuffers)}, JS heap ${MB(after.heapUsed)}`);
console.log(`check: ${JSON.stringify(result)}`);
