//! `classify`: texts from arguments, a file or standard input to JSON lines on standard output,
//! or with `--output` a resumable batch job.

use std::io::{BufRead, BufWriter, IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use xlmr_sentiment::formats::FileFormat;
use xlmr_sentiment::input::{Line, Lines};
use xlmr_sentiment::languages::LanguageTally;
use xlmr_sentiment::output;
use xlmr_sentiment_core::{Classifier, ClassifyOptions, TopK};

use super::flags::ClassifyArgs;

pub(crate) fn classify(args: ClassifyArgs) -> anyhow::Result<ExitCode> {
    if let (Some(input), Some(output)) = (&args.input, &args.batch.output) {
        return batch_job(&args, input, output);
    }
    let (classifier, mut options) = args.model.load(args.batch_size)?;
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
        // Classify in the batch job's chunks, so input streams through in the same bounded
        // memory and results appear while a long file is still being read.
        let chunk = xlmr_sentiment::batch::chunk_size(&options);
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
    let (classifier, mut options) = args.model.load(args.batch_size)?;
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
            shown(output)
        );
        return Ok(ExitCode::from(1));
    }
    if job.progress {
        eprintln!("{} rows written to {}", report.rows, shown(output));
    }
    Ok(ExitCode::SUCCESS)
}

/// An output path as messages name it.
fn shown(output: &std::path::Path) -> String {
    if output.as_os_str() == "-" {
        "standard output".into()
    } else {
        output.display().to_string()
    }
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
