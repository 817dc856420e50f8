// Peak memory of loading a bundle in headless Chromium, the way a page does it: `loadInWorker`
// streams the file from a 127.0.0.1 server into the worker's wasm memory (and into Cache
// Storage). Chromium runs the page and its worker in one renderer process, whose peak resident
// memory (VmHWM in /proc) is compared with its resident memory just before the load.
//
//   node bench/browser-memory.mjs FILE.gguf [--no-cache] [--main-thread] [--isolated] [--timeline]
//
// --main-thread loads with `load` on the page's own thread instead of `loadInWorker`.
// --isolated serves every file with COOP/COEP headers, so the worker runs the threaded build
// (two threads), as bench/browser.sh's isolated rows do.
// --timeline prints the renderers' resident memory every 100 ms during the load, to see which
// phase sets the peak.
//
// Run after www/xlmr-sentiment/build.sh; needs Debian's chromium (tests/run.sh installs it).
import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { readFile, readdir, stat } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { ISOLATION_HEADERS, launchChromium } from "../../../tests/chromium.mjs";

const [bundle, ...flags] = process.argv.slice(2);
const noCache = flags.includes("--no-cache");
const mainThread = flags.includes("--main-thread");
const isolated = flags.includes("--isolated");
const timeline = flags.includes("--timeline");
if (!bundle?.endsWith(".gguf")) {
  console.error("usage: node bench/browser-memory.mjs FILE.gguf [--no-cache] [--main-thread] [--isolated] [--timeline]");
  process.exit(2);
}
const pkgDir = fileURLToPath(new URL("../", import.meta.url));
const size = (await stat(bundle)).size;
const TYPES = { ".js": "text/javascript", ".html": "text/html", ".wasm": "application/wasm" };
const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
  import { loadInWorker } from "/pkg/dist/worker-client.js";
  import { load } from "/pkg/dist/index.js";
  window.loadBundle = async (cache) => {
    const started = performance.now();
    const c = await (location.search === "?main" ? load : loadInWorker)("/bundle.gguf", cache ? {} : { cache: false });
    const seconds = (performance.now() - started) / 1000;
    const result = await c.classify("I love this!");
    return { seconds, result, precision: c.precision, threads: c.threads ?? 1, isolated: self.crossOriginIsolated };
  };
  document.body.dataset.ready = "yes";
</script><body></body>`;

const server = createServer(async (req, res) => {
  if (isolated) for (const [name, value] of Object.entries(ISOLATION_HEADERS)) res.setHeader(name, value);
  const path = normalize(decodeURIComponent(new URL(req.url, "http://x").pathname));
  if (path === "/") return res.writeHead(200, { "content-type": "text/html" }).end(PAGE);
  if (path === "/bundle.gguf") {
    // The package downloads in ranges where the server allows them, as static hosts do.
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (!range) {
      res.writeHead(200, { "content-type": "application/octet-stream", "content-length": size });
      return createReadStream(bundle).pipe(res);
    }
    const start = Number(range[1]);
    const end = Math.min(range[2] === "" ? size - 1 : Number(range[2]), size - 1);
    if (start >= size) return res.writeHead(416, { "content-range": `bytes */${size}` }).end();
    res.writeHead(206, { "content-type": "application/octet-stream", "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}` });
    return createReadStream(bundle, { start, end }).pipe(res);
  }
  if (path.startsWith("/pkg/")) {
    try {
      const body = await readFile(join(pkgDir, path.slice(5)));
      return res.writeHead(200, { "content-type": TYPES[extname(path)] ?? "application/octet-stream" }).end(body);
    } catch {}
  }
  res.writeHead(404).end();
});
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const origin = `http://127.0.0.1:${server.address().port}`;

/** Resident and peak resident memory (bytes) of every Chromium renderer process. */
async function renderers() {
  const found = [];
  for (const pid of await readdir("/proc")) {
    if (!/^\d+$/.test(pid)) continue;
    try {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, "utf8");
      if (!cmdline.includes("--type=renderer")) continue;
      const status = await readFile(`/proc/${pid}/status`, "utf8");
      const kb = (key) => Number(status.match(new RegExp(`${key}:\\s+(\\d+)`))?.[1] ?? 0) * 1024;
      found.push({ pid, rss: kb("VmRSS"), peak: kb("VmHWM") });
    } catch {}
  }
  return found;
}

const browser = await launchChromium(chromium);
try {
  const page = await browser.context.newPage();
  await page.goto(`${origin}/${mainThread ? "?main" : ""}`);
  await page.waitForSelector("body[data-ready=yes]", { state: "attached" });
  const before = await renderers();
  const started = performance.now();
  const samples = [];
  const sampler = timeline
    ? setInterval(async () => {
        const at = ((performance.now() - started) / 1000).toFixed(1);
        samples.push(`${at} s ${(await renderers()).map((r) => (r.rss / 1e6).toFixed(0)).join("/")}`);
      }, 100)
    : undefined;
  const run = await page.evaluate((cache) => window.loadBundle(cache), !noCache);
  clearInterval(sampler);
  const after = await renderers();
  const mb = (b) => `${(b / 1e6).toFixed(1)} MB`;
  if (timeline) console.log(`resident MB of each renderer: ${samples.join(", ")}`);
  console.log(`bundle: ${bundle} (${mb(size)}, ${run.precision}), loaded in ${run.seconds.toFixed(2)} s, Cache Storage ${noCache ? "off" : "on"}, ${mainThread ? "page's thread" : "worker"}, ${run.threads} thread(s), crossOriginIsolated ${run.isolated}`);
  for (const r of after) {
    const start = before.find((b) => b.pid === r.pid);
    if (!start) {
      console.log(`renderer ${r.pid} (started during the load): peak ${mb(r.peak)}, now ${mb(r.rss)} = ${(r.peak / size).toFixed(2)}x the bundle`);
      continue;
    }
    const added = r.peak - start.rss;
    console.log(`renderer ${r.pid}: resident ${mb(start.rss)} before the load, peak ${mb(r.peak)}, now ${mb(r.rss)}; the load added at most ${mb(added)} = ${(added / size).toFixed(2)}x the bundle`);
  }
  console.log(`check: ${JSON.stringify(run.result)}`);
} finally {
  await browser.close();
  server.close();
}
