//! int8 products on x86-64: u8 activations times i8 weights -127..=127, summed exactly in i32.
//!
//! - AVX2, 4 x 16 register tiles on 16-column blocks: per 4 values of k, two registers of 8
//!   columns x 4 bytes of weights against 4 broadcast bytes of each row, `vpmaddubsw` (u8 x i8
//!   pairs to i16) then `vpmaddwd` by ones (pairs to i32). With activations at most 127 a pair
//!   is at most 2 x 127 x 127 = 32,258, so the i16 step never saturates.
//! - AVX-512 VNNI, 8 x 32 tiles on 32-column blocks: `vpdpbusd` sums four u8 x i8 products per
//!   lane with no i16 step, so activations use all of 0..=255.
//!
//! rten-gemm's kernels ran here before; ours keep the whole product in one register tile read
//! straight from the activations, with column blocks small enough to share out over threads.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::{has_avx2, has_vnni};
use crate::kernels::sink::Int8Sink;
use crate::kernels::tiled::{drive, PackedInt8, MR, NR};

/// The sums `sum_i a[r][i] * w[c][i]` into `sink`, for `a` of `rows` rows of `padded_k()`
/// codes (the padding zero). Column blocks are split over rayon's threads.
pub(crate) fn gemm(a: &[u8], rows: usize, weights: &PackedInt8, sink: &impl Int8Sink) {
    assert!(has_avx2(), "the AVX2 int8 kernel needs AVX2");
    assert_eq!(weights.block_cols, NR);
    assert_eq!(sink.columns(), weights.n);
    let kp = weights.padded_k();
    assert_eq!(a.len(), rows * kp);
    let panel_len = weights.k_groups * NR * 4;
    drive(rows, sink, |row, tile_rows, block| {
        let panel = &weights.data()[block * panel_len..][..panel_len];
        let a_tile = &a[row * kp..(row + tile_rows) * kp];
        // SAFETY: AVX2 is present (asserted above); `a_tile` holds `tile_rows` rows of `kp`
        // codes and `panel` `k_groups` groups of 64 bytes, as `tile` reads.
        unsafe {
            match tile_rows {
                4 => tile::<4>(a_tile, kp, panel, weights.k_groups),
                3 => tile::<3>(a_tile, kp, panel, weights.k_groups),
                2 => tile::<2>(a_tile, kp, panel, weights.k_groups),
                _ => tile::<1>(a_tile, kp, panel, weights.k_groups),
            }
        }
    });
}

/// Rows per VNNI register tile: with two registers of 16 columns, 16 accumulators, enough
/// independent `vpdpbusd` chains to keep two units busy through its latency.
const VNNI_ROWS: usize = 8;
/// Columns per block of the VNNI kernel's weights: a group of 32 columns x 4 values of k is two
/// registers, 128 contiguous bytes.
pub(crate) const VNNI_BLOCK_COLS: usize = 32;
/// Rows whose activations stay in L2 while every column block passes over them (at most
/// 64 x 3072 bytes).
const VNNI_ROWS_PER_PASS: usize = 64;

/// Packs `codes` (`[n, k]`) for [`gemm_vnni`].
pub(crate) fn pack_vnni(codes: &[i8], n: usize, k: usize) -> PackedInt8 {
    PackedInt8::with_block_cols(codes, n, k, VNNI_BLOCK_COLS)
}

/// [`gemm`] with AVX-512 VNNI: `vpdpbusd` sums four u8 x i8 products into each of 16 i32 lanes in
/// one instruction, without the i16 step, so activations may use all of 0..=255. Weights are
/// packed by [`pack_vnni`]: blocks of 32 columns, so that the two registers of a group are one
/// contiguous stream (with two 16-column blocks read side by side, the second stream's loads
/// took half the kernel's samples).
///
/// Why not rten-gemm's AVX-512 VNNI kernel, which ran here before: at 32 tokens on Zen 5 it was
/// 69% of a q8_0 pass and its activation packing 5% more (`perf record`, one thread), and at two
/// threads the pass gained almost nothing (10.9 to 10.4 s for 1,000 texts): its column blocks
/// are sized at packing time, up to 1,024 columns, so a 2,304- or 3,072-column layer is three
/// blocks for two threads. Here the tiles are 8 rows x 32 columns, read straight from the
/// activations, and the 32-column blocks are shared out by rayon.
pub(crate) fn gemm_vnni(a: &[u8], rows: usize, weights: &PackedInt8, sink: &impl Int8Sink) {
    assert!(
        has_vnni(),
        "the VNNI int8 kernel needs AVX-512F and AVX-512 VNNI"
    );
    assert_eq!(weights.block_cols, VNNI_BLOCK_COLS);
    let kp = weights.padded_k();
    let n = weights.n;
    assert_eq!(a.len(), rows * kp);
    assert_eq!(sink.columns(), n);
    let blocks = n.div_ceil(VNNI_BLOCK_COLS);
    let panel_len = weights.k_groups * VNNI_BLOCK_COLS * 4;
    for first_row in (0..rows).step_by(VNNI_ROWS_PER_PASS) {
        let pass_end = (first_row + VNNI_ROWS_PER_PASS).min(rows);
        (0..blocks)
            .into_par_iter()
            .with_min_len(2)
            .for_each(|block| {
                let panel = &weights.data()[block * panel_len..][..panel_len];
                let next_panel = weights
                    .data()
                    .get((block + 1) * panel_len..(block + 2) * panel_len);
                let mut row = first_row;
                while row < pass_end {
                    let tile_rows = (pass_end - row).min(VNNI_ROWS);
                    let a_tile = &a[row * kp..(row + tile_rows) * kp];
                    // The pass's last row tile asks for the next block's weights, so they
                    // arrive from memory while it works from cache.
                    let prefetch = next_panel.filter(|_| row + tile_rows == pass_end);
                    // SAFETY: AVX-512F and VNNI are present (asserted above); `a_tile` holds
                    // `tile_rows` rows of `kp` codes and `panel` `k_groups` groups of 128 bytes,
                    // as `tile_vnni` reads.
                    let sums = unsafe {
                        match tile_rows {
                            8 => tile_vnni::<8>(a_tile, kp, panel, weights.k_groups, prefetch),
                            7 => tile_vnni::<7>(a_tile, kp, panel, weights.k_groups, prefetch),
                            6 => tile_vnni::<6>(a_tile, kp, panel, weights.k_groups, prefetch),
                            5 => tile_vnni::<5>(a_tile, kp, panel, weights.k_groups, prefetch),
                            4 => tile_vnni::<4>(a_tile, kp, panel, weights.k_groups, prefetch),
                            3 => tile_vnni::<3>(a_tile, kp, panel, weights.k_groups, prefetch),
                            2 => tile_vnni::<2>(a_tile, kp, panel, weights.k_groups, prefetch),
                            _ => tile_vnni::<1>(a_tile, kp, panel, weights.k_groups, prefetch),
                        }
                    };
                    for (half, sums) in sums.iter().enumerate() {
                        let block16 = block * 2 + half;
                        if block16 * NR < n {
                            // SAFETY: as in `drive`: this task alone writes these columns,
                            // and the block starts below `n`.
                            unsafe { sink.put(&sums[..tile_rows], row, block16) };
                        }
                    }
                    row += tile_rows;
                }
            });
    }
}

/// Sums of `ROWS` rows of `a` (row stride `stride`) against one 32-column panel, as
/// `sums[half][row]` (columns 0-15, then 16-31); with `prefetch`, the lines of that panel of
/// the same size are requested into L2 along the way.
#[target_feature(enable = "avx512f,avx512vnni")]
unsafe fn tile_vnni<const ROWS: usize>(
    a: &[u8],
    stride: usize,
    panel: &[i8],
    k_groups: usize,
    prefetch: Option<&[i8]>,
) -> [[[i32; NR]; VNNI_ROWS]; 2] {
    debug_assert!(a.len() >= (ROWS - 1) * stride + k_groups * 4);
    debug_assert!(panel.len() >= k_groups * VNNI_BLOCK_COLS * 4);
    let mut low = [_mm512_setzero_si512(); ROWS];
    let mut high = [_mm512_setzero_si512(); ROWS];
    let (a, b) = (a.as_ptr(), panel.as_ptr());
    for g in 0..k_groups {
        if let Some(next) = prefetch {
            let line = next.as_ptr().wrapping_add(g * 128);
            _mm_prefetch::<_MM_HINT_T1>(line);
            _mm_prefetch::<_MM_HINT_T1>(line.wrapping_add(64));
        }
        let w0 = _mm512_loadu_si512(b.add(g * 128) as *const _);
        let w1 = _mm512_loadu_si512(b.add(g * 128 + 64) as *const _);
        for r in 0..ROWS {
            let four = (a.add(r * stride + g * 4) as *const i32).read_unaligned();
            let broadcast = _mm512_set1_epi32(four);
            low[r] = _mm512_dpbusd_epi32(low[r], broadcast, w0);
            high[r] = _mm512_dpbusd_epi32(high[r], broadcast, w1);
        }
    }
    let mut sums = [[[0i32; NR]; VNNI_ROWS]; 2];
    for r in 0..ROWS {
        _mm512_storeu_si512(sums[0][r].as_mut_ptr() as *mut _, low[r]);
        _mm512_storeu_si512(sums[1][r].as_mut_ptr() as *mut _, high[r]);
    }
    sums
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
    use crate::kernels::tiled::assert_exact_int8_sums;

    #[test]
    fn equals_exact_integer_sums_on_ragged_shapes() {
        if !has_avx2() {
            eprintln!("skipped: this CPU has no AVX2");
            return;
        }
        assert_exact_int8_sums(PackedInt8::new, gemm, 127);
    }

    #[test]
    fn vnni_equals_exact_integer_sums_on_ragged_shapes() {
        if !has_vnni() {
            eprintln!("skipped: this CPU has no AVX-512 VNNI");
            return;
        }
        assert_exact_int8_sums(pack_vnni, gemm_vnni, 255);
    }
}
