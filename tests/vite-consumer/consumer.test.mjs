// The npm package as a user gets it: `npm pack` of www/xlmr-sentiment (already built), installed
// here from the tarball, bundled by `vite build` with no Vite config, served from 127.0.0.1 and
// run in headless Chromium (Debian's, driven by playwright-core, as in the package's own
// browser test). Both forms, `load` and `loadInWorker`, must match the golden outputs of
// transformers within 1e-4, with the wasm and the worker coming from Vite's built assets; served
// cross-origin isolated (COOP/COEP), the worker form runs the threaded build, its pool's workers
// from the built assets too.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, readdir, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ISOLATION_HEADERS, launchChromium, serveFiles } from "../chromium.mjs";
import { build } from "vite";

const run = promisify(execFile);
const here = fileURLToPath(new URL("./", import.meta.url));
const pkgDir = fileURLToPath(new URL("../../www/xlmr-sentiment/", import.meta.url));
const modelsDir = fileURLToPath(new URL("../fixtures/models/", import.meta.url));
const distDir = join(here, "dist");

const served = []; // { path, status } of every request the server answered
let packDir, browser, server, context, origin, isolatedServer, isolatedOrigin;

// Built files at /, the fixture models at /models/; anything else is a 404.
function resolvePath(url) {
  const path = normalize(decodeURIComponent(new URL(url, "http://x").pathname));
  if (path.startsWith("/models/")) return join(modelsDir, path.slice(8));
  return join(distDir, path === "/" ? "index.html" : path);
}

/** The package's three WebAssembly builds (www/xlmr-sentiment/build.sh). */
const WASM_BUILDS = [
  "xlmr_sentiment_wasm_simd128.wasm",
  "xlmr_sentiment_wasm_relaxed_simd.wasm",
  "xlmr_sentiment_wasm_relaxed_simd_threads.wasm",
];

before(async () => {
  // What a user installs: the packed tarball, not the package folder. It is installed without
  // touching package.json or the lock file, whose hash would change with every build.
  packDir = await mkdtemp(join(tmpdir(), "xlmr-pack-"));
  const { stdout } = await run("npm", ["pack", "--pack-destination", packDir, "--json"], { cwd: pkgDir });
  const [packed] = JSON.parse(stdout);
  const files = packed.files.map((f) => f.path);
  for (const f of ["dist/index.js", "dist/worker-client.js", "dist/worker.js", ...WASM_BUILDS.map((b) => `wasm/${b}`)]) {
    assert.ok(files.includes(f), `the tarball has ${f} (is www/xlmr-sentiment built?)`);
  }
  await run("npm", ["install", "--no-save", "--no-audit", "--no-fund", join(packDir, packed.filename)], { cwd: here });

  // The build a user runs: vite.config.js is absent on purpose, the defaults must work.
  await build({ root: here, logLevel: "warn" });

  // no-store: every page load must fetch the wasm again, so each one is checked.
  ({ server, origin } = await serveFiles(resolvePath, {
    onRequest: (path, status) => served.push({ path, status }),
    headers: { "cache-control": "no-store" },
  }));
  ({ server: isolatedServer, origin: isolatedOrigin } = await serveFiles(resolvePath, {
    onRequest: (path, status) => served.push({ path, status }),
    headers: { "cache-control": "no-store", ...ISOLATION_HEADERS },
  }));
  browser = await launchChromium(chromium);
  context = browser.context;
});

after(async () => {
  await browser?.close();
  server?.close();
  isolatedServer?.close();
  if (packDir) await rm(packDir, { recursive: true, force: true });
});

/** Label names in id order, from the model's config.json. */
async function configLabels(model) {
  const { id2label } = JSON.parse(await readFile(join(modelsDir, model, "config.json"), "utf8"));
  return Object.keys(id2label).sort((a, b) => a - b).map((id) => id2label[id]);
}

/** Opens the app for `model`; rejects on the first page error instead of waiting forever. */
async function openApp(model, at = origin) {
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && problems.push(`worker console error: ${m.text()}`)));
  const failed = new Promise((_, reject) => page.once("pageerror", reject));
  failed.catch(() => {}); // a later page error is caught through `problems`
  await page.goto(`${at}/?model=/models/${model}/`);
  await Promise.race([page.waitForFunction(() => typeof window.classifyBoth === "function"), failed]);
  return { page, problems };
}

test("vite build of the packed tarball: both forms match the golden outputs in Chromium", async () => {
  const assets = await readdir(join(distDir, "assets"));
  // Every build is emitted (the choice is made in the browser); each asset is the package's file.
  const wasmAssets = assets.filter((f) => f.endsWith(".wasm"));
  assert.equal(wasmAssets.length, WASM_BUILDS.length, `every wasm build in the built assets: ${assets}`);
  const assetOf = {};
  for (const build of WASM_BUILDS) {
    const packageWasm = await readFile(join(here, "node_modules/xlmr-sentiment/wasm", build));
    const matches = [];
    for (const asset of wasmAssets) if (packageWasm.equals(await readFile(join(distDir, "assets", asset)))) matches.push(asset);
    assert.equal(matches.length, 1, `${build} is one of the built assets`);
    assetOf[build] = matches[0];
  }

  for (const model of ["tiny-sentiment", "tiny-multilabel"]) {
    const golden = JSON.parse(await readFile(join(modelsDir, model, "golden.json"), "utf8"));
    const labels = await configLabels(model);
    const texts = golden.texts.map((t) => t.text);

    served.length = 0;
    const { page, problems } = await openApp(model);
    const result = await page.evaluate((t) => window.classifyBoth(t), texts);

    for (const form of ["main", "worker"]) {
      assert.deepEqual(result.labels[form], labels, `${form} labels`);
      assert.equal(result[form].length, texts.length, `${form}: one result per text`);
      golden.texts.forEach((row, i) => {
        const got = result[form][i];
        assert.equal(got.length, labels.length, `${form}: every label (topK null)`);
        labels.forEach((label, j) => {
          const score = got.find((s) => s.label === label)?.score;
          assert.ok(Math.abs(score - row.scores[j]) <= 1e-4, `${model} ${form} ${label} ${JSON.stringify(row.text)}: ${score} vs ${row.scores[j]}`);
        });
      });
    }

    // Main thread: a first load, from the network. Worker: the same files, from Cache Storage.
    const statuses = (form) => new Set(result.events[form].map((e) => e.status));
    for (const s of ["initiate", "download", "progress", "done", "ready"]) assert.ok(statuses("main").has(s), `main ${s} event`);
    for (const s of ["initiate", "done", "ready"]) assert.ok(statuses("worker").has(s), `worker ${s} event`);
    assert.equal(result.events.worker.at(-1).status, "ready");

    // The worker form ran in a real Worker, whose script is one of Vite's built assets.
    const workerUrls = page.workers().map((w) => w.url());
    assert.ok(workerUrls.some((u) => u.startsWith(`${origin}/assets/`) && u.endsWith(".js")), `a worker from /assets/: ${workerUrls}`);

    // Chromium has relaxed SIMD: page and worker both run that build, fetched from the built
    // assets; nothing from the package.
    assert.deepEqual(result.wasmBuilds, { main: "relaxed-simd", worker: "relaxed-simd" });
    const wasmRequests = served.filter((r) => r.path.endsWith(".wasm"));
    assert.ok(wasmRequests.length >= 2, `wasm fetched by page and worker: ${JSON.stringify(wasmRequests)}`);
    const relaxedAsset = assetOf["xlmr_sentiment_wasm_relaxed_simd.wasm"];
    for (const r of wasmRequests) assert.deepEqual(r, { path: `/assets/${relaxedAsset}`, status: 200 });
    assert.deepEqual(served.filter((r) => r.status !== 200 || /node_modules|xlmr-sentiment\//.test(r.path)), [], "every request served from dist/ or /models/");
    assert.deepEqual(problems, [], "no page or console error");
    await page.close();
  }

  // Cross-origin isolated: the page's own thread keeps relaxed SIMD (it may not block), the
  // worker runs the threaded build; its pool's worker script is a built asset as well.
  const golden = JSON.parse(await readFile(join(modelsDir, "tiny-sentiment", "golden.json"), "utf8"));
  const labels = await configLabels("tiny-sentiment");
  served.length = 0;
  const { page, problems } = await openApp("tiny-sentiment", isolatedOrigin);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);
  const result = await page.evaluate((t) => window.classifyBoth(t), golden.texts.map((t) => t.text));
  assert.deepEqual(result.wasmBuilds, { main: "relaxed-simd", worker: "relaxed-simd-threads" });
  golden.texts.forEach((row, i) => {
    labels.forEach((label, j) => {
      const score = result.worker[i].find((s) => s.label === label)?.score;
      assert.ok(Math.abs(score - row.scores[j]) <= 1e-4, `threaded worker ${label} ${JSON.stringify(row.text)}: ${score} vs ${row.scores[j]}`);
    });
  });
  const threadsAsset = assetOf["xlmr_sentiment_wasm_relaxed_simd_threads.wasm"];
  assert.ok(served.some((r) => r.path === `/assets/${threadsAsset}`), "the threaded build fetched from the built assets");
  const poolWorkers = page.workers().map((w) => w.url()).filter((u) => /workerHelpers/.test(u));
  assert.ok(poolWorkers.length >= 1 && poolWorkers.every((u) => u.startsWith(`${isolatedOrigin}/assets/`)), `pool workers from /assets/: ${poolWorkers}`);
  assert.deepEqual(served.filter((r) => r.status !== 200 || /node_modules|xlmr-sentiment\//.test(r.path)), [], "every request served from dist/ or /models/");
  assert.deepEqual(problems, [], "no page or console error");
  await page.close();
});
