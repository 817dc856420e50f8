//! The int8 steps around the products with AVX-512: quantizing the activations, and the
//! epilogue that turns sums into the layer's outputs.

use std::arch::x86_64::*;

use super::has_avx512f;
use crate::config::Activation;
use crate::kernels::sink::{activate_16, SINK_COLS};

/// The portable `quantize_task` (`../quantize.rs`) with AVX-512: the same codes, scales and
/// zero points bit for bit (the same operations in the same order; min and max are exact, so
/// their order does not matter). The compiler left the portable loop's minima, maxima and u8
/// conversions scalar. `codes` holds rows of `stride` bytes, of which the first `cols` are set.
pub(crate) fn quantize_rows_avx512(
    codes: &mut [u8],
    x: &[f32],
    params: &mut [(f32, u8)],
    cols: usize,
    stride: usize,
    top: f32,
) {
    assert!(has_avx512f(), "the AVX-512 quantizer needs AVX-512F");
    assert!(stride >= cols && codes.len() == params.len() * stride);
    assert_eq!(x.len(), params.len() * cols);
    for ((out, row), param) in codes
        .chunks_exact_mut(stride.max(1))
        .zip(x.chunks_exact(cols.max(1)))
        .zip(params.iter_mut())
    {
        // SAFETY: AVX-512F is present (asserted above); `out[..cols]` and `row` have the same
        // length.
        *param = unsafe { quantize_row_avx512(row, &mut out[..cols], top) };
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
    let zero = (crate::kernels::ops::clamp(-lo / scale, 0.0, top) + 0.5) as u8;
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

/// The int8 epilogue of `../sink.rs` (`dequantize_tile`) with AVX-512: the same operations in
/// the same order (a subtraction of the zero point's share, a conversion, two multiplies and an
/// add, none fused), so the same bits; the compiler had split the portable loop into pieces of
/// 4 and 8 lanes.
///
/// The columns' values are read straight from the layer's arrays (`columns` of each, at most
/// 16) with masked loads: a copy into a padded array just before made each call wait for the
/// copy's stores to reach the wider load.
///
/// # Safety
/// AVX-512F is there, and `out` points at `sums.len()` rows of at least `columns` writable
/// values, `n` apart.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn dequantize_tile_avx512(
    out: *mut f32,
    n: usize,
    sums: &[[i32; SINK_COLS]],
    zero_points: &[u8],
    row_scales: &[f32],
    (scales, code_sums, bias): (&[f32], &[i32], &[f32]),
    activation: Option<Activation>,
) {
    let columns = scales.len();
    assert!(columns <= SINK_COLS && code_sums.len() == columns && bias.len() == columns);
    let mask: __mmask16 = if columns >= SINK_COLS {
        !0
    } else {
        ((1u32 << columns) - 1) as __mmask16
    };
    // SAFETY: the masked loads read `columns` values of each array, which it holds.
    let (scales, code_sums, bias) = unsafe {
        (
            _mm512_maskz_loadu_ps(mask, scales.as_ptr()),
            _mm512_maskz_loadu_epi32(mask, code_sums.as_ptr()),
            _mm512_maskz_loadu_ps(mask, bias.as_ptr()),
        )
    };
    for (r, ((sums, &zero), &row_scale)) in sums.iter().zip(zero_points).zip(row_scales).enumerate()
    {
        let shifted = _mm512_sub_epi32(
            _mm512_loadu_si512(sums.as_ptr().cast()),
            _mm512_mullo_epi32(_mm512_set1_epi32(zero as i32), code_sums),
        );
        let scale = _mm512_mul_ps(_mm512_set1_ps(row_scale), scales);
        let value = _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(shifted), scale), bias);
        let to = out.wrapping_add(r * n);
        if activation.is_none() {
            // SAFETY: the caller's guarantee: `columns` values of this row may be written.
            unsafe { _mm512_mask_storeu_ps(to, mask, value) };
        } else {
            let mut values = [0f32; SINK_COLS];
            // SAFETY: 16 values of a local array.
            unsafe { _mm512_storeu_ps(values.as_mut_ptr(), value) };
            activate_16(&mut values, activation);
            // SAFETY: as above.
            unsafe { _mm512_mask_storeu_ps(to, mask, _mm512_loadu_ps(values.as_ptr())) };
        }
    }
}
