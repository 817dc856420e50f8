//! The word-embedding table, dense or kept quantized from a bundle (204 MB at Q8_0 instead of
//! 768 MB), in memory or left in place in the bundle file: only the rows of the tokens in a batch
//! are ever read and expanded.

use candle_core::quantized::ggml_file::qtensor_from_ggml;
use candle_core::quantized::GgmlDType;
use candle_core::{Device, Tensor};

use crate::error::{Error, Result};
use crate::weights::{InPlaceRows, QuantizedRows, Stored};

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
    /// Quantized rows left in the bundle file: the rows a batch uses are read from it (from the
    /// kernel's page cache, once warm) for each pass, the rest never are.
    InPlace(InPlaceRows),
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
            Stored::InPlace(table) => Self::InPlace(table),
        }
    }

    /// Rows for `ids` (flat `[n]` u32) -> `[n, hidden]`.
    pub(crate) fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        match self {
            Self::Dense(table) => Ok(table.index_select(ids, 0)?),
            Self::Quantized { table, starts } => {
                let data = table
                    .parts
                    .iter()
                    .map(|p| p.data())
                    .collect::<candle_core::Result<Vec<_>>>()?;
                let row_bytes = data[0].len() / table.parts[0].shape().dims()[0];
                let row = |id: usize, out: &mut Vec<u8>| {
                    let part = starts.partition_point(|&s| s <= id).saturating_sub(1);
                    let start = (id - starts[part]) * row_bytes;
                    let bytes = data[part].get(start..start + row_bytes).ok_or_else(|| {
                        Error::OutOfRange(format!("token id {id} has no embedding row"))
                    })?;
                    out.extend_from_slice(bytes);
                    Ok(())
                };
                gather(ids, table.dtype(), &table.dims, row)
            }
            Self::InPlace(table) => {
                let row_bytes = table.bytes.len() as usize / table.dims[0].max(1);
                let row = |id: usize, out: &mut Vec<u8>| {
                    let at = out.len();
                    out.resize(at + row_bytes, 0);
                    table
                        .bytes
                        .read((id * row_bytes) as u64, &mut out[at..])
                        .map_err(|e| {
                            Error::WeightsRead(format!("the embedding row of token id {id}: {e}"))
                        })
                };
                gather(ids, table.dtype, &table.dims, row)
            }
        }
    }
}

/// The rows of `ids` of a quantized `[rows, hidden]` table, expanded to f32 `[n, hidden]`;
/// `row(i, out)` appends row `i`'s blocks to `out`.
fn gather(
    ids: &Tensor,
    dtype: GgmlDType,
    dims: &[usize],
    row: impl Fn(usize, &mut Vec<u8>) -> Result<()>,
) -> Result<Tensor> {
    let (rows, hidden) = (dims[0], dims[1]);
    let ids = ids.to_vec1::<u32>()?;
    let mut gathered = Vec::new();
    for &id in &ids {
        if id as usize >= rows {
            return Err(Error::OutOfRange(format!(
                "token id {id} has no embedding row"
            )));
        }
        row(id as usize, &mut gathered)?;
    }
    let picked = qtensor_from_ggml(dtype, &gathered, vec![ids.len(), hidden], &Device::Cpu)?;
    Ok(picked.dequantize(&Device::Cpu)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::quantized::{GgmlDType, QTensor};
    use std::sync::Arc;

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
            Stored::InPlace(m) => m.dequantize().unwrap().to_vec2().unwrap(),
        }
    }

    #[test]
    fn quantized_embedding_rows_match_the_expanded_table() {
        let table = matrix(10, 32, 0.5);
        let q = quantized(&table, GgmlDType::Q8_0);
        let expanded = expand(&q);
        let ids = Tensor::new(&[3u32, 0, 9, 3], &Device::Cpu).unwrap();
        let rows = WordEmbedding::new(q).forward(&ids).unwrap();
        let rows: Vec<Vec<f32>> = rows.to_vec2().unwrap();
        assert_eq!(
            rows,
            [&expanded[3], &expanded[0], &expanded[9], &expanded[3]].map(|r| r.clone())
        );
        let out_of_range = Tensor::new(&[10u32], &Device::Cpu).unwrap();
        let q = quantized(&table, GgmlDType::Q8_0);
        assert!(WordEmbedding::new(q).forward(&out_of_range).is_err());
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
            .forward(&ids)
            .unwrap()
            .to_vec2()
            .unwrap();
        let b: Vec<Vec<f32>> = WordEmbedding::new(split.clone())
            .forward(&ids)
            .unwrap()
            .to_vec2()
            .unwrap();
        assert_eq!(a, b);
    }
}
