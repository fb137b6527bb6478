//! The singular value decomposition by one-sided Jacobi rotations (Hestenes 1958), on static
//! matrices without a heap.
//!
//! Why not nalgebra's SVD: on the host it returned a decomposition off by 2e-2 (relative) for a
//! rank-deficient 15 x 15 factor with repeated singular values, without reporting failure.
//! One-sided Jacobi is short, needs no dimension arithmetic, and computes the singular values to
//! high relative accuracy (Demmel & Veselic 1992): what the roots k_i^(1/p) need.
//!
//! The method: rotate pairs of columns of W = A V until all columns are orthogonal
//! (|w_i . w_j| <= D eps ||w_i|| ||w_j||); then k_j = ||w_j|| and u_j = w_j / k_j. V, a product of
//! rotations, has det +1.

use crate::{Error, Matrix, Real, Result, Scalar, Vector, identity_matrix};

/// Sweeps over all column pairs before giving up; Jacobi converges quadratically, and D <= 16
/// needs well under 15 in practice.
const MAX_SWEEPS: usize = 60;

/// A = U diag(k) V^T: U (D, D) with orthonormal columns where k_j > 0 (a zero column where
/// k_j = 0), k (D) >= 0 unsorted, V (D, D) orthogonal with det V = +1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Svd<T: Real, const D: usize> {
    /// Left singular vectors (columns): (D, D).
    pub u: Matrix<T, D, D>,
    /// Singular values, unsorted: (D).
    pub k: Vector<T, D>,
    /// Right singular vectors (columns): (D, D), det +1.
    pub v: Matrix<T, D, D>,
}

impl<T: Real, const D: usize> Svd<T, D> {
    /// The SVD of A. [`Error::NonFinite`] for non-finite entries, [`Error::NoConvergence`] after
    /// `MAX_SWEEPS` sweeps without convergence. The input is scaled by a power of two (exactly)
    /// so that the sums of squares can neither overflow nor underflow.
    ///
    /// ```
    /// use nearid::{Matrix, factor::Svd};
    /// let a = Matrix::<f64, 2, 2>::new(3.0, 0.0, 4.0, 5.0);
    /// let svd = Svd::new(&a).unwrap();
    /// let back = svd.u * Matrix::from_diagonal(&svd.k) * svd.v.transpose();
    /// assert!((back - a).norm() < 1e-14);
    /// let (lo, hi) = (svd.k.min(), svd.k.max());
    /// assert!((lo * hi - 15.0).abs() < 1e-13 && (hi - 45f64.sqrt()).abs() < 1e-14);
    /// ```
    pub fn new(a: &Matrix<T, D, D>) -> Result<Self> {
        if !a.iter().all(|v| Scalar::is_finite(*v)) {
            return Err(Error::NonFinite);
        }
        let amax = a
            .iter()
            .fold(0.0f64, |m, v| m.max(Scalar::to_f64(*v).abs()));
        let exponent = if amax > 0.0 { libm::frexp(amax).1 } else { 0 };
        let down = <T as Scalar>::from_f64(libm::ldexp(1.0, -exponent));
        let up = <T as Scalar>::from_f64(libm::ldexp(1.0, exponent));

        let mut w = a * down; // (D, D), columns rotated towards orthogonality
        let mut v = identity_matrix::<T, D>(); // (D, D)
        let tol = <T as Scalar>::from_f64(D as f64) * T::default_epsilon();
        let mut converged = false;
        for _ in 0..MAX_SWEEPS {
            let mut rotated = false;
            for i in 0..D {
                for j in (i + 1)..D {
                    let (wi, wj) = (w.column(i), w.column(j));
                    let alpha = wi.dot(&wi);
                    let beta = wj.dot(&wj);
                    let gamma = wi.dot(&wj);
                    let threshold = tol * Scalar::sqrt(alpha * beta);
                    if Scalar::abs(gamma).partial_cmp(&threshold)
                        != Some(core::cmp::Ordering::Greater)
                    {
                        continue;
                    }
                    rotated = true;
                    // tan of the angle that zeroes w_i . w_j: the smaller root of
                    // t^2 + 2 zeta t - 1 = 0, zeta = (beta - alpha) / (2 gamma).
                    let zeta = (beta - alpha) / (gamma + gamma);
                    let t =
                        zeta.signum() / (Scalar::abs(zeta) + Scalar::sqrt(T::ONE + zeta * zeta));
                    let c = T::ONE / Scalar::sqrt(T::ONE + t * t);
                    let s = c * t;
                    rotate(&mut w, i, j, c, s);
                    rotate(&mut v, i, j, c, s);
                }
            }
            if !rotated {
                converged = true;
                break;
            }
        }
        if !converged {
            return Err(Error::NoConvergence);
        }
        let mut u = w;
        let mut k: Vector<T, D> = crate::zeros();
        for j in 0..D {
            let norm = Scalar::sqrt(w.column(j).dot(&w.column(j)));
            k[j] = norm * up;
            let scale = if norm > T::ZERO {
                T::ONE / norm
            } else {
                T::ZERO
            };
            u.column_mut(j).scale_mut(scale);
        }
        if !k.iter().all(|v| Scalar::is_finite(*v)) {
            return Err(Error::NonFinite);
        }
        Ok(Self { u, k, v })
    }

    /// (min_i k_i, max_i k_i).
    pub fn extremes(&self) -> (T, T) {
        self.k.iter().fold((T::MAX, T::ZERO), |(lo, hi), &s| {
            (Scalar::min(lo, s), Scalar::max(hi, s))
        })
    }
}

/// Columns (i, j) <- (c x_i - s x_j, s x_i + c x_j).
fn rotate<T: Real, const D: usize>(x: &mut Matrix<T, D, D>, i: usize, j: usize, c: T, s: T) {
    for r in 0..D {
        let (xi, xj) = (x[(r, i)], x[(r, j)]);
        x[(r, i)] = c * xi - s * xj;
        x[(r, j)] = s * xi + c * xj;
    }
}
