// Shared by the demo page and the extension (their build scripts copy www/ui in): the note shown
// next to a result whose text is in a language the model was not trained on.
const names = typeof Intl.DisplayNames === "function" ? new Intl.DisplayNames(["en"], { type: "language" }) : null;

/** The English name of an ISO 639-1 code ("ru" -> "Russian"), or the code itself. */
export function languageName(code) {
  try {
    return names?.of(code) ?? code;
  } catch {
    return code;
  }
}

/** The note for a prediction made with `{ language: true }`, or null when none is due. */
export function languageNote(prediction) {
  if (prediction.languageSupported !== false || !prediction.language) return null;
  return `This model was not trained on ${languageName(prediction.language)}; the result may be unreliable.`;
}
