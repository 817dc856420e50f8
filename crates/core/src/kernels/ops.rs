//! Element-wise and row-wise steps between the matrix products, written as plain loops over
//! contiguous rows so the compiler vectorises them for the target (AVX2, NEON, simd128).

use rayon::prelude::*;

/// Rows per parallel task: below this, splitting costs more than it saves.
pub(crate) const ROWS_PER_TASK: usize = 16;

/// LayerNorm of each `cols`-wide row of `x`, in place, as `torch.nn.LayerNorm`: biased variance,
/// `eps` inside the square root.
pub(crate) fn layer_norm(x: &mut [f32], cols: usize, weight: &[f32], bias: &[f32], eps: f32) {
    x.par_chunks_mut(cols * ROWS_PER_TASK).for_each(|rows| {
        for row in rows.chunks_exact_mut(cols) {
            let mean = row.iter().sum::<f32>() / cols as f32;
            let variance = row.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / cols as f32;
            let inverse = 1.0 / (variance + eps).sqrt();
            for ((v, w), b) in row.iter_mut().zip(weight).zip(bias) {
                *v = (*v - mean) * inverse * w + b;
            }
        }
    });
}

/// `erf` within 1.5e-7 everywhere (5e-7 after f32 rounding) (Abramowitz and Stegun 7.1.26, with the polynomial in Horner
/// form). Exact GELU needs erf; libm's `erff` was one tenth of the whole run in profiles.
#[inline]
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
    let y = 1.0 - poly * (-z * z).exp();
    y.copysign(x)
}

/// `x * Phi(x)` with the exact normal CDF: `hidden_act = "gelu"` in transformers (`GELUActivation`,
/// `torch.nn.functional.gelu` without approximation), which XLM-R uses.
pub(crate) fn gelu_erf(x: &mut [f32]) {
    x.par_chunks_mut(4096).for_each(|chunk| {
        for v in chunk {
            *v = 0.5 * *v * (1.0 + erf(*v * std::f32::consts::FRAC_1_SQRT_2));
        }
    });
}

/// The tanh approximation of GELU (`gelu_new`, `gelu_pytorch_tanh`).
pub(crate) fn gelu_tanh(x: &mut [f32]) {
    const C: f32 = 0.797_884_6; // sqrt(2 / pi)
    x.par_chunks_mut(4096).for_each(|chunk| {
        for v in chunk {
            let u = *v;
            *v = 0.5 * u * (1.0 + (C * (u + 0.044_715 * u * u * u)).tanh());
        }
    });
}

/// `max(x, 0)`.
pub(crate) fn relu(x: &mut [f32]) {
    for v in x {
        *v = v.max(0.0);
    }
}

/// Softmax of one row, in place, shifted by the row's maximum so no exponent overflows.
pub(crate) fn softmax_in_place(row: &mut [f32]) {
    let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut sum = 0.0;
    for v in row.iter_mut() {
        *v = (*v - max).exp();
        sum += *v;
    }
    let inverse = 1.0 / sum;
    for v in row.iter_mut() {
        *v *= inverse;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
