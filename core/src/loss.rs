//! Losses: what a training step minimises, averaged over a mini-batch.
//!
//! A [`Loss`] turns a prediction and a target into a value and its gradient dL/dy^; the
//! optimisers are written once against it.
//!
//! | loss | target | value per sample | gradient |
//! |---|---|---|---|
//! | [`Quadratic`] | a vector y | 1/2 \|\|y^ - y\|\|^2 (summed over the outputs) | y^ - y |
//!
//! The quadratic loss sums over the outputs: it is D/2 times PyTorch's `MSELoss` (which
//! averages over them as well as over the batch), so a learning rate that suits `MSELoss` on
//! D outputs corresponds to about 2 / D times it here.

use crate::scalar::all_finite;
use crate::{Scalar, Vector};

/// A loss on O outputs.
pub trait Loss<T: Scalar, const O: usize>: Copy + core::fmt::Debug + Default + 'static {
    /// What a sample's prediction is compared with.
    type Target: Copy + core::fmt::Debug;

    /// True when the target can be trained on (finite values, a class in range).
    fn valid(target: &Self::Target) -> bool;

    /// The loss of one sample.
    fn value(prediction: &Vector<T, O>, target: &Self::Target) -> T;

    /// dL/dy^ of one sample times `scale` (1 / B for the mean over a batch of B).
    fn gradient(prediction: &Vector<T, O>, target: &Self::Target, scale: T) -> Vector<T, O>;
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
