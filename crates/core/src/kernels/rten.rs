//! rten-gemm, where its kernels run: the f32 and int8 executors of this thread, and views of
//! our buffers as its matrices.

use rten_gemm::GemmExecutor;
use rten_tensor::{Matrix, NdTensorView};

use crate::error::{Error, Result};

thread_local! {
    // An executor holds its kernel as a `Box<dyn Kernel>` that is neither Send nor Sync, so each
    // thread makes its own (cheap: a CPU feature check). Every thread picks the same kernel, so
    // matrices packed on one thread are multiplied correctly on any other.
    static F32_GEMM: GemmExecutor<f32> = GemmExecutor::default();
    static INT8_GEMM: GemmExecutor<u8, i8, i32> = GemmExecutor::default();
}

/// Runs `f` with this thread's f32 executor.
pub(crate) fn f32_gemm<R>(f: impl FnOnce(&GemmExecutor<f32>) -> R) -> R {
    F32_GEMM.with(f)
}

/// Runs `f` with this thread's u8 x i8 executor.
pub(crate) fn int8_gemm<R>(f: impl FnOnce(&GemmExecutor<u8, i8, i32>) -> R) -> R {
    INT8_GEMM.with(f)
}

/// A failed product (a shape the caller got wrong: a bug, not bad input).
pub(crate) fn gemm_error(error: impl std::fmt::Display) -> Error {
    Error::Kernel(format!("matrix product: {error}"))
}

/// `data` as a `rows x cols` row-major matrix (generic over f32, u8 and i8).
pub(crate) fn matrix<T>(data: &[T], rows: usize, cols: usize) -> Result<Matrix<'_, T>> {
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
pub(crate) fn strided(
    data: &[f32],
    offset: usize,
    rows: usize,
    cols: usize,
    strides: [usize; 2],
) -> Result<Matrix<'_>> {
    NdTensorView::from_slice_with_strides([rows, cols], &data[offset..], strides)
        .map_err(|e| gemm_error(format!("{rows} x {cols} view: {e:?}")))
}
