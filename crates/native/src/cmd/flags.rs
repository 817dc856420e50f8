//! The command line: every subcommand's flags (clap derive), and the model flags shared by the
//! commands that load one.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xlmr_sentiment::batch::reader::InputFormat;
use xlmr_sentiment::batch::writer::OutputFormat;
use xlmr_sentiment::eval::data::Format;
use xlmr_sentiment::formats::FileFormat;
use xlmr_sentiment::model_dir;
use xlmr_sentiment_core::{
    Classifier, ClassifyOptions, DeviceChoice, DeviceRequest, Precision, TrainedLanguages,
};

/// The quick start and the exit codes, under the top-level `--help`.
const AFTER_HELP: &str = "\
Quick start:
  xlmr-sentiment fetch --dir models/sentiment            (once, on a connected machine)
  xlmr-sentiment classify --model models/sentiment \"I love this!\"
  xlmr-sentiment classify --model models/sentiment --input in.csv --output out.csv
  xlmr-sentiment serve --model models/sentiment --addr 127.0.0.1:8080

Exit codes:
  0  success
  1  some inputs could not be classified (each has an error in its place), or verify found a
     changed file
  2  a usage or model error, explained in one line on stderr

Guides: docs/ in the repository (cli.md, server.md, bundles.md, model.md).";

#[derive(Parser)]
#[command(
    name = "xlmr-sentiment",
    version,
    about = "On-device multilingual sentiment classification",
    after_help = AFTER_HELP
)]
pub(crate) struct Cli {
    /// Threads for the model's computations [default: one per core]. Also read from
    /// RAYON_NUM_THREADS.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) threads: Option<u32>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Subcommand)]
pub(crate) enum Command {
    /// Classify texts: arguments, lines of a file or stdin, or a CSV/JSONL batch job.
    ///
    /// Texts come as arguments, or one per line from --input or standard input; with --output,
    /// a resumable batch job over lines, JSONL or CSV.
    ///
    /// Prints one JSON object per text, in input order:
    /// {"text", "label", "score", "scores": {"<label>": p, ...}, "truncated"}.
    Classify(ClassifyArgs),
    /// Score the model on labelled data (CSV with a header row, or JSON lines).
    ///
    /// Each row has a text, a gold label (one of the model's labels, compared ignoring case) and
    /// optionally a language. Prints the rows evaluated, accuracy, macro-F1 (the mean F1 over all
    /// the model's labels), per-label precision/recall/F1, per-language accuracy and macro-F1,
    /// the confusion matrix (rows gold, columns predicted) and texts per second of
    /// classification (model loading and file reading excluded).
    Eval(EvalArgs),
    /// Reproduce the model card's benchmark on this machine.
    ///
    /// Scores each model (a folder and its bundles, side by side) on a dataset folder's test
    /// split (cardiffnlp/tweet_sentiment_multilingual's layout) under the card's protocol (the
    /// raw text, 128 tokens, the top label), beside the card's F1 micro, F1 macro and accuracy,
    /// with the difference and a verdict (within 1%, within 2%, outside); per language; under
    /// two protocol changes (the tweet preprocessing on, 512 tokens); and, per precision, the
    /// agreement of top labels with the f32 model. Prints a Markdown report, or --json.
    Reproduce(ReproduceArgs),
    /// Download a model from the Hugging Face Hub at a pinned commit, hash-checked.
    ///
    /// Checks every file against the Hub's content hash and writes a manifest (sizes, SHA-256)
    /// beside the files. Honours HF_ENDPOINT (a mirror), HF_TOKEN (gated or private models) and HF_HUB_OFFLINE
    /// (no network: succeed only if DIR already holds the verified files). An interrupted
    /// download resumes when the command is run again; a file appears under its own name only
    /// once complete and checked.
    Fetch(FetchArgs),
    /// Check a model folder or a bundle against its manifest or checksum.
    ///
    /// A folder is checked against the manifest `fetch` wrote (every file's size and SHA-256), a
    /// bundle against its FILE.sha256. Exit code 0 if all match, 1 if any file differs or is missing (each is named).
    Verify(VerifyArgs),
    /// Pack a model folder into one bundle file (GGUF) at f32, f16, q8_0 or q4.
    ///
    /// The bundle holds the tensors plus config.json and tokenizer.json, for the browser package
    /// and the server. Writes FILE and FILE.sha256, then prints the size and, on a set of texts (the fixtures'
    /// 118 golden texts unless --texts), the largest probability change and the share of
    /// unchanged top labels against the folder's own f32 model.
    Pack(PackArgs),
    /// Serve the model over HTTP (text-embeddings-inference and HF inference APIs).
    ///
    /// Routes: text-embeddings-inference's POST /predict, the Hugging Face inference API's POST
    /// /, GET /health, /info and /metrics (Prometheus). Each text is tokenized on a small pool
    /// and queued (bounded); one model thread runs the batches. SIGTERM or Ctrl-C stops accepting connections, finishes the requests in flight,
    /// then exits 0.
    Serve(ServeArgs),
    /// Measure this machine's speed and memory on a model (one JSON row).
    ///
    /// Load time, the latency of one text (p50, p99), texts per second in batches of 16, one
    /// 512-token text, and peak memory; `bench/native.sh` runs it beside ONNX Runtime and PyTorch on the same texts.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
pub(crate) struct ServeArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Address to listen on (port 0: a free port; the address is printed on stderr).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub(crate) addr: std::net::SocketAddr,
    /// Require `Authorization: Bearer KEY` on every route but GET /health (compared in constant
    /// time, never logged).
    #[arg(long, value_name = "KEY", conflicts_with = "api_key_file")]
    pub(crate) api_key: Option<String>,
    /// Read the API key from this file (a mounted secret), trailing newline removed.
    #[arg(long, value_name = "FILE")]
    pub(crate) api_key_file: Option<PathBuf>,
    /// Answer browsers' CORS requests from this origin (such as https://app.example.com, or *);
    /// off by default.
    #[arg(long, value_name = "ORIGIN")]
    pub(crate) cors_allow_origin: Option<String>,
    /// Truncate over-long texts unless a request says `"truncate": false` (without it they are
    /// refused unless a request says `"truncate": true`).
    #[arg(long)]
    pub(crate) auto_truncate: bool,
    /// Write the logs (one line per request on stderr) as JSON lines.
    #[arg(long)]
    pub(crate) json_logs: bool,
    /// Put each request's texts in its log line. Off by default: texts are the private data.
    #[arg(long)]
    pub(crate) log_texts: bool,
    /// Largest request body in bytes (413 above).
    #[arg(long, value_name = "BYTES", default_value_t = 2_000_000)]
    pub(crate) payload_limit: usize,
    /// Most tokens per model batch (the sum of the texts' token counts).
    #[arg(long, value_name = "N", default_value_t = ClassifyOptions::DEFAULT_MAX_BATCH_TOKENS as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_batch_tokens: u32,
    /// Most texts per request (422 above).
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_client_batch_size: u32,
    /// Most requests served at once; more get 429 at once, never waiting.
    #[arg(long, value_name = "N", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_concurrent_requests: u32,
    /// Seconds a client has to send a request's headers; a slower one is disconnected.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0, value_parser = parse_seconds)]
    pub(crate) header_timeout: f64,
    /// Seconds a client has to send a request's whole body (408 after it). The body is read
    /// before the request takes a model slot.
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0, value_parser = parse_seconds)]
    pub(crate) body_timeout: f64,
}

/// A timeout in seconds: positive and at most a day.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!(
            "{text:?} is not a number of seconds (above 0, at most 86400)"
        )),
    }
}

#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// A model folder or a bundle file (as for classify --model).
    #[arg(long = "model", value_name = "DIR|FILE")]
    pub(crate) model: PathBuf,
    /// The texts: JSON {"latency_text", "throughput_texts": [...], "medium_text", "long_text"}, as
    /// bench/texts.py writes it.
    #[arg(long, value_name = "FILE")]
    pub(crate) texts: PathBuf,
    /// After measuring, compare with this f32 model folder on the fixtures' golden texts: top-label
    /// agreement and the largest probability change.
    #[arg(long, value_name = "DIR")]
    pub(crate) reference: Option<PathBuf>,
    /// Fewer repetitions: checks that everything runs; not a measurement.
    #[arg(long)]
    pub(crate) quick: bool,
    /// Where the model runs, as for classify (here the CPU unless asked: a row measures one
    /// device).
    #[arg(long, value_name = "DEVICE", default_value = "cpu", value_parser = parse_device)]
    pub(crate) device: DeviceChoice,
}

#[derive(clap::Args)]
pub(crate) struct PackArgs {
    /// The model folder to pack (as for classify --model).
    #[arg(value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// Storage of the weight matrices, one of: f32 (exact), f16, q8_0 (8.5 bits per weight), q4
    /// (Q4_K, 4.5 bits per weight). Biases and LayerNorm stay f32.
    #[arg(long, value_name = "f32|f16|q8_0|q4", value_parser = parse_precision)]
    pub(crate) precision: Precision,
    /// The bundle file to write (written whole or not at all).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: PathBuf,
    /// Compare on these texts, one per line, instead of the built-in set.
    #[arg(long, value_name = "FILE")]
    pub(crate) texts: Option<PathBuf>,
    /// Pack even if the folder's files differ from its manifest.
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// The languages the model was trained on, ISO 639-1 codes separated by commas (such as
    /// ar,en,fr), recorded in the bundle [default: those of the folder's manifest, if any].
    #[arg(long, value_name = "LIST", value_parser = parse_languages)]
    pub(crate) languages: Option<TrainedLanguages>,
}

fn parse_precision(name: &str) -> Result<Precision, String> {
    name.parse()
        .map_err(|e: xlmr_sentiment_core::Error| e.to_string())
}

pub(crate) fn parse_languages(list: &str) -> Result<TrainedLanguages, String> {
    TrainedLanguages::parse(list).map_err(|e| e.to_string())
}

#[derive(clap::Args)]
pub(crate) struct FetchArgs {
    /// Hugging Face model id [default: cardiffnlp/twitter-xlm-roberta-base-sentiment-multilingual,
    /// at a commit pinned in this program].
    #[arg(value_name = "MODEL_ID")]
    pub(crate) model_id: Option<String>,
    /// Commit hash to fetch (a branch or tag is resolved to its commit, which the manifest
    /// records) [default: the pinned commit for the default model, else main].
    #[arg(long, value_name = "SHA")]
    pub(crate) revision: Option<String>,
    /// Folder to write [default: models/<name part of MODEL_ID>, datasets/<name> for
    /// --dataset].
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: Option<PathBuf>,
    /// Fetch a dataset's data files instead of a model: a dataset id [default:
    /// cardiffnlp/tweet_sentiment_multilingual, the model card's benchmark data], at --revision
    /// [default: its Parquet conversion, refs/convert/parquet].
    #[arg(long, value_name = "DATASET_ID", num_args = 0..=1, default_missing_value = xlmr_sentiment::hub::DEFAULT_DATASET_ID, conflicts_with = "model_id")]
    pub(crate) dataset: Option<String>,
    /// With --dataset: a split to fetch; repeat for several [default: test].
    #[arg(long = "split", value_name = "NAME", requires = "dataset")]
    pub(crate) splits: Vec<String>,
}

#[derive(clap::Args)]
pub(crate) struct VerifyArgs {
    /// The model folder, or a bundle file.
    #[arg(value_name = "DIR|FILE")]
    pub(crate) dir: PathBuf,
}

/// The model folder and how texts are classified: shared by `classify` and `eval`.
/// The command line, with every flag of `serve` also read from the environment variable of its
/// name in capitals (`--max-batch-tokens` from `MAX_BATCH_TOKENS`), as containers configure a
/// service; `--help` shows each variable. Other commands read no variables: a `MODEL` left in a
/// shell must not pick `classify`'s model.
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    Cli::command().mut_subcommand("serve", |serve| {
        let flags: Vec<(String, String)> = serve
            .get_arguments()
            .filter_map(|a| Some((a.get_id().to_string(), a.get_long()?.to_string())))
            .filter(|(_, long)| !matches!(long.as_str(), "help" | "threads"))
            .collect();
        flags.into_iter().fold(serve, |serve, (id, long)| {
            let variable = long.to_ascii_uppercase().replace('-', "_");
            // --help names the variable but never prints its value (API_KEY is a secret).
            serve.mut_arg(id, |a| a.env(variable).hide_env_values(true))
        })
    })
}

#[derive(clap::Args)]
pub(crate) struct ModelArgs {
    /// Hugging Face model folder (config.json, tokenizer.json or sentencepiece.bpe.model, and
    /// model.safetensors or pytorch_model.bin), or a bundle file written by `pack`.
    #[arg(long = "model", value_name = "DIR|FILE")]
    pub(crate) dir: PathBuf,
    /// Do not apply the model card's tweet preprocessing (@handle -> @user, links -> http).
    #[arg(long)]
    pub(crate) no_preprocess: bool,
    /// Token limit per text, <s> and </s> included (default and maximum: the model's, 512 for
    /// XLM-R). classify and eval truncate longer texts (marked "truncated": true); serve refuses
    /// them unless the request asks "truncate": true (or with --auto-truncate).
    #[arg(long, value_name = "N")]
    pub(crate) max_length: Option<usize>,
    /// Load the model even if its files differ from the folder's manifest (see `verify`).
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// The languages the model was trained on, ISO 639-1 codes separated by commas (such as
    /// ar,en,fr), for the language check [default: as recorded by `fetch` for the default model
    /// or by `pack --languages` in a bundle; else unknown].
    #[arg(long, value_name = "LIST", value_parser = parse_languages)]
    pub(crate) languages: Option<TrainedLanguages>,
    /// Where the model runs: cpu; gpu (every batch; an error where there is no usable GPU); or
    /// auto, the GPU for batches large enough to be faster there (measured at load), else the
    /// CPU. `serve`'s /info says which, and why.
    #[arg(long, value_name = "DEVICE", default_value = "auto", env = "XLMR_DEVICE", value_parser = parse_device)]
    pub(crate) device: DeviceChoice,
}

/// `--device`: cpu, gpu or auto.
pub(crate) fn parse_device(text: &str) -> Result<DeviceChoice, String> {
    text.parse()
        .map_err(|e: xlmr_sentiment_core::Error| e.to_string())
}

impl ModelArgs {
    /// Loads the model (checked against its manifest unless --no-verify) and returns it with
    /// the classification options, checked against the model's limits.
    pub(crate) fn load(&self, batch_size: u32) -> anyhow::Result<(Classifier, ClassifyOptions)> {
        let options = ClassifyOptions {
            preprocess: !self.no_preprocess,
            max_length: self.max_length,
            batch_size: batch_size as usize,
            ..ClassifyOptions::default()
        };
        let device = DeviceRequest::new(self.device).context("cannot load the model")?;
        let mut classifier = model_dir::load_on(&self.dir, !self.no_verify, &device)
            .context("cannot load the model")?;
        if let Some(languages) = &self.languages {
            classifier.set_trained_languages(Some(languages.clone()));
        }
        classifier.check_options(&options)?;
        Ok((classifier, options))
    }
}

#[derive(clap::Args)]
pub(crate) struct ClassifyArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = ClassifyOptions::DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_size: u32,
    /// Read texts from FILE, one per line ("-" for standard input). Without TEXT or --input,
    /// standard input is read.
    #[arg(long, short, value_name = "FILE", conflicts_with = "texts")]
    pub(crate) input: Option<PathBuf>,
    /// List only the N highest labels in "scores" (default: all labels, highest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) top_k: Option<u32>,
    /// Texts to classify.
    #[arg(value_name = "TEXT")]
    pub(crate) texts: Vec<String>,
    /// Detect each text's language: adds "language" (ISO 639-1, or null when detection is not
    /// reliable: very short text, emoji only, mixed scripts) and "language_supported" (whether
    /// the model was trained on it; null unless both are known), and a summary on stderr.
    #[arg(long)]
    pub(crate) language: bool,
    #[command(flatten)]
    pub(crate) batch: BatchArgs,
}

/// `classify --input FILE --output FILE`: a restartable batch job (see docs/cli.md, "Batch jobs").
#[derive(clap::Args)]
pub(crate) struct BatchArgs {
    /// Write results to FILE (JSON lines, or CSV for a .csv name): a batch job with ids kept and
    /// a progress bar, resumed where it stopped when run again after a crash. "-" writes the
    /// same rows to standard output (for a pipe; no resume).
    #[arg(long, short, value_name = "FILE", requires = "input")]
    pub(crate) output: Option<PathBuf>,
    /// Input format [default: from the extension: .jsonl/.ndjson, .csv, else lines].
    #[arg(long, value_name = "FORMAT", requires = "output", value_parser = names::<InputFormat>())]
    pub(crate) format: Option<String>,
    /// Output format [default: csv for a .csv output, else jsonl].
    #[arg(long, value_name = "FORMAT", requires = "output", value_parser = names::<OutputFormat>())]
    pub(crate) output_format: Option<String>,
    /// JSONL field or CSV column holding the text [default: text].
    #[arg(
        long,
        value_name = "NAME",
        visible_alias = "text-column",
        requires = "output"
    )]
    pub(crate) text_field: Option<String>,
    /// JSONL field or CSV column holding the id written with each result [default: the line
    /// number].
    #[arg(
        long,
        value_name = "NAME",
        visible_alias = "id-column",
        requires = "output"
    )]
    pub(crate) id_field: Option<String>,
    /// Replace an existing output, or start an interrupted job over.
    #[arg(long, requires = "output")]
    pub(crate) overwrite: bool,
}

#[derive(clap::Args)]
pub(crate) struct EvalArgs {
    #[command(flatten)]
    pub(crate) model: ModelArgs,
    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = ClassifyOptions::DEFAULT_BATCH_SIZE as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) batch_size: u32,
    /// Labelled data: CSV with a header row, one JSON object per line ("-" for standard input,
    /// with --format), Parquet, or a dataset folder in the Hub's layout (one folder per config).
    #[arg(long, value_name = "FILE|DIR")]
    pub(crate) data: PathBuf,
    /// A dataset folder's split.
    #[arg(long, value_name = "NAME", default_value = "test")]
    pub(crate) split: String,
    /// Data format [default: a folder is a dataset, else from the extension: .csv, .jsonl,
    /// .ndjson or .parquet].
    #[arg(long, value_name = "FORMAT", value_parser = names::<Format>())]
    pub(crate) format: Option<String>,
    /// Column (CSV) or field (JSON) holding the text.
    #[arg(long, value_name = "NAME", default_value = "text")]
    pub(crate) text_field: String,
    /// Column or field holding the gold label.
    #[arg(long, value_name = "NAME", default_value = "label")]
    pub(crate) label_field: String,
    /// Column or field holding the language, for per-language scores [default: language, which
    /// a CSV file may lack; a column named here must exist].
    #[arg(long, value_name = "NAME")]
    pub(crate) language_field: Option<String>,
    /// Skip rows with a missing text or label, invalid UTF-8 or malformed JSON, and count them,
    /// instead of stopping at the first. Unknown labels always stop the run.
    #[arg(long)]
    pub(crate) skip_bad_rows: bool,
    /// Print one JSON object instead of tables.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the report as one self-contained HTML page (no script, nothing fetched).
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
}

#[derive(clap::Args)]
pub(crate) struct ReproduceArgs {
    /// A model folder or bundle; repeat for several (the first f32 one is the reference for
    /// agreement).
    #[arg(long = "model", value_name = "DIR|FILE", required = true)]
    pub(crate) models: Vec<PathBuf>,
    /// The dataset folder: one folder per config (`all`, `english`, ...), each with its splits.
    #[arg(long, value_name = "DIR")]
    pub(crate) dataset: PathBuf,
    /// The split to score.
    #[arg(long, value_name = "NAME", default_value = "test")]
    pub(crate) split: String,
    /// Load models even if their files differ from their manifest (see `verify`).
    #[arg(long)]
    pub(crate) no_verify: bool,
    /// Print one JSON object instead of the Markdown report.
    #[arg(long)]
    pub(crate) json: bool,
    /// Also write the report to FILE (JSON) and to FILE with the extension .md (Markdown).
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page (no script, nothing fetched).
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
}

/// The values a `--format` option takes: every name of the format enum, as `from_name` reads
/// them, so clap and the library never disagree.
fn names<F: FileFormat>() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(F::NAMES.iter().map(|&(name, _)| name))
}
