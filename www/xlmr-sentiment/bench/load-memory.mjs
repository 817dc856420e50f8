// Peak memory of loading a model through the npm package in Node: the figure the browser pays
// too, since the same wasm module holds the model. Prints the weights file size, the process's
// peak resident memory, the wasm memory once loaded, and what stays on the JS side after the
// caller drops its file buffers.
//
//   node --expose-gc bench/load-memory.mjs DIR [weights-file-name]
//   node --expose-gc bench/load-memory.mjs FILE.gguf [--from-bytes]
//
// A bundle is served from a local HTTP server and loaded with `load(url)`, which streams it into
// wasm memory as the browser does; --from-bytes reads it whole and uses `loadFromBytes`.
//
// DIR is a model folder (config.json, tokenizer.json, model.safetensors or pytorch_model.bin),
// such as tests/fixtures/models/tiny-sentiment or the full-size random model that
// bench/full_size_model.py writes to target/full-size-model; FILE.gguf is a bundle written by
// `xlmr-sentiment pack`. Run after www/xlmr-sentiment/build.sh.
import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { load, loadFromBytes } from "../dist/index.js";
import { initWasm } from "../dist/wasm.js";

const [dir, weightsName] = process.argv.slice(2);
const streamed = dir?.endsWith(".gguf") && weightsName !== "--from-bytes";
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

const isBundle = dir.endsWith(".gguf");
const name = isBundle ? dir : await pickWeights();
let files = streamed
  ? {}
  : isBundle
  ? { bundle: await readFile(dir) }
  : {
      config: await readFile(join(dir, "config.json")),
      tokenizer: await readFile(join(dir, "tokenizer.json")),
      weights: await readFile(join(dir, name)),
    };
const fileBytes = Object.values(files).reduce((n, f) => n + f.byteLength, 0);
const weightsBytes = (await stat(isBundle ? dir : join(dir, name))).size;
let server;
if (streamed) {
  const size = (await stat(dir)).size;
  server = createServer((req, res) => {
    res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
    createReadStream(dir).pipe(res);
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
}
const started = performance.now();
const classifier = streamed
  ? await load(`http://127.0.0.1:${server.address().port}/bundle.gguf`)
  : await loadFromBytes(files);
server?.close();
const loadMs = performance.now() - started;
files = undefined; // the caller lets go of its buffers, as load() does
gc();
await new Promise((resolve) => setTimeout(resolve, 100));
gc();
const after = process.memoryUsage();
const result = await classifier.classify("I love this!");

console.log(isBundle ? `bundle: ${dir} (${streamed ? "streamed from HTTP with load(url)" : "whole, with loadFromBytes"})` : `model: ${dir} (${name})`);
console.log(`files: ${MB(streamed ? weightsBytes : fileBytes)} (weights ${MB(weightsBytes)})`);
console.log(`load time: ${(loadMs / 1000).toFixed(2)} s`);
console.log(`peak RSS of the process: ${MB(peakRss())} (RSS before reading the files: ${MB(before.rss)})`);
console.log(`wasm memory: ${MB(before.wasm)} before load, ${MB(wasmBytes())} after load and one classify`);
console.log(`after load, files dropped: RSS ${MB(after.rss)}, JS array buffers ${MB(after.arrayBuffers)}, JS heap ${MB(after.heapUsed)}`);
console.log(`check: ${JSON.stringify(result)}`);
