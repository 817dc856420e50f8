// The worker form in headless Chromium (Debian's, driven by playwright-core), pages served from
// 127.0.0.1: load with progress events, classify the golden texts, match transformers; a second
// page load takes the model from Cache Storage and requests no model file.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ISOLATION_HEADERS, launchChromium, serveFiles } from "../../../tests/chromium.mjs";
import { loadFromBytes } from "../dist/index.js";

const pkgDir = fileURLToPath(new URL("../", import.meta.url));
const modelsDir = fileURLToPath(new URL("../../../tests/fixtures/models/", import.meta.url));
// Written by `xlmr-sentiment pack` before the tests (tests/run.sh).
const bundlesDir = fileURLToPath(new URL("../../../target/bundles/", import.meta.url));

const requests = [];
let server, browser, context, origin;
// The same files from a second server that sends COOP/COEP: a cross-origin isolated page.
let isolatedServer, isolatedOrigin;

function resolvePath(url) {
  const path = decodeURIComponent(new URL(url, "http://x").pathname);
  if (path === "/") return join(pkgDir, "test/browser.html");
  if (path.startsWith("/pkg/")) return join(pkgDir, normalize(path.slice(5)));
  if (path.startsWith("/models/")) return join(modelsDir, normalize(path.slice(8)));
  if (path === "/bundles/not-a-bundle.gguf") return join(modelsDir, "tiny-sentiment/model.safetensors");
  if (path.startsWith("/bundles/")) return join(bundlesDir, normalize(path.slice(9)));
  return undefined;
}

// Bytes to send of the next bundle responses before dropping the connection, one per response.
const cuts = [];

before(async () => {
  const cut = (url) => (url.startsWith("/bundles/") ? cuts.shift() : undefined);
  ({ server, origin } = await serveFiles(resolvePath, { onRequest: (url) => requests.push(url), cut }));
  ({ server: isolatedServer, origin: isolatedOrigin } = await serveFiles(resolvePath, { headers: ISOLATION_HEADERS }));
  // One profile for the run: both page loads share it, so the second sees what the first cached.
  browser = await launchChromium(chromium);
  context = browser.context;
});

after(async () => {
  await browser?.close();
  server?.close();
  isolatedServer?.close();
});

const golden = async (model) => JSON.parse(await readFile(join(modelsDir, model, "golden.json"), "utf8"));

async function openPage(at = origin) {
  const page = await context.newPage();
  const offsite = [];
  page.on("request", (r) => {
    if (!r.url().startsWith(at)) offsite.push(r.url());
  });
  await page.goto(`${at}/`);
  await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
  return { page, offsite };
}

test("pipeline() in a page: the model runs in a worker, answers as transformers.js does", async () => {
  const record = JSON.parse(await readFile(fileURLToPath(new URL("../../../tests/fixtures/transformers-js/tiny-sentiment.json", import.meta.url)), "utf8"));
  const { page, offsite } = await openPage();
  const run = await page.evaluate(([m, c]) => window.runPipeline(m, c), [`${origin}/models/tiny-sentiment/`, record.calls]);
  await page.close();
  assert.deepEqual(offsite, []);
  assert.equal(run.inWorker, true, "a page's pipeline keeps the model off the page's thread");
  assert.equal(run.wasmBuild, "relaxed-simd");
  assert.equal(run.statuses.at(-1), "ready");
  for (const status of ["initiate", "download", "progress", "progress_total", "done"]) assert.ok(run.statuses.includes(status), status);
  const same = (ours, theirs, what) => {
    if (Array.isArray(theirs)) {
      assert.equal(ours.length, theirs.length, what);
      return theirs.forEach((t, i) => same(ours[i], t, `${what}[${i}]`));
    }
    assert.equal(ours.label, theirs.label, what);
    assert.ok(Math.abs(ours.score - theirs.score) <= 1e-4, what);
  };
  record.calls.forEach((call, i) => same(run.answers[i], call.output, `call ${i}`));
});

test("worker form: progress, golden results, then a cached second load", async () => {
  for (const model of ["tiny-sentiment", "tiny-multilabel"]) {
    const g = await golden(model);
    const texts = g.texts.map((t) => t.text);
    const base = `${origin}/models/${model}/`;

    requests.length = 0;
    const first = await openPage();
    const run = await first.page.evaluate(([b, t]) => window.runClassifier(b, t), [base, texts]);
    assert.deepEqual(first.offsite, [], "no request leaves 127.0.0.1");
    assert.deepEqual(run.labels, g.labels);
    assert.equal(run.wasmBuild, "relaxed-simd", "Chromium has relaxed SIMD: the worker runs that build");
    const statuses = new Set(run.events.map((e) => e.status));
    for (const s of ["initiate", "download", "progress", "done", "ready"]) assert.ok(statuses.has(s), `${s} event`);
    const ready = run.events.at(-1);
    assert.equal(ready.status, "ready");
    assert.ok(ready.overall.total > 0 && ready.overall.loaded === ready.overall.total);
    g.texts.forEach((row, i) => {
      const p = run.predictions[i];
      assert.equal(p.truncated, row.truncated);
      p.scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, `${model} ${JSON.stringify(row.text)}`));
    });
    assert.equal(run.shaped.length, g.labels.length);
    const modelRequests = requests.filter((u) => u.startsWith(`/models/${model}/`));
    assert.equal(modelRequests.length, 3, `first load fetches the three files: ${modelRequests}`);
    await first.page.close();

    requests.length = 0;
    const second = await openPage();
    const again = await second.page.evaluate(([b, t]) => window.runClassifier(b, t), [base, texts.slice(0, 5)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/models/")), [], "second load makes no model request");
    assert.ok(again.events.filter((e) => e.status === "done").every((e) => e.cached === true));
    again.predictions.forEach((p, i) => {
      assert.equal(p.label, run.predictions[i].label);
      p.scores.forEach((s, j) => assert.ok(Math.abs(s.score - run.predictions[i].scores[j].score) <= 1e-5));
    });
    await second.page.close();
  }
});

test("both wasm builds give the int8 model bit for bit the results of the package in Node", async () => {
  // The q8_0 bundle's linear layers run on our int8 kernels: relaxed SIMD and simd128 in
  // Chromium (one worker each), simd128 in Node (this process). All sum the same integers
  // exactly and share every other step, so the scores must be identical, not merely close.
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const bundle = await readFile(join(bundlesDir, "tiny-sentiment-q8_0.gguf"));
  const reference = await (await loadFromBytes({ bundle })).classifyDetailed(texts);
  const { page } = await openPage();
  for (const build of ["relaxed-simd", "simd128"]) {
    const url = `${origin}/bundles/tiny-sentiment-q8_0.gguf`;
    const run = await page.evaluate(([b, t, w]) => window.runClassifier(b, t, { wasm: w }), [url, texts, build]);
    assert.equal(run.wasmBuild, build);
    run.predictions.forEach((p, i) => {
      assert.deepEqual(p.scores, reference[i].scores, `${build}: ${JSON.stringify(texts[i])}`);
    });
  }
  await page.close();
});

test("a cross-origin isolated page's worker runs the threaded build: int8 bit for bit, f32 as transformers", async () => {
  // Chromium gives the test machine's cores as hardwareConcurrency; the pool is asked for 2
  // threads explicitly so that the split is exercised on any machine.
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const bundle = await readFile(join(bundlesDir, "tiny-sentiment-q8_0.gguf"));
  const reference = await (await loadFromBytes({ bundle })).classifyDetailed(texts);
  const { page, offsite } = await openPage(isolatedOrigin);
  assert.equal(await page.evaluate(() => self.crossOriginIsolated), true);

  const int8 = await page.evaluate(
    ([b, t]) => window.runClassifier(b, t, { threads: 2 }),
    [`${isolatedOrigin}/bundles/tiny-sentiment-q8_0.gguf`, texts],
  );
  assert.equal(int8.wasmBuild, "relaxed-simd-threads");
  assert.equal(int8.threads, 2);
  int8.predictions.forEach((p, i) => assert.deepEqual(p.scores, reference[i].scores, JSON.stringify(texts[i])));

  const f32 = await page.evaluate(
    ([b, t]) => window.runClassifier(b, t, { threads: 2 }),
    [`${isolatedOrigin}/bundles/tiny-sentiment-f32.gguf`, texts],
  );
  assert.equal(f32.wasmBuild, "relaxed-simd-threads");
  g.texts.forEach((row, i) => {
    f32.predictions[i].scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, JSON.stringify(row.text)));
  });

  // threads: 1 keeps the single-thread build even where threads are allowed.
  const single = await page.evaluate(
    ([b, t]) => window.runClassifier(b, t, { threads: 1 }),
    [`${isolatedOrigin}/bundles/tiny-sentiment-q8_0.gguf`, texts.slice(0, 2)],
  );
  assert.equal(single.wasmBuild, "relaxed-simd");
  assert.equal(single.threads, 1);
  assert.deepEqual(offsite, [], "no request leaves 127.0.0.1");
  await page.close();
});

test("a page that is not cross-origin isolated never gets the threaded build", async () => {
  const { page } = await openPage();
  const url = `${origin}/bundles/tiny-sentiment-q8_0.gguf`;
  const run = await page.evaluate(([b, t]) => window.runClassifier(b, t, { threads: 2 }), [url, ["fine"]]);
  assert.equal(run.wasmBuild, "relaxed-simd");
  assert.equal(run.threads, 1);
  const forced = await page.evaluate((b) => window.loadError(b, { wasm: "relaxed-simd-threads" }), url);
  assert.match(forced, /cross-origin isolated worker/);
  await page.close();
});

test("a download in ranges gives the file byte for byte, with progress per range", async () => {
  const url = `${origin}/bundles/tiny-sentiment-f32.gguf`;
  const { page } = await openPage();
  const size = (await page.evaluate(([u, r]) => window.downloadRanges(u, r), [url, 1 << 30])).size;
  // Uneven last range; a file ending exactly on a range boundary (the next range is a 416).
  // With the total hidden (content-range not exposed), the end is found by a short range or a
  // 416 past the end.
  for (const [range, hideTotal] of [[65536, false], [size / 4, false], [65536, true], [size / 4, true]]) {
    const got = await page.evaluate(([u, r, h]) => window.downloadRanges(u, r, h), [url, range, hideTotal]);
    assert.ok(got.same, `range ${range}`);
    const loaded = got.events.map(([l]) => l);
    assert.deepEqual(loaded, Array.from({ length: Math.ceil(size / range) }, (_, i) => Math.min(size, (i + 1) * range)));
    assert.ok(got.events.every(([, total]) => total === (hideTotal ? 0 : size)), "total from content-range");
  }
  await page.close();
  // A server that ignores Range: one 200 answer, the whole file.
  const plain = await serveFiles(resolvePath, { ranges: false });
  try {
    const { page: plainPage } = await openPage(plain.origin);
    const got = await plainPage.evaluate(([u, r]) => window.downloadRanges(u, r), [`${plain.origin}/bundles/tiny-sentiment-f32.gguf`, 65536]);
    assert.ok(got.same);
    assert.deepEqual(got.events, [[size, size]]);
    await plainPage.close();
  } finally {
    plain.server.close();
  }
});

test("worker form without Cache Storage: a bundle downloads in ranges, matches, and is not kept", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const url = `${origin}/bundles/tiny-sentiment-q8_0.gguf`;
  const bundle = await readFile(join(bundlesDir, "tiny-sentiment-q8_0.gguf"));
  const reference = await (await loadFromBytes({ bundle })).classifyDetailed(texts);
  const size = bundle.byteLength;
  for (const round of ["first", "second"]) {
    requests.length = 0;
    const { page } = await openPage();
    // Earlier tests cached this bundle in the shared profile: start without it.
    await page.evaluate(async (u) => (await caches.open("xlmr-sentiment")).delete(u), url);
    const run = await page.evaluate(([b, t]) => window.runClassifier(b, t, { cache: false }), [url, texts]);
    // One range request (the fixture is smaller than a range), the whole file, every time.
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), ["/bundles/tiny-sentiment-q8_0.gguf"], `${round} load`);
    const progress = run.events.filter((e) => e.status === "progress");
    assert.ok(progress.length > 0 && progress.at(-1).loaded === size && progress.at(-1).total === size, `${round}: progress to ${size}`);
    assert.ok(run.events.some((e) => e.status === "done" && e.cached === false));
    run.predictions.forEach((p, i) => assert.deepEqual(p.scores, reference[i].scores, `${round}: ${JSON.stringify(texts[i])}`));
    assert.equal(await page.evaluate(async (u) => (await caches.open("xlmr-sentiment")).match(u).then((r) => r !== undefined), url), false);
    await page.close();
  }
  const { page } = await openPage();
  assert.match(await page.evaluate((b) => window.loadError(b, { cache: false }), `${origin}/bundles/missing.gguf`), /HTTP 404/);
  assert.match(await page.evaluate((b) => window.loadError(b, { cache: false }), `${origin}/bundles/not-a-bundle.gguf`), /is not a model bundle/);
  await page.close();
});

test("worker form: a missing model rejects with a readable error", async () => {
  const { page } = await openPage();
  const message = await page.evaluate((b) => window.loadError(b), `${origin}/models/no-such-model/`);
  assert.match(message, /HTTP 404/);
  await page.close();
});

test("worker form: a bundle streams in with progress, matches, and comes from the cache next time", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const url = `${origin}/bundles/tiny-sentiment-f32.gguf`;

  requests.length = 0;
  const first = await openPage();
  const run = await first.page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts]);
  const statuses = new Set(run.events.map((e) => e.status));
  for (const s of ["initiate", "download", "progress", "done", "ready"]) assert.ok(statuses.has(s), `${s} event`);
  assert.ok(run.events.filter((e) => e.status === "progress").every((e) => e.file === "tiny-sentiment-f32.gguf"));
  assert.ok(run.events.at(-1).loaded > 0);
  g.texts.forEach((row, i) => {
    run.predictions[i].scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, JSON.stringify(row.text)));
  });
  assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), ["/bundles/tiny-sentiment-f32.gguf"]);
  await first.page.close();

  requests.length = 0;
  const second = await openPage();
  const again = await second.page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 3)]);
  assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), [], "second load makes no bundle request");
  assert.ok(again.events.some((e) => e.status === "done" && e.cached === true));
  assert.equal(again.predictions[0].label, run.predictions[0].label);
  await second.page.close();

  // A damaged cached copy (cut in the header, cut in the tensors, an HTML page) is evicted and
  // the bundle downloaded again; the next load takes the good copy from the cache.
  for (const [keep, text] of [[100], [200_000], [undefined, "<!doctype html><p>login</p>"]]) {
    const { page } = await openPage();
    await page.evaluate(([u, k, t]) => window.damageCachedCopy(u, k, t), [url, keep, text]);
    requests.length = 0;
    const repaired = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 3)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), ["/bundles/tiny-sentiment-f32.gguf"], `damaged ${keep ?? "html"}`);
    assert.deepEqual(repaired.predictions.map((p) => p.label), run.predictions.slice(0, 3).map((p) => p.label));
    requests.length = 0;
    const cachedAgain = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 1)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), [], `repaired copy ${keep ?? "html"} is cached`);
    assert.equal(cachedAgain.predictions[0].label, run.predictions[0].label);
    await page.close();
  }

  // Cut at seeded random bytes of the file (an LCG, seed 24): as a cached copy, and as a
  // download whose connection drops (once, or three times in a row): detected, fetched again,
  // and the good copy cached.
  const size = (await readFile(join(bundlesDir, "tiny-sentiment-f32.gguf"))).byteLength;
  let seed = 24;
  const randomByte = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return 1 + (seed % (size - 1));
  };
  const points = Array.from({ length: 6 }, randomByte);
  for (const keep of points) {
    const { page } = await openPage();
    await page.evaluate(([u, k]) => window.damageCachedCopy(u, k), [url, keep]);
    requests.length = 0;
    const repaired = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 3)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), ["/bundles/tiny-sentiment-f32.gguf"], `cached copy cut at ${keep}`);
    assert.deepEqual(repaired.predictions.map((p) => p.label), run.predictions.slice(0, 3).map((p) => p.label));
    await page.close();
  }
  // The right length with one byte changed in the tensors' half of the file: the bundle's
  // digest fails, and the copy is evicted and fetched again.
  const flips = Array.from({ length: 3 }, () => Math.floor(size / 2) + (randomByte() % Math.floor(size / 2)));
  for (const at of flips) {
    const { page } = await openPage();
    await page.evaluate(([u, f]) => window.damageCachedCopy(u, undefined, undefined, f), [url, [at]]);
    requests.length = 0;
    const repaired = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 3)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), ["/bundles/tiny-sentiment-f32.gguf"], `cached copy changed at ${at}`);
    assert.deepEqual(repaired.predictions.map((p) => p.label), run.predictions.slice(0, 3).map((p) => p.label));
    await page.close();
  }
  for (const [i, keep] of points.entries()) {
    const { page } = await openPage();
    await page.evaluate(() => caches.delete("xlmr-sentiment"));
    const drops = i === 0 ? 3 : 1;
    cuts.push(...Array(drops).fill(keep));
    requests.length = 0;
    const fetched = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts]);
    assert.equal(cuts.length, 0);
    assert.equal(requests.filter((u) => u.startsWith("/bundles/")).length, drops + 1, `download cut at ${keep}`);
    g.texts.forEach((row, j) => {
      fetched.predictions[j].scores.forEach((s, k) => assert.ok(Math.abs(s.score - row.scores[k]) <= 1e-4, `cut at ${keep}`));
    });
    requests.length = 0;
    const cachedAgain = await page.evaluate(([b, t]) => window.runClassifier(b, t), [url, texts.slice(0, 1)]);
    assert.deepEqual(requests.filter((u) => u.startsWith("/bundles/")), [], `the copy after a cut at ${keep} is cached whole`);
    assert.equal(cachedAgain.predictions[0].label, run.predictions[0].label);
    await page.close();
  }
  console.log(`bundle of ${size} bytes cut at ${points.join(", ")}, changed at ${flips.join(", ")}: cached copies and downloads fetched again`);
  // Cut on every try: the load fails and says so, and nothing is cached.
  {
    const { page } = await openPage();
    await page.evaluate(() => caches.delete("xlmr-sentiment"));
    cuts.push(...Array(4).fill(points[1]));
    assert.match(await page.evaluate((b) => window.loadError(b), url), /the download was cut at byte 0 4 times in a row/);
    assert.equal(cuts.length, 0);
    assert.equal(await page.evaluate((u) => caches.open("xlmr-sentiment").then((c) => c.match(u)).then((r) => r === undefined), url), true);
    await page.close();
  }

  const { page } = await openPage();
  assert.match(await page.evaluate((b) => window.loadError(b), `${origin}/bundles/missing.gguf`), /HTTP 404/);
  assert.match(await page.evaluate((b) => window.loadError(b), `${origin}/bundles/not-a-bundle.gguf`), /is not a model bundle/);
  await page.close();
});
