// A user's app: both forms of the npm package (www/xlmr-sentiment/README.md), bundled by Vite
// from the installed tarball. The model folder comes from the query string (?model=/models/tiny-sentiment/) so
// the test can point it at each fixture model.
import { load } from "xlmr-sentiment";
import { loadInWorker } from "xlmr-sentiment/worker";

const model = new URLSearchParams(location.search).get("model");
// Progress events of both forms, kept for consumer.test.mjs.
const events = { main: [], worker: [] };

// (a) The main-thread form.
const classifier = await load(model, { onProgress: (e) => { events.main.push(e); console.log(e.status, e.file, e.overall); } });
console.log(await classifier.classify("I love this!"));
console.log(await classifier.classify(["Génial !", "Schrecklich."]));
console.log(await classifier.classify("Meh.", { topK: null }));

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
