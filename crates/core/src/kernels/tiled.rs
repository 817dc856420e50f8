//! The int8 weight layout and loop shared by our x86-64 (`x86_64.rs`) and wasm
//! (`wasm32.rs`) kernels: weights packed once at load in column blocks of 16, each a run of
//! k/4 groups of 16 columns x 4 consecutive k values (64 bytes), zero-padded to whole blocks and
//! groups; rows taken in passes, column blocks split over rayon's threads, each block walked a
//! register tile of rows at a time. Each architecture supplies only the register tile.

use rayon::prelude::*;

use super::aligned::AlignedBytes;
use super::sink::Int8Sink;
#[cfg(test)]
use super::sink::RawSums;

/// Columns per block (two AVX2 registers of eight i32 sums, four wasm ones of four): the
/// columns a sink takes at a time.
pub(crate) const NR: usize = super::sink::SINK_COLS;
/// Rows per register tile.
pub(crate) const MR: usize = 4;
/// Rows whose activations are kept hot while every column block passes over them.
const ROWS_PER_PASS: usize = 48;

/// int8 weights packed for the tiled kernels, starting on a cache line.
pub(crate) struct PackedInt8 {
    data: AlignedBytes,
    /// k rounded up to a multiple of 4 (of 64 for AMX), divided by 4.
    pub(crate) k_groups: usize,
    pub(crate) n: usize,
    /// Columns per block: [`NR`], or 32 for the AVX-512 VNNI kernel (two registers of 16 lanes,
    /// one contiguous 128-byte group per 4 values of k).
    pub(crate) block_cols: usize,
}

impl PackedInt8 {
    /// Packs `codes` (`[n, k]`, row-major: one row per output feature) in blocks of [`NR`]
    /// columns.
    pub(crate) fn new(codes: &[i8], n: usize, k: usize) -> Self {
        Self::with_block_cols(codes, n, k, NR)
    }

    /// Packs `codes` in blocks of `block_cols` columns: each block a run of k/4 groups of
    /// `block_cols` columns x 4 consecutive values of k.
    pub(crate) fn with_block_cols(codes: &[i8], n: usize, k: usize, block_cols: usize) -> Self {
        Self::with_layout(codes, n, k, block_cols, 1)
    }

    /// [`PackedInt8::with_block_cols`] with the groups of k zero-padded to a multiple of
    /// `group_multiple` (16 for AMX, whose tiles take 64 values of k at a time).
    pub(crate) fn with_layout(
        codes: &[i8],
        n: usize,
        k: usize,
        block_cols: usize,
        group_multiple: usize,
    ) -> Self {
        let k_groups = k.div_ceil(4).next_multiple_of(group_multiple);
        let blocks = n.div_ceil(block_cols);
        let mut storage = AlignedBytes::zeroed(blocks * k_groups * block_cols * 4);
        let data = storage.as_i8_mut();
        let panel_len = k_groups * block_cols * 4;
        // The values of k that fill whole groups of four.
        let whole = k / 4 * 4;
        if k > 0 {
            // Panel by panel, split over rayon's threads. Four values of k at a time, each a
            // fixed-size copy: `chunks(4)` made every one a `memcpy` call in wasm.
            data.par_chunks_mut(panel_len)
                .zip(codes[..n * k].par_chunks(block_cols * k))
                .for_each(|(panel, rows)| {
                    for (j, row) in rows.chunks_exact(k).enumerate() {
                        for (group, four) in panel
                            .chunks_exact_mut(block_cols * 4)
                            .zip(row[..whole].chunks_exact(4))
                        {
                            group[j * 4..j * 4 + 4].copy_from_slice(four);
                        }
                        if whole < k {
                            let at = (whole / 4 * block_cols + j) * 4;
                            panel[at..at + k - whole].copy_from_slice(&row[whole..]);
                        }
                    }
                });
        }
        Self {
            data: storage,
            k_groups,
            n,
            block_cols,
        }
    }

    /// The packed weights.
    pub(crate) fn data(&self) -> &[i8] {
        self.data.as_i8()
    }

    /// The packed weights, to rearrange (the wasm simd128 build regroups them).
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn data_mut(&mut self) -> &mut [i8] {
        self.data.as_i8_mut()
    }

    /// The width of activation rows the kernels take: k rounded up to a multiple of 4.
    pub(crate) fn padded_k(&self) -> usize {
        self.k_groups * 4
    }
}

/// The int8 product's loop: passes of `ROWS_PER_PASS` rows; in each, the column blocks are split
/// over rayon's threads and every block walks its rows a register tile at a time.
/// `tile(row, rows, block)` returns the sums of `rows` (at most `MR`) rows from `row` against
/// block `block`; they go to `sink`, whose columns are the product's. (The f32 product has its
/// own loop, which also steps through k.)
pub(crate) fn drive(
    rows: usize,
    sink: &impl Int8Sink,
    tile: impl Fn(usize, usize, usize) -> [[i32; NR]; MR] + Sync,
) {
    let blocks = sink.columns().div_ceil(NR);
    for first_row in (0..rows).step_by(ROWS_PER_PASS) {
        let pass_end = (first_row + ROWS_PER_PASS).min(rows);
        (0..blocks)
            .into_par_iter()
            .with_min_len(4)
            .for_each(|block| {
                let mut row = first_row;
                while row < pass_end {
                    let tile_rows = (pass_end - row).min(MR);
                    let sums = tile(row, tile_rows, block);
                    // SAFETY: the tile's rows are below `rows` and the block's columns below
                    // the sink's; no other task writes this block's columns.
                    unsafe { sink.put(&sums[..tile_rows], row, block) };
                    row += tile_rows;
                }
            });
    }
}

/// Test support for the architecture files: `gemm` on weights packed by `pack` equals exact
/// integer sums of u8 activations 0..=`top` (extremes included) and i8 weights -127..=127, on
/// shapes that are and are not multiples of the tiles.
#[cfg(test)]
pub(crate) fn assert_exact_int8_sums(
    pack: impl Fn(&[i8], usize, usize) -> PackedInt8,
    gemm: impl Fn(&[u8], usize, &PackedInt8, &RawSums),
    top: u8,
) {
    let mut rng = super::testing::Seeded::new(7);
    let mut next = || rng.next();
    for (rows, k, n) in [
        (1, 1, 1),
        (3, 5, 17),
        (4, 8, 16),
        (7, 100, 33),
        (70, 768, 40),
        (9, 64, 48),
        (130, 96, 70),
        (5, 3072, 16),
        (2, 768, 3),
        // Row tails of 1 and 17 after whole 32-row pairs (AMX), k not a multiple of 64.
        (49, 200, 96),
        (33, 768, 64),
    ] {
        let codes: Vec<i8> = (0..n * k)
            .map(|_| ((next() % 255) as i32 - 127) as i8)
            .collect();
        let packed = pack(&codes, n, k);
        let kp = packed.padded_k();
        let mut a = vec![0u8; rows * kp];
        for r in 0..rows {
            for i in 0..k {
                a[r * kp + i] = match next() % 8 {
                    0 => top,
                    1 => 0,
                    _ => (next() % (top as u32 + 1)) as u8,
                };
            }
        }
        let mut out = vec![0i32; rows * n];
        gemm(&a, rows, &packed, &RawSums::new(&mut out, n));
        for r in 0..rows {
            for c in 0..n {
                let want: i32 = (0..k)
                    .map(|i| a[r * kp + i] as i32 * codes[c * k + i] as i32)
                    .sum();
                assert_eq!(out[r * n + c], want, "{rows} x {k} x {n} at {r}, {c}");
            }
        }
    }
}
