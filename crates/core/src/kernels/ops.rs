//! Element-wise and row-wise steps between the matrix products, written as plain loops over
//! contiguous rows so the compiler vectorises them. The loops are compiled three times on x86-64
//! (`multiversion`): for the baseline (SSE2), for AVX2 + FMA and for AVX-512 (16 lanes: GELU,
//! LayerNorm and softmax took 15% of a q8_0 pass on Zen 5 at 8 lanes), picked at run time; the
//! helpers they call are `#[inline(always)]` so they are compiled into each version. Every
//! version does the same operations in the same order (partial sums are kept in explicit
//! lanes), so the results do not depend on which one runs.

use multiversion::multiversion;
use rayon::prelude::*;

/// Rows per parallel task: below this, splitting costs more than it saves.
pub(crate) const ROWS_PER_TASK: usize = 16;

/// LayerNorm of each `cols`-wide row of `x`, in place, as `torch.nn.LayerNorm`: biased variance,
/// `eps` inside the square root.
pub(crate) fn layer_norm(x: &mut [f32], cols: usize, weight: &[f32], bias: &[f32], eps: f32) {
    x.par_chunks_mut(cols * ROWS_PER_TASK)
        .for_each(|rows| layer_norm_rows(rows, cols, weight, bias, eps));
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn layer_norm_rows(rows: &mut [f32], cols: usize, weight: &[f32], bias: &[f32], eps: f32) {
    for row in rows.chunks_exact_mut(cols) {
        let mean = sum(row) / cols as f32;
        let squares = fold_lanes(row, 0.0, |s, v| s + (v - mean) * (v - mean));
        let variance = squares.iter().sum::<f32>() / cols as f32;
        let inverse = 1.0 / (variance + eps).sqrt();
        for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
            *v = (*v - mean) * inverse * w + b;
        }
    }
}

/// Partial sums per lane, so the sum vectorises (f32 addition is not associative, so a plain
/// `iter().sum()` stays one add at a time).
const LANES: usize = 16;

#[inline(always)]
fn sum(values: &[f32]) -> f32 {
    fold_lanes(values, 0.0, |s, v| s + v).iter().sum()
}

/// `values` folded into [`LANES`] partial results, lane `j` taking values `j`, `j + 16`, ... in
/// order. The whole chunks come first and the rest last, so the lanes stay in registers (with
/// `chunks`, the compiler kept them in memory behind a masked store for the short last chunk).
#[inline(always)]
fn fold_lanes(values: &[f32], init: f32, f: impl Fn(f32, f32) -> f32) -> [f32; LANES] {
    let mut lanes = [init; LANES];
    let mut chunks = values.chunks_exact(LANES);
    for chunk in &mut chunks {
        for (lane, &v) in lanes.iter_mut().zip(chunk) {
            *lane = f(*lane, v);
        }
    }
    for (lane, &v) in lanes.iter_mut().zip(chunks.remainder()) {
        *lane = f(*lane, v);
    }
    lanes
}

/// The smaller of `a` and `b` (`b` if either is NaN), as a comparison. `f32::min` and
/// `f32::clamp` must return the other operand for NaN, which wasm's `f32.min` does not do, so in
/// wasm they become a call to a libm `fminf` per value and the loop stays scalar (10% of an
/// int8 pass in Chromium, in the activations' quantization). This is one `minps` on x86 and a
/// `f32x4.pmin` in wasm.
#[inline(always)]
pub(crate) fn min(a: f32, b: f32) -> f32 {
    if b < a {
        b
    } else {
        a
    }
}

/// The larger of `a` and `b`, as [`min`] (`maxps`, `f32x4.pmax`).
#[inline(always)]
pub(crate) fn max(a: f32, b: f32) -> f32 {
    if a < b {
        b
    } else {
        a
    }
}

/// `x` limited to `low..=high`, as [`min`] and [`max`].
#[inline(always)]
pub(crate) fn clamp(x: f32, low: f32, high: f32) -> f32 {
    min(max(x, low), high)
}

/// `e^x` within 2 units in the last place for x in -87..88 (0 below -87.3, where f32 leaves
/// normal numbers; held at e^88.72, near f32::MAX, above that. Softmax and erf only pass x <= 0):
/// Cephes' `expf` (range reduction by ln 2 in two parts, a degree-6 polynomial), written without
/// branches or calls so the loops that use it vectorise. std's `exp` is a libm call per value.
#[inline(always)]
pub(crate) fn exp(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Adding and subtracting 1.5 * 2^23 rounds to the nearest integer (f32 has 23 fraction bits).
    const ROUND: f32 = 12_582_912.0;
    const LOWEST: f32 = -87.336_55;
    let below = x < LOWEST;
    let x = clamp(x, LOWEST, 88.722_83);
    let shifted = x * LOG2E + ROUND;
    let n = shifted - ROUND;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = ((((1.987_569_1e-4 * r + 1.398_199_9e-3) * r + 8.333_452e-3) * r + 4.166_579_6e-2) * r
        + 1.666_666_5e-1)
        * r
        + 0.5;
    let e = p * r * r + r + 1.0;
    // 2^n from its bits; n is in -126..=128 after the clamp, and 2^128 overflows to inf as
    // `e * 2^127 * 2` would. n as an integer is read from the bits of `shifted` (1.5 * 2^23 + n,
    // whose unit is 1), the same value as `n as i32`: that saturating conversion was scalar
    // code per lane on x86 (a `cvttss2si` and two checks), half of GELU's time on Zen 5.
    let n = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let half = f32::from_bits((((n >> 1) + 127) as u32) << 23);
    let value = e * half * f32::from_bits(((n - (n >> 1) + 127) as u32) << 23);
    // A select, not a branch: the loop still vectorises.
    if below {
        0.0
    } else {
        value
    }
}

/// `erf` within 1.5e-7 everywhere (5e-7 after f32 rounding) (Abramowitz and Stegun 7.1.26, with the polynomial in Horner
/// form). Exact GELU needs erf; libm's `erff` was one tenth of the whole run in profiles.
#[inline(always)]
fn erf(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [
        0.254_829_6,
        -0.284_496_74,
        1.421_413_7,
        -1.453_152_1,
        1.061_405_4,
    ];
    let z = x.abs();
    let t = 1.0 / (1.0 + P * z);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let y = 1.0 - poly * exp(-z * z);
    y.copysign(x)
}

/// `x * Phi(x)` with the exact normal CDF: `hidden_act = "gelu"` in transformers (`GELUActivation`,
/// `torch.nn.functional.gelu` without approximation), which XLM-R uses.
pub(crate) fn gelu_erf(x: &mut [f32]) {
    x.par_chunks_mut(4096).for_each(gelu_erf_chunk);
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn gelu_erf_chunk(chunk: &mut [f32]) {
    for v in chunk {
        *v = gelu_erf_value(*v);
    }
}

/// One value of [`gelu_erf`] (also applied in the int8 epilogue).
#[inline(always)]
pub(crate) fn gelu_erf_value(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
pub(crate) fn gelu_tanh(x: &mut [f32]) {
    x.par_chunks_mut(4096).for_each(|chunk| {
        for v in chunk {
            *v = gelu_tanh_value(*v);
        }
    });
}

/// One value of [`gelu_tanh`].
#[inline(always)]
pub(crate) fn gelu_tanh_value(u: f32) -> f32 {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    0.5 * u * (1.0 + (C * (u + 0.044_715 * u * u * u)).tanh())
}

/// `max(x, 0)`.
pub(crate) fn relu(x: &mut [f32]) {
    for v in x {
        *v = max(*v, 0.0);
    }
}

/// Softmax of one row, in place, shifted by the row's maximum so no exponent overflows.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let maxima = fold_lanes(row, f32::NEG_INFINITY, max);
    let largest = maxima.iter().copied().fold(f32::NEG_INFINITY, max);
    for v in row.iter_mut() {
        *v = exp(*v - largest);
    }
    let inverse = 1.0 / sum(row);
    for v in row.iter_mut() {
        *v *= inverse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulps() {
        let mut x = -87.0f32;
        while x < 88.0 {
            let want = (x as f64).exp();
            let got = exp(x) as f64;
            assert!(
                ((got - want) / want).abs() < 2.5e-7,
                "exp({x}) = {got}, not {want}"
            );
            x += 0.013;
        }
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-1000.0), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
        assert!(exp(-87.3) > 0.0);
        assert!(exp(f32::NAN).is_nan());
        assert!(exp(89.0) > 3e38 && exp(89.0).is_finite());
    }

    #[test]
    fn erf_matches_reference_values() {
        // erf from a table (Abramowitz and Stegun, table 7.1).
        for (x, want) in [
            (0.0f32, 0.0f64),
            (0.1, 0.112_462_916),
            (0.5, 0.520_499_878),
            (1.0, 0.842_700_793),
            (2.0, 0.995_322_265),
            (-1.5, -0.966_105_146),
            (4.0, 0.999_999_985),
        ] {
            // 1.5e-7 from the approximation, plus f32 rounding in the polynomial.
            assert!(
                ((erf(x) as f64) - want).abs() < 5e-7,
                "erf({x}) = {}",
                erf(x)
            );
        }
    }

    #[test]
    fn layer_norm_normalises_each_row() {
        let mut x = vec![1.0, 2.0, 3.0, 4.0, -1.0, -1.0, 1.0, 1.0];
        layer_norm(&mut x, 4, &[1.0; 4], &[0.5; 4], 0.0);
        let first = [-1.341_640_8, -0.447_213_6, 0.447_213_6, 1.341_640_8];
        for (g, w) in x[..4].iter().zip(first) {
            assert!((g - (w + 0.5)).abs() < 1e-6);
        }
        assert_eq!(&x[4..], &[-0.5, -0.5, 1.5, 1.5]);
    }

    #[test]
    fn softmax_sums_to_one_without_overflow() {
        let mut row = vec![1000.0, 1000.0, f32::MIN];
        softmax_in_place(&mut row);
        assert_eq!(row, vec![0.5, 0.5, 0.0]);
    }
}
