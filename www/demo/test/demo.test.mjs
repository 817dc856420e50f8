// The demo page in headless Chromium, as a visitor sees it: built into a folder of static files,
// served from 127.0.0.1 with a fixture model in model/. Typed texts must show the golden labels
// and scores of `transformers`; every request the page makes is recorded, and any that is not a
// same-origin static file fails the test. Screenshots go to target/screenshots/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { WEBGPU_ARGS, launchChromium, serveFiles } from "../../../tests/chromium.mjs";
import { serveDemo } from "../serve.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));
const model = join(root, "tests/fixtures/models/tiny-sentiment");
const screenshots = join(root, "target/screenshots");

let site, server, origin, browser, realLayout, isolatedSite, isolatedServer, isolatedOrigin;
const requests = [];

before(async () => {
  site = await mkdtemp(join(tmpdir(), "xlmr-demo-"));
  await promisify(execFile)(join(here, "build.sh"), [site]);
  ({ server, origin } = await serveFiles((url) => {
    const path = normalize(decodeURIComponent(new URL(url, "http://x").pathname));
    if (path.includes("..")) return undefined;
    if (path === "/") return join(site, "index.html");
    if (path.startsWith("/model/")) return join(model, path.slice("/model/".length));
    return join(site, path);
  }));
  // The site as a user deploys it (the model copied in by build.sh --model), served by serve.mjs:
  // cross-origin isolated. Its model folder has the pinned real model's layout, pytorch_model.bin
  // and sentencepiece.bpe.model only, which build.sh must take as the CLI does.
  realLayout = await mkdtemp(join(tmpdir(), "xlmr-demo-real-layout-"));
  for (const name of ["config.json", "sentencepiece.bpe.model", "pytorch_model.bin"]) {
    await copyFile(join(model, name), join(realLayout, name));
  }
  isolatedSite = await mkdtemp(join(tmpdir(), "xlmr-demo-isolated-"));
  await promisify(execFile)(join(here, "build.sh"), [isolatedSite, "--model", realLayout]);
  assert.deepEqual((await readdir(join(isolatedSite, "model"))).sort(), ["config.json", "pytorch_model.bin", "sentencepiece.bpe.model"]);
  isolatedServer = await serveDemo(isolatedSite, { port: 0 });
  isolatedOrigin = `http://127.0.0.1:${isolatedServer.address().port}`;
  browser = await launchChromium(chromium);
  browser.context.on("request", (request) => requests.push(request.url()));
  await mkdir(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  server?.close();
  isolatedServer?.close();
  if (site) await rm(site, { recursive: true, force: true });
  if (isolatedSite) await rm(isolatedSite, { recursive: true, force: true });
  if (realLayout) await rm(realLayout, { recursive: true, force: true });
});

async function openDemo(query = "", viewport = { width: 1000, height: 900 }, at = origin) {
  const page = await browser.context.newPage();
  await page.setViewportSize(viewport);
  const problems = [];
  page.on("pageerror", (e) => problems.push(e.message));
  await page.goto(`${at}/${query}`);
  return { page, problems };
}

/** Types `text` as a user would and waits for the page to show its result. */
async function typeAndRead(page, text) {
  const before = Number((await page.locator("body").getAttribute("data-classified")) ?? 0);
  await page.fill("#text", text);
  await page.waitForFunction((n) => Number(document.body.dataset.classified ?? 0) > n, before);
  return page.evaluate(() => ({
    label: document.getElementById("label").textContent,
    scores: [...document.querySelectorAll("#bars li")].map((li) => ({ label: li.dataset.label, score: Number(li.dataset.score) })),
    timing: document.getElementById("timing").textContent,
  }));
}

test("typed texts show the golden labels and scores, and nothing leaves the origin", async () => {
  const golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  requests.length = 0;
  const { page, problems } = await openDemo();
  await page.waitForSelector("body[data-model=ready]");
  assert.match(await page.textContent("#model-details"), new RegExp(`Labels: ${golden.labels.join(", ")}`));
  assert.equal(await page.isEnabled("#text"), true);

  for (const row of golden.texts.filter((t) => t.text.trim()).slice(0, 6)) {
    const shown = await typeAndRead(page, row.text);
    const best = row.scores.indexOf(Math.max(...row.scores));
    assert.equal(shown.label, golden.labels[best], JSON.stringify(row.text));
    assert.deepEqual(shown.scores.map((s) => s.label), golden.labels);
    shown.scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, `${JSON.stringify(row.text)} ${s.label}`));
    assert.match(shown.timing, /^\d+ ms for this text, \d+ tokens/);
  }
  await page.screenshot({ path: join(screenshots, "demo-desktop.png"), fullPage: true });
  await page.setViewportSize({ width: 375, height: 800 });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `fits a phone-width screen (overflow ${overflow}px)`);
  await page.screenshot({ path: join(screenshots, "demo-phone.png"), fullPage: true });

  const foreign = requests.filter((url) => !url.startsWith(`${origin}/`) && !url.startsWith("blob:") && !url.startsWith("data:"));
  assert.deepEqual(foreign, [], "every request goes to the page's own origin");
  assert.deepEqual(problems, []);
  await page.close();
});

test("served by serve.mjs (cross-origin isolated) from the real model's folder layout, the threaded build gives the same results", async () => {
  const golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  const { page, problems } = await openDemo("", undefined, isolatedOrigin);
  await page.waitForSelector("body[data-model=ready]");
  assert.match(await page.textContent("#model-details"), /WebAssembly build: relaxed-simd-threads, \d+ threads\./);
  for (const row of golden.texts.filter((t) => t.text.trim()).slice(0, 3)) {
    const shown = await typeAndRead(page, row.text);
    shown.scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, `${JSON.stringify(row.text)} ${s.label}`));
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test("a missing model is a readable message, not a broken page", async () => {
  const { page, problems } = await openDemo("?model=/no-such-model/");
  await page.waitForSelector("#error:not([hidden])");
  const message = await page.textContent("#error");
  assert.match(message, /Could not load the model from \/no-such-model\/ on any device: .*HTTP 404/);
  assert.match(message, /model\/ folder next to this page/);
  assert.equal(await page.isDisabled("#text"), true);
  await page.screenshot({ path: join(screenshots, "demo-missing-model.png") });
  assert.deepEqual(problems, []);
  await page.close();
});

test("batch: pasted lines and a CSV file fill a sortable table that exports as CSV", async () => {
  const golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  const labelOf = new Map(golden.texts.map((t) => [t.text, golden.labels[t.scores.indexOf(Math.max(...t.scores))]]));
  const texts = golden.texts.map((t) => t.text).filter((t) => t.trim() && !/[\r\n]/.test(t) && t === t.trim());
  const { page, problems } = await openDemo();
  await page.waitForSelector("body[data-model=ready]");
  const runBatch = async (action) => {
    const before = Number((await page.locator("body").getAttribute("data-batch")) ?? 0);
    await action();
    await page.waitForFunction((n) => Number(document.body.dataset.batch ?? 0) > n, before);
  };
  const table = () =>
    page.$$eval("#batch-body tr", (rows) =>
      rows.map((tr) => Object.fromEntries([...tr.querySelectorAll("td")].map((td) => [td.dataset.column, td.textContent]))),
    );

  await page.fill("#batch-text", texts.join("\n"));
  await runBatch(() => page.click("#batch-run"));
  let rows = await table();
  assert.equal(rows.length, texts.length);
  for (const row of rows) assert.equal(row.label, labelOf.get(row.text), row.text);
  assert.match(await page.textContent("#batch-status"), new RegExp(`^${texts.length} texts in [\\d.]+ s`));

  // The summary: label counts over all texts and per detected language, each bar with its text.
  const summary = await page.$$eval("#batch-summary .summary-group", (groups) =>
    groups.map((g) => ({
      group: g.dataset.group,
      title: g.querySelector("h4").textContent,
      bars: [...g.querySelectorAll("li")].map((li) => ({
        label: li.dataset.label,
        count: Number(li.dataset.count),
        said: li.querySelector(".bar").getAttribute("aria-label"),
        shown: li.lastElementChild.textContent,
      })),
    })),
  );
  assert.equal(await page.isVisible("#batch-summary"), true);
  assert.equal(summary[0].group, "all");
  assert.equal(summary[0].title, `All ${texts.length} texts`);
  const counted = Object.fromEntries(golden.labels.map((l) => [l, rows.filter((r) => r.label === l).length]));
  assert.deepEqual(Object.fromEntries(summary[0].bars.map((b) => [b.label, b.count])), counted);
  for (const { bars } of summary) {
    const total = bars.reduce((n, b) => n + b.count, 0);
    for (const b of bars) {
      const percent = ((100 * b.count) / total).toFixed(0);
      assert.equal(b.said, `${b.label}: ${b.count} of ${total} texts, ${percent} percent`);
      assert.equal(b.shown, `${b.count} (${percent}%)`);
    }
  }
  const languages = summary.slice(1);
  assert.ok(languages.length >= 1, "one group per detected language");
  const languageOf = (row) => row.language.replace(/ \(not trained on\)$/, "") || "unknown";
  const byLanguage = rows.reduce((m, r) => m.set(languageOf(r), (m.get(languageOf(r)) ?? 0) + 1), new Map());
  assert.deepEqual(new Map(languages.map((g) => [g.group, g.bars.reduce((n, b) => n + b.count, 0)])), byLanguage);

  // Sorting by label: ascending, then descending on a second press.
  await page.click('#batch-head button[data-sort="label"]');
  assert.equal(await page.getAttribute('#batch-head th:has(button[data-sort="label"])', "aria-sort"), "ascending");
  const ascending = (await table()).map((r) => r.label);
  assert.deepEqual(ascending, [...ascending].sort((a, b) => a.localeCompare(b)));
  await page.click('#batch-head button[data-sort="label"]');
  assert.equal(await page.getAttribute('#batch-head th:has(button[data-sort="label"])', "aria-sort"), "descending");
  await page.screenshot({ path: join(screenshots, "demo-batch.png"), fullPage: true });

  const [download] = await Promise.all([page.waitForEvent("download"), page.click("#batch-export")]);
  const csv = await readFile(await download.path(), "utf8");
  const lines = csv.trimEnd().split("\r\n");
  assert.equal(lines[0], ["text", "label", ...golden.labels, "language", "language_supported"].join(","));
  assert.equal(lines.length, texts.length + 1);

  // A CSV file: its `text` column, quoted commas and quotes included.
  const file = 'id,text\r\n1,"Great, really great!"\r\n2,"He said ""awful"" twice"\r\n3,\r\n';
  await runBatch(() => page.setInputFiles("#batch-file", { name: "texts.csv", mimeType: "text/csv", buffer: Buffer.from(file) }));
  rows = await table();
  assert.deepEqual(rows.map((r) => r.text).sort(), ['Great, really great!', 'He said "awful" twice'].sort());

  // Nothing to classify is said, not silently ignored.
  await page.fill("#batch-text", "  \n \n");
  await page.click("#batch-run");
  assert.match(await page.textContent("#batch-status"), /nothing to classify/);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a text in a language the model was not trained on gets a visible note", async () => {
  // The fixture folder records no languages: the page takes them from ?languages=, as for any
  // model that does not record them.
  const { page, problems } = await openDemo("?languages=ar,de,en,es,fr,hi,it,pt");
  await page.waitForSelector("body[data-model=ready]");
  assert.match(await page.textContent("#model-details"), /Trained on .*English/);
  await typeAndRead(page, "Это был ужасный день, я очень устал и хочу домой");
  assert.equal(await page.isVisible("#language-note"), true);
  assert.equal(await page.textContent("#language-note"), "This model was not trained on Russian; the result may be unreliable.");
  assert.equal(await page.getAttribute("#result", "aria-live"), "polite", "the note is announced with the result");
  await page.screenshot({ path: join(screenshots, "demo-language-note.png") });
  await typeAndRead(page, "This was a wonderful day and I am very happy about it");
  assert.equal(await page.isVisible("#language-note"), false);
  assert.deepEqual(problems, []);
  await page.close();
});

test("a later visit opens and classifies offline", { timeout: 120_000 }, async () => {
  const golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  const row = golden.texts.find((t) => t.text.trim() && !/[\r\n]/.test(t.text));
  const { page, problems } = await openDemo();
  await page.waitForSelector("body[data-model=ready]");
  // The service worker has kept the page's files once it is active.
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => undefined));
  await browser.context.setOffline(true);
  try {
    await page.reload({ timeout: 30_000 });
    await page.waitForSelector("body[data-model=ready]", { timeout: 30_000 });
    const shown = await typeAndRead(page, row.text);
    assert.equal(shown.label, golden.labels[row.scores.indexOf(Math.max(...row.scores))]);
  } finally {
    await browser.context.setOffline(false);
  }
  assert.deepEqual(problems, []);
  await page.close();
});

test("the device line says where the model runs, and the chooser forces WebGPU or WebAssembly", async () => {
  const golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  // This browser has no WebGPU: auto says so.
  const { page: plain, problems: plainProblems } = await openDemo();
  await plain.waitForSelector("body[data-model=ready]");
  assert.match(await plain.textContent("#device-status"), /^Runs in WebAssembly on the CPU: .*no WebGPU adapter/);
  assert.equal(await plain.inputValue("#device"), "auto");
  await plain.close();
  assert.deepEqual(plainProblems, []);
  // Forcing WebGPU there fails to load, says so, and leaves the chooser to pick WebAssembly.
  const { page: forced, problems: forcedProblems } = await openDemo("?device=webgpu");
  await forced.waitForSelector("#error:not([hidden])");
  assert.match(await forced.textContent("#error"), /on webgpu: .*no WebGPU adapter.*Pick WebAssembly in Device/);
  assert.equal(await forced.isDisabled("#device"), false);
  await Promise.all([forced.waitForURL(/\?device=wasm$/), forced.selectOption("#device", "wasm")]);
  await forced.waitForSelector("body[data-model=ready]");
  assert.equal(await forced.textContent("#device-status"), "Runs in WebAssembly on the CPU.");
  await forced.close();
  assert.deepEqual(forcedProblems, []);

  // One with Chromium's software WebGPU adapter, as a visitor picks from the chooser.
  const gpuBrowser = await launchChromium(chromium, WEBGPU_ARGS);
  try {
    const page = await gpuBrowser.context.newPage();
    const problems = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${origin}/`);
    await page.waitForSelector("body[data-model=ready]");
    // auto skips a software adapter, and names the way to force it.
    assert.match(await page.textContent("#device-status"), /^Runs in WebAssembly on the CPU: .*software one.*forces it/);
    await Promise.all([page.waitForURL(/\?device=webgpu$/), page.selectOption("#device", "webgpu")]);
    await page.waitForSelector("body[data-model=ready]");
    assert.match(await page.textContent("#device-status"), /^Runs on the GPU through WebGPU/);
    assert.equal(await page.inputValue("#device"), "webgpu");
    const row = golden.texts.find((t) => t.text.trim());
    const shown = await typeAndRead(page, row.text);
    shown.scores.forEach((s, j) => assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, `${s.label} on WebGPU`));
    await page.screenshot({ path: join(screenshots, "demo-webgpu.png"), fullPage: true });
    await Promise.all([page.waitForURL(/\?device=wasm$/), page.selectOption("#device", "wasm")]);
    await page.waitForSelector("body[data-model=ready]");
    assert.equal(await page.textContent("#device-status"), "Runs in WebAssembly on the CPU.");
    assert.deepEqual(problems, []);
  } finally {
    await gpuBrowser.close();
  }
});
