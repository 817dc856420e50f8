// The npm package in Node: every golden text of every fixture model within 1e-4 of transformers,
// the transformers.js output shapes, loading over HTTP with progress, and clear errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { createServer } from "node:http";
import { existsSync } from "node:fs";

import { load, loadFromBytes, detectWasmBuild, pipeline } from "../dist/index.js";

const fixtures = new URL("../../../tests/fixtures/models/", import.meta.url);
const MODELS = ["tiny-sentiment", "tiny-multilabel", "tiny-score"];

const weightsOf = (model) =>
  ["model.safetensors", "pytorch_model.bin"].find((f) => existsSync(new URL(`${model}/${f}`, fixtures)));

async function bytes(model, file) {
  return new Uint8Array(await readFile(new URL(`${model}/${file}`, fixtures)));
}

async function fixture(model, weights = weightsOf(model)) {
  return loadFromBytes({
    config: await bytes(model, "config.json"),
    tokenizer: await bytes(model, "tokenizer.json"),
    weights: await bytes(model, weights),
  });
}

const golden = async (model) => JSON.parse(await readFile(new URL(`${model}/golden.json`, fixtures), "utf8"));

for (const model of MODELS) {
  test(`${model}: every golden text matches transformers`, async () => {
    const g = await golden(model);
    const classifier = await fixture(model);
    assert.deepEqual(classifier.labels, g.labels);
    assert.equal(classifier.maxInputTokens, g.max_length);
    const texts = g.texts.map((t) => t.text);
    const batched = await classifier.classifyDetailed(texts, { batchSize: 16 });
    assert.equal(batched.length, texts.length);
    for (const [i, row] of g.texts.entries()) {
      const [alone] = await classifier.classifyDetailed([row.text]);
      for (const p of [alone, batched[i]]) {
        assert.equal(p.truncated, row.truncated, `truncated flag of ${JSON.stringify(row.text)}`);
        assert.equal(p.tokens, row.input_ids.length);
        p.scores.forEach((s, j) => {
          assert.equal(s.label, g.labels[j]);
          assert.ok(Math.abs(s.score - row.scores[j]) <= 1e-4, `${model} ${JSON.stringify(row.text)}: ${s.score} vs ${row.scores[j]}`);
        });
      }
    }
    classifier.dispose();
    assert.throws(() => classifier.labels, /disposed/);
  });
}

test("output shapes follow transformers.js", async () => {
  const classifier = await fixture("tiny-sentiment");
  const one = await classifier.classify("I love it");
  assert.equal(one.length, 1);
  assert.deepEqual(Object.keys(one[0]).sort(), ["label", "score"]);
  const all = await classifier.classify("I love it", { topK: null });
  assert.equal(all.length, 3);
  assert.ok(all[0].score >= all[1].score && all[1].score >= all[2].score);
  assert.equal(all[0].label, one[0].label);
  const flat = await classifier.classify(["a", "b", "c"]);
  assert.equal(flat.length, 3);
  assert.ok(!Array.isArray(flat[0]) && typeof flat[0].label === "string");
  const nested = await classifier.classify(["a", "b"], { topK: 2 });
  assert.ok(Array.isArray(nested[0]) && nested[0].length === 2);
  await assert.rejects(classifier.classify("x", { topK: 0 }), /topK/);
  await assert.rejects(classifier.classify(42), /string/);
  await assert.rejects(classifier.classify("x", { maxLength: 9999 }), /exceeds the model's limit/);
  await assert.rejects(classifier.classify("x", { bogus: 1 }), /invalid options: unknown bogus/);
  assert.equal((await classifier.classify("x", { top_k: null })).length, 3, "transformers.js' top_k works too");
  const [raw] = await classifier.classifyDetailed(["@bob hi"], { preprocess: false });
  const [pre] = await classifier.classifyDetailed(["@bob hi"]);
  assert.notDeepEqual(raw.scores, pre.scores);
});

test("language: true adds the text's language and whether the model was trained on it", async () => {
  const english = "The waiter was friendly and the soup was really delicious tonight";
  const russian = "Мне очень понравилась эта книга, я читал её всю ночь и не мог остановиться";
  const files = {
    config: await bytes("tiny-sentiment", "config.json"),
    tokenizer: await bytes("tiny-sentiment", "tokenizer.json"),
    weights: await bytes("tiny-sentiment", "model.safetensors"),
  };
  // Unknown trained languages (a fixture model): detected, never called unsupported.
  const unknown = await loadFromBytes(files);
  assert.equal(unknown.trainedLanguages, undefined);
  const [first] = await unknown.classify(russian, { language: true });
  assert.equal(first.language, "ru");
  assert.equal(first.languageSupported, null);
  // Off by default: transformers.js' shape exactly.
  assert.deepEqual(Object.keys((await unknown.classify(english))[0]).sort(), ["label", "score"]);

  const classifier = await loadFromBytes(files, { languages: ["en", "FR"] });
  assert.deepEqual(classifier.trainedLanguages, ["en", "fr"]);
  const [en, ru, emoji] = await classifier.classifyDetailed([english, russian, "😂😂 👍"], { language: true });
  assert.deepEqual([en.language, en.languageSupported], ["en", true]);
  assert.deepEqual([ru.language, ru.languageSupported], ["ru", false]);
  assert.deepEqual([emoji.language, emoji.languageSupported], [null, null]);
  // Every entry of the transformers.js-shaped answer carries its text's fields.
  const all = await classifier.classify(russian, { language: true, topK: null });
  assert.equal(all.length, 3);
  for (const entry of all) assert.deepEqual([entry.language, entry.languageSupported], ["ru", false]);
  const flat = await classifier.classify([english, russian], { language: true });
  assert.deepEqual(flat.map((e) => e.languageSupported), [true, false]);

  await assert.rejects(loadFromBytes(files, { languages: ["english"] }), /not an ISO 639-1 language code/);
  await assert.rejects(loadFromBytes(files, { languages: "en" }), /languages must be an array/);
  await assert.rejects(classifier.classify("x", { language: "yes" }), /invalid options/);
});

test("pytorch_model.bin and safetensors give the same results", async () => {
  const a = await fixture("tiny-sentiment", "model.safetensors");
  const b = await fixture("tiny-sentiment", "pytorch_model.bin");
  assert.deepEqual(await a.classifyDetailed(["Quel film décevant"]), await b.classifyDetailed(["Quel film décevant"]));
});

test("bad model files reject with a message that names the problem", async () => {
  const config = await bytes("tiny-sentiment", "config.json");
  const tokenizer = await bytes("tiny-sentiment", "tokenizer.json");
  const weights = await bytes("tiny-sentiment", "model.safetensors");
  await assert.rejects(loadFromBytes({ config, tokenizer, weights: weights.subarray(0, 1000) }), /corrupt safetensors weights/);
  await assert.rejects(loadFromBytes({ config: new TextEncoder().encode("{"), tokenizer, weights }), /config.json is malformed/);
  await assert.rejects(loadFromBytes({ config, tokenizer, weights: "model.safetensors" }), /weights must be a Uint8Array or an ArrayBuffer, got string/);
  await assert.rejects(loadFromBytes({ config, tokenizer }), /weights must be a Uint8Array or an ArrayBuffer, got undefined/);
  // An ArrayBuffer (as fetch's arrayBuffer() gives) works as well as a Uint8Array.
  const fromBuffers = await loadFromBytes({ config: config.slice().buffer, tokenizer, weights: weights.slice().buffer });
  assert.equal(fromBuffers.labels.length, 3);
  await assert.rejects(
    loadFromBytes({ config, tokenizer: await bytes("tiny-multilabel", "tokenizer.json"), weights: await bytes("tiny-multilabel", "model.safetensors") }),
    /config|shape|labels/,
  );
});

function serve(routes) {
  const server = createServer(async (req, res) => {
    const route = routes(req.url);
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": route.type, "content-length": route.body.byteLength });
    res.end(route.body);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

test("load(baseUrl) resolves a folder as natively: pytorch_model.bin, sentencepiece.bpe.model", async () => {
  const files = {
    "/p/config.json": await bytes("tiny-sentiment", "config.json"),
    "/p/sentencepiece.bpe.model": await bytes("tiny-sentiment", "sentencepiece.bpe.model"),
    "/p/pytorch_model.bin": await bytes("tiny-sentiment", "pytorch_model.bin"),
  };
  const requested = [];
  const server = await serve((url) => {
    requested.push(url);
    return files[url] ? { type: "application/octet-stream", body: files[url] } : undefined;
  });
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const events = [];
    const classifier = await load(`${base}/p/`, { cache: false, onProgress: (e) => events.push(e) });
    // Tried in the native order, the first present name of each kept.
    assert.deepEqual(requested.sort(), ["/p/config.json", "/p/model.safetensors", "/p/pytorch_model.bin", "/p/sentencepiece.bpe.model", "/p/tokenizer.json"]);
    for (const name of ["sentencepiece.bpe.model", "pytorch_model.bin"]) {
      assert.ok(events.some((e) => e.file === name && e.status === "done"), `done event for ${name}`);
    }
    const g = await golden("tiny-sentiment");
    const texts = g.texts.slice(0, 8).map((t) => t.text);
    const reference = await fixture("tiny-sentiment", "model.safetensors");
    const ours = await classifier.classifyDetailed(texts);
    const theirs = await reference.classifyDetailed(texts);
    for (const [i, p] of ours.entries()) {
      assert.equal(p.label, theirs[i].label);
      for (const [j, s] of p.scores.entries()) assert.ok(Math.abs(s.score - theirs[i].scores[j].score) <= 1e-5);
    }
    await assert.rejects(load(`${base}/none/`, { cache: false }), /HTTP 404/);
    files["/w/config.json"] = files["/p/config.json"];
    files["/w/tokenizer.json"] = await bytes("tiny-sentiment", "tokenizer.json");
    await assert.rejects(load(`${base}/w/`, { cache: false }), /pytorch_model\.bin: HTTP 404 .*\(tried model\.safetensors, pytorch_model\.bin\)/);
  } finally {
    server.close();
  }
});

test("load(baseUrl) fetches with progress events, then classifies", async () => {
  const files = {
    "/m/config.json": await bytes("tiny-sentiment", "config.json"),
    "/m/tokenizer.json": await bytes("tiny-sentiment", "tokenizer.json"),
    "/m/model.safetensors": await bytes("tiny-sentiment", "model.safetensors"),
  };
  const server = await serve((url) => (files[url] ? { type: "application/octet-stream", body: files[url] } : url.startsWith("/html/") ? { type: "text/html", body: Buffer.from("<!doctype html><p>app") } : undefined));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const events = [];
    const classifier = await load(`${base}/m/`, { onProgress: (e) => events.push(e) });
    const total = Object.values(files).reduce((n, b) => n + b.byteLength, 0);
    const last = events.at(-1);
    assert.equal(last.status, "ready");
    assert.equal(last.overall.loaded, total);
    for (const name of ["config.json", "tokenizer.json", "model.safetensors"]) {
      const done = events.find((e) => e.file === name && e.status === "done");
      assert.ok(done && done.loaded === done.total && done.total > 0, `done event for ${name}`);
      assert.ok(events.some((e) => e.file === name && e.status === "progress"));
    }
    const g = await golden("tiny-sentiment");
    const [p] = await classifier.classifyDetailed([g.texts[0].text]);
    assert.ok(Math.abs(p.scores[0].score - g.texts[0].scores[0]) <= 1e-4);
    await assert.rejects(load(`${base}/missing/`), /HTTP 404/);
    // A dev server that answers every path with its index.html must not pass for a model.
    await assert.rejects(load(`${base}/html/`), /answered with an HTML page/);
  } finally {
    server.close();
  }
});

test("the wasm class itself takes a string or an array of strings", async () => {
  const { initWasm, wasmGlue } = await import("../dist/wasm.js");
  await initWasm();
  const model = "tiny-sentiment";
  const raw = new (wasmGlue().Classifier)(await bytes(model, "config.json"), await bytes(model, "tokenizer.json"), await bytes(model, "model.safetensors"));
  const one = raw.classify("Quel film décevant", undefined);
  const many = raw.classify(["Quel film décevant", "ok"], { batchSize: 1 });
  assert.equal(one.length, 1);
  assert.equal(many.length, 2);
  assert.deepEqual(one[0], many[0]);
  assert.throws(() => raw.classify(42, undefined), /a string or an array of strings/);
  assert.throws(() => raw.classify(["ok", 7], undefined), /a string or an array of strings/);
  assert.throws(() => raw.classify("ok", { topk: 2 }), /invalid options: unknown topk/);
  assert.throws(() => raw.classify("ok", "fast"), /invalid options: expected an object/);
  assert.throws(() => raw.classify("ok", { batchSize: "many" }), /invalid options/);
  raw.free();
});

// Bundles are written by `xlmr-sentiment pack` before these tests run (tests/run.sh).
const bundles = new URL("../../../target/bundles/", import.meta.url);
async function bundleBytes(name) {
  try {
    return new Uint8Array(await readFile(new URL(name, bundles)));
  } catch (e) {
    throw new Error(`${name}: missing; tests/run.sh packs the fixture bundles first (${e.message})`);
  }
}

test("an f32 bundle matches transformers on every golden text; compact ones load", async () => {
  const g = await golden("tiny-sentiment");
  const texts = g.texts.map((t) => t.text);
  const exact = await loadFromBytes({ bundle: await bundleBytes("tiny-sentiment-f32.gguf") });
  assert.equal(exact.precision, "f32");
  assert.deepEqual(exact.labels, g.labels);
  (await exact.classifyDetailed(texts)).forEach((p, i) => {
    p.scores.forEach((s, j) => assert.ok(Math.abs(s.score - g.texts[i].scores[j]) <= 1e-4, `text ${i}`));
  });
  for (const precision of ["f16", "q8_0", "q4"]) {
    const compact = await loadFromBytes({ bundle: (await bundleBytes(`tiny-sentiment-${precision}.gguf`)).buffer });
    assert.equal(compact.precision, precision);
    const exactLabels = (await exact.classifyDetailed(texts)).map((p) => p.label);
    const agree = (await compact.classifyDetailed(texts)).filter((p, i) => p.label === exactLabels[i]).length;
    // The tiny random fixture is very sensitive to rounding (see crates/core/tests/bundle.rs).
    assert.ok(agree / texts.length >= 0.7, `${precision}: ${agree} of ${texts.length} top labels agree`);
  }
  const truncated = await bundleBytes("tiny-sentiment-q8_0.gguf");
  await assert.rejects(loadFromBytes({ bundle: truncated.subarray(0, 5000) }), /corrupt gguf weights/);
  await assert.rejects(loadFromBytes({ bundle: await bytes("tiny-sentiment", "model.safetensors") }), /corrupt gguf|not an xlmr-sentiment bundle/);
});

test("load(url of a .gguf) fetches the one file with progress events", async () => {
  const body = await bundleBytes("tiny-sentiment-q8_0.gguf");
  const server = await serve((url) =>
    url === "/b/model-q8_0.gguf" ? { type: "application/octet-stream", body }
    : url === "/b/page.gguf" ? { type: "text/html", body: Buffer.from("<!doctype html><p>app") }
    : url === "/b/other.gguf" ? { type: "application/octet-stream", body: Buffer.from("PK\x03\x04 not a bundle") }
    : undefined);
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const events = [];
    const classifier = await load(`${base}/b/model-q8_0.gguf`, { onProgress: (e) => events.push(e), cache: false });
    assert.equal(classifier.precision, "q8_0");
    const done = events.find((e) => e.status === "done");
    assert.equal(done.file, "model-q8_0.gguf");
    assert.equal(done.loaded, body.byteLength);
    assert.equal(events.at(-1).status, "ready");
    assert.equal((await classifier.classify("I love this!")).length, 1);
    await assert.rejects(load(`${base}/b/page.gguf`), /answered with an HTML page/);
    await assert.rejects(load(`${base}/b/other.gguf`), /is not a model bundle/);
    await assert.rejects(load(`${base}/b/missing.gguf`), /HTTP 404/);
  } finally {
    server.close();
  }
});

test("in Node, a bundle download cut mid-file resumes where it stopped, with or without Range", async () => {
  const body = await bundleBytes("tiny-sentiment-f32.gguf");
  const g = await golden("tiny-sentiment");
  const texts = g.texts.slice(0, 6).map((t) => t.text);
  const reference = await (await loadFromBytes({ bundle: body })).classifyDetailed(texts);
  // Each request sends from the asked byte (or from 0 when ranges are off), and is cut after
  // `cuts.shift()` bytes while cuts remain: the socket is destroyed mid-body.
  const requests = [];
  let cuts = [];
  let ranges = true;
  const server = createServer((req, res) => {
    const from = ranges ? Number(req.headers.range?.match(/^bytes=(\d+)-$/)?.[1] ?? 0) : 0;
    requests.push(req.headers.range ?? "whole");
    const headers = { "content-type": "application/octet-stream", "content-length": body.byteLength - from };
    if (from > 0) headers["content-range"] = `bytes ${from}-${body.byteLength - 1}/${body.byteLength}`;
    res.writeHead(from > 0 ? 206 : 200, headers);
    const cut = cuts.shift();
    if (cut === undefined) return res.end(body.subarray(from));
    res.write(body.subarray(from, from + cut), () => setTimeout(() => res.destroy(), 20));
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${server.address().port}/b/tiny.gguf`;
  try {
    for (const [ranged, plan, expected] of [
      [true, [1000, 150_000], ["whole", "bytes=1000-", "bytes=151000-"]],
      [false, [200_000], ["whole", "bytes=200000-"]],
      [true, [0, 0, 5], ["whole", "whole", "whole", "bytes=5-"]],
    ]) {
      ranges = ranged;
      cuts = [...plan];
      requests.length = 0;
      const classifier = await load(url, { cache: false });
      assert.deepEqual(requests, expected, `cuts ${plan} with ranges ${ranged}`);
      (await classifier.classifyDetailed(texts)).forEach((p, i) => {
        p.scores.forEach((s, j) => assert.equal(s.score, reference[i].scores[j].score));
      });
    }
    // Cut at one byte on every try: the load fails and says so.
    ranges = true;
    cuts = [300, 0, 0, 0, 0];
    await assert.rejects(load(url, { cache: false }), /the download was cut at byte 300 4 times in a row/);
  } finally {
    server.close();
  }
});

test("a bundle reads the same from a byte stream and from a stream of pieces of any size", async () => {
  const body = await bundleBytes("tiny-sentiment-q8_0.gguf");
  const expected = await (await loadFromBytes({ bundle: body })).classify(["I love this!", "Schrecklich."], { topK: null });
  // Uneven piece sizes, so pieces straddle the GGUF header, metadata and tensors.
  const sizes = [1, 3, 7, 4096, 65_537, 100_000];
  const pieces = [];
  for (let at = 0, i = 0; at < body.byteLength; i++) {
    const end = Math.min(body.byteLength, at + sizes[i % sizes.length]);
    pieces.push(body.slice(at, end));
    at = end;
  }
  const streams = {
    // What fetch and Cache Storage hand out: a byte stream.
    bytes: () =>
      new ReadableStream({
        type: "bytes",
        start(controller) {
          for (const piece of pieces) controller.enqueue(piece.slice());
          controller.close();
        },
      }),
    // A stream a page built itself.
    pieces: () => {
      let i = 0;
      return new ReadableStream({
        pull(controller) {
          if (i < pieces.length) controller.enqueue(pieces[i++].slice());
          else controller.close();
        },
      });
    },
  };
  const cases = [
    ["bytes", streams.bytes, body.byteLength],
    // A content-length below the body's size (a compressed response's): all of it still loads.
    ["bytes, short content-length", streams.bytes, Math.floor(body.byteLength / 3)],
    ["bytes, no content-length", streams.bytes, undefined],
    ["pieces", streams.pieces, body.byteLength],
  ];
  for (const [kind, stream, length] of cases) {
    const headers = length === undefined ? {} : { "content-length": String(length) };
    const fetch = async () => new Response(stream(), { headers });
    const events = [];
    const classifier = await load("http://127.0.0.1:9/model.gguf", { fetch, cache: false, onProgress: (e) => events.push(e) });
    assert.deepEqual(await classifier.classify(["I love this!", "Schrecklich."], { topK: null }), expected, kind);
    assert.equal(events.find((e) => e.status === "done").loaded, body.byteLength, kind);
  }
});

test("Node picks the wasm build its V8 runs correctly and reports it", async () => {
  const g = await golden("tiny-sentiment");
  const classifier = await loadFromBytes({ bundle: await bundleBytes("tiny-sentiment-q8_0.gguf") });
  const [major, minor] = process.versions.v8.split(".").map(Number);
  // V8 before 11.4 (Node 20) has relaxed SIMD only behind a flag, and wrong with it.
  const expected = major > 11 || (major === 11 && minor >= 4) ? "relaxed-simd" : "simd128";
  assert.equal(detectWasmBuild(), expected);
  // Node has no Web Workers for a pool, so never the threaded build, whatever `threads` says.
  assert.equal(detectWasmBuild(8), expected);
  assert.equal(classifier.wasmBuild, expected);
  assert.equal(classifier.threads, 1);
  assert.equal((await classifier.classifyDetailed([g.texts[0].text])).length, 1);
});

test("a threads option that is not a positive integer is a readable error", async () => {
  const bundle = await bundleBytes("tiny-sentiment-q8_0.gguf");
  for (const threads of [0, -2, 1.5, "2", Number.NaN]) {
    await assert.rejects(loadFromBytes({ bundle }, { threads }), /threads must be a positive integer/, String(threads));
  }
  assert.equal((await loadFromBytes({ bundle }, { threads: 4 })).threads, 1);
});

test("device: auto runs on wasm where there is no WebGPU and says why; webgpu then fails to load", async () => {
  const bundle = await bundleBytes("tiny-sentiment-q8_0.gguf");
  const auto = await loadFromBytes({ bundle });
  assert.equal(auto.device.requested, "auto");
  assert.equal(auto.device.device, "wasm");
  assert.equal(auto.device.adapter, null);
  assert.match(auto.device.reason, /no WebGPU adapter/);
  const cpu = await loadFromBytes({ bundle }, { device: "wasm" });
  assert.deepEqual(cpu.device, { requested: "wasm", device: "wasm", adapter: null, gpuMinTokens: null, gpuWeights: null, gpuWeightBytes: null, reason: null });
  const texts = ["Great!", "Awful service", "It is a table."];
  assert.deepEqual(await auto.classifyDetailed(texts), await cpu.classifyDetailed(texts));
  await assert.rejects(loadFromBytes({ bundle }, { device: "webgpu" }), /no WebGPU adapter/);
  await assert.rejects(loadFromBytes({ bundle }, { device: "gpu" }), /device must be "auto", "wasm" or "webgpu", got "gpu"/);
});

// Recorded from transformers.js itself on tiny-sentiment (tests/fixtures/transformers-js/record.sh).
const transformersJs = async () =>
  JSON.parse(await readFile(new URL("../../../tests/fixtures/transformers-js/tiny-sentiment.json", import.meta.url), "utf8"));

/** `ours` has the nesting, lengths and labels of `theirs`, and scores within `tolerance`. */
function assertSameAnswer(ours, theirs, tolerance, what) {
  if (Array.isArray(theirs)) {
    assert.ok(Array.isArray(ours), `${what}: an array`);
    assert.equal(ours.length, theirs.length, `${what}: length`);
    theirs.forEach((t, i) => assertSameAnswer(ours[i], t, tolerance, `${what}[${i}]`));
    return;
  }
  assert.deepEqual(Object.keys(ours).sort(), Object.keys(theirs).sort(), `${what}: keys`);
  assert.equal(ours.label, theirs.label, `${what}: label`);
  assert.ok(Math.abs(ours.score - theirs.score) <= tolerance, `${what}: score ${ours.score} vs ${theirs.score}`);
}

test("pipeline(): transformers.js' entry point, answers and progress events as transformers.js gives them", async () => {
  const record = await transformersJs();
  const files = {
    "/m/config.json": await bytes("tiny-sentiment", "config.json"),
    "/m/tokenizer.json": await bytes("tiny-sentiment", "tokenizer.json"),
    "/m/model.safetensors": await bytes("tiny-sentiment", "model.safetensors"),
    "/b/model.gguf": await bundleBytes("tiny-sentiment-q8_0.gguf"),
  };
  const server = await serve((url) => (files[url] ? { type: "application/octet-stream", body: files[url] } : undefined));
  const base = `http://127.0.0.1:${server.address().port}`;
  try {
    const events = [];
    const classifier = await pipeline("text-classification", `${base}/m/`, { progress_callback: (e) => events.push(e), device: "wasm", dtype: "fp32", cache: false });
    assert.equal(classifier.task, "text-classification");
    for (const [i, call] of record.calls.entries()) {
      const answer = call.options === null ? await classifier(call.input) : await classifier(call.input, call.options);
      assertSameAnswer(answer, call.output, 1e-4, `call ${i} ${JSON.stringify(call.options)}`);
    }

    // Every event has the keys, and key types, that transformers.js gives for its status.
    const shapesOf = new Map();
    for (const shape of record.progress_event_shapes) shapesOf.set(shape.status, Object.keys(shape).sort().map((k) => `${k}:${shape[k]}`));
    const typed = (e) => Object.keys(e).sort().map((k) => `${k}:${k === "status" ? e.status : typeof e[k]}`);
    for (const e of events) assert.deepEqual(typed(e), shapesOf.get(e.status), `event ${JSON.stringify(e)}`);
    assert.deepEqual(new Set(events.map((e) => e.status)), new Set(shapesOf.keys()), "the same kinds of event");
    for (const e of events.filter((e) => e.status !== "ready")) assert.equal(e.name, `${base}/m/`);
    for (const file of ["config.json", "tokenizer.json", "model.safetensors"]) {
      const order = ["initiate", "download", "done"].map((status) => events.findIndex((e) => e.status === status && e.file === file));
      assert.ok(order[0] >= 0 && order[0] < order[1] && order[1] < order[2], `${file}: initiate, download, done in order`);
    }
    const total = events.filter((e) => e.status === "progress_total").at(-1);
    assert.equal(total.progress, 100);
    assert.equal(total.loaded, total.total);
    assert.deepEqual(events.at(-1), { status: "ready", task: "text-classification", model: `${base}/m/` });
    await classifier.dispose();
    await assert.rejects(classifier("still there?"), /disposed/);

    // A bundle with its dtype; the alias task; clear errors for what this package does not do.
    const int8 = await pipeline("sentiment-analysis", `${base}/b/model.gguf`, { dtype: "q8", cache: false });
    assert.equal(int8.classifier.precision, "q8_0");
    assert.equal((await int8(["good", "bad"])).length, 2);
    await int8.dispose();
    await assert.rejects(pipeline("text-generation", `${base}/m/`), /runs the "text-classification" and "sentiment-analysis" tasks, not "text-generation"/);
    await assert.rejects(pipeline("text-classification", `${base}/m/`, { revision: "main" }), /does not take "revision"/);
    await assert.rejects(pipeline("text-classification", `${base}/m/`, { device: "webnn" }), /device "webnn" is not available/);
    // transformers.js' "gpu" is WebGPU, which Node lacks: the reason, not a silent CPU.
    await assert.rejects(pipeline("text-classification", `${base}/m/`, { device: "gpu", cache: false }), /no WebGPU adapter/);
    assert.equal((await pipeline("text-classification", `${base}/m/`, { device: "cpu", cache: false })).classifier.device.requested, "wasm");
    await assert.rejects(pipeline("text-classification", `${base}/m/`, { dtype: "q8", cache: false }), /is f32, not the q8 asked for/);
    await assert.rejects(pipeline("text-classification", `${base}/m/`, { dtype: "bnb4" }), /dtype "bnb4" is not one of/);
  } finally {
    server.close();
  }
});
