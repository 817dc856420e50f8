//! Batch jobs: `classify --input FILE --output FILE`. Streams an input of any size (plain lines,
//! JSON lines or CSV) through the classifier a chunk at a time, writes one output row per input
//! record (JSON lines or CSV; a bad record gets its error in place), shows a progress bar on a
//! terminal, and can be restarted after a crash or Ctrl-C without losing or repeating a row.
//!
//! Restart works by appending whole chunks to the output and, after each one is on disk,
//! recording in a checkpoint (see [`checkpoint`]) how much input it covers and how long the
//! output then is. A restart cuts the output back to that length and skips that much input; as
//! chunks are cut at the same places in both runs, the finished file is byte for byte the one an
//! uninterrupted run writes.

pub mod checkpoint;
pub mod reader;
pub mod writer;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;
use xlmr_sentiment_core::{Classifier, ClassifyOptions, Encoded, Prediction};

use checkpoint::{start_state, Checkpoint, InputIdentity};
use reader::{Fields, InputFormat, Reader, Record};
use writer::{OutputFormat, RowWriter};

use crate::formats::FileFormat;
use crate::languages::LanguageTally;
use crate::Error;

/// What a batch job reads, writes and how.
#[derive(Debug, Clone)]
pub struct Job {
    /// The input file (`-`: standard input, which cannot be resumed).
    pub input: PathBuf,
    /// The output file; its checkpoint is `FILE.checkpoint`.
    pub output: PathBuf,
    /// How to read the input.
    pub input_format: InputFormat,
    /// How to write the output.
    pub output_format: OutputFormat,
    /// Text and id fields (JSONL) or columns (CSV).
    pub fields: Fields,
    /// JSON output lists only the k highest labels in `scores`.
    pub top_k: Option<usize>,
    /// Start over even if the output or a checkpoint exists.
    pub overwrite: bool,
    /// Draw a progress bar on standard error.
    pub progress: bool,
    /// The model's path, recorded in the checkpoint so a restart uses the same model.
    pub model: PathBuf,
}

/// How a finished job went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Output rows, one per input record (over all runs of the job).
    pub rows: u64,
    /// Rows written with an error instead of a prediction.
    pub failed: u64,
    /// Rows that an earlier, interrupted run had already written.
    pub resumed: u64,
    /// With `ClassifyOptions::language`: the languages of this run's texts (not those of an
    /// earlier, interrupted run).
    pub languages: LanguageTally,
}

/// Records per chunk: the unit of reading, classifying, writing and checkpointing. As many as
/// `classify` without `--output` reads at once, so both stream in the same bounded memory.
pub fn chunk_size(options: &ClassifyOptions) -> usize {
    (options.batch_size * 8).max(64)
}

/// Runs (or resumes) the job. Bad records are written in place with their error; the `Err`
/// cases stop the job, leaving the checkpoint so it can be resumed.
pub fn run(classifier: &Classifier, options: &ClassifyOptions, job: &Job) -> Result<Report, Error> {
    run_job(classifier, options, job).map_err(|e| match e {
        Error::Io { path, error } if error.kind() == std::io::ErrorKind::StorageFull => {
            Error::OutputFull { path }
        }
        other => other,
    })
}

fn run_job(classifier: &Classifier, options: &ClassifyOptions, job: &Job) -> Result<Report, Error> {
    let from_stdin = job.input.as_os_str() == "-";
    // `--output -`: the rows go to standard output for the next tool in a pipe; nothing there
    // can be cut back, so there is no checkpoint and no resume.
    let to_stdout = job.output.as_os_str() == "-";
    let checkpointed = !from_stdin && !to_stdout;
    if checkpointed && same_file(&job.input, &job.output) {
        return Err(Error::Refused(format!(
            "{}: the output would overwrite the input",
            job.output.display()
        )));
    }
    let checkpoint_path = checkpoint::path_for(&job.output);
    let identity = if from_stdin {
        None
    } else {
        Some(InputIdentity::of(&job.input)?)
    };
    // The weights' hash, computed now from the file itself (not a manifest, which --no-verify
    // may have let go stale): a model replaced at the same path must not resume a job. Only a
    // job with a checkpoint needs it; hashing a 1 GB file costs the others seconds for nothing.
    let weights_sha256 = if checkpointed {
        let weights = crate::model_dir::weights_file(&job.model)?;
        Some(crate::manifest::sha256_file(&weights)?)
    } else {
        None
    };
    let mut options_key = json!({
        "input_format": job.input_format.name(),
        "text_field": job.fields.text,
        "id_field": job.fields.id,
        "output_format": job.output_format.name(),
        "top_k": job.top_k,
        "model": std::path::absolute(&job.model).unwrap_or_else(|_| job.model.clone()),
        "weights_sha256": weights_sha256,
        "preprocess": options.preprocess,
        "max_length": options.max_length,
    });
    // Only when on, so the checkpoint of a job without it reads as before.
    if options.language {
        options_key["language"] = json!(true);
    }

    let mut state = if to_stdout {
        None
    } else {
        start_state(job, &checkpoint_path, identity.as_ref(), &options_key)?
    };
    let resumed = state.as_ref().map_or(0, |s| s.rows_done);
    let mut state = match state.take() {
        Some(state) => state,
        None => {
            let fresh = Checkpoint {
                input: identity.clone().unwrap_or_else(|| InputIdentity {
                    path: "-".into(),
                    size: 0,
                    modified_ns: 0,
                    prefix_sha256: String::new(),
                }),
                options: options_key,
                units_done: 0,
                rows_done: 0,
                rows_failed: 0,
                output_len: 0,
            };
            // Written before the output is created, so from the output's first byte on there
            // is a checkpoint that says what it is, and a crash at any point can be resumed.
            if checkpointed {
                fresh.write(&checkpoint_path)?;
            }
            fresh
        }
    };

    let out_io = |error| Error::Io {
        path: job.output.clone(),
        error,
    };
    let mut out = if to_stdout {
        Output::Stdout(std::io::stdout().lock())
    } else {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&job.output)
            .map_err(out_io)?;
        // Drop any partial chunk an interrupted run left after its last checkpoint.
        file.set_len(state.output_len).map_err(out_io)?;
        file.seek(SeekFrom::End(0)).map_err(out_io)?;
        Output::File(file)
    };
    let rows = RowWriter::new(job.output_format, classifier.labels(), job.top_k)
        .with_language(options.language);
    let mut languages = LanguageTally::default();
    if state.output_len == 0 {
        let header = rows.header();
        out.write_all(&header).map_err(out_io)?;
        // Not checkpointed on its own: a restart from length 0 writes it again.
        state.output_len = header.len() as u64;
    }

    // The input as it was when the job started: what is appended later is not read, and a
    // file cut short while it is read stops the job (see `InputWatch`).
    let watch = identity.as_ref().map(|identity| InputWatch { identity });
    let mut reader = Reader::open_prefix(
        &job.input,
        job.input_format,
        &job.fields,
        identity.as_ref().map(|i| i.size),
    )?;
    reader.skip(state.units_done)?;
    let progress = Progress::new(
        job.progress,
        identity.as_ref().map(|i| i.size),
        reader.bytes_read(),
    );
    let chunk = chunk_size(options);

    let mut consume = |chunk: Chunk| -> Result<(), Error> {
        let mut buffer = Vec::new();
        for (record, outcome) in chunk
            .records
            .iter()
            .zip(classify_chunk(classifier, options, &chunk)?)
        {
            match &outcome {
                Ok(prediction) => {
                    if let Some(check) = &prediction.language {
                        languages.add(check);
                    }
                }
                Err(_) => state.rows_failed += 1,
            }
            rows.row(
                &mut buffer,
                &record.id,
                record.line,
                outcome.as_ref().map_err(String::as_str),
            );
        }
        out.write_all(&buffer).map_err(out_io)?;
        // The chunk must be on disk before the checkpoint that counts it: otherwise a power
        // loss could keep the checkpoint but lose rows it promises.
        out.commit().map_err(out_io)?;
        state.output_len += buffer.len() as u64;
        state.units_done = chunk.units;
        state.rows_done += chunk.records.len() as u64;
        if checkpointed {
            state.write(&checkpoint_path)?;
        }
        progress.update(chunk.bytes, state.rows_done - resumed);
        Ok(())
    };

    std::thread::scope(|scope| {
        // One chunk in flight: the next is read and tokenized while this one is classified
        // (tokenizing beside the model's two threads still paid), and memory holds at most
        // three chunks.
        let (sender, receiver) = std::sync::mpsc::sync_channel(1);
        let reader = &mut reader;
        let watch = watch.as_ref();
        scope.spawn(move || loop {
            let next = read_chunk(reader, classifier, options, chunk, watch);
            let last = !matches!(next, Ok(Some(_)));
            // A send fails when the writer stopped on an error; then there is no one to
            // read for.
            if sender.send(next).is_err() || last {
                break;
            }
        });
        for next in receiver {
            match next? {
                Some(chunk) => consume(chunk)?,
                None => break,
            }
        }
        Ok::<(), Error>(())
    })?;

    out.commit().map_err(out_io)?;
    drop(out);
    progress.finish();
    // Every row is written; an input that changed meanwhile is reported, its checkpoint kept
    // (a rerun then says the input changed, and --overwrite classifies it as it is now).
    if let Some(watch) = &watch {
        watch.unchanged()?;
    }
    if checkpointed {
        std::fs::remove_file(&checkpoint_path).map_err(|error| Error::Io {
            path: checkpoint_path.clone(),
            error,
        })?;
        checkpoint::sync_parent(&checkpoint_path);
    }
    Ok(Report {
        rows: state.rows_done,
        failed: state.rows_failed,
        resumed,
        languages,
    })
}

/// Where a job's rows go.
enum Output<'a> {
    File(std::fs::File),
    Stdout(std::io::StdoutLock<'a>),
}

impl Output<'_> {
    fn write_all(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Self::File(file) => file.write_all(bytes),
            Self::Stdout(stdout) => stdout.write_all(bytes),
        }
    }

    /// Makes what was written durable (a file's data on disk) or visible (standard output
    /// flushed, so a pipe's reader sees each chunk as it is done).
    fn commit(&mut self) -> std::io::Result<()> {
        match self {
            Self::File(file) => file.sync_data(),
            Self::Stdout(stdout) => stdout.flush(),
        }
    }
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => false,
    }
}

/// Records read and tokenized, ready for the model.
struct Chunk {
    records: Vec<Record>,
    /// Per record: the index of its encoding in `encoded`, or why it has none.
    slots: Vec<Result<usize, String>>,
    encoded: Vec<Encoded>,
    /// Raw input units consumed once this chunk is done.
    units: u64,
    /// Input bytes read by then.
    bytes: u64,
}

/// The input file's identity when the job started, checked while and after it is read.
struct InputWatch<'a> {
    identity: &'a InputIdentity,
}

impl InputWatch<'_> {
    fn changed(&self, what: String) -> Error {
        Error::InputChanged {
            path: self.identity.path.clone(),
            what,
        }
    }

    /// After a chunk is read (`read`: bytes taken so far; `at_end`: the reader found the end):
    /// an error if the file is now shorter than when the job started, so the chunk, whose last
    /// record may be cut, is not written.
    fn not_cut(&self, read: u64, at_end: bool) -> Result<(), Error> {
        let started = self.identity.size;
        let now = std::fs::metadata(&self.identity.path)
            .map(|m| m.len())
            .unwrap_or(0);
        if now < started || (at_end && read < started) {
            return Err(self.changed(format!(
                "the input was cut while the job read it ({now} bytes now, {started} when the \
                 job started); the rows written before are kept, nothing after byte {read} was \
                 written"
            )));
        }
        Ok(())
    }

    /// Once every row is written: an error if the file is no longer the one the job started on.
    fn unchanged(&self) -> Result<(), Error> {
        let now = InputIdentity::of(&self.identity.path)?;
        if now == *self.identity {
            return Ok(());
        }
        let started = self.identity.size;
        let how = if now.size > started {
            format!("grew from {started} to {} bytes", now.size)
        } else {
            format!("was rewritten ({started} bytes then, {} now)", now.size)
        };
        Err(self.changed(format!(
            "the input {how} while the job ran; the output has a row for each record of its \
             first {started} bytes; run again with --overwrite to classify it as it is now"
        )))
    }
}

/// Reads up to `size` records and tokenizes their texts; `None` at the end of the input.
fn read_chunk(
    reader: &mut Reader,
    classifier: &Classifier,
    options: &ClassifyOptions,
    size: usize,
    watch: Option<&InputWatch<'_>>,
) -> Result<Option<Chunk>, Error> {
    let mut chunk = Chunk {
        records: Vec::with_capacity(size),
        slots: Vec::with_capacity(size),
        encoded: Vec::with_capacity(size),
        units: 0,
        bytes: 0,
    };
    let mut at_end = false;
    while chunk.records.len() < size {
        let Some(record) = reader.next_record().transpose()? else {
            at_end = true;
            break;
        };
        let slot = match &record.text {
            // On the reading thread, not the model's: tokens and, when asked, the language.
            Ok(text) => match classifier.encode(text, options) {
                Ok(encoded) => {
                    chunk.encoded.push(encoded);
                    Ok(chunk.encoded.len() - 1)
                }
                Err(e) => Err(e.to_string()),
            },
            Err(reason) => Err(reason.clone()),
        };
        chunk.records.push(record);
        chunk.slots.push(slot);
    }
    if let Some(watch) = watch {
        watch.not_cut(reader.bytes_read(), at_end)?;
    }
    if chunk.records.is_empty() {
        return Ok(None);
    }
    chunk.units = reader.units();
    chunk.bytes = reader.bytes_read();
    Ok(Some(chunk))
}

/// One outcome per record of the chunk, in order; a model failure stops the job (the
/// checkpoint stays, so it can be resumed).
fn classify_chunk(
    classifier: &Classifier,
    options: &ClassifyOptions,
    chunk: &Chunk,
) -> Result<Vec<Result<Prediction, String>>, Error> {
    let mut outcomes = classifier
        .classify_encoded(&chunk.encoded, options)
        .map_err(Error::Classify)?
        .into_iter()
        .map(|o| o.map_err(|e| e.to_string()))
        .map(Some)
        .collect::<Vec<_>>();
    Ok(chunk
        .slots
        .iter()
        .map(|slot| match slot {
            Ok(i) => outcomes[*i].take().expect("one outcome per encoding"),
            Err(reason) => Err(reason.clone()),
        })
        .collect())
}

/// The progress bar: input bytes read against the file's size (so the ETA holds for rows of any
/// length), and texts per second of this run in the message. Hidden unless asked for.
struct Progress {
    bar: ProgressBar,
    started: Instant,
}

impl Progress {
    fn new(show: bool, size: Option<u64>, start: u64) -> Self {
        let bar = if !show {
            ProgressBar::hidden()
        } else if let Some(size) = size {
            let bar = ProgressBar::with_draw_target(Some(size), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{wide_bar}] {percent:>3}% {msg}, ETA {eta}",
                )
                .expect("a valid template")
                .progress_chars("=> "),
            );
            bar
        } else {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                    .expect("a valid template"),
            );
            bar
        };
        // A resumed job starts part way; the ETA counts only what this run does.
        bar.set_position(start);
        bar.reset_eta();
        bar.enable_steady_tick(Duration::from_millis(250));
        Self {
            bar,
            started: Instant::now(),
        }
    }

    fn update(&self, bytes: u64, rows: u64) {
        let seconds = self.started.elapsed().as_secs_f64().max(1e-3);
        self.bar.set_position(bytes);
        self.bar.set_message(format!(
            "{rows} texts, {:.0} texts/s",
            rows as f64 / seconds
        ));
    }

    fn finish(&self) {
        self.bar.finish_and_clear();
    }
}
