//! The number types a network computes in.
//!
//! [`Scalar`] is a number: ring arithmetic, conversion to and from f64 (for initialisation and
//! reports), a finiteness test, the few functions the activations use, and its accumulation
//! rule: [`Scalar::dot`], [`Scalar::axpy`] (with its one entry, [`Scalar::add_product`]) and
//! the rounded update [`Scalar::sub_mul_rounded`]. Floats compute them plainly, in index order;
//! fixed-point formats accumulate wide and round once ([`crate::fixed`]). Each type also names
//! its rounding state (the dither of stochastic rounding; `()` for floats) and the kernels its
//! networks run with ([`crate::kernels`]).
//!
//! [`Real`] adds what the decompositions need (nalgebra's `RealField`: SVD, Schur, eigen): f32 and
//! f64 only. Fixed-point factors are converted from a float factorisation.

use core::fmt::Debug;
use core::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

use crate::fixed::Rounding;
use crate::kernels::Kernels;

/// The state a number type keeps to round SGD updates: the dither of stochastic rounding for
/// fixed point ([`crate::fixed::Dither`]), nothing (`()`) for floats, whose rounding is IEEE's.
pub trait RoundingState: Copy + Debug + PartialEq {
    /// The state for the rounding an optimiser is configured with.
    fn new(rounding: Rounding) -> Self;
    /// The state as 32 bits, for checkpoints.
    fn to_bits(&self) -> u32;
    /// The state [`RoundingState::to_bits`] gave.
    fn from_bits(bits: u32) -> Self;
}

impl RoundingState for () {
    fn new(_: Rounding) -> Self {}
    fn to_bits(&self) -> u32 {
        0
    }
    fn from_bits(_: u32) -> Self {}
}

/// A number type networks compute in: f32, f64, or a fixed-point format.
pub trait Scalar:
    nalgebra::Scalar
    + Copy
    + Default
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Largest finite value.
    const MAX: Self;
    /// Every s with |s| <= this leaves every finite w finite in w - s: for floats a quarter of
    /// half an ulp of MAX (2^101 in f32, 2^968 in f64), so that rounding cannot carry w - s to
    /// infinity; MAX for fixed point, which saturates instead. The optimisers refuse a step
    /// whose largest increment could exceed it.
    const FINITE_STEP: Self;

    /// How SGD updates are rounded: see [`Scalar::sub_mul_rounded`].
    type Rounding: RoundingState;

    /// The kernels networks of this type run with unless told otherwise
    /// ([`crate::kernels::Float`] for f32 and f64, [`crate::kernels::FixedKernels`] for fixed
    /// point).
    type Kernels: Kernels<Self>;

    /// Nearest representable value (fixed point saturates; NaN becomes zero there).
    fn from_f64(x: f64) -> Self;
    /// The value as f64 (exact for f32, f64 and the fixed-point formats).
    fn to_f64(self) -> f64;
    /// False for NaN and infinities. Fixed-point values are always finite.
    fn is_finite(self) -> bool;
    /// |x|.
    fn abs(self) -> Self;
    /// Square root of a non-negative value.
    fn sqrt(self) -> Self;
    /// e^x.
    fn exp(self) -> Self;
    /// ln(1 + x).
    fn ln_1p(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;

    /// The larger of two values (NaN-blind: returns `self` when they are unordered).
    fn max(self, other: Self) -> Self {
        if other > self { other } else { self }
    }
    /// The smaller of two values.
    fn min(self, other: Self) -> Self {
        if other < self { other } else { self }
    }

    /// How many results of this type were clamped to its range so far (fixed point counts them,
    /// see [`crate::fixed::saturation`]); always 0 for floats, which overflow to infinity
    /// instead and are caught by [`Scalar::is_finite`].
    fn saturations() -> u32 {
        0
    }

    /// self - a b, the SGD update w - eta d. Fixed point forms a b exactly and rounds it as the
    /// rounding state says (stochastically, so that updates smaller than the format's step
    /// survive in expectation; [`crate::fixed::stochastic`]). Floats: exactly `self - a * b`.
    fn sub_mul_rounded(self, a: Self, b: Self, rounding: &mut Self::Rounding) -> Self;

    /// sum_i a_i b_i over the common length, in index order. Fixed point accumulates wide and
    /// rounds once.
    #[inline]
    fn dot(a: &[Self], b: &[Self]) -> Self {
        a.iter().zip(b).fold(Self::ZERO, |s, (&x, &y)| s + x * y)
    }

    /// (a . b) (c . d): fixed point keeps both dot products wide, so the product saturates
    /// only when it is itself out of range (used for the gradient norm).
    #[inline]
    fn dot_times_dot(a: &[Self], b: &[Self], c: &[Self], d: &[Self]) -> Self {
        Self::dot(a, b) * Self::dot(c, d)
    }

    /// self + a b, rounded as one entry of [`Scalar::axpy`] (y + alpha x): floats exactly
    /// that expression, fixed point with the product kept wide and rounded once.
    #[inline]
    fn add_product(self, a: Self, b: Self) -> Self {
        self + a * b
    }

    /// y += alpha x over the common length.
    #[inline]
    fn axpy(alpha: Self, x: &[Self], y: &mut [Self]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

/// A float type the decompositions run in (nalgebra's `RealField`: f32 and f64).
pub trait Real: Scalar + nalgebra::RealField + Copy {}
impl Real for f32 {}
impl Real for f64 {}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = f64::MAX;
    const FINITE_STEP: Self = f64::from_bits((1023 + 968) << 52);
    type Rounding = ();
    type Kernels = crate::kernels::Float;
    #[inline]
    fn sub_mul_rounded(self, a: Self, b: Self, _: &mut ()) -> Self {
        self - a * b
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabs(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
    #[inline]
    fn exp(self) -> Self {
        libm::exp(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1p(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        libm::tanh(self)
    }
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = f32::MAX;
    const FINITE_STEP: Self = f32::from_bits((127 + 101) << 23);
    type Rounding = ();
    type Kernels = crate::kernels::Float;
    #[inline]
    fn sub_mul_rounded(self, a: Self, b: Self, _: &mut ()) -> Self {
        self - a * b
    }
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabsf(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    #[inline]
    fn exp(self) -> Self {
        libm::expf(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        libm::tanhf(self)
    }
}

/// True when every entry of the slice is finite.
///
/// A branch-free fold rather than `all`: it has no early exit, so the compiler vectorises it (the
/// early-exit loop took twice as long in a profile of a desktop training step);
/// the common case, all finite, reads every entry anyway.
#[inline]
pub fn all_finite<T: Scalar>(xs: &[T]) -> bool {
    xs.iter().fold(true, |ok, x| ok & x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// FINITE_STEP is as large as it can be: with |s| <= it, w - s stays finite for w = +-MAX,
    /// and twice the half ulp of MAX is where it stops.
    #[test]
    fn finite_step_keeps_the_largest_weights_finite() {
        assert_eq!(f32::FINITE_STEP, 2f32.powi(101));
        assert_eq!(f64::FINITE_STEP, 2f64.powi(968));
        assert!((f32::MAX + f32::FINITE_STEP).is_finite());
        assert!((-f32::MAX - f32::FINITE_STEP).is_finite());
        assert!(!(f32::MAX + 2f32.powi(103)).is_finite());
        assert!((f64::MAX + f64::FINITE_STEP).is_finite());
        assert!(!(f64::MAX + 2f64.powi(970)).is_finite());
    }

    #[test]
    fn dot_and_axpy_match_the_definition() {
        let a = [1.0f64, -2.0, 3.5];
        let b = [0.5f64, 4.0, -1.0];
        assert_eq!(f64::dot(&a, &b), 0.5 - 8.0 - 3.5);
        let mut y = [1.0f64, 1.0, 1.0];
        f64::axpy(2.0, &a, &mut y);
        assert_eq!(y, [3.0, -3.0, 8.0]);
    }
}
