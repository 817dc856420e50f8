//! AVX2 int8 matrix product for the int8 [`super::Linear`]: u8 activations (0..=127) times i8
//! weights (-127..=127), summed exactly in i32.
//!
//! Why our own: rten-gemm's AVX2 u8 x i8 kernel ran at about 100 GOP/s per Zen 3 core on
//! XLM-R's shapes at 32 tokens, half of what the instructions allow; ONNX Runtime's int8 was
//! ahead on single-text latency. This one is a 4 x 16 register tile: per 4 values of k it
//! loads 16 columns of weights (two registers of 8 columns x 4 bytes), broadcasts 4 bytes of
//! each of 4 rows, and multiplies with `vpmaddubsw` (u8 x i8 pairs to i16) then `vpmaddwd` by
//! ones (pairs of i16 to i32). With activations at most 127 and weights at most 127 in
//! magnitude a pair is at most 2 x 127 x 127 = 32,258, so the i16 step never saturates.
//!
//! Weights are packed once at load: column blocks of 16, each a run of k/4 groups of
//! 16 columns x 4 consecutive k values (64 bytes), zero-padded to whole blocks and groups.

use std::arch::x86_64::*;

use rayon::prelude::*;

/// Columns per block (two AVX2 registers of eight i32 sums).
const NR: usize = 16;
/// Rows per register tile.
const MR: usize = 4;
/// Rows whose activations are kept hot while every column block passes over them.
const ROWS_PER_PASS: usize = 64;

/// Whether this CPU runs the kernel.
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Weights packed for [`gemm`].
pub(crate) struct PackedInt8 {
    data: Vec<i8>,
    /// k rounded up to a multiple of 4, divided by 4.
    k_groups: usize,
    n: usize,
}

impl PackedInt8 {
    /// Packs `codes` (`[n, k]`, row-major: one row per output feature).
    pub(crate) fn new(codes: &[i8], n: usize, k: usize) -> Self {
        let k_groups = k.div_ceil(4);
        let blocks = n.div_ceil(NR);
        let mut data = vec![0i8; blocks * k_groups * NR * 4];
        for (c, row) in codes.chunks_exact(k).enumerate().take(n) {
            let (block, j) = (c / NR, c % NR);
            for (i, &code) in row.iter().enumerate() {
                data[((block * k_groups + i / 4) * NR + j) * 4 + i % 4] = code;
            }
        }
        Self { data, k_groups, n }
    }

    /// The width of activation rows [`gemm`] takes: k rounded up to a multiple of 4.
    pub(crate) fn padded_k(&self) -> usize {
        self.k_groups * 4
    }
}

/// A raw output pointer shared by the tasks of one product; each writes its own columns.
#[derive(Clone, Copy)]
struct Output(*mut i32);
// SAFETY: tasks write disjoint column ranges of the output (see `gemm`).
unsafe impl Send for Output {}
unsafe impl Sync for Output {}

impl Output {
    /// The pointer to value `offset` (a method, so closures capture the whole `Output`).
    fn at(self, offset: usize) -> *mut i32 {
        self.0.wrapping_add(offset)
    }
}

/// `out[r][c] = sum_i a[r][i] * w[c][i]` for `a` of `rows` rows of `padded_k()` codes (pad
/// with zeros) and `out` of `rows x n`. Column blocks are split over rayon's threads.
pub(crate) fn gemm(a: &[u8], rows: usize, weights: &PackedInt8, out: &mut [i32]) {
    assert!(available(), "the AVX2 int8 kernel needs AVX2");
    let (kp, n) = (weights.padded_k(), weights.n);
    assert_eq!(a.len(), rows * kp);
    assert_eq!(out.len(), rows * n);
    let blocks = n.div_ceil(NR);
    let output = Output(out.as_mut_ptr());
    for first_row in (0..rows).step_by(ROWS_PER_PASS) {
        let pass_rows = (rows - first_row).min(ROWS_PER_PASS);
        (0..blocks)
            .into_par_iter()
            .with_min_len(4)
            .for_each(|block| {
                let panel =
                    &weights.data[block * weights.k_groups * NR * 4..][..weights.k_groups * NR * 4];
                let columns = (n - block * NR).min(NR);
                let mut row = first_row;
                while row < first_row + pass_rows {
                    let tile_rows = (first_row + pass_rows - row).min(MR);
                    let a_tile = &a[row * kp..(row + tile_rows) * kp];
                    // SAFETY: AVX2 is present (asserted above); `a_tile` holds `tile_rows` rows of
                    // `kp` codes and `panel` `k_groups` groups of 64 bytes, as `tile` reads.
                    let sums = unsafe {
                        match tile_rows {
                            4 => tile::<4>(a_tile, kp, panel, weights.k_groups),
                            3 => tile::<3>(a_tile, kp, panel, weights.k_groups),
                            2 => tile::<2>(a_tile, kp, panel, weights.k_groups),
                            _ => tile::<1>(a_tile, kp, panel, weights.k_groups),
                        }
                    };
                    for (r, sums) in sums.iter().enumerate().take(tile_rows) {
                        let at = (row + r) * n + block * NR;
                        // SAFETY: row + r < rows and block * NR + columns <= n, so the range is
                        // inside `out`; no other task writes this block's columns.
                        unsafe {
                            std::ptr::copy_nonoverlapping(sums.as_ptr(), output.at(at), columns);
                        }
                    }
                    row += tile_rows;
                }
            });
    }
}

/// Sums of `ROWS` rows of `a` (row stride `stride`) against one 16-column panel.
#[target_feature(enable = "avx2")]
unsafe fn tile<const ROWS: usize>(
    a: &[u8],
    stride: usize,
    panel: &[i8],
    k_groups: usize,
) -> [[i32; NR]; MR] {
    debug_assert!(a.len() >= (ROWS - 1) * stride + k_groups * 4);
    debug_assert!(panel.len() >= k_groups * NR * 4);
    let ones = _mm256_set1_epi16(1);
    let mut low = [_mm256_setzero_si256(); ROWS];
    let mut high = [_mm256_setzero_si256(); ROWS];
    let (a, b) = (a.as_ptr(), panel.as_ptr());
    for g in 0..k_groups {
        let b0 = _mm256_loadu_si256(b.add(g * 64) as *const __m256i);
        let b1 = _mm256_loadu_si256(b.add(g * 64 + 32) as *const __m256i);
        for r in 0..ROWS {
            let four = (a.add(r * stride + g * 4) as *const i32).read_unaligned();
            let broadcast = _mm256_set1_epi32(four);
            let p0 = _mm256_madd_epi16(_mm256_maddubs_epi16(broadcast, b0), ones);
            let p1 = _mm256_madd_epi16(_mm256_maddubs_epi16(broadcast, b1), ones);
            low[r] = _mm256_add_epi32(low[r], p0);
            high[r] = _mm256_add_epi32(high[r], p1);
        }
    }
    let mut sums = [[0i32; NR]; MR];
    for r in 0..ROWS {
        _mm256_storeu_si256(sums[r].as_mut_ptr() as *mut __m256i, low[r]);
        _mm256_storeu_si256(sums[r][8..].as_mut_ptr() as *mut __m256i, high[r]);
    }
    sums
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equals_exact_integer_sums_on_ragged_shapes() {
        if !available() {
            return;
        }
        let mut state = 7u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            state >> 8
        };
        for (rows, k, n) in [
            (1, 1, 1),
            (3, 5, 17),
            (4, 8, 16),
            (7, 100, 33),
            (70, 768, 40),
            (5, 3072, 16),
        ] {
            let codes: Vec<i8> = (0..n * k)
                .map(|_| ((next() % 255) as i32 - 127) as i8)
                .collect();
            let packed = PackedInt8::new(&codes, n, k);
            let kp = packed.padded_k();
            let mut a = vec![0u8; rows * kp];
            for r in 0..rows {
                for i in 0..k {
                    a[r * kp + i] = (next() % 128) as u8;
                }
            }
            let mut out = vec![0i32; rows * n];
            gemm(&a, rows, &packed, &mut out);
            for r in 0..rows {
                for c in 0..n {
                    let want: i32 = (0..k)
                        .map(|i| a[r * kp + i] as i32 * codes[c * k + i] as i32)
                        .sum();
                    assert_eq!(out[r * n + c], want, "{rows} x {k} x {n} at {r}, {c}");
                }
            }
        }
    }
}
