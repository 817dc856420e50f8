//! Attention of one head of a short text with AVX-512: rten-gemm's packing and dispatch cost
//! more than the products of a text of a few dozen tokens.

use std::arch::x86_64::*;

/// The most tokens [`short_head_avx512`] takes (its scores stay in four registers).
pub(crate) const SHORT_TOKENS: usize = 64;
/// The head size [`short_head_avx512`] takes (a query's context is four registers).
pub(crate) const SHORT_HEAD_DIM: usize = 64;
/// Lanes of a register.
const LANES: usize = 16;
/// Registers per query's context.
const VECTORS: usize = SHORT_HEAD_DIM / LANES;

/// One head of one text: `qkv` from the head's first query value, rows `row` apart (queries at
/// 0, keys at `hidden`, values at `2 * hidden`), `tokens` keys and values, the first `queries`
/// queries; each query's context (64 values) written `out_stride` apart from `out`. Queries run
/// two at a time, so eight independent chains of fused multiply-adds hide their latency.
///
/// # Safety
/// AVX-512F is there; `tokens <= 64`; `qkv` holds every row read; `out` has room for the
/// `queries` rows.
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
pub(crate) unsafe fn short_head_avx512(
    qkv: &[f32],
    row: usize,
    hidden: usize,
    tokens: usize,
    queries: usize,
    out: *mut f32,
    out_stride: usize,
) {
    assert!((1..=SHORT_TOKENS).contains(&tokens) && queries <= tokens);
    assert!(qkv.len() >= (tokens - 1) * row + 2 * hidden + SHORT_HEAD_DIM);
    // SAFETY: the caller's guarantees; the registers of scores cover `tokens`.
    unsafe {
        match tokens.div_ceil(LANES) {
            1 => head::<1>(qkv, row, hidden, tokens, queries, out, out_stride),
            2 => head::<2>(qkv, row, hidden, tokens, queries, out, out_stride),
            3 => head::<3>(qkv, row, hidden, tokens, queries, out, out_stride),
            _ => head::<4>(qkv, row, hidden, tokens, queries, out, out_stride),
        }
    }
}

/// [`short_head_avx512`] with `V` registers of scores per query (`tokens <= 16 V`), so a
/// 32-token text computes no scores for 64.
///
/// # Safety
/// As [`short_head_avx512`].
#[allow(clippy::too_many_arguments)]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn head<const V: usize>(
    qkv: &[f32],
    row: usize,
    hidden: usize,
    tokens: usize,
    queries: usize,
    out: *mut f32,
    out_stride: usize,
) {
    debug_assert!(tokens <= V * LANES);
    // The keys transposed, `keys[d][t]`, zero past `tokens`.
    let mut keys = [[0f32; SHORT_TOKENS]; SHORT_HEAD_DIM];
    for t in 0..tokens {
        for (d, &k) in qkv[t * row + hidden..][..SHORT_HEAD_DIM].iter().enumerate() {
            keys[d][t] = k;
        }
    }
    let scale = _mm512_set1_ps(1.0 / (SHORT_HEAD_DIM as f32).sqrt());
    let valid: [__mmask16; V] = std::array::from_fn(|j| {
        let live = tokens.saturating_sub(j * LANES).min(LANES);
        ((1u32 << live) - 1) as __mmask16
    });
    let mut q = 0;
    while q < queries {
        let pair = (queries - q).min(2);
        let mut scores = [[_mm512_setzero_ps(); V]; 2];
        for d in 0..SHORT_HEAD_DIM {
            let k = keys[d].as_ptr();
            for (i, scores) in scores.iter_mut().enumerate().take(pair) {
                let query = _mm512_set1_ps(qkv[(q + i) * row + d]);
                for (j, s) in scores.iter_mut().enumerate() {
                    // SAFETY: 16 values of a 64-value row.
                    *s = _mm512_fmadd_ps(query, unsafe { _mm512_loadu_ps(k.add(j * LANES)) }, *s);
                }
            }
        }
        let mut probabilities = [[0f32; SHORT_TOKENS]; 2];
        for i in 0..pair {
            // Softmax over the live lanes: the rest are -inf before exp, so 0 after.
            let mut largest = _mm512_set1_ps(f32::NEG_INFINITY);
            let mut s = scores[i];
            for j in 0..V {
                s[j] = _mm512_mask_mul_ps(_mm512_set1_ps(f32::NEG_INFINITY), valid[j], s[j], scale);
                largest = _mm512_max_ps(largest, s[j]);
            }
            let largest = _mm512_set1_ps(_mm512_reduce_max_ps(largest));
            for j in 0..V {
                // SAFETY: 16 values of a 64-value row.
                unsafe {
                    _mm512_storeu_ps(
                        probabilities[i][j * LANES..].as_mut_ptr(),
                        _mm512_sub_ps(s[j], largest),
                    )
                };
            }
            // All `16 V` lanes (the dead ones are -inf, so 0 after exp): a loop of fixed length,
            // vectorised.
            let row = &mut probabilities[i][..V * LANES];
            for p in row.iter_mut() {
                *p = super::super::ops::exp(*p);
            }
            let mut total = _mm512_setzero_ps();
            for j in 0..V {
                // SAFETY: 16 values of a 64-value row.
                total = _mm512_add_ps(total, unsafe { _mm512_loadu_ps(row[j * LANES..].as_ptr()) });
            }
            let inverse = _mm512_set1_ps(1.0 / _mm512_reduce_add_ps(total));
            for j in 0..V {
                let at = row[j * LANES..].as_mut_ptr();
                // SAFETY: as above.
                unsafe { _mm512_storeu_ps(at, _mm512_mul_ps(_mm512_loadu_ps(at), inverse)) };
            }
        }
        let mut context = [[_mm512_setzero_ps(); VECTORS]; 2];
        for t in 0..tokens {
            let value = qkv[t * row + 2 * hidden..].as_ptr();
            for (i, context) in context.iter_mut().enumerate().take(pair) {
                let p = _mm512_set1_ps(probabilities[i][t]);
                for (j, c) in context.iter_mut().enumerate() {
                    // SAFETY: 16 of the head's 64 values of this token.
                    *c = _mm512_fmadd_ps(p, unsafe { _mm512_loadu_ps(value.add(j * LANES)) }, *c);
                }
            }
        }
        for (i, context) in context.iter().enumerate().take(pair) {
            for (j, &c) in context.iter().enumerate() {
                // SAFETY: the caller's guarantee: room for this query's 64 values.
                unsafe { _mm512_storeu_ps(out.add((q + i) * out_stride + j * LANES), c) };
            }
        }
        q += pair;
    }
}
