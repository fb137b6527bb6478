//! The matrix kernels every layer is made of, over nalgebra's column-major static matrices.
//!
//! Column-major means column j of an R x C matrix W is the contiguous slice W[:, j], so
//! y += W x is C axpys over columns, and W^T g is C dot products with columns: both stream the
//! matrix once, front to back, and vectorise. The scalar type supplies `dot` and `axpy`
//! (fixed-point types accumulate wide there).

use crate::fixed::Dither;
use crate::scalar::VECTOR_UNITS;
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
    if !VECTOR_UNITS {
        for (j, column) in w.as_slice().chunks_exact(R.max(1)).enumerate().take(C) {
            out[j] += T::dot(column, g.as_slice());
        }
        return out;
    }
    let columns = w.as_slice().chunks_exact(R.max(1)).take(C);
    // Four columns at a time, each with 8 lanes of partial sums along the rows: the loop is
    // then plain vector multiply-adds over contiguous rows (left alone, the compiler vectorises
    // across columns instead, gathering strided elements).
    let g = g.as_slice();
    let mut quads = w.as_slice().chunks_exact(4 * R.max(1)).take(C / 4);
    for (o, quad) in out.as_mut_slice().chunks_exact_mut(4).zip(&mut quads) {
        let mut lanes = [[T::ZERO; 8]; 4];
        let (rows8, rest) = (R / 8 * 8, R % 8);
        for r in (0..rows8).step_by(8) {
            for (c, acc) in lanes.iter_mut().enumerate() {
                let col = &quad[c * R + r..c * R + r + 8];
                for l in 0..8 {
                    acc[l] += col[l] * g[r + l];
                }
            }
        }
        for (c, acc) in lanes.iter_mut().enumerate() {
            for l in 0..rest {
                acc[l] += quad[c * R + rows8 + l] * g[rows8 + l];
            }
        }
        for (o, [l0, l1, l2, l3, l4, l5, l6, l7]) in o.iter_mut().zip(lanes) {
            *o += ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7));
        }
    }
    for (o, column) in out.iter_mut().skip(C / 4 * 4).zip(columns.skip(C / 4 * 4)) {
        *o += T::dot(column, g);
    }
    out
}

/// The plain SGD update of a weight matrix, W <- W - eta sum_b u_b v_b^T with W: (R, C),
/// u_b: (R), v_b: (C), through [`Scalar::sgd_outer`]. The shapes are in the types, so after
/// inlining every loop has a known length.
#[inline]
pub fn sgd_outer<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &mut Matrix<T, R, C>,
    us: &[&Vector<T, R>; B],
    vs: &[&Vector<T, C>; B],
    eta: T,
    dither: &mut Dither,
) {
    let (us, vs) = (us.map(|u| u.as_slice()), vs.map(|v| v.as_slice()));
    T::sgd_outer(w.as_mut_slice(), &us, &vs, eta, dither);
}

/// The plain SGD update of a bias, b <- b - eta sum_b u_b with b, u_b: (R) (a one-column
/// [`sgd_outer`] whose factors v_b are 1).
#[inline]
pub fn sgd_bias<T: Scalar, const R: usize, const B: usize>(
    bias: &mut Vector<T, R>,
    us: &[&Vector<T, R>; B],
    eta: T,
    dither: &mut Dither,
) {
    T::sgd_column(
        bias.as_mut_slice(),
        &us.map(|u| u.as_slice()),
        &[T::ONE; B],
        eta,
        dither,
    );
}
