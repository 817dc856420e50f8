// The demo page: the npm package's worker form (the model never runs on this page's thread),
// fed from a model next to the page (./model/) or from ?model=URL (a folder or a .gguf bundle).
// Everything is same-origin static files: the text typed here never leaves the browser.
import { loadInWorker } from "./xlmr-sentiment/dist/worker-client.js";

const $ = (id) => document.getElementById(id);
const modelUrl = new URLSearchParams(location.search).get("model") ?? "./model/";
const DEBOUNCE_MS = 250;

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);
const languageNames = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames([navigator.language || "en"], { type: "language" }) : null;
const languageName = (code) => {
  try {
    return languageNames?.of(code) ?? code;
  } catch {
    return code;
  }
};

function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
  $("model-status").textContent = "The model is not available.";
  $("load-progress").hidden = true;
}

/** What the page needs from the browser, as a readable reason when something is missing. */
function unsupportedReason() {
  if (typeof WebAssembly !== "object") return "This browser cannot run WebAssembly.";
  // v128.const 0 in a function returning v128: the SIMD the package's builds need.
  const simd = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 22, 1, 20, 0, 253, 12, ...new Array(16).fill(0), 11]);
  if (!WebAssembly.validate(simd)) return "This browser has no WebAssembly SIMD (Chrome 91+, Firefox 89+, Safari 16.4+ have it).";
  if (typeof Worker !== "function") return "This browser has no Web Workers.";
  return null;
}

function onProgress(event) {
  const bar = $("load-progress");
  const { loaded, total } = event.overall;
  if (event.status === "progress" && total > 0) {
    const percent = Math.min(100, Math.round((100 * loaded) / total));
    bar.value = percent;
    $("model-status").textContent = `Downloading the model: ${megabytes(loaded)} of ${megabytes(total)} MB (${percent}%)`;
  } else if (event.status === "done" && event.cached) {
    $("model-status").textContent = "Loading the model from this browser's cache…";
  } else if (event.status === "ready") {
    bar.value = 100;
  }
}

function renderPrediction(prediction, milliseconds) {
  $("label").textContent = prediction.label;
  const bars = $("bars");
  bars.replaceChildren(
    ...prediction.scores.map(({ label, score }) => {
      const item = document.createElement("li");
      const name = document.createElement("span");
      name.textContent = label;
      const bar = document.createElement("span");
      bar.className = "bar";
      bar.setAttribute("role", "img");
      bar.setAttribute("aria-label", `${label}: ${(100 * score).toFixed(1)} percent`);
      const fill = document.createElement("span");
      fill.style.width = `${(100 * score).toFixed(1)}%`;
      bar.append(fill);
      const value = document.createElement("span");
      value.textContent = `${(100 * score).toFixed(1)}%`;
      value.setAttribute("aria-hidden", "true");
      item.append(name, bar, value);
      item.dataset.label = label;
      item.dataset.score = String(score);
      return item;
    }),
  );
  const truncated = prediction.truncated ? " (cut to the model's 512-token limit)" : "";
  $("timing").textContent = `${milliseconds.toFixed(0)} ms for this text, ${prediction.tokens} tokens${truncated}`;
}

async function main() {
  const reason = unsupportedReason();
  if (reason) return showError(reason);
  let classifier;
  const started = performance.now();
  try {
    classifier = await loadInWorker(modelUrl, { onProgress });
  } catch (error) {
    return showError(
      `Could not load the model from ${modelUrl}: ${error.message}. ` +
        "Put the model's config.json, tokenizer.json and model.safetensors in the model/ folder next to this page, " +
        "or open the page with ?model= and the address of a model folder or a .gguf bundle.",
    );
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  $("model-status").textContent = `Model ready in ${seconds} s.`;
  $("load-progress").hidden = true;
  const details = $("model-details");
  const languages = classifier.trainedLanguages;
  details.textContent =
    `Labels: ${classifier.labels.join(", ")}. ` +
    (languages?.length ? `Trained on ${languages.map(languageName).join(", ")}; other languages may work less well. ` : "") +
    (classifier.precision ? `Weights: ${classifier.precision}. ` : "") +
    `WebAssembly build: ${classifier.wasmBuild}.`;
  details.hidden = false;
  document.body.dataset.model = "ready";

  const textBox = $("text");
  textBox.disabled = false;
  let timer;
  let latest = 0;
  textBox.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const text = textBox.value;
      const request = ++latest;
      if (!text.trim()) {
        $("label").textContent = "";
        $("bars").replaceChildren();
        $("timing").textContent = "";
        return;
      }
      try {
        const t0 = performance.now();
        const [prediction] = await classifier.classifyDetailed([text]);
        // A slower answer to an older text must not overwrite a newer one.
        if (request === latest) renderPrediction(prediction, performance.now() - t0);
      } catch (error) {
        if (request === latest) showError(`Could not classify this text: ${error.message}`);
      }
      document.body.dataset.classified = String(request);
    }, DEBOUNCE_MS);
  });
  textBox.focus();
}

main();
