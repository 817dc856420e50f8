//! Byte buffers aligned to cache lines: AMX tile loads read 64-byte rows, and a row that
//! straddles two lines made them about three times slower.
//!
//! Buffers are reused: a dropped buffer goes to a small process-wide pool that the next
//! allocation of at most its size takes from. Every forward pass allocates the same
//! activation buffers again, and a fresh allocation of a few MB is a fresh `mmap` whose pages
//! the kernel faults in and clears one by one.

use std::sync::Mutex;

/// One cache line.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Line([u8; 64]);

// SAFETY: `Line` is 64 plain bytes with no padding (size 64, alignment 64), so any bit pattern
// is valid and zero is a valid value.
unsafe impl bytemuck::Zeroable for Line {}
unsafe impl bytemuck::Pod for Line {}

/// `len` bytes starting on a 64-byte boundary.
pub(crate) struct AlignedBytes {
    lines: Vec<Line>,
    len: usize,
}

/// Buffers waiting to be reused, each at its full length (every line initialised).
static POOL: Mutex<Vec<Vec<Line>>> = Mutex::new(Vec::new());
/// The most bytes the pool keeps: above the largest activation buffer of XLM-R base at 512
/// tokens (3 x 512 x 3,072 bf16), small beside the model.
const POOL_BYTES: usize = 32 << 20;
/// The most buffers the pool keeps.
const POOL_BUFFERS: usize = 64;

impl AlignedBytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> Self {
        match Self::reused(len) {
            Some(mut bytes) => {
                bytes.as_mut_slice().fill(0);
                bytes
            }
            None => Self::fresh(len),
        }
    }

    /// `len` bytes of any value: the caller writes every byte it reads. (Only the AMX kernels'
    /// activation splits take one.)
    #[cfg(target_arch = "x86_64")]
    pub(crate) fn scratch(len: usize) -> Self {
        Self::reused(len).unwrap_or_else(|| Self::fresh(len))
    }

    fn fresh(len: usize) -> Self {
        Self {
            lines: vec![Line([0; 64]); len.div_ceil(64)],
            len,
        }
    }

    /// The smallest pooled buffer that holds `len` bytes, cut to them.
    fn reused(len: usize) -> Option<Self> {
        let needed = len.div_ceil(64);
        if needed == 0 {
            return None;
        }
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let (index, _) = pool
            .iter()
            .enumerate()
            .filter(|(_, lines)| lines.len() >= needed)
            .min_by_key(|(_, lines)| lines.len())?;
        // Kept at its full length (every line initialised); only `len` bytes are handed out.
        let lines = pool.swap_remove(index);
        Some(Self { lines, len })
    }

    /// The bytes.
    pub(crate) fn as_slice(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.lines)[..self.len]
    }

    /// The bytes, to write.
    pub(crate) fn as_mut_slice(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.lines)[..self.len]
    }

    /// The bytes as i8 (weights).
    pub(crate) fn as_i8(&self) -> &[i8] {
        bytemuck::cast_slice(self.as_slice())
    }

    /// The bytes as i8, to write.
    pub(crate) fn as_i8_mut(&mut self) -> &mut [i8] {
        bytemuck::cast_slice_mut(self.as_mut_slice())
    }
}

impl Drop for AlignedBytes {
    fn drop(&mut self) {
        let lines = std::mem::take(&mut self.lines);
        let bytes = lines.len() * 64;
        if bytes == 0 || bytes > POOL_BYTES / 2 {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let pooled: usize = pool.iter().map(|l| l.len() * 64).sum();
        if pool.len() < POOL_BUFFERS && pooled + bytes <= POOL_BYTES {
            pool.push(lines);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_on_a_cache_line_and_has_its_length() {
        for len in [0, 1, 63, 64, 65, 1000] {
            let mut bytes = AlignedBytes::zeroed(len);
            assert_eq!(bytes.as_slice().len(), len);
            assert_eq!(bytes.as_slice().as_ptr() as usize % 64, 0);
            assert!(bytes.as_i8().iter().all(|&b| b == 0));
            bytes.as_i8_mut().iter_mut().for_each(|b| *b = -1);
            assert!(bytes.as_slice().iter().all(|&b| b == 255));
        }
    }

    #[test]
    fn a_reused_buffer_is_zeroed_when_asked_to_be() {
        for round in 0..4 {
            let len = 100_000 + round * 64;
            let mut dirty = AlignedBytes::zeroed(len);
            assert_eq!(dirty.as_slice().len(), len);
            dirty.as_mut_slice().iter_mut().for_each(|b| *b = 7);
            drop(dirty);
            let clean = AlignedBytes::zeroed(len - 64);
            assert_eq!(clean.as_slice().len(), len - 64);
            assert_eq!(clean.as_slice().as_ptr() as usize % 64, 0);
            assert!(clean.as_slice().iter().all(|&b| b == 0));
        }
    }
}
