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
    /// The SVD of A. [`Error::NonFinite`] for non-finite entries, [`Error::Overflow`] when a
    /// singular value of a finite A is above T::MAX (it can be up to D max |a_ij|),
    /// [`Error::NoConvergence`] after `MAX_SWEEPS` sweeps without convergence. The input is
    /// scaled by a power of two (exactly, entry by entry) so that the sums of squares can
    /// neither overflow nor underflow, subnormal and huge inputs included.
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
        // Scale by 2^-e so the largest entry is in [1/2, 1): each entry is scaled on its own
        // with ldexp (exact), since 2^-e itself overflows for subnormal inputs (e < -1021) and
        // 2^e for inputs near T::MAX in f32 (e = 128).
        let amax = a
            .iter()
            .fold(0.0f64, |m, v| m.max(Scalar::to_f64(*v).abs()));
        let exponent = if amax > 0.0 { libm::frexp(amax).1 } else { 0 };
        let mut w = a.map(|v| <T as Scalar>::from_f64(libm::ldexp(Scalar::to_f64(v), -exponent)));
        let mut v = identity_matrix::<T, D>(); // (D, D)
        let tol = <T as Scalar>::from_f64(D as f64) * T::default_epsilon();
        // Column pairs whose inner product is below eps tol ||A||_F^2 count as orthogonal
        // whatever their norms: without this floor a column that rounding has made negligible
        // (a rank-deficient A) is rotated against the others forever, its threshold
        // tol ||w_i|| ||w_j|| falling with it.
        let frob = w.iter().fold(T::ZERO, |acc, x| acc + *x * *x);
        let floor = tol * T::default_epsilon() * frob;
        let mut converged = false;
        for _ in 0..MAX_SWEEPS {
            let mut rotated = false;
            for i in 0..D {
                for j in (i + 1)..D {
                    let (wi, wj) = (w.column(i), w.column(j));
                    let alpha = wi.dot(&wi);
                    let beta = wj.dot(&wj);
                    let gamma = wi.dot(&wj);
                    let threshold = Scalar::max(tol * Scalar::sqrt(alpha * beta), floor);
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
            // Undo the scaling in f64 (2^e alone may not be representable in T).
            k[j] = <T as Scalar>::from_f64(libm::ldexp(Scalar::to_f64(norm), exponent));
            let scale = if norm > T::ZERO {
                T::ONE / norm
            } else {
                T::ZERO
            };
            u.column_mut(j).scale_mut(scale);
        }
        reorthogonalise(&mut u, &mut k, tol);
        // A finite A whose singular values are not representable in T (f32 entries near
        // f32::MAX): the decomposition exists, its values do not.
        if !k.iter().all(|v| Scalar::is_finite(*v)) {
            return Err(Error::Overflow);
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

/// Makes the columns of U orthonormal where the sweep's floor let them drift.
///
/// Columns whose singular values are at the rounding level of ||A|| (a rank-deficient A: rank 1
/// rounded to subnormals leaves k_j / k_max near 1e-14) pass the floor while their pairwise
/// cosines can be 1e-4, and Q = U V^T is then not orthogonal (the Schur form of Q refused it).
/// Modified Gram-Schmidt, twice, in decreasing k, restores orthonormality to working precision
/// and changes A's reconstruction by at most those columns' k times their cosines (far below
/// eps ||A||). It runs only when some |u_i . u_j| exceeds 4 tol (the sweep leaves every other
/// pair within tol, plus the rounding of a dot product of unit vectors), so a well-separated
/// A keeps every bit. A column that Gram-Schmidt reduces to zero (not separable from the others
/// at this precision) gets k_j = 0: the decomposition is then that of a numerically singular A.
fn reorthogonalise<T: Real, const D: usize>(u: &mut Matrix<T, D, D>, k: &mut Vector<T, D>, tol: T) {
    let limit = <T as Scalar>::from_f64(4.0) * tol;
    let drifted = (0..D).any(|i| {
        ((i + 1)..D).any(|j| {
            k[i] > T::ZERO
                && k[j] > T::ZERO
                && Scalar::abs(u.column(i).dot(&u.column(j))).partial_cmp(&limit)
                    == Some(core::cmp::Ordering::Greater)
        })
    });
    if !drifted {
        return;
    }
    // Columns in decreasing k: the accurate ones first, so the others are projected off them.
    let mut order: [usize; D] = core::array::from_fn(|i| i);
    order.sort_unstable_by(|&a, &b| {
        k[b].partial_cmp(&k[a])
            .unwrap_or(core::cmp::Ordering::Equal)
    });
    for _ in 0..2 {
        for (n, &j) in order.iter().enumerate() {
            if k[j] <= T::ZERO {
                continue;
            }
            for &i in &order[..n] {
                if k[i] > T::ZERO {
                    let (ui, uj) = (u.column(i).into_owned(), u.column(j).into_owned());
                    u.column_mut(j).copy_from(&(uj - ui * ui.dot(&uj)));
                }
            }
            let norm = Scalar::sqrt(u.column(j).dot(&u.column(j)));
            if norm > T::ZERO {
                u.column_mut(j).scale_mut(T::ONE / norm);
            } else {
                k[j] = T::ZERO;
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A 4 x 4 U with orthonormal columns (a Householder reflection) tilted so that columns 0
    /// and 2 have cosine `cos`.
    fn tilted(cos: f64) -> Matrix<f64, 4, 4> {
        let v = nalgebra::Vector4::new(1.0, -2.0, 0.5, 3.0).normalize();
        let mut u = Matrix::<f64, 4, 4>::identity() - v * v.transpose() * 2.0;
        let c0 = u.column(0).into_owned();
        let c2 = (u.column(2) + c0 * cos).normalize();
        u.column_mut(2).copy_from(&c2);
        u
    }

    /// Pairs within 4 tol of orthogonal, or with a zero singular value on either side, are not
    /// drift: U keeps every bit.
    #[test]
    fn reorthogonalise_leaves_undrifted_columns_alone() {
        let tol = 1e-10;
        let u0 = tilted(3e-10); // inside 4 tol
        for k in [[1.0, 0.5, 0.25, 0.125], [1.0, 0.0, 0.25, 0.125]] {
            let (mut u, mut kk) = (u0, Vector::<f64, 4>::from(k));
            reorthogonalise(&mut u, &mut kk, tol);
            assert_eq!((u, kk), (u0, Vector::from(k)));
        }
        // Drift only against a column whose k is 0, before it and after it.
        for (zero, k) in [(0, [0.0, 0.5, 0.25, 0.125]), (2, [1.0, 0.5, 0.0, 0.125])] {
            let mut u = tilted(0.0);
            let other = if zero == 0 { 2 } else { 0 };
            let copy = u.column(other).into_owned();
            u.column_mut(zero).copy_from(&copy);
            let (u0, mut kk, mut uu) = (u, Vector::<f64, 4>::from(k), u);
            reorthogonalise(&mut uu, &mut kk, tol);
            assert_eq!((uu, kk), (u0, Vector::from(k)), "zero k at column {zero}");
        }
    }

    /// Drifted columns are made orthonormal; one that Gram-Schmidt reduces to exactly zero gets
    /// k = 0 (not 0 / 0).
    #[test]
    fn reorthogonalise_restores_orthonormal_columns() {
        let (mut u, mut k) = (tilted(1e-4), Vector::<f64, 4>::new(1.0, 0.5, 0.25, 0.125));
        reorthogonalise(&mut u, &mut k, 1e-10);
        assert!((u.transpose() * u - Matrix::<f64, 4, 4>::identity()).norm() < 1e-15);
        let mut u = Matrix::<f64, 4, 4>::identity();
        u[(0, 1)] = 1.0;
        u[(1, 1)] = 0.0; // column 1 = e_1 = column 0
        let mut k = Vector::<f64, 4>::new(1.0, 0.5, 0.25, 0.125);
        reorthogonalise(&mut u, &mut k, 1e-10);
        assert_eq!(k, Vector::<f64, 4>::new(1.0, 0.0, 0.25, 0.125));
        assert!(u.iter().all(|x| x.is_finite()));
    }

    /// Rank 1 rounded to subnormals: two singular values at 2e-14 of the largest, whose left
    /// singular vectors the sweep's floor left 1e-4 from orthogonal before
    /// [`reorthogonalise`]. U must be orthonormal and A = U diag(k) V^T still hold.
    #[test]
    fn negligible_columns_are_made_orthonormal() {
        let bits: [u64; 9] = [
            0xb2c9608e66,
            0x80000635d5419c1c,
            0x5e458b87b06,
            0x138f7e66d60,
            0x80000adf06148b6b,
            0xa50616fc96b,
            0x17c213ec8fe,
            0x80000d343f4c7313,
            0xc86fe5be716,
        ];
        let a = Matrix::<f64, 3, 3>::from_fn(|i, j| f64::from_bits(bits[3 * i + j]));
        // Scaled into the normal range (exactly), where the reconstruction can be measured.
        let scaled = a.map(|x| libm::ldexp(x, 1000));
        let svd = Svd::new(&scaled).unwrap();
        let defect = (svd.u.transpose() * svd.u - Matrix::identity()).norm();
        assert!(
            defect <= 3.0 * 3.0 * f64::EPSILON,
            "||U^T U - I|| = {defect:e}"
        );
        let back = svd.u * Matrix::from_diagonal(&svd.k) * svd.v.transpose();
        let err = (back - scaled).norm() / scaled.norm();
        assert!(err <= 3.0 * 3.0 * f64::EPSILON, "reconstruction {err:e}");
        // The subnormal input itself: the same U.
        let tiny = Svd::new(&a).unwrap();
        assert!((tiny.u.transpose() * tiny.u - Matrix::identity()).norm() <= 9.0 * f64::EPSILON);
    }
}
