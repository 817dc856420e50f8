//! Dense layers `y = x W^T + b`, f32 or int8, with their weights packed once at load into the
//! layout of the kernel that multiplies them (see [`super::select`]).

use multiversion::multiversion;
use rayon::prelude::*;
use rten_gemm::{BiasVector, GemmInputA, GemmInputB, GemmUninitOptions, PackedBMatrix};

use super::ops::{gelu_erf, gelu_tanh, relu};
use super::quantize::{quantize_rows, Int8Rows};
use super::rten::{f32_gemm, gemm_error, int8_gemm, matrix};
use super::select::{kernels, F32Kernel, Int8Kernel};
#[cfg(target_arch = "x86_64")]
use super::sink::F32Out;
use super::sink::{Dequantize, Output};
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
use super::tiled;
#[cfg(target_arch = "x86_64")]
use super::x86_64;
use crate::config::Activation;
use crate::error::Result;

/// int8 weights in the layout of the kernel that multiplies them.
enum Int8Packing {
    /// rten-gemm's kernels (Arm, x86 without AVX2 or with AVX-512 but no VNNI).
    Rten(PackedBMatrix<i8>),
    /// Our kernels (`x86_64/`, `wasm32.rs`).
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
    /// Our AVX2 + FMA or AVX-512 tiles (`x86_64/f32.rs`).
    #[cfg(target_arch = "x86_64")]
    Own(x86_64::PackedF32),
    /// AMX bf16 tiles, three parts per value (`x86_64/amx/bf16.rs`).
    #[cfg(target_arch = "x86_64")]
    Bf16(x86_64::PackedBf16),
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
        let packed = match kernels().f32 {
            #[cfg(target_arch = "x86_64")]
            F32Kernel::Avx2Fma | F32Kernel::Avx512 => {
                F32Packing::Own(x86_64::PackedF32::new(weight, out_dim, in_dim))
            }
            #[cfg(target_arch = "x86_64")]
            F32Kernel::AmxBf16 => F32Packing::Bf16(x86_64::PackedBf16::new(
                weight,
                out_dim,
                in_dim,
                (in_dim, 1),
                x86_64::Bf16Parts::Three,
            )),
            F32Kernel::Rten => F32Packing::Rten(f32_gemm(|g| g.prepack_b(w.transposed()))),
        };
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
        let packed = match kernels().int8 {
            Int8Kernel::Rten => {
                let w = matrix(&codes, out_dim, in_dim)?;
                Int8Packing::Rten(int8_gemm(|g| g.prepack_b(w.transposed())))
            }
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => Int8Packing::Tiled(tiled::PackedInt8::new(&codes, out_dim, in_dim)),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Vnni => Int8Packing::Tiled(x86_64::pack_vnni(&codes, out_dim, in_dim)),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Amx => Int8Packing::Tiled(x86_64::pack_amx(&codes, out_dim, in_dim)),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Int8Kernel::Wasm => Int8Packing::Tiled(super::wasm32::pack(&codes, out_dim, in_dim)),
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

    /// Whether the layer multiplies in int8.
    pub(crate) fn is_int8(&self) -> bool {
        matches!(self.weight, Weight::Int8 { .. })
    }

    /// `x` is `[rows, in]`; returns `[rows, out]`.
    pub(crate) fn forward(&self, x: &[f32], rows: usize) -> Result<Vec<f32>> {
        self.forward_then(x, rows, None)
    }

    /// [`Linear::forward`], then `activation` on every output: inside the int8 epilogue, as a
    /// pass of its own after an f32 product (the same values either way).
    pub(crate) fn forward_then(
        &self,
        x: &[f32],
        rows: usize,
        activation: Option<Activation>,
    ) -> Result<Vec<f32>> {
        if x.len() != rows * self.in_dim {
            return Err(gemm_error(format!(
                "input of {} values for {rows} rows of {}",
                x.len(),
                self.in_dim
            )));
        }
        let n = self.out_dim;
        let mut out = Vec::with_capacity(rows * n);
        match &self.weight {
            #[cfg(target_arch = "x86_64")]
            Weight::F32(F32Packing::Bf16(packed)) => {
                let a = x86_64::split_rows(
                    x,
                    rows,
                    self.in_dim,
                    self.in_dim,
                    packed.padded_k(),
                    x86_64::Bf16Parts::Three,
                );
                let sink =
                    F32Out::new(Output(out.as_mut_ptr()), n, n).biased(&self.bias, activation);
                x86_64::gemm_bf16(&a, packed, &sink);
                // SAFETY: the sink wrote every one of the rows * n values.
                unsafe { out.set_len(rows * n) };
            }
            Weight::F32(packing) => {
                match packing {
                    F32Packing::Rten(packed) => {
                        let a = matrix(x, rows, self.in_dim)?;
                        f32_gemm(|g| {
                            g.gemm_uninit(
                                &mut out.spare_capacity_mut()[..rows * n],
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
                        // SAFETY: gemm_uninit initialised all rows * n values.
                        unsafe { out.set_len(rows * n) };
                    }
                    #[cfg(target_arch = "x86_64")]
                    F32Packing::Own(packed) => {
                        out.resize(rows * n, 0.0);
                        x86_64::gemm_f32(x, rows, packed, &mut out);
                        add_bias(&mut out, &self.bias);
                    }
                    #[cfg(target_arch = "x86_64")]
                    F32Packing::Bf16(_) => unreachable!("matched above"),
                }
                match activation {
                    None => {}
                    Some(Activation::GeluErf) => gelu_erf(&mut out),
                    Some(Activation::GeluTanh) => gelu_tanh(&mut out),
                    Some(Activation::Relu) => relu(&mut out),
                }
            }
            Weight::Int8 {
                packed,
                scales,
                code_sums,
            } => {
                let stride = match packed {
                    Int8Packing::Rten(_) => self.in_dim,
                    #[cfg(any(
                        target_arch = "x86_64",
                        all(target_arch = "wasm32", target_feature = "simd128")
                    ))]
                    Int8Packing::Tiled(packed) => packed.padded_k(),
                };
                let quantized = quantize_rows(x, rows, self.in_dim, stride);
                let codes = quantized.codes.as_slice();
                let sink = Dequantize {
                    out: Output(out.as_mut_ptr()),
                    row_scales: &quantized.scales,
                    zero_points: &quantized.zero_points,
                    scales,
                    code_sums,
                    bias: &self.bias,
                    activation,
                };
                match packed {
                    Int8Packing::Rten(packed) => {
                        let mut acc: Vec<i32> = Vec::with_capacity(rows * n);
                        let a = matrix(codes, rows, self.in_dim)?;
                        int8_gemm(|g| {
                            g.gemm_uninit(
                                &mut acc.spare_capacity_mut()[..rows * n],
                                GemmInputA::Unpacked(a),
                                GemmInputB::Packed(packed),
                                // No `a_quant`: rten-gemm 0.27 packs the zero points of every
                                // full 6-row panel from the first panel's (`pack_a_impl` reads
                                // `zp[r]`, not `zp[panel * MR + r]`), which gave wrong rows in
                                // tests. The zero points are subtracted in the epilogue instead:
                                // sum((q - z) w) = sum(q w) - z sum(w).
                                GemmUninitOptions::default(),
                            )
                            .map(|_| ())
                        })
                        .map_err(gemm_error)?;
                        // SAFETY: gemm_uninit initialised all rows * n values.
                        unsafe { acc.set_len(rows * n) };
                        acc.par_chunks(n.max(1))
                            .enumerate()
                            .for_each(|(row, sums)| {
                                // SAFETY: each task writes its own row of `out`, which has room
                                // for all rows * n values.
                                unsafe { sink.row(sums, row, 0) }
                            });
                    }
                    #[cfg(any(
                        target_arch = "x86_64",
                        all(target_arch = "wasm32", target_feature = "simd128")
                    ))]
                    Int8Packing::Tiled(packed) => tiled_gemm(codes, rows, packed, &sink),
                }
                // SAFETY: the sink wrote every one of the rows * n values (each kernel hands it
                // every row of every column block).
                unsafe { out.set_len(rows * n) };
            }
        }
        Ok(out)
    }
}

/// Our int8 product with the kernel this process runs: `a` holds `rows` rows of
/// `packed.padded_k()` codes.
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
fn tiled_gemm(a: &[u8], rows: usize, packed: &tiled::PackedInt8, sink: &Dequantize<'_>) {
    match kernels().int8 {
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 => x86_64::gemm(a, rows, packed, sink),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Amx if rows >= x86_64::AMX_MIN_ROWS => x86_64::gemm_amx(a, rows, packed, sink),
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Vnni | Int8Kernel::Amx => x86_64::gemm_vnni(a, rows, packed, sink),
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Int8Kernel::Wasm => super::wasm32::gemm(a, rows, packed, sink),
        Int8Kernel::Rten => unreachable!("rten-gemm's weights are never packed as tiles"),
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

fn check_bias(bias: &[f32], out_dim: usize) -> Result<()> {
    if bias.len() != out_dim {
        return Err(gemm_error(format!(
            "bias of {} values for {out_dim} outputs",
            bias.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::testing::values;

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
            let quantized = quantize_rows(&x, rows, k, k);
            let (codes, row_scales, zeros) = (
                quantized.codes.as_slice(),
                &quantized.scales,
                &quantized.zero_points,
            );
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
}
