// The tarball `npm pack` writes (its `prepack` script runs build.sh), as npm would publish it:
// the JS, the types, every .wasm build, the README and both licenses, every file the code loads
// by a relative path, and nothing of the sources, tests or build tools. tests/run.sh packs it into
// target/npm/ (`npm pack --pack-destination ../../target/npm` here); the Vite consumer installs
// that same file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFile, mkdtemp, rm } from "node:fs/promises";
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, dirname, normalize } from "node:path";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const run = promisify(execFile);
const pkgDir = fileURLToPath(new URL("../", import.meta.url));
const root = fileURLToPath(new URL("../../../", import.meta.url));
const pkg = JSON.parse(await readFile(join(pkgDir, "package.json"), "utf8"));
const tarball = join(root, "target/npm", `xlmr-sentiment-${pkg.version}.tgz`);

/** Unpacks the tarball into a fresh folder; the caller removes it. */
async function unpack() {
  assert.ok(existsSync(tarball), `${tarball} is missing: run \`npm pack --pack-destination ../../target/npm\` in www/xlmr-sentiment`);
  const dir = await mkdtemp(join(tmpdir(), "xlmr-tarball-"));
  await run("tar", ["-xzf", tarball, "-C", dir]);
  const { stdout } = await run("tar", ["-tzf", tarball]);
  const files = stdout.split("\n").filter((f) => f && !f.endsWith("/")).map((f) => f.replace(/^package\//, ""));
  return { dir: join(dir, "package"), top: dir, files };
}

test("the tarball holds the JS, types, wasm builds, README and licenses, and no sources", async () => {
  const { dir, top, files } = await unpack();
  try {
    const required = [
      "package.json", "README.md", "LICENSE-MIT", "LICENSE-APACHE",
      ...["index", "worker-client", "worker", "pipeline", "classifier", "loader", "wasm"].flatMap((m) => [`dist/${m}.js`, `dist/${m}.d.ts`]),
      "wasm/xlmr_sentiment_wasm.js", "wasm/xlmr_sentiment_wasm.d.ts", "wasm/xlmr_sentiment_wasm_bg.wasm.d.ts",
      "wasm/xlmr_sentiment_wasm_simd128.wasm", "wasm/xlmr_sentiment_wasm_relaxed_simd.wasm",
      "wasm/xlmr_sentiment_wasm_relaxed_simd_threads.wasm", "wasm/threads/xlmr_sentiment_wasm.js",
    ];
    for (const f of required) assert.ok(files.includes(f), `the tarball has ${f}`);
    assert.ok(files.some((f) => /^wasm\/threads\/snippets\/wasm-bindgen-rayon-[^/]+\/src\/workerHelpers\.js$/.test(f)), "the threaded build's worker helper");
    const stray = files.filter((f) => /^(src|test|bench|node_modules)\/|^build\.sh$|^tsconfig\.json$|package-lock\.json$|\.tgz$/.test(f));
    assert.deepEqual(stray, [], "no sources, tests, lock file or build script");
    for (const name of ["LICENSE-MIT", "LICENSE-APACHE"]) {
      assert.equal(await readFile(join(dir, name), "utf8"), await readFile(join(root, name), "utf8"), `${name} is the repository's`);
    }
    assert.equal(await readFile(join(dir, "README.md"), "utf8"), await readFile(join(pkgDir, "README.md"), "utf8"));

    // The manifest as published: its entry points and every export resolve inside the tarball.
    const manifest = JSON.parse(await readFile(join(dir, "package.json"), "utf8"));
    assert.equal(manifest.version, pkg.version);
    assert.equal(manifest.license, "MIT OR Apache-2.0");
    const targets = [manifest.main, manifest.types];
    for (const entry of Object.values(manifest.exports)) targets.push(...(typeof entry === "string" ? [entry] : Object.values(entry)));
    for (const t of targets) assert.ok(files.includes(normalize(t)), `${t} (package.json) is in the tarball`);
  } finally {
    await rm(top, { recursive: true, force: true });
  }
});

test("every relative import and asset URL in the tarball's JS names a file it holds", async () => {
  const { dir, top, files } = await unpack();
  try {
    const patterns = [
      /\bfrom\s+["'](\.{1,2}\/[^"']+)["']/g, // static import and export ... from
      /\bimport\s*\(\s*(?:\/\*[^*]*\*\/\s*)?["'](\.{1,2}\/[^"']+)["']\s*\)/g, // dynamic import of a literal
      /new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url\s*\)/g, // assets bundlers follow
    ];
    let checked = 0;
    for (const file of files.filter((f) => f.endsWith(".js"))) {
      const source = await readFile(join(dir, file), "utf8");
      for (const pattern of patterns) {
        for (const [, spec] of source.matchAll(pattern)) {
          const target = normalize(join(dirname(file), spec));
          assert.ok(files.includes(target), `${file} refers to ${spec}, which the tarball lacks`);
          checked++;
        }
      }
    }
    assert.ok(checked >= 10, `the check saw the package's imports (${checked})`);
  } finally {
    await rm(top, { recursive: true, force: true });
  }
});
