//! Kernels for floats on targets without vector units (the Cortex-M4F): a residual block one
//! hidden unit at a time, so each weight is read once per pass and z_j, a_j and dz_j stay in
//! registers, and plain SGD one row at a time with eta folded into each column's factor.
//!
//! Forward and backward keep [`super::Reference`]'s order of operations exactly (the same bits).
//! The update computes w - sum_b (eta v_b) u_b where the reference computes
//! w - eta (sum_b u_b v_b): one product per weight and sample instead of two, the same value up
//! to rounding (the bound is in core/tests/float_kernels/).

use super::{Kernels, Reference};
use crate::activation::Activation;
use crate::block::{BlockTape, ResidualBlock};
use crate::{Matrix, Real, Scalar, Vector, zeros};

/// A block one hidden unit at a time; updates one row at a time. For f32 and f64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ByUnit;

impl<T: Real> Kernels<T> for ByUnit {
    #[inline]
    fn mat_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        xs: [&Vector<T, C>; B],
        ys: &mut [Vector<T, R>; B],
    ) {
        <Reference as Kernels<T>>::mat_vec(w, xs, ys);
    }

    #[inline]
    fn mat_t_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        gs: [&Vector<T, R>; B],
        outs: &mut [Vector<T, C>; B],
    ) {
        <Reference as Kernels<T>>::mat_t_vec(w, gs, outs);
    }

    /// Column by column: a_b = eta v_b[k], then w_jk <- w_jk - sum_b a_b u_b[j] summed from the
    /// first product (so that for B = 1 each weight is a load, a multiply-subtract and a
    /// store); the bias as a column with v = 1.
    #[inline]
    fn update<const R: usize, const C: usize, const B: usize>(
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        eta: T,
        _: &mut T::Rounding,
    ) {
        for k in 0..C {
            let a = vs.map(|v| eta * v[k]);
            for j in 0..R {
                w[(j, k)] -= fused_step(&a, &us.map(|u| u[j]));
            }
        }
        if let Some(bias) = bias {
            let a = [eta * T::ONE; B];
            for j in 0..R {
                bias[j] -= fused_step(&a, &us.map(|u| u[j]));
            }
        }
    }

    #[inline]
    fn add_norm_sq<const R: usize, const C: usize, const B: usize>(
        total: &mut T,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        bias: bool,
    ) {
        <Reference as Kernels<T>>::add_norm_sq(total, us, vs, bias);
    }

    #[inline]
    fn block_forward<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &ResidualBlock<T, D, H, S>,
        xs: &[Vector<T, D>; B],
        tapes: &mut [BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        core::array::from_fn(|b| forward(block, &xs[b], &mut tapes[b]))
    }

    #[inline]
    fn block_backward<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &ResidualBlock<T, D, H, S>,
        dys: &[Vector<T, D>; B],
        tapes: &mut [BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        core::array::from_fn(|b| backward(block, &dys[b], &mut tapes[b]))
    }

    #[inline]
    fn block_update<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &mut ResidualBlock<T, D, H, S>,
        tapes: &[BlockTape<T, D, H>; B],
        eta: T,
        _: &mut T::Rounding,
    ) {
        update(block, tapes, eta);
    }
}

/// sum_b a_b u_b from the first product: the step of one weight ([`ByUnit`]'s update; the
/// desktop kernels sum in the same order).
#[inline(always)]
pub(crate) fn fused_step<T: Scalar, const B: usize>(a: &[T; B], u: &[T; B]) -> T {
    match (a.split_first(), u.split_first()) {
        (Some((a0, a)), Some((u0, u))) => a.iter().zip(u).fold(*a0 * *u0, |s, (&a, &u)| s + a * u),
        _ => T::ZERO,
    }
}

/// A block's forward pass one hidden unit at a time: z_j = b1_j + W1[j, :] x, a_j = s(z_j),
/// y += W2[:, j] a_j, so each weight is read once and z_j, a_j stay in registers. Every sum runs
/// in [`Reference`]'s order (k = 0, 1, ... for z_j, j = 0, 1, ... for y), each term of z_j
/// added as one entry of [`Scalar::axpy`] ([`Scalar::add_product`]) and y's by
/// [`Scalar::axpy`] itself: the same bits in every format (the fixed-point kernels use it too).
#[inline]
pub(crate) fn forward<T: Scalar, const D: usize, const H: usize, S: Activation>(
    block: &ResidualBlock<T, D, H, S>,
    x: &Vector<T, D>,
    tape: &mut BlockTape<T, D, H>,
) -> Vector<T, D> {
    tape.x = *x;
    let mut y = x + block.b2;
    for j in 0..H {
        let z = (0..D).fold(block.b1[j], |z, k| z.add_product(x[k], block.w1[(j, k)]));
        let a = S::apply(z);
        tape.a[j] = a;
        // y += a W2[:, j] (fixed point skips a dead unit's a = 0 there).
        T::axpy(a, block.w2.column(j).as_slice(), y.as_mut_slice());
    }
    y
}

/// A block's backward pass one hidden unit at a time: da_j = W2[:, j] . dy, dz_j = da_j s'(a_j),
/// then W1^T dz accumulated row by row (acc_k += W1[j, k] dz_j, j = 0, 1, ...) and added to dy:
/// each weight read once, [`Reference`]'s in-order dot products (the same bits for floats,
/// whose [`Scalar::dot`] is the plain fold). Out of line, so its addresses stay small offsets
/// from the block's base on a Cortex-M4F.
#[inline(never)]
fn backward<T: Scalar, const D: usize, const H: usize, S: Activation>(
    block: &ResidualBlock<T, D, H, S>,
    dy: &Vector<T, D>,
    tape: &mut BlockTape<T, D, H>,
) -> Vector<T, D> {
    tape.dy = *dy;
    let mut acc = zeros::<T, D, 1>();
    for j in 0..H {
        let da = (0..D).fold(T::ZERO, |s, k| s + block.w2[(k, j)] * dy[k]);
        let dz = S::backward_from_output(da, tape.a[j]);
        tape.dz[j] = dz;
        for k in 0..D {
            acc[k] += block.w1[(j, k)] * dz;
        }
    }
    dy + acc
}

/// A block's plain SGD update one hidden unit at a time: W1's row j and b1_j share the signal
/// dz_j (loaded once), W2's column j takes a_j. Each weight gets [`ByUnit::update`]'s
/// expression, w - sum_b (eta v_b) u_b summed from b = 0 (a bias's v_b = 1), and the weights'
/// updates are independent of each other: the same bits in another order.
#[inline]
fn update<T: Scalar, const D: usize, const H: usize, S: Activation, const B: usize>(
    block: &mut ResidualBlock<T, D, H, S>,
    tapes: &[BlockTape<T, D, H>; B],
    eta: T,
) {
    // eta v_b for W1's columns (v = x), W2's columns (v = a) and the biases (v = 1).
    let ax: [[T; B]; D] = core::array::from_fn(|k| tapes.each_ref().map(|t| eta * t.x[k]));
    let one = [eta * T::ONE; B];
    for j in 0..H {
        let dz = tapes.each_ref().map(|t| t.dz[j]);
        for (k, ax) in ax.iter().enumerate() {
            block.w1[(j, k)] -= fused_step(ax, &dz);
        }
        block.b1[j] -= fused_step(&one, &dz);
    }
    for j in 0..H {
        let aa = tapes.each_ref().map(|t| eta * t.a[j]);
        for k in 0..D {
            block.w2[(k, j)] -= fused_step(&aa, &tapes.each_ref().map(|t| t.dy[k]));
        }
    }
    for k in 0..D {
        block.b2[k] -= fused_step(&one, &tapes.each_ref().map(|t| t.dy[k]));
    }
}
