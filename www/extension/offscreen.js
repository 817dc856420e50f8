// The offscreen document: loads the model that ships inside the extension (model.json says where)
// into a Web Worker once, and answers the service worker's classify messages.
import { loadInWorker } from "./xlmr-sentiment/dist/worker-client.js";

let classifier;
function model() {
  classifier ??= (async () => {
    const { path, languages } = await (await fetch("./model.json")).json();
    // A local file: nothing to keep in Cache Storage. `auto`: WebGPU for the batches where it is
    // faster (a whole page's paragraphs), WebAssembly for a short selection.
    return loadInWorker(new URL(path, location.href).href, { cache: false, device: "auto", ...(languages ? { languages } : {}) });
  })();
  classifier.catch(() => (classifier = undefined));
  return classifier;
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.target !== "offscreen") return false;
  if (message.type === "engine") {
    // Which build and how many threads the model runs on (the manifest's COOP/COEP keys make
    // this document cross-origin isolated, so its worker gets the threaded build).
    model()
      .then((c) => reply({ wasmBuild: c.wasmBuild, threads: c.threads, device: c.device, crossOriginIsolated: self.crossOriginIsolated }))
      .catch((error) => reply({ error: error.message }));
    return true;
  }
  if (message.type !== "classify") return false;
  model()
    .then((c) => c.classifyDetailed(message.texts, { language: true }))
    .then((predictions) => reply({ predictions }), (error) => reply({ error: error.message }));
  return true;
});
