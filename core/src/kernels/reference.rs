//! The reference kernels: plain in-order loops that are the specification of every pass. The
//! tuned kernels are tested against them (core/tests/kernels.rs, core/tests/float_kernels/).
//!
//! Each sum runs in index order with the number type's accumulation rule: an entry of
//! W x adds its products one at a time as [`Scalar::add_product`] (one rounding per product in
//! fixed point), a dot product is [`Scalar::dot`] (one rounding at the end in fixed point),
//! and an update is w - eta g with the gradient entry g summed first and eta g rounded by the
//! format's rounding state ([`Scalar::sub_mul_rounded`]).

use super::Kernels;
use crate::activation::Activation;
use crate::block::{BlockTape, ResidualBlock};
use crate::{Matrix, Scalar, Vector};

/// Plain in-order loops for every [`Scalar`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reference;

impl<T: Scalar> Kernels<T> for Reference {
    /// y_r += sum_j W[r, j] x_j, j = 0, 1, ..., each term added as one entry of
    /// [`Scalar::axpy`].
    fn mat_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        xs: [&Vector<T, C>; B],
        ys: &mut [Vector<T, R>; B],
    ) {
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            for j in 0..C {
                for r in 0..R {
                    y[r] = y[r].add_product(x[j], w[(r, j)]);
                }
            }
        }
    }

    /// out_j += W[:, j] . g ([`Scalar::dot`]).
    fn mat_t_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        gs: [&Vector<T, R>; B],
        outs: &mut [Vector<T, C>; B],
    ) {
        for (g, out) in gs.iter().zip(outs.iter_mut()) {
            for j in 0..C {
                out[j] += T::dot(w.column(j).as_slice(), g.as_slice());
            }
        }
    }

    /// w_jk <- w_jk - eta g_jk with g_jk = sum_b u_b[j] v_b[k] summed from b = 0 (one
    /// [`Scalar::add_product`] per sample), column by column; then the bias, v = 1.
    fn update<const R: usize, const C: usize, const B: usize>(
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        for k in 0..C {
            for j in 0..R {
                let g = (0..B).fold(T::ZERO, |g, b| g.add_product(us[b][j], vs[b][k]));
                w[(j, k)] = w[(j, k)].sub_mul_rounded(eta, g, rounding);
            }
        }
        if let Some(bias) = bias {
            for j in 0..R {
                let g = (0..B).fold(T::ZERO, |g, b| g.add_product(us[b][j], T::ONE));
                bias[j] = bias[j].sub_mul_rounded(eta, g, rounding);
            }
        }
    }

    /// sum_{b, c} (u_b . u_c)(v_b . v_c) ([`Scalar::dot_times_dot`]), then sum_{b, c} u_b . u_c
    /// for the bias, each in the order of [`add_symmetric`].
    fn add_norm_sq<const R: usize, const C: usize, const B: usize>(
        total: &mut T,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        bias: bool,
    ) {
        let (us, vs) = (us.map(|u| u.as_slice()), vs.map(|v| v.as_slice()));
        add_symmetric::<T, B>(total, |b, c| T::dot_times_dot(us[b], us[c], vs[b], vs[c]));
        if bias {
            add_symmetric::<T, B>(total, |b, c| T::dot(us[b], us[c]));
        }
    }
}

/// total += sum_{b, c < B} term(b, c) for a term symmetric in (b, c): the diagonal once and
/// each pair b < c twice, b-major (the order every kernel's gradient norm sums in).
#[inline]
pub(crate) fn add_symmetric<T: Scalar, const B: usize>(
    total: &mut T,
    term: impl Fn(usize, usize) -> T,
) {
    for b in 0..B {
        *total += term(b, b);
        for c in b + 1..B {
            let t = term(b, c);
            *total += t + t;
        }
    }
}

/// A block's forward pass from the matrix kernels of K: z = W1 x + b1, a = s(z),
/// y = x + b2 + W2 a (H and D per sample).
#[inline]
pub(crate) fn block_forward<K, T, const D: usize, const H: usize, S, const B: usize>(
    block: &ResidualBlock<T, D, H, S>,
    xs: &[Vector<T, D>; B],
    tapes: &mut [BlockTape<T, D, H>; B],
) -> [Vector<T, D>; B]
where
    K: Kernels<T>,
    T: Scalar,
    S: Activation,
{
    // The tape's copy first: it loads each x whole, and W1 x then takes its x_j from those
    // loads. With W1 x first, the compiler loaded each x_j on its own, as a 16-byte load at
    // x + j straddling two of the stores that had just written x (the caller's loop over
    // blocks), which cannot be forwarded from them: a stall per entry on x86 without AVX (seen
    // in the profile of a one-sample forward pass).
    for (tape, x) in tapes.iter_mut().zip(xs) {
        tape.x = *x;
    }
    let mut zs = [block.b1; B];
    K::mat_vec(&block.w1, xs.each_ref(), &mut zs);
    for (tape, z) in tapes.iter_mut().zip(&zs) {
        tape.a = z.map(S::apply);
    }
    // A loop, not `xs.map`: the array's map was left out of line (a call per block).
    let mut ys = *xs;
    for y in &mut ys {
        *y += block.b2;
    }
    K::mat_vec(&block.w2, tapes.each_ref().map(|t| &t.a), &mut ys);
    ys
}

/// A block's backward pass from the matrix kernels of K: da = W2^T dy, dz = da s'(z) (from
/// a = s(z)), dx = dy + W1^T dz (the skip connection carries dy through unchanged).
#[inline]
pub(crate) fn block_backward<K, T, const D: usize, const H: usize, S, const B: usize>(
    block: &ResidualBlock<T, D, H, S>,
    dys: &[Vector<T, D>; B],
    tapes: &mut [BlockTape<T, D, H>; B],
) -> [Vector<T, D>; B]
where
    K: Kernels<T>,
    T: Scalar,
    S: Activation,
{
    let mut das = [crate::zeros::<T, H, 1>(); B];
    K::mat_t_vec(&block.w2, dys.each_ref(), &mut das);
    for ((tape, dy), da) in tapes.iter_mut().zip(dys).zip(&das) {
        tape.dy = *dy;
        tape.dz = da.zip_map(&tape.a, S::backward_from_output);
    }
    let mut dxs = *dys;
    K::mat_t_vec(&block.w1, tapes.each_ref().map(|t| &t.dz), &mut dxs);
    dxs
}

/// A block's plain SGD update from the kernels of K: (W1, b1) with factors (dz, x), then
/// (W2, b2) with (dy, a).
#[inline]
pub(crate) fn block_update<K, T, const D: usize, const H: usize, S, const B: usize>(
    block: &mut ResidualBlock<T, D, H, S>,
    tapes: &[BlockTape<T, D, H>; B],
    eta: T,
    rounding: &mut T::Rounding,
) where
    K: Kernels<T>,
    T: Scalar,
    S: Activation,
{
    let (dz, x) = (
        tapes.each_ref().map(|t| &t.dz),
        tapes.each_ref().map(|t| &t.x),
    );
    K::update(&mut block.w1, Some(&mut block.b1), dz, x, eta, rounding);
    let (dy, a) = (
        tapes.each_ref().map(|t| &t.dy),
        tapes.each_ref().map(|t| &t.a),
    );
    K::update(&mut block.w2, Some(&mut block.b2), dy, a, eta, rounding);
}
