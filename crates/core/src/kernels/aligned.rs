//! Byte buffers aligned to cache lines: AMX tile loads read 64-byte rows, and a row that
//! straddles two lines made them about three times slower.

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

impl AlignedBytes {
    /// `len` zero bytes.
    pub(crate) fn zeroed(len: usize) -> Self {
        Self {
            lines: vec![Line([0; 64]); len.div_ceil(64)],
            len,
        }
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
}
