//! Kernels for floats on targets with vector units (desktop): dot products with 8 independent
//! partial sums (lanes i mod 8, added pairwise at the end) so the compiler can vectorise them,
//! which a single running sum forbids for floats; W^T g four columns at a time; the fused SGD
//! update 8 rows at a time; and for B > 1 the register-blocked batch kernels of [`super::tiles`].
//!
//! Against [`super::Reference`]: W x is the same bits (each entry still adds its products in
//! column order); W^T g and the gradient norm sum in lane order, the update folds eta into each
//! column's factor (as [`super::ByUnit`]), both equal to the reference up to rounding (bounds in
//! core/tests/kernels.rs). The batch kernels equal the one-sample ones to the bit.

use super::{Kernels, by_unit::fused_step, reference::add_symmetric, tiles};
use crate::{Matrix, Real, Scalar, Vector};

/// 8-lane dot products and register tiles, for f32 and f64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lanes;

impl<T: Real> Kernels<T> for Lanes {
    /// One sample: C axpys over the columns of W. B > 1: [`tiles::mat_mat_add`], the same
    /// bits.
    #[inline]
    fn mat_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        xs: [&Vector<T, C>; B],
        ys: &mut [Vector<T, R>; B],
    ) {
        if B > 1 {
            tiles::mat_mat_add(w, xs, ys);
        } else {
            for (x, y) in xs.iter().zip(ys.iter_mut()) {
                mat_vec_add(w, x, y);
            }
        }
    }

    /// One sample: [`add_mat_t_vec`]. B > 1: [`tiles::base_plus_mat_t_mat`], the same bits.
    #[inline]
    fn mat_t_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        gs: [&Vector<T, R>; B],
        outs: &mut [Vector<T, C>; B],
    ) {
        if B > 1 {
            tiles::base_plus_mat_t_mat(w, gs, outs);
        } else {
            for (g, out) in gs.iter().zip(outs.iter_mut()) {
                add_mat_t_vec::<T, R>(w.as_slice(), g.as_slice(), out.as_mut_slice());
            }
        }
    }

    /// One sample: [`update_columns`]. B > 1: [`tiles::sgd_update`], the same bits.
    #[inline]
    fn update<const R: usize, const C: usize, const B: usize>(
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        eta: T,
        _: &mut T::Rounding,
    ) {
        if B > 1 {
            let us = us.map(|u| u.as_slice());
            tiles::sgd_update(w.as_mut_slice(), &us, &vs.map(|v| Some(v.as_slice())), eta);
            if let Some(bias) = bias {
                tiles::sgd_update(bias.as_mut_slice(), &us, &[None; B], eta);
            }
            return;
        }
        update_columns(w, us, vs, eta);
        if let Some(bias) = bias {
            let us = us.map(|u| u.as_slice());
            update_column(bias.as_mut_slice(), &us, &[T::ONE; B], eta);
        }
    }

    /// One sample: (u . u)(v . v) with 8-lane [`dot`]s. B > 1: the Gram matrices of the u's
    /// and the v's from [`tiles::gram_upper`] (the same dot products), the u's shared with the
    /// bias.
    #[inline]
    fn add_norm_sq<const R: usize, const C: usize, const B: usize>(
        total: &mut T,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        bias: bool,
    ) {
        let (us, vs) = (us.map(|u| u.as_slice()), vs.map(|v| v.as_slice()));
        if B > 1 {
            let gu = tiles::gram_upper(&us);
            let gv = tiles::gram_upper(&vs);
            add_symmetric::<T, B>(total, |b, c| gu[b][c] * gv[b][c]);
            if bias {
                add_symmetric::<T, B>(total, |b, c| gu[b][c]);
            }
            return;
        }
        add_symmetric::<T, B>(total, |b, c| dot(us[b], us[c]) * dot(vs[b], vs[c]));
        if bias {
            add_symmetric::<T, B>(total, |b, c| dot(us[b], us[c]));
        }
    }
}

/// sum_i a_i b_i over the common length with 8 partial sums (lanes i mod 8, added pairwise at
/// the end by [`reduce8`]).
#[inline]
pub(crate) fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut lanes = [T::ZERO; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
    for (x, y) in a8.zip(b8) {
        for l in 0..8 {
            lanes[l] += x[l] * y[l];
        }
    }
    for (l, (&x, &y)) in a_rest.iter().zip(b_rest).enumerate() {
        lanes[l] += x * y;
    }
    reduce8(&lanes)
}

/// acc[l] += a[l] b[l] for the 8 lanes of [`dot`] (the register tiles' step).
#[inline(always)]
pub(crate) fn mul_add8<T: Scalar>(mut acc: [T; 8], a: &[T; 8], b: &[T; 8]) -> [T; 8] {
    for l in 0..8 {
        acc[l] += a[l] * b[l];
    }
    acc
}

/// The pairwise sum of 8 lanes in [`dot`]'s order.
#[inline(always)]
pub(crate) fn reduce8<T: Scalar>(lanes: &[T; 8]) -> T {
    let [l0, l1, l2, l3, l4, l5, l6, l7] = *lanes;
    ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
}

/// y += W x, with W: (R, C), x: (C), y: (R): C axpys over the columns.
#[inline]
pub(crate) fn mat_vec_add<T: Scalar, const R: usize, const C: usize>(
    w: &Matrix<T, R, C>,
    x: &Vector<T, C>,
    y: &mut Vector<T, R>,
) {
    let y = y.as_mut_slice();
    for (j, column) in w.as_slice().chunks_exact(R.max(1)).enumerate().take(C) {
        T::axpy(x[j], column, y);
    }
}

/// `out[j] += w[:, j] . g` for every column j of the column-major `w` with `ROWS` rows (and
/// `out.len()` columns), four columns at a time ([`dots4`]): each dot product keeps the 8 lanes
/// of [`dot`] and their pairwise sum, so it equals `dot(w[:, j], g)` to the bit.
///
/// The output is walked as a slice: nalgebra's iterator's `skip` to the last C mod 4 columns
/// stepped through every entry one at a time (`Iterator::nth`, seen in a profile).
#[inline(always)]
pub(crate) fn add_mat_t_vec<T: Scalar, const ROWS: usize>(w: &[T], g: &[T], out: &mut [T]) {
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
        *o += dot(column, g);
    }
}

/// `[a[0] . g, a[1] . g, a[2] . g, a[3] . g]` over the common length, each with the 8 partial
/// sums of [`dot`]: equal to `dot` to the bit. Each chunk of 8 entries of g is loaded once for
/// the four columns.
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

/// W <- W - sum_b (eta v_b) u_b^T for W: (R, C), one [`update_column`] per column.
///
/// The columns are found through a stride the optimiser cannot see (`black_box(R)`). With the
/// stride a constant, the unrolled rows of each column left the loop over columns as the
/// innermost loop, and where the target has scatters (AVX-512: `-C target-cpu=native` on such
/// a CPU) the compiler vectorised that loop across 8 columns: a gather and a scatter per row
/// instead of a load and a store per 8 rows (the profile of a native build, where the update
/// then took most of a training step). Through an unknown stride the columns cannot be proved
/// apart, and each stays a column of vector operations. The factors u_b are copied to a local
/// first: read in place, the compiler could not tell them from the weights stored through the
/// unknown stride and reloaded them for every column instead of keeping them in registers.
#[inline(always)]
fn update_columns<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &mut Matrix<T, R, C>,
    us: [&Vector<T, R>; B],
    vs: [&Vector<T, C>; B],
    eta: T,
) {
    let stride = core::hint::black_box(R);
    let local = us.map(|u| u.data.0[0]);
    let us = &local.each_ref().map(|u| u.as_slice());
    let mut columns = w.as_mut_slice();
    let mut k = 0;
    // Two columns per iteration: half the loop and bounds checks per column.
    while k + 2 <= C {
        let Some((pair, rest)) = columns.split_at_mut_checked(2 * stride) else {
            return;
        };
        let Some((c0, c1)) = pair.split_at_mut_checked(stride) else {
            return;
        };
        let (Some(c0), Some(c1)) = (c0.get_mut(..R), c1.get_mut(..R)) else {
            return;
        };
        update_column(c0, us, &vs.map(|v| v[k]), eta);
        update_column(c1, us, &vs.map(|v| v[k + 1]), eta);
        columns = rest;
        k += 2;
    }
    if k < C
        && let Some(column) = columns.get_mut(..R)
    {
        update_column(column, us, &vs.map(|v| v[k]), eta);
    }
}

/// One column of the fused update, w_j <- w_j - sum_b (eta vs[b]) us[b][j], 8 rows at a time
/// (the same per-weight expression as [`fused_step`]). Every `us[b]` must be at least as long
/// as `column` (the shapes come from the types of [`Lanes::update`]).
///
/// Always inlined: kept out of line, the compiler called it once per column with the row count
/// a run-time value (a large share of a desktop training step in a profile); inlined into the
/// update the lengths are the types'.
#[inline(always)]
pub(crate) fn update_column<T: Scalar, const B: usize>(
    column: &mut [T],
    us: &[&[T]; B],
    vs: &[T; B],
    eta: T,
) {
    if us.iter().any(|u| u.len() < column.len()) {
        return;
    }
    let a: [T; B] = core::array::from_fn(|b| eta * vs[b]);
    // The step sum_b a_b u_b is summed apart from w (whose rounding is coarser) and subtracted
    // once; it starts from the first product, not from 0 + (which the compiler may not drop:
    // 0 + -0 is +0).
    let ([u0, rest_u @ ..], [a0, rest_a @ ..]) = (us.as_slice(), a.as_slice()) else {
        return;
    };
    let done = column.len() / 8 * 8;
    let mut rows = column.chunks_exact_mut(8);
    for (c, ws) in (&mut rows).enumerate() {
        let r = 8 * c..8 * c + 8;
        let mut step = [T::ZERO; 8];
        for (s, &u) in step.iter_mut().zip(&u0[r.clone()]) {
            *s = *a0 * u;
        }
        for (u, &a) in rest_u.iter().zip(rest_a) {
            for (s, &u) in step.iter_mut().zip(&u[r.clone()]) {
                *s += a * u;
            }
        }
        for (w, s) in ws.iter_mut().zip(step) {
            *w -= s;
        }
    }
    for (j, w) in rows.into_remainder().iter_mut().enumerate() {
        let i = done + j;
        let u: [T; B] = core::array::from_fn(|b| us[b][i]);
        *w -= fused_step(&a, &u);
    }
}
