// Runs Rust test binaries built for wasm32-wasip1 (the core's unit tests, once per wasm build)
// in Node's WASI and in headless Chromium through @bjorn3/browser_wasi_shim, so the wasm
// kernels are checked by the engines that run the npm package. A binary using relaxed SIMD is
// run only by engines that validate it (Node 20's V8 needs a flag for it and, with that flag,
// computes wrong relaxed dot products; Chromium has it on).
//
// Usage: node run.mjs FILE.wasm [FILE.wasm ...] -- [test arguments]
import { readFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { WASI } from "node:wasi";
import { chromium } from "playwright-core";
import { launchChromium, serveFiles } from "../chromium.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const split = argv.indexOf("--");
const files = split < 0 ? argv : argv.slice(0, split);
const testArgs = split < 0 ? [] : argv.slice(split + 1);
if (files.length === 0) {
  console.error("usage: node run.mjs FILE.wasm [FILE.wasm ...] -- [test arguments]");
  process.exit(2);
}

let failed = 0;
const report = (engine, file, ok, output) => {
  console.log(`\n--- ${basename(file)} in ${engine}: ${ok ? "passed" : "FAILED"}`);
  console.log(output.trim());
  if (!ok) failed += 1;
};

const binaries = await Promise.all(files.map(async (file) => ({ file, bytes: await readFile(file) })));

for (const { file, bytes } of binaries) {
  if (!WebAssembly.validate(bytes)) {
    console.log(`\n--- ${basename(file)}: not run in Node ${process.version} (it does not validate the module)`);
    continue;
  }
  // Node prints the tests' output itself; `returnOnExit` hands back the exit code.
  const wasi = new WASI({ version: "preview1", args: ["test.wasm", ...testArgs], env: {}, returnOnExit: true });
  let ok;
  try {
    const instance = await WebAssembly.instantiate(await WebAssembly.compile(bytes), wasi.getImportObject());
    ok = wasi.start(instance) === 0;
  } catch (error) {
    console.error(String(error));
    ok = false;
  }
  report("Node", file, ok, "");
}

const served = new Map(files.map((file, i) => [`/bin/${i}.wasm`, file]));
const shim = join(here, "node_modules/@bjorn3/browser_wasi_shim/dist");
const { server, origin } = await serveFiles((url) => {
  const path = url.split("?")[0];
  if (served.has(path)) return served.get(path);
  if (path === "/page.html" || path === "/page.mjs") return join(here, path);
  if (path.startsWith("/shim/") && !path.includes("..")) return join(shim, path.slice("/shim/".length));
  return undefined;
});
const browser = await launchChromium(chromium);
try {
  for (const [path, file] of served) {
    const page = await browser.context.newPage();
    const query = new URLSearchParams([["wasm", path], ...testArgs.map((arg) => ["arg", arg])]);
    await page.goto(`${origin}/page.html?${query}`);
    const run = await page.waitForFunction(() => window.testRun, null, { timeout: 300_000 }).then((h) => h.jsonValue());
    report("Chromium", file, run.exitCode === 0, [...run.output, run.error ?? ""].join("\n"));
    await page.close();
  }
} finally {
  await browser.close();
  server.close();
}
process.exit(failed ? 1 : 0);
