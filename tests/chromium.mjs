// Launches Debian's Chromium for the browser tests, the one way the project does it: driven by
// playwright-core (passed in, since each test folder has its own node_modules), headless, with a
// fresh profile (Playwright passes it as --user-data-dir) and flags that keep Chromium from
// talking to anything but the test's own 127.0.0.1 server. `close()` also deletes the profile.
import { createServer } from "node:http";
import { createReadStream } from "node:fs";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";

export const CHROMIUM_ARGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
];

/** The two headers that make a page cross-origin isolated (SharedArrayBuffer, wasm threads). */
export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

/**
 * With these added, a page on 127.0.0.1 gets Chromium's software WebGPU adapter (SwiftShader):
 * a correctness check of the GPU path, not a speed one (it runs on the CPU).
 */
export const WEBGPU_ARGS = ["--enable-unsafe-webgpu", "--use-webgpu-adapter=swiftshader", "--enable-features=Vulkan"];

/**
 * A persistent context on a fresh profile; every page of it shares that profile's caches.
 * `extraArgs`: flags beside CHROMIUM_ARGS (WEBGPU_ARGS).
 */
export async function launchChromium(chromium, extraArgs = []) {
  const profile = await mkdtemp(join(tmpdir(), "xlmr-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
  return {
    context,
    async close() {
      await context.close();
      await rm(profile, { recursive: true, force: true });
    },
  };
}

const TYPES = {
  ".js": "text/javascript", ".mjs": "text/javascript", ".html": "text/html", ".json": "application/json", ".css": "text/css",
  ".wasm": "application/wasm",
};

/**
 * Serves files from 127.0.0.1 on a free port: `resolve(url)` names the file for a request path
 * (undefined or a missing file gives a 404), honouring a single `Range` unless `ranges` is
 * false; `onRequest(url, status)` sees every answer. Resolves to `{ server, origin }`.
 */
// `cut(url)`: a byte count to send of this response before dropping the connection (as a
// network that fails mid-download), or undefined to send it whole.
export async function serveFiles(resolve, { onRequest = () => {}, headers = {}, ranges = true, cut = () => undefined } = {}) {
  const server = createServer(async (req, res) => {
    const file = resolve(req.url);
    try {
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      const range = ranges && /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      if (range) {
        // One range, as static hosts answer (the package downloads bundles in ranges).
        const size = (await stat(file)).size;
        const start = Number(range[1]);
        const end = Math.min(range[2] === "" ? size - 1 : Number(range[2]), size - 1);
        if (start >= size || end < start) {
          res.writeHead(416, { "content-range": `bytes */${size}`, ...headers }).end();
          onRequest(req.url, 416);
          return;
        }
        res.writeHead(206, { "content-type": type, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${size}`, ...headers });
        const keep = cut(req.url);
        onRequest(req.url, 206);
        if (keep === undefined) {
          createReadStream(file, { start, end }).pipe(res);
        } else {
          const body = await readFile(file);
          res.write(body.subarray(start, Math.min(start + keep, end + 1)), () => res.socket.destroy());
        }
        return;
      }
      const body = await readFile(file);
      res.writeHead(200, { "content-type": type, "content-length": body.byteLength, ...headers });
      const keep = cut(req.url);
      onRequest(req.url, 200);
      if (keep === undefined) res.end(body);
      else res.write(body.subarray(0, keep), () => res.socket.destroy());
    } catch {
      res.writeHead(404).end("not found");
      onRequest(req.url, 404);
    }
  });
  await new Promise((done) => server.listen(0, "127.0.0.1", done));
  return { server, origin: `http://127.0.0.1:${server.address().port}` };
}
