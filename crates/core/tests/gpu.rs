//! The GPU path (feature `gpu`) on whatever adapter the machine has (a software Vulkan,
//! lavapipe, in CI): every golden text of every fixture model within 1e-4 of transformers in
//! f32; each bundle precision against the CPU path of the same bundle; a device destroyed
//! mid-run finishing on the CPU with the same results; `auto` saying what it chose.
//!
//! Without an adapter each test says it is skipped, and why; with `XLMR_REQUIRE_GPU=1` (the
//! README's test command sets it where it installed lavapipe) it fails instead.

mod common;

use std::io::Cursor;
use std::sync::Arc;

use common::{golden, read, weight_files, MODELS};
use xlmr_sentiment_core::{
    write_bundle, BundleSource, Classifier, ClassifyOptions, DeviceChoice, DeviceRequest, Gpu,
    ModelFiles, Precision,
};

const TOLERANCE: f32 = 1e-4;

/// The machine's GPU, or `None` after printing why the test is skipped.
fn gpu() -> Option<Arc<Gpu>> {
    match Gpu::request_blocking() {
        Ok(gpu) => {
            eprintln!("GPU: {:?}", gpu.info());
            Some(Arc::new(gpu))
        }
        Err(error) if std::env::var_os("XLMR_REQUIRE_GPU").is_some() => {
            panic!("XLMR_REQUIRE_GPU is set but there is no GPU: {error}")
        }
        Err(error) => {
            eprintln!("skipped: {error}");
            None
        }
    }
}

fn on(gpu: &Arc<Gpu>, choice: DeviceChoice) -> DeviceRequest {
    DeviceRequest::with_gpu(choice, Ok(gpu.clone())).expect("a GPU is given")
}

fn load_folder(name: &str, device: &DeviceRequest) -> Classifier {
    let (config, tokenizer, weights) = (
        read(name, "config.json"),
        read(name, "tokenizer.json"),
        read(name, weight_files(name)[0]),
    );
    let files = ModelFiles {
        config: &config,
        tokenizer: &tokenizer,
        weights: &weights,
    };
    Classifier::load_with(files, device).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn pack(model: &str, precision: Precision) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    write_bundle(
        &mut out,
        &read(model, "config.json"),
        &read(model, "tokenizer.json"),
        &read(model, weight_files(model)[0]),
        precision,
        &BundleSource::default(),
    )
    .unwrap_or_else(|e| panic!("{model} at {precision}: {e}"));
    out.into_inner()
}

/// All golden texts of `name`, as one call (the classifier batches them).
fn golden_texts(name: &str) -> Vec<String> {
    golden(name).texts.into_iter().map(|t| t.text).collect()
}

fn all_scores(classifier: &Classifier, texts: &[String]) -> Vec<Vec<f32>> {
    classifier
        .classify(texts, &ClassifyOptions::default())
        .expect("classifies")
        .iter()
        .map(|p| p.scores.iter().map(|s| s.score).collect())
        .collect()
}

#[test]
fn golden_texts_on_the_gpu_match_transformers() {
    let Some(gpu) = gpu() else { return };
    for name in MODELS {
        let classifier = load_folder(name, &on(&gpu, DeviceChoice::Gpu));
        let device = classifier.device();
        assert_eq!(device.device, "gpu", "{name}: {device:?}");
        let g = golden(name);
        let texts: Vec<String> = g.texts.iter().map(|t| t.text.clone()).collect();
        // Batched as the classifier forms them, and one at a time.
        let batched = all_scores(&classifier, &texts);
        for (t, got) in g.texts.iter().zip(&batched) {
            for (g, w) in got.iter().zip(&t.scores) {
                assert!(
                    (g - w).abs() <= TOLERANCE,
                    "{name}: scores of {:?} on the GPU: {got:?}, transformers {:?}",
                    t.text,
                    t.scores
                );
            }
        }
        for t in g.texts.iter().take(10) {
            let one = all_scores(&classifier, std::slice::from_ref(&t.text));
            for (g, w) in one[0].iter().zip(&t.scores) {
                assert!((g - w).abs() <= TOLERANCE, "{name}: {:?} alone", t.text);
            }
        }
        // The awaited form (the browser's) gives the same scores.
        let awaited =
            pollster::block_on(classifier.classify_async(&texts, &ClassifyOptions::default()))
                .expect("classifies");
        for (a, b) in awaited.iter().zip(&batched) {
            let a: Vec<f32> = a.scores.iter().map(|s| s.score).collect();
            assert_eq!(&a, b, "{name}: classify_async against classify");
        }
        // Still on the GPU: no pass failed.
        assert_eq!(classifier.device().device, "gpu", "{name}");
    }
}

#[test]
fn each_bundle_precision_on_the_gpu_agrees_with_the_cpu_path() {
    let Some(gpu) = gpu() else { return };
    for name in MODELS {
        let texts = golden_texts(name);
        for (precision, bound) in [
            (Precision::F32, 1e-4),
            (Precision::F16, 1e-4),
            (Precision::Q8_0, 0.1),
            (Precision::Q4, 0.25),
        ] {
            let bundle = pack(name, precision);
            let cpu = Classifier::load_bundle(&bundle).expect("loads");
            let on_gpu = Classifier::load_bundle_with(&bundle, &on(&gpu, DeviceChoice::Gpu))
                .expect("loads on the GPU");
            // The GPU keeps the bundle's precision: f16 as f16, Q8_0 and Q4 as int8 blocks.
            let held = on_gpu.device().gpu_weights.expect("weights on the GPU");
            eprintln!(
                "{name} {precision}: {} weights, {} bytes on the GPU",
                held.format, held.bytes
            );
            if name == "tiny-sentiment" {
                let expected = match precision {
                    Precision::F32 => "f32",
                    Precision::F16 => "f16",
                    _ => "int8",
                };
                assert_eq!(held.format, expected, "{name} {precision}");
            }
            let cpu = cpu.classify(&texts, &ClassifyOptions::default()).unwrap();
            let got = on_gpu
                .classify(&texts, &ClassifyOptions::default())
                .unwrap();
            let mut largest = 0f32;
            let mut same_top = 0;
            for (a, b) in cpu.iter().zip(&got) {
                same_top += usize::from(a.label == b.label);
                for (x, y) in a.scores.iter().zip(&b.scores) {
                    largest = largest.max((x.score - y.score).abs());
                }
            }
            let agreement = same_top as f64 / texts.len() as f64;
            eprintln!(
                "{name} {precision}: GPU against CPU, top label agrees on {:.1}%, largest \
                 probability change {largest:.2e}",
                agreement * 100.0
            );
            assert!(largest <= bound, "{name} {precision}: {largest} > {bound}");
            // The quantized CPU path runs int8 activations, the GPU f32 ones on the same
            // weights: near ties may flip.
            let least = if matches!(precision, Precision::F32 | Precision::F16) {
                1.0
            } else {
                0.95
            };
            assert!(agreement >= least, "{name} {precision}: {agreement}");
        }
    }
}

#[test]
fn a_device_lost_mid_run_finishes_on_the_cpu_with_the_same_results() {
    let Some(gpu) = gpu() else { return };
    // A device of its own: destroying it must not disturb the other tests.
    let own = Arc::new(Gpu::request_blocking().expect("a second device"));
    drop(gpu);
    let name = "tiny-sentiment";
    let texts = golden_texts(name);
    let mut classifier = load_folder(name, &on(&own, DeviceChoice::Gpu));
    let before = all_scores(&classifier, &texts);
    own.destroy();
    let after = all_scores(&classifier, &texts);
    let device = classifier.device();
    assert_eq!(device.device, "cpu", "{device:?}");
    let reason = device.reason.expect("a reason");
    assert!(reason.contains("GPU failed mid-run"), "{reason}");
    // A warm-up after the failure leaves the CPU in charge and the reason as it was.
    pollster::block_on(classifier.calibrate_device()).expect("the CPU keeps every batch");
    let device = classifier.device();
    assert_eq!(device.device, "cpu", "{device:?}");
    assert!(
        device
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("GPU failed mid-run")),
        "{device:?}"
    );
    for (b, a) in before.iter().zip(&after) {
        for (x, y) in b.iter().zip(a) {
            assert!((x - y).abs() <= TOLERANCE, "{b:?} against {a:?}");
        }
    }
}

#[test]
fn auto_reports_its_choice_and_classifies_the_same() {
    let Some(gpu) = gpu() else { return };
    let name = "tiny-multilabel";
    let classifier = load_folder(name, &on(&gpu, DeviceChoice::Auto));
    let device = classifier.device();
    eprintln!("auto: {device:?}");
    assert_eq!(device.requested, DeviceChoice::Auto);
    assert!(device.adapter.is_some(), "{device:?}");
    assert!(
        device.reason.is_some(),
        "auto says how it chose: {device:?}"
    );
    match device.device.as_str() {
        "gpu" => assert!(device.gpu_min_tokens.is_some()),
        "cpu" => assert!(device.gpu_min_tokens.is_none()),
        other => panic!("device {other}"),
    }
    let g = golden(name);
    let texts: Vec<String> = g.texts.iter().map(|t| t.text.clone()).collect();
    // Calibrating again (a browser's step; natively it ran at load) keeps a consistent report.
    let mut classifier = classifier;
    pollster::block_on(classifier.calibrate_device()).expect("calibrates");
    assert_eq!(classifier.device().requested, DeviceChoice::Auto);
    for (t, got) in g.texts.iter().zip(all_scores(&classifier, &texts)) {
        for (g, w) in got.iter().zip(&t.scores) {
            assert!((g - w).abs() <= TOLERANCE, "{:?}", t.text);
        }
    }
}

#[test]
fn gpu_without_an_adapter_is_refused_and_auto_falls_back() {
    // Whatever this machine has: a request whose GPU lookup failed.
    let missing = || {
        Err(xlmr_sentiment_core::Error::GpuUnavailable(
            "no adapter here".into(),
        ))
    };
    let error = DeviceRequest::with_gpu(DeviceChoice::Gpu, missing()).unwrap_err();
    assert!(error.to_string().contains("no adapter here"), "{error}");
    let auto = DeviceRequest::with_gpu(DeviceChoice::Auto, missing()).unwrap();
    let classifier = load_folder("tiny-score", &auto);
    let device = classifier.device();
    assert_eq!(device.device, "cpu");
    assert!(device.adapter.is_none());
    assert!(
        device
            .reason
            .as_deref()
            .unwrap_or("")
            .contains("no adapter here"),
        "{device:?}"
    );
}
