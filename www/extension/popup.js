// The popup: a text box classified by the model in the offscreen document (through the service
// worker), and the result of the last selection classified from the context menu.
import { scoreBars } from "./ui/score-bars.js";
import { languageNote } from "./ui/language-note.js";

const $ = (id) => document.getElementById(id);

function render(prediction) {
  $("label").textContent = prediction.label;
  $("bars").replaceChildren(...scoreBars(prediction.scores));
  const note = $("note");
  note.textContent = languageNote(prediction) ?? "";
  note.hidden = !note.textContent;
}

async function classifyBox() {
  const text = $("text").value;
  if (!text.trim()) return;
  $("label").textContent = "…";
  const answer = await chrome.runtime.sendMessage({ target: "background", type: "classify", texts: [text] });
  if (!answer || answer.error) {
    $("label").textContent = `Not available: ${answer?.error ?? "the extension did not answer"}`;
  } else render(answer.predictions[0]);
  document.body.dataset.classified = String(Number(document.body.dataset.classified ?? 0) + 1);
}

$("classify").addEventListener("click", classifyBox);
$("text").addEventListener("keydown", (event) => {
  if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) classifyBox();
});

const { lastSelection } = await chrome.storage.session.get("lastSelection");
if (lastSelection) {
  $("last").hidden = false;
  $("last-text").textContent = `“${lastSelection.text.slice(0, 200)}”`;
  $("last-label").textContent = lastSelection.error ? `Not available: ${lastSelection.error}` : lastSelection.prediction.label;
}
chrome.action.setBadgeText({ text: "" }).catch(() => undefined);
document.body.dataset.ready = "yes";
$("text").focus();
