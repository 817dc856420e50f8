//! `pytorch_model.bin`: a zip archive (torch >= 1.6) with a pickled state dict in `*/data.pkl` and
//! one stored (uncompressed) entry per storage in `*/data/<key>`.
//!
//! candle's `pickle` module parses the pickle; its file readers take a path, so the archive walk
//! is done here over a [`WeightsSource`], and each tensor is read from its entry's position in
//! the file straight into the tensor's buffer (torch never compresses these entries).

use std::io::BufReader;

use super::pickle_bound::check_pickle;

use candle_core::pickle::{Object, Stack};
use candle_core::Tensor;
use zip::{CompressionMethod, ZipArchive};

use super::shape_elements;
use super::source::{read_f32_tensor, SourceReader, WeightsSource};
use crate::error::{Error, Result};

fn corrupt(reason: impl Into<String>) -> Error {
    Error::CorruptWeights {
        format: "pytorch",
        reason: reason.into(),
    }
}

/// Reads every tensor of the state dict in a PyTorch zip archive.
pub(super) fn read(source: &dyn WeightsSource) -> Result<Vec<(String, Tensor)>> {
    // Buffered: the zip reader makes many small reads, each a call into JS on wasm.
    let mut archive = ZipArchive::new(BufReader::new(SourceReader::new(source)))
        .map_err(|e| corrupt(format!("not a complete zip archive (truncated?): {e}")))?;
    let pickle_name = archive
        .file_names()
        .find(|name| name.as_ref().is_ok_and(|n| n.ends_with("data.pkl")))
        .and_then(|name| name.ok())
        .map(|name| name.into_owned())
        .ok_or_else(|| corrupt("the archive has no data.pkl"))?;
    let dir_name = pickle_name
        .strip_suffix(".pkl")
        .expect("ends with .pkl")
        .to_string();

    let state_dict = {
        let entry = archive
            .by_name(&pickle_name)
            .map_err(|e| corrupt(format!("cannot open {pickle_name}: {e}")))?;
        // Read whole (a state dict's pickle is kilobytes beside the weights), up to a bound on
        // what an archive of this size can hold, so a deflate bomb cannot inflate it.
        let limit = source.len().saturating_mul(4).saturating_add(1 << 20);
        let mut pickle = Vec::new();
        std::io::Read::read_to_end(&mut std::io::Read::take(entry, limit + 1), &mut pickle)
            .map_err(|e| corrupt(format!("cannot read {pickle_name}: {e}")))?;
        if pickle.len() as u64 > limit {
            return Err(corrupt(format!(
                "{pickle_name} inflates to more than {limit} bytes: not a state dict"
            )));
        }
        check_pickle(&pickle)
            .map_err(|e| corrupt(format!("cannot unpickle {pickle_name}: {e}")))?;
        let mut reader = std::io::Cursor::new(pickle);
        let mut stack = Stack::empty();
        stack
            .read_loop(&mut reader)
            .map_err(|e| corrupt(format!("cannot unpickle {pickle_name}: {e}")))?;
        stack
            .finalize()
            .map_err(|e| corrupt(format!("cannot unpickle {pickle_name}: {e}")))?
    };
    let entries = match state_dict {
        Object::Dict(entries) => entries,
        _ => return Err(corrupt("data.pkl holds no state dict")),
    };

    let mut tensors = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        let info = value
            .into_tensor_info(key, std::path::Path::new(&dir_name))
            .map_err(|e| corrupt(format!("unreadable tensor record: {e}")))?;
        // Entries that are not tensors (such as metadata) are skipped, as transformers does.
        let Some(info) = info else { continue };
        let name = info.name.clone();
        let layout = &info.layout;
        if !layout.is_contiguous() {
            return Err(corrupt(format!(
                "`{name}` is stored with non-contiguous strides"
            )));
        }
        let dims: Vec<u64> = layout.dims().iter().map(|&d| d as u64).collect();
        let needed = shape_elements(&dims)
            .and_then(|n| n.checked_mul(info.dtype.size_in_bytes() as u64))
            .ok_or_else(|| corrupt(format!("`{name}` has an impossible shape {dims:?}")))?;
        // candle records the storage offset in bytes here (`rebuild_args`).
        let start = layout.start_offset() as u64;
        let entry = archive
            .by_name(&info.path)
            .map_err(|e| corrupt(format!("`{name}`: storage {} is missing: {e}", info.path)))?;
        if entry.compression() != CompressionMethod::Stored {
            return Err(corrupt(format!(
                "`{name}`: storage {} is compressed",
                info.path
            )));
        }
        let entry_len = entry.size();
        let end = start
            .checked_add(needed)
            .filter(|&end| end <= entry_len)
            .ok_or_else(|| {
                corrupt(format!(
                    "`{name}` needs bytes {start}..{} of a {entry_len}-byte storage",
                    start.saturating_add(needed)
                ))
            })?;
        let data_start = entry
            .data_start()
            .ok_or_else(|| corrupt(format!("`{name}`: storage {} has no data", info.path)))?;
        let (begin, end) = (
            data_start.saturating_add(start),
            data_start.saturating_add(end),
        );
        if end > source.len() {
            return Err(corrupt(format!(
                "`{name}` lies past the end of the file: truncated?"
            )));
        }
        let shape: Vec<usize> = layout.dims().to_vec();
        if let Some(tensor) = read_f32_tensor(source, "pytorch", begin, info.dtype, &shape)? {
            tensors.push((name, tensor));
        }
    }
    Ok(tensors)
}
