//! The matrix kernels every layer is made of, over nalgebra's column-major static matrices.
//!
//! Column-major means column j of an R x C matrix W is the contiguous slice W[:, j], so
//! y += W x is C axpys over columns, and W^T g is C dot products with columns: both stream the
//! matrix once, front to back, and vectorise. The scalar type supplies `dot` and `axpy`
//! (fixed-point types accumulate wide there).

use crate::{Matrix, Scalar, Vector};

/// y += W x, with W: (R, C), x: (C), y: (R).
#[inline]
pub fn mat_vec_add<T: Scalar, const R: usize, const C: usize>(
    w: &Matrix<T, R, C>,
    x: &Vector<T, C>,
    y: &mut Vector<T, R>,
) {
    let y = y.as_mut_slice();
    for (j, column) in w.as_slice().chunks_exact(R.max(1)).enumerate().take(C) {
        T::axpy(x[j], column, y);
    }
}

/// out_j = base_j + W[:, j] . g for every column j: out = base + W^T g, with W: (R, C),
/// g: (R), base and out: (C).
#[inline]
pub fn base_plus_mat_t_vec<T: Scalar, const R: usize, const C: usize>(
    w: &Matrix<T, R, C>,
    g: &Vector<T, R>,
    base: &Vector<T, C>,
) -> Vector<T, C> {
    let mut out = *base;
    for (j, column) in w.as_slice().chunks_exact(R.max(1)).enumerate().take(C) {
        out[j] += T::dot(column, g.as_slice());
    }
    out
}
