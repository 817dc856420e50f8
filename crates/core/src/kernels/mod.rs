//! The compute kernels the model runs on: dense layers ([`Linear`], f32 or int8), attention, and
//! the element-wise steps (LayerNorm, GELU, softmax). The model sees only these, never which
//! kernel runs: that is chosen once per process (`select.rs`).
//!
//! - `select.rs`: the kernel choice and its names;
//! - `linear.rs`: dense layers and their packing; `sink.rs`: where int8 sums go (the epilogue);
//! - `quantize.rs`: int8 quantization of weights (at load) and activations (per product);
//! - `attention.rs`: self-attention per text and head;
//! - `ops.rs`: the element-wise and row-wise steps;
//! - `tiled.rs`: the int8 weight layout shared by our x86-64 and wasm tiles;
//! - `x86_64/`, `wasm32.rs`: the instruction-set kernels; `rten.rs`: rten-gemm where it runs.
//!
//! Why our own forward pass rather than candle's tensor ops: at 32 tokens candle's model spent
//! more time outside the matrix products (reshapes, copies, broadcast masks, a libm `erf` per
//! element) than in them, and pads every batch to its longest text. Here every text's tokens
//! are packed one after another, attention runs per text and head on exactly its own tokens,
//! and no padding is ever computed.

mod aligned;
mod attention;
mod linear;
mod ops;
mod quantize;
mod rten;
mod select;
mod sink;
#[cfg(test)]
mod testing;
#[cfg(any(
    target_arch = "x86_64",
    all(target_arch = "wasm32", target_feature = "simd128")
))]
mod tiled;
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
mod wasm32;
#[cfg(target_arch = "x86_64")]
mod x86_64;

pub(crate) use attention::{attention, Span};
pub(crate) use linear::Linear;
pub(crate) use ops::layer_norm;
pub(crate) use quantize::Int8Rows;
pub use select::{kernel_names, KernelNames};
