/**
 * Fetches a model's files with progress events and keeps them in Cache Storage, so a later load
 * makes no network request for them. Falls back to memory when Cache Storage is missing or full.
 *
 * Peers' trackers show two traps this avoids: a dev server answering a missing file with 200 and
 * its index.html, which then gets cached as the model (transformers.js #1187), and a corrupt
 * cached entry breaking every later load (transformers #39352). Every response is checked
 * (status, type, size, JSON that parses) before it is cached, and a cached entry that fails the
 * same check is evicted and fetched again.
 */

import { CONFIG_FILE, SENTENCEPIECE_FILE, TOKENIZER_FILE, WEIGHT_FILES } from "./files.js";
import type { LoadOptions, ModelFiles, ProgressEvent } from "./types.js";

/** Whether `url` names a bundle (a `.gguf` file) rather than a model folder. */
export function isBundleUrl(url: string | URL): boolean {
  return new URL(String(url), globalThis.location?.href ?? "http://localhost/").pathname.toLowerCase().endsWith(".gguf");
}

export const DEFAULT_CACHE = "xlmr-sentiment";

interface FileSpec {
  name: string;
  url: string;
  kind: "json" | "weights" | "bundle" | "sentencepiece";
}

/** `baseUrl` as an absolute folder URL (with a trailing slash), resolved against the page. */
function folderUrl(baseUrl: string | URL): URL {
  const text = String(baseUrl);
  return new URL(text.endsWith("/") ? text : `${text}/`, globalThis.location?.href);
}

/** Throws unless `bytes` can be the file `spec` describes. */
function validate(spec: FileSpec, bytes: Uint8Array, contentType: string | null): void {
  if (bytes.byteLength === 0) throw new Error(`${spec.name} is empty`);
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart().toLowerCase();
  if ((contentType ?? "").includes("text/html") || head.startsWith("<!doctype") || head.startsWith("<html")) {
    throw new Error(`${spec.name}: the server answered with an HTML page, not the model file`);
  }
  if (spec.kind === "bundle" && new TextDecoder().decode(bytes.subarray(0, 4)) !== "GGUF") {
    throw new Error(`${spec.name} is not a model bundle (a GGUF file written by xlmr-sentiment pack)`);
  }
  if (spec.kind === "json") {
    try {
      JSON.parse(new TextDecoder().decode(bytes));
    } catch (e) {
      throw new Error(`${spec.name} is not valid JSON: ${(e as Error).message}`);
    }
  }
}

async function openCache(name: string | false): Promise<Cache | undefined> {
  if (name === false || typeof caches === "undefined") return undefined;
  try {
    return await caches.open(name);
  } catch {
    return undefined; // e.g. opaque origins, or storage disabled: memory only
  }
}

/** Reads a response body, reporting progress as chunks arrive. */
async function readBody(response: Response, onChunk: (loaded: number) => void): Promise<Uint8Array> {
  const length = Number(response.headers.get("content-length") ?? 0);
  if (!response.body) {
    const bytes = new Uint8Array(await response.arrayBuffer());
    onChunk(bytes.byteLength);
    return bytes;
  }
  const reader = response.body.getReader();
  // Preallocate when the size is known, so a large file is never held twice while reading.
  let buffer = new Uint8Array(length > 0 ? length : 1 << 20);
  let loaded = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (loaded + value.byteLength > buffer.byteLength) {
      const grown = new Uint8Array(Math.max(buffer.byteLength * 2, loaded + value.byteLength));
      grown.set(buffer.subarray(0, loaded));
      buffer = grown;
    }
    buffer.set(value, loaded);
    loaded += value.byteLength;
    onChunk(loaded);
  }
  return loaded === buffer.byteLength ? buffer : buffer.slice(0, loaded);
}

/** A folder's files, and which tokenizer file it had. */
export interface FetchedModel {
  files: ModelFiles;
  /** `tokenizer.json`, or `sentencepiece.bpe.model` (then `files.tokenizer` holds that). */
  tokenizerFile: string;
}

/**
 * Downloads (or reads from cache) the three files of the model folder at `url`, each the first
 * of its names the folder has, as natively: `tokenizer.json` else `sentencepiece.bpe.model`;
 * `model.safetensors` else `pytorch_model.bin` (or `options.weights`).
 */
export async function fetchModel(url: string | URL, options: LoadOptions = {}): Promise<FetchedModel> {
  const base = folderUrl(url);
  const spec = (name: string, kind: FileSpec["kind"]): FileSpec => ({ name, url: new URL(name, base).href, kind });
  const weights = options.weights ? [options.weights] : WEIGHT_FILES;
  const [config, tokenizer, weightsFile] = await fetchFiles(
    [
      [spec(CONFIG_FILE, "json")],
      [spec(TOKENIZER_FILE, "json"), spec(SENTENCEPIECE_FILE, "sentencepiece")],
      weights.map((name) => spec(name, "weights")),
    ],
    options,
  );
  return {
    files: { config: config.bytes, tokenizer: tokenizer.bytes, weights: weightsFile.bytes },
    tokenizerFile: tokenizer.spec.name,
  };
}

/**
 * Fetches one file per entry of `choices`: the first of its candidate names found in the cache,
 * else the first the server has (a 404 moves on to the next name).
 */
async function fetchFiles(
  choices: FileSpec[][],
  options: LoadOptions,
): Promise<{ spec: FileSpec; bytes: Uint8Array }[]> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const cache = await openCache(options.cache ?? DEFAULT_CACHE);
  const progress = choices.map(() => ({ loaded: 0, total: 0 }));
  const current = choices.map((candidates) => candidates[0].name);
  const emit = (i: number, status: ProgressEvent["status"], cached?: boolean) => {
    const overall = progress.reduce((a, p) => ({ loaded: a.loaded + p.loaded, total: a.total + p.total }), {
      loaded: 0,
      total: 0,
    });
    options.onProgress?.({ status, file: current[i], ...progress[i], overall, cached });
  };

  const load = async (candidates: FileSpec[], i: number): Promise<{ spec: FileSpec; bytes: Uint8Array }> => {
    emit(i, "initiate");
    if (cache) {
      for (const spec of candidates) {
        const hit = await cache.match(spec.url).catch(() => undefined);
        if (!hit) continue;
        try {
          const bytes = new Uint8Array(await hit.arrayBuffer());
          validate(spec, bytes, hit.headers.get("content-type"));
          current[i] = spec.name;
          progress[i] = { loaded: bytes.byteLength, total: bytes.byteLength };
          emit(i, "done", true);
          return { spec, bytes };
        } catch {
          await cache.delete(spec.url).catch(() => false); // corrupt entry: evict, fetch again
        }
      }
    }
    for (const [k, spec] of candidates.entries()) {
      current[i] = spec.name;
      emit(i, "download");
      const response = await fetchFn(spec.url);
      if (response.status === 404 && k + 1 < candidates.length) continue;
      if (!response.ok) {
        const tried = candidates.length > 1 ? ` (tried ${candidates.map((c) => c.name).join(", ")})` : "";
        throw new Error(`${spec.name}: HTTP ${response.status} from ${spec.url}${tried}`);
      }
      progress[i].total = Number(response.headers.get("content-length") ?? 0);
      const contentType = response.headers.get("content-type");
      const bytes = await readBody(response, (loaded) => {
        progress[i].loaded = loaded;
        emit(i, "progress");
      });
      validate(spec, bytes, contentType);
      progress[i] = { loaded: bytes.byteLength, total: bytes.byteLength };
      if (cache) {
        try {
          const headers = { "content-type": contentType ?? "application/octet-stream", "content-length": String(bytes.byteLength) };
          await cache.put(spec.url, new Response(bytes as unknown as BodyInit, { headers }));
        } catch {
          // QuotaExceededError and friends: keep going from memory.
        }
      }
      emit(i, "done", false);
      return { spec, bytes };
    }
    throw new Error("no candidate file names"); // choices always hold at least one
  };

  return Promise.all(choices.map(load));
}

/**
 * Deletes the cached files of the model at `url` (a folder or a bundle), or the whole cache
 * without it.
 */
export async function clearCache(url?: string | URL, cacheName: string = DEFAULT_CACHE): Promise<void> {
  if (typeof caches === "undefined") return;
  if (url === undefined) {
    await caches.delete(cacheName);
    return;
  }
  const cache = await caches.open(cacheName);
  if (isBundleUrl(url)) {
    await cache.delete(new URL(String(url), globalThis.location?.href).href);
    return;
  }
  const prefix = folderUrl(url).href;
  for (const request of await cache.keys()) {
    if (request.url.startsWith(prefix)) await cache.delete(request);
  }
}

/**
 * Reads `blob` in order, `slice` bytes at a time, with reads running up to READ_AHEAD_BYTES
 * ahead, from the moment it is called.
 * (Reads run on this thread's event loop, so they make no progress while it works; a reader
 * worker that went on reading meanwhile made no load faster on two cores, the copying being
 * CPU work too.)
 */
function readAhead(blob: Blob, slice: number): { next(): Promise<ArrayBuffer> } {
  const reads: Promise<ArrayBuffer>[] = [];
  let requested = 0;
  const readMore = () => {
    while (reads.length * slice < READ_AHEAD_BYTES && requested < blob.size) {
      const read = blob.slice(requested, requested + slice).arrayBuffer();
      read.catch(() => undefined); // a read left behind by an error must not go unhandled
      reads.push(read);
      requested += slice;
    }
  };
  readMore(); // the first reads start at once
  return {
    next() {
      readMore();
      const read = reads.shift() ?? Promise.reject(new Error("read past the end of the blob"));
      readMore();
      return read;
    },
  };
}

/** Reads of `blob`, started now; small files still come in several slices (so a test bundle
 * exercises the same path). */
function slicesOf(blob: Blob): { next(): Promise<ArrayBuffer> } {
  return readAhead(blob, Math.min(SLICE_BYTES, Math.max(16 << 10, Math.ceil(blob.size / 16))));
}

/**
 * The largest read from a cached bundle, and how far reads run ahead of the sink. Each read is
 * a fresh buffer (page faults, IPC), so fewer, larger reads load faster, but the reads in hand
 * add to the renderer's peak. A full-size q8_0 bundle in a Chromium worker, cold load peak and
 * cached load: 8 MB reads 32 MB ahead 530-540 MB, 2.2-2.6 s; 16 MB / 32 MB 548-554 MB, 2.2-2.5
 * s; 16 / 64 568-604 MB; 32 / 64 580 MB, 2.0-2.2 s; 1 MB / 16 MB 2.8-3.3 s (Zen 3). The target
 * is a peak within twice the bundle (598 MB). On Zen 5 (`bench/browser-memory.mjs --isolated`,
 * five cold loads each, threaded build): 16 / 32 545-593 MB; 8 / 16 516-540 MB; 4 / 8 507-534
 * MB; the cached load stayed 0.80-0.83 s with 8 / 16 (`bench/browser.sh`).
 */
const SLICE_BYTES = 8 << 20;
const READ_AHEAD_BYTES = 16 << 20;

/** Where a streamed bundle goes, piece by piece (the wasm `BundleLoader`). */
export interface BundleSink<T> {
  /** Takes a piece (copying it); throws once the bundle proves damaged. */
  push(piece: Uint8Array): void;
  finish(): T;
}

/**
 * Streams the bundle at `url` into a fresh sink from `start(length)`, piece by piece, so the page
 * never holds the whole file: from Cache Storage when it is there, else downloaded into Cache
 * Storage and read back (without Cache Storage: in a browser, downloaded the same way but not
 * stored; elsewhere, as in Node, streamed straight from the network, a cut connection resumed
 * where it stopped). A cached copy
 * that fails to load is evicted and fetched again; a download that fails to load is not kept.
 * `start` is first called once `ready` (the wasm module's start) resolves: the cache lookup
 * and the first reads overlap it, and its failure is the caller's error, never the copy's.
 */
export async function streamBundle<T>(
  url: string | URL,
  options: LoadOptions,
  start: (length?: number) => BundleSink<T>,
  ready: Promise<unknown> = Promise.resolve(),
): Promise<T> {
  const href = new URL(String(url), globalThis.location?.href).href;
  const file = decodeURIComponent(href.split("?")[0].split("/").pop() ?? "bundle.gguf");
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const cache = await openCache(options.cache ?? DEFAULT_CACHE);
  const emit = (status: ProgressEvent["status"], loaded: number, total: number, cached?: boolean) =>
    options.onProgress?.({ status, file, loaded, total, overall: { loaded, total }, cached });

  /**
   * Downloads into a new sink as the bytes arrive, checking the first ones, then finishes it. A
   * connection cut mid-file (a network error, or fewer bytes than announced) is resumed where it
   * stopped: `Range: bytes=N-` (a server that ignores it sends the whole file again, whose first
   * N bytes are skipped), up to RANGE_ATTEMPTS times in a row at one byte.
   */
  const pourDownload = async (): Promise<T> => {
    await ready;
    // No length for the sink: a `content-length` counts the encoded bytes of a compressed
    // response, so it cannot promise how many will arrive.
    const sink = start();
    let loaded = 0;
    let total = 0;
    let head = new Uint8Array(0);
    for (let attempt = 1; ; attempt++) {
      const resumed = loaded > 0;
      const response = await fetchFn(href, resumed ? { headers: { range: `bytes=${loaded}-` } } : undefined);
      const partial = resumed && response.status === 206;
      if (!response.ok || (resumed && !partial && response.status !== 200)) {
        throw new Error(`${file}: HTTP ${response.status} from ${href}`);
      }
      if ((response.headers.get("content-type") ?? "").includes("text/html")) {
        throw new Error(`${file}: the server answered with an HTML page, not the model file`);
      }
      if (!response.body) throw new Error(`${file}: the response has no body`);
      // Only an unencoded response's length counts the bytes that arrive.
      const encoded = !["", "identity"].includes(response.headers.get("content-encoding") ?? "");
      const announced = encoded ? 0 : Number(response.headers.get("content-length") ?? 0);
      if (!resumed) total = announced;
      const rangeStart = Number(response.headers.get("content-range")?.match(/^bytes (\d+)-/)?.[1] ?? -1);
      if (partial && rangeStart !== loaded) throw new Error(`${file}: asked for byte ${loaded}, the server sent from byte ${rangeStart}`);
      let skip = resumed && !partial ? loaded : 0; // the whole file again
      const before = loaded;
      const reader = response.body.getReader();
      let cut: unknown;
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          let piece = value;
          if (skip > 0) {
            const dropped = Math.min(skip, piece.byteLength);
            skip -= dropped;
            piece = piece.subarray(dropped);
            if (piece.byteLength === 0) continue;
          }
          if (head.byteLength < 4) {
            head = new Uint8Array([...head, ...piece.subarray(0, 4 - head.byteLength)]);
            checkHead(file, head);
          }
          loaded += piece.byteLength;
          sink.push(piece);
          release(piece);
          emit("progress", loaded, total);
        }
      } catch (e) {
        await reader.cancel().catch(() => undefined);
        // The sink's and the head check's errors are the file's; only the network's is a cut.
        if (!(e instanceof TypeError)) throw e;
        cut = e;
      }
      if (!cut && total > 0 && loaded < total) cut = new Error(`${loaded} of ${total} bytes arrived`);
      if (!cut || encoded) {
        if (cut) throw new Error(`${file}: the download was cut at byte ${loaded}: ${(cut as Error).message}`);
        break;
      }
      if (loaded > before) attempt = 0; // progress: the count is of tries in a row at one byte
      else if (attempt >= RANGE_ATTEMPTS) {
        throw new Error(`${file}: the download was cut at byte ${loaded} ${attempt} times in a row: ${(cut as Error).message}`);
      }
    }
    if (loaded === 0) throw new Error(`${file} is empty`);
    const result = sink.finish();
    emit("done", loaded, loaded, false);
    return result;
  };

  /**
   * Pushes a blob (a cached copy, a download) into a new sink as `pieces` (its slices, see
   * `slicesOf`) come in, then finishes it, with progress events if `progress`. A Cache Storage
   * response's `blob()` is a handle on the stored file, not a read of it, and the slices are a
   * few large buffers where a stream reader's are thousands of small ones, which lingered until
   * garbage collection (Chromium: a load's renderer peak 100-250 MB higher). Each slice is
   * detached once copied (`release`): measured in a worker, the cold load's peak was 580 MB
   * with it and 636 MB without (32 MB slices), though in a test of blob reads alone detaching
   * kept them alive longer, so this is an empirical choice, checked by the bench.
   */
  const pourBlob = async (blob: Blob, pieces: { next(): Promise<ArrayBuffer> }, cached: boolean, progress: boolean): Promise<T> => {
    if (blob.size === 0) throw new Error(`${file} is empty`);
    // The exact length, so the sink puts each piece to work as it arrives.
    const sink = start(blob.size);
    for (let at = 0; at < blob.size; ) {
      const piece = new Uint8Array(await pieces.next());
      if (piece.byteLength === 0) throw new Error(`${file}: the cached copy ended at byte ${at}`);
      if (at === 0) checkHead(file, piece.subarray(0, 4));
      at += piece.byteLength;
      sink.push(piece);
      release(piece);
      if (progress) emit("progress", at, blob.size);
    }
    const result = sink.finish();
    emit("done", blob.size, blob.size, cached);
    return result;
  };

  emit("initiate", 0, 0);
  if (cache) {
    const hit = await cache.match(href).catch(() => undefined);
    if (hit?.body) {
      // A copy whose bytes cannot be read is as damaged as one that does not load.
      const blob = await hit.blob().catch(() => undefined);
      const pieces = blob && slicesOf(blob);
      await ready;
      try {
        if (blob && pieces) return await pourBlob(blob, pieces, true, false);
      } catch {
        // not loadable: evicted below
      }
      await cache.delete(href).catch(() => false); // damaged copy: evict, fetch again
    }
  }
  // A module that cannot start fails the load before any download.
  await ready;
  emit("download", 0, 0);
  if (!cache && inBrowser()) {
    // As below, minus the cache: the Blob's bytes stay in the browser's blob store, outside the
    // renderer. Streamed straight into the model instead, the response's small buffers waited
    // for the collector: the worker's renderer peaked at 1.55-1.77x a q8_0 bundle, against
    // 1.31x this way (`bench/browser-memory.mjs --no-cache`, Zen 5); the load from 127.0.0.1
    // took 1.64-1.69 s against 1.43-1.54 s, the loading no longer overlapping the download.
    const blob = await downloadInRanges(fetchFn, href, file, (loaded, total) => emit("progress", loaded, total));
    return pourBlob(blob, slicesOf(blob), false, false);
  }
  if (!cache) {
    // Straight into the model: outside a browser a Blob is held in this process anyway.
    return pourDownload();
  }

  // Download into a Blob (in ranges, with progress), store that Blob in Cache Storage, then
  // load from it. Teeing one response to the cache and the model at once would buffer whatever
  // the slower side has not taken yet: in Chromium, most of the file (2.7x the bundle).
  const blob = await downloadInRanges(fetchFn, href, file, (loaded, total) => emit("progress", loaded, total));
  const headers = { "content-type": blob.type, "content-length": String(blob.size) };
  await cache.put(href, new Response(blob, { headers })).catch(() => undefined); // a full cache: load anyway
  const pieces = slicesOf(blob);
  await ready;
  try {
    return await pourBlob(blob, pieces, false, false);
  } catch (e) {
    await cache.delete(href).catch(() => false); // not a loadable bundle: do not keep it
    throw e;
  }
}

/**
 * Frees a piece's memory now, once the sink has copied it: detaching its buffer (`transfer` to
 * an empty one) releases the backing store at once, where dropping the last reference leaves it
 * for the garbage collector, which in Chromium let a load's renderer peak swing by ~200 MB.
 */
function release(piece: Uint8Array): void {
  const buffer = piece.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
  if (piece.byteOffset === 0 && piece.byteLength === buffer.byteLength && typeof buffer.transfer === "function") {
    buffer.transfer(0);
  }
}

/**
 * Downloads `href` into a Blob, RANGE_BYTES at a time, with progress after each range. Each
 * range is read with `response.blob()`, which the browser fills itself, outside this thread's
 * heap; the whole file is a Blob of those parts. Read through a JS stream instead (the only way
 * to count bytes as they arrive), the file passed through this thread as ~300 MB of small
 * buffers that lingered until garbage collection: Chromium's renderer peaked 100-250 MB higher.
 * A server that ignores `Range` answers 200 with the whole file: one part, no progress before
 * the end. A range cut short (the connection dropped: a network error, or fewer bytes than it
 * should hold) is asked for again, up to RANGE_ATTEMPTS times; an HTTP error or an HTML page is
 * not. (Exported for the package's tests; not part of its API.)
 */
export async function downloadInRanges(
  fetchFn: typeof fetch,
  href: string,
  file: string,
  onProgress: (loaded: number, total: number) => void,
  rangeBytes = RANGE_BYTES,
): Promise<Blob> {
  const parts: Blob[] = [];
  let type = "application/octet-stream";
  let total = 0;
  for (let start = 0; ; ) {
    let got: { part: Blob; whole: boolean } | "end";
    for (let attempt = 1; ; attempt++) {
      try {
        got = await fetchRange(fetchFn, href, file, start, rangeBytes, total, (t) => (type = t), (n) => (total = n));
        break;
      } catch (e) {
        if (!(e instanceof CutShort || e instanceof TypeError) || attempt === RANGE_ATTEMPTS) {
          if (e instanceof CutShort || e instanceof TypeError) {
            throw new Error(`${file}: the download was cut at byte ${start} ${attempt} times in a row: ${(e as Error).message}`);
          }
          throw e;
        }
      }
    }
    if (got === "end") break;
    const { part, whole } = got;
    parts.push(part);
    start += part.size;
    onProgress(start, total);
    if (whole || part.size < rangeBytes || (total > 0 && start >= total)) break;
  }
  return new Blob(parts, { type });
}

/** A range that arrived with fewer bytes than it should hold: the connection was cut. */
class CutShort extends Error {}

/**
 * One range of a download from `start`: its bytes, whether the server sent the whole file
 * instead, or "end" past the last byte. The first range also reports the file's type and total
 * size (`setType`, `setTotal`).
 */
async function fetchRange(
  fetchFn: typeof fetch,
  href: string,
  file: string,
  start: number,
  rangeBytes: number,
  knownTotal: number,
  setType: (type: string) => void,
  setTotal: (total: number) => void,
): Promise<{ part: Blob; whole: boolean } | "end"> {
  const response = await fetchFn(href, { headers: { range: `bytes=${start}-${start + rangeBytes - 1}` } });
  // A file that ends exactly at a range boundary: the next range is unsatisfiable.
  if (response.status === 416 && start > 0 && (knownTotal === 0 || start === knownTotal)) return "end";
  const whole = start === 0 && response.status === 200;
  if (!whole && response.status !== 206) throw new Error(`${file}: HTTP ${response.status} from ${href}`);
  let total = knownTotal;
  if (start === 0) {
    const type = response.headers.get("content-type") ?? "application/octet-stream";
    if (type.includes("text/html")) throw new Error(`${file}: the server answered with an HTML page, not the model file`);
    setType(type);
    // `content-range: bytes 0-N/TOTAL` (readable cross-origin only if the server exposes it).
    total = Number(response.headers.get("content-range")?.match(/\/(\d+)$/)?.[1] ?? 0);
    if (whole) total = Number(response.headers.get("content-length") ?? 0);
    setTotal(total);
  }
  const part = await response.blob();
  // What the range must hold when the total is known; else what the response announced.
  const announced = Number(response.headers.get("content-length") ?? 0);
  const expected = total > 0 ? (whole ? total : Math.min(rangeBytes, total - start)) : announced;
  if (part.size < expected) throw new CutShort(`${part.size} of ${expected} bytes arrived`);
  return { part, whole };
}

/** Tries per range of a download before it fails (see `downloadInRanges`). */
const RANGE_ATTEMPTS = 4;

/**
 * Whether this runs in a browser's page or worker, where a Blob's bytes live in the browser's
 * blob store rather than in this process (Chromium's renderer, as measured); Node and other
 * runtimes hold them in the process.
 */
function inBrowser(): boolean {
  const scope = globalThis as { document?: unknown; WorkerGlobalScope?: unknown };
  return typeof scope.document !== "undefined" || typeof scope.WorkerGlobalScope !== "undefined";
}

/** Bytes per range request of a download. */
const RANGE_BYTES = 16 << 20;

/** Throws unless a bundle starts with GGUF's magic (an HTML page or another file does not). */
function checkHead(file: string, head: Uint8Array): void {
  const text = new TextDecoder().decode(head);
  if (head.byteLength >= 4 && text !== "GGUF") {
    const lower = text.toLowerCase();
    if (lower.startsWith("<") || lower.trimStart().startsWith("<")) {
      throw new Error(`${file}: the server answered with an HTML page, not the model file`);
    }
    throw new Error(`${file} is not a model bundle (a GGUF file written by xlmr-sentiment pack)`);
  }
}
