//! f32 products on x86-64: FMA register tiles over weights packed once at load in column
//! blocks, 6 x 16 tiles on 16-column blocks with AVX2, 8 x 32 on 32-column blocks with AVX-512.
//! Both walk k in steps of [`KC_F32`] (a block's slice of weights stays in L1 while every row
//! tile of the pass uses it) and sum each output in order of k, so they give the same results,
//! and a text's result does not depend on the rest of its batch.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::{has_avx2_fma, has_avx512f};
use crate::kernels::sink::Output;
use crate::kernels::tiled::NR;

/// Rows per f32 register tile: 6 x 16 needs 12 accumulators, enough independent FMA chains to
/// cover the FMA latency on two ports.
const MR_F32: usize = 6;

/// f32 weights packed for [`gemm_f32`]: column blocks of 16 (32 for the AVX-512 tile), each `k`
/// runs of that many columns.
pub(crate) struct PackedF32 {
    data: Vec<f32>,
    k: usize,
    n: usize,
    block_cols: usize,
}

impl PackedF32 {
    /// Packs `weight` (`[n, k]`, row-major: one row per output feature) for the kernel this CPU
    /// runs: blocks of 32 columns with AVX-512, of 16 otherwise.
    pub(crate) fn new(weight: &[f32], n: usize, k: usize) -> Self {
        let block_cols = if has_avx512f() { 32 } else { NR };
        Self::with_block_cols(weight, n, k, block_cols)
    }

    fn with_block_cols(weight: &[f32], n: usize, k: usize, block_cols: usize) -> Self {
        let blocks = n.div_ceil(block_cols);
        let mut data = vec![0f32; blocks * k * block_cols];
        for (c, row) in weight.chunks_exact(k.max(1)).enumerate().take(n) {
            let (block, j) = (c / block_cols, c % block_cols);
            for (i, &w) in row.iter().enumerate() {
                data[(block * k + i) * block_cols + j] = w;
            }
        }
        Self {
            data,
            k,
            n,
            block_cols,
        }
    }
}

/// Values of k per step of the f32 product: a block's 16-column slice of them (16 KB) stays in
/// L1 while every register tile of the pass runs over it.
const KC_F32: usize = 256;
/// Rows per pass of the f32 product: their slice of activations (at most 96 x 256 x 4 bytes)
/// stays in L2 while the column blocks pass over it.
const ROWS_PER_PASS_F32: usize = 256;

/// `out[r][c] = sum_i a[r][i] * w[c][i]` for `a` of `rows x k` and `out` of `rows x n`, summed
/// in order of `i` (so a row's result does not depend on the other rows of the batch).
///
/// Weights packed in 32-column blocks run the AVX-512 tile (8 x 32), in 16-column blocks the AVX2
/// tile (6 x 16); both walk k in steps of [`KC_F32`] and add in the same order, so they give the
/// same results. With AVX-512, while the last row tile of a pass works on a block's slice of
/// weights, it asks for the next slice (the next bytes of the packed weights) to be brought
/// into L2.
///
/// Why our AVX-512 tile and not rten-gemm's, which ran here before: one 32-token text at two
/// threads took 23 ms with it on Zen 5, behind ONNX Runtime's 21 ms, as its column blocks are
/// sized when the weights are packed (up to 1,024 columns, three blocks for two threads on a
/// 2,304- or 3,072-column layer).
pub(crate) fn gemm_f32(a: &[f32], rows: usize, weights: &PackedF32, out: &mut [f32]) {
    if weights.block_cols == 2 * NR {
        assert!(has_avx512f(), "the AVX-512 f32 kernel needs AVX-512F");
        drive_f32::<MR_F32_512, 2>(
            a,
            rows,
            weights,
            out,
            |tile_rows, a, k, chunk, kc, sums, prefetch| {
                // SAFETY: AVX-512F is present (asserted above); `drive_f32` passes `a` holding
                // `tile_rows` rows of `kc` values at stride `k`, `chunk` `kc` runs of 32 and
                // `prefetch` as many, as `tile_f32_avx512` reads.
                unsafe {
                    match tile_rows {
                        8 => tile_f32_avx512::<8>(a, k, chunk, kc, sums, prefetch),
                        7 => tile_f32_avx512::<7>(a, k, chunk, kc, sums, prefetch),
                        6 => tile_f32_avx512::<6>(a, k, chunk, kc, sums, prefetch),
                        5 => tile_f32_avx512::<5>(a, k, chunk, kc, sums, prefetch),
                        4 => tile_f32_avx512::<4>(a, k, chunk, kc, sums, prefetch),
                        3 => tile_f32_avx512::<3>(a, k, chunk, kc, sums, prefetch),
                        2 => tile_f32_avx512::<2>(a, k, chunk, kc, sums, prefetch),
                        _ => tile_f32_avx512::<1>(a, k, chunk, kc, sums, prefetch),
                    }
                }
            },
        );
    } else {
        assert_eq!(weights.block_cols, NR);
        assert!(has_avx2_fma(), "the AVX2 f32 kernel needs AVX2 and FMA");
        drive_f32::<MR_F32, 1>(
            a,
            rows,
            weights,
            out,
            |tile_rows, a, k, chunk, kc, sums, _| {
                // SAFETY: AVX2 and FMA are present (asserted above); `drive_f32` passes `a`
                // holding `tile_rows` rows of `kc` values at stride `k` and `chunk` `kc` runs of
                // 16, as `tile_f32` reads.
                unsafe {
                    match tile_rows {
                        6 => tile_f32::<6>(a, k, chunk, kc, sums),
                        5 => tile_f32::<5>(a, k, chunk, kc, sums),
                        4 => tile_f32::<4>(a, k, chunk, kc, sums),
                        3 => tile_f32::<3>(a, k, chunk, kc, sums),
                        2 => tile_f32::<2>(a, k, chunk, kc, sums),
                        _ => tile_f32::<1>(a, k, chunk, kc, sums),
                    }
                }
            },
        );
    }
}

/// Rows per AVX-512 f32 register tile: with two registers of 16 columns, 16 accumulators, enough
/// independent FMA chains for two FMA units through their latency.
const MR_F32_512: usize = 8;

/// The f32 product's loop, for register tiles of up to `TILE_ROWS` rows by `HALVES` x 16
/// columns (the packed weights' block width): passes of [`ROWS_PER_PASS_F32`] rows; in each, the
/// column blocks are split over rayon's threads, and every block walks k in steps of
/// [`KC_F32`], running the pass's row tiles over each step's slice of weights.
///
/// `tile(tile_rows, a, k, chunk, kc, sums, prefetch)` adds to `sums[row][half]` the products of
/// the `tile_rows` rows (at most `TILE_ROWS`) that `a` holds, `kc` values each at stride `k`,
/// with `chunk`, `kc` runs of the block's columns. `prefetch`, the next slice of the packed
/// weights (as long as `chunk`), comes with the pass's last row tile only.
fn drive_f32<const TILE_ROWS: usize, const HALVES: usize>(
    a: &[f32],
    rows: usize,
    weights: &PackedF32,
    out: &mut [f32],
    tile: impl Fn(
            usize,
            &[f32],
            usize,
            &[f32],
            usize,
            &mut [[[f32; NR]; HALVES]; TILE_ROWS],
            Option<&[f32]>,
        ) + Sync,
) {
    let cols = HALVES * NR;
    assert_eq!(weights.block_cols, cols);
    let (k, n) = (weights.k, weights.n);
    assert_eq!(a.len(), rows * k);
    assert_eq!(out.len(), rows * n);
    let blocks = n.div_ceil(cols);
    let panel_len = k * cols;
    let output = Output(out.as_mut_ptr());
    for first_row in (0..rows).step_by(ROWS_PER_PASS_F32) {
        let pass_rows = (rows - first_row).min(ROWS_PER_PASS_F32);
        let tiles = pass_rows.div_ceil(TILE_ROWS);
        (0..blocks)
            .into_par_iter()
            .with_min_len(2)
            .for_each(|block| {
                let panel_start = block * panel_len;
                let mut sums = vec![[[[0f32; NR]; HALVES]; TILE_ROWS]; tiles];
                for k0 in (0..k).step_by(KC_F32) {
                    let kc = (k - k0).min(KC_F32);
                    let chunk_start = panel_start + k0 * cols;
                    let chunk = &weights.data[chunk_start..chunk_start + kc * cols];
                    let next = weights
                        .data
                        .get(chunk_start + kc * cols..chunk_start + 2 * kc * cols);
                    for (t, sums) in sums.iter_mut().enumerate() {
                        let row = first_row + t * TILE_ROWS;
                        let tile_rows = (first_row + pass_rows - row).min(TILE_ROWS);
                        let a_tile = &a[row * k + k0..(row + tile_rows - 1) * k + k0 + kc];
                        tile(
                            tile_rows,
                            a_tile,
                            k,
                            chunk,
                            kc,
                            sums,
                            next.filter(|_| t + 1 == tiles),
                        );
                    }
                }
                let mut half_sums = [[0f32; NR]; TILE_ROWS];
                for (t, sums) in sums.iter().enumerate() {
                    let row = first_row + t * TILE_ROWS;
                    let tile_rows = (first_row + pass_rows - row).min(TILE_ROWS);
                    for half in 0..HALVES {
                        let block16 = block * HALVES + half;
                        if block16 * NR >= n {
                            continue;
                        }
                        for (to, from) in half_sums.iter_mut().zip(&sums[..tile_rows]) {
                            *to = from[half];
                        }
                        // SAFETY: as in `drive`: this task alone writes these columns, and the
                        // block starts below `n`.
                        unsafe { output.store(&half_sums[..tile_rows], row, n, block16) };
                    }
                }
            });
    }
}

/// Adds to `sums[row]` (columns 0-15, then 16-31) the products of `ROWS` rows of `a` (row stride
/// `stride`, `kc` values each) with `kc` runs of 32 weights; with `prefetch` (as long as
/// `chunk`), its lines are requested into L2 along the way.
#[target_feature(enable = "avx512f")]
unsafe fn tile_f32_avx512<const ROWS: usize>(
    a: &[f32],
    stride: usize,
    chunk: &[f32],
    kc: usize,
    sums: &mut [[[f32; NR]; 2]; MR_F32_512],
    prefetch: Option<&[f32]>,
) {
    debug_assert!(a.len() >= (ROWS - 1) * stride + kc);
    debug_assert!(chunk.len() >= kc * 32);
    let mut low = [_mm512_setzero_ps(); ROWS];
    let mut high = [_mm512_setzero_ps(); ROWS];
    for r in 0..ROWS {
        low[r] = _mm512_loadu_ps(sums[r][0].as_ptr());
        high[r] = _mm512_loadu_ps(sums[r][1].as_ptr());
    }
    let (a, b) = (a.as_ptr(), chunk.as_ptr());
    for i in 0..kc {
        if let Some(next) = prefetch {
            let line = next.as_ptr().wrapping_add(i * 32) as *const i8;
            _mm_prefetch::<_MM_HINT_T1>(line);
            _mm_prefetch::<_MM_HINT_T1>(line.wrapping_add(64));
        }
        let b0 = _mm512_loadu_ps(b.add(i * 32));
        let b1 = _mm512_loadu_ps(b.add(i * 32 + 16));
        for r in 0..ROWS {
            let value = _mm512_set1_ps(*a.add(r * stride + i));
            low[r] = _mm512_fmadd_ps(value, b0, low[r]);
            high[r] = _mm512_fmadd_ps(value, b1, high[r]);
        }
    }
    for r in 0..ROWS {
        _mm512_storeu_ps(sums[r][0].as_mut_ptr(), low[r]);
        _mm512_storeu_ps(sums[r][1].as_mut_ptr(), high[r]);
    }
}

/// Adds to `sums` the products of `ROWS` rows of `a` (row stride `stride`, `kc` values each)
/// with `kc` runs of 16 weights.
#[target_feature(enable = "avx2,fma")]
unsafe fn tile_f32<const ROWS: usize>(
    a: &[f32],
    stride: usize,
    chunk: &[f32],
    kc: usize,
    sums: &mut [[[f32; NR]; 1]; MR_F32],
) {
    debug_assert!(a.len() >= (ROWS - 1) * stride + kc);
    debug_assert!(chunk.len() >= kc * NR);
    let mut low = [_mm256_setzero_ps(); ROWS];
    let mut high = [_mm256_setzero_ps(); ROWS];
    for r in 0..ROWS {
        low[r] = _mm256_loadu_ps(sums[r][0].as_ptr());
        high[r] = _mm256_loadu_ps(sums[r][0][8..].as_ptr());
    }
    let (a, b) = (a.as_ptr(), chunk.as_ptr());
    for i in 0..kc {
        let b0 = _mm256_loadu_ps(b.add(i * NR));
        let b1 = _mm256_loadu_ps(b.add(i * NR + 8));
        for r in 0..ROWS {
            let value = _mm256_set1_ps(*a.add(r * stride + i));
            low[r] = _mm256_fmadd_ps(value, b0, low[r]);
            high[r] = _mm256_fmadd_ps(value, b1, high[r]);
        }
    }
    for r in 0..ROWS {
        _mm256_storeu_ps(sums[r][0].as_mut_ptr(), low[r]);
        _mm256_storeu_ps(sums[r][0][8..].as_mut_ptr(), high[r]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_kernel_matches_sums_in_f64_on_ragged_shapes() {
        if !has_avx2_fma() {
            eprintln!("skipped: this CPU has no AVX2 + FMA");
            return;
        }
        let mut rng = crate::kernels::testing::Seeded::new(11);
        let mut next = || rng.unit() - 0.5;
        for (rows, k, n) in [
            (1, 1, 1),
            (5, 7, 17),
            (6, 8, 16),
            (13, 100, 33),
            (70, 768, 40),
            (7, 300, 20),
            (300, 513, 35),
            (17, 256, 64),
            (9, 600, 100),
        ] {
            let w: Vec<f32> = (0..n * k).map(|_| next()).collect();
            let a: Vec<f32> = (0..rows * k).map(|_| next()).collect();
            let packed = PackedF32::new(&w, n, k);
            let mut out = vec![0f32; rows * n];
            gemm_f32(&a, rows, &packed, &mut out);
            // The AVX2 tile on 16-column blocks and the AVX-512 one on 32-column blocks give
            // the same sums bit for bit (the same FMAs in the same order).
            let narrow = PackedF32::with_block_cols(&w, n, k, NR);
            let mut narrow_out = vec![0f32; rows * n];
            gemm_f32(&a, rows, &narrow, &mut narrow_out);
            assert_eq!(out, narrow_out, "{rows} x {k} x {n}");
            for r in 0..rows {
                for c in 0..n {
                    let want: f64 = (0..k)
                        .map(|i| a[r * k + i] as f64 * w[c * k + i] as f64)
                        .sum();
                    let got = out[r * n + c] as f64;
                    assert!(
                        (got - want).abs() < 1e-5 * (k as f64).sqrt(),
                        "{rows} x {k} x {n} at {r}, {c}: {got} vs {want}"
                    );
                }
            }
            // A row's result does not depend on the rows beside it.
            let mut alone = vec![0f32; n];
            gemm_f32(&a[(rows - 1) * k..], 1, &packed, &mut alone);
            assert_eq!(&out[(rows - 1) * n..], alone.as_slice());
        }
    }
}
