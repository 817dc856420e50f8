//! The commands about model files: `fetch` (download from a Hub), `verify` (against the
//! manifest) and `pack` (one GGUF bundle).

use std::io::IsTerminal;
use std::process::ExitCode;

use anyhow::Context;
use xlmr_sentiment::{hub, manifest, model_dir};

use super::flags::{FetchArgs, PackArgs, VerifyArgs};

pub(crate) fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let mut settings = match &args.dataset {
        None => hub::FetchSettings::from_env(
            args.model_id.as_deref(),
            args.revision.as_deref(),
            args.dir.as_deref(),
        ),
        Some(id) => {
            let splits = if args.splits.is_empty() {
                vec!["test".to_string()]
            } else {
                args.splits.clone()
            };
            hub::FetchSettings::dataset_from_env(
                Some(id),
                args.revision.as_deref(),
                args.dir.as_deref(),
                splits,
            )
        }
    };
    settings.progress = std::io::stderr().is_terminal();
    if !settings.is_pinned() {
        eprintln!(
            "note: `{}` is a branch or tag, not a commit: the manifest records the commit it \
             points to now; pass --revision <that commit> to fetch the same files again",
            settings.revision
        );
    }
    let report = hub::fetch(&settings).context("fetch failed")?;
    for (name, outcome) in &report.files {
        let entry = &report.manifest.files[name];
        let what = match outcome {
            hub::FileOutcome::Downloaded => "downloaded and checked",
            hub::FileOutcome::AlreadyPresent => "already present, checked",
        };
        eprintln!(
            "{name}: {} bytes, sha256 {}: {what}",
            entry.size, entry.sha256
        );
    }
    println!(
        "{}: {} at {}; manifest {}",
        settings.dir.display(),
        report.manifest.model_id,
        report.manifest.revision,
        settings.dir.join(manifest::MANIFEST_FILE).display()
    );
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
    if args.dir.is_file() {
        // A bundle: its own SHA-256 is in FILE.sha256.
        return match model_dir::check_bundle(&args.dir) {
            Ok(true) => {
                println!(
                    "{}: matches {}",
                    args.dir.display(),
                    model_dir::checksum_path(&args.dir).display()
                );
                Ok(ExitCode::SUCCESS)
            }
            Ok(false) => anyhow::bail!(
                "{}: no {} beside it to check against",
                args.dir.display(),
                model_dir::checksum_path(&args.dir).display()
            ),
            Err(e) => {
                println!("{e}");
                Ok(ExitCode::from(1))
            }
        };
    }
    let manifest = manifest::Manifest::read(&args.dir)?.with_context(|| {
        format!(
            "{}: no {} here (it is written by `xlmr-sentiment fetch`)",
            args.dir.display(),
            manifest::MANIFEST_FILE
        )
    })?;
    let mismatches = manifest.verify(&args.dir)?;
    for name in manifest.files.keys() {
        match mismatches.iter().find(|(n, _)| n == name) {
            Some((_, mismatch)) => println!("{name}: DIFFERS: {mismatch}"),
            None => println!("{name}: ok"),
        }
    }
    if mismatches.is_empty() {
        println!(
            "{}: all {} files match {} at {}",
            args.dir.display(),
            manifest.files.len(),
            manifest.model_id,
            manifest.revision
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "{}: {} file(s) differ from the manifest",
            args.dir.display(),
            mismatches.len()
        );
        Ok(ExitCode::from(1))
    }
}

pub(crate) fn pack(args: PackArgs) -> anyhow::Result<ExitCode> {
    let precision = args.precision;
    let texts = match &args.texts {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("{}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => xlmr_sentiment::pack::default_texts(),
    };
    let report = xlmr_sentiment::pack::pack(
        &args.dir,
        precision,
        &args.out,
        &texts,
        !args.no_verify,
        args.languages.as_ref(),
    )
    .context("cannot pack the model")?;
    xlmr_sentiment::pack::print_report(
        &mut std::io::stdout().lock(),
        &args.out,
        precision,
        &report,
    )?;
    Ok(ExitCode::SUCCESS)
}
