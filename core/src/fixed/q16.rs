//! Q16.16: 32-bit fixed point with 16 fractional bits (range [-32768, 32768), step 2^-16 =
//! 1.5e-5), accumulating in i64. The training format for chips without an FPU: every buffer of a
//! `ResNet<Q16, ..>` (weights, tape activations, backward signals) is Q16.16, dot products and
//! axpys accumulate in i64 and round once.

use super::format::fixed_format;

fixed_format! {
    /// Q16.16 over the `fixed` crate's `I16F16`: saturating, counted, always finite.
    ///
    /// ```
    /// use nearid::{Scalar, fixed::Q16};
    /// let a = Q16::from_f64(1.5);
    /// assert_eq!((a * a).to_f64(), 2.25);
    /// assert_eq!(Q16::dot(&[a, a], &[a, -a]).to_f64(), 0.0);
    /// assert_eq!((Q16::MAX + a), Q16::MAX); // saturates, and counts it
    /// assert!(Q16::saturations() >= 1);
    /// ```
    Q16, inner = fixed::types::I16F16, raw = i32, wide = i64, wider = i128,
    frac = 16, counter = super::saturation::Format::Q16
}
