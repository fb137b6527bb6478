//! Q4.12: 16-bit fixed point with 12 fractional bits (range [-8, 8), step 2^-12 = 2.4e-4),
//! products exact in i32, dot products summed exactly in i64.
//!
//! Why not Q1.15: the [`Scalar`](crate::Scalar) a network is generic over is one type for its
//! weights, its tape activations and its backward signals, so the 16-bit format must hold
//! activations of a few units (standardised inputs reach 3-4) and the constant 1 (the ReLU
//! derivative, the identity path). Q4.12 keeps three integer bits and a sign for that and 12
//! fractional bits for the weights; halving the memory of Q16.16 costs resolution, which is
//! why its training updates need stochastic rounding ([`crate::fixed::stochastic`]).

use super::format::fixed_format;

fixed_format! {
    /// Q4.12 over the `fixed` crate's `I4F12`: 16-bit, saturating, counted, always finite.
    ///
    /// ```
    /// use nearid::{Scalar, fixed::Q12};
    /// let a = Q12::from_f64(0.5);
    /// assert_eq!((a * a).to_f64(), 0.25);
    /// assert_eq!(Q12::from_f64(100.0), Q12::MAX); // saturates, and counts it
    /// assert_eq!(Q12::MAX.to_f64(), 8.0 - 1.0 / 4096.0);
    /// ```
    Q12, inner = fixed::types::I4F12, raw = i16, wide = i32, wider = i64,
    frac = 12, counter = super::saturation::Format::Q12
}
