//! `pack`: a model folder to one bundle file (GGUF: tensors at the chosen precision, plus
//! `config.json` and `tokenizer.json`), written atomically with its SHA-256 beside it, and
//! compared with the folder's own f32 model on a set of texts.

use std::io::{BufWriter, Write};
use std::path::Path;

use xlmr_sentiment_core::{
    write_bundle, BundleSource, Classifier, ClassifyOptions, PackSummary, Precision,
    TrainedLanguages,
};

use crate::manifest::{sha256_file, temp_path, write_atomically, Manifest};
use crate::model_dir::{self, checksum_path, WeightsFile};
use crate::Error;

/// What was written, and how the bundle compares with the f32 model.
#[derive(Debug, Clone)]
pub struct PackReport {
    /// Bundle size in bytes.
    pub bytes: u64,
    /// Bundle SHA-256 (also written to `FILE.sha256`).
    pub sha256: String,
    /// Tensors by storage type.
    pub summary: PackSummary,
    /// Texts compared.
    pub texts: usize,
    /// The largest change of any label's probability, bundle vs the folder's model.
    pub max_probability_change: f32,
    /// The share of texts whose top label is the same.
    pub top_label_agreement: f64,
}

/// The texts `pack` compares on when given none (`assets/pack-texts.json`, inside the crate so it
/// packages): the fixtures' golden texts, 11 in each of the model's 8 languages plus hard cases
/// (emoji, long and empty texts, mentions, mixed scripts).
pub fn default_texts() -> Vec<String> {
    const TEXTS: &str = include_str!("../assets/pack-texts.json");
    serde_json::from_str(TEXTS).expect("the embedded texts parse")
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// Packs the folder `dir` into `out` at `precision` and compares it on `texts`. With `verify`,
/// the folder's files are first checked against its manifest. `out` appears only when complete.
/// The bundle records `languages` as the model's trained languages, or else those of the
/// folder's manifest, if any.
pub fn pack(
    dir: &Path,
    precision: Precision,
    out: &Path,
    texts: &[String],
    verify: bool,
    languages: Option<&TrainedLanguages>,
) -> Result<PackReport, Error> {
    let model_error = |error| Error::Model {
        dir: dir.to_path_buf(),
        error,
    };
    // Loading the folder first checks it (manifest, shapes, tokenizer) and gives the reference.
    let reference = model_dir::load_with(dir, verify)?;
    let manifest = Manifest::read(dir)?;
    let source = BundleSource {
        model_id: manifest.as_ref().map(|m| m.model_id.clone()),
        revision: manifest.as_ref().map(|m| m.revision.clone()),
        trained_languages: languages.or(reference.trained_languages()).cloned(),
    };
    let config = std::fs::read(dir.join(xlmr_sentiment_core::CONFIG_FILE))
        .map_err(io(&dir.join(xlmr_sentiment_core::CONFIG_FILE)))?;
    let tokenizer = model_dir::tokenizer_json(dir)?;
    let weights = WeightsFile::open(&model_dir::weights_path(dir)?)?;

    let partial = temp_path(out);
    let summary = {
        let file = std::fs::File::create(&partial).map_err(io(&partial))?;
        let mut writer = BufWriter::new(file);
        let written = write_bundle(
            &mut writer,
            &config,
            &tokenizer,
            &weights,
            precision,
            &source,
        );
        let finished = written.map_err(model_error).and_then(|summary| {
            let file = writer
                .into_inner()
                .map_err(|e| io(&partial)(e.into_error()))?;
            file.sync_all().map_err(io(&partial))?;
            Ok(summary)
        });
        if finished.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        finished?
    };
    std::fs::rename(&partial, out).map_err(io(out))?;

    let sha256 = sha256_file(out)?;
    let name = out.file_name().unwrap_or_default().to_string_lossy();
    write_atomically(
        &checksum_path(out),
        format!("{sha256}  {name}\n").as_bytes(),
    )?;
    let bytes = std::fs::metadata(out).map_err(io(out))?.len();

    let bundle = Classifier::load_bundle(&WeightsFile::open(out)?).map_err(model_error)?;
    let (max_probability_change, top_label_agreement) =
        compare(&reference, &bundle, texts).map_err(model_error)?;
    Ok(PackReport {
        bytes,
        sha256,
        summary,
        texts: texts.len(),
        max_probability_change,
        top_label_agreement,
    })
}

/// The largest probability change and the top-label agreement (a fraction) between two models
/// on `texts`.
pub fn compare(
    a: &Classifier,
    b: &Classifier,
    texts: &[String],
) -> Result<(f32, f64), xlmr_sentiment_core::Error> {
    if texts.is_empty() {
        return Ok((0.0, 1.0));
    }
    let options = ClassifyOptions::default();
    let pa = a.classify(texts, &options)?;
    let pb = b.classify(texts, &options)?;
    let mut worst = 0f32;
    let mut same = 0usize;
    for (x, y) in pa.iter().zip(&pb) {
        same += usize::from(x.label == y.label);
        for (s, t) in x.scores.iter().zip(&y.scores) {
            worst = worst.max((s.score - t.score).abs());
        }
    }
    Ok((worst, same as f64 / texts.len() as f64))
}

/// Prints a report the way the CLI shows it.
pub fn print_report(
    out: &mut impl Write,
    file: &Path,
    precision: Precision,
    r: &PackReport,
) -> std::io::Result<()> {
    writeln!(
        out,
        "{}: {} bytes ({:.1} MB), precision {precision}",
        file.display(),
        r.bytes,
        r.bytes as f64 / 1e6
    )?;
    writeln!(
        out,
        "sha256 {} (also in {})",
        r.sha256,
        checksum_path(file).display()
    )?;
    for (dtype, tensors, params) in &r.summary.by_type {
        writeln!(out, "  {dtype:>5}: {tensors} tensors, {params} parameters")?;
    }
    writeln!(
        out,
        "against the folder's f32 model on {} texts: largest probability change {:.6}, same top label on {:.1}%",
        r.texts,
        r.max_probability_change,
        100.0 * r.top_label_agreement
    )
}

#[cfg(test)]
mod default_texts_tests {
    /// The asset is a copy of the golden texts: regenerated fixtures must refresh it.
    #[test]
    fn default_texts_are_the_golden_texts() {
        #[derive(serde::Deserialize)]
        struct Golden {
            texts: Vec<Row>,
        }
        #[derive(serde::Deserialize)]
        struct Row {
            text: String,
        }
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/fixtures/models/tiny-sentiment/golden.json"
        );
        let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
        let golden: Golden = serde_json::from_slice(&bytes).unwrap();
        let texts: Vec<String> = golden.texts.into_iter().map(|r| r.text).collect();
        assert_eq!(super::default_texts(), texts);
    }
}
