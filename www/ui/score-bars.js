// Shared by the demo page and the extension's popup (their build scripts copy it in): one list
// item per label, with its name, a bar as wide as its probability (announced as "label: N
// percent") and the percentage.
export function scoreBars(scores) {
  return scores.map(({ label, score }) => {
    const percent = (100 * score).toFixed(1);
    const item = document.createElement("li");
    item.dataset.label = label;
    item.dataset.score = String(score);
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("span");
    bar.className = "bar";
    bar.setAttribute("role", "img");
    bar.setAttribute("aria-label", `${label}: ${percent} percent`);
    const fill = document.createElement("span");
    fill.style.width = `${percent}%`;
    bar.append(fill);
    const value = document.createElement("span");
    value.textContent = `${percent}%`;
    value.setAttribute("aria-hidden", "true");
    item.append(name, bar, value);
    return item;
  });
}
