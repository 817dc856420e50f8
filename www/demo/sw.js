// The demo's service worker: keeps the page's own files (the list build.sh writes to shell.json)
// so the page opens and works offline on later visits. The model is not its business: the
// package keeps the model files in Cache Storage itself, so they are passed through untouched
// (caching them here too would store the model twice).
const PREFIX = "xlmr-sentiment-demo-";

async function shell() {
  const response = await fetch("./shell.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`shell.json: HTTP ${response.status}`);
  return response.json();
}

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const { version, files } = await shell();
      const cache = await caches.open(PREFIX + version);
      await cache.addAll(files.map((file) => new URL(file, self.registration.scope).href));
      await self.skipWaiting();
    })(),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      // Only the newest shell's cache stays; the model's cache has another name.
      const { version } = await shell().catch(() => ({ version: null }));
      if (version) {
        for (const name of await caches.keys()) {
          if (name.startsWith(PREFIX) && name !== PREFIX + version) await caches.delete(name);
        }
      }
      await self.clients.claim();
    })(),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  event.respondWith(
    (async () => {
      // The page itself is asked for as "/" or "/index.html", with or without ?model=...
      const key = url.pathname.endsWith("/") ? new URL("index.html", url).href : url.origin + url.pathname;
      for (const name of await caches.keys()) {
        if (!name.startsWith(PREFIX)) continue;
        const hit = await (await caches.open(name)).match(key);
        if (hit) return hit;
      }
      return fetch(event.request);
    })(),
  );
});
