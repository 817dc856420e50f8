// The npm README's React hook (copied to src/examples/useSentiment.js by consumer.test.mjs) in a
// component under <StrictMode>: in development React mounts it twice, and the test checks that
// the first mount's worker is terminated and the second one classifies. Plain createElement, so
// no JSX transform is involved.
import { StrictMode, createElement, useEffect } from "react";
import { createRoot } from "react-dom/client";
import { useSentiment } from "./examples/useSentiment.js";

function App() {
  const { classifier, error } = useSentiment("/models/sentiment-q8_0.gguf");
  useEffect(() => {
    window.sentiment = { classifier, error: error && String(error) };
  }, [classifier, error]);
  return createElement("p", null, classifier ? "ready" : error ? String(error) : "loading");
}

const container = document.createElement("div");
document.body.append(container);
createRoot(container).render(createElement(StrictMode, null, createElement(App)));
