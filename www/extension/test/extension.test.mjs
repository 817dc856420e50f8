// The extension, loaded unpacked (--load-extension) in headless Chromium with a fixture model built
// into it: the popup classifies typed text; the context-menu handler classifies a selection on a
// local page and its result reaches the popup; the bubble it injects next to a selection shows the
// label. Every request is recorded: only the extension's own files and the local test page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, serveFiles } from "../../../tests/chromium.mjs";

const here = fileURLToPath(new URL("..", import.meta.url));
const root = fileURLToPath(new URL("../../..", import.meta.url));
const model = join(root, "tests/fixtures/models/tiny-sentiment");
const screenshots = join(root, "target/screenshots");
const TRAINED = "ar,de,en,es,fr,hi,it,pt";

let work, extensionDir, context, worker, extensionId, server, origin;
// Requests made while the extension installs and starts, before any test runs.
const startupRequests = [];
const recordStartup = (r) => startupRequests.push(r.url());
let golden;

before(async () => {
  golden = JSON.parse(await readFile(join(model, "golden.json"), "utf8"));
  work = await mkdtemp(join(tmpdir(), "xlmr-extension-"));
  extensionDir = join(work, "extension");
  await promisify(execFile)(join(here, "build.sh"), ["--model", model, "--languages", TRAINED, "--out", extensionDir]);
  const zip = await readFile(`${extensionDir}.zip`);
  assert.equal(zip.subarray(0, 2).toString(), "PK", "the Web Store zip is written");
  ({ server, origin } = await serveFiles((url) => (new URL(url, "http://x").pathname === "/" ? join(here, "test/page.html") : undefined)));
  context = await chromium.launchPersistentContext(join(work, "profile"), {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, `--disable-extensions-except=${extensionDir}`, `--load-extension=${extensionDir}`],
    ignoreDefaultArgs: ["--disable-extensions"],
  });
  context.on("request", recordStartup);
  worker = context.serviceWorkers()[0] ?? (await context.waitForEvent("serviceworker"));
  extensionId = new URL(worker.url()).host;
  context.off("request", recordStartup);
});

after(async () => {
  await context?.close();
  server?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const expectedLabel = (row) => golden.labels[row.scores.indexOf(Math.max(...row.scores))];

async function openPopup() {
  const page = await context.newPage();
  await page.goto(`chrome-extension://${extensionId}/popup.html`);
  await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
  return page;
}

async function classifyInPopup(page, text) {
  const before = Number((await page.locator("body").getAttribute("data-classified")) ?? 0);
  await page.fill("#text", text);
  await page.click("#classify");
  await page.waitForFunction((n) => Number(document.body.dataset.classified ?? 0) > n, before, { timeout: 60_000 });
}

test("the icons the manifest names are in the package, PNGs of their declared sizes", async () => {
  const manifest = JSON.parse(await readFile(join(extensionDir, "manifest.json"), "utf8"));
  const declared = [...Object.entries(manifest.icons), ...Object.entries(manifest.action.default_icon)];
  assert.ok(manifest.icons["128"], "the Chrome Web Store requires a 128x128 icon");
  for (const [size, path] of declared) {
    const png = await readFile(join(extensionDir, path));
    assert.equal(png.subarray(1, 4).toString(), "PNG", path);
    assert.deepEqual([png.readUInt32BE(16), png.readUInt32BE(20)], [Number(size), Number(size)], path);
  }
});

test("the popup classifies typed text with the golden labels and scores", async () => {
  const page = await openPopup();
  for (const row of golden.texts.filter((t) => t.text.trim()).slice(0, 4)) {
    await classifyInPopup(page, row.text);
    assert.equal(await page.textContent("#label"), expectedLabel(row), JSON.stringify(row.text));
    const scores = await page.$$eval("#bars li", (items) => items.map((li) => Number(li.dataset.score)));
    scores.forEach((s, j) => assert.ok(Math.abs(s - row.scores[j]) <= 1e-4, `${JSON.stringify(row.text)} ${golden.labels[j]}`));
  }
  await classifyInPopup(page, "Это был ужасный день, я очень устал и хочу домой");
  assert.equal(await page.textContent("#note"), "This model was not trained on Russian; the result may be unreliable.");
  await page.screenshot({ path: join(screenshots, "extension-popup.png") });
  // The manifest's cross_origin_{embedder,opener}_policy keys isolate the extension's pages, so
  // the offscreen document's worker runs the threaded build.
  const engine = await page.evaluate(() => chrome.runtime.sendMessage({ target: "offscreen", type: "engine" }));
  assert.equal(engine.crossOriginIsolated, true);
  assert.equal(engine.wasmBuild, "relaxed-simd-threads");
  assert.ok(engine.threads > 1, `threads: ${engine.threads}`);
  // No WebGPU in the test browser (its flags are off): auto runs on wasm, and says why.
  assert.equal(engine.device.requested, "auto");
  assert.equal(engine.device.device, "wasm");
  assert.match(engine.device.reason, /no WebGPU adapter/);
  await page.close();
});

test("a selection on a page is classified through the extension's context-menu handler", async () => {
  const row = golden.texts.find((t) => t.text.trim().length > 10 && !/[\r\n]/.test(t.text));
  const page = await context.newPage();
  await page.goto(`${origin}/`);
  await page.evaluate((text) => {
    const p = document.getElementById("quote");
    p.textContent = text;
    getSelection().selectAllChildren(p);
  }, row.text);
  // The page's tab: the active one (the extension has no "tabs" permission to look tabs up by URL).
  await page.bringToFront();
  const tabId = await worker.evaluate(async () => (await chrome.tabs.query({ active: true, lastFocusedWindow: true }))[0]?.id);
  assert.equal(typeof tabId, "number");
  // The handler chrome.contextMenus.onClicked calls, with what the menu passes it.
  const shownIn = await worker.evaluate(
    ([text, id]) => self.onMenuClick({ menuItemId: "classify-selection", selectionText: text }, { id }),
    [row.text, tabId],
  );
  // Without a real right-click there is no activeTab grant, so the bubble cannot be injected and
  // the result goes to the popup, as on pages an extension may not script.
  assert.ok(["page", "popup"].includes(shownIn), shownIn);
  const { lastSelection } = await worker.evaluate(() => chrome.storage.session.get("lastSelection"));
  assert.equal(lastSelection.text, row.text);
  assert.equal(lastSelection.prediction.label, expectedLabel(row));

  const popup = await openPopup();
  assert.equal(await popup.textContent("#last-label"), expectedLabel(row));
  await popup.close();

  // The bubble the handler injects next to a selection (with activeTab), run in the page.
  const source = await worker.evaluate(() => self.showBubble.toString());
  await page.evaluate(([src, result]) => (0, eval)(`(${src})`)(result), [source, lastSelection]);
  const bubble = await page.evaluate(() => document.getElementById("xlmr-sentiment-bubble")?.shadowRoot.querySelector("strong")?.textContent);
  assert.equal(bubble, `Sentiment: ${expectedLabel(row)}`);
  await page.screenshot({ path: join(screenshots, "extension-bubble.png") });
  await page.keyboard.press("Escape");
  assert.equal(await page.evaluate(() => document.getElementById("xlmr-sentiment-bubble")), null);
  await page.close();
});

test("the extension requests nothing but its own files and the page it is used on", async () => {
  // Its own log: startup, then a classification in the popup and a page visited.
  const requests = [...startupRequests];
  const record = (r) => requests.push(r.url());
  context.on("request", record);
  try {
    const popup = await openPopup();
    await classifyInPopup(popup, "What a lovely, quiet morning");
    await popup.close();
    const page = await context.newPage();
    await page.goto(`${origin}/`);
    await page.close();
  } finally {
    context.off("request", record);
  }
  assert.ok(requests.some((url) => url.startsWith(`chrome-extension://${extensionId}/`)), "the log holds the extension's own files");
  assert.ok(requests.some((url) => url.startsWith(`${origin}/`)), "the log holds the page");
  const foreign = requests.filter((url) => !url.startsWith(`chrome-extension://${extensionId}/`) && !url.startsWith(`${origin}/`) && !url.startsWith("blob:") && !url.startsWith("data:"));
  assert.deepEqual(foreign, []);
});
