#!/usr/bin/env node
// Serves a built demo folder (www/demo/build.sh) with the two headers that make the page
// cross-origin isolated, so the model's worker gets the package's threaded build:
//
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
//
//   node www/demo/serve.mjs [DIR] [--port N] [--host ADDR]     (defaults: target/demo, 8000, 127.0.0.1)
//
// Any static server that sends these headers does the same (nginx: `add_header
// Cross-Origin-Opener-Policy same-origin; add_header Cross-Origin-Embedder-Policy require-corp;`).
// Without them the page still works, on one thread. Files are streamed, so a large model folder
// is fine; only GET and HEAD are answered, and only for files under DIR.
import { createReadStream } from "node:fs";
import { stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { pathToFileURL } from "node:url";

const TYPES = {
  ".html": "text/html; charset=utf-8", ".js": "text/javascript", ".mjs": "text/javascript",
  ".css": "text/css", ".json": "application/json", ".wasm": "application/wasm", ".png": "image/png",
  ".svg": "image/svg+xml", ".txt": "text/plain; charset=utf-8",
};

export const ISOLATION_HEADERS = {
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-embedder-policy": "require-corp",
};

/** Starts the server; resolves to the `http.Server` once it listens. */
export async function serveDemo(dir, { port = 8000, host = "127.0.0.1" } = {}) {
  const root = resolve(dir);
  const server = createServer(async (req, res) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    let path;
    try {
      path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    } catch {
      res.writeHead(400).end("bad path");
      return;
    }
    let file = resolve(join(root, path));
    if (file !== root && !file.startsWith(root + sep)) {
      res.writeHead(404).end("not found");
      return;
    }
    try {
      let info = await stat(file);
      if (info.isDirectory()) {
        file = join(file, "index.html");
        info = await stat(file);
      }
      const type = TYPES[extname(file)] ?? "application/octet-stream";
      // One byte range, as static hosts serve them: the package downloads bundles in ranges,
      // with progress after each.
      const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
      if (range) {
        const start = Number(range[1]);
        const end = Math.min(range[2] === "" ? info.size - 1 : Number(range[2]), info.size - 1);
        if (start >= info.size || end < start) {
          res.writeHead(416, { "content-range": `bytes */${info.size}`, ...ISOLATION_HEADERS }).end();
          return;
        }
        const headers = { "content-type": type, "content-length": end - start + 1, "content-range": `bytes ${start}-${end}/${info.size}` };
        res.writeHead(206, { ...headers, ...ISOLATION_HEADERS });
        if (req.method === "HEAD") res.end();
        else createReadStream(file, { start, end }).pipe(res);
        return;
      }
      res.writeHead(200, { "content-type": type, "content-length": info.size, ...ISOLATION_HEADERS });
      if (req.method === "HEAD") res.end();
      else createReadStream(file).pipe(res);
    } catch {
      res.writeHead(404).end("not found");
    }
  });
  await new Promise((done, fail) => {
    server.once("error", fail);
    server.listen(port, host, done);
  });
  return server;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const at = args.indexOf(name);
    if (at < 0) return fallback;
    const value = args[at + 1];
    args.splice(at, 2);
    if (value === undefined) {
      console.error(`serve.mjs: ${name} needs a value`);
      process.exit(2);
    }
    return value;
  };
  const port = Number(option("--port", "8000"));
  const host = option("--host", "127.0.0.1");
  const dir = args[0] ?? "target/demo";
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`serve.mjs: --port must be a port number, got ${port}`);
    process.exit(2);
  }
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error("not a folder");
  } catch {
    console.error(`serve.mjs: ${dir} is not a folder (build it with www/demo/build.sh ${dir})`);
    process.exit(2);
  }
  const server = await serveDemo(dir, { port, host });
  const { port: bound } = server.address();
  console.log(`serving ${resolve(dir)} cross-origin isolated at http://${host}:${bound}/`);
}
