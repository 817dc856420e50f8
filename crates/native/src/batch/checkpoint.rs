//! The checkpoint beside a batch job's output (`FILE.checkpoint`): which input and options the
//! output belongs to, how many input units are done, and how long the output was when they were.
//!
//! It is written only after the output chunk it describes is flushed and fsynced, and replaced
//! atomically (temporary file, fsync, rename), so at any moment it describes a prefix of the
//! output that is complete on disk; whatever the output holds past that prefix is a partial
//! chunk that a restart cuts off and writes again.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::Error;

/// Bytes at the start of the input that are hashed to recognise it.
const HASHED_PREFIX: u64 = 64 * 1024;

/// What identifies an input file: a rewrite that keeps size and time (or a copy with `cp -p`)
/// is still caught by the hash of its first bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputIdentity {
    /// The input path, made absolute.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch (0 when the platform lacks it).
    pub modified_ns: u128,
    /// SHA-256 of the first 64 KiB, hex.
    pub prefix_sha256: String,
}

impl InputIdentity {
    /// Reads the identity of the file at `path`.
    pub fn of(path: &Path) -> Result<Self, Error> {
        let io = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let metadata = file.metadata().map_err(io)?;
        let modified_ns = metadata
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        let mut prefix = Vec::new();
        file.take(HASHED_PREFIX)
            .read_to_end(&mut prefix)
            .map_err(io)?;
        Ok(Self {
            path: std::path::absolute(path).map_err(io)?,
            size: metadata.len(),
            modified_ns,
            prefix_sha256: format!("{:x}", Sha256::digest(&prefix)),
        })
    }
}

/// The state of an unfinished job.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    /// The input this output belongs to.
    pub input: InputIdentity,
    /// The options that shape the output (formats, fields, model, preprocessing...); a restart
    /// with other options would mix two kinds of rows in one file.
    pub options: Value,
    /// Raw input units (lines, or CSV records) fully written to the output.
    pub units_done: u64,
    /// Records written, failed ones included (for the progress bar and the summary).
    pub rows_done: u64,
    /// Records written with an error.
    pub rows_failed: u64,
    /// Length of the output file after the last complete chunk.
    pub output_len: u64,
}

/// `FILE.checkpoint` for output `FILE`.
pub fn path_for(output: &Path) -> PathBuf {
    let mut name = output.as_os_str().to_owned();
    name.push(".checkpoint");
    PathBuf::from(name)
}

impl Checkpoint {
    /// Reads the checkpoint at `path`; `None` when there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, Error> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(Error::Io {
                    path: path.to_path_buf(),
                    error,
                })
            }
        };
        serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::Refused(format!(
                "{}: unreadable checkpoint ({e}); pass --overwrite to start the job over",
                path.display()
            ))
        })
    }

    /// Replaces the checkpoint at `path` atomically: a crash leaves the old one or the new one,
    /// never a torn file.
    pub fn write(&self, path: &Path) -> Result<(), Error> {
        let io = |error| Error::Io {
            path: path.to_path_buf(),
            error,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        // Serialized first: an I/O error (a full disk) is then an I/O error, not a panic in
        // serde's writer (the fault test a_full_disk_stops_the_job_with_a_resumable_checkpoint).
        let mut bytes = serde_json::to_vec(self).expect("a checkpoint serializes");
        bytes.push(b'\n');
        let written = std::fs::File::create(&tmp).and_then(|mut file| {
            file.write_all(&bytes)?;
            file.sync_all()
        });
        if let Err(error) = written {
            let _ = std::fs::remove_file(&tmp); // best effort: the old checkpoint still holds
            return Err(io(error));
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        sync_parent(path);
        Ok(())
    }
}

/// Makes a rename or removal in `path`'s folder durable (Unix; elsewhere a no-op). Best effort:
/// a failure here loses at most the latest checkpoint, which a restart redoes.
pub fn sync_parent(path: &Path) {
    #[cfg(unix)]
    {
        let parent = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = path;
}
/// The checkpoint to resume from, or `None` to start afresh; refuses when starting afresh would
/// clobber an output or resuming would mix two jobs.
pub(super) fn start_state(
    job: &super::Job,
    checkpoint_path: &Path,
    identity: Option<&InputIdentity>,
    options_key: &Value,
) -> Result<Option<Checkpoint>, Error> {
    let over = "pass --overwrite to start the job over";
    if job.overwrite {
        match std::fs::remove_file(checkpoint_path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::Io {
                    path: checkpoint_path.to_path_buf(),
                    error: e,
                })
            }
            _ => return Ok(None),
        }
    }
    let Some(saved) = Checkpoint::read(checkpoint_path)? else {
        if job.output.exists() {
            return Err(Error::Refused(format!(
                "{}: the output file exists and there is no {} to resume from; pass --overwrite \
                 to replace it",
                job.output.display(),
                checkpoint_path.display()
            )));
        }
        return Ok(None);
    };
    let Some(identity) = identity else {
        return Err(Error::Refused(format!(
            "{}: an unfinished job's checkpoint is here, and standard input cannot be resumed; {over}",
            checkpoint_path.display()
        )));
    };
    if saved.input.path != identity.path {
        return Err(Error::Refused(format!(
            "{}: the unfinished job there read {}, not {}; {over}",
            job.output.display(),
            saved.input.path.display(),
            identity.path.display()
        )));
    }
    if saved.input != *identity {
        let what = if saved.input.size != identity.size {
            format!(
                "its size was {} bytes, now {}",
                saved.input.size, identity.size
            )
        } else if saved.input.prefix_sha256 != identity.prefix_sha256 {
            "its first bytes differ".into()
        } else {
            "its modification time differs".into()
        };
        return Err(Error::Refused(format!(
            "{}: the input changed since the job was interrupted ({what}), so the rows already \
             written may not match it; {over}",
            job.input.display()
        )));
    }
    if saved.options.get("weights_sha256") != options_key.get("weights_sha256") {
        return Err(Error::Refused(format!(
            "{}: the model's weights are not those the unfinished job ran with (SHA-256 {}, now \
             {}), so the rows already written came from another model; {over}",
            job.model.display(),
            saved.options["weights_sha256"]
                .as_str()
                .unwrap_or("not recorded"),
            options_key["weights_sha256"].as_str().unwrap_or("unknown"),
        )));
    }
    if saved.options != *options_key {
        return Err(Error::Refused(format!(
            "{}: the unfinished job there ran with other options ({}); rerun it with those or \
             {over}",
            job.output.display(),
            saved.options
        )));
    }
    let len = std::fs::metadata(&job.output).map_or(0, |m| m.len());
    if len < saved.output_len {
        return Err(Error::Refused(format!(
            "{}: the output is shorter ({len} bytes) than its checkpoint records ({} bytes): it \
             was changed; {over}",
            job.output.display(),
            saved.output_len
        )));
    }
    Ok(Some(saved))
}
