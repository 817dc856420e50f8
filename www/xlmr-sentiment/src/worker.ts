/** The module worker: owns the model, so classification never blocks the page. */

import { load, loadFromBytes, SentimentClassifier } from "./classifier.js";
import type { WorkerRequest, WorkerResponse } from "./protocol.js";

let classifier: SentimentClassifier | undefined;

// The DOM and WebWorker libs cannot be loaded together; this is the part of the worker scope used.
const scope = self as unknown as {
  postMessage(message: WorkerResponse): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
};
const post = (message: WorkerResponse) => scope.postMessage(message);

async function handle(request: WorkerRequest): Promise<WorkerResponse> {
  switch (request.type) {
    case "load":
    case "loadBytes": {
      classifier?.dispose();
      classifier = undefined;
      classifier =
        request.type === "load"
          ? await load(request.baseUrl, {
              ...request.options,
              onProgress: (event) => post({ id: request.id, type: "progress", event }),
            })
          : await loadFromBytes(request.files, request.options);
      return {
        id: request.id,
        type: "loaded",
        info: {
          labels: classifier.labels,
          maxInputTokens: classifier.maxInputTokens,
          precision: classifier.precision,
          trainedLanguages: classifier.trainedLanguages,
          wasmBuild: classifier.wasmBuild,
          threads: classifier.threads,
          device: classifier.device,
        },
      };
    }
    case "classify": {
      if (!classifier) throw new Error("no model is loaded in this worker");
      const result = request.detailed
        ? await classifier.classifyDetailed(request.input as string[], request.options)
        : await classifier.classify(request.input as string[], request.options);
      // The device after the call: a GPU lost during it moved the classifier to the CPU.
      return { id: request.id, type: "classified", result, device: classifier.device };
    }
  }
}

scope.addEventListener("message", (event) => {
  const request = event.data;
  handle(request).then(post, (error: unknown) =>
    post({ id: request.id, type: "error", message: error instanceof Error ? error.message : String(error) }),
  );
});
