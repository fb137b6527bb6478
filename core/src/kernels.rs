//! The matrix kernels every layer is made of, over nalgebra's column-major static matrices.
//!
//! Column-major means column j of an R x C matrix W is the contiguous slice W[:, j], so
//! y += W x is C axpys over columns, and W^T g is C dot products with columns: both stream the
//! matrix once, front to back, and vectorise. The scalar type supplies `dot` and `axpy`
//! (fixed-point types accumulate wide there).

use crate::fixed::Dither;
use crate::scalar::{VECTOR_UNITS, is_float, mul_add8, reduce8};
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
    if !float_lanes::<T>() {
        // Fixed point on desktop targets: its own wide-accumulating dot, one column at a time.
        let columns = w.as_slice().chunks_exact(R.max(1));
        for (o, column) in out.as_mut_slice().iter_mut().zip(columns) {
            *o += T::dot(column, g.as_slice());
        }
        return out;
    }
    add_mat_t_vec::<T, R>(w.as_slice(), g.as_slice(), out.as_mut_slice());
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

/// True for f32 and f64 on targets with vector units: the kernels then keep the 8 lanes of
/// [`Scalar::dot`] in register tiles. Fixed-point formats, which accumulate wide in their own
/// `dot`, keep the plain per-column loops.
#[inline(always)]
pub(crate) fn float_lanes<T: Scalar>() -> bool {
    VECTOR_UNITS && is_float::<T>()
}

/// `out[j] += w[:, j] . g` for every column j of the column-major `w` with `ROWS` rows (and
/// `out.len()` columns), four columns at a time ([`dots4`]): each dot product keeps the 8 lanes
/// of [`Scalar::dot`] and their pairwise sum, so it equals `T::dot(w[:, j], g)` to the bit.
///
/// The output is walked as a slice: the nalgebra iterator's `skip` to the last C mod 4 columns
/// stepped through every entry one at a time (`Iterator::nth`, 5% of a (16, 32, 32, 1) f32
/// training step in the profile, even with no column left over).
#[inline(always)]
fn add_mat_t_vec<T: Scalar, const ROWS: usize>(w: &[T], g: &[T], out: &mut [T]) {
    let mut columns = w.chunks_exact(ROWS.max(1));
    let mut quads = out.chunks_exact_mut(4);
    for o in &mut quads {
        let (Some(c0), Some(c1), Some(c2), Some(c3)) = (
            columns.next(),
            columns.next(),
            columns.next(),
            columns.next(),
        ) else {
            return;
        };
        let d = dots4([c0, c1, c2, c3], g);
        for (o, d) in o.iter_mut().zip(d) {
            *o += d;
        }
    }
    for (o, column) in quads.into_remainder().iter_mut().zip(columns) {
        *o += T::dot(column, g);
    }
}

/// `[a[0] . g, a[1] . g, a[2] . g, a[3] . g]` over the common length, each with the 8 partial
/// sums of [`Scalar::dot`] (lanes i mod 8, added pairwise at the end): equal to `T::dot` to the
/// bit. Each chunk of 8 entries of g is loaded once for the four columns.
#[inline(always)]
fn dots4<T: Scalar>(a: [&[T]; 4], g: &[T]) -> [T; 4] {
    let n = a.iter().map(|v| v.len()).fold(g.len(), usize::min);
    let (a0, a0r) = a[0][..n].as_chunks::<8>();
    let (a1, a1r) = a[1][..n].as_chunks::<8>();
    let (a2, a2r) = a[2][..n].as_chunks::<8>();
    let (a3, a3r) = a[3][..n].as_chunks::<8>();
    let (g8, gr) = g[..n].as_chunks::<8>();
    let zero = [T::ZERO; 8];
    let (mut l0, mut l1, mut l2, mut l3) = (zero, zero, zero, zero);
    for ((((x0, x1), x2), x3), y) in a0.iter().zip(a1).zip(a2).zip(a3).zip(g8) {
        l0 = mul_add8(l0, x0, y);
        l1 = mul_add8(l1, x1, y);
        l2 = mul_add8(l2, x2, y);
        l3 = mul_add8(l3, x3, y);
    }
    let rest = |mut l: [T; 8], x: &[T]| {
        for (l, (&x, &y)) in l.iter_mut().zip(x.iter().zip(gr)) {
            *l += x * y;
        }
        reduce8(&l)
    };
    [rest(l0, a0r), rest(l1, a1r), rest(l2, a2r), rest(l3, a3r)]
}
