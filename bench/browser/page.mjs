// The page side of bench/browser.mjs: one engine per page, loaded the way an application would
// load it, and timed with performance.now(). The driver calls these through page.evaluate.
//
//   window.bench.load({ engine, precision, text, threads, device }) -> { seconds, threads, isolated, first, adapter }
//   window.bench.latency(text, calls, warmups)              -> [ms, ...]
//   window.bench.throughput(texts, batch)                   -> { seconds, count }
//   window.bench.scores(texts)                              -> [[{ label, score }, ...], ...] (every label)
//
// Paths (all on the 127.0.0.1 server of bench/browser.mjs):
//   /ours/      www/xlmr-sentiment (dist/ and wasm/)       /bundles/{f32,int8}.gguf  our bundles
//   /tfjs/      @huggingface/transformers/dist             /ort/   onnxruntime-web/dist
//   /models/    the transformers.js model folder (config, tokenizer, onnx/model*.onnx)
let classify;
let classifyAll;

/** The page's WebGPU adapter, as WebGPU names it (browsers may leave the description empty). */
async function webGpuAdapter() {
  const adapter = await navigator.gpu?.requestAdapter();
  if (!adapter) return null;
  const info = adapter.info ?? {};
  const name = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ") || "unnamed";
  return { name, software: info.isFallbackAdapter === true };
}

async function loadOurs({ precision, threads, device }) {
  // The tweet preprocessing is ours only: off, so both engines see the same text.
  const options = { preprocess: false };
  // In the package's worker form, as a page should run the model (off its UI thread); the
  // threaded build runs only there (the calling thread blocks while the pool works).
  const { loadInWorker } = await import("/ours/dist/worker-client.js");
  const classifier = await loadInWorker(`/bundles/${precision}.gguf`, { threads, device: device ?? "wasm" });
  // A call is one batch: on the GPU the batch is what pays off.
  classify = (input) => classifier.classify(input, { ...options, batchSize: Array.isArray(input) ? Math.max(1, input.length) : 1 });
  classifyAll = (input) => classifier.classify(input, { ...options, topK: null });
  const placed = classifier.device;
  if (device === "webgpu" && placed.device !== "webgpu") throw new Error(`not on the GPU: ${placed.reason}`);
  return {
    threads: classifier.threads,
    precision: classifier.precision,
    wasm_build: classifier.wasmBuild,
    ...(device === "webgpu" ? { adapter: await webGpuAdapter() } : {}),
  };
}

async function loadTransformers({ precision, threads, device }) {
  const { pipeline, env } = await import("/tfjs/transformers.js");
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = "/models/";
  // The runtime transformers.js would fetch from jsDelivr, served from node_modules instead.
  env.backends.onnx.wasm.wasmPaths = {
    mjs: `${location.origin}/ort/ort-wasm-simd-threaded.asyncify.mjs`,
    wasm: `${location.origin}/ort/ort-wasm-simd-threaded.asyncify.wasm`,
  };
  env.backends.onnx.wasm.numThreads = threads;
  const classifier = await pipeline("text-classification", "xlmr-full-size", {
    dtype: precision === "int8" ? "q8" : "fp32",
    device: device ?? "wasm",
  });
  classify = (input) => classifier(input);
  classifyAll = (input) => classifier(input, { top_k: null });
  // onnxruntime-web writes back the thread count it really uses (1 without cross-origin isolation).
  return {
    threads: env.backends.onnx.wasm.numThreads,
    precision,
    ...(device === "webgpu" ? { adapter: await webGpuAdapter() } : {}),
  };
}

window.bench = {
  async load(options) {
    const started = performance.now();
    const info = await (options.engine === "xlmr-sentiment" ? loadOurs : loadTransformers)(options);
    const first = await classify(options.text);
    const seconds = (performance.now() - started) / 1000;
    return { seconds, first, isolated: self.crossOriginIsolated, ...info };
  },
  async latency(text, calls, warmups) {
    for (let i = 0; i < warmups; i++) await classify(text);
    const times = [];
    for (let i = 0; i < calls; i++) {
      const started = performance.now();
      await classify(text);
      times.push(performance.now() - started);
    }
    return times;
  },
  async throughput(texts, batch) {
    const started = performance.now();
    let count = 0;
    for (let i = 0; i < texts.length; i += batch) {
      const out = await classify(texts.slice(i, i + batch));
      count += out.length;
    }
    return { seconds: (performance.now() - started) / 1000, count };
  },
  async scores(texts) {
    const out = [];
    for (let i = 0; i < texts.length; i += 16) out.push(...(await classifyAll(texts.slice(i, i + 16))));
    return out;
  },
};
document.body.dataset.ready = "yes";
