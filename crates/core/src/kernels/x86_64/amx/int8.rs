//! int8 products on AMX tiles: one `tdpbusd` multiplies a 16 x 64 tile of u8 activations by a
//! 64 x 16 tile of i8 weights into 16 x 16 i32 sums, 16,384 multiply-adds, eight times what an
//! AVX-512 VNNI instruction does per cycle of its unit.
//!
//! The weights are the VNNI tile's packing (`../int8.rs`: blocks of 32 columns, each a run of
//! groups of 32 columns x 4 values of k) with k padded to a multiple of 64, so the VNNI tile
//! multiplies the same packing for products of fewer rows. Activations are read in place at the
//! padded row stride.

use std::arch::asm;
use std::ops::Range;

use super::{
    drive, prefetch_l2, TileProduct, BLOCK_COLS, GROUP_BYTES, PREFETCH_BLOCKS, TILE_BYTES,
    TILE_ROWS,
};
use crate::kernels::sink::{Int8Sink, SINK_COLS};
use crate::kernels::tiled::{PackedInt8, NR};

/// Rows from which a product runs on AMX tiles rather than the VNNI tile. Below a tile's 16
/// rows AMX computes padding; at 32 and more it was ahead on every layer shape of XLM-R base.
pub(crate) const AMX_MIN_ROWS: usize = 32;

/// Packs `codes` (`[n, k]`) for [`gemm_amx`] and, for fewer rows, `gemm_vnni`.
pub(crate) fn pack_amx(codes: &[i8], n: usize, k: usize) -> PackedInt8 {
    PackedInt8::with_layout(codes, n, k, BLOCK_COLS, TILE_BYTES / 4)
}

/// The sums `sum_i a[r][i] * w[c][i]` on AMX tiles into `sink`, for `a` of `rows` rows of
/// `padded_k()` codes (the padding zero).
pub(crate) fn gemm_amx(a: &[u8], rows: usize, weights: &PackedInt8, sink: &impl Int8Sink) {
    assert_eq!(weights.block_cols, BLOCK_COLS);
    let kp = weights.padded_k();
    assert_eq!(kp % TILE_BYTES, 0, "AMX packing pads k to whole tiles");
    assert_eq!(a.len(), rows * kp);
    assert_eq!(sink.columns(), weights.n);
    drive(&Int8Product {
        a,
        rows,
        kp,
        weights,
        sink,
    });
}

/// One int8 product, for [`drive`].
struct Int8Product<'a, S> {
    a: &'a [u8],
    rows: usize,
    kp: usize,
    weights: &'a PackedInt8,
    sink: &'a S,
}

impl<S: Int8Sink> TileProduct for Int8Product<'_, S> {
    type Sum = i32;

    fn rows(&self) -> usize {
        self.rows
    }

    fn columns(&self) -> usize {
        self.weights.n
    }

    fn steps(&self) -> usize {
        self.kp / TILE_BYTES
    }

    fn row_bytes(&self) -> usize {
        self.kp
    }

    #[inline(never)]
    unsafe fn steps_into_tiles(
        &self,
        row: usize,
        second: bool,
        block: usize,
        steps: Range<usize>,
        prefetch: bool,
    ) {
        let kp = self.kp;
        let panel_len = self.weights.k_groups * GROUP_BYTES;
        let all: &[u8] = bytemuck::cast_slice(self.weights.data());
        let panel = &self.weights.data()[block * panel_len..][..panel_len];
        let ahead = (block + PREFETCH_BLOCKS) * panel_len;
        debug_assert!(row < self.rows);
        let a0 = self.a[row * kp..].as_ptr();
        let a1 = a0.wrapping_add(TILE_ROWS * kp);
        let b = panel.as_ptr();
        for step in steps {
            let step_bytes = TILE_ROWS * GROUP_BYTES;
            if prefetch {
                prefetch_l2(all, ahead + step * step_bytes, step_bytes);
            }
            // SAFETY: the tiles are configured for these rows (the caller's guarantee); each
            // activation tile reads 64 bytes at `step * 64` of rows of `a`, each weight tile 16
            // groups of 128 bytes inside this block's panel.
            unsafe {
                let weights = b.add(step * TILE_ROWS * GROUP_BYTES);
                if second {
                    asm!(
                        "tileloadd tmm4, [{a0} + {a_stride} * 1]",
                        "tileloadd tmm6, [{b0} + {b_stride} * 1]",
                        "tileloadd tmm7, [{b1} + {b_stride} * 1]",
                        "tdpbusd tmm0, tmm4, tmm6",
                        "tileloadd tmm5, [{a1} + {a_stride} * 1]",
                        "tdpbusd tmm1, tmm4, tmm7",
                        "tdpbusd tmm2, tmm5, tmm6",
                        "tdpbusd tmm3, tmm5, tmm7",
                        a0 = in(reg) a0.add(step * TILE_BYTES),
                        a1 = in(reg) a1.wrapping_add(step * TILE_BYTES),
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
                        a0 = in(reg) a0.add(step * TILE_BYTES),
                        a_stride = in(reg) kp,
                        b0 = in(reg) weights,
                        b1 = in(reg) weights.add(NR * 4),
                        b_stride = in(reg) GROUP_BYTES,
                        options(nostack, readonly),
                    );
                }
            }
        }
    }

    unsafe fn finish(&self, sums: &[[i32; SINK_COLS]], row: usize, block16: usize) {
        // SAFETY: the caller's guarantee.
        unsafe { self.sink.put(sums, row, block16) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernels::sink::RawSums;
    use crate::kernels::tiled::assert_exact_int8_sums;
    use crate::kernels::x86_64::amx::{amx_state, AmxState};
    use crate::kernels::x86_64::{gemm_vnni, has_vnni};

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
        let mut rng = crate::kernels::testing::Seeded::new(3);
        for (rows, k, n) in [(1, 768, 64), (31, 768, 96), (32, 3072, 40), (700, 768, 70)] {
            let codes: Vec<i8> = (0..n * k)
                .map(|_| ((rng.next() % 255) as i32 - 127) as i8)
                .collect();
            let packed = pack_amx(&codes, n, k);
            let kp = packed.padded_k();
            let mut a = vec![0u8; rows * kp];
            for r in 0..rows {
                for i in 0..k {
                    a[r * kp + i] = (rng.next() % 256) as u8;
                }
            }
            let (mut amx, mut vnni) = (vec![0i32; rows * n], vec![0i32; rows * n]);
            gemm_amx(&a, rows, &packed, &RawSums::new(&mut amx, n));
            gemm_vnni(&a, rows, &packed, &RawSums::new(&mut vnni, n));
            assert_eq!(amx, vnni, "{rows} x {k} x {n}");
        }
    }
}
