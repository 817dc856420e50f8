//! `serve` (the HTTP server) and `bench` (the speed figures of this machine).

use std::process::ExitCode;

use anyhow::Context;
use xlmr_sentiment::model_dir;
use xlmr_sentiment_core::ClassifyOptions;

use super::flags::{BenchArgs, ServeArgs};

pub(crate) fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    // The request log on stderr: plain lines, or JSON lines with --json-logs.
    let logs = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    if args.json_logs {
        logs.json().flatten_event(true).init();
    } else {
        logs.init();
    }
    let (classifier, options) = args
        .model
        .load(ClassifyOptions::DEFAULT_BATCH_SIZE as u32)?;
    let info = xlmr_sentiment::server::model_info(&args.model.dir, &classifier)?;
    let api_key = match &args.api_key_file {
        Some(file) => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("--api-key-file {}", file.display()))?;
            let key = text.trim_end_matches(['\n', '\r']).to_string();
            anyhow::ensure!(
                !key.is_empty(),
                "--api-key-file {}: the file is empty",
                file.display()
            );
            Some(key)
        }
        None => args.api_key,
    };
    let config = xlmr_sentiment::server::ServeConfig {
        addr: args.addr,
        api_key,
        cors_allow_origin: args.cors_allow_origin,
        auto_truncate: args.auto_truncate,
        log_texts: args.log_texts,
        payload_limit: args.payload_limit,
        max_batch_tokens: args.max_batch_tokens as usize,
        max_client_batch_size: args.max_client_batch_size as usize,
        max_concurrent_requests: args.max_concurrent_requests as usize,
        header_timeout: std::time::Duration::from_secs_f64(args.header_timeout),
        body_timeout: std::time::Duration::from_secs_f64(args.body_timeout),
    };
    xlmr_sentiment::server::serve(classifier, options, info, config)?;
    Ok(ExitCode::SUCCESS)
}

pub(crate) fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
    use xlmr_sentiment::bench;
    let text = std::fs::read_to_string(&args.texts)
        .with_context(|| format!("{}", args.texts.display()))?;
    let texts: bench::BenchTexts = serde_json::from_str(&text)
        .with_context(|| format!("{}: not a bench texts file", args.texts.display()))?;
    let setup = bench::BenchSetup {
        quick: args.quick,
        threads: rayon::current_num_threads(),
    };
    // No manifest check: its hashing would count as load time.
    let device = xlmr_sentiment_core::DeviceRequest::new(args.device)?;
    let (classifier, mut row) = bench::run(
        &args.model,
        || model_dir::load_on(&args.model, false, &device),
        &texts,
        &setup,
    )?;
    if let Some(reference) = &args.reference {
        let f32_model = model_dir::load_with(reference, false)?;
        let golden = xlmr_sentiment::pack::default_texts();
        let (change, agreement) = xlmr_sentiment::pack::compare(&f32_model, &classifier, &golden)
            .context("comparing with the reference")?;
        row.agreement_with_f32 = Some(agreement);
        row.max_prob_change = Some(change);
    }
    row.provenance = Some(xlmr_sentiment::provenance::Provenance::of(
        &args.model,
        &classifier,
    )?);
    println!("{}", serde_json::to_string(&row)?);
    Ok(ExitCode::SUCCESS)
}
