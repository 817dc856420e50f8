//! Where the sums of a product go as each register tile finishes: straight into the layer's f32
//! output through the int8 epilogue ([`Dequantize`]: zero points, scales, bias, and the
//! activation that follows the layer), so no i32 copy of the whole product is ever written, or
//! as they are (`RawSums`, for the kernel tests).

use multiversion::multiversion;

use super::ops::{gelu_erf_value, gelu_tanh_value, max};
use crate::config::Activation;

/// Columns a sink takes at a time: one register tile's 16-column half.
pub(crate) const SINK_COLS: usize = 16;

/// A raw output pointer shared by the tasks of one product; each writes its own columns.
pub(crate) struct Output<T>(pub(crate) *mut T);
impl<T> Clone for Output<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Output<T> {}
// SAFETY: tasks write disjoint column ranges of the output (see the kernels' loops).
unsafe impl<T> Send for Output<T> {}
unsafe impl<T> Sync for Output<T> {}

impl<T> Output<T> {
    /// The output `count` values further on (a method, so closures capture the whole
    /// `Output`).
    pub(crate) fn offset(self, count: usize) -> Self {
        Self(self.0.wrapping_add(count))
    }
}

#[cfg(any(target_arch = "x86_64", test))]
impl<T: Copy> Output<T> {
    /// Writes the sums of a register tile, rows from `row`, to column block `block` (of
    /// [`SINK_COLS`]) of the `n`-column output (a method, so closures capture the whole
    /// `Output`).
    ///
    /// # Safety
    /// `row + sums.len()` must not pass the output's rows and no other task may write these
    /// values.
    pub(crate) unsafe fn store(self, sums: &[[T; SINK_COLS]], row: usize, n: usize, block: usize) {
        let columns = (n - block * SINK_COLS).min(SINK_COLS);
        for (r, sums) in sums.iter().enumerate() {
            // SAFETY: the caller keeps the row inside the output; the columns end at `n`.
            unsafe {
                std::ptr::copy_nonoverlapping(
                    sums.as_ptr(),
                    self.0.wrapping_add((row + r) * n + block * SINK_COLS),
                    columns,
                );
            }
        }
    }
}

/// Takes an int8 product's i32 sums as the kernel makes them.
pub(crate) trait Int8Sink: Sync {
    /// Columns of the product.
    fn columns(&self) -> usize;

    /// Takes the sums of rows `row..row + sums.len()` and columns `block * 16..` (16, or fewer
    /// at the last block).
    ///
    /// # Safety
    /// The rows and columns lie inside the product, and no other task writes them at the same
    /// time.
    unsafe fn put(&self, sums: &[[i32; SINK_COLS]], row: usize, block: usize);
}

/// The sums themselves, in a `rows x n` i32 buffer.
#[cfg(test)]
pub(crate) struct RawSums {
    out: Output<i32>,
    n: usize,
}

#[cfg(test)]
impl RawSums {
    /// A sink writing into `out`, `n` sums per row.
    pub(crate) fn new(out: &mut [i32], n: usize) -> Self {
        Self {
            out: Output(out.as_mut_ptr()),
            n,
        }
    }
}

#[cfg(test)]
impl Int8Sink for RawSums {
    fn columns(&self) -> usize {
        self.n
    }

    unsafe fn put(&self, sums: &[[i32; SINK_COLS]], row: usize, block: usize) {
        // SAFETY: the caller's guarantee.
        unsafe { self.out.store(sums, row, self.n, block) }
    }
}

/// The int8 layer's epilogue, `out = act((sum - zero * sum(w)) * row_scale * scale + bias)`,
/// into a `rows x n` f32 output whose every value a product writes exactly once.
pub(crate) struct Dequantize<'a> {
    pub(crate) out: Output<f32>,
    /// Per row of the product: the activations' scale and zero point.
    pub(crate) row_scales: &'a [f32],
    pub(crate) zero_points: &'a [u8],
    /// Per column: the weights' scale, their codes' sum, the bias.
    pub(crate) scales: &'a [f32],
    pub(crate) code_sums: &'a [i32],
    pub(crate) bias: &'a [f32],
    /// The activation that follows the layer, if it is applied here.
    pub(crate) activation: Option<Activation>,
}

impl Dequantize<'_> {
    /// Writes row `row` of the output, columns `first..first + sums.len()`, from their sums
    /// (the rten-gemm path, whole rows at a time).
    ///
    /// # Safety
    /// As [`Int8Sink::put`].
    pub(crate) unsafe fn row(&self, sums: &[i32], row: usize, first: usize) {
        for (block, sums) in sums.chunks(SINK_COLS).enumerate() {
            let mut padded = [0i32; SINK_COLS];
            padded[..sums.len()].copy_from_slice(sums);
            // SAFETY: the caller's guarantee.
            unsafe { self.put(&[padded], row, first / SINK_COLS + block) };
        }
    }
}

impl Int8Sink for Dequantize<'_> {
    fn columns(&self) -> usize {
        self.scales.len()
    }

    unsafe fn put(&self, sums: &[[i32; SINK_COLS]], row: usize, block: usize) {
        let n = self.scales.len();
        let first = block * SINK_COLS;
        let columns = first..first + (n - first).min(SINK_COLS);
        let rows = row..row + sums.len();
        #[cfg(target_arch = "x86_64")]
        if super::x86_64::has_avx512f() {
            // SAFETY: AVX-512F is there; as below.
            return unsafe {
                super::x86_64::dequantize_tile_avx512(
                    self.out.0.wrapping_add(row * n + first),
                    n,
                    sums,
                    &self.zero_points[rows.clone()],
                    &self.row_scales[rows],
                    (
                        &self.scales[columns.clone()],
                        &self.code_sums[columns.clone()],
                        &self.bias[columns],
                    ),
                    self.activation,
                )
            };
        }
        // The per-column values of these 16 columns; past `n` (the last block), zeros whose
        // results are not written.
        let params = (
            sixteen(&self.scales[columns.clone()]),
            sixteen(&self.code_sums[columns.clone()]),
            sixteen(&self.bias[columns.clone()]),
        );
        let columns = columns.len();
        // SAFETY: the caller keeps these rows and columns inside the output and writes them
        // alone.
        unsafe {
            dequantize_tile(
                self.out.0.wrapping_add(row * n + first),
                n,
                columns,
                sums,
                &self.zero_points[rows.clone()],
                &self.row_scales[rows],
                &params,
                self.activation,
            )
        }
    }
}

/// `values` (at most 16) padded with zeros to 16.
fn sixteen<T: Copy + Default>(values: &[T]) -> [T; SINK_COLS] {
    match values.try_into() {
        Ok(whole) => whole,
        Err(_) => {
            let mut padded = [T::default(); SINK_COLS];
            padded[..values.len()].copy_from_slice(values);
            padded
        }
    }
}

/// The per-column values of 16 columns of the epilogue: weight scales, sums of codes, biases.
pub(crate) type ColumnParams = ([f32; SINK_COLS], [i32; SINK_COLS], [f32; SINK_COLS]);

/// Applies `activation` to 16 values (compiled into each caller's instruction set).
#[inline(always)]
pub(crate) fn activate_16(values: &mut [f32; SINK_COLS], activation: Option<Activation>) {
    match activation {
        None => {}
        Some(Activation::GeluErf) => values.iter_mut().for_each(|v| *v = gelu_erf_value(*v)),
        Some(Activation::GeluTanh) => values.iter_mut().for_each(|v| *v = gelu_tanh_value(*v)),
        Some(Activation::Relu) => values.iter_mut().for_each(|v| *v = max(*v, 0.0)),
    }
}

/// The epilogue of a register tile's rows, 16 columns each, written from `out` on (row
/// stride `n`, `columns` of the 16 values per row). The same operations in the same order
/// whichever version runs (no fused multiply-add), so every kernel and thread count gives the
/// same bits.
///
/// # Safety
/// `out` points at `sums.len()` rows of at least `columns` writable values, `n` apart.
#[allow(clippy::too_many_arguments)]
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
unsafe fn dequantize_tile(
    out: *mut f32,
    n: usize,
    columns: usize,
    sums: &[[i32; SINK_COLS]],
    zero_points: &[u8],
    row_scales: &[f32],
    (scales, code_sums, bias): &ColumnParams,
    activation: Option<Activation>,
) {
    for (r, ((sums, &zero), &row_scale)) in sums.iter().zip(zero_points).zip(row_scales).enumerate()
    {
        let zero = zero as i32;
        let mut values = [0f32; SINK_COLS];
        for c in 0..SINK_COLS {
            values[c] = (sums[c] - zero * code_sums[c]) as f32 * (row_scale * scales[c]) + bias[c];
        }
        activate_16(&mut values, activation);
        // SAFETY: the caller's guarantee: this row has `columns` values to write.
        unsafe { write_16(out.wrapping_add(r * n), &values, columns) };
    }
}

/// Takes a product's f32 sums as the kernel makes them (the AMX bf16 kernel).
#[cfg(target_arch = "x86_64")]
pub(crate) trait F32Sink: Sync {
    /// Columns of the product.
    fn columns(&self) -> usize;

    /// Takes the sums of rows `row..row + sums.len()` and columns `block * 16..` (16, or fewer
    /// at the last block).
    ///
    /// # Safety
    /// As [`Int8Sink::put`].
    unsafe fn put(&self, sums: &[[f32; SINK_COLS]], row: usize, block: usize);
}

/// f32 sums into an output of `columns` values per row, `stride` apart:
/// `act(sum * scale + bias)`, each step where given.
#[cfg(target_arch = "x86_64")]
pub(crate) struct F32Out<'a> {
    out: Output<f32>,
    stride: usize,
    columns: usize,
    scale: Option<f32>,
    bias: Option<&'a [f32]>,
    activation: Option<Activation>,
}

#[cfg(target_arch = "x86_64")]
impl<'a> F32Out<'a> {
    /// The sums as they are.
    pub(crate) fn new(out: Output<f32>, stride: usize, columns: usize) -> Self {
        Self {
            out,
            stride,
            columns,
            scale: None,
            bias: None,
            activation: None,
        }
    }

    /// Each sum times `scale`.
    pub(crate) fn scaled(self, scale: f32) -> Self {
        Self {
            scale: Some(scale),
            ..self
        }
    }

    /// Each sum plus its column's `bias`, then `activation`.
    pub(crate) fn biased(self, bias: &'a [f32], activation: Option<Activation>) -> Self {
        Self {
            bias: Some(bias),
            activation,
            ..self
        }
    }
}

#[cfg(target_arch = "x86_64")]
impl F32Sink for F32Out<'_> {
    fn columns(&self) -> usize {
        self.columns
    }

    unsafe fn put(&self, sums: &[[f32; SINK_COLS]], row: usize, block: usize) {
        let first = block * SINK_COLS;
        let columns = (self.columns - first).min(SINK_COLS);
        let bias = self.bias.map(|b| &b[first..first + columns]);
        // SAFETY: the caller keeps these rows and columns inside the output and writes them
        // alone.
        unsafe {
            finish_tile(
                self.out.0.wrapping_add(row * self.stride + first),
                self.stride,
                columns,
                sums,
                self.scale,
                bias,
                self.activation,
            )
        }
    }
}

/// The steps of [`F32Out`] on a register tile's rows of 16 sums, written from `out` on (row
/// stride `stride`, `columns` of the 16 values per row). AVX-512 only: the AMX kernels that
/// feed this sink run on CPUs that all have it (a `multiversion` dispatcher here copied its
/// arguments with `memcpy`, 6% of a 512-token text).
///
/// # Safety
/// AVX-512F is there; `out` points at `sums.len()` rows of at least `columns` writable values,
/// `stride` apart; `bias`, if any, holds `columns` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx2,fma")]
unsafe fn finish_tile(
    out: *mut f32,
    stride: usize,
    columns: usize,
    sums: &[[f32; SINK_COLS]],
    scale: Option<f32>,
    bias: Option<&[f32]>,
    activation: Option<Activation>,
) {
    use std::arch::x86_64::*;
    let mask: __mmask16 = if columns >= SINK_COLS {
        !0
    } else {
        ((1u32 << columns) - 1) as __mmask16
    };
    // SAFETY: a masked load of the `columns` values `bias` holds.
    let bias = bias.map(|b| unsafe { _mm512_maskz_loadu_ps(mask, b.as_ptr()) });
    let scale = scale.map(|s| _mm512_set1_ps(s));
    for (r, sums) in sums.iter().enumerate() {
        // SAFETY: 16 values of the row.
        let mut value = unsafe { _mm512_loadu_ps(sums.as_ptr()) };
        if let Some(scale) = scale {
            value = _mm512_mul_ps(value, scale);
        }
        if let Some(bias) = bias {
            value = _mm512_add_ps(value, bias);
        }
        if activation.is_some() {
            let mut values = [0f32; SINK_COLS];
            // SAFETY: 16 values of a local array, stored then loaded.
            unsafe { _mm512_storeu_ps(values.as_mut_ptr(), value) };
            activate_16(&mut values, activation);
            value = unsafe { _mm512_loadu_ps(values.as_ptr()) };
        }
        // SAFETY: the caller's guarantee: this row has `columns` values to write.
        unsafe { _mm512_mask_storeu_ps(out.wrapping_add(r * stride), mask, value) };
    }
}

/// Writes the first `columns` of 16 values at `to`: one unaligned store when all 16 are.
///
/// # Safety
/// `to` has room for `columns` values.
#[inline(always)]
unsafe fn write_16(to: *mut f32, values: &[f32; SINK_COLS], columns: usize) {
    // SAFETY: the caller's guarantee.
    unsafe {
        if columns == SINK_COLS {
            to.cast::<[f32; SINK_COLS]>().write_unaligned(*values);
        } else {
            std::ptr::copy_nonoverlapping(values.as_ptr(), to, columns);
        }
    }
}
