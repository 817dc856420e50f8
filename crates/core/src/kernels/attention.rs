//! Self-attention over packed texts: each text attends to its own tokens only, per head, on
//! rten-gemm's f32 products.

use rayon::prelude::*;
use rten_gemm::{GemmInputA, GemmInputB, GemmUninitOptions};

use super::ops::softmax_in_place;
use super::rten::{f32_gemm, gemm_error, matrix, strided};
use crate::error::Result;

/// Where one text's tokens sit in a packed `[tokens, ...]` activation.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Span {
    pub start: usize,
    pub len: usize,
}

/// Multi-head self-attention over packed texts. `qkv` is `[tokens, 3 * hidden]` (queries, keys,
/// values side by side, as the fused projection writes them). Each text attends to its own
/// tokens only, so there is no padding and no mask. With `first_token_only`, only `<s>`'s
/// output is computed (the classification head reads nothing else) and the result is
/// `[texts, hidden]`; otherwise `[tokens, hidden]`.
pub(crate) fn attention(
    qkv: &[f32],
    spans: &[Span],
    hidden: usize,
    heads: usize,
    first_token_only: bool,
) -> Result<Vec<f32>> {
    let head_dim = hidden / heads;
    let row = 3 * hidden;
    let scale = 1.0 / (head_dim as f32).sqrt();
    let blocks: Vec<Vec<f32>> = (0..spans.len() * heads)
        .into_par_iter()
        .map(|job| -> Result<Vec<f32>> {
            let (span, head) = (spans[job / heads], job % heads);
            let queries = if first_token_only { 1 } else { span.len };
            let base = span.start * row + head * head_dim;
            let q = strided(qkv, base, queries, head_dim, [row, 1])?;
            let k_t = strided(qkv, base + hidden, head_dim, span.len, [1, row])?;
            let v = strided(qkv, base + 2 * hidden, span.len, head_dim, [row, 1])?;
            let mut scores = Vec::with_capacity(queries * span.len);
            f32_gemm(|g| {
                g.gemm_uninit(
                    &mut scores.spare_capacity_mut()[..queries * span.len],
                    GemmInputA::Unpacked(q),
                    GemmInputB::Unpacked(k_t),
                    GemmUninitOptions {
                        alpha: scale,
                        ..Default::default()
                    },
                )
                .map(|_| ())
            })
            .map_err(gemm_error)?;
            // SAFETY: gemm_uninit initialised every value.
            unsafe { scores.set_len(queries * span.len) };
            for scores_row in scores.chunks_exact_mut(span.len) {
                softmax_in_place(scores_row);
            }
            let mut context = Vec::with_capacity(queries * head_dim);
            let p = matrix(&scores, queries, span.len)?;
            f32_gemm(|g| {
                g.gemm_uninit(
                    &mut context.spare_capacity_mut()[..queries * head_dim],
                    GemmInputA::Unpacked(p),
                    GemmInputB::Unpacked(v),
                    GemmUninitOptions::default(),
                )
                .map(|_| ())
            })
            .map_err(gemm_error)?;
            // SAFETY: as above.
            unsafe { context.set_len(queries * head_dim) };
            Ok(context)
        })
        .collect::<Result<_>>()?;
    let out_rows: usize = if first_token_only {
        spans.len()
    } else {
        spans.iter().map(|s| s.len).sum()
    };
    let mut out = vec![0f32; out_rows * hidden];
    let mut out_row = 0;
    for (text, span) in spans.iter().enumerate() {
        let queries = if first_token_only { 1 } else { span.len };
        for head in 0..heads {
            let block = &blocks[text * heads + head];
            for q in 0..queries {
                let at = (out_row + q) * hidden + head * head_dim;
                out[at..at + head_dim].copy_from_slice(&block[q * head_dim..(q + 1) * head_dim]);
            }
        }
        out_row += queries;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::values;

    #[test]
    fn attention_per_text_matches_naive() {
        let (hidden, heads) = (8, 2);
        let spans = [Span { start: 0, len: 3 }, Span { start: 3, len: 2 }];
        let qkv = values(5 * 3 * hidden, 7);
        let got = attention(&qkv, &spans, hidden, heads, false).unwrap();
        let first = attention(&qkv, &spans, hidden, heads, true).unwrap();
        let d = hidden / heads;
        for span in spans {
            for head in 0..heads {
                for i in 0..span.len {
                    let q = |t: usize, j| qkv[(span.start + t) * 3 * hidden + head * d + j];
                    let k =
                        |t: usize, j| qkv[(span.start + t) * 3 * hidden + hidden + head * d + j];
                    let v = |t: usize, j| {
                        qkv[(span.start + t) * 3 * hidden + 2 * hidden + head * d + j]
                    };
                    let mut s: Vec<f32> = (0..span.len)
                        .map(|t| (0..d).map(|j| q(i, j) * k(t, j)).sum::<f32>() / (d as f32).sqrt())
                        .collect();
                    let m = s.iter().cloned().fold(f32::MIN, f32::max);
                    let z: f32 = s
                        .iter_mut()
                        .map(|x| {
                            *x = (*x - m).exp();
                            *x
                        })
                        .sum();
                    for j in 0..d {
                        let want: f32 = (0..span.len).map(|t| s[t] / z * v(t, j)).sum();
                        let at = (span.start + i) * hidden + head * d + j;
                        assert!((got[at] - want).abs() < 1e-5);
                        if i == 0 {
                            let text = if span.start == 0 { 0 } else { 1 };
                            assert!((first[text * hidden + head * d + j] - want).abs() < 1e-5);
                        }
                    }
                }
            }
        }
    }
}
