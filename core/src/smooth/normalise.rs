//! Normalising a smooth map (docs/THEORY.md section 4): h~(x) = A^-1 (h(x + x0) - h(x0))
//! with A = Dh(x0), so h~(0) = 0 and Dh~(0) = I, and h(x) = A h~(x - x0) + h(x0).
//!
//! The scaling decomposition needs Dh(0) = I: without it g_a -> Dh(0) as a -> 0, not g_0 = Id,
//! and h_1 = g_{a_1} stays a distance ||Dh(0) - I|| from the identity however deep the
//! decomposition. The linear part A is a product of near-identity linear factors when det A > 0
//! (docs/THEORY.md section 1, [`Normalised::factor_linear_part`]); the translations go into the
//! biases of the end blocks.

use super::{SmoothMap, determinant, inverse};
use crate::factor::{Decompose, FactorReport, factorize, factorize_into};
use crate::{Error, LinearResNet, Matrix, Real, Result, Vector};
use nalgebra::Const;

/// h~(x) = A^-1 (h(x + x0) - y0), A = Dh(x0), y0 = h(x0): a [`SmoothMap`] with h~(0) = 0 and
/// Dh~(0) = I, whose Jacobian is A^-1 Dh(x + x0).
///
/// ```
/// use nearid::{Matrix, SmoothMap, Vector, smooth::Normalised};
/// /// An affine map with a linear part of eigenvalues -2 and -1/2 (det = 1 > 0).
/// struct Flip;
/// impl SmoothMap<f64, 2> for Flip {
///     fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
///         Vector::<f64, 2>::new(-2.0 * x[0] + 1.0, -0.5 * x[1])
///     }
///     fn jacobian(&self, _: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
///         Matrix::<f64, 2, 2>::new(-2.0, 0.0, 0.0, -0.5)
///     }
/// }
/// let n = Normalised::new(Flip, Vector::<f64, 2>::zeros()).unwrap();
/// let x = Vector::<f64, 2>::new(0.3, 0.4);
/// assert!((n.value(&x) - x).norm() < 1e-15); // an affine map normalises to the identity
/// assert!((n.denormalise(&n.value(&x)) - Flip.value(&x)).norm() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Normalised<T: Real, F, const D: usize> {
    /// The original map h.
    pub h: F,
    x0: Vector<T, D>,
    y0: Vector<T, D>,
    /// A = Dh(x0): (D, D).
    a: Matrix<T, D, D>,
    /// A^-1: (D, D).
    a_inv: Matrix<T, D, D>,
}

impl<T: Real, F: SmoothMap<T, D>, const D: usize> Normalised<T, F, D> {
    /// Normalises h at the base point x0.
    ///
    /// Errors: [`Error::NonFinite`] when x0, h(x0) or Dh(x0) is not finite;
    /// [`Error::NonPositiveDeterminant`] when det Dh(x0) <= 0 (then no product of near-identity
    /// maps, each with positive Jacobian determinant, can have this Jacobian);
    /// [`Error::Singular`] when Dh(x0) is numerically singular.
    pub fn new(h: F, x0: Vector<T, D>) -> Result<Self> {
        if !x0.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite);
        }
        let (y0, a) = h.value_and_jacobian(&x0);
        if !y0.iter().all(|v| v.is_finite()) {
            return Err(Error::NonFinite);
        }
        if determinant(&a)? <= T::zero() {
            return Err(Error::NonPositiveDeterminant);
        }
        let a_inv = inverse(&a)?;
        Ok(Self {
            h,
            x0,
            y0,
            a,
            a_inv,
        })
    }

    /// The linear part A = Dh(x0): (D, D), det A > 0. Factor it into near-identity linear
    /// factors (docs/THEORY.md section 1) with [`Normalised::factor_linear_part`].
    pub fn linear_part(&self) -> &Matrix<T, D, D> {
        &self.a
    }

    /// The linear part A = Dh(x0) written as (I + A_L) ... (I + A_1) into `out` = [A_1 .. A_L]
    /// (L = `out.len()`), max ||A_i|| within the HM bound (docs/THEORY.md section 1, the core's
    /// [`factorize_into`]): the near-identity linear factors that complete the decomposition
    ///
    /// ```text
    /// h(x) = (I + A_L) ... (I + A_1) h_m o ... o h_1 (x - x0) + h(x0).
    /// ```
    ///
    /// Errors: those of [`factorize_into`] (det A > 0 was checked by [`Normalised::new`]).
    pub fn factor_linear_part_into(&self, out: &mut [Matrix<T, D, D>]) -> Result<FactorReport<T>>
    where
        Const<D>: Decompose<T, D>,
    {
        factorize_into(&self.a, out)
    }

    /// [`Normalised::factor_linear_part_into`] with the depth L as a const generic: a
    /// [`LinearResNet`] whose product is A.
    pub fn factor_linear_part<const L: usize>(
        &self,
    ) -> Result<(LinearResNet<T, D, L>, FactorReport<T>)>
    where
        Const<D>: Decompose<T, D>,
    {
        factorize(&self.a)
    }

    /// The base point x0: the input translation (x -> x - x0 before h~).
    pub fn base_point(&self) -> &Vector<T, D> {
        &self.x0
    }

    /// y0 = h(x0): the output translation (added after A).
    pub fn base_value(&self) -> &Vector<T, D> {
        &self.y0
    }

    /// The input of h~ for an input x of h: x - x0.
    pub fn normalise_input(&self, x: &Vector<T, D>) -> Vector<T, D> {
        x - self.x0
    }

    /// h(x) from h~(x - x0): A v + y0 for v = h~(x - x0).
    pub fn denormalise(&self, v: &Vector<T, D>) -> Vector<T, D> {
        self.a * v + self.y0
    }
}

impl<T: Real, F: SmoothMap<T, D>, const D: usize> SmoothMap<T, D> for Normalised<T, F, D> {
    fn value(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.a_inv * (self.h.value(&(x + self.x0)) - self.y0)
    }

    fn jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D> {
        self.a_inv * self.h.jacobian(&(x + self.x0))
    }

    fn value_and_jacobian(&self, x: &Vector<T, D>) -> (Vector<T, D>, Matrix<T, D, D>) {
        let (v, j) = self.h.value_and_jacobian(&(x + self.x0));
        (self.a_inv * (v - self.y0), self.a_inv * j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reflection composed with a shear: det Dh = -1.
    struct Reflect;
    impl SmoothMap<f64, 2> for Reflect {
        fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
            Vector::<f64, 2>::new(-x[0] - x[1] * x[1], x[1])
        }
        fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
            Matrix::<f64, 2, 2>::new(-1.0, -2.0 * x[1], 0.0, 1.0)
        }
    }

    #[test]
    fn a_negative_determinant_is_refused() {
        let err = Normalised::new(Reflect, Vector::<f64, 2>::new(0.2, 0.1)).err();
        assert_eq!(err, Some(Error::NonPositiveDeterminant));
        let nan = Vector::<f64, 2>::new(f64::NAN, 0.0);
        assert_eq!(Normalised::new(Reflect, nan).err(), Some(Error::NonFinite));
    }

    #[test]
    fn normalised_map_fixes_the_origin_with_identity_jacobian() {
        let net = crate::ResNet::<f64, 2, 3, 3, crate::Tanh>::random(&mut crate::Rng::new(9), 0.5);
        let x0 = Vector::<f64, 2>::new(0.5, -0.25);
        let n = Normalised::new(net, x0).unwrap();
        assert!(n.value(&Vector::zeros()).norm() < 1e-15);
        assert!((n.jacobian(&Vector::zeros()) - Matrix::<f64, 2, 2>::identity()).norm() < 1e-14);
        let x = Vector::<f64, 2>::new(-0.1, 0.3);
        let back = n.denormalise(&n.value(&n.normalise_input(&x)));
        assert!((back - net.value(&x)).norm() < 1e-14);
    }
}
