//! A batch job under faults: SIGKILL at 20 seeded points with a restart after each, the output's
//! disk full (a 256 KiB tmpfs in a private mount namespace), and the input cut or growing while
//! it is read. The output must end byte for byte as an uninterrupted run's, or the job must stop
//! with a clear error and a checkpoint that counts only whole rows.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;

/// An input of `lines` golden texts, one bad (invalid UTF-8) line among them.
fn write_input(path: &Path, lines: usize) {
    let texts = common::single_line_texts("tiny-sentiment");
    let mut data = Vec::new();
    for i in 0..lines {
        if i == 1234 {
            data.extend_from_slice(b"\xff bad line\n");
        } else {
            data.extend_from_slice(texts[i % texts.len()].as_bytes());
            data.push(b'\n');
        }
    }
    std::fs::write(path, data).unwrap();
}

fn job(input: &Path, output: &Path) -> Command {
    let mut command = common::binary();
    command
        .args(["classify", "--batch-size", "2", "--model"])
        .arg(common::tiny_sentiment())
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output);
    command
}

fn count_lines(file: &Path) -> usize {
    std::fs::read(file).map_or(0, |b| b.iter().filter(|&&c| c == b'\n').count())
}

fn checkpoint_of(output: &Path) -> PathBuf {
    PathBuf::from(format!("{}.checkpoint", output.display()))
}

fn read_checkpoint(output: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(checkpoint_of(output)).unwrap()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Waits until the job has written `rows` rows (and is still running).
fn wait_for_rows(child: &mut Child, output: &Path, rows: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while count_lines(output) < rows {
        assert!(Instant::now() < deadline, "the job made no progress");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job ended before the fault"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// The output up to the checkpoint's length must be whole rows, equal to the first rows of an
/// uninterrupted run's output.
fn assert_checkpointed_prefix(output: &Path, whole: &[u8]) -> usize {
    let checkpoint = read_checkpoint(output);
    let len = checkpoint["output_len"].as_u64().unwrap() as usize;
    let rows = checkpoint["rows_done"].as_u64().unwrap() as usize;
    let written = std::fs::read(output).unwrap();
    assert!(
        written.len() >= len,
        "the output is shorter than its checkpoint says"
    );
    let kept = &written[..len];
    assert_eq!(
        kept,
        &whole[..len],
        "checkpointed rows differ from an uninterrupted run's"
    );
    assert!(
        len == 0 || kept.ends_with(b"\n"),
        "a half-written row is counted as done"
    );
    assert_eq!(kept.iter().filter(|&&c| c == b'\n').count(), rows);
    rows
}

#[test]
fn killed_at_20_seeded_points_the_job_ends_as_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.txt");
    let total = 12_000;
    write_input(&input, total);
    let whole = tmp.path().join("whole.jsonl");
    let started = Instant::now();
    let result = job(&input, &whole).output().unwrap();
    let took = started.elapsed();
    assert_eq!(
        result.status.code(),
        Some(1),
        "the bad line is reported: {}",
        stderr(&result)
    );
    let whole = std::fs::read(&whole).unwrap();

    let output = tmp.path().join("killed.jsonl");
    let mut rng = fastrand::Rng::with_seed(24);
    let mut points = Vec::new();
    for _ in 0..20 {
        // Up to a fifteenth of a whole run after the start: some kills land while the model
        // loads or before the first checkpoint, most while chunks are written.
        let delay = took.mul_f64(rng.f64() / 15.0);
        let mut child = job(&input, &output).spawn().unwrap();
        std::thread::sleep(delay);
        assert!(
            child.try_wait().unwrap().is_none(),
            "the job finished before kill {}",
            points.len() + 1
        );
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        points.push((delay.as_millis(), count_lines(&output)));
        if checkpoint_of(&output).exists() {
            assert_checkpointed_prefix(&output, &whole);
        }
    }
    eprintln!(
        "kills (ms after start, rows on disk): {points:?}; an uninterrupted run took {took:?}"
    );
    let rows: Vec<usize> = points.iter().map(|p| p.1).collect();
    assert!(
        rows.iter().any(|&r| r > 0),
        "no kill landed after rows were written"
    );
    let result = job(&input, &output).output().unwrap();
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert!(!checkpoint_of(&output).exists());
    assert!(
        std::fs::read(&output).unwrap() == whole,
        "the output after 20 kills differs from an uninterrupted run's"
    );
}

#[test]
fn a_full_disk_stops_the_job_with_a_resumable_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.txt");
    write_input(&input, 4000);
    let whole = tmp.path().join("whole.jsonl");
    assert_eq!(job(&input, &whole).output().unwrap().status.code(), Some(1));
    let whole = std::fs::read(&whole).unwrap();
    assert!(
        whole.len() > 512 * 1024,
        "the output must not fit the small disk"
    );

    // A 256 KiB tmpfs as the output's disk, in a private user and mount namespace (no root
    // needed, nothing left mounted); the output and checkpoint are copied out before it goes.
    let disk = tmp.path().join("disk");
    let saved = tmp.path().join("saved");
    std::fs::create_dir_all(&disk).unwrap();
    std::fs::create_dir_all(&saved).unwrap();
    let output = disk.join("out.jsonl");
    let command = job(&input, &output);
    let argv: Vec<String> = std::iter::once(command.get_program())
        .chain(command.get_args())
        .map(|a| format!("'{}'", a.to_str().unwrap()))
        .collect();
    let script = format!(
        "mount -t tmpfs -o size=262144 tmpfs '{disk}' || exit 90; {argv}; echo $? > '{saved}/rc'; \
         cp '{disk}/out.jsonl' '{disk}/out.jsonl.checkpoint' '{saved}/'",
        disk = disk.display(),
        saved = saved.display(),
        argv = argv.join(" ")
    );
    let result = Command::new("unshare")
        .args(["--user", "--map-root-user", "--mount", "sh", "-c", &script])
        .output()
        .expect("unshare (util-linux) runs");
    assert_ne!(
        result.status.code(),
        Some(90),
        "no tmpfs could be mounted in a user namespace: {}",
        stderr(&result)
    );
    let rc = std::fs::read_to_string(saved.join("rc")).unwrap();
    assert_eq!(rc.trim(), "2", "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains("no space left on the device") && message.contains("resume"),
        "{message}"
    );
    assert_eq!(message.lines().count(), 1, "{message}");

    let output = saved.join("out.jsonl");
    let rows = assert_checkpointed_prefix(&output, &whole);
    eprintln!("disk full after {rows} checkpointed rows: {message}");
    assert!(rows > 0, "some rows fit before the disk filled");
    // Space again (the output moved to a roomy disk with its checkpoint): the job resumes and
    // ends as an uninterrupted run.
    let result = job(&input, &output).output().unwrap();
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert!(std::fs::read(&output).unwrap() == whole);
    assert!(!checkpoint_of(&output).exists());
}

/// A job of `total` rows running, 300 rows in: its folder, input, the output of an
/// uninterrupted run, its output, and the job.
type Midway = (tempfile::TempDir, PathBuf, Vec<u8>, PathBuf, Child);

fn midway(total: usize) -> Midway {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("texts.txt");
    write_input(&input, total);
    let whole = tmp.path().join("whole.jsonl");
    assert_eq!(job(&input, &whole).output().unwrap().status.code(), Some(1));
    let whole = std::fs::read(&whole).unwrap();
    let output = tmp.path().join("out.jsonl");
    let mut child = job(&input, &output).spawn().unwrap();
    wait_for_rows(&mut child, &output, 300);
    (tmp, input, whole, output, child)
}

/// A rerun after the input changed is refused.
fn assert_rerun_refused(input: &Path, output: &Path) {
    let again = job(input, output).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("the input changed"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn an_input_cut_while_it_is_read_stops_the_job_without_a_misread_row() {
    let total = 20_000;
    let (_tmp, input, whole, output, child) = midway(total);
    // Cut in the middle of a line, well past what is read.
    let len = std::fs::metadata(&input).unwrap().len();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&input)
        .unwrap();
    file.set_len(len / 2 + 7).unwrap();
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains("the input was cut while the job read it"),
        "{message}"
    );
    let rows = assert_checkpointed_prefix(&output, &whole);
    assert_eq!(
        std::fs::metadata(&output).unwrap().len(),
        read_checkpoint(&output)["output_len"].as_u64().unwrap(),
        "nothing past the checkpoint is written"
    );
    assert!(
        rows < total / 2,
        "{rows} rows: the rows past the cut cannot have been read"
    );
    // A rerun refuses: the input is not the one the checkpoint belongs to.
    assert_rerun_refused(&input, &output);
}

#[test]
fn an_input_growing_while_it_is_read_is_classified_as_it_was_and_reported() {
    let total = 20_000;
    let (_tmp, input, whole, output, child) = midway(total);
    // Another program appends, its last line not finished yet.
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&input)
        .unwrap();
    file.write_all(b"appended one\nappended two\nhalf a li")
        .unwrap();
    drop(file);
    let result = child.wait_with_output().unwrap();
    assert_eq!(result.status.code(), Some(2), "{}", stderr(&result));
    let message = stderr(&result);
    assert!(
        message.contains("grew from") && message.contains("--overwrite"),
        "{message}"
    );
    assert!(
        std::fs::read(&output).unwrap() == whole,
        "the output is the input as it was when the job started"
    );
    assert!(checkpoint_of(&output).exists(), "kept, so a rerun knows");
    assert_rerun_refused(&input, &output);
    let mut overwrite = job(&input, &output);
    let result = overwrite.arg("--overwrite").output().unwrap();
    assert_eq!(result.status.code(), Some(1), "{}", stderr(&result));
    assert_eq!(count_lines(&output), total + 3);
}
