//! WebAssembly int8 matrix product for [`super::linear::Linear`]: u8 activations 0..=127 times i8
//! weights -127..=127, summed exactly in i32, in 4 x 8 register tiles over the layout of
//! `tiled.rs` (the same packing as the AVX2 kernel), column blocks split over rayon.
//!
//! Why our own: rten-gemm's wasm int8 kernel emulates a 4-way dot product with seven simd128
//! instructions per 16 products (`u16x8_extmul` of u8 x u8 weights shifted by 128, pairwise
//! adds, two shuffles), which made our int8 model slower than our f32 one in the browser.
//!
//! Wasm has no run-time feature detection inside a module (a module with an unknown
//! instruction does not validate), so the instruction set is fixed at compile time and the npm
//! package ships two builds, picking one at load:
//! - the cargo feature `relaxed-simd` (Chrome 114+, Firefox 145+; a feature rather than
//!   `-C target-feature`, so the two builds share every compiled dependency): `i32x4_relaxed_dot_i8x16_i7x16_add`, one
//!   instruction for 4 columns x 4 values of k (`vpdpbusd` on x86 with AVX-VNNI,
//!   `vpmaddubsw` + `vpmaddwd` otherwise; `sdot` on Arm). The second operand must be in 0..=127
//!   for the result to be the same on every engine: on x86 it is read as unsigned
//!   (WebAssembly/relaxed-simd issue 52), so the activations go there, capped at 127.
//! - simd128 only: weights widened to i16 and `i32x4_dot_i16x8` (pairs of i16 products summed
//!   into i32). The packing puts values k, k+1 of each of 4 columns in the low half of a
//!   16-byte group and k+2, k+3 in the high half, so both halves add into the same 4 sums.

use std::arch::wasm32::*;

use super::sink::Int8Sink;
use super::tiled::{drive, PackedInt8, MR, NR};

/// The name `bench` and the npm package report for this build's int8 kernel.
pub(crate) const INT8_KERNEL_NAME: &str = if cfg!(feature = "relaxed-simd") {
    "xlmr-sentiment-i8i7i32-wasm-relaxed-simd"
} else {
    "xlmr-sentiment-i8i16i32-wasm-simd128"
};

/// Packs `codes` (`[n, k]`, row-major) for [`gemm`] in this build.
pub(crate) fn pack(codes: &[i8], n: usize, k: usize) -> PackedInt8 {
    let mut packed = PackedInt8::new(codes, n, k);
    if !cfg!(feature = "relaxed-simd") {
        // Each 16 bytes hold 4 columns x 4 values of k, column by column; regroup them as
        // (k, k+1) of every column, then (k+2, k+3) of every column.
        for group in packed.data_mut().chunks_exact_mut(16) {
            let original: [i8; 16] = group.try_into().expect("16 bytes");
            for column in 0..4 {
                for i in 0..4 {
                    group[(i / 2) * 8 + column * 2 + i % 2] = original[column * 4 + i];
                }
            }
        }
    }
    packed
}

/// The sums `sum_i a[r][i] * w[c][i]` into `sink`, for `a` of `rows` rows of `padded_k()` codes in
/// 0..=127 (the padding zero).
pub(crate) fn gemm(a: &[u8], rows: usize, weights: &PackedInt8, sink: &impl Int8Sink) {
    assert_eq!(weights.block_cols, NR);
    let kp = weights.padded_k();
    assert_eq!(a.len(), rows * kp);
    let panel_len = weights.k_groups * NR * 4;
    assert_eq!(sink.columns(), weights.n);
    drive(rows, sink, |row, tile_rows, block| {
        let panel = &weights.data()[block * panel_len..][..panel_len];
        let a_tile = &a[row * kp..(row + tile_rows) * kp];
        // SAFETY: with the `relaxed-simd` feature, the npm package loads this build only where
        // `WebAssembly.validate` accepted a relaxed SIMD instruction (an engine without them
        // could not even compile the module).
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

/// Sums of `ROWS` rows of `a` (row stride `stride`) against one 16-column panel, taken as two
/// halves of 8 columns: 4 rows x 2 registers of sums, 2 of weights and the row's broadcast
/// values stay within the 16 vector registers engines have on x86-64, with room for the
/// temporaries of the dot-product lowering.
///
/// # Safety
/// With the `relaxed-simd` feature, the engine must support relaxed SIMD.
#[cfg_attr(feature = "relaxed-simd", target_feature(enable = "relaxed-simd"))]
unsafe fn tile<const ROWS: usize>(
    a: &[u8],
    stride: usize,
    panel: &[i8],
    k_groups: usize,
) -> [[i32; NR]; MR] {
    assert!(a.len() >= (ROWS - 1) * stride + k_groups * 4);
    assert!(panel.len() >= k_groups * NR * 4);
    let mut sums = [[0i32; NR]; MR];
    let (a, b) = (a.as_ptr(), panel.as_ptr());
    for half in 0..2 {
        let mut acc = [[i32x4_splat(0); 2]; ROWS];
        for g in 0..k_groups {
            // SAFETY (all loads): the asserts above keep group `g` of the panel and the four
            // bytes of each row inside the slices; wasm loads need no alignment.
            let (w0, w1) = unsafe {
                let at = b.add(g * 64 + half * 32);
                (
                    v128_load(at as *const v128),
                    v128_load(at.add(16) as *const v128),
                )
            };
            for (r, acc) in acc.iter_mut().enumerate() {
                // SAFETY: as above; `tile`'s caller vouches for relaxed SIMD.
                *acc = unsafe { dot_add(w0, w1, a.add(r * stride + g * 4), *acc) };
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            for (v, &sum) in acc.iter().enumerate() {
                let to = &mut sums[r][half * 8 + v * 4..][..4];
                // SAFETY: `to` is 4 i32 values.
                unsafe { v128_store(to.as_mut_ptr() as *mut v128, sum) };
            }
        }
    }
    sums
}

/// Adds to `acc` the products of 4 values of k at `x` with the weights of 2 x 4 columns.
///
/// # Safety
/// `x` must point to 4 readable bytes, and the engine must support relaxed SIMD.
#[cfg(feature = "relaxed-simd")]
#[target_feature(enable = "relaxed-simd")]
#[inline]
unsafe fn dot_add(w0: v128, w1: v128, x: *const u8, acc: [v128; 2]) -> [v128; 2] {
    // SAFETY: the caller passes 4 readable bytes.
    let x = unsafe { v128_load32_splat(x as *const u32) };
    [
        i32x4_relaxed_dot_i8x16_i7x16_add(w0, x, acc[0]),
        i32x4_relaxed_dot_i8x16_i7x16_add(w1, x, acc[1]),
    ]
}

/// Adds to `acc` the products of 4 values of k at `x` with the weights of 2 x 4 columns
/// (regrouped by [`pack`]: (k, k+1) pairs in the low half, (k+2, k+3) in the high half).
///
/// # Safety
/// `x` must point to 4 readable bytes.
#[cfg(not(feature = "relaxed-simd"))]
#[inline(always)]
unsafe fn dot_add(w0: v128, w1: v128, x: *const u8, acc: [v128; 2]) -> [v128; 2] {
    // SAFETY: the caller passes 4 readable bytes.
    let (x01, x23) = unsafe {
        (
            u16x8_extend_low_u8x16(v128_load16_splat(x as *const u16)),
            u16x8_extend_low_u8x16(v128_load16_splat(x.add(2) as *const u16)),
        )
    };
    let step = |w: v128, acc: v128| {
        let low = i32x4_dot_i16x8(i16x8_extend_low_i8x16(w), x01);
        let high = i32x4_dot_i16x8(i16x8_extend_high_i8x16(w), x23);
        i32x4_add(acc, i32x4_add(low, high))
    };
    [step(w0, acc[0]), step(w1, acc[1])]
}

/// [`super::quantize::quantize_weight_row`] sixteen values at a time, with the sum of the codes. Every
/// lane does the scalar code's operations in the same order (`f32x4.pmax` and `f32x4.pmin` are
/// its comparison-based `max` and `min`; the largest magnitude is order-free, as a NaN never
/// wins a comparison), so the codes are the same bit for bit (tested against the scalar code).
pub(crate) fn quantize_weight_row_and_sum(row: &[f32], out: &mut [i8]) -> (f32, i32) {
    assert_eq!(row.len(), out.len());
    let quads = row.len() / 4 * 4;
    let mut largest_lanes = f32x4_splat(0.0);
    for four in row[..quads].chunks_exact(4) {
        // SAFETY: four in-bounds f32s; wasm loads need no alignment.
        let v = unsafe { v128_load(four.as_ptr().cast()) };
        largest_lanes = f32x4_pmax(largest_lanes, f32x4_abs(v));
    }
    let mut largest = 0f32;
    for lane in [
        f32x4_extract_lane::<0>(largest_lanes),
        f32x4_extract_lane::<1>(largest_lanes),
        f32x4_extract_lane::<2>(largest_lanes),
        f32x4_extract_lane::<3>(largest_lanes),
    ] {
        largest = super::ops::max(largest, lane);
    }
    for &v in &row[quads..] {
        largest = super::ops::max(largest, v.abs());
    }
    let scale = super::quantize::weight_scale(largest);

    let sixteens = row.len() / 16 * 16;
    let scale_lanes = f32x4_splat(scale);
    let half = f32x4_splat(0.5);
    let one = f32x4_splat(1.0);
    let sign = f32x4_splat(-0.0);
    let low = f32x4_splat(-127.0);
    let high = f32x4_splat(127.0);
    let code = |v: v128| -> v128 {
        let x = f32x4_div(v, scale_lanes);
        let whole = f32x4_trunc(x);
        let away = f32x4_ge(f32x4_abs(f32x4_sub(x, whole)), half);
        let step = v128_or(one, v128_and(x, sign)); // copysign(1, x)
        let rounded = v128_bitselect(f32x4_add(whole, step), whole, away);
        // clamp = min(max(x, low), high); a NaN stays NaN and converts to 0, as `as i8` does.
        i32x4_trunc_sat_f32x4(f32x4_pmin(f32x4_pmax(rounded, low), high))
    };
    let mut sums = i32x4_splat(0);
    for (sixteen, codes) in row[..sixteens]
        .chunks_exact(16)
        .zip(out[..sixteens].chunks_exact_mut(16))
    {
        // SAFETY: sixteen in-bounds f32s read and sixteen in-bounds bytes written; wasm loads
        // and stores need no alignment.
        unsafe {
            let p = sixteen.as_ptr();
            let c0 = code(v128_load(p.cast()));
            let c1 = code(v128_load(p.add(4).cast()));
            let c2 = code(v128_load(p.add(8).cast()));
            let c3 = code(v128_load(p.add(12).cast()));
            sums = i32x4_add(sums, i32x4_add(i32x4_add(c0, c1), i32x4_add(c2, c3)));
            // Every code is within -127..=127, so the saturating narrowing keeps it as is.
            let bytes = i8x16_narrow_i16x8(i16x8_narrow_i32x4(c0, c1), i16x8_narrow_i32x4(c2, c3));
            v128_store(codes.as_mut_ptr().cast(), bytes);
        }
    }
    let mut sum = i32x4_extract_lane::<0>(sums)
        + i32x4_extract_lane::<1>(sums)
        + i32x4_extract_lane::<2>(sums)
        + i32x4_extract_lane::<3>(sums);
    for (q, &v) in out[sixteens..].iter_mut().zip(&row[sixteens..]) {
        *q = super::quantize::weight_code(v, scale);
        sum += *q as i32;
    }
    (scale, sum)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The kernel of this build against exact integer sums (run under wasm in Node and
    /// Chromium by `tests/wasm-kernels/run.sh`, once per build).
    #[test]
    fn equals_exact_integer_sums_on_ragged_shapes() {
        crate::kernels::tiled::assert_exact_int8_sums(pack, gemm, 127);
    }

    #[test]
    fn reports_the_instruction_set_of_this_build() {
        assert_eq!(
            INT8_KERNEL_NAME.ends_with("relaxed-simd"),
            cfg!(feature = "relaxed-simd")
        );
    }
}
