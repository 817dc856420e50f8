//! x86-64 matrix products for [`super::Linear`], and the activations' int8 quantization with
//! AVX-512:
//! - AVX2: f32 (FMA, 6 x 16 register tiles) and int8 (u8 activations 0..=127 times i8 weights
//!   -127..=127, summed exactly in i32, 4 x 16 tiles), on weights packed once at load in column
//!   blocks of 16;
//! - AVX-512: f32 (8 x 32 tiles, the same sums as the AVX2 tile) and int8 with VNNI
//!   (`vpdpbusd`, 8 x 32 tiles, activations 0..=255), on blocks of 32 columns, each tile
//!   asking for the next slice of weights while it works from cache (see [`gemm_vnni`]).
//!
//! All split the column blocks over rayon.
//!
//! f32: with rten-gemm's FMA kernel the f32 model's single-text latency trailed ONNX Runtime's.
//! This 6 x 16 tile, run over 256 values of k at a time so a block's slice of weights stays in
//! L1 while every row tile of the pass uses it, gave a 10-25% lower 32-token latency in the whole
//! model at 1 and 2 threads (same binary either way, `bench --quick` alternated on Zen 3) and
//! the same batch throughput. It sums each output in order of k, so a text's result is the same
//! whatever else is in its batch.
//!
//! int8:
//! rten-gemm's AVX2 u8 x i8 kernel ran at about 100 GOP/s per Zen 3 core on
//! XLM-R's shapes at 32 tokens, half of what the instructions allow; ONNX Runtime's int8 was
//! ahead on single-text latency. This one is a 4 x 16 register tile: per 4 values of k it
//! loads 16 columns of weights (two registers of 8 columns x 4 bytes), broadcasts 4 bytes of
//! each of 4 rows, and multiplies with `vpmaddubsw` (u8 x i8 pairs to i16) then `vpmaddwd` by
//! ones (pairs of i16 to i32). With activations at most 127 and weights at most 127 in
//! magnitude a pair is at most 2 x 127 x 127 = 32,258, so the i16 step never saturates.
//!
//! The int8 weights are in the layout of `tiled.rs`, shared with the wasm kernels.

use std::arch::x86_64::*;

use rayon::prelude::*;

use super::tiled::{drive, Output, PackedInt8, MR, NR};

/// Whether this CPU runs the kernel.
pub(crate) fn available() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// `out[r][c] = sum_i a[r][i] * w[c][i]` for `a` of `rows` rows of `padded_k()` codes (pad
/// with zeros) and `out` of `rows x n`. Column blocks are split over rayon's threads.
pub(crate) fn gemm(a: &[u8], rows: usize, weights: &PackedInt8, out: &mut [i32]) {
    assert!(available(), "the AVX2 int8 kernel needs AVX2");
    assert_eq!(weights.block_cols, NR);
    let kp = weights.padded_k();
    assert_eq!(a.len(), rows * kp);
    let panel_len = weights.k_groups * NR * 4;
    drive(rows, weights.n, out, |row, tile_rows, block| {
        let panel = &weights.data[block * panel_len..][..panel_len];
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

/// Whether this CPU runs the AVX-512 VNNI int8 kernel ([`gemm_vnni`]).
pub(crate) fn available_vnni() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni")
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
pub(crate) fn gemm_vnni(a: &[u8], rows: usize, weights: &PackedInt8, out: &mut [i32]) {
    assert!(
        available_vnni(),
        "the VNNI int8 kernel needs AVX-512F and AVX-512 VNNI"
    );
    assert_eq!(weights.block_cols, VNNI_BLOCK_COLS);
    let kp = weights.padded_k();
    let n = weights.n;
    assert_eq!(a.len(), rows * kp);
    assert_eq!(out.len(), rows * n);
    let blocks = n.div_ceil(VNNI_BLOCK_COLS);
    let panel_len = weights.k_groups * VNNI_BLOCK_COLS * 4;
    let output = Output(out.as_mut_ptr());
    for first_row in (0..rows).step_by(VNNI_ROWS_PER_PASS) {
        let pass_end = (first_row + VNNI_ROWS_PER_PASS).min(rows);
        (0..blocks)
            .into_par_iter()
            .with_min_len(2)
            .for_each(|block| {
                let panel = &weights.data[block * panel_len..][..panel_len];
                let next_panel = weights
                    .data
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
                            unsafe { output.store(&sums[..tile_rows], row, n, block16) };
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
        let block_cols = if available_f32_avx512() { 32 } else { NR };
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

/// Whether this CPU runs the AVX-512 f32 tile ([`gemm_f32`] on 32-column blocks).
pub(crate) fn available_f32_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// Whether this CPU runs the f32 kernel.
pub(crate) fn available_f32() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
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
        assert!(
            available_f32_avx512(),
            "the AVX-512 f32 kernel needs AVX-512F"
        );
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
        assert!(available_f32(), "the AVX2 f32 kernel needs AVX2 and FMA");
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

/// Whether this CPU runs the AVX-512 steps ([`quantize_rows_avx512`]).
pub(crate) fn available_avx512() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// [`super::quantize_task`] with AVX-512: the same codes, scales and zero points bit for bit
/// (the same operations in the same order; min and max are exact, so their order does not
/// matter). Compiled for AVX2, the scalar loop kept its minima and maxima in memory (masked
/// stores) and converted to u8 one value at a time: 13% of a q8_0 pass at 32 tokens on Zen 5
/// (`perf record`), as much as a quarter of the int8 products it feeds.
pub(crate) fn quantize_rows_avx512(
    codes: &mut [u8],
    x: &[f32],
    params: &mut [(f32, u8)],
    cols: usize,
    top: f32,
) {
    assert!(available_avx512(), "the AVX-512 quantizer needs AVX-512F");
    assert!(codes.len() == x.len() && x.len() == params.len() * cols);
    for ((out, row), param) in codes
        .chunks_exact_mut(cols.max(1))
        .zip(x.chunks_exact(cols.max(1)))
        .zip(params.iter_mut())
    {
        // SAFETY: AVX-512F is present (asserted above); `out` and `row` have the same length.
        *param = unsafe { quantize_row_avx512(row, out, top) };
    }
}

#[target_feature(enable = "avx512f")]
unsafe fn quantize_row_avx512(row: &[f32], out: &mut [u8], top: f32) -> (f32, u8) {
    debug_assert_eq!(row.len(), out.len());
    let len = row.len();
    let whole = len / 16 * 16;
    // Masked loads of the tail read zeros, which the minimum and maximum start from anyway.
    let tail_mask: __mmask16 = ((1u32 << (len - whole)) - 1) as __mmask16;
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let p = row.as_ptr();
    let mut i = 0;
    while i < whole {
        let v = _mm512_loadu_ps(p.add(i));
        // `minps(v, lo)` gives `lo` when v is NaN, as `min(lo, v)` in the scalar code.
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
        i += 16;
    }
    if tail_mask != 0 {
        let v = _mm512_maskz_loadu_ps(tail_mask, p.add(whole));
        lo = _mm512_min_ps(v, lo);
        hi = _mm512_max_ps(v, hi);
    }
    let lo = _mm512_reduce_min_ps(lo);
    let hi = _mm512_reduce_max_ps(hi);
    let scale = if hi > lo { (hi - lo) / top } else { 1.0 };
    let zero = (super::clamp(-lo / scale, 0.0, top) + 0.5) as u8;
    let (inverse, offset) = (1.0 / scale, zero as f32 + 0.5);
    let (inverse, offset) = (_mm512_set1_ps(inverse), _mm512_set1_ps(offset));
    let (floor, ceiling) = (_mm512_setzero_ps(), _mm512_set1_ps(top + 0.49));
    // `v * inverse + offset` (a multiply then an add, no fused rounding, as the scalar code),
    // limited to 0..=top + 0.49 (NaN to 0: `maxps` gives its second operand), truncated to i32
    // and narrowed to u8 (`vpmovdb`), the scalar `clamp(..) as u8`.
    let code = |v: __m512| {
        let q = _mm512_add_ps(_mm512_mul_ps(v, inverse), offset);
        let q = _mm512_min_ps(_mm512_max_ps(q, floor), ceiling);
        _mm512_cvttps_epi32(q)
    };
    let o = out.as_mut_ptr();
    let mut i = 0;
    while i < whole {
        _mm_storeu_si128(
            o.add(i) as *mut __m128i,
            _mm512_cvtepi32_epi8(code(_mm512_loadu_ps(p.add(i)))),
        );
        i += 16;
    }
    if tail_mask != 0 {
        let codes = code(_mm512_maskz_loadu_ps(tail_mask, p.add(whole)));
        _mm512_mask_cvtepi32_storeu_epi8(o.add(whole) as *mut i8, tail_mask, codes);
    }
    (scale, zero)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f32_kernel_matches_sums_in_f64_on_ragged_shapes() {
        if !available_f32() {
            return;
        }
        let mut state = 11u32;
        let mut next = || {
            state = state.wrapping_mul(1664525).wrapping_add(1013904223);
            (state >> 8) as f32 / (1u32 << 24) as f32 - 0.5
        };
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

    #[test]
    fn equals_exact_integer_sums_on_ragged_shapes() {
        if available() {
            crate::kernels::tiled::assert_exact_int8_sums(PackedInt8::new, gemm, 127);
        }
    }

    #[test]
    fn vnni_equals_exact_integer_sums_on_ragged_shapes() {
        if available_vnni() {
            crate::kernels::tiled::assert_exact_int8_sums(pack_vnni, gemm_vnni, 255);
        }
    }
}
