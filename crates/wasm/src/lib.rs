//! wasm-bindgen adapter over `xlmr-sentiment-core`: a `Classifier` built from model file bytes,
//! whose `classify` takes texts and options as JS values and returns plain JS objects.
//! Only type conversions live here; the npm package shapes results for its public API.

#![deny(missing_docs)]

mod device;

use std::cell::{Ref, RefCell};
use std::rc::Rc;

pub use device::{request_device, DeviceRequest};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use xlmr_sentiment_core::{
    past_end, Case, DetailedPrediction, PipelineAnswer, TopK, WeightsSource, WireOptions,
};

/// The threaded build's `initThreadPool(n)`: starts `n` Web Workers on this module and its shared
/// memory and makes them rayon's global pool. Call it once, in a worker (a page's main thread
/// may not block on the pool), before building a classifier.
#[cfg(feature = "threads")]
pub use wasm_bindgen_rayon::init_thread_pool;

/// The npm package's options object, read by the core's [`WireOptions`] (which refuses unknown
/// keys: serde-wasm-bindgen reads only the properties a struct names, so it cannot).
fn options_from_js(options: &JsValue) -> Result<WireOptions, JsError> {
    if options.is_undefined() || options.is_null() {
        return Ok(WireOptions::default());
    }
    if !options.is_object() || js_sys::Array::is_array(options) {
        return Err(js_error("invalid options: expected an object"));
    }
    let json = js_sys::JSON::stringify(options)
        .map_err(|_| js_error("invalid options: not serializable as JSON"))?;
    WireOptions::from_json(&String::from(json)).map_err(js_error)
}

/// The texts of a `classify` call, and whether the caller passed a single string.
fn texts_from_js(texts: &JsValue) -> Result<(Vec<String>, bool), JsError> {
    match texts.as_string() {
        Some(text) => Ok((vec![text], true)),
        None => serde_wasm_bindgen::from_value(texts.clone())
            .map(|texts| (texts, false))
            .map_err(|_| js_error("classify expects a string or an array of strings")),
    }
}

/// Builds the `tokenizer.json` that `transformers` would build from a `sentencepiece.bpe.model`,
/// for a model folder that ships only the latter. Throws when the file is not an XLM-R
/// SentencePiece model.
#[wasm_bindgen(js_name = tokenizerJsonFromSentencepiece)]
pub fn tokenizer_json_from_sentencepiece(model: &[u8]) -> Result<Vec<u8>, JsError> {
    xlmr_sentiment_core::tokenizer_json_from_sentencepiece(model).map_err(js_error)
}

fn to_js(value: &impl Serialize) -> Result<JsValue, JsError> {
    value
        .serialize(&serde_wasm_bindgen::Serializer::json_compatible())
        .map_err(js_error)
}

/// The weights file as a JS `Uint8Array`, read range by range: each tensor is copied once, from
/// the JS buffer straight into the model's memory. Passing it as `&[u8]` would first copy the
/// whole file into wasm memory, which never shrinks, so that copy would stay for good.
struct JsWeights(js_sys::Uint8Array);

impl WeightsSource for JsWeights {
    fn len(&self) -> u64 {
        u64::from(self.0.length())
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let len = self.len();
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= len)
            .ok_or_else(|| past_end(offset, buf.len(), len))?;
        // In range, so both ends fit the array's u32 length.
        self.0.subarray(offset as u32, end as u32).copy_to(buf);
        Ok(())
    }
}

/// Receives a bundle piece by piece as it downloads, so the page never holds the whole file.
/// Given the file's length, each piece is put to work as it arrives (the tokenizer is built
/// once the header is in, each tensor read once its bytes are, and their pieces freed), so the
/// loading overlaps the download and `finish` only builds the model's layers. Without it, the
/// pieces wait in wasm memory for `finish`.
#[wasm_bindgen]
pub struct BundleLoader {
    stream: xlmr_sentiment_core::BundleStream,
}

#[wasm_bindgen]
impl BundleLoader {
    /// A loader for a bundle of `length` bytes, if known (a `content-length`, a blob's size).
    #[wasm_bindgen(constructor)]
    pub fn new(length: Option<f64>) -> Result<BundleLoader, JsError> {
        let length = match length {
            None => None,
            Some(n) if n.is_finite() && n >= 1.0 && n.fract() == 0.0 && n < 2f64.powi(53) => {
                Some(n as u64)
            }
            Some(n) => return Err(js_error(format!("invalid bundle length {n}"))),
        };
        Ok(Self {
            stream: xlmr_sentiment_core::BundleStream::new(length),
        })
    }

    /// Takes the next piece of the bundle (copied; the caller may reuse the array) and does the
    /// work it allows. Throws once the bundle proves damaged (a bad header, more bytes than
    /// announced); the loader is then spent.
    pub fn push(&mut self, piece: js_sys::Uint8Array) -> Result<(), JsError> {
        self.stream.push(piece.to_vec()).map_err(js_error)
    }

    /// Bytes received so far.
    #[wasm_bindgen(getter)]
    pub fn length(&self) -> f64 {
        self.stream.received() as f64
    }

    /// Loads the classifier from the pieces received, on `device` (from `requestDevice`; the
    /// CPU without one). Throws an `Error` naming what is wrong (a truncated or damaged bundle,
    /// a file that is not one, a GPU that cannot hold the model with `webgpu`).
    pub fn finish(self, device: Option<DeviceRequest>) -> Result<Classifier, JsError> {
        let inner = self
            .stream
            .finish_with(&device_of(device))
            .map_err(js_error)?;
        Ok(Classifier::wrap(inner))
    }
}

/// A loaded XLM-R sequence classifier.
#[wasm_bindgen]
pub struct Classifier {
    /// Shared with the futures of the async methods (a promise outlives the `&self` borrow)
    /// and borrowed mutably only by `calibrateDevice` and `setTrainedLanguages`.
    inner: Rc<RefCell<xlmr_sentiment_core::Classifier>>,
}

fn js_error(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The loaders' device: the CPU where the caller passed none.
fn device_of(device: Option<DeviceRequest>) -> xlmr_sentiment_core::DeviceRequest {
    device.map_or_else(xlmr_sentiment_core::DeviceRequest::cpu, |d| d.inner)
}

/// Why a call found the classifier borrowed: an awaited call holds it until it resolves (a
/// shared hold for classifying, so only the calls that change the classifier meet this).
const BUSY: &str =
    "the classifier is busy with an awaited call (calibrateDevice, classifyAsync or \
                    classifyPipelineAsync): await it first";

/// Predictions in the shape the npm package's `classifyDetailed` returns.
fn detailed(predictions: &[xlmr_sentiment_core::Prediction]) -> Result<JsValue, JsError> {
    let out: Vec<DetailedPrediction> = predictions.iter().map(Into::into).collect();
    to_js(&out)
}

/// A `classifyPipeline` call's answer, in transformers.js' shapes.
fn pipeline_answer(
    predictions: &[xlmr_sentiment_core::Prediction],
    single: bool,
    top_k: TopK,
) -> Result<JsValue, JsError> {
    to_js(&PipelineAnswer::new(
        predictions,
        single,
        top_k,
        Case::Camel,
    ))
}

impl Classifier {
    fn wrap(inner: xlmr_sentiment_core::Classifier) -> Self {
        Self {
            inner: Rc::new(RefCell::new(inner)),
        }
    }

    fn model(&self) -> Result<Ref<'_, xlmr_sentiment_core::Classifier>, JsError> {
        self.inner.try_borrow().map_err(|_| js_error(BUSY))
    }
}

#[wasm_bindgen]
impl Classifier {
    /// Loads a model from the bytes of `config.json`, `tokenizer.json` and the weights
    /// (`model.safetensors` or `pytorch_model.bin`), on `device` (from `requestDevice`; the CPU
    /// without one). Throws an `Error` naming what is wrong. The weights array is only read:
    /// the caller may drop it once this returns.
    #[wasm_bindgen(constructor)]
    pub fn new(
        config: &[u8],
        tokenizer: &[u8],
        weights: js_sys::Uint8Array,
        device: Option<DeviceRequest>,
    ) -> Result<Classifier, JsError> {
        let inner = xlmr_sentiment_core::Classifier::load_from_source_with(
            config,
            tokenizer,
            &JsWeights(weights),
            &device_of(device),
        )
        .map_err(js_error)?;
        Ok(Self::wrap(inner))
    }

    /// Loads a bundle written by `xlmr-sentiment pack` (one GGUF file holding the weights,
    /// possibly quantized, with `config.json` and `tokenizer.json`), on `device` (as `new`).
    /// Quantized weights stay quantized in memory. The array is only read: the caller may drop
    /// it once this returns.
    #[wasm_bindgen(js_name = fromBundle)]
    pub fn from_bundle(
        bundle: js_sys::Uint8Array,
        device: Option<DeviceRequest>,
    ) -> Result<Classifier, JsError> {
        let inner = xlmr_sentiment_core::Classifier::load_bundle_with(
            &JsWeights(bundle),
            &device_of(device),
        )
        .map_err(js_error)?;
        Ok(Self::wrap(inner))
    }

    /// The GPU's warm-up, which must be awaited before the GPU takes a batch: a first pass (a
    /// GPU that cannot run one rejects with `webgpu`, and leaves `auto` on the CPU), then with
    /// `auto` the crossover timed on both devices. Resolves at once on the CPU.
    #[wasm_bindgen(js_name = calibrateDevice)]
    // Every borrow of `inner` is a `try_borrow`: a call meanwhile is an error (BUSY), not a panic.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn calibrate_device(&self) -> js_sys::Promise {
        let inner = self.inner.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let Ok(mut classifier) = inner.try_borrow_mut() else {
                return Err(js_error(BUSY).into());
            };
            #[cfg(feature = "gpu")]
            classifier.calibrate_device().await.map_err(js_error)?;
            #[cfg(not(feature = "gpu"))]
            let _ = &mut classifier;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Where the classifier runs, and why: `{requested, device, adapter, gpuMinTokens,
    /// gpuWeights, gpuWeightBytes, reason}` with `requested` one of `auto`, `wasm`, `webgpu` and
    /// `device` `wasm` or `webgpu`.
    #[wasm_bindgen(getter)]
    pub fn device(&self) -> Result<JsValue, JsError> {
        to_js(&device::DeviceInfo::from(self.model()?.device()))
    }

    /// For a bundle: the precision it was packed at (`f32`, `f16`, `q8_0`, `q4`); else
    /// `undefined`.
    #[wasm_bindgen(getter)]
    pub fn precision(&self) -> Result<Option<String>, JsError> {
        Ok(self.model()?.bundle_info().map(|b| b.precision.clone()))
    }

    /// Label names in the model's order.
    #[wasm_bindgen(getter)]
    pub fn labels(&self) -> Result<Vec<String>, JsError> {
        Ok(self.model()?.labels().to_vec())
    }

    /// The languages the model was trained on (ISO 639-1 codes, sorted), or `undefined` when
    /// unknown: as recorded in the bundle, or set with `setTrainedLanguages`.
    #[wasm_bindgen(getter, js_name = trainedLanguages)]
    pub fn trained_languages(&self) -> Result<Option<Vec<String>>, JsError> {
        Ok(self
            .model()?
            .trained_languages()
            .map(|l| l.codes().to_vec()))
    }

    /// Sets the languages the model was trained on (ISO 639-1 codes), or forgets them with
    /// `null`/`undefined`. Throws on a code that is not two letters.
    #[wasm_bindgen(js_name = setTrainedLanguages)]
    pub fn set_trained_languages(&self, codes: Option<Vec<String>>) -> Result<(), JsError> {
        let languages = codes
            .map(xlmr_sentiment_core::TrainedLanguages::from_codes)
            .transpose()
            .map_err(js_error)?;
        self.inner
            .try_borrow_mut()
            .map_err(|_| js_error(BUSY))?
            .set_trained_languages(languages);
        Ok(())
    }

    /// The longest input in tokens, `<s>` and `</s>` included.
    #[wasm_bindgen(getter, js_name = maxInputTokens)]
    pub fn max_input_tokens(&self) -> Result<usize, JsError> {
        Ok(self.model()?.max_input_tokens())
    }

    /// Classifies a string or an array of strings on the CPU, whatever the device (a call that
    /// returns at once cannot wait for a GPU pass: `classifyAsync` can). `options`: the npm package's
    /// `ClassifyOptions` (`topK` is not used here). Returns an array with one
    /// `{label, score, scores, truncated, tokens}` per text (the core's `DetailedPrediction`), in
    /// input order, plus `language` and `languageSupported` (each possibly null) with
    /// `language: true`.
    pub fn classify(&self, texts: JsValue, options: JsValue) -> Result<JsValue, JsError> {
        let (texts, _) = texts_from_js(&texts)?;
        let options = options_from_js(&options)?;
        let predictions = self
            .model()?
            .classify(&texts, &options.classify_options())
            .map_err(js_error)?;
        detailed(&predictions)
    }

    /// `classify` on the classifier's device: each GPU pass is awaited, so this resolves to
    /// what `classify` returns (a batch whose GPU pass fails is redone on the CPU).
    #[wasm_bindgen(js_name = classifyAsync)]
    // Every borrow of `inner` is a `try_borrow`: a call meanwhile is an error (BUSY), not a panic.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn classify_async(&self, texts: JsValue, options: JsValue) -> js_sys::Promise {
        let inner = self.inner.clone();
        let parsed =
            texts_from_js(&texts).and_then(|(texts, _)| Ok((texts, options_from_js(&options)?)));
        wasm_bindgen_futures::future_to_promise(async move {
            let (texts, options) = parsed?;
            let classifier = inner.try_borrow().map_err(|_| js_error(BUSY))?;
            let predictions = predictions_on_device(&classifier, &texts, &options).await?;
            Ok(detailed(&predictions)?)
        })
    }

    /// Classifies like transformers.js' text-classification pipeline (the core's
    /// `PipelineAnswer`), on the classifier's device as `classifyAsync`: a string gives its
    /// `topK` best `{label, score}` (1 by default, all with `null`); an array gives one entry
    /// per text with `topK` 1, else one list per text.
    #[wasm_bindgen(js_name = classifyPipelineAsync)]
    // Every borrow of `inner` is a `try_borrow`: a call meanwhile is an error (BUSY), not a panic.
    #[allow(clippy::await_holding_refcell_ref)]
    pub fn classify_pipeline_async(&self, input: JsValue, options: JsValue) -> js_sys::Promise {
        let inner = self.inner.clone();
        let parsed = texts_from_js(&input).and_then(|(texts, single)| {
            let options = options_from_js(&options)?;
            let top_k = options.top_k().map_err(js_error)?;
            Ok((texts, single, options, top_k))
        });
        wasm_bindgen_futures::future_to_promise(async move {
            let (texts, single, options, top_k) = parsed?;
            let classifier = inner.try_borrow().map_err(|_| js_error(BUSY))?;
            let predictions = predictions_on_device(&classifier, &texts, &options).await?;
            Ok(pipeline_answer(&predictions, single, top_k)?)
        })
    }
}

/// The predictions of `texts`, each GPU pass awaited (the CPU's, in a build without the GPU).
async fn predictions_on_device(
    classifier: &xlmr_sentiment_core::Classifier,
    texts: &[String],
    options: &WireOptions,
) -> Result<Vec<xlmr_sentiment_core::Prediction>, JsError> {
    let options = options.classify_options();
    #[cfg(feature = "gpu")]
    let predictions = classifier.classify_async(texts, &options).await;
    #[cfg(not(feature = "gpu"))]
    let predictions = classifier.classify(texts, &options);
    predictions.map_err(js_error)
}
