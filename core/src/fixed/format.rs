//! What a fixed-point format is: a raw signed integer r standing for r / 2^F, computed through
//! a wide integer that holds the exact product of two raw values and a wider one that holds
//! long sums exactly ([`Fixed`]: i16 / i32 / i64 for Q4.12, i32 / i64 / i128 for Q16.16).
//!
//! The arithmetic is written once over these integers, in [`super::arith`] (operators and the
//! accumulation rule) and [`super::rounding`] (rounding and saturation); the SGD update kernels
//! are in `kernels/fixed.rs`. This file holds the two traits and the short macro that declares
//! a format: its newtype, and operators and [`Scalar`](crate::Scalar) methods that each call
//! the generic code.
//!
//! Rules, for a format with F fractional bits:
//! - `+`, `-`, unary `-`: exact, or saturated to [MIN, MAX] and counted.
//! - `*`: the exact product (2F fractional bits, fits the wide type) rounded once to nearest
//!   (ties up), then saturated.
//! - `/`: (a 2^F) / b rounded to nearest (ties up); division by zero saturates toward the sign
//!   of a (0/0 is 0), counted.
//! - `dot`: the products summed exactly (in the wider type), rounded once, then saturated.
//! - `axpy`: each y_i + alpha x_i formed exactly in the wide type and rounded once.
//! - `sub_mul_rounded` (the SGD update w - eta d): the product eta d is exact, rounded with the
//!   [`Dither`](crate::fixed::Dither) (stochastic or to nearest), then subtracted.
//! - `exp`, `ln_1p`, `tanh` go through f32 (libm): correct to the format's precision but slow
//!   on chips without an FPU; ReLU networks never call them. `sqrt` is an exact integer square
//!   root (rounded to nearest).
//!
//! Every saturation adds one to the format's counter ([`crate::fixed::saturation`]).

use core::fmt::Debug;
use core::ops::{Add, Mul, Neg, Shl, Shr, Sub};

use super::saturation;
use crate::Scalar;
use crate::fixed::Dither;

/// A signed machine integer the formats compute in: i16, i32, i64, i128. The methods are the
/// inherent ones of the same names.
pub trait Int:
    Copy
    + Ord
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Neg<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
    + 'static
{
    /// Width in bits.
    const BITS: u32;
    /// The smallest value.
    const MIN: Self;
    /// The largest value.
    const MAX: Self;
    /// 0.
    const ZERO: Self;
    /// 1.
    const ONE: Self;
    /// `x as Self` from any integer type: sign-extended, or truncated to the low bits.
    fn cast<U: Int>(x: U) -> Self;
    /// The value as i128 (exact).
    fn to_i128(self) -> i128;
    /// `x as Self` from i128.
    fn from_i128(x: i128) -> Self;
    /// `wrapping_add`.
    fn wrapping_add(self, o: Self) -> Self;
    /// `wrapping_sub`.
    fn wrapping_sub(self, o: Self) -> Self;
    /// `overflowing_add`.
    fn overflowing_add(self, o: Self) -> (Self, bool);
    /// `saturating_add`.
    fn saturating_add(self, o: Self) -> Self;
    /// `saturating_sub`.
    fn saturating_sub(self, o: Self) -> Self;
    /// `abs` (callers never pass MIN).
    fn abs(self) -> Self;
    /// `div_euclid` (callers never divide by 0).
    fn div_euclid(self, o: Self) -> Self;
}

macro_rules! int {
    ($($t:ty),*) => {$(
        impl Int for $t {
            const BITS: u32 = <$t>::BITS;
            const MIN: Self = <$t>::MIN;
            const MAX: Self = <$t>::MAX;
            const ZERO: Self = 0;
            const ONE: Self = 1;
            #[inline(always)]
            fn cast<U: Int>(x: U) -> Self {
                x.to_i128() as $t
            }
            #[inline(always)]
            fn to_i128(self) -> i128 {
                self as i128
            }
            #[inline(always)]
            fn from_i128(x: i128) -> Self {
                x as $t
            }
            #[inline(always)]
            fn wrapping_add(self, o: Self) -> Self {
                <$t>::wrapping_add(self, o)
            }
            #[inline(always)]
            fn wrapping_sub(self, o: Self) -> Self {
                <$t>::wrapping_sub(self, o)
            }
            #[inline(always)]
            fn overflowing_add(self, o: Self) -> (Self, bool) {
                <$t>::overflowing_add(self, o)
            }
            #[inline(always)]
            fn saturating_add(self, o: Self) -> Self {
                <$t>::saturating_add(self, o)
            }
            #[inline(always)]
            fn saturating_sub(self, o: Self) -> Self {
                <$t>::saturating_sub(self, o)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::wrapping_abs(self)
            }
            #[inline(always)]
            fn div_euclid(self, o: Self) -> Self {
                <$t>::checked_div_euclid(self, o).unwrap_or(0)
            }
        }
    )*};
}
int!(i16, i32, i64, i128);

/// A fixed-point format: the value of raw r is r / 2^FRAC.
pub trait Fixed: Scalar<Rounding = Dither> + Ord {
    /// The stored integer.
    type Raw: Int;
    /// Holds the exact product of two raw values: 2 x the raw width.
    type Wide: Int;
    /// Holds a sum of many products exactly: 2 x the wide width.
    type Wider: Int;
    /// Fractional bits F.
    const FRAC: u32;
    /// The counter its saturations are recorded in.
    const COUNTER: saturation::Format;
    /// The raw integer.
    fn to_bits(self) -> Self::Raw;
    /// The value with raw integer `r`.
    fn from_bits(r: Self::Raw) -> Self;

    /// The raw integer in the wide type.
    #[inline(always)]
    fn wide(self) -> Self::Wide {
        Self::Wide::cast(self.to_bits())
    }

    /// The value of a wide integer known to fit the raw type.
    #[inline(always)]
    fn from_wide(w: Self::Wide) -> Self {
        Self::from_bits(Self::Raw::cast(w))
    }
}

/// Declares a fixed-point newtype over a `fixed` crate type, with operators and
/// [`Scalar`](crate::Scalar) methods that call the generic arithmetic of [`super::arith`].
macro_rules! fixed_format {
    (
        $(#[$doc:meta])*
        $name:ident, inner = $inner:ty, raw = $raw:ty, wide = $wide:ty, wider = $wider:ty,
        frac = $frac:expr, counter = $counter:expr
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        #[repr(transparent)]
        pub struct $name(pub $inner);

        impl $name {
            /// Fractional bits F: the value is raw / 2^F.
            pub const FRAC: u32 = $frac;
            /// Integer bits, including the sign bit.
            pub const INT: u32 = <$raw>::BITS - $frac;
            /// The smallest value.
            pub const MIN: Self = Self(<$inner>::MIN);
            /// One unit in the last place, 2^-F.
            pub const EPSILON: Self = Self(<$inner>::DELTA);

            /// The value with raw bits `r` (r / 2^F).
            #[inline(always)]
            pub const fn from_bits(r: $raw) -> Self {
                Self(<$inner>::from_bits(r))
            }

            /// The raw bits.
            #[inline(always)]
            pub const fn to_bits(self) -> $raw {
                self.0.to_bits()
            }

            /// Sets this format's saturation counter to zero.
            pub fn reset_saturations() {
                $crate::fixed::saturation::reset($counter)
            }

            /// The value as f32 (exact when |raw| < 2^24).
            #[inline]
            pub fn to_f32(self) -> f32 {
                self.to_bits() as f32 / (1u32 << $frac) as f32
            }
        }

        impl $crate::fixed::format::Fixed for $name {
            type Raw = $raw;
            type Wide = $wide;
            type Wider = $wider;
            const FRAC: u32 = $frac;
            const COUNTER: $crate::fixed::saturation::Format = $counter;
            #[inline(always)]
            fn to_bits(self) -> $raw {
                self.0.to_bits()
            }
            #[inline(always)]
            fn from_bits(r: $raw) -> Self {
                Self(<$inner>::from_bits(r))
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Debug::fmt(&self.0, f)
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                core::fmt::Display::fmt(&self.0, f)
            }
        }

        impl core::ops::Add for $name {
            type Output = Self;
            #[inline(always)]
            fn add(self, o: Self) -> Self {
                $crate::fixed::arith::add(self, o)
            }
        }

        impl core::ops::Sub for $name {
            type Output = Self;
            #[inline(always)]
            fn sub(self, o: Self) -> Self {
                $crate::fixed::arith::sub(self, o)
            }
        }

        impl core::ops::Neg for $name {
            type Output = Self;
            #[inline(always)]
            fn neg(self) -> Self {
                $crate::fixed::arith::neg(self)
            }
        }

        impl core::ops::Mul for $name {
            type Output = Self;
            #[inline(always)]
            fn mul(self, o: Self) -> Self {
                $crate::fixed::arith::mul(self, o)
            }
        }

        impl core::ops::Div for $name {
            type Output = Self;
            fn div(self, o: Self) -> Self {
                $crate::fixed::arith::div(self, o)
            }
        }

        impl core::ops::AddAssign for $name {
            #[inline(always)]
            fn add_assign(&mut self, o: Self) {
                *self = *self + o;
            }
        }

        impl core::ops::SubAssign for $name {
            #[inline(always)]
            fn sub_assign(&mut self, o: Self) {
                *self = *self - o;
            }
        }

        impl $crate::fixed::guard::FixedPoint for $name {
            const FRAC_BITS: u32 = $frac;
            const INT_BITS: u32 = <$raw>::BITS - $frac;
        }

        impl $crate::Scalar for $name {
            const ZERO: Self = Self(<$inner>::ZERO);
            const ONE: Self = Self(<$inner>::ONE);
            const MAX: Self = Self(<$inner>::MAX);
            const FINITE_STEP: Self = Self(<$inner>::MAX);
            type Rounding = $crate::fixed::Dither;
            type Kernels = $crate::kernels::FixedKernels;

            /// Rounded to nearest (the `fixed` crate's conversion); out of range saturates and
            /// NaN becomes zero, both counted.
            fn from_f64(x: f64) -> Self {
                match <$inner>::checked_from_num(x) {
                    Some(v) => Self(v),
                    None => {
                        $crate::fixed::saturation::record($counter);
                        if x > 0.0 {
                            Self::MAX
                        } else if x < 0.0 {
                            Self::MIN
                        } else {
                            Self::ZERO
                        }
                    }
                }
            }

            #[inline]
            fn to_f64(self) -> f64 {
                self.0.to_num::<f64>()
            }

            #[inline(always)]
            fn is_finite(self) -> bool {
                true
            }

            #[inline]
            fn abs(self) -> Self {
                if self.to_bits() < 0 { -self } else { self }
            }

            /// The exact square root rounded to nearest; zero for negative input.
            fn sqrt(self) -> Self {
                $crate::fixed::arith::sqrt(self)
            }

            /// Through f32 (libm's `expf`): slow without an FPU.
            fn exp(self) -> Self {
                Self::from_f64(libm::expf(self.to_f32()) as f64)
            }

            /// Through f32 (libm's `log1pf`): slow without an FPU; -1 and below saturate.
            fn ln_1p(self) -> Self {
                Self::from_f64(libm::log1pf(self.to_f32()) as f64)
            }

            /// Through f32 (libm's `tanhf`): slow without an FPU.
            fn tanh(self) -> Self {
                Self::from_f64(libm::tanhf(self.to_f32()) as f64)
            }

            fn saturations() -> u32 {
                $crate::fixed::saturation::count($counter)
            }

            #[inline]
            fn sub_mul_rounded(self, a: Self, b: Self, dither: &mut $crate::fixed::Dither) -> Self {
                $crate::fixed::arith::sub_mul_rounded(self, a, b, dither)
            }

            #[inline]
            fn dot(a: &[Self], b: &[Self]) -> Self {
                $crate::fixed::arith::dot(a, b)
            }

            fn dot_times_dot(a: &[Self], b: &[Self], c: &[Self], d: &[Self]) -> Self {
                $crate::fixed::arith::dot_times_dot(a, b, c, d)
            }

            #[inline]
            fn add_product(self, a: Self, b: Self) -> Self {
                $crate::fixed::arith::add_product(self, a, b)
            }

            #[inline]
            fn axpy(alpha: Self, x: &[Self], y: &mut [Self]) {
                $crate::fixed::arith::axpy(alpha, x, y)
            }
        }
    };
}

pub(crate) use fixed_format;
