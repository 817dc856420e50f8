//! AMX (Intel's Advanced Matrix Extensions, Sapphire Rapids and later): eight tile registers of
//! up to 16 rows of 64 bytes, and instructions that multiply whole tiles, `tdpbusd` for u8 x i8
//! (`int8.rs`) and `tdpbf16ps` for bf16 x bf16 into f32 (`bf16.rs`). Both kernels hold a 32 x 32
//! block of sums in four tiles (two tiles of activations, 16 rows each, times two of weights, 16
//! columns each) while they walk k, over weights packed in blocks of 32 columns whose groups of
//! 4 bytes per column make each 16-column half of 16 groups one weight tile (row stride 128
//! bytes).
//!
//! The AMX intrinsics are nightly-only (Rust issue 126622), so the instructions are written with
//! `asm!`. Linux hands a process the 8 KB of tile state only after `arch_prctl` asks for it
//! (`ARCH_REQ_XCOMP_PERM`, Documentation/arch/x86/xstate.rst); without it the first tile
//! instruction faults, so [`amx_state`] asks once and the kernel choice falls back to the VNNI
//! and AVX-512 tiles when the CPU, the OS or `XLMR_SENTIMENT_AMX` says no.

mod bf16;
mod int8;

use std::arch::asm;
use std::mem::MaybeUninit;
use std::ops::Range;
use std::sync::OnceLock;

use rayon::prelude::*;

pub(crate) use bf16::{gemm_bf16, split_rows, Bf16Parts, PackedBf16, BF16_MIN_ROWS};
pub(crate) use int8::{gemm_amx, pack_amx, AMX_MIN_ROWS};

/// Columns per block of packed weights.
const BLOCK_COLS: usize = 32;
/// Rows of an activation or sum tile.
const TILE_ROWS: usize = 16;
/// How many blocks ahead a pass's last pair asks for weights.
const PREFETCH_BLOCKS: usize = 2;
/// Bytes of a tile row.
const TILE_BYTES: usize = 64;
/// Bytes of a weight group (32 columns x 4 bytes): the row stride of a weight tile.
const GROUP_BYTES: usize = BLOCK_COLS * 4;
/// Bytes of activations a pass keeps in L2 while every column block runs over them.
const PASS_BYTES: usize = 512 * 1024;
/// Rows of a pass over activation rows of `row_bytes` bytes: whole pairs of tiles.
fn pass_rows(row_bytes: usize) -> usize {
    (PASS_BYTES / row_bytes.max(1)).max(2 * TILE_ROWS) / (2 * TILE_ROWS) * (2 * TILE_ROWS)
}

use crate::kernels::sink::SINK_COLS;

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

/// CPUID leaf 7's EDX (0 where the CPU has no leaf 7).
fn cpuid_7_edx() -> u32 {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // CPUID exists on every x86-64 CPU; leaf 7 is read only where leaf 0 lists it.
    if __cpuid(0).eax < 7 {
        return 0;
    }
    __cpuid_count(7, 0).edx
}

/// CPUID: AMX-TILE (leaf 7, EDX bit 24) and AMX-INT8 (bit 25).
fn cpu_has_amx_int8() -> bool {
    let edx = cpuid_7_edx();
    edx & (1 << 24) != 0 && edx & (1 << 25) != 0
}

/// Whether this process multiplies bf16 on AMX tiles: AMX is in use and the CPU has AMX-BF16
/// (CPUID leaf 7, EDX bit 22).
pub(crate) fn has_amx_bf16() -> bool {
    amx_state() == &AmxState::Ready && cpuid_7_edx() & (1 << 22) != 0
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

/// The tile registers of this thread: tmm0-tmm3 the sums of a 32 x 32 block (rows 0-15 x
/// columns 0-15, 0-15 x 16-31, 16-31 x 0-15, 16-31 x 16-31), tmm4 and tmm5 the activations of
/// rows 0-15 and 16-31, tmm6 and tmm7 the weights of columns 0-15 and 16-31, configured for the
/// rows at hand (a last pair may have fewer than 32).
///
/// Released when dropped: a thread that keeps tile state in use ran the rest of the model
/// slower.
#[derive(Default)]
pub(super) struct Tiles {
    /// The rows of the two halves the registers are configured for, once they are.
    configured: Option<(usize, usize)>,
}

impl Tiles {
    /// Configures the registers for `first` (1..=16) and `second` (0..=16) rows.
    ///
    /// # Safety
    /// The CPU has AMX and the OS granted tile data.
    pub(super) unsafe fn configure(&mut self, first: usize, second: usize) {
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
                config.bytes_per_row[tile] = TILE_BYTES as u16;
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

    /// Stores the sums of one 16-column half of the block (tmm0 and tmm2, or tmm1 and tmm3)
    /// into `buffer`: rows 0..16 from the first tile, 16..32 from the second if `second`.
    ///
    /// # Safety
    /// The registers are configured and hold sums (of 4-byte values).
    pub(super) unsafe fn store_half<T: Copy>(
        &self,
        half: usize,
        second: bool,
        buffer: &mut TileSums<T>,
    ) {
        const { assert!(std::mem::size_of::<T>() == 4) };
        let top = buffer.0.as_mut_ptr().cast::<[T; SINK_COLS]>();
        let bottom = top.wrapping_add(TILE_ROWS);
        let stride = SINK_COLS * 4;
        // SAFETY: the buffer holds 32 rows of 16 four-byte values, 64 bytes apart; the tiles
        // hold at most 16 rows each.
        unsafe {
            match half {
                0 => {
                    asm!("tilestored [{p} + {s} * 1], tmm0", p = in(reg) top, s = in(reg) stride, options(nostack))
                }
                _ => {
                    asm!("tilestored [{p} + {s} * 1], tmm1", p = in(reg) top, s = in(reg) stride, options(nostack))
                }
            }
            if second {
                match half {
                    0 => {
                        asm!("tilestored [{p} + {s} * 1], tmm2", p = in(reg) bottom, s = in(reg) stride, options(nostack))
                    }
                    _ => {
                        asm!("tilestored [{p} + {s} * 1], tmm3", p = in(reg) bottom, s = in(reg) stride, options(nostack))
                    }
                }
            }
        }
    }
}

/// A product on AMX tiles, as [`drive`] runs it: rows of activations against 32-column blocks
/// of packed weights, walking k in steps of one tile.
pub(super) trait TileProduct: Sync {
    /// What the sum tiles hold (i32 or f32).
    type Sum: Copy + Default + Send;
    /// Rows of activations.
    fn rows(&self) -> usize;
    /// Columns of the product (of the sink).
    fn columns(&self) -> usize;
    /// Steps of k (one tile each).
    fn steps(&self) -> usize;
    /// Bytes of one activation row, every part (what a pass keeps in L2).
    fn row_bytes(&self) -> usize;
    /// Adds to the sum tiles the products of steps `steps` of rows `row..row + 16` (and the next
    /// 16 if `second`) with block `block`'s weights; with `prefetch`, asks along the way for
    /// the weights of the block [`PREFETCH_BLOCKS`] further on.
    ///
    /// # Safety
    /// The registers are configured for these rows and hold their sums so far.
    unsafe fn steps_into_tiles(
        &self,
        row: usize,
        second: bool,
        block: usize,
        steps: Range<usize>,
        prefetch: bool,
    );
    /// Hands finished sums of rows `row..` and columns `block16 * 16..` on.
    ///
    /// # Safety
    /// As [`crate::kernels::sink::Int8Sink::put`].
    unsafe fn finish(&self, sums: &[[Self::Sum; SINK_COLS]], row: usize, block16: usize);
}

/// Runs `product`: passes of rows whose activations stay in L2; in each, the column blocks
/// split over rayon's threads, [`BLOCKS_PER_TASK`] at a time, and every block walks its pairs of
/// row tiles through all of k. With no rows, nothing runs.
///
/// A pair's sums are handed on only after the next pair's products have been issued: tile
/// loads and multiplies run in the AMX unit while the core works through the previous pair's
/// epilogue, and the vector loads of a buffer just written by `tilestored` (a quarter of the
/// epilogue's time at 32 rows) no longer wait for it.
pub(super) fn drive<P: TileProduct>(product: &P) {
    assert_eq!(
        amx_state(),
        &AmxState::Ready,
        "the AMX kernels need AMX and the OS's tile data"
    );
    let (rows, steps, columns) = (product.rows(), product.steps(), product.columns());
    let blocks = columns.div_ceil(BLOCK_COLS);
    let pass = pass_rows(product.row_bytes());
    let tasks = blocks.div_ceil(BLOCKS_PER_TASK);
    // Every pass's tasks in one parallel loop, pass by pass, so a thread that finishes its
    // share of a pass goes on to the next one instead of waiting for the other threads.
    (0..rows.div_ceil(pass.max(1)) * tasks)
        .into_par_iter()
        .for_each(|job| {
            let (first_row, task) = (job / tasks * pass, job % tasks);
            let pass_end = (first_row + pass).min(rows);
            {
                let mut tiles = Tiles::default();
                let mut buffers = [Finished::<P::Sum>::new(), Finished::new()];
                let mut pending: Option<usize> = None;
                let task_blocks =
                    task * BLOCKS_PER_TASK..((task + 1) * BLOCKS_PER_TASK).min(blocks);
                let pairs = task_blocks.flat_map(|block| {
                    (first_row..pass_end)
                        .step_by(2 * TILE_ROWS)
                        .map(move |row| (block, row))
                });
                for (index, (block, row)) in pairs.enumerate() {
                    let pair_rows = (pass_end - row).min(2 * TILE_ROWS);
                    let first = pair_rows.min(TILE_ROWS);
                    let second = pair_rows - first;
                    let slot = index % 2;
                    // SAFETY: AMX and its tile data are there (asserted above); the tiles are
                    // configured for this pair's rows before any tile instruction, and this
                    // task alone hands these rows of this block's columns on.
                    unsafe {
                        tiles.configure(first, second);
                        asm!("tilezero tmm0", "tilezero tmm1", options(nostack, nomem));
                        if second > 0 {
                            asm!("tilezero tmm2", "tilezero tmm3", options(nostack, nomem));
                        }
                        // The pass's last pair asks for later weights, so they arrive from
                        // memory while it works from cache.
                        let prefetch = row + pair_rows == pass_end;
                        product.steps_into_tiles(row, second > 0, block, 0..steps, prefetch);
                        if let Some(previous) = pending.take() {
                            buffers[previous].hand_on(product);
                        }
                        let buffer = &mut buffers[slot];
                        for half in 0..2 {
                            tiles.store_half(half, second > 0, &mut buffer.sums[half]);
                        }
                        (buffer.row, buffer.rows, buffer.block) = (row, pair_rows, block);
                    }
                    pending = Some(slot);
                }
                if let Some(previous) = pending {
                    // SAFETY: as above.
                    unsafe { buffers[previous].hand_on(product) };
                }
            }
        });
}

/// Blocks of columns per rayon task: the pairs of a task's blocks pipeline into each other.
const BLOCKS_PER_TASK: usize = 4;

/// A pair's sums, stored from the tiles, waiting to be handed on.
struct Finished<T> {
    sums: [TileSums<T>; 2],
    row: usize,
    rows: usize,
    block: usize,
}

impl<T> Finished<T> {
    fn new() -> Self {
        Self {
            sums: [TileSums::new(), TileSums::new()],
            row: 0,
            rows: 0,
            block: 0,
        }
    }
}

impl<T: Copy> Finished<T> {
    /// Hands the sums of both halves (those inside the product's columns) on.
    ///
    /// # Safety
    /// As [`TileProduct::finish`]; both halves were stored for these rows.
    unsafe fn hand_on<P: TileProduct<Sum = T>>(&self, product: &P) {
        for half in 0..2 {
            let block16 = self.block * 2 + half;
            if block16 * SINK_COLS < product.columns() {
                // SAFETY: the caller's guarantee.
                unsafe { product.finish(self.sums[half].rows(self.rows), self.row, block16) };
            }
        }
    }
}

/// Asks for the cache lines of `bytes` bytes from `start` to be brought into L2 (nothing past
/// the end of `data`).
#[inline(always)]
fn prefetch_l2(data: &[u8], start: usize, bytes: usize) {
    use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T1};
    let end = (start + bytes).min(data.len());
    for at in (start..end).step_by(64) {
        // SAFETY: SSE, which the prefetch needs, is in every x86-64 CPU; a prefetch never
        // faults, and `at` is inside `data` anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T1>(data[at..].as_ptr().cast()) };
    }
}

impl Drop for Tiles {
    fn drop(&mut self) {
        if self.configured.is_some() {
            // SAFETY: the registers were configured, so AMX is there; releasing them returns
            // the thread's tile state to its initial, empty form.
            unsafe { asm!("tilerelease", options(nostack, nomem)) };
        }
    }
}

/// One 16-column half of a 32 x 32 block of sums, on a cache line; only the rows a
/// [`Tiles::store_half`] wrote are read, so it is never zeroed (zeroing and moving two pairs
/// of these per rayon job was 6% of a 512-token text).
#[repr(C, align(64))]
pub(super) struct TileSums<T>(MaybeUninit<[[T; SINK_COLS]; 2 * TILE_ROWS]>);

impl<T> TileSums<T> {
    /// A buffer to store into.
    pub(super) fn new() -> Self {
        Self(MaybeUninit::uninit())
    }

    /// Its first `rows` rows.
    ///
    /// # Safety
    /// A [`Tiles::store_half`] wrote them.
    pub(super) unsafe fn rows(&self, rows: usize) -> &[[T; SINK_COLS]] {
        assert!(rows <= 2 * TILE_ROWS);
        // SAFETY: the caller's guarantee: these rows are initialised.
        unsafe { std::slice::from_raw_parts(self.0.as_ptr().cast(), rows) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
