//! int8 quantization: the weights once at load (symmetric, one scale per output feature), the
//! activations before every product (asymmetric, one scale and zero point per row).

use multiversion::multiversion;
use rayon::prelude::*;

use super::aligned::AlignedBytes;
use super::ops::{clamp, max, min, ROWS_PER_TASK};
use super::select::kernels;

/// Quantizes one output feature's weights symmetrically to -127..=127 and returns the scale:
/// `code = round(w / scale)`, rounding half away from zero (`f32::round`), `scale = max|w| / 127`.
///
/// Written without `f32::round`, `min`, `max` or `clamp`, which are libm calls per value in wasm
/// (and `round` on x86-64 without SSE4.1): this loop took a quarter of a q8_0 bundle's load
/// in Chromium. `trunc`, `abs` and `copysign` are single wasm instructions, so it vectorises, and
/// the codes are the same as `(w / scale).round().clamp(-127.0, 127.0)`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn quantize_weight_row(row: &[f32], out: &mut [i8]) -> f32 {
    let scale = weight_scale(row.iter().fold(0f32, |m, &v| max(m, v.abs())));
    for (q, &v) in out.iter_mut().zip(row) {
        *q = weight_code(v, scale);
    }
    scale
}

/// The scale of a row whose largest magnitude is `largest` (1 for a row of zeros).
#[inline(always)]
pub(crate) fn weight_scale(largest: f32) -> f32 {
    if largest > 0.0 {
        largest / 127.0
    } else {
        1.0
    }
}

/// One weight's code (see [`quantize_weight_row`]).
#[inline(always)]
pub(crate) fn weight_code(v: f32, scale: f32) -> i8 {
    let x = v / scale;
    let whole = x.trunc();
    let rounded = if (x - whole).abs() >= 0.5 {
        whole + 1f32.copysign(x)
    } else {
        whole
    };
    clamp(rounded, -127.0, 127.0) as i8
}

/// [`quantize_weight_row`], plus the sum of the codes: with explicit simd128 in wasm, where the
/// compiler leaves the loop scalar (it was a fifth of a q8_0 bundle's load in V8).
fn quantize_weight_row_and_sum(row: &[f32], out: &mut [i8]) -> (f32, i32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return super::wasm32::quantize_weight_row_and_sum(row, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let scale = quantize_weight_row(row, out);
        (scale, out.iter().map(|&q| q as i32).sum())
    }
}

/// The rows of an int8 weight matrix, each quantized as it is pushed (per-row scale, see
/// [`Linear::int8`]), so a caller decoding another format (a bundle's Q8_0 blocks) needs one
/// f32 row at a time, not the whole matrix.
pub(crate) struct Int8Rows {
    pub(crate) codes: Vec<i8>,
    pub(crate) scales: Vec<f32>,
    pub(crate) code_sums: Vec<i32>,
    pub(crate) in_dim: usize,
}

impl Int8Rows {
    /// Room for `out_dim` rows of `in_dim` values.
    pub(crate) fn new(in_dim: usize, out_dim: usize) -> Self {
        Self {
            codes: Vec::with_capacity(in_dim * out_dim),
            scales: Vec::with_capacity(out_dim),
            code_sums: Vec::with_capacity(out_dim),
            in_dim,
        }
    }

    /// Quantizes the next row (`in_dim` values).
    pub(crate) fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.in_dim);
        let start = self.codes.len();
        self.codes.resize(start + row.len(), 0);
        let out = &mut self.codes[start..];
        let (scale, code_sum) = quantize_weight_row_and_sum(row, out);
        self.scales.push(scale);
        self.code_sums.push(code_sum);
    }

    /// Quantizes the next `count` rows, split over rayon's threads: `decode(i, row)` writes row
    /// `i` (of these) into `row` (`in_dim` values).
    pub(crate) fn push_decoded(&mut self, count: usize, decode: impl Fn(usize, &mut [f32]) + Sync) {
        let k = self.in_dim;
        if k == 0 {
            (0..count).for_each(|_| self.push(&[]));
            return;
        }
        let (codes_start, rows_start) = (self.codes.len(), self.scales.len());
        self.codes.resize(codes_start + count * k, 0);
        self.scales.resize(rows_start + count, 0.0);
        self.code_sums.resize(rows_start + count, 0);
        self.codes[codes_start..]
            .par_chunks_mut(k)
            .zip(self.scales[rows_start..].par_iter_mut())
            .zip(self.code_sums[rows_start..].par_iter_mut())
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || vec![0f32; k],
                |row, (i, ((codes, scale), code_sum))| {
                    decode(i, row);
                    (*scale, *code_sum) = quantize_weight_row_and_sum(row, codes);
                },
            );
    }
}

/// Activations quantized for an int8 product: `rows` rows of codes, each `stride` bytes apart
/// (the kernel's padded width, the padding zero), with each row's scale and zero point.
pub(crate) struct QuantizedRows {
    pub(crate) codes: AlignedBytes,
    pub(crate) scales: Vec<f32>,
    pub(crate) zero_points: Vec<u8>,
}

/// Dynamic asymmetric quantization of activations, one scale and zero point per row (token):
/// `x ~= (q - zero) * scale`, with 0.0 exactly representable so padding-free rows stay exact.
/// `x` is `rows x cols`; the codes are laid out at row stride `stride` (at least `cols`).
pub(crate) fn quantize_rows(x: &[f32], rows: usize, cols: usize, stride: usize) -> QuantizedRows {
    debug_assert!(stride >= cols && x.len() == rows * cols);
    let top = kernels().activation_max as f32;
    let mut codes = AlignedBytes::zeroed(rows * stride);
    let mut params = vec![(1f32, 0u8); rows];
    if rows > 0 && cols > 0 {
        codes
            .as_mut_slice()
            .par_chunks_mut(stride * ROWS_PER_TASK)
            .zip(x.par_chunks(cols * ROWS_PER_TASK))
            .zip(params.par_chunks_mut(ROWS_PER_TASK))
            .for_each(|((codes, x), params)| {
                #[cfg(target_arch = "x86_64")]
                if super::x86_64::has_avx512f() {
                    return super::x86_64::quantize_rows_avx512(
                        codes, x, params, cols, stride, top,
                    );
                }
                quantize_task(codes, x, params, cols, stride, top)
            });
    }
    let (scales, zero_points) = params.into_iter().unzip();
    QuantizedRows {
        codes,
        scales,
        zero_points,
    }
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
pub(crate) fn quantize_task(
    codes: &mut [u8],
    x: &[f32],
    params: &mut [(f32, u8)],
    cols: usize,
    stride: usize,
    top: f32,
) {
    for ((out, row), param) in codes
        .chunks_exact_mut(stride)
        .zip(x.chunks_exact(cols))
        .zip(params.iter_mut())
    {
        let out = &mut out[..cols];
        let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
        for chunk in row.chunks(16) {
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
                *l = min(*l, v);
                *h = max(*h, v);
            }
        }
        let lo = lo.iter().copied().fold(0f32, min);
        let hi = hi.iter().copied().fold(0f32, max);
        let scale = if hi > lo { (hi - lo) / top } else { 1.0 };
        // Rounding as `(x + 0.5) as u8` on values clamped to 0..=top: the same as `round()`
        // there, but a plain conversion instead of a libm call per value on targets without
        // SSE4.1's `roundps`.
        let zero = (clamp(-lo / scale, 0.0, top) + 0.5) as u8;
        let (inverse, offset) = (1.0 / scale, zero as f32 + 0.5);
        for (q, &v) in out.iter_mut().zip(row) {
            *q = clamp(v * inverse + offset, 0.0, top + 0.49) as u8;
        }
        *param = (scale, zero);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::values;

    /// The vectorisable weight quantization gives `f32::round`'s codes, ties and near-ties
    /// included.
    #[test]
    fn weight_codes_equal_std_rounding() {
        let scale_one = 127.0; // with this largest value, scale is exactly 1
        let mut row = vec![scale_one];
        for base in [0.0f32, 1.0, 2.0, 63.0, 126.0] {
            for x in [
                base + 0.5,
                base + 0.499_999_97,
                base + 0.500_000_1,
                base + 0.25,
                base + 0.75,
            ] {
                row.push(x);
                row.push(-x);
            }
        }
        row.extend([0.0, -0.0, 127.0, -127.0, 1e-30, -1e-30]);
        row.extend(values(1000, 9).iter().map(|v| v * 127.0));
        let mut codes = vec![0i8; row.len()];
        let scale = quantize_weight_row(&row, &mut codes);
        assert_eq!(scale, 1.0);
        for (&v, &q) in row.iter().zip(&codes) {
            assert_eq!(q, (v / scale).round().clamp(-127.0, 127.0) as i8, "{v}");
        }
    }

    /// The row quantizer Int8Rows uses (explicit simd128 in wasm) gives the scalar code's codes
    /// and their sum, on rows of every length around the 16-value step, with ties, zeros,
    /// infinities and NaNs.
    #[test]
    fn weight_codes_and_sums_equal_the_scalar_code() {
        let specials = [
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.0,
            -0.0,
            126.5,
            -126.5,
            f32::NAN,
            1e-30,
        ];
        for len in (0..40).chain([767, 768, 3072]) {
            for variant in 0..4 {
                let mut row: Vec<f32> = values(len, len as u64 * 4 + variant as u64)
                    .iter()
                    .map(|v| v * 127.0)
                    .collect();
                match variant {
                    // Every third value a special one, and a first value of 127 so that the
                    // scale is exactly 1 and the specials' halves are exact ties.
                    1 => {
                        for (v, s) in row.iter_mut().step_by(3).zip(specials.iter().cycle()) {
                            *v = *s;
                        }
                        if let Some(first) = row.first_mut() {
                            *first = 127.0;
                        }
                    }
                    2 => row.iter_mut().for_each(|v| *v = 0.0),
                    3 if len > 2 => row[len / 2] = f32::INFINITY,
                    _ => {}
                }
                let mut want = vec![0i8; len];
                let want_scale = quantize_weight_row(&row, &mut want);
                let want_sum: i32 = want.iter().map(|&q| q as i32).sum();
                let mut got = vec![0i8; len];
                let (scale, sum) = quantize_weight_row_and_sum(&row, &mut got);
                assert_eq!(
                    scale.to_bits(),
                    want_scale.to_bits(),
                    "len {len} variant {variant}"
                );
                assert_eq!(got, want, "len {len} variant {variant}");
                assert_eq!(sum, want_sum, "len {len} variant {variant}");
            }
        }
    }

    /// The AVX-512 activation quantizer gives the portable loop's codes, scales and zero points
    /// bit for bit: row lengths around its 16-value step, both code ranges, rows of zeros,
    /// constant rows, infinities and NaNs.
    #[test]
    fn avx512_activation_codes_equal_the_portable_loop() {
        #[cfg(target_arch = "x86_64")]
        if crate::kernels::x86_64::has_avx512f() {
            use crate::kernels::x86_64;
            for cols in (1..40).chain([767, 768, 3072]) {
                for variant in 0..5 {
                    let rows = 3;
                    let mut x: Vec<f32> = values(rows * cols, cols as u64 * 8 + variant as u64)
                        .iter()
                        .map(|v| v * 4.0 + if variant == 1 { 3.0 } else { 0.0 })
                        .collect();
                    match variant {
                        2 => x.iter_mut().for_each(|v| *v = 0.0),
                        3 => x[cols / 2] = f32::NAN,
                        4 => {
                            x.iter_mut().for_each(|v| *v = 0.75);
                            x[rows * cols - 1] = f32::NEG_INFINITY;
                        }
                        _ => {}
                    }
                    // Rows packed tightly, and rows padded to a wider stride.
                    for (top, stride) in [(127.0, cols), (255.0, cols), (255.0, cols + 3)] {
                        let mut want = vec![0u8; rows * stride];
                        let mut want_params = vec![(1f32, 0u8); rows];
                        quantize_task(&mut want, &x, &mut want_params, cols, stride, top);
                        let mut got = vec![0u8; rows * stride];
                        let mut got_params = vec![(1f32, 0u8); rows];
                        x86_64::quantize_rows_avx512(
                            &mut got,
                            &x,
                            &mut got_params,
                            cols,
                            stride,
                            top,
                        );
                        assert_eq!(got, want, "{cols} columns, variant {variant}, top {top}");
                        for (g, w) in got_params.iter().zip(&want_params) {
                            assert_eq!((g.0.to_bits(), g.1), (w.0.to_bits(), w.1));
                        }
                    }
                }
            }
        }
    }

    /// Our AVX2 kernel multiplies with `vpmaddubsw` whatever rten-gemm would use: the activation
    /// limit must follow the kernel that runs.
    #[test]
    fn activations_stay_below_the_saturation_limit_of_the_kernel_that_runs() {
        use crate::kernels::select::Int8Kernel;
        let x: Vec<f32> = (0..64).map(|i| i as f32 - 20.0).collect();
        let largest = quantize_rows(&x, 1, 64, 64)
            .codes
            .as_slice()
            .iter()
            .copied()
            .max();
        let kernels = kernels();
        match kernels.int8 {
            // No i16 step: the whole u8 range is used.
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Vnni | Int8Kernel::Amx => {
                assert_eq!(kernels.activation_max, 255);
                assert_eq!(largest, Some(255));
            }
            Int8Kernel::Rten => {
                if crate::kernels::rten::int8_gemm(|g| g.may_saturate()) {
                    assert_eq!(kernels.activation_max, 127);
                }
            }
            #[allow(unreachable_patterns)]
            _ => {
                assert_eq!(kernels.activation_max, 127);
                assert_eq!(largest, Some(127));
            }
        }
    }
}
