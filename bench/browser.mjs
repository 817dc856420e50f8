// Node driver of bench/browser.sh (read its header first): runs our npm package and
// transformers.js in headless Chromium, one browser per engine, precision and isolation, and
// writes the rows as a JSON list (bench/report.py --browser-rows turns them into the results file
// and its table).
//
//   node bench/browser.mjs --out FILE [--quick] [--only TEXT] [--gpu]
//
// --gpu adds two runs on WebGPU (Chromium with tests/chromium.mjs' WEBGPU_ARGS): ours
// (`device: "webgpu"`) and transformers.js (`device: "webgpu"`), f32, not isolated, each with
// texts/s at batch 1, 16 and 128 and the adapter's name. On a software adapter (SwiftShader,
// which is all a machine without a GPU has) the figures only show that the path runs.
//
// --only keeps the runs whose label contains TEXT ("xlmr-sentiment int8 isolated"): for work
// on one engine; the README's table comes from a run of all eight.
//
// Expects what bench/browser.sh prepares: bench/browser/node_modules, the bundles
// target/full-size-{f32,q8_0}.gguf, target/bench/texts.json and the transformers.js model folder
// target/bench/transformers-js/xlmr-full-size.
import { readFile, readdir, writeFile, mkdir } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { ISOLATION_HEADERS, WEBGPU_ARGS, launchChromium, serveFiles } from "../tests/chromium.mjs";

const ROOT = fileURLToPath(new URL("../", import.meta.url));
const HERE = join(ROOT, "bench/browser");
const require = createRequire(join(HERE, "package.json"));
const { chromium } = require("playwright-core");
const modules = join(HERE, "node_modules");

const args = process.argv.slice(2);
const quick = args.includes("--quick");
const out = args[args.indexOf("--out") + 1];
const only = args.includes("--only") ? args[args.indexOf("--only") + 1] : undefined;
const gpu = args.includes("--gpu");
if (!args.includes("--out") || !out) {
  console.error("usage: node bench/browser.mjs --out FILE [--quick] [--only TEXT] [--gpu]");
  process.exit(2);
}

const LATENCY = quick ? { calls: 3, warmups: 1 } : { calls: 20, warmups: 3 };
const TEXTS = quick ? 16 : 64;
const BATCH = 16;
const texts = JSON.parse(await readFile(join(ROOT, "target/bench/texts.json"), "utf8"));
const throughputTexts = texts.throughput_texts.slice(0, TEXTS);
// The GPU runs' batch sizes, each over this many of the throughput texts.
const GPU_BATCHES = quick ? [[1, 4], [16, 32], [128, 128]] : [[1, 16], [16, 64], [128, 256]];
const VERSIONS = {
  "xlmr-sentiment": JSON.parse(await readFile(join(ROOT, "www/xlmr-sentiment/package.json"), "utf8")).version,
  "transformers.js": JSON.parse(await readFile(join(modules, "@huggingface/transformers/package.json"), "utf8")).version,
};

// URL prefix -> folder. Anything else is a 404.
const MOUNTS = {
  "/bench/": HERE,
  "/ours/": join(ROOT, "www/xlmr-sentiment"),
  "/tfjs/": join(modules, "@huggingface/transformers/dist"),
  "/ort/": join(modules, "onnxruntime-web/dist"),
  "/models/": join(ROOT, "target/bench/transformers-js"),
};
const BUNDLES = { "/bundles/f32.gguf": "target/full-size-f32.gguf", "/bundles/int8.gguf": "target/full-size-q8_0.gguf" };

function resolve(url) {
  const path = normalize(decodeURIComponent(new URL(url, "http://x").pathname));
  if (path === "/") return join(HERE, "page.html");
  if (BUNDLES[path]) return join(ROOT, BUNDLES[path]);
  for (const [prefix, dir] of Object.entries(MOUNTS)) {
    if (path.startsWith(prefix)) return join(dir, path.slice(prefix.length));
  }
  return undefined;
}

const log = (...parts) => console.error(...parts);

/** Every Chromium renderer started by this process (its descendants), with VmHWM in bytes. */
async function renderers() {
  const procs = new Map();
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
      const kb = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0) * 1024;
      procs.set(Number(pid), { ppid: kb("PPid") / 1024, renderer: cmdline.includes("--type=renderer"), peak: kb("VmHWM") });
    } catch {}
  }
  const mine = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 20; p = procs.get(p)?.ppid ?? 0, hops++) {
      if (p === process.pid) return true;
    }
    return false;
  };
  return [...procs].filter(([pid, p]) => p.renderer && mine(pid)).map(([pid, p]) => ({ pid, peak: p.peak }));
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const round = (x, digits) => (x == null ? null : Number(x.toFixed(digits)));

/** One engine, precision and isolation: a fresh profile, a cold and a cached page load. */
async function run(engine, precision, isolated, device = "wasm") {
  const label = `${engine} ${precision} ${isolated ? "isolated" : "not isolated"}${device === "webgpu" ? " webgpu" : ""}`; // as --only matches
  log(`\n== ${label}`);
  const served = [];
  const foreign = [];
  const headers = isolated ? ISOLATION_HEADERS : {};
  const { server, origin } = await serveFiles(resolve, {
    headers,
    onRequest: (url, status) => {
      served.push(`${status} ${url}`);
      log(`  served ${status} ${url}`);
    },
  });
  const browser = await launchChromium(chromium, device === "webgpu" ? WEBGPU_ARGS : []);
  const peaks = new Map();
  const sample = async () => {
    for (const r of await renderers()) peaks.set(r.pid, Math.max(peaks.get(r.pid) ?? 0, r.peak));
  };
  try {
    browser.context.on("request", (request) => {
      const url = request.url();
      const local = url.startsWith(`${origin}/`) || url.startsWith("data:") || url.startsWith("blob:");
      log(`  request ${request.method()} ${url.length > 120 ? `${url.slice(0, 117)}...` : url}`);
      if (!local) foreign.push(url);
    });
    const threads = isolated ? 2 : 1;
    const options = { engine, precision, threads, device, text: texts.latency_text };
    const openPage = async () => {
      const page = await browser.context.newPage();
      page.on("console", (m) => log(`  console.${m.type()}: ${m.text()}`));
      page.on("pageerror", (e) => log(`  page error: ${e.message}`));
      await page.goto(`${origin}/`);
      await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
      return page;
    };

    // Cold: nothing in the profile's caches yet.
    const cold = await openPage();
    const first = await cold.evaluate((o) => window.bench.load(o), options);
    log(`  cold load to first result ${first.seconds.toFixed(2)} s, threads ${first.threads}, crossOriginIsolated ${first.isolated}: ${JSON.stringify(first.first)}`);
    if (first.isolated !== isolated) throw new Error(`${label}: crossOriginIsolated is ${first.isolated}`);
    await sample();
    log(`  renderer peak after the cold load: ${Math.round(Math.max(...peaks.values()) / 2 ** 20)} MB`);
    await cold.close();

    // Cached: a second page in the same profile; every timed figure below comes from this page.
    const servedBefore = served.length;
    const page = await openPage();
    const cached = await page.evaluate((o) => window.bench.load(o), options);
    // Model files fetched again by the cached load (0 when the engine's cache worked).
    const refetched = served.slice(servedBefore).filter((r) => / \/(models|bundles)\/.*\.(onnx|gguf)$/.test(r)).length;
    log(`  cached load to first result ${cached.seconds.toFixed(2)} s, model files fetched again: ${refetched}`);
    const cdp = await browser.context.newCDPSession(page);
    await cdp.send("HeapProfiler.collectGarbage");
    const heap = await cdp.send("Runtime.getHeapUsage");
    const { product } = await cdp.send("Browser.getVersion");
    await sample();
    log(`  renderer peak after the cached load: ${Math.round(Math.max(...peaks.values()) / 2 ** 20)} MB`);

    const before = await page.evaluate(([t, n, w]) => window.bench.latency(t, n, w), [texts.latency_text, LATENCY.calls, LATENCY.warmups]);
    log(`  latency p50 ${median(before).toFixed(1)} ms (${before.map((x) => x.toFixed(0)).join(" ")})`);
    const tp = await page.evaluate(([t, b]) => window.bench.throughput(t, b), [throughputTexts, BATCH]);
    if (tp.count !== throughputTexts.length) throw new Error(`${label}: ${tp.count} results for ${throughputTexts.length} texts`);
    log(`  ${tp.count} texts in ${tp.seconds.toFixed(2)} s: ${(tp.count / tp.seconds).toFixed(1)} texts/s`);
    // On the GPU: texts/s at each batch size of GPU_BATCHES.
    const perBatch = {};
    if (device === "webgpu") {
      for (const [batch, count] of GPU_BATCHES) {
        const some = texts.throughput_texts.slice(0, count);
        const r = await page.evaluate(([t, b]) => window.bench.throughput(t, b), [some, batch]);
        if (r.count !== some.length) throw new Error(`${label}: ${r.count} results for ${some.length} texts`);
        perBatch[`texts_per_s_batch${batch}`] = round(r.count / r.seconds, 2);
        log(`  batch ${batch}: ${r.count} texts in ${r.seconds.toFixed(2)} s: ${(r.count / r.seconds).toFixed(1)} texts/s`);
      }
    }
    const after = await page.evaluate(([t, n]) => window.bench.latency(t, n, 0), [texts.latency_text, LATENCY.calls]);
    log(`  latency after ${median(after).toFixed(1)} ms`);
    // Every label's probability for the throughput texts (untimed), to compare int8 with f32.
    scoresOf.set(`${engine}/${precision}/${isolated}${device === "webgpu" ? "/webgpu" : ""}`, await page.evaluate((t) => window.bench.scores(t), throughputTexts));
    await sample();
    await page.close();

    if (foreign.length) throw new Error(`${label}: requests left 127.0.0.1: ${foreign.join(", ")}`);
    return {
      engine,
      precision,
      isolated,
      threads: first.threads,
      load_cold_s: round(first.seconds, 2),
      load_cached_s: round(cached.seconds, 2),
      latency_p50_ms: round(median(before), 1),
      latency_after_ms: round(median(after), 1),
      texts_per_s: round(tp.count / tp.seconds, 2),
      peak_rss_mb: round(Math.max(0, ...peaks.values()) / 1e6, 0),
      js_heap_mb: round(heap.usedSize / 1e6, 1),
      version: VERSIONS[engine],
      ...(first.wasm_build ? { wasm_build: first.wasm_build } : {}),
      ...(device === "webgpu" ? { device, adapter: first.adapter?.name ?? null, software_adapter: first.adapter?.software ?? null, ...perBatch } : {}),
      chromium: product,
      first_result: first.first[0],
      cached_load_model_requests: refetched,
      requests: served.length,
    };
  } finally {
    await browser.close();
    server.close();
  }
}

const rows = [];
const scoresOf = new Map();
for (const precision of ["f32", "int8"]) {
  for (const isolated of [false, true]) {
    for (const engine of ["xlmr-sentiment", "transformers.js"]) {
      const label = `${engine} ${precision} ${isolated ? "isolated" : "not isolated"}`;
      if (only !== undefined && !label.includes(only)) continue;
      rows.push(await run(engine, precision, isolated));
    }
  }
}
if (gpu) {
  for (const engine of ["xlmr-sentiment", "transformers.js"]) {
    if (only !== undefined && !`${engine} f32 not isolated webgpu`.includes(only)) continue;
    rows.push(await run(engine, "f32", false, "webgpu"));
  }
}
// int8 against f32, per engine and isolation, on the throughput texts: top-label agreement and the
// largest change of any label's probability.
for (const r of rows.filter((row) => row.precision === "int8")) {
  const int8 = scoresOf.get(`${r.engine}/int8/${r.isolated}`);
  const f32 = scoresOf.get(`${r.engine}/f32/${r.isolated}`);
  if (!int8 || !f32 || int8.length !== f32.length) continue;
  const top = (scores) => scores.reduce((a, b) => (b.score > a.score ? b : a)).label;
  let agree = 0;
  let change = 0;
  int8.forEach((scores, i) => {
    if (top(scores) === top(f32[i])) agree += 1;
    for (const s of scores) change = Math.max(change, Math.abs(s.score - f32[i].find((x) => x.label === s.label).score));
  });
  r.agreement_with_f32 = round(agree / int8.length, 4);
  r.max_prob_change = round(change, 4);
  log(`${r.engine} int8 (isolated ${r.isolated}) against its f32 on ${int8.length} texts: top label agrees on ${agree}, largest probability change ${change.toFixed(4)}`);
}
// Each GPU row against the same engine's wasm f32 row: the same weights on another device.
for (const r of rows.filter((row) => row.device === "webgpu")) {
  const onGpu = scoresOf.get(`${r.engine}/f32/false/webgpu`);
  const onWasm = scoresOf.get(`${r.engine}/f32/false`);
  if (!onGpu || !onWasm || onGpu.length !== onWasm.length) continue;
  let change = 0;
  onGpu.forEach((scores, i) => {
    for (const s of scores) change = Math.max(change, Math.abs(s.score - onWasm[i].find((x) => x.label === s.label).score));
  });
  r.max_prob_change_vs_wasm = round(change, 6);
  log(`${r.engine} on WebGPU against its wasm f32: largest probability change ${change.toExponential(2)}`);
}
await mkdir(dirname(out), { recursive: true });
await writeFile(out, `${JSON.stringify(rows, null, 2)}\n`);
log(`wrote ${out}`);
