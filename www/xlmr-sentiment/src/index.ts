/**
 * xlmr-sentiment: multilingual sentiment classification with XLM-RoBERTa, on the device.
 *
 * ```js
 * import { load } from "xlmr-sentiment";
 * const classifier = await load("/models/twitter-xlm-roberta-sentiment/");
 * console.log(await classifier.classify("I love this!")); // [{ label: "positive", score: 0.93 }]
 * ```
 */

export { SentimentClassifier, load, loadFromBytes } from "./classifier.js";
export { clearCache } from "./loader.js";
export { detectWasmBuild } from "./wasm.js";
export { pipeline, PIPELINE_TASKS } from "./pipeline.js";
export type { PipelineOptions, PipelineProgressEvent, TextClassificationPipeline } from "./pipeline.js";
export type { WasmBuild } from "./wasm.js";
export type { ClassifyOptions, Device, DeviceInfo, LabelScore, LoadOptions, ModelBundle, ModelBytes, ModelFiles, Prediction, ProgressEvent } from "./types.js";
