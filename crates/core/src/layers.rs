//! The two layers whose weights may arrive quantized from a bundle: linear layers and the word
//! embedding table. Dense (f32) weights take the same paths, so the model has one code path.

use std::sync::Arc;

use candle_core::quantized::{ggml_file::qtensor_from_ggml, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};

use crate::error::{Error, Result};
use crate::weights::{QuantizedRows, Scope, Stored};

/// `y = x W^T + b`, with `W` dense or quantized. candle's `QMatMul` multiplies quantized
/// weights block by block (activations quantized to Q8 on the fly), never expanding them.
#[derive(Debug)]
pub(crate) struct Linear {
    weight: QMatMul,
    bias: Tensor,
}

impl Linear {
    /// `prefix.weight` (`[out, in]`) and `prefix.bias` (`[out]`).
    pub(crate) fn load(scope: &Scope, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = matmul_of(scope.get_stored("weight", &[out_dim, in_dim])?)?;
        let bias = scope.get("bias", &[out_dim])?;
        Ok(Self { weight, bias })
    }

    /// A layer from a weight as stored and its bias.
    pub(crate) fn new(weight: Stored, bias: Tensor) -> Result<Self> {
        Ok(Self {
            weight: matmul_of(weight)?,
            bias,
        })
    }

    /// `[n, in]` -> `[n, out]`.
    pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
        // The quantized kernel reads its input as one contiguous buffer.
        let x = match &self.weight {
            QMatMul::QTensor(_) => x.contiguous()?,
            _ => x.clone(),
        };
        Ok(self.weight.forward(&x)?.broadcast_add(&self.bias)?)
    }
}

fn matmul_of(weight: Stored) -> Result<QMatMul> {
    Ok(match weight {
        Stored::Dense(tensor) => QMatMul::Tensor(tensor),
        Stored::Quantized(q) => QMatMul::from_arc(single(&[q])?)?,
    })
}

/// Parts stacked into one quantized tensor (a no-op for a single part).
fn single(tensors: &[QuantizedRows]) -> Result<Arc<QTensor>> {
    let parts: Vec<&Arc<QTensor>> = tensors.iter().flat_map(|t| &t.parts).collect();
    if let [only] = parts.as_slice() {
        return Ok(Arc::clone(only));
    }
    let (dtype, cols) = (parts[0].dtype(), tensors[0].dims[1]);
    let rows: usize = tensors.iter().map(|t| t.dims[0]).sum();
    let mut bytes = Vec::new();
    for part in &parts {
        bytes.extend_from_slice(&part.data()?);
    }
    let device = parts[0].device();
    Ok(Arc::new(qtensor_from_ggml(
        dtype,
        &bytes,
        vec![rows, cols],
        &device,
    )?))
}

/// Stacks matrices with the same number of columns along their rows (`[a, n]`, `[b, n]` ->
/// `[a + b, n]`), as `Tensor::cat(.., 0)` does. Quantized blocks never straddle rows, so rows of
/// the same quantized type stack by concatenating their bytes; mixed types are expanded.
pub(crate) fn stack_rows(parts: &[Stored]) -> Result<Stored> {
    let quantized: Option<Vec<QuantizedRows>> = parts
        .iter()
        .map(|p| match p {
            Stored::Quantized(q) => Some(q.clone()),
            Stored::Dense(_) => None,
        })
        .collect();
    if let Some(qs) = quantized {
        if qs.iter().all(|q| q.dtype() == qs[0].dtype()) {
            let stacked = single(&qs)?;
            return Ok(Stored::Quantized(QuantizedRows {
                dims: stacked.shape().dims().to_vec(),
                parts: vec![stacked],
            }));
        }
    }
    let dense = parts
        .iter()
        .map(Stored::to_dense)
        .collect::<Result<Vec<_>>>()?;
    Ok(Stored::Dense(Tensor::cat(&dense, 0)?))
}

/// The word-embedding table, `[vocab, hidden]`.
#[derive(Debug)]
pub(crate) enum WordEmbedding {
    /// f32 rows, looked up with `index_select`.
    Dense(Tensor),
    /// Quantized rows (most of the model's size: 192M of XLM-R base's 278M parameters): only
    /// the rows of the batch's tokens are expanded, each forward pass.
    Quantized {
        table: QuantizedRows,
        /// The first row of each part.
        starts: Vec<usize>,
    },
}

impl WordEmbedding {
    pub(crate) fn new(table: Stored) -> Self {
        match table {
            Stored::Dense(t) => Self::Dense(t),
            Stored::Quantized(table) => {
                let mut starts = Vec::with_capacity(table.parts.len());
                let mut row = 0;
                for part in &table.parts {
                    starts.push(row);
                    row += part.shape().dims()[0];
                }
                Self::Quantized { table, starts }
            }
        }
    }

    /// Rows for `ids` (flat `[n]` u32) -> `[n, hidden]`.
    pub(crate) fn forward(&self, ids: &Tensor, device: &Device) -> Result<Tensor> {
        match self {
            Self::Dense(table) => Ok(table.index_select(ids, 0)?),
            Self::Quantized { table, starts } => {
                let (rows, hidden) = (table.dims[0], table.dims[1]);
                let data = table
                    .parts
                    .iter()
                    .map(|p| p.data())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let row_bytes = data[0].len() / table.parts[0].shape().dims()[0];
                let ids = ids.to_vec1::<u32>()?;
                let mut gathered = Vec::with_capacity(ids.len() * row_bytes);
                for &id in &ids {
                    let id_row = id as usize;
                    let part = starts.partition_point(|&s| s <= id_row).saturating_sub(1);
                    let start = (id_row - starts[part]) * row_bytes;
                    let row = (id_row < rows)
                        .then(|| data[part].get(start..start + row_bytes))
                        .flatten()
                        .ok_or_else(|| {
                            Error::Inference(candle_core::Error::Msg(format!(
                                "token id {id} has no embedding row"
                            )))
                        })?;
                    gathered.extend_from_slice(row);
                }
                let picked =
                    qtensor_from_ggml(table.dtype(), &gathered, vec![ids.len(), hidden], device)?;
                Ok(picked.dequantize(device)?)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::GgmlDType;

    fn matrix(rows: usize, cols: usize, seed: f32) -> Tensor {
        let values: Vec<f32> = (0..rows * cols)
            .map(|i| (i as f32 * 0.37 + seed).sin())
            .collect();
        Tensor::from_vec(values, (rows, cols), &Device::Cpu).unwrap()
    }

    fn quantized(t: &Tensor, dtype: GgmlDType) -> Stored {
        Stored::Quantized(QuantizedRows::whole(QTensor::quantize(t, dtype).unwrap()))
    }

    fn expand(s: &Stored) -> Vec<Vec<f32>> {
        match s {
            Stored::Dense(t) => t.to_vec2().unwrap(),
            Stored::Quantized(q) => q.dequantize().unwrap().to_vec2().unwrap(),
        }
    }

    #[test]
    fn stacking_quantized_rows_equals_stacking_their_values() {
        let (a, b) = (matrix(2, 64, 0.0), matrix(3, 64, 1.0));
        for dtype in [GgmlDType::Q8_0, GgmlDType::Q4_0] {
            let stacked = stack_rows(&[quantized(&a, dtype), quantized(&b, dtype)]).unwrap();
            assert!(matches!(stacked, Stored::Quantized(_)));
            let mut want = expand(&quantized(&a, dtype));
            want.extend(expand(&quantized(&b, dtype)));
            assert_eq!(expand(&stacked), want);
        }
        let mixed =
            stack_rows(&[quantized(&a, GgmlDType::Q8_0), Stored::Dense(b.clone())]).unwrap();
        assert!(matches!(mixed, Stored::Dense(_)));
        assert_eq!(expand(&mixed)[2], b.to_vec2::<f32>().unwrap()[0]);
    }

    #[test]
    fn quantized_embedding_rows_match_the_expanded_table() {
        let table = matrix(10, 32, 0.5);
        let q = quantized(&table, GgmlDType::Q8_0);
        let expanded = expand(&q);
        let ids = Tensor::new(&[3u32, 0, 9, 3], &Device::Cpu).unwrap();
        let rows = WordEmbedding::new(q).forward(&ids, &Device::Cpu).unwrap();
        let rows: Vec<Vec<f32>> = rows.to_vec2().unwrap();
        assert_eq!(
            rows,
            [&expanded[3], &expanded[0], &expanded[9], &expanded[3]].map(|r| r.clone())
        );
        let out_of_range = Tensor::new(&[10u32], &Device::Cpu).unwrap();
        let q = quantized(&table, GgmlDType::Q8_0);
        assert!(WordEmbedding::new(q)
            .forward(&out_of_range, &Device::Cpu)
            .is_err());
    }

    #[test]
    fn a_table_in_parts_looks_up_like_a_whole_one() {
        let table = matrix(10, 32, 0.9);
        let whole = QTensor::quantize(&table, GgmlDType::Q8_0).unwrap();
        let parts = [(0, 4), (4, 4), (8, 2)]
            .map(|(start, n)| {
                Arc::new(
                    QTensor::quantize(
                        // A fresh tensor: candle's quantize reads the whole storage of a view.
                        &Tensor::new(
                            table.narrow(0, start, n).unwrap().to_vec2::<f32>().unwrap(),
                            &Device::Cpu,
                        )
                        .unwrap(),
                        GgmlDType::Q8_0,
                    )
                    .unwrap(),
                )
            })
            .to_vec();
        let split = Stored::Quantized(QuantizedRows {
            parts,
            dims: vec![10, 32],
        });
        let ids = Tensor::new(&[9u32, 0, 4, 3, 8, 7], &Device::Cpu).unwrap();
        let a: Vec<Vec<f32>> = WordEmbedding::new(Stored::Quantized(QuantizedRows::whole(whole)))
            .forward(&ids, &Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        let b: Vec<Vec<f32>> = WordEmbedding::new(split.clone())
            .forward(&ids, &Device::Cpu)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(
            expand(&stack_rows(&[split]).unwrap()),
            expand(&quantized(&table, GgmlDType::Q8_0))
        );
    }

    #[test]
    fn quantized_linear_is_close_to_dense() {
        let w = matrix(8, 64, 0.2);
        let x = matrix(3, 64, 0.7);
        let bias = Tensor::zeros(8, candle_core::DType::F32, &Device::Cpu).unwrap();
        let dense = Linear::new(Stored::Dense(w.clone()), bias.clone()).unwrap();
        let q8 = Linear::new(quantized(&w, GgmlDType::Q8_0), bias).unwrap();
        let (a, b): (Vec<Vec<f32>>, Vec<Vec<f32>>) = (
            dense.forward(&x).unwrap().to_vec2().unwrap(),
            q8.forward(&x).unwrap().to_vec2().unwrap(),
        );
        for (ra, rb) in a.iter().zip(&b) {
            for (va, vb) in ra.iter().zip(rb) {
                assert!((va - vb).abs() < 0.05 * va.abs().max(1.0), "{va} vs {vb}");
            }
        }
    }
}
