//! The polar decomposition R = Q P (docs/THEORY.md section 1, step 1), from the SVD.

use super::{Decompose, Svd};
use crate::{Error, Matrix, Real, Result, Scalar, Vector};

/// R = Q P with Q = U V^T orthogonal (det +1) and P = V diag(k) V^T symmetric positive definite,
/// from the SVD R = U diag(k) V^T.
///
/// All matrices are (D, D), k is (D).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Polar<T: Real, const D: usize> {
    /// The orthogonal factor Q = U V^T: (D, D).
    pub q: Matrix<T, D, D>,
    /// The right singular vectors V (columns): (D, D). P = V diag(k) V^T.
    pub v: Matrix<T, D, D>,
    /// The singular values k_i of R, all > 0: (D).
    pub k: Vector<T, D>,
}

impl<T: Real, const D: usize> Polar<T, D> {
    /// The polar decomposition of R.
    ///
    /// Errors, checked in this order: [`Error::NonFinite`] for a NaN or infinite entry,
    /// [`Error::Singular`] when sigma_min(R) <= D eps sigma_max(R) (numerically singular at this
    /// precision: the sign of det R cannot be trusted, so this includes det R = 0, and the zero
    /// matrix),
    /// [`Error::NonPositiveDeterminant`] when det R < 0 (then det Q = -1 and no product of
    /// near-identity factors equals R), [`Error::Overflow`] when a singular value of a finite R
    /// is above T::MAX, [`Error::NoConvergence`] when the SVD did not converge.
    ///
    /// ```
    /// use nearid::{Matrix, factor::Polar};
    /// let r = Matrix::<f64, 2, 2>::new(0.0, -2.0, 1.0, 0.0); // a rotation times diag(1, 2)
    /// let polar = Polar::new(&r).unwrap();
    /// let p = polar.v * Matrix::from_diagonal(&polar.k) * polar.v.transpose();
    /// assert!((polar.q * p - r).norm() < 1e-14);
    /// ```
    pub fn new(r: &Matrix<T, D, D>) -> Result<Self>
    where
        nalgebra::Const<D>: Decompose<T, D>,
    {
        let svd = Svd::new(r)?;
        let (lo, hi) = svd.extremes();
        let d = <T as Scalar>::from_f64(D as f64);
        // (NaN-safe: only a definite "greater" passes.)
        if lo.partial_cmp(&(d * T::default_epsilon() * hi)) != Some(core::cmp::Ordering::Greater) {
            return Err(Error::Singular);
        }
        let (u, k, v) = (svd.u, svd.k, svd.v);
        let v_t = v.transpose();
        let q = u * v_t;
        // det Q = +-1 (Q is orthogonal to rounding): its sign is det R's.
        if <nalgebra::Const<D> as Decompose<T, D>>::determinant(&q) < T::ZERO {
            return Err(Error::NonPositiveDeterminant);
        }
        Ok(Self { q, v, k })
    }

    /// sigma_min(R) and sigma_max(R).
    pub fn extreme_singular_values(&self) -> (T, T) {
        self.k.iter().fold((T::MAX, T::ZERO), |(lo, hi), &s| {
            (crate::Scalar::min(lo, s), crate::Scalar::max(hi, s))
        })
    }

    /// P^(1/p) - I = V diag(k_i^(1/p) - 1) V^T, the perturbation of each of the p factors of
    /// P (docs/THEORY.md section 1, step 3), and its spectral norm max_i |k_i^(1/p) - 1|. `p` >= 1.
    pub fn root_perturbation(&self, p: usize) -> (Matrix<T, D, D>, T) {
        let inv = <T as Scalar>::from_f64(1.0 / p.max(1) as f64);
        // k^(1/p) - 1 = expm1(ln(k) / p): accurate when the root is close to one.
        let delta: Vector<T, D> = self.k.map(|s| expm1(s.ln() * inv));
        let norm = delta
            .iter()
            .fold(T::ZERO, |m, d| crate::Scalar::max(m, Scalar::abs(*d)));
        (
            self.v * Matrix::from_diagonal(&delta) * self.v.transpose(),
            norm,
        )
    }

    /// max_i |k_i^(1/p) - 1|, without forming the matrix.
    pub fn root_norm(&self, p: usize) -> T {
        let inv = <T as Scalar>::from_f64(1.0 / p.max(1) as f64);
        self.k.iter().fold(T::ZERO, |m, s| {
            crate::Scalar::max(m, Scalar::abs(expm1(s.ln() * inv)))
        })
    }

    /// max_i |k_i - 1|: how far P is from the identity.
    pub fn distance_from_identity(&self) -> T {
        self.k.iter().fold(T::ZERO, |m, s| {
            crate::Scalar::max(m, Scalar::abs(*s - T::ONE))
        })
    }
}

/// e^x - 1, accurate near zero (libm's expm1 in the precision of T).
fn expm1<T: Real>(x: T) -> T {
    x.exp_m1()
}
