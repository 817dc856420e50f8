//! int8 products with AMX (Intel's Advanced Matrix Extensions, Sapphire Rapids and later): one
//! `tdpbusd` multiplies a 16 x 64 tile of u8 activations by a 64 x 16 tile of i8 weights into
//! 16 x 16 i32 sums, 16,384 multiply-adds, eight times what an AVX-512 VNNI instruction does
//! per cycle of its unit.
//!
//! The weights are the VNNI tile's packing (`int8.rs`: blocks of 32 columns, each a run of
//! groups of 32 columns x 4 values of k) with k padded to a multiple of 64: 16 groups of a
//! block's first or last 16 columns are exactly one weight tile, read at a row stride of 128
//! bytes. Activations are read in place at the padded row stride. Each task holds a 32 x 32
//! block of sums in four tiles (two activation tiles of 16 rows times two weight tiles of 16
//! columns) while it walks k.
//!
//! The AMX intrinsics are nightly-only (Rust issue 126622), so the instructions are written with
//! `asm!`. Linux hands a process the 8 KB of tile state only after `arch_prctl` asks for it
//! (`ARCH_REQ_XCOMP_PERM`, Documentation/arch/x86/xstate.rst); without it the first tile
//! instruction faults, so [`amx_state`] asks once and the kernel choice falls back to the VNNI
//! tile when the CPU, the OS or `XLMR_SENTIMENT_AMX` says no.

use std::arch::asm;
use std::sync::OnceLock;

use rayon::prelude::*;

use crate::kernels::sink::Int8Sink;
use crate::kernels::tiled::{PackedInt8, NR};

/// Rows from which a product runs on AMX tiles rather than the VNNI tile. Below a tile's 16
/// rows AMX computes padding; at 32 and more it was ahead on every layer shape of XLM-R base.
pub(crate) const AMX_MIN_ROWS: usize = 32;

/// Columns per block of packed weights (the VNNI kernel's blocks).
const BLOCK_COLS: usize = 32;
/// Rows of an activation or sum tile.
const TILE_ROWS: usize = 16;
/// Bytes of k per tile (a tile row holds 64 bytes).
const K_STEP: usize = 64;
/// Bytes of a weight group (32 columns x 4 values of k): the row stride of a weight tile.
const GROUP_BYTES: usize = BLOCK_COLS * 4;
/// Bytes of activations a pass keeps in L2 while every column block runs over them.
const PASS_BYTES: usize = 512 * 1024;

/// Whether this process multiplies on AMX tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AmxState {
    /// The CPU has AMX-INT8 and the OS granted its tile data.
    Ready,
    /// The CPU has no AMX-INT8.
    Absent,
    /// The CPU has AMX-INT8 but it is not used, for this reason.
    Unused(String),
}

/// This process's AMX state: the CPU asked (CPUID), then the OS (once per process), unless
/// `XLMR_SENTIMENT_AMX` is set to `off` (as if the CPU had none) or `deny` (as if the OS
/// refused).
pub(crate) fn amx_state() -> &'static AmxState {
    static STATE: OnceLock<AmxState> = OnceLock::new();
    STATE.get_or_init(|| {
        let setting = std::env::var("XLMR_SENTIMENT_AMX").ok();
        decide(cpu_has_amx_int8(), setting.as_deref(), request_tile_data)
    })
}

/// The decision of [`amx_state`], from what CPUID said, the environment variable's value, and a
/// way to ask the OS (`Err` holds its refusal in words).
fn decide(
    cpu_has_amx: bool,
    setting: Option<&str>,
    request: impl FnOnce() -> Result<(), String>,
) -> AmxState {
    if !cpu_has_amx {
        return AmxState::Absent;
    }
    let refusal = match setting {
        None | Some("" | "on") => request(),
        Some("off") => return AmxState::Unused("turned off by XLMR_SENTIMENT_AMX=off".into()),
        Some("deny") => Err("tile data refused (XLMR_SENTIMENT_AMX=deny)".into()),
        Some(other) => {
            return AmxState::Unused(format!(
                "XLMR_SENTIMENT_AMX={other:?} is not on, off or deny, so AMX stays off"
            ))
        }
    };
    match refusal {
        Ok(()) => AmxState::Ready,
        Err(reason) => AmxState::Unused(reason),
    }
}

/// CPUID leaf 7: AMX-TILE (EDX bit 24) and AMX-INT8 (bit 25).
fn cpu_has_amx_int8() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // CPUID exists on every x86-64 CPU; leaf 7 is read only where leaf 0 lists it.
    if __cpuid(0).eax < 7 {
        return false;
    }
    let edx = __cpuid_count(7, 0).edx;
    edx & (1 << 24) != 0 && edx & (1 << 25) != 0
}

/// Asks Linux for the AMX tile data (`arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA)`),
/// then checks that the permission holds (`ARCH_GET_XCOMP_PERM`).
#[cfg(target_os = "linux")]
fn request_tile_data() -> Result<(), String> {
    const SYS_ARCH_PRCTL: i64 = 158;
    const ARCH_GET_XCOMP_PERM: i64 = 0x1022;
    const ARCH_REQ_XCOMP_PERM: i64 = 0x1023;
    const XFEATURE_XTILEDATA: i64 = 18;
    let arch_prctl = |code: i64, argument: i64| -> i64 {
        let result: i64;
        // SAFETY: arch_prctl with these codes reads its integer argument or writes one u64 at
        // the address given; it touches no other memory of this process.
        unsafe {
            asm!(
                "syscall",
                inlateout("rax") SYS_ARCH_PRCTL => result,
                in("rdi") code,
                in("rsi") argument,
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        result
    };
    let granted = arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
    if granted != 0 {
        return Err(format!(
            "the kernel refused tile data (arch_prctl ARCH_REQ_XCOMP_PERM: errno {})",
            -granted
        ));
    }
    let mut permitted = 0u64;
    let read = arch_prctl(ARCH_GET_XCOMP_PERM, &mut permitted as *mut u64 as i64);
    if read != 0 || permitted & (1 << XFEATURE_XTILEDATA) == 0 {
        return Err("the kernel did not keep the tile-data permission".into());
    }
    Ok(())
}

/// Only Linux is known here to hand out tile data, on request.
#[cfg(not(target_os = "linux"))]
fn request_tile_data() -> Result<(), String> {
    Err("AMX is used on Linux only (tile data must be requested from the OS)".into())
}

/// Packs `codes` (`[n, k]`) for [`gemm_amx`] and, for fewer rows, `gemm_vnni`.
pub(crate) fn pack_amx(codes: &[i8], n: usize, k: usize) -> PackedInt8 {
    PackedInt8::with_layout(codes, n, k, BLOCK_COLS, K_STEP / 4)
}

/// The sums `sum_i a[r][i] * w[c][i]` on AMX tiles into `sink`, for `a` of `rows` rows of
/// `padded_k()` codes (the padding zero): passes of rows whose activations stay in L2, each
/// splitting the column blocks over rayon's threads.
pub(crate) fn gemm_amx(a: &[u8], rows: usize, weights: &PackedInt8, sink: &impl Int8Sink) {
    assert_eq!(
        amx_state(),
        &AmxState::Ready,
        "the AMX kernel needs AMX-INT8 and the OS's tile data"
    );
    assert_eq!(weights.block_cols, BLOCK_COLS);
    let kp = weights.padded_k();
    let n = weights.n;
    assert_eq!(kp % K_STEP, 0, "AMX packing pads k to whole tiles");
    assert_eq!(a.len(), rows * kp);
    assert_eq!(sink.columns(), n);
    let blocks = n.div_ceil(BLOCK_COLS);
    let panel_len = weights.k_groups * GROUP_BYTES;
    let pass_rows = (PASS_BYTES / kp.max(1)).max(2 * TILE_ROWS) / (2 * TILE_ROWS) * (2 * TILE_ROWS);
    for first_row in (0..rows).step_by(pass_rows) {
        let pass_end = (first_row + pass_rows).min(rows);
        (0..blocks).into_par_iter().with_min_len(2).for_each_init(
            Tiles::default,
            |tiles, block| {
                let panel = &weights.data()[block * panel_len..][..panel_len];
                let mut row = first_row;
                while row < pass_end {
                    let pair_rows = (pass_end - row).min(2 * TILE_ROWS);
                    let a_pair = &a[row * kp..(row + pair_rows) * kp];
                    // SAFETY: AMX and its tile data are there (asserted above); `a_pair` holds
                    // `pair_rows` rows of `kp` codes, `panel` kp / 4 groups of 128 bytes, and this
                    // task alone writes block `block`'s columns of rows `row..row + pair_rows`.
                    unsafe { tiles.pair(a_pair, kp, pair_rows, panel, sink, row, block) };
                    row += pair_rows;
                }
            },
        );
    }
}

/// The tile configuration of `ldtilecfg` (palette 1): bytes per row and rows of each of the
/// 16 tile registers (8 exist).
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    bytes_per_row: [u16; 16],
    rows: [u8; 16],
}

/// The tile registers of one task: tmm0-tmm3 the sums of a 32 x 32 block (rows 0-15 x columns
/// 0-15, 0-15 x 16-31, 16-31 x 0-15, 16-31 x 16-31), tmm4 and tmm5 the activations of rows 0-15
/// and 16-31, tmm6 and tmm7 the weights of columns 0-15 and 16-31. Configured for the rows at
/// hand (a last pair may have fewer than 32) and released when the task ends.
#[derive(Default)]
struct Tiles {
    /// The rows of the two halves the registers are configured for, once they are.
    configured: Option<(usize, usize)>,
}

impl Tiles {
    /// Configures the registers for `first` (1..=16) and `second` (0..=16) rows.
    ///
    /// # Safety
    /// The CPU has AMX and the OS granted tile data.
    unsafe fn configure(&mut self, first: usize, second: usize) {
        if self.configured == Some((first, second)) {
            return;
        }
        let mut config = TileConfig {
            palette: 1,
            start_row: 0,
            reserved: [0; 14],
            bytes_per_row: [0; 16],
            rows: [0; 16],
        };
        let mut set = |tile: usize, rows: usize| {
            if rows > 0 {
                config.bytes_per_row[tile] = K_STEP as u16;
                config.rows[tile] = rows as u8;
            }
        };
        for (tile, rows) in [
            (0, first),
            (1, first),
            (2, second),
            (3, second),
            (4, first),
            (5, second),
            (6, TILE_ROWS),
            (7, TILE_ROWS),
        ] {
            set(tile, rows);
        }
        // SAFETY: the caller guarantees AMX; the configuration is valid for palette 1 (at most
        // 16 rows of at most 64 bytes, unused tiles all zero).
        unsafe {
            asm!("ldtilecfg [{}]", in(reg) &config as *const TileConfig, options(nostack, readonly))
        };
        self.configured = Some((first, second));
    }

    /// Multiplies `rows` (1..=32) rows of activations `a` (row stride `kp`, a multiple of 64)
    /// by a 32-column `panel` and hands the sums of rows `row..row + rows`, columns
    /// `block * 32..`, to `sink`.
    ///
    /// # Safety
    /// The CPU has AMX and the OS granted tile data; `a` and `panel` are as above, and no other
    /// task hands these rows and columns to the sink.
    #[allow(clippy::too_many_arguments)]
    unsafe fn pair(
        &mut self,
        a: &[u8],
        kp: usize,
        rows: usize,
        panel: &[i8],
        sink: &impl Int8Sink,
        row: usize,
        block: usize,
    ) {
        debug_assert!((1..=2 * TILE_ROWS).contains(&rows) && a.len() == rows * kp);
        debug_assert_eq!(panel.len(), kp / 4 * GROUP_BYTES);
        let (first, second) = (rows.min(TILE_ROWS), rows.saturating_sub(TILE_ROWS));
        // SAFETY (every block below): AMX is there (the caller's guarantee) and configured for
        // these rows; each activation tile reads its rows' 64 bytes at `s * 64` of rows that
        // `a` holds, each weight tile 16 groups of 128 bytes (64 of them) inside `panel`.
        unsafe {
            self.configure(first, second);
            asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
            if second > 0 {
                asm!("tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
            }
            let a0 = a.as_ptr();
            let a1 = a0.wrapping_add(TILE_ROWS * kp);
            let b = panel.as_ptr();
            for step in 0..kp / K_STEP {
                let weights = b.add(step * 16 * GROUP_BYTES);
                if second > 0 {
                    asm!(
                        "tileloadd tmm4, [{a0} + {a_stride} * 1]",
                        "tileloadd tmm6, [{b0} + {b_stride} * 1]",
                        "tileloadd tmm7, [{b1} + {b_stride} * 1]",
                        "tdpbusd tmm0, tmm4, tmm6",
                        "tileloadd tmm5, [{a1} + {a_stride} * 1]",
                        "tdpbusd tmm1, tmm4, tmm7",
                        "tdpbusd tmm2, tmm5, tmm6",
                        "tdpbusd tmm3, tmm5, tmm7",
                        a0 = in(reg) a0.add(step * K_STEP),
                        a1 = in(reg) a1.add(step * K_STEP),
                        a_stride = in(reg) kp,
                        b0 = in(reg) weights,
                        b1 = in(reg) weights.add(NR * 4),
                        b_stride = in(reg) GROUP_BYTES,
                        options(nostack, readonly),
                    );
                } else {
                    asm!(
                        "tileloadd tmm4, [{a0} + {a_stride} * 1]",
                        "tileloadd tmm6, [{b0} + {b_stride} * 1]",
                        "tileloadd tmm7, [{b1} + {b_stride} * 1]",
                        "tdpbusd tmm0, tmm4, tmm6",
                        "tdpbusd tmm1, tmm4, tmm7",
                        a0 = in(reg) a0.add(step * K_STEP),
                        a_stride = in(reg) kp,
                        b0 = in(reg) weights,
                        b1 = in(reg) weights.add(NR * 4),
                        b_stride = in(reg) GROUP_BYTES,
                        options(nostack, readonly),
                    );
                }
            }
            self.store(sink, row, first, second, block);
        }
    }

    /// Hands the sums in tmm0-tmm3 to `sink`, a 16-column half at a time through a buffer.
    ///
    /// # Safety
    /// As [`Tiles::pair`], just after it filled the sum tiles.
    unsafe fn store(
        &self,
        sink: &impl Int8Sink,
        row: usize,
        first: usize,
        second: usize,
        block: usize,
    ) {
        let mut buffer = TileSums([[0; NR]; 2 * TILE_ROWS]);
        let top = buffer.0.as_mut_ptr();
        let bottom = buffer.0[TILE_ROWS..].as_mut_ptr();
        let stride = NR * 4;
        for half in 0..2 {
            let block16 = block * 2 + half;
            if block16 * NR >= sink.columns() {
                continue;
            }
            // SAFETY: the buffer holds 32 rows of 16 sums, 64 bytes apart; the sink's rows and
            // columns are this task's alone (the caller's guarantee).
            unsafe {
                match half {
                    0 => {
                        asm!("tilestored [{p} + {s} * 1], tmm0", p = in(reg) top, s = in(reg) stride, options(nostack))
                    }
                    _ => {
                        asm!("tilestored [{p} + {s} * 1], tmm1", p = in(reg) top, s = in(reg) stride, options(nostack))
                    }
                }
                if second > 0 {
                    match half {
                        0 => {
                            asm!("tilestored [{p} + {s} * 1], tmm2", p = in(reg) bottom, s = in(reg) stride, options(nostack))
                        }
                        _ => {
                            asm!("tilestored [{p} + {s} * 1], tmm3", p = in(reg) bottom, s = in(reg) stride, options(nostack))
                        }
                    }
                }
                sink.put(&buffer.0[..first + second], row, block16);
            }
        }
    }
}

/// One 16-column half of a 32 x 32 block of sums, on a cache line.
#[repr(C, align(64))]
struct TileSums([[i32; NR]; 2 * TILE_ROWS]);

impl Drop for Tiles {
    fn drop(&mut self) {
        if self.configured.is_some() {
            // SAFETY: the registers were configured, so AMX is there; releasing them returns
            // the thread's tile state to its initial, empty form.
            unsafe { asm!("tilerelease", options(nostack, nomem)) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::sink::RawSums;
    use crate::kernels::tiled::assert_exact_int8_sums;
    use crate::kernels::x86_64::{gemm_vnni, has_vnni};

    /// Every branch of the decision, with a fake request to the OS.
    #[test]
    fn amx_is_used_only_where_the_cpu_has_it_and_the_os_grants_it() {
        let granted = || Ok(());
        let refused = || Err("refused".to_string());
        assert_eq!(decide(false, None, granted), AmxState::Absent);
        assert_eq!(decide(false, Some("on"), granted), AmxState::Absent);
        assert_eq!(decide(true, None, granted), AmxState::Ready);
        assert_eq!(decide(true, Some("on"), granted), AmxState::Ready);
        assert_eq!(
            decide(true, None, refused),
            AmxState::Unused("refused".into())
        );
        assert!(
            matches!(decide(true, Some("off"), granted), AmxState::Unused(r) if r.contains("off"))
        );
        assert!(
            matches!(decide(true, Some("deny"), granted), AmxState::Unused(r) if r.contains("refused"))
        );
        assert!(
            matches!(decide(true, Some("yes"), granted), AmxState::Unused(r) if r.contains("\"yes\""))
        );
    }

    #[test]
    fn amx_equals_exact_integer_sums_on_ragged_shapes() {
        if amx_state() != &AmxState::Ready {
            eprintln!("skipped: AMX is not in use here ({:?})", amx_state());
            return;
        }
        assert_exact_int8_sums(pack_amx, gemm_amx, 255);
    }

    /// On one packing the AMX tiles and the VNNI tile give the same sums bit for bit (both are
    /// exact), from one row (VNNI's side of the choice) to several passes of rows.
    #[test]
    fn amx_equals_the_vnni_tile_on_its_packing() {
        if amx_state() != &AmxState::Ready || !has_vnni() {
            eprintln!("skipped: AMX is not in use here ({:?})", amx_state());
            return;
        }
        let mut lcg = crate::kernels::testing::Lcg(3);
        for (rows, k, n) in [(1, 768, 64), (31, 768, 96), (32, 3072, 40), (700, 768, 70)] {
            let codes: Vec<i8> = (0..n * k)
                .map(|_| ((lcg.next() % 255) as i32 - 127) as i8)
                .collect();
            let packed = pack_amx(&codes, n, k);
            let kp = packed.padded_k();
            let mut a = vec![0u8; rows * kp];
            for r in 0..rows {
                for i in 0..k {
                    a[r * kp + i] = (lcg.next() % 256) as u8;
                }
            }
            let (mut amx, mut vnni) = (vec![0i32; rows * n], vec![0i32; rows * n]);
            gemm_amx(&a, rows, &packed, &RawSums::new(&mut amx, n));
            gemm_vnni(&a, rows, &packed, &RawSums::new(&mut vnni, n));
            assert_eq!(amx, vnni, "{rows} x {k} x {n}");
        }
    }
}
