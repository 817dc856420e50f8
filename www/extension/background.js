// The extension's service worker: the context-menu item and the messages of the popup. The model
// does not run here: an MV3 service worker is stopped after about 30 s without events, which would
// throw the loaded model away and reload it (seconds) on the next selection. It runs in an
// offscreen document (offscreen.js), which lives as long as the extension keeps it, in a Web Worker
// there, so even that document's thread never blocks.
import { languageNote } from "./ui/language-note.js";

const OFFSCREEN_URL = "offscreen.html";
const MENU_ID = "classify-selection";

let creating;
async function ensureOffscreen() {
  if (await chrome.offscreen.hasDocument()) return;
  creating ??= chrome.offscreen
    .createDocument({ url: OFFSCREEN_URL, reasons: ["WORKERS"], justification: "Runs the sentiment model in a Web Worker." })
    .finally(() => (creating = undefined));
  await creating;
}

/** Every label's probability for each text, from the model in the offscreen document. */
async function classify(texts) {
  await ensureOffscreen();
  const answer = await chrome.runtime.sendMessage({ target: "offscreen", type: "classify", texts });
  if (!answer) throw new Error("the model did not answer");
  if (answer.error) throw new Error(answer.error);
  return answer.predictions;
}

/**
 * Shows a result next to the selection, in the page (injected by `chrome.scripting`, which the
 * activeTab permission allows for the tab the menu was used in, and only then). Self-contained:
 * it runs in the page, in a closed shadow root so the page's styles do not touch it.
 */
function showBubble(result) {
  document.getElementById("xlmr-sentiment-bubble")?.remove();
  const host = document.createElement("div");
  host.id = "xlmr-sentiment-bubble";
  const root = host.attachShadow({ mode: "open" });
  const selection = getSelection();
  const rect = selection && selection.rangeCount ? selection.getRangeAt(0).getBoundingClientRect() : { left: 16, bottom: 16 };
  const box = document.createElement("div");
  box.setAttribute("role", "status");
  box.setAttribute("aria-live", "polite");
  box.style.cssText = `position:fixed;z-index:2147483647;left:${Math.max(8, Math.min(rect.left, innerWidth - 280))}px;top:${Math.min(rect.bottom + 8, innerHeight - 120)}px;width:260px;background:#fff;color:#111;border:1px solid #888;border-radius:8px;padding:10px 12px;font:14px/1.4 system-ui,sans-serif;box-shadow:0 4px 16px #0003`;
  const title = document.createElement("strong");
  const body = document.createElement("div");
  if (result.error) {
    title.textContent = "Sentiment: not available";
    body.textContent = result.error;
  } else {
    const p = result.prediction;
    title.textContent = `Sentiment: ${p.label}`;
    title.dataset.label = p.label;
    body.textContent = p.scores.map((s) => `${s.label} ${(100 * s.score).toFixed(1)}%`).join(" · ");
    if (result.note) {
      const note = document.createElement("div");
      note.textContent = result.note;
      body.append(note);
    }
  }
  const close = document.createElement("button");
  close.textContent = "Close";
  close.style.cssText = "margin-top:6px;font:inherit";
  close.addEventListener("click", () => host.remove());
  box.append(title, body, close);
  root.append(box);
  addEventListener("keydown", function onKey(event) {
    if (event.key === "Escape") {
      host.remove();
      removeEventListener("keydown", onKey);
    }
  });
  document.documentElement.append(host);
}

/** The context-menu item: classify the selection, show the result next to it, keep it for the popup. */
async function onMenuClick(info, tab) {
  if (info.menuItemId !== MENU_ID || !info.selectionText) return undefined;
  let result;
  try {
    const [prediction] = await classify([info.selectionText]);
    // The note is written here: the bubble runs in the page and cannot import it.
    result = { text: info.selectionText, prediction, note: languageNote(prediction) };
  } catch (error) {
    result = { text: info.selectionText, error: error.message };
  }
  await chrome.storage.session.set({ lastSelection: result });
  try {
    await chrome.scripting.executeScript({ target: { tabId: tab.id }, func: showBubble, args: [result] });
    return "page";
  } catch {
    // Pages the extension may not script (the Web Store, chrome:// pages): the popup shows it.
    await chrome.action.setBadgeText({ text: "1", tabId: tab.id }).catch(() => undefined);
    return "popup";
  }
}

chrome.runtime.onInstalled.addListener(() => {
  chrome.contextMenus.create({ id: MENU_ID, title: "Sentiment of “%s”", contexts: ["selection"] });
});
chrome.contextMenus.onClicked.addListener(onMenuClick);
chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.target !== "background" || message.type !== "classify") return false;
  classify(message.texts).then(
    (predictions) => reply({ predictions }),
    (error) => reply({ error: error.message }),
  );
  return true; // the answer comes asynchronously
});

// For the extension's test: the very handler the menu calls, and the function it injects.
Object.assign(self, { onMenuClick, showBubble });
