//! `xlmr-sentiment`: classify text with an XLM-R sequence-classification model folder.
//!
//! Exit codes: 0 success; 1 some input lines could not be classified (each has an error object
//! in the output); 2 a usage or model error (one line on stderr).

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xlmr_sentiment::eval::data::{Fields, Format};
use xlmr_sentiment::eval::{evaluate, report, EvalConfig};
use xlmr_sentiment::formats::FileFormat;
use xlmr_sentiment::input::{Line, Lines};
use xlmr_sentiment::languages::LanguageTally;
use xlmr_sentiment::{hub, manifest, model_dir, output};
use xlmr_sentiment_core::{Classifier, ClassifyOptions, TopK, TrainedLanguages};

#[derive(Parser)]
#[command(
    name = "xlmr-sentiment",
    version,
    about = "On-device multilingual sentiment classification"
)]
struct Cli {
    /// Threads for the model's computations [default: one per core]. Also read from
    /// RAYON_NUM_THREADS.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    threads: Option<u32>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Classify texts given as arguments, or one per line from --input or standard input.
    ///
    /// Prints one JSON object per text, in input order:
    /// {"text", "label", "score", "scores": {"<label>": p, ...}, "truncated"}.
    Classify(ClassifyArgs),
    /// Score the model on labelled data: a CSV file with a header row, or JSON lines.
    ///
    /// Each row has a text, a gold label (one of the model's labels, compared ignoring case) and
    /// optionally a language. Prints the rows evaluated, accuracy, macro-F1 (the mean F1 over all
    /// the model's labels), per-label precision/recall/F1, per-language accuracy and macro-F1,
    /// the confusion matrix (rows gold, columns predicted) and texts per second of
    /// classification (model loading and file reading excluded).
    Eval(EvalArgs),
    /// Download a model from the Hugging Face Hub at a pinned commit, check every file against
    /// the Hub's content hash, and write a manifest (sizes, SHA-256) beside the files.
    ///
    /// Honours HF_ENDPOINT (a mirror), HF_TOKEN (gated or private models) and HF_HUB_OFFLINE
    /// (no network: succeed only if DIR already holds the verified files). An interrupted
    /// download resumes when the command is run again; a file appears under its own name only
    /// once complete and checked.
    Fetch(FetchArgs),
    /// Check a model folder against the manifest `fetch` wrote (every file's size and SHA-256),
    /// or a bundle against its FILE.sha256.
    ///
    /// Exit code 0 if all match, 1 if any file differs or is missing (each is named).
    Verify(VerifyArgs),
    /// Pack a model folder into one bundle file (GGUF): the tensors at f32, f16, q8_0 or q4,
    /// plus config.json and tokenizer.json, for the browser package and the server.
    ///
    /// Writes FILE and FILE.sha256, then prints the size and, on a set of texts (the fixtures'
    /// 118 golden texts unless --texts), the largest probability change and the share of
    /// unchanged top labels against the folder's own f32 model.
    Pack(PackArgs),
    /// Serve the model over HTTP: text-embeddings-inference's POST /predict, the Hugging Face
    /// inference API's POST /, GET /health, /info and /metrics (Prometheus).
    ///
    /// Requests are tokenized on a small pool, queued (bounded), and batched on one model
    /// thread. SIGTERM or Ctrl-C stops accepting connections, finishes the requests in flight,
    /// then exits 0.
    Serve(ServeArgs),
    /// Measure this machine's speed on a model: load time, the latency of one text (p50, p99),
    /// texts per second in batches of 16, one 512-token text, and peak memory. Prints one JSON
    /// row; `bench/native.sh` runs it beside ONNX Runtime and PyTorch on the same texts.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Address to listen on (port 0: a free port; the address is printed on stderr).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    addr: std::net::SocketAddr,
    /// Require `Authorization: Bearer KEY` on every route but GET /health.
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Largest request body in bytes (413 above).
    #[arg(long, value_name = "BYTES", default_value_t = 2_000_000)]
    payload_limit: usize,
    /// Most tokens per model batch (the sum of the texts' token counts).
    #[arg(long, value_name = "N", default_value_t = ClassifyOptions::DEFAULT_MAX_BATCH_TOKENS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    max_batch_tokens: u32,
    /// Most texts per request (422 above).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    max_client_batch_size: u32,
    /// Most requests served at once; more get 429 at once, never waiting.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    max_concurrent_requests: u32,
}

#[derive(clap::Args)]
struct BenchArgs {
    /// A model folder or a bundle file (as for classify --model).
    #[arg(long = "model", value_name = "DIR|FILE")]
    model: PathBuf,
    /// The texts: JSON {"latency_text", "throughput_texts": [...], "medium_text", "long_text"}, as
    /// bench/texts.py writes it.
    #[arg(long, value_name = "FILE")]
    texts: PathBuf,
    /// After measuring, compare with this f32 model folder on the fixtures' golden texts: top-label
    /// agreement and the largest probability change.
    #[arg(long, value_name = "DIR")]
    reference: Option<PathBuf>,
    /// Fewer repetitions: checks that everything runs; not a measurement.
    #[arg(long)]
    quick: bool,
}

#[derive(clap::Args)]
struct PackArgs {
    /// The model folder to pack (as for classify --model).
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Storage of the weight matrices: f32 (exact), f16, q8_0 (8.5 bits per weight), q4 (Q4_K,
    /// 4.5 bits per weight). Biases and LayerNorm stay f32.
    #[arg(long, value_name = "PRECISION")]
    precision: String,
    /// The bundle file to write (written whole or not at all).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Compare on these texts, one per line, instead of the built-in set.
    #[arg(long, value_name = "FILE")]
    texts: Option<PathBuf>,
    /// Pack even if the folder's files differ from its manifest.
    #[arg(long)]
    no_verify: bool,
    /// The languages the model was trained on, ISO 639-1 codes separated by commas (such as
    /// ar,en,fr), recorded in the bundle [default: those of the folder's manifest, if any].
    #[arg(long, value_name = "LIST", value_parser = parse_languages)]
    languages: Option<TrainedLanguages>,
}

fn parse_languages(list: &str) -> Result<TrainedLanguages, String> {
    TrainedLanguages::parse(list).map_err(|e| e.to_string())
}

#[derive(clap::Args)]
struct FetchArgs {
    /// Hugging Face model id [default: cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual,
    /// at a commit pinned in this program].
    #[arg(value_name = "MODEL_ID")]
    model_id: Option<String>,
    /// Commit hash to fetch (a branch or tag is resolved to its commit, which the manifest
    /// records) [default: the pinned commit for the default model, else main].
    #[arg(long, value_name = "SHA")]
    revision: Option<String>,
    /// Folder to write [default: models/<name part of MODEL_ID>].
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

#[derive(clap::Args)]
struct VerifyArgs {
    /// The model folder, or a bundle file.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
}

/// The model folder and how texts are classified: shared by `classify` and `eval`.
#[derive(clap::Args)]
struct ModelArgs {
    /// Hugging Face model folder (config.json, tokenizer.json or sentencepiece.bpe.model, and
    /// model.safetensors or pytorch_model.bin), or a bundle file written by `pack`.
    #[arg(long = "model", value_name = "DIR|FILE")]
    dir: PathBuf,
    /// Do not apply the model card's tweet preprocessing (@handle -> @user, links -> http).
    #[arg(long)]
    no_preprocess: bool,
    /// Token limit per text, <s> and </s> included (default and maximum: the model's, 512 for
    /// XLM-R). Longer texts are truncated (classify marks them "truncated": true).
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = ClassifyOptions::DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Load the model even if its files differ from the folder's manifest (see `verify`).
    #[arg(long)]
    no_verify: bool,
    /// The languages the model was trained on, ISO 639-1 codes separated by commas (such as
    /// ar,en,fr), for the language check [default: as recorded by `fetch` for the default model
    /// or by `pack --languages` in a bundle; else unknown].
    #[arg(long, value_name = "LIST", value_parser = parse_languages)]
    languages: Option<TrainedLanguages>,
}

impl ModelArgs {
    /// Loads the model (checked against its manifest unless --no-verify) and returns it with
    /// the classification options, checked against the model's limits.
    fn load(&self) -> anyhow::Result<(Classifier, ClassifyOptions)> {
        let options = ClassifyOptions {
            preprocess: !self.no_preprocess,
            max_length: self.max_length,
            batch_size: self.batch_size as usize,
            ..ClassifyOptions::default()
        };
        let mut classifier =
            model_dir::load_with(&self.dir, !self.no_verify).context("cannot load the model")?;
        if let Some(languages) = &self.languages {
            classifier.set_trained_languages(Some(languages.clone()));
        }
        classifier.check_options(&options)?;
        Ok((classifier, options))
    }
}

#[derive(clap::Args)]
struct ClassifyArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Read texts from FILE, one per line ("-" for standard input). Without TEXT or --input,
    /// standard input is read.
    #[arg(long, short, value_name = "FILE", conflicts_with = "texts")]
    input: Option<PathBuf>,
    /// List only the N highest labels in "scores" (default: all labels, highest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    top_k: Option<u32>,
    /// Texts to classify.
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
    /// Detect each text's language: adds "language" (ISO 639-1, or null when detection is not
    /// reliable: very short text, emoji only, mixed scripts) and "language_supported" (whether
    /// the model was trained on it; null unless both are known), and a summary on stderr.
    #[arg(long)]
    language: bool,
    #[command(flatten)]
    batch: BatchArgs,
}

/// `classify --input FILE --output FILE`: a restartable batch job (see the README's "Batch jobs").
#[derive(clap::Args)]
struct BatchArgs {
    /// Write results to FILE (JSON lines, or CSV for a .csv name) instead of standard output: a
    /// batch job with a progress bar, resumed where it stopped when run again after a crash.
    #[arg(long, short, value_name = "FILE", requires = "input")]
    output: Option<PathBuf>,
    /// Input format [default: from the extension: .jsonl/.ndjson, .csv, else lines].
    #[arg(long, value_name = "FORMAT", requires = "output", value_parser = ["lines", "jsonl", "ndjson", "csv"])]
    format: Option<String>,
    /// Output format [default: csv for a .csv output, else jsonl].
    #[arg(long, value_name = "FORMAT", requires = "output", value_parser = ["jsonl", "ndjson", "csv"])]
    output_format: Option<String>,
    /// JSONL field or CSV column holding the text [default: text].
    #[arg(
        long,
        value_name = "NAME",
        visible_alias = "text-column",
        requires = "output"
    )]
    text_field: Option<String>,
    /// JSONL field or CSV column holding the id written with each result [default: the line
    /// number].
    #[arg(
        long,
        value_name = "NAME",
        visible_alias = "id-column",
        requires = "output"
    )]
    id_field: Option<String>,
    /// Replace an existing output, or start an interrupted job over.
    #[arg(long, requires = "output")]
    overwrite: bool,
}

#[derive(clap::Args)]
struct EvalArgs {
    #[command(flatten)]
    model: ModelArgs,
    /// Labelled data: CSV with a header row, or one JSON object per line ("-" for standard
    /// input, with --format).
    #[arg(long, value_name = "FILE")]
    data: PathBuf,
    /// Data format [default: from the extension: .csv, .jsonl or .ndjson].
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl", "ndjson"])]
    format: Option<String>,
    /// Column (CSV) or field (JSON) holding the text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    text_field: String,
    /// Column or field holding the gold label.
    #[arg(long, value_name = "NAME", default_value = "label")]
    label_field: String,
    /// Column or field holding the language, for per-language scores [default: language, which
    /// a CSV file may lack; a column named here must exist].
    #[arg(long, value_name = "NAME")]
    language_field: Option<String>,
    /// Skip rows with a missing text or label, invalid UTF-8 or malformed JSON, and count them,
    /// instead of stopping at the first. Unknown labels always stop the run.
    #[arg(long)]
    skip_bad_rows: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    json: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            use clap::error::ErrorKind;
            if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                let _ = e.print();
                return ExitCode::from(2);
            }
            // clap renders a paragraph (problem, details, tips, usage); keep problem and details
            // on one line.
            let rendered = e.to_string();
            let summary: Vec<&str> = rendered
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with("Usage:"))
                .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
                .collect();
            eprintln!("{} (see --help)", summary.join(" "));
            return ExitCode::from(2);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {}", format!("{e:#}").replace('\n', " "));
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Some(threads) = cli.threads {
        // The matrix products and attention run on rayon's global pool.
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads as usize)
            .build_global()
            .context("cannot start the thread pool")?;
    }
    match cli.command {
        Command::Bench(args) => bench(args),
        Command::Classify(args) => classify(args),
        Command::Eval(args) => eval(args),
        Command::Fetch(args) => fetch(args),
        Command::Verify(args) => verify(args),
        Command::Pack(args) => pack(args),
        Command::Serve(args) => serve(args),
    }
}

fn bench(args: BenchArgs) -> anyhow::Result<ExitCode> {
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
    let (classifier, mut row) = bench::run(
        &args.model,
        || model_dir::load_with(&args.model, false),
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
    println!("{}", serde_json::to_string(&row)?);
    Ok(ExitCode::SUCCESS)
}

fn serve(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let (classifier, options) = args.model.load()?;
    let info = xlmr_sentiment::server::model_info(&args.model.dir, &classifier)?;
    let config = xlmr_sentiment::server::ServeConfig {
        addr: args.addr,
        api_key: args.api_key,
        payload_limit: args.payload_limit,
        max_batch_tokens: args.max_batch_tokens as usize,
        max_client_batch_size: args.max_client_batch_size as usize,
        max_concurrent_requests: args.max_concurrent_requests as usize,
    };
    xlmr_sentiment::server::serve(classifier, options, info, config)?;
    Ok(ExitCode::SUCCESS)
}

fn pack(args: PackArgs) -> anyhow::Result<ExitCode> {
    let precision: xlmr_sentiment_core::Precision = args.precision.parse()?;
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

fn fetch(args: FetchArgs) -> anyhow::Result<ExitCode> {
    let mut settings = hub::FetchSettings::from_env(
        args.model_id.as_deref(),
        args.revision.as_deref(),
        args.dir.as_deref(),
    );
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

fn verify(args: VerifyArgs) -> anyhow::Result<ExitCode> {
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

fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    if let (Some(input), Some(output)) = (&args.input, &args.batch.output) {
        return batch_job(&args, input, output);
    }
    let (classifier, mut options) = args.model.load()?;
    options.language = args.language;
    let top_k = output::top_k(args.top_k.map(|k| k as usize));
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut writer = Writer {
        classifier: &classifier,
        options: &options,
        top_k,
        failed: 0,
        languages: LanguageTally::default(),
    };

    if !args.texts.is_empty() {
        let lines: Vec<Line> = args
            .texts
            .into_iter()
            .enumerate()
            .map(|(i, text)| Line {
                number: i + 1,
                text: Ok(text),
            })
            .collect();
        writer.write(&lines, &mut out)?;
    } else {
        let reader: Box<dyn BufRead> = match &args.input {
            Some(path) if path.as_os_str() != "-" => Box::new(std::io::BufReader::new(
                std::fs::File::open(path).with_context(|| format!("{}", path.display()))?,
            )),
            _ => Box::new(std::io::stdin().lock()),
        };
        // Classify in chunks so input streams through in bounded memory and results appear
        // while a long file is still being read.
        let chunk = (options.batch_size * 8).max(64);
        let mut pending = Vec::with_capacity(chunk);
        for line in Lines::new(reader) {
            pending.push(line.context("cannot read the input")?);
            if pending.len() == chunk {
                writer.write(&pending, &mut out)?;
                pending.clear();
            }
        }
        writer.write(&pending, &mut out)?;
    }
    out.flush()?;
    if options.language {
        print_language_summary(&writer.languages, &classifier);
    }
    if writer.failed > 0 {
        eprintln!(
            "{} input line(s) could not be classified; see their \"error\" objects",
            writer.failed
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

/// The `--language` summary on stderr ("312 of 10,000 texts in languages the model was not
/// trained on: ru 200, ja 112").
fn print_language_summary(tally: &LanguageTally, classifier: &Classifier) {
    eprintln!(
        "{}",
        tally.summary(classifier.trained_languages().is_some())
    );
}

fn batch_job(
    args: &ClassifyArgs,
    input: &std::path::Path,
    output: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use xlmr_sentiment::batch::{self, reader, writer};
    let b = &args.batch;
    let input_format = match &b.format {
        Some(f) => reader::InputFormat::from_name(f).map_err(anyhow::Error::msg)?,
        None => reader::InputFormat::from_path(input),
    };
    if input_format == reader::InputFormat::Lines
        && (b.text_field.is_some() || b.id_field.is_some())
    {
        anyhow::bail!(
            "invalid option: --text-field and --id-field apply to JSONL and CSV input, and {} is \
             read as plain lines (pass --format jsonl or --format csv)",
            input.display()
        );
    }
    let job = batch::Job {
        input: input.to_path_buf(),
        output: output.to_path_buf(),
        input_format,
        output_format: match &b.output_format {
            Some(f) => writer::OutputFormat::from_name(f).map_err(anyhow::Error::msg)?,
            None => writer::OutputFormat::from_path(output),
        },
        fields: reader::Fields {
            text: b.text_field.clone().unwrap_or_else(|| "text".into()),
            id: b.id_field.clone(),
        },
        top_k: args.top_k.map(|k| k as usize),
        overwrite: b.overwrite,
        progress: std::io::stderr().is_terminal(),
        model: args.model.dir.clone(),
    };
    let (classifier, mut options) = args.model.load()?;
    options.language = args.language;
    let report = batch::run(&classifier, &options, &job)?;
    if options.language {
        print_language_summary(&report.languages, &classifier);
    }
    if report.failed > 0 {
        eprintln!(
            "{} of {} input row(s) could not be classified; see their \"error\" in {}",
            report.failed,
            report.rows,
            output.display()
        );
        return Ok(ExitCode::from(1));
    }
    if job.progress {
        eprintln!("{} rows written to {}", report.rows, output.display());
    }
    Ok(ExitCode::SUCCESS)
}

fn eval(args: EvalArgs) -> anyhow::Result<ExitCode> {
    let (classifier, options) = args.model.load()?;
    let defaults = Fields::default();
    let config = EvalConfig {
        data: args.data,
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
    let evaluation = evaluate(&classifier, &config)?;
    for bad in &evaluation.skipped_examples {
        eprintln!("skipped line {}: {}", bad.line, bad.reason);
    }
    let unlisted = evaluation.skipped - evaluation.skipped_examples.len() as u64;
    if unlisted > 0 {
        eprintln!("skipped {unlisted} more bad row(s)");
    }
    let mut out = BufWriter::new(std::io::stdout().lock());
    if args.json {
        serde_json::to_writer(&mut out, &report::json(&evaluation, &args.model.dir))?;
        out.write_all(b"\n")?;
    } else {
        report::human(&evaluation, &args.model.dir, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

struct Writer<'a> {
    classifier: &'a Classifier,
    options: &'a ClassifyOptions,
    top_k: TopK,
    failed: usize,
    languages: LanguageTally,
}

impl Writer<'_> {
    /// Classifies a chunk of lines and writes one JSON object per line, in order.
    fn write(&mut self, lines: &[Line], out: &mut impl Write) -> anyhow::Result<()> {
        let texts: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.text.as_deref().ok())
            .collect();
        let predictions = self
            .classifier
            .classify_each(&texts, self.options)
            .context("classification failed")?;
        let mut predictions = predictions.into_iter();
        for line in lines {
            let number = line.number as u64;
            match &line.text {
                Ok(text) => match predictions.next().expect("one prediction per text") {
                    Ok(prediction) => {
                        if let Some(check) = &prediction.language {
                            self.languages.add(check);
                        }
                        let value = output::prediction_line(text, &prediction, self.top_k);
                        serde_json::to_writer(&mut *out, &value)?;
                    }
                    Err(error) => {
                        self.failed += 1;
                        let error = error.to_string();
                        serde_json::to_writer(&mut *out, &output::error_line(number, &error))?;
                    }
                },
                Err(error) => {
                    self.failed += 1;
                    serde_json::to_writer(&mut *out, &output::error_line(number, error))?;
                }
            }
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}
