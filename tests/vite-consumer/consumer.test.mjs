// The npm package as a user gets it: the tarball `npm pack` wrote (tests/run.sh packs it into
// target/npm/), installed here, with the documented examples copied verbatim out of the READMEs
// into src/examples/ and the models in public/models/ (where the README's `pack --out` puts the
// bundle). Then, in headless Chromium (Debian's, driven by playwright-core):
// - `vite build` with no Vite config, served from 127.0.0.1: both forms, `load` and
//   `loadInWorker`, match the golden outputs of transformers within 1e-4, with the wasm and the
//   worker from Vite's built assets; served cross-origin isolated (COOP/COEP), the worker form runs
//   the threaded build, its pool's workers from the built assets too; and every README example
//   runs as written;
// - `vite dev`, with no config either: the same, from the dev server, and the README's React
//   hook under <StrictMode>, whose double mount must leave one worker.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { copyFile, cp, mkdir, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ISOLATION_HEADERS, launchChromium, serveFiles } from "../chromium.mjs";
import { build, createServer } from "vite";

const run = promisify(execFile);
const here = fileURLToPath(new URL("./", import.meta.url));
const root = fileURLToPath(new URL("../../", import.meta.url));
const pkgDir = join(root, "www/xlmr-sentiment");
const modelsDir = join(root, "tests/fixtures/models");
const distDir = join(here, "dist");
const npmReadme = join(pkgDir, "README.md");

const served = []; // { path, status } of every request the server answered
let browser, server, context, origin, isolatedServer, isolatedOrigin;

/** Built files (dist/ holds public/ too); anything else is a 404. */
function resolvePath(url) {
  const path = normalize(decodeURIComponent(new URL(url, "http://x").pathname));
  return join(distDir, path === "/" ? "index.html" : path);
}

/** The package's three WebAssembly builds (www/xlmr-sentiment/build.sh). */
const WASM_BUILDS = [
  "xlmr_sentiment_wasm_simd128.wasm",
  "xlmr_sentiment_wasm_relaxed_simd.wasm",
  "xlmr_sentiment_wasm_relaxed_simd_threads.wasm",
];

/** The ```js blocks of a Markdown file, in order. */
async function jsBlocks(file) {
  const text = await readFile(file, "utf8");
  return [...text.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
}

/** The documented examples, each a module of src/examples/ exactly as the README writes it. */
async function writeExamples() {
  // Each example is the README's block that starts as given here.
  const blocks = [...(await jsBlocks(join(root, "README.md"))), ...(await jsBlocks(npmReadme))];
  const find = (what, start) => {
    const found = blocks.filter((b) => b.startsWith(start));
    assert.equal(found.length, 1, `one ${what} (a js block starting ${JSON.stringify(start)})`);
    return found[0];
  };
  const examples = {
    "readme": find("README.md example", 'import { loadInWorker } from "xlmr-sentiment/worker";\nconst classifier = await loadInWorker("/models/sentiment-q8_0.gguf", { onProgress: (e) => console.log(e.overall) });'),
    "npm-worker": find("npm README worker example", 'import { loadInWorker } from "xlmr-sentiment/worker";\nconst classifier = await loadInWorker("/models/sentiment-q8_0.gguf", { onProgress: (e) => console.log(e.status, e.file, e.overall) });'),
    "npm-pipeline": find("npm README pipeline example", 'import { pipeline } from "xlmr-sentiment";'),
    "useSentiment": find("npm README React hook", "// useSentiment.js\n"),
  };
  await mkdir(join(here, "src/examples"), { recursive: true });
  for (const [name, code] of Object.entries(examples)) await writeFile(join(here, "src/examples", `${name}.js`), code);
}

/**
 * public/models/: the fixture model folders, and the q8_0 bundle tests/run.sh packs from
 * tiny-sentiment at the path the README's `pack --out public/models/sentiment-q8_0.gguf` gives.
 */
async function writeModels() {
  const bundle = join(root, "target/bundles/tiny-sentiment-q8_0.gguf");
  assert.ok(existsSync(bundle), `${bundle} is missing (tests/run.sh packs it)`);
  await rm(join(here, "public"), { recursive: true, force: true });
  await mkdir(join(here, "public/models"), { recursive: true });
  for (const model of ["tiny-sentiment", "tiny-multilabel"]) await cp(join(modelsDir, model), join(here, "public/models", model), { recursive: true });
  await copyFile(bundle, join(here, "public/models/sentiment-q8_0.gguf"));
}

before(async () => {
  // What a user installs: the packed tarball, not the package folder. It is installed without
  // touching package.json or the lock file, whose hash would change with every build.
  const { version } = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
  const tarball = join(root, "target/npm", `xlmr-sentiment-${version}.tgz`);
  assert.ok(existsSync(tarball), `${tarball} is missing: run \`npm pack --pack-destination ../../target/npm\` in www/xlmr-sentiment`);
  await run("npm", ["install", "--no-save", "--no-audit", "--no-fund", tarball], { cwd: here });
  await writeExamples();
  await writeModels();

  // The build a user runs: vite.config.js is absent on purpose, the defaults must work.
  await build({ root: here, logLevel: "warn", configFile: false });

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
});

/** Label names in id order, from the model's config.json. */
async function configLabels(model) {
  const { id2label } = JSON.parse(await readFile(join(modelsDir, model, "config.json"), "utf8"));
  return Object.keys(id2label).sort((a, b) => a - b).map((id) => id2label[id]);
}

/** A new page that records page, console and worker errors, and `console.log` values in order. */
async function newPage() {
  const page = await context.newPage();
  const problems = [];
  const logs = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console error: ${m.text()}`);
    if (m.type() === "log") logs.push(Promise.all(m.args().map((a) => a.jsonValue())));
  });
  page.on("worker", (w) => w.on("console", (m) => m.type() === "error" && problems.push(`worker console error: ${m.text()}`)));
  const failed = new Promise((_, reject) => page.once("pageerror", reject));
  failed.catch(() => {}); // a later page error is caught through `problems`
  return { page, problems, logs, failed };
}

/** Opens the app for `model`; rejects on the first page error instead of waiting forever. */
async function openApp(model, at = origin) {
  const { page, problems, failed } = await newPage();
  await page.goto(`${at}/?model=/models/${model}/`);
  await Promise.race([page.waitForFunction(() => typeof window.classifyBoth === "function"), failed]);
  return { page, problems };
}

/** Runs one README example as written; resolves to the values it logged, one array per call. */
async function runExample(name, at) {
  const { page, problems, logs, failed } = await newPage();
  const closed = [];
  page.on("worker", (w) => w.on("close", () => closed.push(w.url())));
  await page.goto(`${at}/?example=${name}`);
  await Promise.race([page.waitForFunction(() => window.exampleDone === true), failed]);
  const values = await Promise.all(logs);
  const workers = page.workers().map((w) => w.url());
  await page.close();
  assert.deepEqual(problems, [], `${name}: no page or console error`);
  return { values, workers, closed };
}

/** A `{ label, score }` list: known labels, scores in [0, 1], highest first. */
function assertRanked(list, labels, what) {
  assert.ok(Array.isArray(list) && list.length > 0, `${what}: a list (${JSON.stringify(list)})`);
  for (const { label, score } of list) {
    assert.ok(labels.includes(label), `${what}: label ${label}`);
    assert.ok(score >= 0 && score <= 1, `${what}: score ${score}`);
  }
  for (let i = 1; i < list.length; i++) assert.ok(list[i - 1].score >= list[i].score, `${what}: highest first`);
}

/** Checks what the three README examples logged (the model: tiny-sentiment's q8_0 bundle). */
async function checkExamples(at) {
  const labels = await configLabels("tiny-sentiment");

  // README.md: the bytes loaded over all files, then one top label.
  const readme = await runExample("readme", at);
  const [first] = readme.values.at(-1);
  assertRanked(first, labels, "README.md classify");
  assert.equal(first.length, 1);
  const progress = readme.values.slice(0, -1).map(([overall]) => overall);
  assert.ok(progress.length >= 2, `progress events: ${JSON.stringify(progress)}`);
  for (const p of progress) assert.ok(p.loaded >= 0 && p.loaded <= p.total, `overall ${JSON.stringify(p)}`);
  assert.ok(progress.at(-1).loaded === progress.at(-1).total && progress.at(-1).total > 0, "all bytes loaded");

  // The npm README's worker example: progress lines, the three calls, then terminate().
  const worker = await runExample("npm-worker", at);
  const calls = worker.values.slice(-3).map(([v]) => v);
  const events = worker.values.slice(0, -3);
  assert.ok(events.some(([status]) => status === "ready"), `a ready event: ${JSON.stringify(events)}`);
  for (const [status, file, overall] of events) {
    assert.equal(typeof status, "string");
    assert.ok(file === undefined || file === null || typeof file === "string", `file ${file}`);
    assert.ok(overall.loaded >= 0 && overall.loaded <= overall.total, `overall ${JSON.stringify(overall)}`);
  }
  assertRanked(calls[0], labels, "classify(text)");
  assert.equal(calls[0].length, 1);
  assert.equal(calls[1].length, 2, "one result per text");
  calls[1].forEach((r, i) => assertRanked([r], labels, `classify(texts)[${i}]: one { label, score }`));
  assertRanked(calls[2], labels, "topK: null");
  assert.equal(calls[2].length, labels.length, "topK: null gives every label");
  assert.ok(worker.workers.length === 0 || worker.closed.length >= 1, `terminate() ended the worker: ${worker.workers}, closed ${worker.closed}`);

  // The npm README's pipeline example: transformers.js' shape, one list of every label per
  // text, and the same model and engine as the worker example, so the same top answers.
  const pipe = await runExample("npm-pipeline", at);
  const [answers] = pipe.values.at(-1);
  assert.equal(answers.length, 2);
  answers.forEach((list, i) => {
    assertRanked(list, labels, `pipeline answer ${i}`);
    assert.equal(list.length, labels.length);
    assert.deepEqual(list[0], calls[1][i], `pipeline and loadInWorker agree on text ${i}`);
  });
}

/** Both forms' answers to `classifyBoth` against the golden outputs of transformers. */
function checkGolden(result, golden, labels, model) {
  for (const form of ["main", "worker"]) {
    assert.deepEqual(result.labels[form], labels, `${form} labels`);
    assert.equal(result[form].length, golden.texts.length, `${form}: one result per text`);
    golden.texts.forEach((row, i) => {
      const got = result[form][i];
      assert.equal(got.length, labels.length, `${form}: every label (topK null)`);
      labels.forEach((label, j) => {
        const score = got.find((s) => s.label === label)?.score;
        assert.ok(Math.abs(score - row.scores[j]) <= 1e-4, `${model} ${form} ${label} ${JSON.stringify(row.text)}: ${score} vs ${row.scores[j]}`);
      });
    });
  }
}

/**
 * The npm README's React hook under <StrictMode>: `mounts` loads (2 in development, where React
 * mounts twice; 1 in a production build), all but the last one's worker terminated, and the
 * remaining classifier answers.
 */
async function checkReact(at, mounts) {
  const { page, problems, failed } = await newPage();
  // Counted in the page: Playwright may never see a worker that ends soon after it starts.
  await page.addInitScript(() => {
    const Base = window.Worker;
    window.workerCounts = { created: 0, terminated: 0 };
    window.Worker = class extends Base {
      constructor(...args) {
        super(...args);
        window.workerCounts.created++;
      }
      terminate() {
        window.workerCounts.terminated++;
        super.terminate();
      }
    };
  });
  await page.goto(`${at}/?example=react`);
  await Promise.race([page.waitForFunction(() => window.sentiment?.classifier || window.sentiment?.error), failed]);
  assert.equal(await page.evaluate(() => window.sentiment.error), null, "the hook loaded the model");
  const answer = await page.evaluate(() => window.sentiment.classifier.classify("I love this!"));
  assertRanked(answer, await configLabels("tiny-sentiment"), "the hook's classifier");
  // The first mount's load may still be settling: its cleanup terminates it once it does.
  await page.waitForFunction((n) => window.workerCounts.terminated >= n - 1, mounts - 1);
  const counts = await page.evaluate(() => window.workerCounts);
  assert.deepEqual(counts, { created: mounts, terminated: mounts - 1 }, "one worker per mount, all but the last terminated");
  assert.deepEqual(problems, [], "no page or console error");
  await page.close();
}

test("vite build: both forms match the golden outputs in Chromium", async () => {
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

    checkGolden(result, golden, labels, model);

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

test("vite build: the README examples run as written", async () => {
  await checkExamples(origin);
  await checkReact(origin, 1);
});

test("vite dev, with no config: both forms, the README examples and React's StrictMode", async () => {
  // Vite 8 pre-bundles the package into node_modules/.vite/deps/ and rewrites its
  // `new URL("../wasm/...", import.meta.url)` and worker URL to the package's files; older Vite
  // did not (vitejs/vite#8427, the npm README's note).
  // `build()` above set NODE_ENV=production in this process, which would make the dev server
  // serve React's production build (no StrictMode double mount); `vite dev` in a shell has none.
  process.env.NODE_ENV = "development";
  const dev = await createServer({
    root: here,
    configFile: false,
    logLevel: "warn",
    server: { host: "127.0.0.1", port: 0 },
  });
  await dev.listen();
  const devOrigin = dev.resolvedUrls.local[0].replace(/\/$/, "");
  try {
    const golden = JSON.parse(await readFile(join(modelsDir, "tiny-sentiment", "golden.json"), "utf8"));
    const labels = await configLabels("tiny-sentiment");
    const { page, problems } = await openApp("tiny-sentiment", devOrigin);
    const result = await page.evaluate((t) => window.classifyBoth(t), golden.texts.map((t) => t.text));
    checkGolden(result, golden, labels, "tiny-sentiment");
    assert.deepEqual(result.wasmBuilds, { main: "relaxed-simd", worker: "relaxed-simd" });
    assert.deepEqual(problems, [], "no page or console error");
    await page.close();
    await checkExamples(devOrigin);
    await checkReact(devOrigin, 2);
  } finally {
    await dev.close();
  }
});
