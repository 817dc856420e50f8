//! A GGUF reader with every length checked against the file.
//!
//! GGUF (ggml's container: a header of key/value metadata and tensor descriptions, then aligned
//! tensor data) is how a model bundle travels: the tensors, quantized or not, plus `config.json`
//! and `tokenizer.json` as metadata strings. candle's `gguf_file::Content::read` allocates
//! whatever a length field claims (`vec![0u8; len]`), so a damaged file can abort the process
//! with an allocation failure; this reader refuses any length larger than what is left of the
//! file before allocating, and reads tensor data straight into candle's quantized storage.
//! Layout: <https://github.com/ggml-org/ggml/blob/master/docs/gguf.md>.

use std::collections::HashMap;

use candle_core::quantized::{ggml_file::qtensor_from_ggml, GgmlDType, QTensor};
use candle_core::{DType, Device};

use std::sync::Arc;

use super::source::{read_f32_tensor, WeightsSource};
use super::{InPlaceRows, QuantizedRows, Stored};
use crate::error::{Error, Result};

/// `GGUF` read as a little-endian u32.
const MAGIC: u32 = 0x4655_4747;
const DEFAULT_ALIGNMENT: u64 = 32;
/// Metadata arrays nest; real files use one level. Bounds the recursion on damaged input.
const MAX_DEPTH: u32 = 4;

pub(crate) fn corrupt(reason: impl Into<String>) -> Error {
    Error::CorruptWeights {
        format: "gguf",
        reason: reason.into(),
    }
}

/// A metadata value; only what the bundle reader uses is kept in full.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaValue {
    /// A UTF-8 string.
    String(String),
    /// Any integer type, widened.
    Int(i128),
    /// An array of u8: bytes (read in one piece, not value by value).
    Bytes(Vec<u8>),
    /// Anything else (floats, booleans, arrays): present but not interpreted.
    Other,
}

/// Reads sequentially from a source, refusing to run past its end.
struct Cursor<'a> {
    source: &'a dyn WeightsSource,
    position: u64,
    /// Set when a read asked for bytes the source has not received yet (a file still
    /// arriving, see [`crate::ChunkedBytes::with_len`]): how many bytes that read needed.
    needs: Option<u64>,
}

impl Cursor<'_> {
    fn left(&self) -> u64 {
        self.source.len().saturating_sub(self.position)
    }

    fn bytes(&mut self, n: u64, what: &str) -> Result<Vec<u8>> {
        if n > self.left() {
            return Err(corrupt(format!(
                "{what} claims {n} bytes at offset {} but only {} remain: truncated?",
                self.position,
                self.left()
            )));
        }
        let mut buf = vec![0u8; n as usize];
        if let Err(e) = self.source.read_at(self.position, &mut buf) {
            if e.kind() == std::io::ErrorKind::WouldBlock {
                self.needs = Some(self.position + n);
            }
            return Err(corrupt(e.to_string()));
        }
        self.position += n;
        Ok(buf)
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N]> {
        let bytes = self.bytes(N as u64, what)?;
        Ok(bytes.try_into().expect("N bytes"))
    }

    fn u32(&mut self, what: &str) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    fn u64(&mut self, what: &str) -> Result<u64> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    fn string(&mut self, what: &str) -> Result<String> {
        let len = self.u64(what)?;
        String::from_utf8(self.bytes(len, what)?)
            .map_err(|_| corrupt(format!("{what} is not valid UTF-8")))
    }

    /// A count of items each at least `min_item` bytes long, checked against what is left.
    fn count(&mut self, min_item: u64, what: &str) -> Result<u64> {
        let n = self.u64(what)?;
        if n.saturating_mul(min_item) > self.left() {
            return Err(corrupt(format!(
                "{what} claims {n} entries, more than the {} bytes left can hold",
                self.left()
            )));
        }
        Ok(n)
    }

    fn value(&mut self, kind: u32, key: &str, depth: u32) -> Result<MetaValue> {
        let int = |bytes: &[u8], signed: bool| -> i128 {
            let mut wide = [0u8; 16];
            wide[..bytes.len()].copy_from_slice(bytes);
            if signed && bytes.last().is_some_and(|b| b & 0x80 != 0) {
                wide[bytes.len()..].fill(0xff);
            }
            i128::from_le_bytes(wide)
        };
        Ok(match kind {
            0 => MetaValue::Int(int(&self.bytes(1, key)?, false)),
            1 => MetaValue::Int(int(&self.bytes(1, key)?, true)),
            2 => MetaValue::Int(int(&self.bytes(2, key)?, false)),
            3 => MetaValue::Int(int(&self.bytes(2, key)?, true)),
            4 => MetaValue::Int(int(&self.bytes(4, key)?, false)),
            5 => MetaValue::Int(int(&self.bytes(4, key)?, true)),
            6 => {
                self.bytes(4, key)?;
                MetaValue::Other
            }
            7 => {
                self.bytes(1, key)?;
                MetaValue::Other
            }
            8 => MetaValue::String(self.string(key)?),
            9 => {
                if depth >= MAX_DEPTH {
                    return Err(corrupt(format!("`{key}` nests arrays too deeply")));
                }
                let item_kind = self.u32(key)?;
                let n = self.count(1, key)?;
                if item_kind == 0 {
                    return Ok(MetaValue::Bytes(self.bytes(n, key)?));
                }
                for _ in 0..n {
                    self.value(item_kind, key, depth + 1)?;
                }
                MetaValue::Other
            }
            10 => MetaValue::Int(int(&self.bytes(8, key)?, false)),
            11 => MetaValue::Int(int(&self.bytes(8, key)?, true)),
            12 => {
                self.bytes(8, key)?;
                MetaValue::Other
            }
            other => return Err(corrupt(format!("`{key}` has unknown value type {other}"))),
        })
    }
}

/// The GGUF type codes this reader accepts (ggml's `enum ggml_type`).
fn dtype_of(code: u32) -> Option<GgmlDType> {
    Some(match code {
        0 => GgmlDType::F32,
        1 => GgmlDType::F16,
        2 => GgmlDType::Q4_0,
        3 => GgmlDType::Q4_1,
        6 => GgmlDType::Q5_0,
        7 => GgmlDType::Q5_1,
        8 => GgmlDType::Q8_0,
        12 => GgmlDType::Q4K,
        13 => GgmlDType::Q5K,
        14 => GgmlDType::Q6K,
        30 => GgmlDType::BF16,
        _ => return None,
    })
}

/// Whether the bytes start like a GGUF file.
pub fn is_gguf(head: &[u8]) -> bool {
    head.len() >= 4 && u32::from_le_bytes(head[..4].try_into().expect("4 bytes")) == MAGIC
}

/// Where one tensor lies in the file, checked to be inside it.
pub(crate) struct TensorInfo {
    name: String,
    /// Row-major dimensions (GGUF lists them innermost first; reversed here).
    dims: Vec<usize>,
    dtype: GgmlDType,
    /// File offset of the first byte.
    start: u64,
    /// Bytes.
    size: u64,
}

impl TensorInfo {
    /// The file offset just past the tensor's bytes.
    pub(crate) fn end(&self) -> u64 {
        self.start + self.size
    }

    /// The file offset of the first byte, and the number of bytes.
    pub(crate) fn extent(&self) -> (u64, u64) {
        (self.start, self.size)
    }
}

/// A GGUF file's header: the metadata, and the tensors in file order.
pub(crate) struct Header {
    /// Key/value metadata.
    pub metadata: HashMap<String, MetaValue>,
    /// Every tensor, by offset: read front to back, a source held in memory can free what has
    /// been read (`discard_before`).
    pub tensors: Vec<TensorInfo>,
}

/// A header, or how many bytes of a file still arriving are needed before it can be read.
pub(crate) enum HeaderRead {
    /// The whole header.
    Complete(Header),
    /// The file's first this many bytes are needed (at least; try again once they are in).
    NeedsBytes(u64),
}

/// Reads the header of a GGUF file, checking every tensor's extent against the file's length.
/// From a source still receiving the file (lengths checked against the length it declares),
/// gives [`HeaderRead::NeedsBytes`] while the header has not fully arrived.
pub(crate) fn read_header(source: &dyn WeightsSource) -> Result<HeaderRead> {
    let mut cursor = Cursor {
        source,
        position: 0,
        needs: None,
    };
    match header_at(&mut cursor) {
        Ok(header) => Ok(HeaderRead::Complete(header)),
        Err(_) if cursor.needs.is_some() => {
            Ok(HeaderRead::NeedsBytes(cursor.needs.expect("checked")))
        }
        Err(e) => Err(e),
    }
}

fn header_at(cursor: &mut Cursor<'_>) -> Result<Header> {
    if cursor.u32("the magic number")? != MAGIC {
        return Err(corrupt("the file does not start with GGUF"));
    }
    let version = cursor.u32("the version")?;
    if !(2..=3).contains(&version) {
        return Err(corrupt(format!(
            "GGUF version {version} is not supported (2 or 3)"
        )));
    }
    // Each tensor description is at least 8 + 4 + 4 + 8 bytes; each key/value at least 8 + 4.
    let tensor_count = cursor.count(24, "the tensor count")?;
    let kv_count = cursor.count(12, "the metadata count")?;

    let mut metadata = HashMap::new();
    for _ in 0..kv_count {
        let key = cursor.string("a metadata key")?;
        let kind = cursor.u32(&key)?;
        let value = cursor.value(kind, &key, 0)?;
        metadata.insert(key, value);
    }
    let alignment = match metadata.get("general.alignment") {
        None => DEFAULT_ALIGNMENT,
        Some(MetaValue::Int(a)) if *a > 0 && (*a as u64).is_power_of_two() && *a <= 1 << 20 => {
            *a as u64
        }
        Some(other) => return Err(corrupt(format!("general.alignment is {other:?}"))),
    };

    // (name, row-major dims, type, offset from the data section)
    let mut described = Vec::with_capacity(tensor_count as usize);
    for _ in 0..tensor_count {
        let name = cursor.string("a tensor name")?;
        let n_dims = cursor.u32(&name)?;
        if n_dims == 0 || n_dims > 4 {
            return Err(corrupt(format!("`{name}` has {n_dims} dimensions")));
        }
        let mut dims = Vec::with_capacity(n_dims as usize);
        for _ in 0..n_dims {
            dims.push(cursor.u64(&name)?);
        }
        dims.reverse();
        let code = cursor.u32(&name)?;
        let dtype = dtype_of(code)
            .ok_or_else(|| corrupt(format!("`{name}` has unsupported tensor type {code}")))?;
        let offset = cursor.u64(&name)?;
        let dims = dims
            .iter()
            .map(|&d| usize::try_from(d).ok())
            .collect::<Option<Vec<usize>>>()
            .ok_or_else(|| corrupt(format!("`{name}` has an impossible shape {dims:?}")))?;
        described.push((name, dims, dtype, offset));
    }
    let data_start = cursor.position.div_ceil(alignment) * alignment;

    let file_len = cursor.source.len();
    let mut tensors = Vec::with_capacity(described.len());
    for (name, dims, dtype, offset) in described {
        let elements = dims
            .iter()
            .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
            .ok_or_else(|| corrupt(format!("`{name}` has an impossible shape {dims:?}")))?;
        let block = dtype.block_size() as u64;
        let last = *dims.last().expect("at least one dimension") as u64;
        if !last.is_multiple_of(block) {
            return Err(corrupt(format!(
                "`{name}`: rows of {last} values do not divide into {dtype:?} blocks of {block}"
            )));
        }
        let size = (elements / block)
            .checked_mul(dtype.type_size() as u64)
            .ok_or_else(|| corrupt(format!("`{name}` is impossibly large")))?;
        let start = data_start
            .checked_add(offset)
            .filter(|start| start.checked_add(size).is_some_and(|end| end <= file_len))
            .ok_or_else(|| {
                corrupt(format!(
                    "`{name}` lies past the end of the file (offset {offset}, {size} bytes): truncated?"
                ))
            })?;
        tensors.push(TensorInfo {
            name,
            dims,
            dtype,
            start,
            size,
        });
    }
    tensors.sort_by_key(|info| info.start);
    Ok(Header { metadata, tensors })
}

/// Reads every tensor of a GGUF file (f32/f16 ones as f32 tensors, quantized ones as candle
/// `QTensor`s), by name. `row_tables` names the quantized tables the model looks up by row
/// instead of converting at load: they stay in place when the source can do that
/// ([`WeightsSource::in_place`]).
pub fn read(source: &dyn WeightsSource, row_tables: &[&str]) -> Result<Vec<(String, Stored)>> {
    read_tensors(source, whole_header(source)?.tensors, row_tables)
}

/// [`read_header`] of a source that has every byte: a header that needs more is truncated.
pub(crate) fn whole_header(source: &dyn WeightsSource) -> Result<Header> {
    match read_header(source)? {
        HeaderRead::Complete(header) => Ok(header),
        HeaderRead::NeedsBytes(n) => Err(corrupt(format!(
            "truncated: the header needs {n} bytes; {} have arrived",
            source.len()
        ))),
    }
}

/// Reads `tensors` (a header's, in file order) front to back, with one scratch buffer.
pub(crate) fn read_tensors(
    source: &dyn WeightsSource,
    tensors: Vec<TensorInfo>,
    row_tables: &[&str],
) -> Result<Vec<(String, Stored)>> {
    let mut scratch = Vec::new();
    tensors
        .into_iter()
        .map(|info| read_tensor(source, info, &mut scratch, row_tables))
        .collect()
}

/// Reads one tensor of the header, then tells the source that nothing before its end will be
/// read again. f32/f16/bf16 tensors become f32 tensors, quantized ones candle `QTensor`s.
///
/// `scratch` holds the raw bytes of quantized parts and is kept between calls, grown to the
/// largest: a fresh zeroed buffer per part cleared the whole file's size once more (about 4% of
/// a q8_0 load in V8, `__rdl_alloc_zeroed`), and candle copies the bytes into its blocks anyway.
pub(crate) fn read_tensor(
    source: &dyn WeightsSource,
    info: TensorInfo,
    scratch: &mut Vec<u8>,
    row_tables: &[&str],
) -> Result<(String, Stored)> {
    let TensorInfo {
        name,
        dims,
        dtype,
        start,
        size,
    } = info;
    let stored = match dtype {
        GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16 => {
            let dtype = match dtype {
                GgmlDType::F32 => DType::F32,
                GgmlDType::F16 => DType::F16,
                _ => DType::BF16,
            };
            let tensor = read_f32_tensor(source, "gguf", start, dtype, &dims)?
                .expect("floating-point types give a tensor");
            Stored::Dense(tensor)
        }
        dtype if dims.len() == 2 && row_tables.contains(&name.as_str()) => {
            match source.in_place(start, size) {
                Some(bytes) => Stored::InPlace(InPlaceRows { bytes, dtype, dims }),
                None => Stored::Quantized(read_rows(source, start, size, dtype, &dims, scratch)?),
            }
        }
        dtype => Stored::Quantized(read_rows(source, start, size, dtype, &dims, scratch)?),
    };
    source.discard_before(start + size);
    Ok((name, stored))
}

/// Quantized tensors larger than this are read in parts of about this size (whole rows).
const PART_BYTES: u64 = 4 << 20;

/// Reads a quantized tensor of `size` bytes at `start` into candle storage, in parts of whole
/// rows so that a large table is never held twice (raw bytes and blocks) while loading. `raw`
/// is scratch space, kept between calls.
fn read_rows(
    source: &dyn WeightsSource,
    start: u64,
    size: u64,
    dtype: GgmlDType,
    dims: &[usize],
    raw: &mut Vec<u8>,
) -> Result<QuantizedRows> {
    let mut read = |offset: u64, bytes: u64, part_dims: Vec<usize>| -> Result<Arc<QTensor>> {
        let bytes = bytes as usize;
        if raw.len() < bytes {
            raw.resize(bytes, 0);
        }
        let raw = &mut raw[..bytes];
        source
            .read_at(offset, raw)
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(Arc::new(qtensor_from_ggml(
            dtype,
            raw,
            part_dims,
            &Device::Cpu,
        )?))
    };
    let rows = dims[0] as u64;
    if dims.len() != 2 || size <= PART_BYTES || rows == 0 {
        return Ok(QuantizedRows {
            parts: vec![read(start, size, dims.to_vec())?],
            dims: dims.to_vec(),
        });
    }
    let row_bytes = size / rows;
    let rows_per_part = (PART_BYTES / row_bytes).max(1);
    let mut parts = Vec::new();
    let mut row = 0;
    while row < rows {
        let n = rows_per_part.min(rows - row);
        parts.push(read(
            start + row * row_bytes,
            n * row_bytes,
            vec![n as usize, dims[1]],
        )?);
        row += n;
        // Free each part's bytes as soon as it is built, not after the whole table.
        source.discard_before(start + row * row_bytes);
    }
    Ok(QuantizedRows {
        parts,
        dims: dims.to_vec(),
    })
}

/// Builds a GGUF file in memory; used by tests to craft damaged files.
#[cfg(test)]
pub(crate) fn write_for_test(metadata: &[(&str, &str)], tensors: &[(&str, &QTensor)]) -> Vec<u8> {
    use candle_core::quantized::gguf_file;
    let values: Vec<(String, gguf_file::Value)> = metadata
        .iter()
        .map(|(k, v)| (k.to_string(), gguf_file::Value::String(v.to_string())))
        .collect();
    let refs: Vec<(&str, &gguf_file::Value)> =
        values.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut out = std::io::Cursor::new(Vec::new());
    gguf_file::write(&mut out, &refs, tensors).unwrap();
    out.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Tensor;

    fn sample() -> Vec<u8> {
        let dense = Tensor::arange(0f32, 64., &Device::Cpu)
            .unwrap()
            .reshape((2, 32))
            .unwrap();
        let f32_tensor = QTensor::quantize(&dense, GgmlDType::F32).unwrap();
        let q8 = QTensor::quantize(&dense, GgmlDType::Q8_0).unwrap();
        write_for_test(&[("k", "v")], &[("a", &f32_tensor), ("b", &q8)])
    }

    #[test]
    fn reads_what_candle_writes() {
        let bytes = sample();
        let HeaderRead::Complete(header) = read_header(&bytes.as_slice()).unwrap() else {
            panic!("the whole file is there")
        };
        assert_eq!(header.metadata["k"], MetaValue::String("v".into()));
        let tensors = read(&bytes.as_slice(), &[]).unwrap();
        let Stored::Dense(a) = &tensors[0].1 else {
            panic!("a is f32")
        };
        assert_eq!(a.dims(), [2, 32]);
        assert_eq!(a.to_vec2::<f32>().unwrap()[1][31], 63.0);
        let Stored::Quantized(b) = &tensors[1].1 else {
            panic!("b is quantized")
        };
        assert_eq!(b.dtype(), GgmlDType::Q8_0);
        let back = b.dequantize().unwrap().to_vec2::<f32>().unwrap();
        assert!((back[1][31] - 63.0).abs() < 0.5);
    }

    #[test]
    fn refuses_truncation_anywhere_without_panicking() {
        let bytes = sample();
        // The writer pads the last tensor's data to 32 bytes; only that padding may go.
        for cut in 0..bytes.len() - 31 {
            assert!(
                matches!(read(&&bytes[..cut], &[]), Err(Error::CorruptWeights { .. })),
                "accepted a file cut at {cut} of {}",
                bytes.len()
            );
        }
    }

    #[test]
    fn a_header_still_arriving_asks_for_more_and_never_fails() {
        // A download cut anywhere before the header's end is "not yet", never "damaged"; the
        // bytes it asks for are more than it has, and once they are in, the header reads.
        let bytes = sample();
        let HeaderRead::Complete(whole) = read_header(&bytes.as_slice()).unwrap() else {
            panic!("the whole file is there")
        };
        let header_end = whole.tensors[0].start;
        for cut in 0..bytes.len() {
            let mut arriving = crate::ChunkedBytes::with_len(bytes.len() as u64);
            arriving.push(bytes[..cut].to_vec());
            match read_header(&arriving) {
                Ok(HeaderRead::NeedsBytes(n)) => {
                    assert!(n > cut as u64 && n <= header_end, "cut {cut}: asks for {n}")
                }
                Ok(HeaderRead::Complete(header)) => {
                    assert!(
                        cut as u64 >= header_end - 32,
                        "cut {cut}: complete too early"
                    );
                    assert_eq!(header.tensors.len(), 2);
                }
                Err(e) => panic!("cut {cut}: {e}"),
            }
        }
    }

    #[test]
    fn refuses_huge_lengths_before_allocating() {
        let mut bytes = sample();
        // The first metadata key's length field: right after magic, version and two counts.
        bytes[24..32].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            read(&bytes.as_slice(), &[]),
            Err(Error::CorruptWeights { .. })
        ));
        let mut bytes = sample();
        bytes[8..16].copy_from_slice(&(1u64 << 60).to_le_bytes());
        assert!(matches!(
            read(&bytes.as_slice(), &[]),
            Err(Error::CorruptWeights { .. })
        ));
    }
}
