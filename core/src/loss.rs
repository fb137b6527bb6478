//! The quadratic loss L = 1/2 ||y^ - y||^2, averaged over a mini-batch.

use crate::{Scalar, Vector};

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
