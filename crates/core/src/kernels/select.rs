//! Which kernels multiply the dense layers on this machine: chosen once per process from what
//! the CPU (and, for AMX, the operating system) offers, then read everywhere else as one value.
//!
//! On x86-64 the environment variable `XLMR_SENTIMENT_AMX` can turn the AMX path off: `off`
//! runs as on a CPU without AMX, `deny` as if the kernel refused the permission request (both
//! fall back to the AVX-512 VNNI tile; tests force the fallbacks this way).

use std::sync::OnceLock;

use super::rten::{f32_gemm, int8_gemm};

/// The kernel of the f32 dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum F32Kernel {
    /// rten-gemm's, whichever it picks for the CPU.
    Rten,
    /// Our 6 x 16 FMA tile on 16-column blocks (`x86_64/f32.rs`).
    #[cfg(target_arch = "x86_64")]
    Avx2Fma,
    /// Our 8 x 32 AVX-512 tile on 32-column blocks (`x86_64/f32.rs`).
    #[cfg(target_arch = "x86_64")]
    Avx512,
    /// AMX bf16 tiles with every value split into three bf16 parts (`x86_64/amx/bf16.rs`):
    /// f32-accurate products.
    #[cfg(target_arch = "x86_64")]
    AmxBf16,
}

/// The kernel of the int8 dense layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Int8Kernel {
    /// rten-gemm's (Arm, x86-64 without AVX2, AVX-512 without VNNI).
    Rten,
    /// Our AVX2 4 x 16 tile (`x86_64/int8.rs`), activations 0..=127.
    #[cfg(target_arch = "x86_64")]
    Avx2,
    /// Our AVX-512 VNNI 8 x 32 tile (`x86_64/int8.rs`), activations 0..=255.
    #[cfg(target_arch = "x86_64")]
    Vnni,
    /// AMX-INT8 tiles (`x86_64/amx.rs`) for products of at least [`super::x86_64::AMX_MIN_ROWS`]
    /// rows, the VNNI tile below that, on one packing; activations 0..=255.
    #[cfg(target_arch = "x86_64")]
    Amx,
    /// Our wasm tile (`wasm32.rs`), relaxed SIMD or simd128 as the build fixes, activations
    /// 0..=127.
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    Wasm,
}

/// The kernels this process runs, and why AMX is not among them where the CPU has it.
#[derive(Debug)]
pub(crate) struct Kernels {
    pub(crate) f32: F32Kernel,
    pub(crate) int8: Int8Kernel,
    /// Largest activation code the int8 kernel takes (see [`activation_max_of`]).
    pub(crate) activation_max: u8,
    /// Whether attention's products of enough rows run on AMX bf16 tiles (in quantized models).
    #[cfg(target_arch = "x86_64")]
    pub(crate) bf16_attention: bool,
    /// Whether attention of short texts runs on our AVX-512 loop.
    #[cfg(target_arch = "x86_64")]
    pub(crate) short_attention: bool,
    /// Set where the CPU has AMX-INT8 but it is not used: the reason, in words.
    pub(crate) amx_unused: Option<String>,
}

/// The kernels of this process, chosen on first use.
pub(crate) fn kernels() -> &'static Kernels {
    static KERNELS: OnceLock<Kernels> = OnceLock::new();
    KERNELS.get_or_init(choose)
}

fn choose() -> Kernels {
    let (int8, amx_unused) = choose_int8();
    Kernels {
        f32: choose_f32(),
        int8,
        activation_max: activation_max_of(int8),
        #[cfg(target_arch = "x86_64")]
        bf16_attention: super::x86_64::has_amx_bf16(),
        #[cfg(target_arch = "x86_64")]
        short_attention: super::x86_64::has_avx512f(),
        amx_unused,
    }
}

/// AMX bf16 tiles where the CPU has them; else our AVX-512 tile wherever AVX-512F is there
/// (measured ahead of rten-gemm's AVX-512 kernel on Zen 5); our AVX2 + FMA tile where rten-gemm
/// would use its own AVX2 + FMA kernel (ours gave a 10-25% lower 32-token latency on Zen 3);
/// rten-gemm's otherwise.
fn choose_f32() -> F32Kernel {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_64;
        if x86_64::has_amx_bf16() {
            return F32Kernel::AmxBf16;
        }
        if x86_64::has_avx512f() {
            return F32Kernel::Avx512;
        }
        if x86_64::has_avx2_fma() && f32_gemm(|g| g.kernel_name() == "x86_64-f32-fma") {
            return F32Kernel::Avx2Fma;
        }
    }
    F32Kernel::Rten
}

/// On x86-64: AMX where the CPU has AMX-INT8 and the OS grants its tile data; else our VNNI
/// tile with AVX-512 VNNI (measured ahead of rten-gemm's on Zen 5); else our AVX2 tile where
/// rten-gemm would use its own AVX2 int8 kernel (measured about half as fast on Zen 3): on
/// AVX-512 CPUs without VNNI rten-gemm's runs. In wasm with simd128: always ours.
fn choose_int8() -> (Int8Kernel, Option<String>) {
    #[cfg(target_arch = "x86_64")]
    {
        use super::x86_64;
        if x86_64::has_vnni() {
            return match x86_64::amx_state() {
                x86_64::AmxState::Ready => (Int8Kernel::Amx, None),
                x86_64::AmxState::Absent => (Int8Kernel::Vnni, None),
                x86_64::AmxState::Unused(reason) => (Int8Kernel::Vnni, Some(reason.clone())),
            };
        }
        if x86_64::has_avx2() && int8_gemm(|g| g.kernel_name() == "x86_64-u8i8i32-avx2") {
            return (Int8Kernel::Avx2, None);
        }
    }
    #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
    return (Int8Kernel::Wasm, None);
    #[allow(unreachable_code)]
    (Int8Kernel::Rten, None)
}

/// Largest activation code. Our AVX2 kernel and rten-gemm's x86 kernels without VNNI multiply
/// with `vpmaddubsw`, which adds two u8 x i8 products into an i16 and saturates: with
/// activations kept in 0..=127 the pair sum is at most 2 x 127 x 128 = 32,512 < 32,767, so it
/// never does (rten-gemm's `may_saturate`; ONNX Runtime's `reduce_range` is the same trade on
/// the weight side). Our wasm kernels need 0..=127 too (relaxed SIMD's i7 operand). VNNI's
/// `vpdpbusd` and AMX's `tdpbusd` have no i16 step, so they take 0..=255 (sums stay below
/// 3,072 x 255 x 127 < 2^31).
fn activation_max_of(kernel: Int8Kernel) -> u8 {
    match kernel {
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Vnni | Int8Kernel::Amx => 255,
        #[cfg(target_arch = "x86_64")]
        Int8Kernel::Avx2 => 127,
        #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
        Int8Kernel::Wasm => 127,
        Int8Kernel::Rten => {
            if int8_gemm(|g| g.may_saturate()) {
                127
            } else {
                255
            }
        }
    }
}

impl Kernels {
    /// The f32 kernel's name, as `xlmr-sentiment bench` reports it.
    pub(crate) fn f32_name(&self) -> String {
        match self.f32 {
            F32Kernel::Rten => f32_gemm(|g| g.kernel_name().to_string()),
            #[cfg(target_arch = "x86_64")]
            F32Kernel::Avx2Fma => "xlmr-sentiment-f32-avx2-fma".into(),
            #[cfg(target_arch = "x86_64")]
            F32Kernel::Avx512 => "xlmr-sentiment-f32-avx512".into(),
            #[cfg(target_arch = "x86_64")]
            F32Kernel::AmxBf16 => "xlmr-sentiment-f32-amx-bf16x3".into(),
        }
    }

    /// The attention kernels' names, with the text lengths each one takes.
    pub(crate) fn attention_name(&self) -> String {
        let general = f32_gemm(|g| g.kernel_name().to_string());
        #[cfg(target_arch = "x86_64")]
        {
            use super::x86_64::{BF16_MIN_ROWS, SHORT_HEAD_DIM, SHORT_TOKENS};
            let mut parts = Vec::new();
            if self.bf16_attention {
                parts.push(format!(
                    "xlmr-sentiment-attention-amx-bf16 from {BF16_MIN_ROWS} tokens (quantized models)"
                ));
            }
            if self.short_attention {
                let upto = if self.bf16_attention && BF16_MIN_ROWS <= SHORT_TOKENS {
                    format!(
                        "{} tokens ({SHORT_TOKENS} in f32 models)",
                        BF16_MIN_ROWS - 1
                    )
                } else {
                    format!("{SHORT_TOKENS} tokens")
                };
                parts.push(format!(
                    "xlmr-sentiment-attention-avx512 up to {upto} (head size {SHORT_HEAD_DIM})"
                ));
            }
            if !parts.is_empty() {
                parts.push(format!("{general} otherwise"));
                return parts.join("; ");
            }
        }
        general
    }

    /// The int8 kernel's name, with the reason AMX is unused where the CPU has it.
    pub(crate) fn int8_name(&self) -> String {
        let name = match self.int8 {
            Int8Kernel::Rten => int8_gemm(|g| g.kernel_name().to_string()),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Avx2 => "xlmr-sentiment-u8i8i32-avx2".into(),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Vnni => "xlmr-sentiment-u8i8i32-avx512-vnni".into(),
            #[cfg(target_arch = "x86_64")]
            Int8Kernel::Amx => format!(
                "xlmr-sentiment-u8i8i32-amx (avx512-vnni below {} rows)",
                super::x86_64::AMX_MIN_ROWS
            ),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Int8Kernel::Wasm => super::wasm32::INT8_KERNEL_NAME.into(),
        };
        match &self.amx_unused {
            Some(reason) => format!("{name} (AMX unused: {reason})"),
            None => name,
        }
    }
}

/// The kernels this process runs, by name (reported by `xlmr-sentiment bench`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelNames {
    /// The f32 dense layers'.
    pub f32: String,
    /// The int8 dense layers', with the reason AMX is unused where the CPU has it.
    pub int8: String,
    /// Attention's products.
    pub attention: String,
}

/// The names of the kernels this CPU runs.
pub fn kernel_names() -> KernelNames {
    let kernels = kernels();
    KernelNames {
        f32: kernels.f32_name(),
        int8: kernels.int8_name(),
        attention: kernels.attention_name(),
    }
}
