//! Losses: what a training step minimises, averaged over a mini-batch.
//!
//! A [`Loss`] turns a prediction and a target into a value and its gradient dL/dy^; the
//! optimisers are written once against it.
//!
//! | loss | target | value per sample | gradient |
//! |---|---|---|---|
//! | [`Quadratic`] | a vector y | 1/2 \|\|y^ - y\|\|^2 (summed over the outputs) | y^ - y |
//! | [`CrossEntropy`] | a class c in 0..O | -ln softmax(y^)_c = ln sum_i e^(y^_i) - y^_c | softmax(y^) - e_c |
//!
//! The quadratic loss sums over the outputs: it is D/2 times PyTorch's `MSELoss` (which
//! averages over them as well as over the batch), so a learning rate that suits `MSELoss` on
//! D outputs corresponds to about 2 / D times it here.

use crate::scalar::all_finite;
use crate::{Error, Scalar, Vector};

/// A loss on O outputs.
pub trait Loss<T: Scalar, const O: usize>: Copy + core::fmt::Debug + Default + 'static {
    /// What a sample's prediction is compared with.
    type Target: Copy + core::fmt::Debug;

    /// True when the target can be trained on (finite values, a class in range).
    fn valid(target: &Self::Target) -> bool;

    /// The error a step returns for a target that is not [`Loss::valid`]:
    /// [`Error::NonFinite`] unless the loss says otherwise.
    const INVALID: Error = Error::NonFinite;

    /// The loss of one sample.
    fn value(prediction: &Vector<T, O>, target: &Self::Target) -> T;

    /// dL/dy^ of one sample times `scale` (1 / B for the mean over a batch of B).
    fn gradient(prediction: &Vector<T, O>, target: &Self::Target, scale: T) -> Vector<T, O>;

    /// For classification losses, whether the prediction picks the target class (the
    /// accuracy reported next to the loss); always false for the others.
    fn correct(prediction: &Vector<T, O>, target: &Self::Target) -> bool {
        let _ = (prediction, target);
        false
    }
}

/// L = 1/2 ||y^ - y||^2: the sum over the outputs, not the mean (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quadratic;

impl<T: Scalar, const O: usize> Loss<T, O> for Quadratic {
    type Target = Vector<T, O>;

    #[inline]
    fn valid(target: &Vector<T, O>) -> bool {
        all_finite(target.as_slice())
    }

    #[inline]
    fn value(prediction: &Vector<T, O>, target: &Vector<T, O>) -> T {
        quadratic(prediction, target)
    }

    #[inline]
    fn gradient(prediction: &Vector<T, O>, target: &Vector<T, O>, scale: T) -> Vector<T, O> {
        quadratic_grad(prediction, target, scale)
    }
}

/// 1/2 ||prediction - target||^2 for one sample.
#[inline]
pub fn quadratic<T: Scalar, const D: usize>(prediction: &Vector<T, D>, target: &Vector<T, D>) -> T {
    let r = prediction - target;
    T::from_f64(0.5) * T::dot(r.as_slice(), r.as_slice())
}

/// dL/dy^ = (prediction - target) * scale, with scale = 1 / B for the mean over a batch of B.
#[inline]
pub fn quadratic_grad<T: Scalar, const D: usize>(
    prediction: &Vector<T, D>,
    target: &Vector<T, D>,
    scale: T,
) -> Vector<T, D> {
    (prediction - target).map(|r| r * scale)
}

/// Softmax cross-entropy over O classes with an integer class target: the prediction is O
/// logits y^, and L = -ln softmax(y^)_c = ln sum_i e^(y^_i) - y^_c.
///
/// Computed stably as (m - y^_c) + ln sum_i e^(y^_i - m) with m = max_i y^_i: every exponent is
/// <= 0, so no term overflows and the sum s is in [1, O]. In fixed point the exponentials and
/// the logarithm go through f32 (libm) and are rounded to the format, with u the format's half
/// unit (2^-13 in Q4.12): each e^(y^_i - m) is within u, so s is within O u, ln s (its
/// derivative is 1 / s <= 1) within (O + 1) u and the loss, whose other terms are exact sums,
/// within (O + 1) u; each softmax entry e_i / s rounds once more, within (O + 2) u, and so
/// does its gradient entry. This holds while the logits span less than the format's range
/// (16 in Q4.12); a gap beyond it saturates the exponent at the range's end (counted), which
/// moves a term by at most e^-8 there. In Q4.12 a sum of 8 equal terms saturates at
/// 8 - 2^-12 and a loss of 8 or more saturates (counted). core/tests/losses.rs checks these
/// bounds against f64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrossEntropy;

impl CrossEntropy {
    /// (m, e_i = e^(y^_i - m), s = sum_i e_i).
    #[inline]
    fn exponentials<T: Scalar, const O: usize>(logits: &Vector<T, O>) -> (T, Vector<T, O>, T) {
        let m = logits.iter().copied().reduce(T::max).unwrap_or(T::ZERO);
        let e = logits.map(|z| (z - m).exp());
        let s = e.iter().fold(T::ZERO, |s, &e| s + e);
        (m, e, s)
    }
}

impl<T: Scalar, const O: usize> Loss<T, O> for CrossEntropy {
    /// The class, 0 .. O - 1.
    type Target = usize;
    /// A class outside 0 .. O - 1.
    const INVALID: Error = Error::OutOfRange;

    #[inline]
    fn valid(target: &usize) -> bool {
        *target < O
    }

    fn value(logits: &Vector<T, O>, target: &usize) -> T {
        let (m, _, s) = Self::exponentials(logits);
        let c = logits.get(*target).copied().unwrap_or(m);
        // (m - c) >= 0 first: m + ln s alone could leave a fixed-point range the loss is in.
        (m - c) + (s - T::ONE).ln_1p()
    }

    fn gradient(logits: &Vector<T, O>, target: &usize, scale: T) -> Vector<T, O> {
        let (_, e, s) = Self::exponentials(logits);
        Vector::from_fn(|i, _| {
            let p = e[i] / s;
            let g = if i == *target { p - T::ONE } else { p };
            g * scale
        })
    }

    /// The first largest logit is the target.
    fn correct(logits: &Vector<T, O>, target: &usize) -> bool {
        argmax(logits) == *target
    }
}

/// The index of the first largest entry (0 for an empty or all-NaN vector).
pub fn argmax<T: Scalar, const O: usize>(v: &Vector<T, O>) -> usize {
    let mut best = 0;
    for i in 1..O {
        if v[i] > v[best] {
            best = i;
        }
    }
    best
}
