// Shared by the demo page and the extension's popup (their build scripts copy it in): list items
// of a label's name, a bar as wide as its share (announced in words, e.g. "label: N percent") and
// the figure shown beside it.

/** One bar: `fraction` (0 to 1) sets its width, `said` is read out, `shown` printed after it. */
export function barItem(label, fraction, said, shown) {
  const item = document.createElement("li");
  item.dataset.label = label;
  const name = document.createElement("span");
  name.textContent = label;
  const bar = document.createElement("span");
  bar.className = "bar";
  bar.setAttribute("role", "img");
  bar.setAttribute("aria-label", said);
  const fill = document.createElement("span");
  fill.style.width = `${100 * fraction}%`;
  bar.append(fill);
  const value = document.createElement("span");
  value.textContent = shown;
  value.setAttribute("aria-hidden", "true");
  item.append(name, bar, value);
  return item;
}

/** One item per label with its probability. */
export function scoreBars(scores) {
  return scores.map(({ label, score }) => {
    const percent = (100 * score).toFixed(1);
    const item = barItem(label, score, `${label}: ${percent} percent`, `${percent}%`);
    item.dataset.score = String(score);
    return item;
  });
}
