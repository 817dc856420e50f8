//! `reproduce`: the model card's benchmark on this machine.

use std::io::Write;
use std::process::ExitCode;

use anyhow::Context;
use xlmr_sentiment::model_dir;
use xlmr_sentiment::reproduce::{reproduce as run, Model};

use super::flags::ReproduceArgs;

pub(crate) fn reproduce(args: ReproduceArgs) -> anyhow::Result<ExitCode> {
    let models = args
        .models
        .iter()
        .map(|path| {
            let classifier = model_dir::load_with(path, !args.no_verify)
                .with_context(|| format!("cannot load the model {}", path.display()))?;
            Ok(Model {
                path: path.clone(),
                classifier,
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let report = run(&models, &args.dataset, &args.split)?;
    let json = serde_json::to_string(&report)?;
    let markdown = report.markdown();
    if let Some(out) = &args.out {
        std::fs::write(out, format!("{json}\n")).with_context(|| out.display().to_string())?;
        let md = out.with_extension("md");
        std::fs::write(&md, &markdown).with_context(|| md.display().to_string())?;
    }
    if let Some(html) = &args.html {
        std::fs::write(html, report.html()).with_context(|| html.display().to_string())?;
    }
    let mut stdout = std::io::stdout().lock();
    if args.json {
        writeln!(stdout, "{json}")?;
    } else {
        stdout.write_all(markdown.as_bytes())?;
    }
    Ok(ExitCode::SUCCESS)
}
