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

import type { LoadOptions, ModelBytes, ProgressEvent } from "./types.js";

export const DEFAULT_CACHE = "xlmr-sentiment";

interface FileSpec {
  name: string;
  json: boolean;
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
  if (spec.json) {
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

/** Downloads (or reads from cache) the three files under `baseUrl`. */
export async function fetchModel(baseUrl: string | URL, options: LoadOptions = {}): Promise<ModelBytes> {
  const fetchFn = options.fetch ?? globalThis.fetch.bind(globalThis);
  const base = folderUrl(baseUrl);
  const specs: FileSpec[] = [
    { name: "config.json", json: true },
    { name: "tokenizer.json", json: true },
    { name: options.weights ?? "model.safetensors", json: false },
  ];
  const cache = await openCache(options.cache ?? DEFAULT_CACHE);
  const progress = specs.map(() => ({ loaded: 0, total: 0 }));
  const emit = (i: number, status: ProgressEvent["status"], cached?: boolean) => {
    const overall = progress.reduce((a, p) => ({ loaded: a.loaded + p.loaded, total: a.total + p.total }), {
      loaded: 0,
      total: 0,
    });
    options.onProgress?.({ status, file: specs[i].name, ...progress[i], overall, cached });
  };

  const load = async (spec: FileSpec, i: number): Promise<Uint8Array> => {
    const url = new URL(spec.name, base).href;
    emit(i, "initiate");
    if (cache) {
      const hit = await cache.match(url).catch(() => undefined);
      if (hit) {
        try {
          const bytes = new Uint8Array(await hit.arrayBuffer());
          validate(spec, bytes, hit.headers.get("content-type"));
          progress[i] = { loaded: bytes.byteLength, total: bytes.byteLength };
          emit(i, "done", true);
          return bytes;
        } catch {
          await cache.delete(url).catch(() => false); // corrupt entry: evict, fetch again
        }
      }
    }
    emit(i, "download");
    const response = await fetchFn(url);
    if (!response.ok) throw new Error(`${spec.name}: HTTP ${response.status} from ${url}`);
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
        await cache.put(url, new Response(bytes as unknown as BodyInit, { headers }));
      } catch {
        // QuotaExceededError and friends: keep going from memory.
      }
    }
    emit(i, "done", false);
    return bytes;
  };

  const [config, tokenizer, weights] = await Promise.all(specs.map(load));
  return { config, tokenizer, weights };
}

/** Deletes every cached file of the model under `baseUrl` (or the whole cache without it). */
export async function clearCache(baseUrl?: string | URL, cacheName: string = DEFAULT_CACHE): Promise<void> {
  if (typeof caches === "undefined") return;
  if (baseUrl === undefined) {
    await caches.delete(cacheName);
    return;
  }
  const cache = await caches.open(cacheName);
  const prefix = folderUrl(baseUrl).href;
  for (const request of await cache.keys()) {
    if (request.url.startsWith(prefix)) await cache.delete(request);
  }
}
