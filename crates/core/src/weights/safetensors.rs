//! A safetensors reader with 64-bit size arithmetic.
//!
//! The `safetensors` crate (0.8.0) computes tensor sizes in bits in a `usize`, which overflows on
//! wasm32 for any tensor of 512 MB or more, such as XLM-R's 768 MB f32 word embeddings
//! (huggingface/safetensors issue 817). The format is small (an 8-byte little-endian header length,
//! a JSON header, then raw little-endian data), so we read it here and check every offset.

use std::collections::BTreeMap;

use candle_core::{DType, Tensor};
use serde::Deserialize;

use super::shape_elements;
use super::source::{read_f32_tensor, WeightsSource};
use crate::error::{Error, Result};

#[derive(Deserialize)]
struct Entry {
    dtype: String,
    shape: Vec<u64>,
    data_offsets: [u64; 2],
}

fn corrupt(reason: impl Into<String>) -> Error {
    Error::CorruptWeights {
        format: "safetensors",
        reason: reason.into(),
    }
}

fn dtype_of(name: &str) -> Option<DType> {
    Some(match name {
        "F32" => DType::F32,
        "F16" => DType::F16,
        "BF16" => DType::BF16,
        "F64" => DType::F64,
        "I64" => DType::I64,
        "I32" => DType::I32,
        "U8" => DType::U8,
        "U32" => DType::U32,
        _ => return None,
    })
}

/// The largest header accepted. Real headers are tens of kilobytes; this bounds the allocation
/// a corrupt length field can cause (the reference implementation uses the same limit).
const MAX_HEADER_BYTES: u64 = 100_000_000;

/// Reads every floating-point tensor of a safetensors file, as f32.
pub(super) fn read(source: &dyn WeightsSource) -> Result<Vec<(String, Tensor)>> {
    let file_len = source.len();
    let mut len_bytes = [0u8; 8];
    source
        .read_at(0, &mut len_bytes)
        .map_err(|_| corrupt("the file is shorter than its 8-byte header length"))?;
    let header_len = u64::from_le_bytes(len_bytes);
    let data_start = header_len
        .checked_add(8)
        .filter(|&end| end <= file_len)
        .ok_or_else(|| {
            corrupt(format!(
                "the header claims {header_len} bytes but the file has only {file_len}: truncated?"
            ))
        })?;
    if header_len > MAX_HEADER_BYTES {
        return Err(corrupt(format!(
            "the header claims an implausible {header_len} bytes"
        )));
    }
    let mut header = vec![0u8; header_len as usize];
    source
        .read_at(8, &mut header)
        .map_err(|e| corrupt(e.to_string()))?;
    let entries: BTreeMap<String, serde_json::Value> = serde_json::from_slice(&header)
        .map_err(|e| corrupt(format!("the header is not valid JSON: {e}")))?;
    let data_len = file_len - data_start;

    let mut tensors = Vec::with_capacity(entries.len());
    for (name, value) in entries {
        if name == "__metadata__" {
            continue;
        }
        let entry: Entry = serde_json::from_value(value)
            .map_err(|e| corrupt(format!("the header entry of `{name}` is malformed: {e}")))?;
        let dtype = dtype_of(&entry.dtype)
            .ok_or_else(|| corrupt(format!("`{name}` has unsupported dtype {}", entry.dtype)))?;
        let [begin, end] = entry.data_offsets;
        let expected = shape_elements(&entry.shape)
            .and_then(|n| n.checked_mul(dtype.size_in_bytes() as u64))
            .ok_or_else(|| {
                corrupt(format!(
                    "`{name}` has an impossible shape {:?}",
                    entry.shape
                ))
            })?;
        if begin > end || end - begin != expected {
            return Err(corrupt(format!(
                "`{name}` spans bytes {begin}..{end} but its shape {:?} of {} needs {expected}",
                entry.shape, entry.dtype
            )));
        }
        if end > data_len {
            return Err(corrupt(format!(
                "`{name}` ends at byte {end} of the data but the file holds only {data_len}: \
                 truncated?"
            )));
        }
        let shape: Vec<usize> = entry.shape.iter().map(|&d| d as usize).collect();
        let tensor = read_f32_tensor(source, "safetensors", data_start + begin, dtype, &shape)?;
        if let Some(tensor) = tensor {
            tensors.push((name, tensor));
        }
    }
    Ok(tensors)
}

/// Serialises f32 tensors as safetensors; used by tests to build deliberately broken files.
#[cfg(test)]
pub(crate) fn write_f32(tensors: &[(&str, Vec<usize>, Vec<f32>)]) -> Vec<u8> {
    let mut header = serde_json::Map::new();
    let mut data = Vec::new();
    for (name, shape, values) in tensors {
        let begin = data.len();
        for v in values {
            data.extend_from_slice(&v.to_le_bytes());
        }
        header.insert(
            name.to_string(),
            serde_json::json!({"dtype": "F32", "shape": shape, "data_offsets": [begin, data.len()]}),
        );
    }
    let header = serde_json::to_vec(&header).unwrap();
    let mut out = (header.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(&header);
    out.extend_from_slice(&data);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_cpu(bytes: &[u8]) -> Result<Vec<(String, Tensor)>> {
        read(&bytes)
    }

    #[test]
    fn round_trips() {
        let bytes = write_f32(&[
            ("a", vec![2, 2], vec![1., 2., 3., 4.]),
            ("b", vec![1], vec![5.]),
        ]);
        let tensors = read_cpu(&bytes).unwrap();
        assert_eq!(tensors.len(), 2);
        assert_eq!(tensors[0].1.to_vec2::<f32>().unwrap(), [[1., 2.], [3., 4.]]);
    }

    #[test]
    fn rejects_truncation_anywhere() {
        let bytes = write_f32(&[("a", vec![2, 2], vec![1., 2., 3., 4.])]);
        for cut in 0..bytes.len() {
            assert!(
                matches!(read_cpu(&bytes[..cut]), Err(Error::CorruptWeights { .. })),
                "accepted a file cut at {cut} of {}",
                bytes.len()
            );
        }
    }

    #[test]
    fn rejects_inconsistent_offsets_and_shapes() {
        let mut bytes = write_f32(&[("a", vec![2, 2], vec![1., 2., 3., 4.])]);
        let text = String::from_utf8_lossy(&bytes).replace("[2,2]", "[2,3]");
        bytes = text.into_bytes();
        assert!(matches!(
            read_cpu(&bytes),
            Err(Error::CorruptWeights { .. })
        ));

        let huge = br#"{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]}}"#;
        let mut file = (huge.len() as u64).to_le_bytes().to_vec();
        file.extend_from_slice(huge);
        file.extend_from_slice(&[0; 4]);
        assert!(matches!(read_cpu(&file), Err(Error::CorruptWeights { .. })));
    }

    #[test]
    fn rejects_garbage_header() {
        let mut file = 5u64.to_le_bytes().to_vec();
        file.extend_from_slice(b"{nope");
        assert!(matches!(read_cpu(&file), Err(Error::CorruptWeights { .. })));
    }
}
