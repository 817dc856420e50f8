// The WebGPU path in headless Chromium, on its software adapter (SwiftShader; tests/chromium.mjs'
// WEBGPU_ARGS), pages served from 127.0.0.1 (a secure context): every golden text of every
// fixture model within 1e-4 of transformers with `device: "webgpu"`, each bundle precision
// against the CPU path of the same bundle, a device destroyed mid-call finishing on the CPU,
// `auto`'s choice, and a browser without WebGPU picking wasm and saying why.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ISOLATION_HEADERS, WEBGPU_ARGS, launchChromium, serveFiles } from "../../../tests/chromium.mjs";

const pkgDir = fileURLToPath(new URL("../", import.meta.url));
const modelsDir = fileURLToPath(new URL("../../../tests/fixtures/models/", import.meta.url));
// Written by `xlmr-sentiment pack` before the tests (tests/run.sh).
const bundlesDir = fileURLToPath(new URL("../../../target/bundles/", import.meta.url));
const MODELS = ["tiny-sentiment", "tiny-multilabel", "tiny-score"];
const TOLERANCE = 1e-4;

function resolvePath(url) {
  const path = decodeURIComponent(new URL(url, "http://x").pathname);
  if (path === "/") return join(pkgDir, "test/webgpu.html");
  if (path.startsWith("/pkg/")) return join(pkgDir, normalize(path.slice(5)));
  if (path.startsWith("/models/")) return join(modelsDir, normalize(path.slice(8)));
  if (path.startsWith("/bundles/")) return join(bundlesDir, normalize(path.slice(9)));
  return undefined;
}

let server, origin, withGpu, withoutGpu;
// The same files with COOP/COEP: a cross-origin isolated page, whose worker runs the threaded build.
let isolatedServer, isolatedOrigin;

before(async () => {
  ({ server, origin } = await serveFiles(resolvePath));
  ({ server: isolatedServer, origin: isolatedOrigin } = await serveFiles(resolvePath, { headers: ISOLATION_HEADERS }));
  withGpu = await launchChromium(chromium, WEBGPU_ARGS);
  withoutGpu = await launchChromium(chromium);
});

after(async () => {
  await withGpu?.close();
  await withoutGpu?.close();
  server?.close();
  isolatedServer?.close();
});

const golden = async (model) => JSON.parse(await readFile(join(modelsDir, model, "golden.json"), "utf8"));

async function openPage(browser, at = origin) {
  const page = await browser.context.newPage();
  const offsite = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(at)) offsite.push(r.url());
  });
  page.on("console", (m) => m.type() === "error" && console.error(`page: ${m.text()}`));
  await page.goto(`${at}/`);
  await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
  return { page, offsite };
}

/** The largest probability change between two runs' predictions, and how many top labels agree. */
function compare(a, b) {
  let largest = 0;
  let sameTop = 0;
  a.forEach((p, i) => {
    sameTop += p.label === b[i].label ? 1 : 0;
    p.scores.forEach((s, j) => (largest = Math.max(largest, Math.abs(s.score - b[i].scores[j].score))));
  });
  return { largest, agreement: sameTop / a.length };
}

test("this Chromium has a WebGPU adapter with the flags and none without", async () => {
  const on = await openPage(withGpu);
  const adapter = await on.page.evaluate(() => window.hasWebGpu());
  await on.page.close();
  assert.ok(adapter, "no WebGPU adapter with WEBGPU_ARGS: the GPU tests below cannot run");
  console.log(`SwiftShader adapter: ${JSON.stringify(adapter)}`);
  const off = await openPage(withoutGpu);
  assert.equal(await off.page.evaluate(() => window.hasWebGpu()), null);
  await off.page.close();
});

for (const model of MODELS) {
  test(`${model} on WebGPU: every golden text within 1e-4 of transformers, batched, and a spread of them alone`, async () => {
    const g = await golden(model);
    const texts = g.texts.map((t) => t.text);
    // Every text batched; 24 spread over the set alone as well, since each pass on SwiftShader
    // costs a read-back (crates/core/tests/gpu.rs runs every text alone on lavapipe).
    const aloneAt = [...new Set(Array.from({ length: 24 }, (_, i) => Math.floor((i * texts.length) / 24)))];
    const { page, offsite } = await openPage(withGpu);
    const run = await page.evaluate(([url, t, at]) => window.classifyOn(url, "webgpu", t, { batchSize: 16 }, at), [`${origin}/models/${model}/`, texts, aloneAt]);
    await page.close();
    assert.deepEqual(offsite, []);
    for (const device of [run.loaded, run.after]) {
      assert.equal(device.requested, "webgpu");
      assert.equal(device.device, "webgpu", JSON.stringify(device));
      assert.equal(device.adapter.backend, "webgpu");
      assert.equal(device.reason, null);
    }
    assert.equal(run.alone.length, aloneAt.length);
    const checks = [
      ...g.texts.map((row, i) => ["batched", row, run.batched[i]]),
      ...aloneAt.map((i, n) => ["alone", g.texts[i], run.alone[n]]),
    ];
    for (const [how, row, p] of checks) {
      assert.equal(p.tokens, row.input_ids.length);
      p.scores.forEach((s, j) => {
        assert.equal(s.label, g.labels[j]);
        assert.ok(Math.abs(s.score - row.scores[j]) <= TOLERANCE, `${model} ${how} ${JSON.stringify(row.text)}: ${s.score} vs ${row.scores[j]}`);
      });
    }
  });
}

test("a cross-origin isolated page: the threaded build's worker runs WebGPU too", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const { page, offsite } = await openPage(withGpu, isolatedOrigin);
  const run = await page.evaluate(([url, t]) => window.classifyOn(url, "webgpu", t, { batchSize: 16 }), [`${isolatedOrigin}/models/tiny-sentiment/`, texts]);
  await page.close();
  assert.deepEqual(offsite, []);
  assert.equal(run.wasmBuild, "relaxed-simd-threads");
  assert.equal(run.after.device, "webgpu", JSON.stringify(run.after));
  g.texts.forEach((row, i) => run.batched[i].scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= TOLERANCE, `${JSON.stringify(row.text)}`)));
});

test("each bundle precision on WebGPU agrees with the wasm path of the same bundle", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const truth = g.texts.map((t) => ({ label: g.labels[t.scores.indexOf(Math.max(...t.scores))], scores: t.scores.map((score) => ({ score })) }));
  const { page } = await openPage(withGpu);
  // The quantized wasm path runs int8 activations (7-bit with relaxed SIMD's dot product), the
  // GPU f32 ones on the same weights, so on this tiny random model near ties may flip there and
  // the probabilities move further than natively (crates/core/tests/gpu.rs). What must hold
  // there: the GPU's answers are no further from transformers' f32 ones than the wasm path's.
  for (const [precision, bound, least] of [["f32", 1e-4, 1], ["f16", 1e-4, 1], ["q8_0", 0.2, 0.95], ["q4", 0.35, 0.95]]) {
    const url = `${origin}/bundles/tiny-sentiment-${precision}.gguf`;
    const gpu = await page.evaluate(([u, t]) => window.classifyOn(u, "webgpu", t), [url, texts]);
    const wasm = await page.evaluate(([u, t]) => window.classifyOn(u, "wasm", t), [url, texts]);
    assert.equal(gpu.after.device, "webgpu");
    // The GPU holds the bundle's precision: f16 as f16, q8_0 and q4 as int8 blocks.
    assert.equal(gpu.after.gpuWeights, { f32: "f32", f16: "f16", q8_0: "int8", q4: "int8" }[precision]);
    assert.equal(wasm.after.device, "wasm");
    const { largest, agreement } = compare(wasm.batched, gpu.batched);
    const gpuOff = compare(truth, gpu.batched);
    const wasmOff = compare(truth, wasm.batched);
    console.log(
      `tiny-sentiment ${precision}: WebGPU against wasm, top label agrees on ${(agreement * 100).toFixed(1)}%, largest probability change ${largest.toExponential(2)}; ` +
        `against transformers (f32): WebGPU ${gpuOff.largest.toExponential(2)} (${(gpuOff.agreement * 100).toFixed(1)}%), wasm ${wasmOff.largest.toExponential(2)} (${(wasmOff.agreement * 100).toFixed(1)}%)`,
    );
    assert.ok(largest <= bound, `${precision}: ${largest} > ${bound}`);
    assert.ok(agreement >= least, `${precision}: ${agreement}`);
    assert.ok(gpuOff.largest <= wasmOff.largest + 0.02, `${precision}: WebGPU ${gpuOff.largest} from transformers, wasm ${wasmOff.largest}`);
    assert.ok(gpuOff.agreement >= wasmOff.agreement - 0.02, `${precision}: WebGPU ${gpuOff.agreement} top labels, wasm ${wasmOff.agreement}`);
  }
  await page.close();
});

test("a GPU device destroyed mid-call: that call and later ones finish on the CPU, nothing lost", async () => {
  const texts = (await golden("tiny-sentiment")).texts.map((t) => t.text);
  const { page } = await openPage(withGpu);
  const run = await page.evaluate(([u, t]) => window.loseDeviceMidCall(u, t), [`${origin}/bundles/tiny-sentiment-f32.gguf`, texts]);
  await page.close();
  assert.equal(run.before.device, "webgpu");
  assert.equal(run.after.device, "wasm");
  assert.match(run.after.reason, /GPU failed mid-run/);
  for (const got of [run.got, run.again]) {
    assert.equal(got.length, texts.length);
    const { largest, agreement } = compare(run.reference, got);
    assert.equal(agreement, 1);
    assert.ok(largest <= TOLERANCE, `${largest}`);
  }
});

test("auto on a software adapter picks wasm and says why; the answers are the wasm ones", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const { page } = await openPage(withGpu);
  const run = await page.evaluate(([u, t]) => window.classifyOn(u, "auto", t), [`${origin}/models/tiny-sentiment/`, texts]);
  await page.close();
  assert.equal(run.loaded.requested, "auto");
  assert.equal(run.loaded.device, "wasm", JSON.stringify(run.loaded));
  assert.ok(run.loaded.adapter, "the adapter found is reported");
  assert.ok(run.loaded.reason, "auto says why");
  console.log(`auto on SwiftShader: ${run.loaded.reason}`);
  g.texts.forEach((row, i) => run.batched[i].scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= TOLERANCE)));
});

test("without WebGPU, auto picks wasm and says so; webgpu fails to load with the reason", async () => {
  const texts = ["Great!", "Awful."];
  const { page, offsite } = await openPage(withoutGpu);
  const url = `${origin}/bundles/tiny-sentiment-q8_0.gguf`;
  const run = await page.evaluate(([u, t]) => window.classifyOn(u, "auto", t), [url, texts]);
  const error = await page.evaluate((u) => window.loadError(u, "webgpu"), url);
  await page.close();
  assert.deepEqual(offsite, []);
  assert.equal(run.loaded.device, "wasm");
  assert.equal(run.loaded.adapter, null);
  assert.match(run.loaded.reason, /no WebGPU adapter/);
  assert.match(error, /no WebGPU adapter/);
});
