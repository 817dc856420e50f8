//! x86-64 kernels, each chosen at run time by [`super::select`]:
//! - f32 (`f32.rs`): FMA 6 x 16 tiles on 16-column blocks (AVX2), 8 x 32 on 32-column blocks
//!   (AVX-512), the same sums either way;
//! - int8 (`int8.rs`): u8 activations times i8 weights summed exactly in i32, in 4 x 16 AVX2
//!   tiles (`vpmaddubsw`, activations 0..=127) or 8 x 32 AVX-512 VNNI tiles (`vpdpbusd`,
//!   0..=255), and AMX-INT8 tiles (`amx.rs`) on the VNNI tile's packing;
//! - the activations' int8 quantization with AVX-512 (`quantize.rs`).
//!
//! Each splits its column blocks over rayon. The int8 weights are in the layout of
//! `../tiled.rs`, shared with the wasm kernels.

mod amx;
mod attention;
mod f32;
mod int8;
mod quantize;

pub(crate) use amx::{
    amx_state, gemm_amx, gemm_bf16, has_amx_bf16, pack_amx, split_rows, AmxState, Bf16Parts,
    PackedBf16, AMX_MIN_ROWS, BF16_MIN_ROWS,
};
pub(crate) use attention::{short_head_avx512, SHORT_HEAD_DIM, SHORT_TOKENS};
pub(crate) use f32::{gemm_f32, PackedF32};
pub(crate) use int8::{gemm, gemm_vnni, pack_vnni};
pub(crate) use quantize::{dequantize_tile_avx512, quantize_rows_avx512};

/// Whether this CPU has AVX2 (our AVX2 int8 tile).
pub(crate) fn has_avx2() -> bool {
    std::is_x86_feature_detected!("avx2")
}

/// Whether this CPU has AVX2 and FMA (our AVX2 f32 tile).
pub(crate) fn has_avx2_fma() -> bool {
    std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma")
}

/// Whether this CPU has AVX-512F (our AVX-512 f32 tile and activation quantizer).
pub(crate) fn has_avx512f() -> bool {
    std::is_x86_feature_detected!("avx512f")
}

/// Whether this CPU has AVX-512F and AVX-512 VNNI (our VNNI int8 tile).
pub(crate) fn has_vnni() -> bool {
    std::is_x86_feature_detected!("avx512f") && std::is_x86_feature_detected!("avx512vnni")
}
