//! bf16 products on AMX tiles with f32 sums: one `tdpbf16ps` multiplies a 16 x 32 tile of bf16
//! (16 rows of 32 values of k) by a 32 x 16 tile (16 rows of pairs of k for 16 columns) into a
//! 16 x 16 tile of f32 sums, 8,192 multiply-adds.
//!
//! An f32 value is carried either as one bf16 (8 significant bits: attention in a quantized
//! model) or as three, `x = hi + mid + lo` exactly (each part the bf16 rounding of what the
//! previous ones left), whose six largest cross products (`hi hi`, `hi mid`, `mid hi`, `hi lo`,
//! `mid mid`, `lo hi`) give a product as accurate as f32 arithmetic: the three left out are below
//! 2^-24 of it. Six `tdpbf16ps` per tile still do 85 f32 multiply-adds per cycle against 32
//! for AVX-512 FMA (the split-operand scheme of Henry, Tang and Heinecke, "Leveraging the bfloat16
//! Artificial Intelligence Datatype For Higher-Precision Computations", ARITH 2019).
//!
//! Weights (`B`, packed once) use the layout of the int8 kernels with 4 bytes per column and
//! group: blocks of 32 columns, each a run of groups of 32 columns x 2 values of k, one run per
//! part. Activations (`A`) are split row by row into one bf16 matrix per part.

use std::arch::asm;
use std::ops::Range;

use rayon::prelude::*;

use super::{drive, TileProduct, BLOCK_COLS, GROUP_BYTES, TILE_BYTES, TILE_ROWS};
use crate::kernels::aligned::AlignedBytes;
use crate::kernels::sink::{F32Sink, SINK_COLS};

/// Rows from which attention's products run on AMX tiles rather than rten-gemm's f32 kernel.
pub(crate) const BF16_MIN_ROWS: usize = 64;

/// Values of k per tile row (64 bytes of bf16).
const K_STEP: usize = TILE_BYTES / 2;

/// How many bf16 values stand for each f32 value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Bf16Parts {
    /// One: bf16 arithmetic.
    One,
    /// Three: f32-accurate products.
    Three,
}

impl Bf16Parts {
    fn count(self) -> usize {
        match self {
            Bf16Parts::One => 1,
            Bf16Parts::Three => 3,
        }
    }

    /// The products summed for every step of k, as (part of A, part of B), grouped by the part
    /// of A so each activation tile is loaded once per step.
    fn products(self) -> &'static [(usize, usize)] {
        match self {
            Bf16Parts::One => &[(0, 0)],
            Bf16Parts::Three => &[(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (2, 0)],
        }
    }
}

/// The bf16 nearest to `x` (ties to even), as bits; a NaN stays a NaN (quiet). Branch-free,
/// so the loops that call it vectorise.
#[inline(always)]
fn bf16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let rounded = (bits.wrapping_add(0x7fff + ((bits >> 16) & 1)) >> 16) as u16;
    let quiet_nan = ((bits >> 16) | 0x40) as u16;
    if x.is_nan() {
        quiet_nan
    } else {
        rounded
    }
}

/// The f32 value of bf16 `bits`.
#[inline(always)]
fn bf16_value(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// `x` as `parts` bf16 values, largest first: each the rounding of what the others left.
#[inline(always)]
fn split(x: f32, parts: Bf16Parts) -> [u16; 3] {
    let hi = bf16_bits(x);
    if parts == Bf16Parts::One {
        return [hi, 0, 0];
    }
    let rest = x - bf16_value(hi);
    let mid = bf16_bits(rest);
    [hi, mid, bf16_bits(rest - bf16_value(mid))]
}

/// Weights packed for [`gemm_bf16`]: `W[c][i]` for `c < n` columns (outputs) and `i < k`.
pub(crate) struct PackedBf16 {
    data: AlignedBytes,
    n: usize,
    /// k rounded up to a multiple of 32, divided by 2.
    k_pairs: usize,
    parts: Bf16Parts,
}

impl PackedBf16 {
    /// Packs `W[c][i] = source[c * row_stride + i * col_stride]` (a weight matrix `[n, k]` has
    /// strides `k` and 1; a matrix read transposed, 1 and its row length; one of the two
    /// strides must be 1).
    pub(crate) fn new(
        source: &[f32],
        n: usize,
        k: usize,
        (row_stride, col_stride): (usize, usize),
        parts: Bf16Parts,
    ) -> Self {
        assert!(
            row_stride == 1 || col_stride == 1,
            "a contiguous row or column"
        );
        let k_pairs = k.div_ceil(2).next_multiple_of(TILE_ROWS);
        let part_len = k_pairs * BLOCK_COLS;
        let panel_len = parts.count() * part_len;
        let blocks = n.div_ceil(BLOCK_COLS);
        let mut data = AlignedBytes::zeroed(blocks * panel_len * 4);
        if k > 0 {
            let pairs: &mut [u32] = bytemuck::cast_slice_mut(data.as_mut_slice());
            pairs
                .par_chunks_mut(panel_len)
                .enumerate()
                .for_each(|(block, panel)| {
                    let layout = PanelLayout {
                        first: block * BLOCK_COLS,
                        columns: (n - block * BLOCK_COLS).min(BLOCK_COLS),
                        k,
                        part_len,
                        strides: (row_stride, col_stride),
                    };
                    match parts {
                        Bf16Parts::One => pack_panel::<1>(panel, source, &layout),
                        Bf16Parts::Three => pack_panel::<3>(panel, source, &layout),
                    }
                });
        }
        Self {
            data,
            n,
            k_pairs,
            parts,
        }
    }

    /// Bytes of one block's panel (every part).
    fn panel_bytes(&self) -> usize {
        self.parts.count() * self.k_pairs * GROUP_BYTES
    }

    /// Rows of activations this packing multiplies must be split with this `k`.
    pub(crate) fn padded_k(&self) -> usize {
        self.k_pairs * 2
    }
}

/// Where one block's panel takes its values from (see [`PackedBf16::new`]).
struct PanelLayout {
    /// The block's first column and its number of columns.
    first: usize,
    columns: usize,
    k: usize,
    /// Pairs of bf16 per part of the panel.
    part_len: usize,
    strides: (usize, usize),
}

/// Fills one block's panel with `P` parts per value: part `p` of group `g` (values `2g` and
/// `2g + 1` of k) of column `j` is the pair at `panel[p * part_len + g * 32 + j]`. Values are
/// split a contiguous run of the source at a time (vectorised, [`split_row`]) into a scratch
/// row, whose u16 pairs are then the panel's u32s.
fn pack_panel<const P: usize>(panel: &mut [u32], source: &[f32], layout: &PanelLayout) {
    let parts = if P == 1 {
        Bf16Parts::One
    } else {
        Bf16Parts::Three
    };
    let (row_stride, col_stride) = layout.strides;
    let (k, part_len) = (layout.k, layout.part_len);
    let padded = k.next_multiple_of(2).max(BLOCK_COLS);
    if col_stride == 1 {
        // Each column's k values are contiguous: split them, then each pair is one u32.
        let mut scratch = vec![0u16; P * padded];
        for j in 0..layout.columns {
            let start = (layout.first + j) * row_stride;
            split_row(&source[start..start + k], &mut scratch, padded, parts);
            for p in 0..P {
                let pairs: &[u32] = bytemuck::cast_slice(&scratch[p * padded..][..padded]);
                for (g, &pair) in pairs[..k.div_ceil(2)].iter().enumerate() {
                    panel[p * part_len + g * BLOCK_COLS + j] = pair;
                }
            }
        }
    } else if row_stride == 1 {
        // Each value of k has the block's columns contiguous: split two values of k at a time
        // and interleave them.
        let mut low = vec![0u16; P * BLOCK_COLS];
        let mut high = vec![0u16; P * BLOCK_COLS];
        let columns = layout.columns;
        for g in 0..k.div_ceil(2) {
            let first = layout.first + 2 * g * col_stride;
            split_row(&source[first..first + columns], &mut low, BLOCK_COLS, parts);
            if 2 * g + 1 < k {
                let second = first + col_stride;
                split_row(
                    &source[second..second + columns],
                    &mut high,
                    BLOCK_COLS,
                    parts,
                );
            } else {
                high.iter_mut().for_each(|h| *h = 0);
            }
            for p in 0..P {
                let out = &mut panel[p * part_len + g * BLOCK_COLS..][..columns];
                for ((o, &l), &h) in out
                    .iter_mut()
                    .zip(&low[p * BLOCK_COLS..])
                    .zip(&high[p * BLOCK_COLS..])
                {
                    *o = l as u32 | (h as u32) << 16;
                }
            }
        }
    } else {
        unreachable!("PackedBf16::new takes a contiguous row or column")
    }
}

/// Activations split for [`gemm_bf16`]: each row its parts side by side, each part `padded_k`
/// bf16 values.
pub(crate) struct SplitRows {
    data: AlignedBytes,
    rows: usize,
    padded_k: usize,
    parts: Bf16Parts,
}

impl SplitRows {
    /// Bytes from one row to the next (every part).
    fn row_bytes(&self) -> usize {
        self.parts.count() * self.padded_k * 2
    }
}

/// Splits `rows` rows of `k` values, `row_stride` apart in `x`, into `parts` bf16 values each,
/// in rows of `padded_k` (at least `k`, a multiple of 32) values per part.
pub(crate) fn split_rows(
    x: &[f32],
    rows: usize,
    k: usize,
    row_stride: usize,
    padded_k: usize,
    parts: Bf16Parts,
) -> SplitRows {
    assert!(padded_k >= k && padded_k.is_multiple_of(K_STEP));
    // Every byte is written below: the values, then each part's padding.
    let mut data = AlignedBytes::scratch(parts.count() * rows * padded_k * 2);
    if rows > 0 {
        let values: &mut [u16] = bytemuck::cast_slice_mut(data.as_mut_slice());
        values
            .par_chunks_mut(parts.count() * padded_k)
            .enumerate()
            .for_each(|(r, out)| split_row(&x[r * row_stride..][..k], out, padded_k, parts));
    }
    SplitRows {
        data,
        rows,
        padded_k,
        parts,
    }
}

/// One row of [`split_rows`]: part `p` of value `i` at `out[p * padded_k + i]`, zeros from
/// `row.len()` to `padded_k` in every part.
#[multiversion::multiversion(targets("x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma"))]
fn split_row(row: &[f32], out: &mut [u16], padded_k: usize, parts: Bf16Parts) {
    for part in out.chunks_exact_mut(padded_k).take(parts.count()) {
        part[row.len()..].fill(0);
    }
    match parts {
        Bf16Parts::One => {
            for (&x, h) in row.iter().zip(out) {
                *h = bf16_bits(x);
            }
        }
        Bf16Parts::Three => {
            let (hi, rest) = out.split_at_mut(padded_k);
            let (mid, lo) = rest.split_at_mut(padded_k);
            for (((&x, h), m), l) in row.iter().zip(hi).zip(mid).zip(lo) {
                [*h, *m, *l] = split(x, Bf16Parts::Three);
            }
        }
    }
}

/// The sums `sum_i a[r][i] * w[c][i]` on AMX tiles into `sink`.
pub(crate) fn gemm_bf16(a: &SplitRows, weights: &PackedBf16, sink: &impl F32Sink) {
    assert_eq!(a.parts, weights.parts);
    assert_eq!(a.padded_k, weights.padded_k());
    assert_eq!(sink.columns(), weights.n);
    drive(&Bf16Product { a, weights, sink });
}

/// One bf16 product, for [`drive`].
struct Bf16Product<'a, S> {
    a: &'a SplitRows,
    weights: &'a PackedBf16,
    sink: &'a S,
}

impl<S: F32Sink> TileProduct for Bf16Product<'_, S> {
    type Sum = f32;

    fn rows(&self) -> usize {
        self.a.rows
    }

    fn columns(&self) -> usize {
        self.weights.n
    }

    fn steps(&self) -> usize {
        self.a.padded_k / K_STEP
    }

    fn row_bytes(&self) -> usize {
        self.a.row_bytes()
    }

    #[inline(never)]
    unsafe fn steps_into_tiles(
        &self,
        row: usize,
        second: bool,
        block: usize,
        steps: Range<usize>,
        // Asking for three parts' worth of later weights slowed the f32 model down (by 15-20%
        // at 32 tokens and at 512), so this product does not.
        _prefetch: bool,
    ) {
        let a = self.a;
        let row_bytes = a.row_bytes();
        let part_bytes = a.padded_k * 2;
        let part_panel = self.weights.k_pairs * GROUP_BYTES;
        let panel_bytes = self.weights.panel_bytes();
        let panel = &self.weights.data.as_slice()[block * panel_bytes..][..panel_bytes];
        let a_base = a.data.as_slice()[row * row_bytes..].as_ptr();
        for step in steps {
            let mut loaded = usize::MAX;
            for &(pa, pb) in a.parts.products() {
                // SAFETY: the tiles are configured for these rows (the caller's guarantee);
                // each activation tile reads 64 bytes at `step * 64` of one part of rows of
                // `a`, each weight tile 16 groups of 128 bytes inside one part of this block's
                // panel.
                unsafe {
                    let a0 = a_base.add(pa * part_bytes + step * TILE_BYTES);
                    let a1 = a0.wrapping_add(TILE_ROWS * row_bytes);
                    let b0 = panel
                        .as_ptr()
                        .add(pb * part_panel + step * TILE_ROWS * GROUP_BYTES);
                    let b1 = b0.add(SINK_COLS * 4);
                    if pa != loaded {
                        asm!("tileloadd tmm4, [{a} + {s} * 1]", a = in(reg) a0, s = in(reg) row_bytes, options(nostack, readonly));
                        if second {
                            asm!("tileloadd tmm5, [{a} + {s} * 1]", a = in(reg) a1, s = in(reg) row_bytes, options(nostack, readonly));
                        }
                        loaded = pa;
                    }
                    if second {
                        asm!(
                            "tileloadd tmm6, [{b0} + {s} * 1]",
                            "tileloadd tmm7, [{b1} + {s} * 1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            "tdpbf16ps tmm2, tmm5, tmm6",
                            "tdpbf16ps tmm3, tmm5, tmm7",
                            b0 = in(reg) b0,
                            b1 = in(reg) b1,
                            s = in(reg) GROUP_BYTES,
                            options(nostack, readonly),
                        );
                    } else {
                        asm!(
                            "tileloadd tmm6, [{b0} + {s} * 1]",
                            "tileloadd tmm7, [{b1} + {s} * 1]",
                            "tdpbf16ps tmm0, tmm4, tmm6",
                            "tdpbf16ps tmm1, tmm4, tmm7",
                            b0 = in(reg) b0,
                            b1 = in(reg) b1,
                            s = in(reg) GROUP_BYTES,
                            options(nostack, readonly),
                        );
                    }
                }
            }
        }
    }

    unsafe fn finish(&self, sums: &[[f32; SINK_COLS]], row: usize, block16: usize) {
        // SAFETY: the caller's guarantee.
        unsafe { self.sink.put(sums, row, block16) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::sink::{F32Out, Output};
    use crate::kernels::testing::Seeded;
    use crate::kernels::x86_64::amx::amx_state;

    #[test]
    fn three_parts_add_up_to_the_value_exactly() {
        let mut rng = Seeded::new(5);
        for _ in 0..10_000 {
            let x = (rng.unit() - 0.5) * 10f32.powi((rng.next() % 20) as i32 - 10);
            let [hi, mid, lo] = split(x, Bf16Parts::Three);
            let sum = bf16_value(hi) as f64 + bf16_value(mid) as f64 + bf16_value(lo) as f64;
            assert_eq!(sum, x as f64, "{x}");
        }
        assert_eq!(bf16_bits(1.0), 0x3f80);
        // Ties go to even: 1 + 2^-8 lies halfway between 1 and 1 + 2^-7.
        assert_eq!(bf16_bits(1.0 + 1.0 / 256.0), 0x3f80);
        assert_eq!(bf16_bits(1.0 + 3.0 / 256.0), 0x3f82);
        assert!(bf16_value(bf16_bits(f32::NAN)).is_nan());
    }

    /// The product against sums in f64 on ragged shapes (row tails, k not a multiple of 32, a
    /// last block of fewer than 32 columns), both ways of reading the weights: three parts
    /// within f32 accuracy, one part within bf16's.
    #[test]
    fn amx_bf16_equals_sums_in_f64_on_ragged_shapes() {
        if !super::super::has_amx_bf16() {
            eprintln!("skipped: AMX-BF16 is not in use here ({:?})", amx_state());
            return;
        }
        let mut rng = Seeded::new(9);
        for (rows, k, n) in [
            (1, 1, 1),
            (17, 40, 33),
            (32, 64, 32),
            (49, 768, 70),
            (300, 100, 20),
        ] {
            let w: Vec<f32> = (0..n * k).map(|_| rng.unit() - 0.5).collect();
            let x: Vec<f32> = (0..rows * k).map(|_| rng.unit() - 0.5).collect();
            for (parts, tolerance) in [(Bf16Parts::Three, 2e-6), (Bf16Parts::One, 2e-2)] {
                for transposed in [false, true] {
                    // The same W, from a [n, k] matrix or from its transpose [k, n].
                    let (source, strides) = if transposed {
                        let t: Vec<f32> = (0..k * n).map(|j| w[(j % n) * k + j / n]).collect();
                        (t, (1, n))
                    } else {
                        (w.clone(), (k, 1))
                    };
                    let packed = PackedBf16::new(&source, n, k, strides, parts);
                    let a = split_rows(&x, rows, k, k, packed.padded_k(), parts);
                    let mut out = vec![f32::NAN; rows * n];
                    let sink = F32Out::new(Output(out.as_mut_ptr()), n, n);
                    gemm_bf16(&a, &packed, &sink);
                    for r in 0..rows {
                        for c in 0..n {
                            let want: f64 = (0..k)
                                .map(|i| x[r * k + i] as f64 * w[c * k + i] as f64)
                                .sum();
                            let got = out[r * n + c] as f64;
                            assert!(
                                (got - want).abs() <= tolerance * (k as f64).sqrt(),
                                "{parts:?} {rows} x {k} x {n} at {r}, {c}: {got} vs {want}"
                            );
                        }
                    }
                }
            }
        }
    }
}
