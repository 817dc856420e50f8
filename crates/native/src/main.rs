//! `xlmr-sentiment`: classify text with an XLM-R sequence-classification model folder.
//!
//! Exit codes: 0 success; 1 some input lines could not be classified (each has an error object
//! in the output); 2 a usage or model error (one line on stderr).

use std::io::{BufRead, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use xlmr_sentiment::input::{Line, Lines};
use xlmr_sentiment::{model_dir, output};
use xlmr_sentiment_core::{Classifier, ClassifyOptions};

#[derive(Parser)]
#[command(
    name = "xlmr-sentiment",
    version,
    about = "On-device multilingual sentiment classification"
)]
struct Cli {
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
}

#[derive(clap::Args)]
struct ClassifyArgs {
    /// Hugging Face model folder: config.json, tokenizer.json, and model.safetensors or
    /// pytorch_model.bin.
    #[arg(long, value_name = "DIR")]
    model: PathBuf,
    /// Read texts from FILE, one per line ("-" for standard input). Without TEXT or --input,
    /// standard input is read.
    #[arg(long, short, value_name = "FILE", conflicts_with = "texts")]
    input: Option<PathBuf>,
    /// List only the N highest labels in "scores" (default: all labels, highest first).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    top_k: Option<u32>,
    /// Do not apply the model card's tweet preprocessing (@handle -> @user, links -> http).
    #[arg(long)]
    no_preprocess: bool,
    /// Token limit per text, <s> and </s> included (default and maximum: the model's, 512 for
    /// XLM-R). Longer texts are truncated and marked "truncated": true.
    #[arg(long, value_name = "N")]
    max_length: Option<usize>,
    /// Texts per forward pass.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..))]
    batch_size: u32,
    /// Texts to classify.
    #[arg(value_name = "TEXT")]
    texts: Vec<String>,
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
    match cli.command {
        Command::Classify(args) => classify(args),
    }
}

fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    let options = ClassifyOptions {
        preprocess: !args.no_preprocess,
        max_length: args.max_length,
        batch_size: args.batch_size as usize,
        ..ClassifyOptions::default()
    };
    let classifier = model_dir::load(&args.model).context("cannot load the model")?;
    classifier.check_options(&options)?;
    let top_k = args.top_k.map(|k| k as usize);
    let mut out = BufWriter::new(std::io::stdout().lock());
    let mut writer = Writer {
        classifier: &classifier,
        options: &options,
        top_k,
        failed: 0,
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
    if writer.failed > 0 {
        eprintln!(
            "{} input line(s) could not be classified; see their \"error\" objects",
            writer.failed
        );
        return Ok(ExitCode::from(1));
    }
    Ok(ExitCode::SUCCESS)
}

struct Writer<'a> {
    classifier: &'a Classifier,
    options: &'a ClassifyOptions,
    top_k: Option<usize>,
    failed: usize,
}

impl Writer<'_> {
    /// Classifies a chunk of lines and writes one JSON object per line, in order.
    fn write(&mut self, lines: &[Line], out: &mut impl Write) -> anyhow::Result<()> {
        let texts: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.text.as_deref().ok())
            .collect();
        let predictions = match self.classifier.classify(&texts, self.options) {
            Ok(predictions) => predictions.into_iter().map(Ok).collect(),
            // Find the failing texts one by one so the others still get their results.
            Err(_) => texts
                .iter()
                .map(|t| {
                    self.classifier
                        .classify(&[t], self.options)
                        .map(|mut p| p.remove(0))
                        .map_err(|e| e.to_string())
                })
                .collect::<Vec<_>>(),
        };
        let mut predictions = predictions.into_iter();
        for line in lines {
            let value = match &line.text {
                Ok(text) => match predictions.next().expect("one prediction per text") {
                    Ok(prediction) => output::prediction_json(text, &prediction, self.top_k),
                    Err(error) => {
                        self.failed += 1;
                        output::error_json(line.number, &error)
                    }
                },
                Err(error) => {
                    self.failed += 1;
                    output::error_json(line.number, error)
                }
            };
            serde_json::to_writer(&mut *out, &value)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}
