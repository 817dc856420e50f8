// A user's app, bundled by Vite from the installed tarball. Two kinds of page:
// - `?example=NAME`: one of the documented examples exactly as written, in src/examples/, which
//   consumer.test.mjs copies out of README.md and www/xlmr-sentiment/README.md before building;
// - `?model=/models/tiny-sentiment/`: both forms of the package on a fixture model folder, for
//   the test to compare with the golden outputs.
import { load } from "xlmr-sentiment";
import { loadInWorker } from "xlmr-sentiment/worker";

const params = new URLSearchParams(location.search);
// Literal imports, so the bundler builds each example.
const examples = {
  "readme": () => import("./examples/readme.js"),
  "npm-worker": () => import("./examples/npm-worker.js"),
  "npm-pipeline": () => import("./examples/npm-pipeline.js"),
  "react": () => import("./react-app.js"),
};

if (params.has("example")) {
  // The import settles once the example's top-level awaits have.
  await examples[params.get("example")]();
  window.exampleDone = true;
} else {
  const model = params.get("model");
  // Progress events of both forms, kept for consumer.test.mjs.
  const events = { main: [], worker: [] };

  // (a) The main-thread form.
  const classifier = await load(model, { onProgress: (e) => events.main.push(e) });
  // (b) The worker form: the same model in a module worker. The files now come from Cache Storage.
  const workerClassifier = await loadInWorker(model, { onProgress: (e) => events.worker.push(e) });

  // Called by consumer.test.mjs: every label's score per text, from both forms.
  window.classifyBoth = async (texts) => ({
    main: await classifier.classify(texts, { topK: null }),
    worker: await workerClassifier.classify(texts, { topK: null }),
    labels: { main: classifier.labels, worker: workerClassifier.labels },
    wasmBuilds: { main: classifier.wasmBuild, worker: workerClassifier.wasmBuild },
    events,
  });
}
