//! `eval`: accuracy and F1 of a model on a labelled data set.

use std::io::{BufWriter, Write};

use anyhow::Context;
use std::process::ExitCode;

use xlmr_sentiment::eval::data::{Fields, Format};
use xlmr_sentiment::eval::{evaluate, report, EvalConfig};
use xlmr_sentiment::formats::FileFormat;
use xlmr_sentiment::provenance::Provenance;

use super::flags::EvalArgs;

pub(crate) fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (classifier, options) = args.model.load(args.batch_size)?;
    let defaults = Fields::default();
    let config = EvalConfig {
        data: args.data,
        split: args.split,
        format: args
            .format
            .map(|f| Format::from_name(&f))
            .transpose()
            .map_err(anyhow::Error::msg)?,
        fields: Fields {
            text: args.text_field,
            label: args.label_field,
            language_required: args.language_field.is_some(),
            language: args.language_field.unwrap_or(defaults.language),
        },
        options,
        skip_bad_rows: args.skip_bad_rows,
    };
    let provenance = Provenance::of(&args.model.dir, &classifier)?;
    let evaluation = evaluate(&classifier, &config)?;
    for bad in &evaluation.skipped_examples {
        eprintln!("skipped line {}: {}", bad.line, bad.reason);
    }
    let unlisted = evaluation.skipped - evaluation.skipped_examples.len() as u64;
    if unlisted > 0 {
        eprintln!("skipped {unlisted} more bad row(s)");
    }
    if let Some(html) = &args.html {
        std::fs::write(
            html,
            report::html(&evaluation, &args.model.dir, &provenance),
        )
        .with_context(|| html.display().to_string())?;
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer(
            &mut out,
            &report::json(&evaluation, &args.model.dir, &provenance),
        )?;
        out.write_all(b"\n")?;
    } else {
        report::human(&evaluation, &args.model.dir, &provenance, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
