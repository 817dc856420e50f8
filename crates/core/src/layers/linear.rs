//! Dense layers from their stored weights: f32 or half-float matrices become f32 products; the
//! integer ggml blocks of a bundle (Q8_0, 4-bit) are decoded to int8 rows for the int8 kernels.

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::kernels::{self, Linear};
use crate::weights::{Scope, Stored};

pub(crate) fn values(tensor: Tensor) -> Result<Vec<f32>> {
    Ok(tensor.flatten_all()?.to_vec1::<f32>()?)
}

/// Whether a stored matrix runs as int8: the integer block types of a bundle do; f32 and the
/// f16 of an `f16` bundle run in f32.
pub(crate) fn runs_as_int8(stored: &Stored) -> bool {
    match stored {
        Stored::Dense(_) => false,
        Stored::Quantized(q) => is_integer_blocks(q.dtype()),
        Stored::InPlace(m) => is_integer_blocks(m.dtype),
    }
}

/// Whether a ggml type is integer blocks (Q8_0, Q4_K, ...), not f32 or a half float.
pub(crate) fn is_integer_blocks(dtype: GgmlDType) -> bool {
    !matches!(dtype, GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16)
}

/// One dense layer from its stored weight matrices (stacked top to bottom: a fused projection
/// passes several) and their biases.
pub(crate) fn linear_of(
    weights: Vec<Stored>,
    biases: Vec<Tensor>,
    in_dim: usize,
) -> Result<Linear> {
    let mut bias = Vec::new();
    for b in biases {
        bias.extend(values(b)?);
    }
    let int8 = weights.iter().any(runs_as_int8);
    let all_q8_0 = weights
        .iter()
        .all(|stored| matches!(stored, Stored::Quantized(q) if q.dtype() == GgmlDType::Q8_0));
    if int8 && all_q8_0 && in_dim > 0 && in_dim.is_multiple_of(Q8_0_BLOCK_VALUES) {
        return linear_from_q8_0(weights, bias, in_dim);
    }
    if int8 && in_dim > 0 && weights.iter().all(|w| matches!(w, Stored::Quantized(_))) {
        return linear_from_blocks(weights, bias, in_dim);
    }
    let mut weight = Vec::new();
    for stored in weights {
        // Taken out of the store, so each matrix's f32 copy lives only until it is packed.
        weight.extend(values(stored.to_dense()?)?);
    }
    let out_dim = bias.len();
    if int8 {
        Linear::int8(&weight, bias, in_dim, out_dim)
    } else {
        Linear::f32(&weight, bias, in_dim, out_dim)
    }
}

/// Rows expanded at a time by [`linear_from_blocks`].
const ROWS_PER_EXPANSION: usize = 64;

/// [`linear_of`] for other block types (a q4 bundle's Q4_K or Q4_0): the matrix is expanded to
/// f32 [`ROWS_PER_EXPANSION`] rows at a time and each row quantized as it comes, with candle's
/// own dequantization (the codes equal those of expanding the whole matrix first), so a load
/// never holds a whole layer in f32 (9.4 MB, and as much again for its copy, for the largest).
pub(crate) fn linear_from_blocks(
    weights: Vec<Stored>,
    bias: Vec<f32>,
    in_dim: usize,
) -> Result<Linear> {
    let mut rows = kernels::Int8Rows::new(in_dim, bias.len());
    for stored in weights {
        let Stored::Quantized(q) = stored else {
            unreachable!("linear_of checked that every matrix is quantized")
        };
        for part in &q.parts {
            let bytes = part.data()?;
            let part_rows = part.shape().dims()[0];
            let row_bytes = bytes.len() / part_rows.max(1);
            for first in (0..part_rows).step_by(ROWS_PER_EXPANSION) {
                let n = (part_rows - first).min(ROWS_PER_EXPANSION);
                let blocks = &bytes[first * row_bytes..(first + n) * row_bytes];
                let chunk = qtensor_from_ggml(part.dtype(), blocks, vec![n, in_dim], &Device::Cpu)?
                    .dequantize(&Device::Cpu)?;
                for row in values(chunk)?.chunks_exact(in_dim) {
                    rows.push(row);
                }
            }
        }
    }
    Linear::int8_from_rows(rows, bias)
}

/// Values per Q8_0 block, and its bytes: an f16 scale, then 32 i8 values (ggml's `block_q8_0`).
const Q8_0_BLOCK_VALUES: usize = 32;
const Q8_0_BLOCK_BYTES: usize = 34;

/// [`linear_of`] for Q8_0 matrices (a q8_0 bundle): each row is decoded from its blocks into one
/// f32 row and quantized at once, the arithmetic of candle's `BlockQ8_0::to_float` (`q as f32 *
/// d`), so the codes equal those of dequantizing the whole matrix first, without its f32 copy
/// (2.4-9.4 MB a matrix, written and read back for every layer of a load). Rows are split over
/// rayon's threads.
pub(crate) fn linear_from_q8_0(
    weights: Vec<Stored>,
    bias: Vec<f32>,
    in_dim: usize,
) -> Result<Linear> {
    let row_bytes = in_dim / Q8_0_BLOCK_VALUES * Q8_0_BLOCK_BYTES;
    let mut rows = kernels::Int8Rows::new(in_dim, bias.len());
    for stored in weights {
        let Stored::Quantized(q) = stored else {
            unreachable!("linear_of checked that every matrix is Q8_0")
        };
        for part in &q.parts {
            let bytes = part.data()?;
            if bytes.len() % row_bytes != 0 {
                return Err(Error::CorruptWeights {
                    format: "gguf",
                    reason: format!(
                        "a Q8_0 matrix of {} bytes is not made of {in_dim}-value rows",
                        bytes.len()
                    ),
                });
            }
            rows.push_decoded(bytes.len() / row_bytes, |i, row| {
                let encoded = &bytes[i * row_bytes..][..row_bytes];
                for (block, values) in encoded
                    .chunks_exact(Q8_0_BLOCK_BYTES)
                    .zip(row.chunks_exact_mut(Q8_0_BLOCK_VALUES))
                {
                    let d = half::f16::from_le_bytes([block[0], block[1]]).to_f32();
                    for (value, &code) in values.iter_mut().zip(&block[2..]) {
                        *value = code as i8 as f32 * d;
                    }
                }
            });
        }
    }
    Linear::int8_from_rows(rows, bias)
}

pub(crate) fn linear(scope: &Scope, in_dim: usize, out_dim: usize) -> Result<Linear> {
    let weight = scope.take_stored("weight", &[out_dim, in_dim])?;
    let bias = scope.take("bias", &[out_dim])?;
    linear_of(vec![weight], vec![bias], in_dim)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::weights::QuantizedRows;
    use candle_core::quantized::QTensor;

    /// The Q8_0 path quantizes each decoded row exactly as dequantizing the whole matrix and
    /// quantizing it would: the two layers give bit-identical outputs, over a fused projection
    /// of two matrices (one split into two parts, as a bundle's large tensors are).
    #[test]
    fn q8_0_rows_quantize_as_the_dequantized_matrix() -> Result<()> {
        let in_dim = 96;
        let make = |rows: usize, seed: usize| -> Result<QTensor> {
            let w: Vec<f32> = (0..rows * in_dim)
                .map(|i| (((i * 7919 + seed * 104_729) % 2003) as f32 - 1001.0) / 357.0)
                .collect();
            Ok(QTensor::quantize(
                &Tensor::from_vec(w, (rows, in_dim), &Device::Cpu)?,
                GgmlDType::Q8_0,
            )?)
        };
        let (top, bottom_a, bottom_b) = (make(20, 1)?, make(8, 2)?, make(12, 3)?);
        let bias: Vec<f32> = (0..40).map(|i| i as f32 / 10.0 - 2.0).collect();
        let mut dense = values(top.dequantize(&Device::Cpu)?)?;
        dense.extend(values(bottom_a.dequantize(&Device::Cpu)?)?);
        dense.extend(values(bottom_b.dequantize(&Device::Cpu)?)?);
        let reference = Linear::int8(&dense, bias.clone(), in_dim, 40)?;

        let bottom = QuantizedRows {
            parts: vec![bottom_a.into(), bottom_b.into()],
            dims: vec![20, in_dim],
        };
        let fused = linear_of(
            vec![
                Stored::Quantized(QuantizedRows::whole(top)),
                Stored::Quantized(bottom),
            ],
            vec![
                Tensor::new(&bias[..20], &Device::Cpu)?,
                Tensor::new(&bias[20..], &Device::Cpu)?,
            ],
            in_dim,
        )?;
        let x: Vec<f32> = (0..5 * in_dim)
            .map(|i| ((i * 31) % 17) as f32 / 4.0 - 2.0)
            .collect();
        let want = reference.forward(&x, 5)?;
        let got = fused.forward(&x, 5)?;
        assert_eq!(
            want.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            got.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        Ok(())
    }
}
