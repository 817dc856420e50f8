//! The compute kernels the model runs on: dense layers (`Linear`, f32 or int8), the attention
//! products, and the element-wise steps (LayerNorm, GELU, softmax).
//!
//! The matrix products are rten-gemm's (packed, register-tiled and cache-blocked kernels for
//! f32 and for u8 x i8 -> i32, chosen at run time for the CPU: AVX-512 with or without VNNI,
//! AVX2 + FMA, Arm NEON / dot / i8mm, wasm simd128; split over rayon's threads), except where
//! our own measured faster: f32 and int8 on x86-64 with AVX2, int8 on x86-64 with AVX-512 VNNI
//! (`x86_64.rs`), and int8 in wasm (`wasm32.rs`, relaxed SIMD or simd128, fixed by the build).
//! The int8 ones share one weight layout (`tiled.rs`: 16-column blocks, 32 for VNNI). The model code only sees [`Linear`] and the functions here, not
//! which kernel runs.
//!
//! Why our own forward pass rather than candle's tensor ops (see the native-speed issue): at
//! 32 tokens candle's model spends more time outside the matrix products (reshapes, copies,
//! broadcast masks, a libm `erf` per element) than in them, and pads every batch to its longest
//! text. Here every text's tokens are packed one after another, attention runs per text and head
//! on exactly its own tokens, and no padding is ever computed.

mod ops;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod tiled;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub(crate) use ops::clamp;
use ops::ROWS_PER_TASK;
pub(crate) use ops::{gelu_erf, gelu_tanh, layer_norm, relu, softmax_in_place};
use ops::{max, min};

use std::sync::OnceLock;

use multiversion::multiversion;
use rayon::prelude::*;
use rten_gemm::{
    BiasVector, GemmExecutor, GemmInputA, GemmInputB, GemmUninitOptions, PackedBMatrix,
};
use rten_tensor::{Matrix, NdTensorView};

use crate::error::{Error, Result};

thread_local! {
    // An executor holds its kernel as a `Box<dyn Kernel>` that is neither Send nor Sync, so each
    // thread makes its own (cheap: a CPU feature check). Every thread picks the same kernel, so
    // matrices packed on one thread are multiplied correctly on any other.
    static F32_GEMM: GemmExecutor<f32> = GemmExecutor::default();
    static INT8_GEMM: GemmExecutor<u8, i8, i32> = GemmExecutor::default();
}

fn f32_gemm<R>(f: impl FnOnce(&GemmExecutor<f32>) -> R) -> R {
    F32_GEMM.with(f)
}

fn int8_gemm<R>(f: impl FnOnce(&GemmExecutor<u8, i8, i32>) -> R) -> R {
    INT8_GEMM.with(f)
}

/// Whether our own f32 tile multiplies the dense layers: the AVX-512 one wherever AVX-512F is
/// there (measured ahead of rten-gemm's AVX-512 kernel on Zen 5, see `x86_64.rs`); the AVX2 +
/// FMA one where rten-gemm would use its own AVX2 + FMA kernel (ours gave a 10-25% lower
/// 32-token latency on Zen 3).
fn own_f32_kernel() -> bool {
    static OWN: OnceLock<bool> = OnceLock::new();
    *OWN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if x86_64::available_f32_avx512() {
            return true;
        }
        #[cfg(target_arch = "x86_64")]
        if x86_64::available_f32() {
            return f32_gemm(|g| g.kernel_name() == "x86_64-f32-fma");
        }
        false
    })
}

/// Whether our own int8 tile multiplies the int8 layers. On x86-64: with AVX-512 VNNI, our VNNI
/// tile (`x86_64::gemm_vnni`, measured ahead of rten-gemm's on Zen 5); otherwise only where
/// rten-gemm would use its own AVX2 int8 kernel (measured about half as fast on Zen 3): on
/// AVX-512 CPUs without VNNI rten-gemm's kernel runs. In wasm: always (see `wasm32.rs`).
fn own_int8_kernel() -> bool {
    static OWN: OnceLock<bool> = OnceLock::new();
    *OWN.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if x86_64::available_vnni() {
            return true;
        }
        #[cfg(target_arch = "x86_64")]
        if x86_64::available() {
            return int8_gemm(|g| g.kernel_name() == "x86_64-u8i8i32-avx2");
        }
        cfg!(all(target_arch = "wasm32", target_feature = "simd128"))
    })
}

/// Whether our int8 tile is the AVX-512 VNNI one, which takes activations in all of 0..=255.
fn own_vnni_kernel() -> bool {
    #[cfg(target_arch = "x86_64")]
    return own_int8_kernel() && x86_64::available_vnni();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// The name of our f32 kernel on this CPU (x86-64 only).
fn own_f32_kernel_name() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    if x86_64::available_f32_avx512() {
        return "xlmr-sentiment-f32-avx512";
    }
    "xlmr-sentiment-f32-avx2-fma"
}

/// The name of our int8 kernel on this target.
fn own_int8_kernel_name() -> &'static str {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm32::INT8_KERNEL_NAME;
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    if own_vnni_kernel() {
        "xlmr-sentiment-u8i8i32-avx512-vnni"
    } else {
        "xlmr-sentiment-u8i8i32-avx2"
    }
}

/// The names of the f32 and int8 kernels this CPU runs (reported by `xlmr-sentiment bench`).
pub fn kernel_names() -> (String, String) {
    let (own_f32, own_int8) = (own_f32_kernel(), own_int8_kernel());
    (
        if own_f32 {
            own_f32_kernel_name().to_string()
        } else {
            f32_gemm(|g| g.kernel_name().to_string())
        },
        if own_int8 {
            own_int8_kernel_name().to_string()
        } else {
            int8_gemm(|g| g.kernel_name().to_string())
        },
    )
}

/// Largest activation code. Our AVX2 kernel and rten-gemm's x86 kernels without VNNI multiply
/// with `vpmaddubsw`, which adds two u8 x i8 products into an i16 and saturates: with
/// activations kept in 0..=127 the pair sum is at most 2 x 127 x 128 = 32,512 < 32,767, so it
/// never does (rten-gemm's `may_saturate`; ONNX Runtime's `reduce_range` is the same trade on
/// the weight side). Our wasm kernels need 0..=127 too (relaxed SIMD's i7 operand). VNNI's
/// `vpdpbusd` has no i16 step, so our VNNI kernel takes 0..=255 (sums stay below
/// 3,072 x 255 x 127 < 2^31). The limit follows the kernel that actually runs.
fn activation_max() -> u8 {
    static MAX: OnceLock<u8> = OnceLock::new();
    *MAX.get_or_init(|| {
        if own_vnni_kernel() {
            255
        } else if own_int8_kernel() || int8_gemm(|g| g.may_saturate()) {
            127
        } else {
            255
        }
    })
}

fn gemm_error(error: impl std::fmt::Display) -> Error {
    Error::Inference(candle_core::Error::Msg(format!("matrix product: {error}")))
}

/// `data` as a `rows x cols` row-major matrix (generic over f32, u8 and i8).
fn matrix<T>(data: &[T], rows: usize, cols: usize) -> Result<Matrix<'_, T>> {
    let values = data.get(..rows * cols).ok_or_else(|| {
        gemm_error(format!(
            "a {rows} x {cols} matrix needs {} values, not {}",
            rows * cols,
            data.len()
        ))
    })?;
    Ok(NdTensorView::from_data([rows, cols], values))
}

/// `rows x cols` view of `data` starting at `offset`, with the given row and column strides.
fn strided(
    data: &[f32],
    offset: usize,
    rows: usize,
    cols: usize,
    strides: [usize; 2],
) -> Result<Matrix<'_>> {
    NdTensorView::from_slice_with_strides([rows, cols], &data[offset..], strides)
        .map_err(|e| gemm_error(format!("{rows} x {cols} view: {e:?}")))
}

/// int8 weights in the layout of the kernel that multiplies them.
enum Int8Packing {
    /// rten-gemm's kernels (Arm, x86 without AVX2 or with AVX-512).
    Rten(PackedBMatrix<i8>),
    /// Our kernels (`x86_64.rs`, `wasm32.rs`).
    #[cfg(any(
        target_arch = "x86_64",
        all(target_arch = "wasm32", target_feature = "simd128")
    ))]
    Tiled(tiled::PackedInt8),
}

/// f32 weights in the layout of the kernel that multiplies them.
enum F32Packing {
    /// rten-gemm's kernels.
    Rten(PackedBMatrix<f32>),
    /// Our AVX2 + FMA kernel (`x86_64.rs`).
    #[cfg(target_arch = "x86_64")]
    Avx2(x86_64::PackedF32),
}

enum Weight {
    F32(F32Packing),
    /// Symmetric int8, one scale per output feature, and each feature's sum of codes (for the
    /// activations' zero points).
    Int8 {
        packed: Int8Packing,
        scales: Vec<f32>,
        code_sums: Vec<i32>,
    },
}

/// A dense layer `y = x W^T + b` with `W` stored as `[out, in]` (PyTorch's `nn.Linear`), packed
/// once at load into the layout of the kernel that multiplies it.
pub(crate) struct Linear {
    weight: Weight,
    bias: Vec<f32>,
    in_dim: usize,
    out_dim: usize,
}

impl std::fmt::Debug for Linear {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match self.weight {
            Weight::F32(_) => "f32",
            Weight::Int8 { .. } => "int8",
        };
        write!(f, "Linear({} -> {}, {kind})", self.in_dim, self.out_dim)
    }
}

impl Linear {
    /// An f32 layer from `weight` (`[out, in]`, row-major) and `bias` (`[out]`).
    pub(crate) fn f32(
        weight: &[f32],
        bias: Vec<f32>,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self> {
        check_bias(&bias, out_dim)?;
        let w = matrix(weight, out_dim, in_dim)?;
        #[cfg(target_arch = "x86_64")]
        let packed = if own_f32_kernel() {
            F32Packing::Avx2(x86_64::PackedF32::new(weight, out_dim, in_dim))
        } else {
            F32Packing::Rten(f32_gemm(|g| g.prepack_b(w.transposed())))
        };
        #[cfg(not(target_arch = "x86_64"))]
        let packed = F32Packing::Rten(f32_gemm(|g| g.prepack_b(w.transposed())));
        Ok(Self {
            weight: Weight::F32(packed),
            bias,
            in_dim,
            out_dim,
        })
    }

    /// An int8 layer from f32 `weight` (`[out, in]`): each output feature's row is quantized
    /// symmetrically to -127..=127 with its own scale (per-channel, as ONNX Runtime's and
    /// PyTorch's dynamic quantization do for per-channel weights).
    pub(crate) fn int8(
        weight: &[f32],
        bias: Vec<f32>,
        in_dim: usize,
        out_dim: usize,
    ) -> Result<Self> {
        if weight.len() != in_dim * out_dim {
            return Err(gemm_error(format!(
                "{out_dim} x {in_dim} weight has {} values",
                weight.len()
            )));
        }
        let mut rows = Int8Rows::new(in_dim, out_dim);
        for row in weight.chunks_exact(in_dim.max(1)) {
            rows.push(row);
        }
        Self::int8_from_rows(rows, bias)
    }

    /// An int8 layer from rows quantized one by one as they were decoded (see [`Int8Rows`]).
    pub(crate) fn int8_from_rows(rows: Int8Rows, bias: Vec<f32>) -> Result<Self> {
        let Int8Rows {
            codes,
            scales,
            code_sums,
            in_dim,
        } = rows;
        let out_dim = scales.len();
        check_bias(&bias, out_dim)?;
        let packed = match own_int8_kernel() {
            #[cfg(any(
                target_arch = "x86_64",
                all(target_arch = "wasm32", target_feature = "simd128")
            ))]
            true => Int8Packing::Tiled(pack_tiled(&codes, out_dim, in_dim)),
            _ => {
                let w = matrix(&codes, out_dim, in_dim)?;
                Int8Packing::Rten(int8_gemm(|g| g.prepack_b(w.transposed())))
            }
        };
        Ok(Self {
            weight: Weight::Int8 {
                packed,
                scales,
                code_sums,
            },
            bias,
            in_dim,
            out_dim,
        })
    }

    pub(crate) fn out_dim(&self) -> usize {
        self.out_dim
    }

    /// `x` is `[rows, in]`; returns `[rows, out]`.
    pub(crate) fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        if x.len() != rows * self.in_dim {
            return Err(gemm_error(format!(
                "input of {} values for {rows} rows of {}",
                x.len(),
                self.in_dim
            )));
        }
        let mut out = Vec::with_capacity(rows * self.out_dim);
        match &self.weight {
            Weight::F32(F32Packing::Rten(packed)) => {
                let a = matrix(x, rows, self.in_dim)?;
                f32_gemm(|g| {
                    g.gemm_uninit(
                        &mut out.spare_capacity_mut()[..rows * self.out_dim],
                        GemmInputA::Unpacked(a),
                        GemmInputB::Packed(packed),
                        GemmUninitOptions {
                            bias: Some(BiasVector::Row(&self.bias)),
                            ..Default::default()
                        },
                    )
                    .map(|_| ())
                })
                .map_err(gemm_error)?;
                // SAFETY: gemm_uninit initialised all rows * out_dim values.
                unsafe { out.set_len(rows * self.out_dim) };
            }
            #[cfg(target_arch = "x86_64")]
            Weight::F32(F32Packing::Avx2(packed)) => {
                out.resize(rows * self.out_dim, 0.0);
                x86_64::gemm_f32(x, rows, packed, &mut out);
                add_bias(&mut out, &self.bias);
            }
            Weight::Int8 {
                packed,
                scales,
                code_sums,
            } => {
                let (codes, row_scales, zero_points) = quantize_rows(x, rows, self.in_dim);
                let mut acc: Vec<i32> = Vec::with_capacity(rows * self.out_dim);
                match packed {
                    Int8Packing::Rten(packed) => {
                        let a = matrix(&codes, rows, self.in_dim)?;
                        int8_gemm(|g| {
                            g.gemm_uninit(
                                &mut acc.spare_capacity_mut()[..rows * self.out_dim],
                                GemmInputA::Unpacked(a),
                                GemmInputB::Packed(packed),
                                // No `a_quant`: rten-gemm 0.27 packs the zero points of every
                                // full 6-row panel from the first panel's (`pack_a_impl` reads
                                // `zp[r]`, not `zp[panel * MR + r]`), which gave wrong rows in
                                // tests. The zero points are subtracted below instead:
                                // sum((q - z) w) = sum(q w) - z sum(w).
                                GemmUninitOptions::default(),
                            )
                            .map(|_| ())
                        })
                        .map_err(gemm_error)?;
                        // SAFETY: gemm_uninit initialised all rows * out_dim values.
                        unsafe { acc.set_len(rows * self.out_dim) };
                    }
                    #[cfg(any(
                        target_arch = "x86_64",
                        all(target_arch = "wasm32", target_feature = "simd128")
                    ))]
                    Int8Packing::Tiled(packed) => {
                        acc.resize(rows * self.out_dim, 0);
                        let kp = packed.padded_k();
                        if kp == self.in_dim {
                            tiled_gemm(&codes, rows, packed, &mut acc);
                        } else {
                            let mut padded = vec![0u8; rows * kp];
                            for (to, from) in padded
                                .chunks_exact_mut(kp)
                                .zip(codes.chunks_exact(self.in_dim))
                            {
                                to[..self.in_dim].copy_from_slice(from);
                            }
                            tiled_gemm(&padded, rows, packed, &mut acc);
                        }
                    }
                }
                // Zero-filled, then every value overwritten: the epilogue applies the zero points,
                // the row and feature scales and the bias.
                out.resize(rows * self.out_dim, 0.0);
                let n = self.out_dim;
                out.par_chunks_mut(n * ROWS_PER_TASK)
                    .zip(acc.par_chunks(n * ROWS_PER_TASK))
                    .enumerate()
                    .for_each(|(task, (out_rows, acc_rows))| {
                        let first = task * ROWS_PER_TASK;
                        let rows_here = out_rows.len() / n;
                        dequantize_rows(
                            out_rows,
                            acc_rows,
                            &row_scales[first..first + rows_here],
                            &zero_points[first..first + rows_here],
                            scales,
                            code_sums,
                            &self.bias,
                        );
                    });
            }
        }
        Ok(out)
    }
}

/// int8 weights packed for our kernel on this target.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn pack_tiled(codes: &[i8], n: usize, k: usize) -> tiled::PackedInt8 {
    #[cfg(target_arch = "x86_64")]
    return if own_vnni_kernel() {
        x86_64::pack_vnni(codes, n, k)
    } else {
        tiled::PackedInt8::new(codes, n, k)
    };
    #[cfg(target_arch = "wasm32")]
    return wasm32::pack(codes, n, k);
}

/// Our int8 product on this target.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn tiled_gemm(a: &[u8], rows: usize, packed: &tiled::PackedInt8, out: &mut [i32]) {
    #[cfg(target_arch = "x86_64")]
    if own_vnni_kernel() {
        x86_64::gemm_vnni(a, rows, packed, out);
    } else {
        x86_64::gemm(a, rows, packed, out);
    }
    #[cfg(target_arch = "wasm32")]
    wasm32::gemm(a, rows, packed, out);
}

/// Quantizes one output feature's weights symmetrically to -127..=127 and returns the scale:
/// `code = round(w / scale)`, rounding half away from zero (`f32::round`), `scale = max|w| / 127`.
///
/// Written without `f32::round`, `min`, `max` or `clamp`, which are libm calls per value in wasm
/// (and `round` on x86-64 without SSE4.1): this loop took a quarter of a q8_0 bundle's load
/// in Chromium. `trunc`, `abs` and `copysign` are single wasm instructions, so it vectorises, and
/// the codes are the same as `(w / scale).round().clamp(-127.0, 127.0)`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn quantize_weight_row(row: &[f32], out: &mut [i8]) -> f32 {
    let scale = weight_scale(row.iter().fold(0f32, |m, &v| max(m, v.abs())));
    for (q, &v) in out.iter_mut().zip(row) {
        *q = weight_code(v, scale);
    }
    scale
}

/// The scale of a row whose largest magnitude is `largest` (1 for a row of zeros).
#[inline(always)]
fn weight_scale(largest: f32) -> f32 {
    if largest > 0.0 {
        largest / 127.0
    } else {
        1.0
    }
}

/// One weight's code (see [`quantize_weight_row`]).
#[inline(always)]
fn weight_code(v: f32, scale: f32) -> i8 {
    let x = v / scale;
    let whole = x.trunc();
    let rounded = if (x - whole).abs() >= 0.5 {
        whole + 1f32.copysign(x)
    } else {
        whole
    };
    clamp(rounded, -127.0, 127.0) as i8
}

/// [`quantize_weight_row`], plus the sum of the codes: with explicit simd128 in wasm, where the
/// compiler leaves the loop scalar (it was a fifth of a q8_0 bundle's load in V8).
fn quantize_weight_row_and_sum(row: &[f32], out: &mut [i8]) -> (f32, i32) {
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return wasm32::quantize_weight_row_and_sum(row, out);
    #[cfg(not(all(target_arch = "wasm32", target_feature = "simd128")))]
    {
        let scale = quantize_weight_row(row, out);
        (scale, out.iter().map(|&q| q as i32).sum())
    }
}

/// The rows of an int8 weight matrix, each quantized as it is pushed (per-row scale, see
/// [`Linear::int8`]), so a caller decoding another format (a bundle's Q8_0 blocks) needs one
/// f32 row at a time, not the whole matrix.
pub(crate) struct Int8Rows {
    codes: Vec<i8>,
    scales: Vec<f32>,
    code_sums: Vec<i32>,
    in_dim: usize,
}

impl Int8Rows {
    /// Room for `out_dim` rows of `in_dim` values.
    pub(crate) fn new(in_dim: usize, out_dim: usize) -> Self {
        Self {
            codes: Vec::with_capacity(in_dim * out_dim),
            scales: Vec::with_capacity(out_dim),
            code_sums: Vec::with_capacity(out_dim),
            in_dim,
        }
    }

    /// Quantizes the next row (`in_dim` values).
    pub(crate) fn push(&mut self, row: &[f32]) {
        debug_assert_eq!(row.len(), self.in_dim);
        let start = self.codes.len();
        self.codes.resize(start + row.len(), 0);
        let out = &mut self.codes[start..];
        let (scale, code_sum) = quantize_weight_row_and_sum(row, out);
        self.scales.push(scale);
        self.code_sums.push(code_sum);
    }

    /// Quantizes the next `count` rows, split over rayon's threads: `decode(i, row)` writes row
    /// `i` (of these) into `row` (`in_dim` values).
    pub(crate) fn push_decoded(&mut self, count: usize, decode: impl Fn(usize, &mut [f32]) + Sync) {
        let k = self.in_dim;
        if k == 0 {
            (0..count).for_each(|_| self.push(&[]));
            return;
        }
        let (codes_start, rows_start) = (self.codes.len(), self.scales.len());
        self.codes.resize(codes_start + count * k, 0);
        self.scales.resize(rows_start + count, 0.0);
        self.code_sums.resize(rows_start + count, 0);
        self.codes[codes_start..]
            .par_chunks_mut(k)
            .zip(self.scales[rows_start..].par_iter_mut())
            .zip(self.code_sums[rows_start..].par_iter_mut())
            .enumerate()
            .with_min_len(16)
            .for_each_init(
                || vec![0f32; k],
                |row, (i, ((codes, scale), code_sum))| {
                    decode(i, row);
                    (*scale, *code_sum) = quantize_weight_row_and_sum(row, codes);
                },
            );
    }
}

/// Adds `bias` to every row of `x`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn add_bias(x: &mut [f32], bias: &[f32]) {
    for row in x.chunks_exact_mut(bias.len()) {
        for (v, b) in row.iter_mut().zip(bias) {
            *v += b;
        }
    }
}

/// The int8 epilogue for a run of rows: `out = (acc - zero * sum(w)) * row_scale * scale + b`.
#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn dequantize_rows(
    out: &mut [f32],
    acc: &[i32],
    row_scales: &[f32],
    zero_points: &[u8],
    scales: &[f32],
    code_sums: &[i32],
    bias: &[f32],
) {
    let n = scales.len();
    for (((out_row, acc_row), &row_scale), &zero) in out
        .chunks_exact_mut(n)
        .zip(acc.chunks_exact(n))
        .zip(row_scales)
        .zip(zero_points)
    {
        let zero = zero as i32;
        for ((((o, &v), &s), &sum), &b) in out_row
            .iter_mut()
            .zip(acc_row)
            .zip(scales)
            .zip(code_sums)
            .zip(bias)
        {
            *o = (v - zero * sum) as f32 * (row_scale * s) + b;
        }
    }
}

fn check_bias(bias: &[f32], out_dim: usize) -> Result<()> {
    if bias.len() != out_dim {
        return Err(gemm_error(format!(
            "bias of {} values for {out_dim} outputs",
            bias.len()
        )));
    }
    Ok(())
}

/// Dynamic asymmetric quantization of activations, one scale and zero point per row (token):
/// `x ~= (q - zero) * scale`, with 0.0 exactly representable so padding-free rows stay exact.
fn quantize_rows(x: &[f32], rows: usize, cols: usize) -> (Vec<u8>, Vec<f32>, Vec<u8>) {
    let top = activation_max() as f32;
    let mut codes = vec![0u8; rows * cols];
    let mut params = vec![(1f32, 0u8); rows];
    codes
        .par_chunks_mut(cols * ROWS_PER_TASK)
        .zip(x.par_chunks(cols * ROWS_PER_TASK))
        .zip(params.par_chunks_mut(ROWS_PER_TASK))
        .for_each(|((codes, x), params)| {
            #[cfg(target_arch = "x86_64")]
            if x86_64::available_avx512() {
                return x86_64::quantize_rows_avx512(codes, x, params, cols, top);
            }
            quantize_task(codes, x, params, cols, top)
        });
    let (scales, zeros) = params.into_iter().unzip();
    (codes, scales, zeros)
}

#[multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma"
))]
fn quantize_task(codes: &mut [u8], x: &[f32], params: &mut [(f32, u8)], cols: usize, top: f32) {
    for ((out, row), param) in codes
        .chunks_exact_mut(cols)
        .zip(x.chunks_exact(cols))
        .zip(params.iter_mut())
    {
        let (mut lo, mut hi) = ([0f32; 16], [0f32; 16]);
        for chunk in row.chunks(16) {
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(chunk) {
                *l = min(*l, v);
                *h = max(*h, v);
            }
        }
        let lo = lo.iter().copied().fold(0f32, min);
        let hi = hi.iter().copied().fold(0f32, max);
        let scale = if hi > lo { (hi - lo) / top } else { 1.0 };
        // Rounding as `(x + 0.5) as u8` on values clamped to 0..=top: the same as `round()`
        // there, but a plain conversion instead of a libm call per value on targets without
        // SSE4.1's `roundps`.
        let zero = (clamp(-lo / scale, 0.0, top) + 0.5) as u8;
        let (inverse, offset) = (1.0 / scale, zero as f32 + 0.5);
        for (q, &v) in out.iter_mut().zip(row) {
            *q = clamp(v * inverse + offset, 0.0, top + 0.49) as u8;
        }
        *param = (scale, zero);
    }
}

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

    fn naive(x: &[f32], w: &[f32], b: &[f32], rows: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; rows * n];
        for r in 0..rows {
            for c in 0..n {
                let mut sum = b[c] as f64;
                for i in 0..k {
                    sum += x[r * k + i] as f64 * w[c * k + i] as f64;
                }
                out[r * n + c] = sum as f32;
            }
        }
        out
    }

    fn values(n: usize, seed: u32) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state.wrapping_mul(1664525).wrapping_add(1013904223);
                (state >> 8) as f32 / (1u32 << 24) as f32 * 2.0 - 1.0
            })
            .collect()
    }

    #[test]
    fn f32_linear_matches_naive_product() {
        for (rows, k, n) in [(1, 7, 3), (5, 64, 33), (37, 768, 96)] {
            let (x, w, b) = (values(rows * k, 1), values(n * k, 2), values(n, 3));
            let got = Linear::f32(&w, b.clone(), k, n)
                .unwrap()
                .forward(&x, rows)
                .unwrap();
            let want = naive(&x, &w, &b, rows, k, n);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-4, "{g} vs {w}");
            }
        }
    }

    /// The int8 layer against a scalar reference of the same scheme (per-row u8 activations,
    /// per-channel symmetric i8 weights, exact i32 sums): identical results, on shapes that
    /// are and are not multiples of the kernels' tiles.
    #[test]
    fn int8_linear_equals_scalar_reference_of_its_scheme() {
        for (rows, k, n) in [(1, 3, 1), (9, 256, 40), (17, 100, 33), (64, 768, 96)] {
            let (x, w, b) = (values(rows * k, 4), values(n * k, 5), values(n, 6));
            let got = Linear::int8(&w, b.clone(), k, n)
                .unwrap()
                .forward(&x, rows)
                .unwrap();
            let (codes, row_scales, zeros) = quantize_rows(&x, rows, k);
            let mut want = Vec::new();
            for r in 0..rows {
                for c in 0..n {
                    let wrow = &w[c * k..(c + 1) * k];
                    let max = wrow.iter().fold(0f32, |m, &v| m.max(v.abs()));
                    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                    let sum: i32 = (0..k)
                        .map(|i| {
                            let q = (wrow[i] / scale).round().clamp(-127.0, 127.0) as i32;
                            (codes[r * k + i] as i32 - zeros[r] as i32) * q
                        })
                        .sum();
                    want.push(sum as f32 * (row_scales[r] * scale) + b[c]);
                }
            }
            let differ: Vec<_> = got
                .iter()
                .zip(&want)
                .enumerate()
                .filter(|(_, (g, w))| g != w)
                .take(5)
                .collect();
            assert!(differ.is_empty(), "{rows} x {k} x {n}: {differ:?}");
            // And close to the f32 product: within a few hundredths on sums of hundreds of
            // products of magnitude ~0.3.
            let exact = naive(&x, &w, &b, rows, k, n);
            let worst = got
                .iter()
                .zip(&exact)
                .map(|(g, e)| (g - e).abs())
                .fold(0f32, f32::max);
            assert!(worst < 0.05 * (k as f32).sqrt(), "largest error {worst}");
        }
    }

    /// The vectorisable weight quantization gives `f32::round`'s codes, ties and near-ties
    /// included.
    #[test]
    fn weight_codes_equal_std_rounding() {
        let scale_one = 127.0; // with this largest value, scale is exactly 1
        let mut row = vec![scale_one];
        for base in [0.0f32, 1.0, 2.0, 63.0, 126.0] {
            for x in [
                base + 0.5,
                base + 0.499_999_97,
                base + 0.500_000_1,
                base + 0.25,
                base + 0.75,
            ] {
                row.push(x);
                row.push(-x);
            }
        }
        row.extend([0.0, -0.0, 127.0, -127.0, 1e-30, -1e-30]);
        row.extend(values(1000, 9).iter().map(|v| v * 127.0));
        let mut codes = vec![0i8; row.len()];
        let scale = quantize_weight_row(&row, &mut codes);
        assert_eq!(scale, 1.0);
        for (&v, &q) in row.iter().zip(&codes) {
            assert_eq!(q, (v / scale).round().clamp(-127.0, 127.0) as i8, "{v}");
        }
    }

    /// The row quantizer Int8Rows uses (explicit simd128 in wasm) gives the scalar code's codes
    /// and their sum, on rows of every length around the 16-value step, with ties, zeros,
    /// infinities and NaNs.
    #[test]
    fn weight_codes_and_sums_equal_the_scalar_code() {
        let specials = [
            0.5,
            -0.5,
            1.5,
            -2.5,
            0.0,
            -0.0,
            126.5,
            -126.5,
            f32::NAN,
            1e-30,
        ];
        for len in (0..40).chain([767, 768, 3072]) {
            for variant in 0..4 {
                let mut row: Vec<f32> = values(len, len as u32 * 4 + variant)
                    .iter()
                    .map(|v| v * 127.0)
                    .collect();
                match variant {
                    // Every third value a special one, and a first value of 127 so that the
                    // scale is exactly 1 and the specials' halves are exact ties.
                    1 => {
                        for (v, s) in row.iter_mut().step_by(3).zip(specials.iter().cycle()) {
                            *v = *s;
                        }
                        if let Some(first) = row.first_mut() {
                            *first = 127.0;
                        }
                    }
                    2 => row.iter_mut().for_each(|v| *v = 0.0),
                    3 if len > 2 => row[len / 2] = f32::INFINITY,
                    _ => {}
                }
                let mut want = vec![0i8; len];
                let want_scale = quantize_weight_row(&row, &mut want);
                let want_sum: i32 = want.iter().map(|&q| q as i32).sum();
                let mut got = vec![0i8; len];
                let (scale, sum) = quantize_weight_row_and_sum(&row, &mut got);
                assert_eq!(
                    scale.to_bits(),
                    want_scale.to_bits(),
                    "len {len} variant {variant}"
                );
                assert_eq!(got, want, "len {len} variant {variant}");
                assert_eq!(sum, want_sum, "len {len} variant {variant}");
            }
        }
    }

    /// The AVX-512 activation quantizer gives the portable loop's codes, scales and zero points
    /// bit for bit: row lengths around its 16-value step, both code ranges, rows of zeros,
    /// constant rows, infinities and NaNs.
    #[test]
    fn avx512_activation_codes_equal_the_portable_loop() {
        #[cfg(target_arch = "x86_64")]
        if x86_64::available_avx512() {
            for cols in (1..40).chain([767, 768, 3072]) {
                for variant in 0..5 {
                    let rows = 3;
                    let mut x: Vec<f32> = values(rows * cols, cols as u32 * 8 + variant)
                        .iter()
                        .map(|v| v * 4.0 + if variant == 1 { 3.0 } else { 0.0 })
                        .collect();
                    match variant {
                        2 => x.iter_mut().for_each(|v| *v = 0.0),
                        3 => x[cols / 2] = f32::NAN,
                        4 => {
                            x.iter_mut().for_each(|v| *v = 0.75);
                            x[rows * cols - 1] = f32::NEG_INFINITY;
                        }
                        _ => {}
                    }
                    for top in [127.0, 255.0] {
                        let mut want = vec![0u8; x.len()];
                        let mut want_params = vec![(1f32, 0u8); rows];
                        quantize_task(&mut want, &x, &mut want_params, cols, top);
                        let mut got = vec![0u8; x.len()];
                        let mut got_params = vec![(1f32, 0u8); rows];
                        x86_64::quantize_rows_avx512(&mut got, &x, &mut got_params, cols, top);
                        assert_eq!(got, want, "{cols} columns, variant {variant}, top {top}");
                        for (g, w) in got_params.iter().zip(&want_params) {
                            assert_eq!((g.0.to_bits(), g.1), (w.0.to_bits(), w.1));
                        }
                    }
                }
            }
        }
    }

    /// Our AVX2 kernel multiplies with `vpmaddubsw` whatever rten-gemm would use: the activation
    /// limit must follow the kernel that runs.
    #[test]
    fn activations_stay_below_the_saturation_limit_of_the_kernel_that_runs() {
        let x: Vec<f32> = (0..64).map(|i| i as f32 - 20.0).collect();
        let (codes, _, _) = quantize_rows(&x, 1, 64);
        let largest = codes.iter().copied().max();
        if own_vnni_kernel() {
            // No i16 step: the whole u8 range is used.
            assert_eq!(activation_max(), 255);
            assert_eq!(largest, Some(255));
        } else if own_int8_kernel() {
            assert_eq!(activation_max(), 127);
            assert_eq!(largest, Some(127));
        }
        if !own_int8_kernel() && int8_gemm(|g| g.may_saturate()) {
            assert_eq!(activation_max(), 127);
        }
    }

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
