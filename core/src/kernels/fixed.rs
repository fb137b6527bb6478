//! Kernels for the fixed-point formats: the forward pass one hidden unit at a time (as
//! [`super::ByUnit`], in every format the same bits as [`super::Reference`]), and the plain SGD
//! update as one exact integer loop per matrix, written for a core without a barrel of tricks
//! (Cortex-M0). Backward pass and gradient norm are the reference's.
//!
//! The update is [`Reference`]'s to the bit, saturation for saturation and dither draw for
//! dither draw (tests below and in core/tests/kernels.rs): for each weight, in column-major
//! order,
//!
//! - g <- round((g 2^F + v_b u_b) / 2^F), clamped, for each sample b in order: one
//!   [`crate::Scalar::add_product`];
//! - w <- clamp(w - (eta g + r) / 2^F) with r the dither's offset:
//!   [`crate::Scalar::sub_mul_rounded`], whose `saturating_add` and `saturating_sub` never
//!   saturate here: |eta g| <= 2^(2 bits - 2) and r < 2^F, and |w| <= 2^(bits - 1) with
//!   |(eta g + r) / 2^F| <= 2^(2 bits - 2 - F) + 1, all far inside the wide type.
//!
//! It is cheaper because the checks that cannot fire are left out, clamps are counted once per
//! matrix, and for one sample a column whose |v| max|u| is small skips work that cannot change
//! anything ([`column_b1`]).

use super::{Kernels, Reference, by_unit};
use crate::activation::Activation;
use crate::block::{BlockTape, ResidualBlock};
use crate::fixed::format::{Fixed, Int};
use crate::fixed::rounding::{clamp_counted, clamp_counted_by_shifts, record, round_any};
use crate::fixed::{Dither, Rounding};
use crate::{Matrix, Vector};

/// The fixed-point formats' kernels ([`crate::fixed::Q16`], [`crate::fixed::Q12`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FixedKernels;

impl<F: Fixed> Kernels<F> for FixedKernels {
    #[inline]
    fn mat_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<F, R, C>,
        xs: [&Vector<F, C>; B],
        ys: &mut [Vector<F, R>; B],
    ) {
        // C axpys over the columns: the reference's order, with the saturations of a column
        // counted once.
        for (x, y) in xs.iter().zip(ys.iter_mut()) {
            for (j, column) in w.column_iter().enumerate() {
                F::axpy(x[j], column.as_slice(), y.as_mut_slice());
            }
        }
    }

    #[inline]
    fn mat_t_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<F, R, C>,
        gs: [&Vector<F, R>; B],
        outs: &mut [Vector<F, C>; B],
    ) {
        <Reference as Kernels<F>>::mat_t_vec(w, gs, outs);
    }

    /// The matrix in one call ([`update_matrix`]), then the bias in another ([`update_bias`]).
    #[inline]
    fn update<const R: usize, const C: usize, const B: usize>(
        w: &mut Matrix<F, R, C>,
        bias: Option<&mut Vector<F, R>>,
        us: [&Vector<F, R>; B],
        vs: [&Vector<F, C>; B],
        eta: F,
        dither: &mut Dither,
    ) {
        let (us, vs) = (us.map(|u| u.as_slice()), vs.map(|v| v.as_slice()));
        if dither.is_nearest() {
            update_matrix::<F, B, true>(w.as_mut_slice(), &us, &vs, eta, dither);
        } else {
            update_matrix::<F, B, false>(w.as_mut_slice(), &us, &vs, eta, dither);
        }
        if let Some(bias) = bias {
            if dither.is_nearest() {
                update_bias::<F, B, true>(bias.as_mut_slice(), &us, eta, dither);
            } else {
                update_bias::<F, B, false>(bias.as_mut_slice(), &us, eta, dither);
            }
        }
    }

    #[inline]
    fn add_norm_sq<const R: usize, const C: usize, const B: usize>(
        total: &mut F,
        us: [&Vector<F, R>; B],
        vs: [&Vector<F, C>; B],
        bias: bool,
    ) {
        <Reference as Kernels<F>>::add_norm_sq(total, us, vs, bias);
    }

    /// One hidden unit at a time ([`by_unit::forward`]): each W1 row's products rounded one by
    /// one as the reference does, the hidden value kept in a register.
    #[inline]
    fn block_forward<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &ResidualBlock<F, D, H, S>,
        xs: &[Vector<F, D>; B],
        tapes: &mut [BlockTape<F, D, H>; B],
    ) -> [Vector<F, D>; B] {
        core::array::from_fn(|b| by_unit::forward(block, &xs[b], &mut tapes[b]))
    }
}

/// The largest magnitude of a raw value, 2^(bits - 1): a bound on every |u_j|.
#[inline(always)]
fn u_bound<F: Fixed>() -> F::Wide {
    F::Wide::ONE << (F::Raw::BITS - 1)
}

/// W <- W - eta sum_b u_b v_b^T for a column-major `w` with as many rows as each u_b has and
/// a column per entry of the v_b, rounding as `NEAREST` says (the dither's offset one half; else one xorshift
/// draw per weight). Out of line: one copy per batch size and rounding, whatever the shape.
#[inline(never)]
fn update_matrix<F: Fixed, const B: usize, const NEAREST: bool>(
    w: &mut [F],
    us: &[&[F]; B],
    vs: &[&[F]; B],
    eta: F,
    dither: &mut Dither,
) {
    let rows = us.first().map_or(1, |u| u.len().max(1));
    if let ([u], [v]) = (us.as_slice(), vs.as_slice()) {
        // One sample: max_j |u_j| once, shared by every column (whose |v_k| times it tells
        // which loop the column takes), the clamps counted once.
        let bound = u.iter().fold(F::Wide::ZERO, |m, u| m.max(u.wide().abs()));
        let mut clamped = 0u32;
        // W is exactly cols x rows: with the length a product that cannot overflow, the
        // compiler drops `chunks_exact_mut`'s division (a library call on a Cortex-M0).
        let Some(w) = v.len().checked_mul(rows).and_then(|n| w.get_mut(..n)) else {
            return;
        };
        for (column, &v) in w.chunks_exact_mut(rows).zip(*v) {
            column_b1::<F, NEAREST>(column, u, v, eta, dither, bound, &mut clamped);
        }
        record::<F>(clamped);
        return;
    }
    let bound = u_bound::<F>();
    let cols = vs.first().map_or(0, |v| v.len());
    let Some(w) = cols.checked_mul(rows).and_then(|n| w.get_mut(..n)) else {
        return;
    };
    for (k, column) in w.chunks_exact_mut(rows).enumerate() {
        // Every v_b has one entry per column (the shapes come from the types).
        let v: [F; B] = core::array::from_fn(|b| vs[b].get(k).copied().unwrap_or(F::ZERO));
        update_column::<F, B, NEAREST>(column, us, &v, eta, dither, bound);
    }
}

/// c <- c - eta sum_b u_b: one column with v = 1 ([`update_column`]). Out of line, as
/// [`update_matrix`]: inlined at each bias (two per block, two roundings), the loop took 2.9 KB
/// more of the Cortex-M0's flash.
#[inline(never)]
fn update_bias<F: Fixed, const B: usize, const NEAREST: bool>(
    bias: &mut [F],
    us: &[&[F]; B],
    eta: F,
    dither: &mut Dither,
) {
    let ones = [F::ONE; B];
    update_column::<F, B, NEAREST>(bias, us, &ones, eta, dither, u_bound::<F>());
}

/// One column, w_j <- w_j - eta sum_b vs[b] us[b][j] (see the module docs), for `u_bound` >=
/// max_j |u_j|; every `us[b]` at least as long as `column`.
#[inline(always)]
fn update_column<F: Fixed, const B: usize, const NEAREST: bool>(
    column: &mut [F],
    us: &[&[F]; B],
    vs: &[F; B],
    eta: F,
    dither: &mut Dither,
    u_bound: F::Wide,
) {
    if us.iter().any(|u| u.len() < column.len()) {
        return;
    }
    let mut clamped = 0u32;
    if let ([u], [v]) = (us.as_slice(), vs.as_slice()) {
        // One sample: the loop the chips run.
        column_b1::<F, NEAREST>(column, u, *v, eta, dither, u_bound, &mut clamped);
        record::<F>(clamped);
        return;
    }
    let half = F::Wide::ONE << (F::FRAC - 1);
    let e = eta.wide();
    let v = vs.map(|v| v.wide());
    for (j, w) in column.iter_mut().enumerate() {
        let mut g = F::Wide::ZERO;
        for (u, &v) in us.iter().zip(&v) {
            if let Some(&u) = u.get(j) {
                let s = (g << F::FRAC).wrapping_add(v * u.wide()).wrapping_add(half) >> F::FRAC;
                g = clamp_counted::<F>(s, &mut clamped);
            }
        }
        update_weight::<F, NEAREST>(w, g, e, dither, &mut clamped);
    }
    record::<F>(clamped);
}

/// One column of the one-sample update, w_j <- w_j - eta round(v u_j), for `u_bound` >=
/// max_j |u_j| (`u` at least as long as `column`); clamps are added to `clamped`. With
/// m = |v| u_bound:
/// - m < 2^(F-1): every g = round(v u_j / 2^F) is 0, so no weight moves; only the dither
///   draws, one per row;
/// - m < 2^(bits - 1 + F) - 2^(F - 1): g is in range, the loop has no clamp of g;
/// - else the loop clamps g as `u * v` does.
#[inline(always)]
fn column_b1<F: Fixed, const NEAREST: bool>(
    column: &mut [F],
    u: &[F],
    v: F,
    eta: F,
    dither: &mut Dither,
    u_bound: F::Wide,
    clamped: &mut u32,
) {
    let half = F::Wide::ONE << (F::FRAC - 1);
    // |v u| below this keeps round(v u / 2^F) inside the raw range.
    let limit = (F::Wide::ONE << (F::Raw::BITS - 1 + F::FRAC)) - half;
    let e = eta.wide();
    let v = v.wide();
    let m = v.abs() * u_bound;
    if m < half {
        if !NEAREST {
            for _ in 0..column.len() {
                dither.stochastic_offset(F::FRAC);
            }
        }
    } else if m < limit {
        // The rounding as `round_any`: no constant in a register.
        for (w, &u) in column.iter_mut().zip(u) {
            let g = round_any::<F>(v * u.wide());
            update_weight::<F, NEAREST>(w, g, e, dither, clamped);
        }
    } else {
        for (w, &u) in column.iter_mut().zip(u) {
            let s = (v * u.wide()).wrapping_add(half) >> F::FRAC;
            let g = clamp_counted::<F>(s, clamped);
            update_weight::<F, NEAREST>(w, g, e, dither, clamped);
        }
    }
}

/// w <- clamp(w - (e g + r) / 2^F) with r the dither's next offset (one half for `NEAREST`),
/// as [`crate::Scalar::sub_mul_rounded`]. g = 0 leaves w as it is, (0 + r) >> F = 0 for
/// r < 2^F (a dead ReLU unit's row or column); the draw still happens, so the dither stays in
/// step.
#[inline(always)]
fn update_weight<F: Fixed, const NEAREST: bool>(
    w: &mut F,
    g: F::Wide,
    e: F::Wide,
    dither: &mut Dither,
    clamped: &mut u32,
) {
    let r = if NEAREST {
        F::Wide::ONE << (F::FRAC - 1)
    } else {
        F::Wide::from_i128(i128::from(dither.stochastic_offset(F::FRAC)))
    };
    if g != F::Wide::ZERO {
        let x = w.wide().wrapping_sub((e * g).wrapping_add(r) >> F::FRAC);
        *w = F::from_wide(clamp_counted_by_shifts::<F>(x, clamped));
    }
}

impl crate::scalar::RoundingState for Dither {
    fn new(rounding: Rounding) -> Self {
        Dither::new(rounding)
    }
    fn to_bits(&self) -> u32 {
        self.state()
    }
    fn from_bits(bits: u32) -> Self {
        Dither::from_state(bits)
    }
}
