// The demo page: the npm package's worker form (the model never runs on this page's thread),
// fed from a model next to the page (./model/) or from ?model=URL (a folder or a .gguf bundle).
// Everything is same-origin static files: the text typed here never leaves the browser.
import { loadInWorker } from "./xlmr-sentiment/dist/worker-client.js";
import { barItem, scoreBars } from "./ui/score-bars.js";
import { languageName, languageNote } from "./ui/language-note.js";

const $ = (id) => document.getElementById(id);
const query = new URLSearchParams(location.search);
const modelUrl = query.get("model") ?? "./model/";
// The trained languages of a model that does not record them (e.g. ?languages=en,fr,de).
const givenLanguages = query.get("languages")?.split(",").map((code) => code.trim()).filter(Boolean);
// Where the model runs: ?device=auto (the default: WebGPU where it is faster), wasm or webgpu.
const DEVICES = ["auto", "wasm", "webgpu"];
const device = DEVICES.includes(query.get("device")) ? query.get("device") : "auto";
const DEBOUNCE_MS = 250;
// Batch limits: beyond these a file is refused with a message rather than freezing the tab.
const MAX_FILE_BYTES = 50e6;
const MAX_TEXTS = 100_000;
const BATCH_CHUNK = 16;
// On the GPU a batch must be large to pay off, so each call there takes more texts.
const GPU_BATCH_CHUNK = 128;
// On by default here: a person reads the result (see "Language coverage" in the README).
const CLASSIFY_OPTIONS = { language: true };

const megabytes = (bytes) => (bytes / 1e6).toFixed(1);

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
  $("bars").replaceChildren(...scoreBars(prediction.scores));
  const truncated = prediction.truncated ? " (cut to the model's 512-token limit)" : "";
  $("timing").textContent = `${milliseconds.toFixed(0)} ms for this text, ${prediction.tokens} tokens${truncated}`;
  const note = $("language-note");
  note.textContent = languageNote(prediction) ?? "";
  note.hidden = !note.textContent;
}

/** RFC 4180 CSV: quoted fields may hold commas, doubled quotes and line breaks. */
export function parseCsv(text) {
  const rows = [];
  let row = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text[i + 1] === "\n") i++;
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

/** The texts of an opened file: a .csv's `text` column (else its first; the first row is its
 * header), or a .txt's lines. Empty texts are skipped. */
function textsOfFile(name, content) {
  if (/\.csv$/i.test(name)) {
    const [header = [], ...rows] = parseCsv(content);
    const named = header.findIndex((h) => h.trim().toLowerCase() === "text");
    const column = named >= 0 ? named : 0;
    return rows.map((r) => r[column] ?? "").filter((t) => t.trim());
  }
  return content.split(/\r?\n/).filter((t) => t.trim());
}

const csvField = (value) => {
  const text = String(value ?? "");
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
};

/** Says where the model runs and why, and lets the reader reload the page on another device. */
function showDevice(info) {
  const gpu = info.adapter ? ` (${info.adapter.name})` : "";
  $("device-status").textContent =
    info.device === "webgpu"
      ? `Runs on the GPU through WebGPU${gpu}` +
        (info.gpuMinTokens ? `, for batches of at least ${info.gpuMinTokens} tokens; smaller ones run in WebAssembly.` : ".")
      : `Runs in WebAssembly on the CPU${info.reason ? `: ${info.reason}` : "."}`;
  const choice = $("device");
  choice.value = info.requested;
  choice.disabled = false;
}

async function main() {
  $("device").value = device;
  $("device").addEventListener("change", (event) => {
    const next = new URL(location.href);
    next.searchParams.set("device", event.target.value);
    location.assign(next);
  });
  const reason = unsupportedReason();
  if (reason) return showError(reason);
  let classifier;
  const started = performance.now();
  try {
    classifier = await loadInWorker(modelUrl, { onProgress, device, ...(givenLanguages ? { languages: givenLanguages } : {}) });
  } catch (error) {
    // The reader can still pick another device (say wasm after webgpu found no adapter).
    $("device").disabled = false;
    return showError(
      `Could not load the model from ${modelUrl} on ${device === "auto" ? "any device" : device}: ${error.message}. ` +
        (device === "webgpu" ? "Pick WebAssembly in Device to run on the CPU instead, or: " : "") +
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
    `WebAssembly build: ${classifier.wasmBuild}` +
    (classifier.threads > 1 ? `, ${classifier.threads} threads.` : " (one thread; serve the page cross-origin isolated for more).");
  details.hidden = false;
  showDevice(classifier.device);
  document.body.dataset.model = "ready";

  setUpBatch(classifier);
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
        const [prediction] = await classifier.classifyDetailed([text], CLASSIFY_OPTIONS);
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

function setUpBatch(classifier) {
  const labels = classifier.labels;
  let results = [];
  let sort = { key: "index", ascending: true };
  const status = $("batch-status");
  const progress = $("batch-progress");
  for (const id of ["batch-text", "batch-file", "batch-run"]) $(id).disabled = false;

  const columns = [
    { key: "index", title: "#", value: (r) => r.index + 1, number: true },
    { key: "text", title: "Text", value: (r) => r.text },
    { key: "label", title: "Label", value: (r) => r.label },
    ...labels.map((label, j) => ({ key: `score:${label}`, title: label, value: (r) => r.scores[j].score, number: true, percent: true })),
    { key: "language", title: "Language", value: (r) => r.language ?? "" },
  ];

  function renderTable() {
    const column = columns.find((c) => c.key === sort.key);
    const sorted = [...results].sort((a, b) => {
      const [x, y] = [column.value(a), column.value(b)];
      const order = typeof x === "number" ? x - y : String(x).localeCompare(String(y));
      return sort.ascending ? order : -order;
    });
    $("batch-head").replaceChildren(
      ...columns.map((c) => {
        const th = document.createElement("th");
        th.scope = "col";
        if (c.key === sort.key) th.setAttribute("aria-sort", sort.ascending ? "ascending" : "descending");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = c.title;
        button.dataset.sort = c.key;
        button.addEventListener("click", () => {
          sort = { key: c.key, ascending: sort.key === c.key ? !sort.ascending : true };
          renderTable();
          $("batch-head").querySelector(`[data-sort="${CSS.escape(c.key)}"]`).focus();
        });
        th.append(button);
        return th;
      }),
    );
    $("batch-body").replaceChildren(
      ...sorted.map((r) => {
        const tr = document.createElement("tr");
        for (const c of columns) {
          const td = document.createElement("td");
          const value = c.value(r);
          td.textContent = c.percent ? `${(100 * value).toFixed(1)}%` : String(value);
          if (c.key === "language" && r.languageSupported === false) td.textContent += " (not trained on)";
          td.className = c.number ? "number" : c.key === "text" ? "text" : "";
          td.dataset.column = c.key;
          tr.append(td);
        }
        return tr;
      }),
    );
    $("batch-table").hidden = results.length === 0;
  }

  // Label counts over all texts, then per detected language (most texts first): bars for a glance,
  // each with its count and share as text, so a screen reader hears what the bars show.
  function renderSummary() {
    const groups = [{ key: "all", title: `All ${results.length} texts`, rows: results }];
    const byLanguage = new Map();
    for (const r of results) {
      const key = r.language ?? "unknown";
      if (!byLanguage.has(key)) byLanguage.set(key, []);
      byLanguage.get(key).push(r);
    }
    for (const [key, rows] of [...byLanguage].sort((a, b) => b[1].length - a[1].length || a[0].localeCompare(b[0]))) {
      const name = key === "unknown" ? "Language not detected" : languageName(key);
      const untrained = rows[0].languageSupported === false ? ", not trained on" : "";
      groups.push({ key, title: `${name} (${rows.length} ${rows.length === 1 ? "text" : "texts"}${untrained})`, rows });
    }
    $("batch-summary-groups").replaceChildren(
      ...groups.map(({ key, title, rows }) => {
        const group = document.createElement("div");
        group.className = "summary-group";
        group.dataset.group = key;
        const heading = document.createElement("h4");
        heading.textContent = title;
        const list = document.createElement("ul");
        list.className = "bars counts";
        list.append(
          ...labels.map((label) => {
            const count = rows.filter((r) => r.label === label).length;
            const percent = ((100 * count) / rows.length).toFixed(0);
            const item = barItem(label, count / rows.length, `${label}: ${count} of ${rows.length} texts, ${percent} percent`, `${count} (${percent}%)`);
            item.dataset.count = String(count);
            return item;
          }),
        );
        group.append(heading, list);
        return group;
      }),
    );
    $("batch-summary").hidden = results.length === 0;
  }

  async function classifyAll(texts) {
    if (texts.length === 0) {
      status.textContent = "There is nothing to classify: give one text per line, or open a file.";
      return;
    }
    if (texts.length > MAX_TEXTS) {
      status.textContent = `${texts.length.toLocaleString()} texts is more than this page takes at once (${MAX_TEXTS.toLocaleString()}); split the file.`;
      return;
    }
    $("batch-run").disabled = $("batch-export").disabled = true;
    progress.hidden = false;
    progress.value = 0;
    results = [];
    const started = performance.now();
    try {
      const step = classifier.device.device === "webgpu" ? GPU_BATCH_CHUNK : BATCH_CHUNK;
      for (let i = 0; i < texts.length; i += step) {
        const chunk = texts.slice(i, i + step);
        const predictions = await classifier.classifyDetailed(chunk, { ...CLASSIFY_OPTIONS, batchSize: step });
        predictions.forEach((p, j) => results.push({ index: i + j, text: chunk[j], ...p }));
        progress.value = Math.round((100 * results.length) / texts.length);
        status.textContent = `Classified ${results.length} of ${texts.length} texts…`;
      }
      const seconds = (performance.now() - started) / 1000;
      const unsupported = results.filter((r) => r.languageSupported === false).length;
      status.textContent =
        `${results.length} texts in ${seconds.toFixed(1)} s (${((1000 * seconds) / results.length).toFixed(0)} ms per text).` +
        (unsupported ? ` ${unsupported} in languages the model was not trained on.` : "");
      $("batch-export").disabled = false;
    } catch (error) {
      status.textContent = `Could not classify the texts: ${error.message}`;
    } finally {
      progress.hidden = true;
      $("batch-run").disabled = false;
      renderTable();
      renderSummary();
      document.body.dataset.batch = String(Number(document.body.dataset.batch ?? 0) + 1);
    }
  }

  $("batch-run").addEventListener("click", () => classifyAll($("batch-text").value.split(/\r?\n/).filter((t) => t.trim())));
  $("batch-file").addEventListener("change", async () => {
    const file = $("batch-file").files[0];
    if (!file) return;
    if (file.size > MAX_FILE_BYTES) {
      status.textContent = `${file.name} is too large (${megabytes(file.size)} MB; this page takes files up to ${megabytes(MAX_FILE_BYTES)} MB).`;
      document.body.dataset.batch = String(Number(document.body.dataset.batch ?? 0) + 1);
      return;
    }
    await classifyAll(textsOfFile(file.name, await file.text()));
  });
  $("batch-export").addEventListener("click", () => {
    const header = ["text", "label", ...labels, "language", "language_supported"];
    const lines = [header, ...results.map((r) => [r.text, r.label, ...r.scores.map((s) => s.score), r.language ?? "", r.languageSupported ?? ""])];
    const csv = lines.map((line) => line.map(csvField).join(",")).join("\r\n") + "\r\n";
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([csv], { type: "text/csv" }));
    link.download = "sentiment.csv";
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
}

// Later visits open from the service worker's copy of the page, offline too (sw.js).
if ("serviceWorker" in navigator && location.protocol !== "file:") {
  navigator.serviceWorker.register("./sw.js").catch((error) => console.warn("offline use is not available:", error.message));
}

main();
