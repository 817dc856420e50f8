//! Self-attention over packed texts: each text attends to its own tokens only, per head.

use rayon::prelude::*;
use rten_gemm::{GemmInputA, GemmInputB, GemmUninitOptions};

use super::ops::softmax_in_place;
use super::rten::{f32_gemm, gemm_error, matrix, strided};
#[cfg(target_arch = "x86_64")]
use super::select::kernels;
use super::sink::Output;
#[cfg(target_arch = "x86_64")]
use super::x86_64;
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
///
/// Where the CPU multiplies bf16 on AMX tiles and the attention need not be `exact` (that of a
/// quantized model), texts of `BF16_MIN_ROWS` tokens and more run their products there in
/// bf16. Exact attention stays in f32: its three-part bf16 products on AMX, with the splitting
/// and packing each head needs, were measured slower than rten-gemm's f32 kernel on a Xeon with
/// AMX. With AVX-512, texts of up to 64 tokens run an f32 loop of our own
/// (`x86_64/attention.rs`). Elsewhere, rten-gemm's f32 products.
pub(crate) fn attention(
    qkv: &[f32],
    spans: &[Span],
    hidden: usize,
    heads: usize,
    first_token_only: bool,
    #[cfg_attr(not(target_arch = "x86_64"), allow(unused_variables))] exact: bool,
) -> Result<Vec<f32>> {
    let out_rows: usize = if first_token_only {
        spans.len()
    } else {
        spans.iter().map(|s| s.len).sum()
    };
    let mut out: Vec<f32> = Vec::with_capacity(out_rows * hidden);
    let output = Output(out.as_mut_ptr());
    // Each (text, head) job writes its own rows and columns of `out`.
    let first_rows: Vec<usize> = spans
        .iter()
        .scan(0, |row, span| {
            let first = *row;
            *row += if first_token_only { 1 } else { span.len };
            Some(first)
        })
        .collect();
    let head = Head {
        qkv,
        hidden,
        head_dim: hidden / heads,
    };
    (0..spans.len() * heads)
        .into_par_iter()
        .try_for_each(|job| -> Result<()> {
            let (text, head_index) = (job / heads, job % heads);
            let span = spans[text];
            let queries = if first_token_only { 1 } else { span.len };
            let at = output.offset(first_rows[text] * hidden + head_index * head.head_dim);
            #[cfg(target_arch = "x86_64")]
            if !exact && queries >= x86_64::BF16_MIN_ROWS && kernels().bf16_attention {
                // SAFETY: this job alone writes these rows and columns of `out`.
                unsafe { head.on_amx(span, head_index, at) };
                return Ok(());
            }
            #[cfg(target_arch = "x86_64")]
            if span.len <= x86_64::SHORT_TOKENS
                && head.head_dim == x86_64::SHORT_HEAD_DIM
                && kernels().short_attention
            {
                // SAFETY: AVX-512F is there (`short_attention`); the head's rows are inside
                // `qkv`; as above.
                unsafe {
                    x86_64::short_head_avx512(
                        &qkv[head.base(span, head_index)..],
                        3 * hidden,
                        hidden,
                        span.len,
                        queries,
                        at.0,
                        hidden,
                    )
                };
                return Ok(());
            }
            // SAFETY: as above.
            unsafe { head.on_rten(span, head_index, queries, at) }
        })?;
    // SAFETY: the jobs wrote every row of every head's columns.
    unsafe { out.set_len(out_rows * hidden) };
    Ok(out)
}

/// The layout of one layer's fused projection, for reading one head of one text.
struct Head<'a> {
    qkv: &'a [f32],
    hidden: usize,
    head_dim: usize,
}

impl Head<'_> {
    /// Where head `head`'s queries of text `span` start in `qkv`; the keys are `hidden` later,
    /// the values `2 * hidden`.
    fn base(&self, span: Span, head: usize) -> usize {
        span.start * 3 * self.hidden + head * self.head_dim
    }

    /// One head of one text on rten-gemm, its first `queries` rows written at `out` (row stride
    /// `hidden`).
    ///
    /// # Safety
    /// `out` has room for those rows, and no other job writes them.
    unsafe fn on_rten(
        &self,
        span: Span,
        head: usize,
        queries: usize,
        out: Output<f32>,
    ) -> Result<()> {
        let (qkv, hidden, head_dim) = (self.qkv, self.hidden, self.head_dim);
        let row = 3 * hidden;
        let scale = 1.0 / (head_dim as f32).sqrt();
        let base = self.base(span, head);
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
        for (q, values) in context.chunks_exact(head_dim).enumerate() {
            // SAFETY: the caller's guarantee: row `q` of this head's columns is this job's.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    values.as_ptr(),
                    out.0.wrapping_add(q * hidden),
                    head_dim,
                )
            };
        }
        Ok(())
    }

    /// One head of one text on AMX bf16 tiles, every query, written at `out` (row stride
    /// `hidden`).
    ///
    /// # Safety
    /// As [`Head::on_rten`]; the CPU multiplies bf16 on AMX tiles.
    #[cfg(target_arch = "x86_64")]
    unsafe fn on_amx(&self, span: Span, head: usize, out: Output<f32>) {
        use super::sink::F32Out;
        use x86_64::{gemm_bf16, split_rows, PackedBf16};
        // One bf16 part per value: only a quantized model's (inexact) attention runs here.
        let parts = x86_64::Bf16Parts::One;
        let (qkv, hidden, head_dim) = (self.qkv, self.hidden, self.head_dim);
        let (row, tokens) = (3 * hidden, span.len);
        let scale = 1.0 / (head_dim as f32).sqrt();
        let base = self.base(span, head);
        // Scores: queries times keys, the keys packed as the weights of a `[tokens, head_dim]`
        // layer.
        let keys = PackedBf16::new(&qkv[base + hidden..], tokens, head_dim, (row, 1), parts);
        let queries = split_rows(&qkv[base..], tokens, head_dim, row, keys.padded_k(), parts);
        let mut scores = Vec::with_capacity(tokens * tokens);
        let sink = F32Out::new(Output(scores.as_mut_ptr()), tokens, tokens).scaled(scale);
        gemm_bf16(&queries, &keys, &sink);
        // SAFETY: the product wrote every score.
        unsafe { scores.set_len(tokens * tokens) };
        for scores_row in scores.chunks_exact_mut(tokens) {
            softmax_in_place(scores_row);
        }
        // Context: probabilities times values, the values read transposed as the weights of a
        // `[head_dim, tokens]` layer.
        let values = PackedBf16::new(&qkv[base + 2 * hidden..], head_dim, tokens, (1, row), parts);
        let probabilities = split_rows(&scores, tokens, tokens, tokens, values.padded_k(), parts);
        gemm_bf16(&probabilities, &values, &F32Out::new(out, hidden, head_dim));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::values;

    /// Attention computed the plain way, one query at a time: `[tokens, hidden]`.
    fn naive(qkv: &[f32], spans: &[Span], hidden: usize, heads: usize) -> Vec<f32> {
        let d = hidden / heads;
        let tokens: usize = spans.iter().map(|s| s.len).sum();
        let mut out = vec![0f32; tokens * hidden];
        for &span in spans {
            for head in 0..heads {
                let at = |t: usize, part: usize, j: usize| {
                    qkv[(span.start + t) * 3 * hidden + part * hidden + head * d + j]
                };
                for i in 0..span.len {
                    let mut s: Vec<f32> = (0..span.len)
                        .map(|t| {
                            (0..d).map(|j| at(i, 0, j) * at(t, 1, j)).sum::<f32>()
                                / (d as f32).sqrt()
                        })
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
                        out[(span.start + i) * hidden + head * d + j] =
                            (0..span.len).map(|t| s[t] / z * at(t, 2, j)).sum();
                    }
                }
            }
        }
        out
    }

    fn largest_difference(got: &[f32], want: &[f32]) -> f32 {
        assert_eq!(got.len(), want.len());
        got.iter()
            .zip(want)
            .map(|(g, w)| (g - w).abs())
            .fold(0.0, f32::max)
    }

    #[test]
    fn attention_per_text_matches_naive() {
        let (hidden, heads) = (8, 2);
        let spans = [Span { start: 0, len: 3 }, Span { start: 3, len: 2 }];
        let qkv = values(5 * 3 * hidden, 7);
        let got = attention(&qkv, &spans, hidden, heads, false, true).unwrap();
        let first = attention(&qkv, &spans, hidden, heads, true, true).unwrap();
        let want = naive(&qkv, &spans, hidden, heads);
        assert!(largest_difference(&got, &want) < 1e-5);
        let firsts: Vec<f32> = [0, 3]
            .iter()
            .flat_map(|&t| want[t * hidden..(t + 1) * hidden].to_vec())
            .collect();
        assert!(largest_difference(&first, &firsts) < 1e-5);
    }

    /// A short text (the AVX-512 loop where it runs) and one long enough for the AMX path
    /// (rten-gemm elsewhere): exact within f32 accuracy, the quantized models' bf16 attention
    /// within bf16's.
    #[test]
    fn long_texts_match_naive_exact_or_in_bf16() {
        let (hidden, heads) = (128, 2);
        // 10, 20, 40 and 60 tokens: each register count of the AVX-512 loop; 70: past it.
        let lengths = [10, 20, 40, 60, 70];
        let starts: Vec<usize> = lengths
            .iter()
            .scan(0, |start, &len| {
                let first = *start;
                *start += len;
                Some(first)
            })
            .collect();
        let spans: Vec<Span> = starts
            .iter()
            .zip(lengths)
            .map(|(&start, len)| Span { start, len })
            .collect();
        let tokens: usize = lengths.iter().sum();
        let qkv: Vec<f32> = values(tokens * 3 * hidden, 8)
            .iter()
            .map(|v| v * 2.0)
            .collect();
        let want = naive(&qkv, &spans, hidden, heads);
        let exact = attention(&qkv, &spans, hidden, heads, false, true).unwrap();
        assert!(largest_difference(&exact, &want) < 1e-5);
        let reduced = attention(&qkv, &spans, hidden, heads, false, false).unwrap();
        assert!(largest_difference(&reduced, &want) < 2e-2);
        let first = attention(&qkv, &spans, hidden, heads, true, true).unwrap();
        let firsts: Vec<f32> = starts
            .iter()
            .flat_map(|&t| want[t * hidden..(t + 1) * hidden].to_vec())
            .collect();
        assert!(largest_difference(&first, &firsts) < 1e-5);
    }
}
