//! Where the bytes of a weights file come from, and reading one tensor's bytes straight into the
//! buffer the model keeps.
//!
//! The weights are the one large input (1.11 GB for XLM-R base in f32). A reader that needed them
//! as one `&[u8]` would force a WebAssembly caller to copy the whole file into wasm memory first;
//! since wasm memory never shrinks, that copy would stay allocated beside the model for good. A
//! [`WeightsSource`] is asked for one range at a time instead, and each tensor is read directly
//! into its final `Vec<f32>`, so a load holds one copy of the weights plus the caller's file.

use std::io::{self, Read, Seek, SeekFrom};

use candle_core::{DType, Device, Tensor};

use crate::error::{Error, Result};

/// Random access to the bytes of a weights file.
///
/// Implemented for byte slices and vectors; the wasm adapter implements it over a JS
/// `Uint8Array`, so the file is never copied into wasm memory as a whole.
pub trait WeightsSource {
    /// The file's length in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`; an error if the range is
    /// not inside the file.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;

    /// A hint from a reader that reads front to back: nothing before `offset` will be read
    /// again, so a source that holds the file in memory may free that part.
    fn discard_before(&self, _offset: u64) {}

    /// The bytes at `offset..offset + len` left where they are, to be read later a few at a
    /// time, for a source that can hand out a shared handle on its file (the native CLI's file on
    /// disk). The word-embedding table of a bundle is kept this way: a table of 250,002 rows of
    /// which a text uses a few dozen, read row by row when a batch needs them, never held in
    /// the process. `None` (the default) when the source cannot: the bytes are then read into
    /// memory with [`read_at`](Self::read_at).
    fn in_place(&self, _offset: u64, _len: u64) -> Option<InPlaceBytes> {
        None
    }
}

/// Random access to a file that can be shared between threads and kept by a model.
pub trait ReadAt: Send + Sync {
    /// The file's length in bytes.
    fn len(&self) -> u64;

    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
}

impl ReadAt for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        WeightsSource::read_at(&self.as_slice(), offset, buf)
    }
}

/// A range of a file left in place (see [`WeightsSource::in_place`]): a shared handle on the
/// file and where the range lies in it.
#[derive(Clone)]
pub struct InPlaceBytes {
    file: std::sync::Arc<dyn ReadAt>,
    start: u64,
    len: u64,
}

impl InPlaceBytes {
    /// `start..start + len` of `file`; `None` if it is not inside it.
    pub fn new(file: std::sync::Arc<dyn ReadAt>, start: u64, len: u64) -> Option<Self> {
        let fits = start.checked_add(len).is_some_and(|end| end <= file.len());
        fits.then_some(Self { file, start, len })
    }

    /// The range's length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the range is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Fills `buf` with the range's bytes at `offset..offset + buf.len()`; an error past its
    /// end.
    pub fn read(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        if offset
            .checked_add(buf.len() as u64)
            .is_none_or(|end| end > self.len)
        {
            return Err(past_end(offset, buf.len(), self.len));
        }
        self.file.read_at(self.start + offset, buf)
    }
}

impl std::fmt::Debug for InPlaceBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "InPlaceBytes({}..{})", self.start, self.start + self.len)
    }
}

/// A file held in memory as the pieces it arrived in (a download, read chunk by chunk), which
/// frees each piece once a front-to-back reader is past it. Loading a bundle from it needs
/// about one file's worth of memory, not two: the tensors take the place of the pieces.
///
/// Made [`with_len`](Self::with_len), it stands for a file still arriving: it reports the
/// whole file's length, and a read of bytes not received yet fails with
/// [`io::ErrorKind::WouldBlock`], so a reader can tell "wait for more" from "damaged".
#[derive(Debug, Default)]
pub struct ChunkedBytes {
    chunks: std::cell::RefCell<Vec<Vec<u8>>>,
    /// The file offset where each chunk starts.
    starts: Vec<u64>,
    /// Bytes received.
    len: u64,
    /// The whole file's length, when it is known before the last piece is in.
    declared_len: Option<u64>,
}

impl ChunkedBytes {
    /// An empty file.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty file that will be `len` bytes long once every piece has arrived.
    pub fn with_len(len: u64) -> Self {
        Self {
            declared_len: Some(len),
            ..Self::default()
        }
    }

    /// Bytes received so far.
    pub fn received(&self) -> u64 {
        self.len
    }

    /// The length given to [`with_len`](Self::with_len), if any.
    pub fn declared_len(&self) -> Option<u64> {
        self.declared_len
    }

    /// Appends the next piece of the file.
    pub fn push(&mut self, chunk: Vec<u8>) {
        if chunk.is_empty() {
            return;
        }
        self.starts.push(self.len);
        self.len += chunk.len() as u64;
        self.chunks.get_mut().push(chunk);
    }
}

impl WeightsSource for ChunkedBytes {
    fn len(&self) -> u64 {
        self.declared_len.unwrap_or(self.len)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let file_len = WeightsSource::len(self);
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= file_len)
            .ok_or_else(|| past_end(offset, buf.len(), file_len))?;
        if end > self.len {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                format!(
                    "bytes {offset}..{end} have not arrived yet ({} of {file_len} so far)",
                    self.len
                ),
            ));
        }
        let chunks = self.chunks.borrow();
        let mut at = offset;
        let mut index = self
            .starts
            .partition_point(|&s| s <= offset)
            .saturating_sub(1);
        while at < end {
            let chunk = &chunks[index];
            let within = (at - self.starts[index]) as usize;
            if within >= chunk.len() {
                return Err(io::Error::other(format!(
                    "bytes at {at} were already released (read out of order)"
                )));
            }
            let n = (chunk.len() - within).min((end - at) as usize);
            let filled = (at - offset) as usize;
            buf[filled..filled + n].copy_from_slice(&chunk[within..within + n]);
            at += n as u64;
            index += 1;
        }
        Ok(())
    }

    fn discard_before(&self, offset: u64) {
        let mut chunks = self.chunks.borrow_mut();
        for (chunk, start) in chunks.iter_mut().zip(&self.starts) {
            if start + chunk.len() as u64 > offset {
                break;
            }
            *chunk = Vec::new();
        }
    }
}

impl WeightsSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        let range = usize::try_from(offset)
            .ok()
            .and_then(|start| Some(start..start.checked_add(buf.len())?))
            .filter(|range| range.end <= <[u8]>::len(self))
            .ok_or_else(|| past_end(offset, buf.len(), WeightsSource::len(self)))?;
        buf.copy_from_slice(&self[range]);
        Ok(())
    }
}

impl WeightsSource for Vec<u8> {
    fn len(&self) -> u64 {
        self.as_slice().len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        self.as_slice().read_at(offset, buf)
    }
}

/// The error for a read outside the file, for sources to share.
pub fn past_end(offset: u64, len: usize, file_len: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "bytes {offset}..{} lie past the end of the {file_len}-byte file",
            offset.saturating_add(len as u64)
        ),
    )
}

/// A `Read + Seek` cursor over a source, for the zip reader of `pytorch_model.bin`.
pub(super) struct SourceReader<'a> {
    source: &'a dyn WeightsSource,
    position: u64,
}

impl<'a> SourceReader<'a> {
    pub(super) fn new(source: &'a dyn WeightsSource) -> Self {
        Self {
            source,
            position: 0,
        }
    }
}

impl Read for SourceReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.source.len().saturating_sub(self.position);
        let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        self.source.read_at(self.position, &mut buf[..n])?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for SourceReader<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(delta) => self.source.len().checked_add_signed(delta),
            SeekFrom::Current(delta) => self.position.checked_add_signed(delta),
        };
        self.position = target.ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek before the start of the file",
            )
        })?;
        Ok(self.position)
    }
}

/// Reads one tensor stored as little-endian `dtype` at `offset` into an f32 tensor, converting
/// half and double precision on the way. The caller has checked that the range lies in the file.
/// Integer tensors (such as the `position_ids` buffer of old checkpoints) are not weights and
/// give `None` without being read.
pub(super) fn read_f32_tensor(
    source: &dyn WeightsSource,
    format: &'static str,
    offset: u64,
    dtype: DType,
    shape: &[usize],
) -> Result<Option<Tensor>> {
    let elements: usize = shape.iter().product();
    let read = |offset: u64, buf: &mut [u8]| {
        source
            .read_at(offset, buf)
            .map_err(|e| Error::CorruptWeights {
                format,
                reason: e.to_string(),
            })
    };
    // The bytes go straight into the vector the tensor will own (`from_vec` does not copy).
    // Both targets (x86_64, wasm32) are little-endian, like the files.
    let values: Vec<f32> = match dtype {
        DType::F32 => {
            let mut values = vec![0f32; elements];
            read(offset, bytemuck::cast_slice_mut(&mut values))?;
            values
        }
        DType::F16 | DType::BF16 => {
            let mut bits = vec![0u16; elements];
            read(offset, bytemuck::cast_slice_mut(&mut bits))?;
            if dtype == DType::F16 {
                bits.into_iter()
                    .map(|b| half::f16::from_bits(b).to_f32())
                    .collect()
            } else {
                bits.into_iter()
                    .map(|b| half::bf16::from_bits(b).to_f32())
                    .collect()
            }
        }
        DType::F64 => {
            let mut wide = vec![0f64; elements];
            read(offset, bytemuck::cast_slice_mut(&mut wide))?;
            wide.into_iter().map(|v| v as f32).collect()
        }
        _ => return Ok(None),
    };
    Ok(Some(Tensor::from_vec(values, shape, &Device::Cpu)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_refuse_ranges_past_the_end() {
        let bytes: &[u8] = &[1, 2, 3, 4];
        let mut buf = [0u8; 2];
        bytes.read_at(2, &mut buf).unwrap();
        assert_eq!(buf, [3, 4]);
        assert!(bytes.read_at(3, &mut buf).is_err());
        assert!(bytes.read_at(u64::MAX, &mut buf).is_err());
    }

    #[test]
    fn chunked_bytes_read_across_pieces_and_free_them() {
        let mut file = ChunkedBytes::new();
        for piece in [&b"hel"[..], b"", b"lo w", b"orld"] {
            file.push(piece.to_vec());
        }
        assert_eq!(WeightsSource::len(&file), 11);
        let mut buf = [0u8; 7];
        file.read_at(2, &mut buf).unwrap();
        assert_eq!(&buf, b"llo wor");
        assert!(file.read_at(8, &mut [0u8; 4]).is_err());
        file.discard_before(7);
        assert!(file.read_at(0, &mut [0u8; 1]).is_err(), "released");
        let mut tail = [0u8; 4];
        file.read_at(7, &mut tail).unwrap();
        assert_eq!(&tail, b"orld");
    }

    #[test]
    fn reader_reads_and_seeks() {
        let bytes: &[u8] = b"hello world";
        let mut reader = SourceReader::new(&bytes);
        reader.seek(SeekFrom::End(-5)).unwrap();
        let mut out = String::new();
        reader.read_to_string(&mut out).unwrap();
        assert_eq!(out, "world");
        assert!(reader.seek(SeekFrom::Current(-100)).is_err());
    }

    #[test]
    fn converts_half_precision() {
        let bits: Vec<u8> = [1.5f32, -2.0]
            .iter()
            .flat_map(|&v| half::f16::from_f32(v).to_bits().to_le_bytes())
            .collect();
        let tensor = read_f32_tensor(&bits.as_slice(), "test", 0, DType::F16, &[2])
            .unwrap()
            .unwrap();
        assert_eq!(tensor.to_vec1::<f32>().unwrap(), [1.5, -2.0]);
        let ints = read_f32_tensor(&bits.as_slice(), "test", 0, DType::I64, &[0]).unwrap();
        assert!(ints.is_none());
    }
}
