//! Bundles (`write_bundle` / `Classifier::load_bundle`): every fixture model packed at every
//! precision loads and classifies; f32 bundles are exact, compact ones stay close to f32; damaged
//! bundles give typed errors, never a panic.

mod common;

use std::io::Cursor;

use common::{golden, load, read, weight_files, Seeded, MODELS};
use std::cell::Cell;
use std::sync::Arc;

use xlmr_sentiment_core::{
    write_bundle, BundleSource, BundleStream, ChunkedBytes, Classifier, ClassifyOptions, Encoded,
    Error, InPlaceBytes, Precision, WeightsSource,
};

fn pack(model: &str, precision: Precision) -> Vec<u8> {
    let weights = read(model, weight_files(model)[0]);
    let mut out = Cursor::new(Vec::new());
    let source = BundleSource {
        model_id: Some(format!("tests/{model}")),
        revision: Some("0".repeat(40)),
        trained_languages: None,
    };
    write_bundle(
        &mut out,
        &read(model, "config.json"),
        &read(model, "tokenizer.json"),
        &weights,
        precision,
        &source,
    )
    .unwrap_or_else(|e| panic!("{model} at {precision}: {e}"));
    out.into_inner()
}

/// The largest probability difference and the share of texts whose top label agrees.
fn compare(a: &Classifier, b: &Classifier, texts: &[String]) -> (f32, f64) {
    let options = ClassifyOptions::default();
    let (pa, pb) = (
        a.classify(texts, &options).unwrap(),
        b.classify(texts, &options).unwrap(),
    );
    let mut worst = 0f32;
    let mut agree = 0;
    for (x, y) in pa.iter().zip(&pb) {
        agree += usize::from(x.label == y.label);
        for (s, t) in x.scores.iter().zip(&y.scores) {
            worst = worst.max((s.score - t.score).abs());
        }
    }
    (worst, agree as f64 / texts.len() as f64)
}

fn texts(model: &str) -> Vec<String> {
    golden(model).texts.into_iter().map(|t| t.text).collect()
}

#[test]
fn f32_bundles_give_the_golden_results() {
    for model in MODELS {
        let bundle = pack(model, Precision::F32);
        let classifier = Classifier::load_bundle(&bundle.as_slice()).unwrap();
        let info = classifier.bundle_info().unwrap();
        assert_eq!(info.precision, "f32");
        assert_eq!(
            info.source.model_id.as_deref(),
            Some(format!("tests/{model}").as_str())
        );
        let g = golden(model);
        let predictions = classifier
            .classify(&texts(model), &ClassifyOptions::default())
            .unwrap();
        for (p, row) in predictions.iter().zip(&g.texts) {
            for (got, want) in p.scores.iter().zip(&row.scores) {
                assert!((got.score - want).abs() < 1e-4, "{model}: {:?}", row.text);
            }
        }
    }
}

#[test]
fn compact_bundles_stay_close_to_f32() {
    // The fixtures are tiny random networks with large weights (so that their outputs spread):
    // far more sensitive to rounding than a trained model. Measured here: f16 moves a
    // probability by at most 0.0044, q8_0 by 0.135 (98% same top label), q4 by 0.72 (83%).
    // tiny-multilabel and tiny-score have 24-wide rows, which no block size divides, so every
    // precision stores them as f16. The bounds leave room for other seeds and still fail on a
    // wrong kernel, a row mix-up or a lost scale (those give chance-level agreement).
    for model in MODELS {
        let reference = load(model, weight_files(model)[0]);
        let texts = texts(model);
        for (precision, max_change, min_agreement) in [
            (Precision::F16, 0.01, 1.0),
            (Precision::Q8_0, 0.25, 0.95),
            (Precision::Q4, 0.9, 0.7),
        ] {
            let bundle = pack(model, precision);
            let classifier = Classifier::load_bundle(&bundle.as_slice()).unwrap();
            let (worst, agreement) = compare(&reference, &classifier, &texts);
            assert!(
                worst < max_change && agreement >= min_agreement,
                "{model} at {precision}: a probability moved by {worst}, top labels agree on \
                 {agreement}"
            );
        }
    }
}

#[test]
fn compact_bundles_are_smaller() {
    let model = "tiny-sentiment";
    let sizes: Vec<usize> = [
        Precision::F32,
        Precision::F16,
        Precision::Q8_0,
        Precision::Q4,
    ]
    .iter()
    .map(|&p| pack(model, p).len())
    .collect();
    assert!(sizes.windows(2).all(|w| w[1] < w[0]), "sizes {sizes:?}");
}

#[test]
fn a_bundle_also_loads_as_plain_weights() {
    // The GGUF tensors carry the Hugging Face names, so the file also works as a weights file
    // beside a config.json and tokenizer.json.
    let model = "tiny-sentiment";
    let bundle = pack(model, Precision::Q8_0);
    let plain = Classifier::load_from_source(
        &read(model, "config.json"),
        &read(model, "tokenizer.json"),
        &bundle.as_slice(),
    )
    .unwrap();
    let packed = Classifier::load_bundle(&bundle.as_slice()).unwrap();
    let (worst, agreement) = compare(&plain, &packed, &texts(model));
    assert_eq!((worst, agreement), (0.0, 1.0));
}

#[test]
fn a_bundle_arriving_in_pieces_loads_the_same() {
    // As the browser streams a download into wasm memory: odd-sized pieces, freed as read.
    let model = "tiny-sentiment";
    let bundle = pack(model, Precision::Q8_0);
    let mut pieces = ChunkedBytes::new();
    for piece in bundle.chunks(997) {
        pieces.push(piece.to_vec());
    }
    let streamed = Classifier::load_bundle(&pieces).unwrap();
    let whole = Classifier::load_bundle(&bundle.as_slice()).unwrap();
    assert_eq!(compare(&whole, &streamed, &texts(model)), (0.0, 1.0));
    let mut short = ChunkedBytes::new();
    short.push(bundle[..bundle.len() / 2].to_vec());
    assert!(matches!(
        Classifier::load_bundle(&short),
        Err(Error::CorruptWeights { .. })
    ));
}

/// A file that can leave ranges in place, as the native CLI's bundle file does.
struct InPlaceFile {
    bytes: Arc<Vec<u8>>,
    ranges: Cell<usize>,
}

impl WeightsSource for InPlaceFile {
    fn len(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        self.bytes.as_slice().read_at(offset, buf)
    }

    fn in_place(&self, offset: u64, len: u64) -> Option<InPlaceBytes> {
        self.ranges.set(self.ranges.get() + 1);
        InPlaceBytes::new(self.bytes.clone(), offset, len)
    }
}

#[test]
fn a_bundle_whose_embeddings_stay_in_the_file_classifies_the_same() {
    let mut in_place_tables = 0;
    for model in MODELS {
        for precision in [Precision::Q8_0, Precision::Q4, Precision::F32] {
            let bundle = pack(model, precision);
            let file = InPlaceFile {
                bytes: Arc::new(bundle.clone()),
                ranges: Cell::new(0),
            };
            let in_place = Classifier::load_bundle(&file).unwrap();
            let read = Classifier::load_bundle(&bundle.as_slice()).unwrap();
            assert_eq!(
                compare(&read, &in_place, &texts(model)),
                (0.0, 1.0),
                "{model} at {precision}"
            );
            // Only a quantized table is left in place (an f32 one, or one whose rows do not
            // fit the precision's blocks, is converted as before), and only it.
            assert!(file.ranges.get() <= usize::from(precision != Precision::F32));
            in_place_tables += file.ranges.get();
            // Out-of-range ids are refused as with a table in memory.
            let options = ClassifyOptions::default();
            let vocab = in_place.config().vocab_size as u32;
            let outcomes = in_place
                .classify_encoded(
                    &[Encoded {
                        ids: vec![0, vocab, 2],
                        ..Default::default()
                    }],
                    &options,
                )
                .unwrap();
            assert!(outcomes[0].is_err());
        }
    }
    assert!(
        in_place_tables >= 2,
        "{in_place_tables} tables left in place"
    );
}

/// Streams `bytes` into a [`BundleStream`] in pieces of `piece` bytes; the first error, from a
/// push or from `finish`.
fn stream(bytes: &[u8], declared: Option<u64>, piece: usize) -> Result<Classifier, Error> {
    let mut stream = BundleStream::new(declared);
    for chunk in bytes.chunks(piece) {
        stream.push(chunk.to_vec())?;
    }
    stream.finish()
}

#[test]
fn a_bundle_streamed_with_its_length_loads_the_same() {
    // Built while it arrives: the tokenizer once the header is in, each tensor once its last
    // byte is. Every model and precision, odd and even piece sizes, and one byte at a time
    // through the header.
    for model in MODELS {
        for precision in [Precision::F32, Precision::Q8_0, Precision::Q4] {
            let bundle = pack(model, precision);
            let whole = Classifier::load_bundle(&bundle.as_slice()).unwrap();
            for piece in [1, 997, 65536, bundle.len()] {
                if piece == 1 && bundle.len() > 2_000_000 {
                    continue;
                }
                let len = Some(bundle.len() as u64);
                let streamed = stream(&bundle, len, piece)
                    .unwrap_or_else(|e| panic!("{model} {precision} in pieces of {piece}: {e}"));
                assert_eq!(
                    compare(&whole, &streamed, &texts(model)),
                    (0.0, 1.0),
                    "{model} {precision} in pieces of {piece}"
                );
                assert_eq!(streamed.bundle_info(), whole.bundle_info());
            }
            // Without a length, everything waits for `finish`: the same classifier.
            let deferred = stream(&bundle, None, 4093).unwrap();
            assert_eq!(compare(&whole, &deferred, &texts(model)), (0.0, 1.0));
        }
    }
}

#[test]
fn a_streamed_bundle_refuses_short_long_and_damaged_files() {
    let bundle = pack("tiny-sentiment", Precision::Q8_0);
    let len = bundle.len() as u64;
    let corrupt = |r: Result<Classifier, Error>| match r {
        Err(Error::CorruptWeights {
            format: "gguf",
            reason,
        }) => reason,
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("loaded a damaged stream"),
    };
    // Fewer bytes than announced, cut in the header or in the tensors.
    for cut in [0, 3, 100, bundle.len() / 2, bundle.len() - 1] {
        let reason = corrupt(stream(&bundle[..cut], Some(len), 4096));
        assert!(reason.contains("truncated"), "cut {cut}: {reason}");
    }
    // More bytes than announced: refused by the push that brings them.
    let mut longer = bundle.clone();
    longer.extend_from_slice(&[0; 10]);
    let mut stream_long = BundleStream::new(Some(len));
    let mut refused = None;
    for chunk in longer.chunks(4096) {
        if let Err(e) = stream_long.push(chunk.to_vec()) {
            refused = Some(e.to_string());
            break;
        }
    }
    let refused = refused.expect("took more bytes than announced");
    assert!(refused.contains("more than the"), "{refused}");
    // A later push and `finish` give the error again.
    assert!(stream_long.push(vec![0]).is_err());
    assert!(stream_long.finish().is_err());
    // A length announced too short: the header's tensors lie past it.
    let reason = corrupt(stream(&bundle, Some(len - 10), 4096));
    assert!(reason.contains("past the end"), "{reason}");
    // A damaged header fails as soon as it is complete, long before the end of the file.
    let key = b"xlmr_sentiment.bundle_version";
    let at = bundle
        .windows(key.len())
        .position(|w| w == key)
        .expect("key present");
    let mut foreign = bundle.clone();
    foreign[at..at + key.len()].copy_from_slice(b"someone_else__.bundle_version");
    let mut early = BundleStream::new(Some(len));
    let mut pushed = 0;
    let err = loop {
        let end = (pushed + 4096).min(foreign.len());
        if let Err(e) = early.push(foreign[pushed..end].to_vec()) {
            break e;
        }
        pushed = end;
        assert!(pushed < foreign.len(), "the whole foreign file was taken");
    };
    assert!(
        err.to_string().contains("not an xlmr-sentiment bundle"),
        "{err}"
    );
    // Random damage in the header: a typed error or a working classifier, never a panic.
    let mut rng = Seeded::new(0x2545_f491_4f6c_dd1d);
    for _ in 0..100 {
        if let Ok(c) = stream(&damage_header(&bundle, &mut rng), Some(len), 1021) {
            let _ = c.classify(&["ok".to_string()], &ClassifyOptions::default());
        }
    }
}

/// `bundle` with four random bytes of its first 8 KiB (the header) overwritten.
fn damage_header(bundle: &[u8], rng: &mut Seeded) -> Vec<u8> {
    let mut damaged = bundle.to_vec();
    for _ in 0..4 {
        let at = rng.below(damaged.len().min(8192));
        damaged[at] = rng.below(256) as u8;
    }
    damaged
}

#[test]
fn damaged_bundles_give_typed_errors() {
    let bundle = pack("tiny-sentiment", Precision::Q8_0);
    // Every cut through the header and a stride through the data.
    let cuts = (0..4096.min(bundle.len())).chain((4096..bundle.len()).step_by(997));
    for cut in cuts {
        match Classifier::load_bundle(&&bundle[..cut]) {
            Err(Error::CorruptWeights { format: "gguf", .. }) => {}
            Err(other) => panic!("cut at {cut}: unexpected error {other}"),
            Ok(_) => panic!("cut at {cut}: loaded a truncated bundle"),
        }
    }
    // Random byte damage: any typed error or a working classifier, never a panic.
    let mut rng = Seeded::new(0x9e37_79b9_7f4a_7c15);
    for _ in 0..200 {
        let damaged = damage_header(&bundle, &mut rng);
        if let Ok(c) = Classifier::load_bundle(&damaged.as_slice()) {
            let _ = c.classify(&["ok".to_string()], &ClassifyOptions::default());
        }
    }
}

#[test]
fn a_bundle_changed_inside_a_tensor_is_refused_by_its_digest() {
    use candle_core::quantized::gguf_file;
    let refused = |r: Result<Classifier, Error>, what: &str| match r {
        Err(Error::CorruptWeights { reason, .. }) => assert!(
            reason.contains("does not match the digest it was packed with"),
            "{what}: {reason}"
        ),
        Err(other) => panic!("{what}: unexpected error {other}"),
        Ok(_) => panic!("{what}: loaded a damaged bundle"),
    };
    for precision in [Precision::F32, Precision::Q8_0, Precision::Q4] {
        let bundle = pack("tiny-sentiment", precision);
        let content = gguf_file::Content::read(&mut Cursor::new(&bundle)).unwrap();
        let len = Some(bundle.len() as u64);
        // One bit of the first byte of each tensor, loaded whole, streamed, and streamed
        // without a length.
        for (name, info) in &content.tensor_infos {
            let at = (content.tensor_data_offset + info.offset) as usize;
            let mut damaged = bundle.clone();
            damaged[at] ^= 0x10;
            let what = format!("{precision} `{name}`");
            refused(Classifier::load_bundle(&damaged.as_slice()), &what);
            refused(stream(&damaged, len, 65536), &what);
            refused(stream(&damaged, None, 65536), &what);
        }
        // The padding after a tensor is not tensor data: a change there loads.
        let end = content
            .tensor_infos
            .values()
            .map(|i| {
                let size =
                    i.shape.elem_count() / i.ggml_dtype.block_size() * i.ggml_dtype.type_size();
                (content.tensor_data_offset + i.offset) as usize + size
            })
            .find(|end| end % 32 != 0)
            .expect("a tensor followed by padding (a bias of 3 values)");
        let mut padded = bundle.clone();
        padded[end] ^= 0x10;
        Classifier::load_bundle(&padded.as_slice()).unwrap();
    }
    // A bundle without a digest (packed before it existed) loads unchecked.
    let bundle = pack("tiny-sentiment", Precision::Q8_0);
    let key = xlmr_sentiment_core::DIGEST_KEY.as_bytes();
    let at = bundle.windows(key.len()).position(|w| w == key).unwrap();
    let mut undigested = bundle.clone();
    undigested[at + key.len() - 1] ^= 1; // an unknown key now
    let content = gguf_file::Content::read(&mut Cursor::new(&undigested)).unwrap();
    let first = content
        .tensor_infos
        .values()
        .map(|i| i.offset)
        .min()
        .unwrap();
    undigested[(content.tensor_data_offset + first) as usize] ^= 0x10;
    Classifier::load_bundle(&undigested.as_slice()).unwrap();
}

#[test]
fn foreign_gguf_files_are_named_as_such() {
    let model = "tiny-sentiment";
    let weights = read(model, weight_files(model)[0]);
    let bundle = pack(model, Precision::F32);
    // Rename the version key in place (same length), as another program's GGUF would lack it.
    let key = b"xlmr_sentiment.bundle_version";
    let at = bundle
        .windows(key.len())
        .position(|w| w == key)
        .expect("key present");
    let mut renamed = bundle.clone();
    renamed[at..at + key.len()].copy_from_slice(b"someone_else__.bundle_version");
    let err = Classifier::load_bundle(&renamed.as_slice()).expect_err("refused");
    assert!(
        err.to_string().contains("not an xlmr-sentiment bundle"),
        "{err}"
    );
    let err = Classifier::load_bundle(&weights.as_slice()).expect_err("refused");
    assert!(matches!(err, Error::CorruptWeights { .. }), "{err}");
    assert!(matches!(
        "q3".parse::<Precision>(),
        Err(Error::InvalidOption(_))
    ));
}
