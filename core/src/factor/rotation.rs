//! Roots of a rotation: the real Schur form of orthogonal Q, det +1 (docs/THEORY.md section 1,
//! step 2).
//!
//! Q = S diag(T(theta_1), ..., T(theta_k), 1, ..., 1) S^T with S orthogonal and T(theta) the 2x2
//! rotation [[cos, -sin], [sin, cos]] acting in the plane of two columns of S. The eigenvalue -1
//! has even multiplicity (det Q = +1); its Schur vectors are paired into planes turned by pi.
//! Then Q^(1/q) = S diag(T(theta_j / q), 1, ...) S^T and ||Q^(1/q) - I|| = max_j 2|sin(theta_j / 2q)|.

use super::Decompose;
use crate::{Error, Matrix, Real, Result, Scalar};

/// A plane turned by `angle`: the columns `i` and `j` of S, angle in [-pi, pi].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plane<T> {
    /// First Schur vector of the plane (column of S).
    pub i: usize,
    /// Second Schur vector of the plane.
    pub j: usize,
    /// theta: the rotation takes s_i to cos(theta) s_i + sin(theta) s_j.
    pub angle: T,
}

/// An orthogonal Q with det +1 as rotations in orthogonal planes: Q = S diag(T(theta_j), 1) S^T.
/// At most D / 2 planes; the remaining Schur vectors are fixed (eigenvalue +1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rotation<T: Real, const D: usize> {
    /// The orthogonal Schur vectors S: (D, D).
    pub s: Matrix<T, D, D>,
    /// The planes; only the first `count` entries are used. (D) slots so no const arithmetic
    /// is needed (D / 2 would do).
    planes: [Plane<T>; D],
    count: usize,
}

impl<T: Real, const D: usize> Rotation<T, D> {
    /// The real Schur form of an orthogonal Q with det Q = +1.
    ///
    /// [`Error::NoConvergence`] when the Schur iteration did not converge, or when its result is
    /// not the Schur form of an orthogonal matrix with det +1 to working precision (an odd
    /// number of -1 eigenvalues, or a diagonal entry far from +-1 outside a 2x2 block): Q was not
    /// orthogonal, which [`super::Polar`] rules out.
    ///
    /// ```
    /// use nearid::{Matrix, factor::Rotation};
    /// let minus_i = -Matrix::<f64, 4, 4>::identity(); // two planes turned by pi
    /// let rot = Rotation::new(&minus_i).unwrap();
    /// assert_eq!(rot.planes().len(), 2);
    /// assert!(rot.planes().iter().all(|p| (p.angle.abs() - core::f64::consts::PI).abs() < 1e-15));
    /// assert!((rot.root(1) - minus_i).norm() < 1e-14);
    /// ```
    pub fn new(q: &Matrix<T, D, D>) -> Result<Self>
    where
        nalgebra::Const<D>: Decompose<T, D>,
    {
        let (s, t) = schur_with_retries(q).ok_or(Error::NoConvergence)?;
        let eps = T::default_epsilon();
        // nalgebra's Schur vectors can be off orthogonality by 1e4 eps (seen for two planes
        // turned by pi - 1e-9 and pi - 3e-9): two Newton-Schulz steps S <- S (3 I - S^T S) / 2
        // make S orthogonal to rounding, and T2 = S^T Q S is read for the angles. The block
        // structure (which subdiagonal entries are zero) is taken from nalgebra's T.
        let identity = crate::identity_matrix::<T, D>();
        let (half, three_halves) = (<T as Scalar>::from_f64(0.5), <T as Scalar>::from_f64(1.5));
        let mut s = s;
        for _ in 0..2 {
            let gram = s.transpose() * s;
            s *= identity * three_halves - gram * half;
        }
        let t2 = s.transpose() * q * s;
        // A 1x1 block must be +-1 to this tolerance, and Q must equal S B S^T (B the rotations
        // found) to it: loose enough for a few thousand ulps, tight enough to catch a wrong
        // result (nalgebra's SVD was once off by 2e-2 without reporting it).
        let tol = <T as Scalar>::from_f64(D as f64) * Scalar::sqrt(eps);
        let empty = Plane {
            i: 0,
            j: 0,
            angle: T::ZERO,
        };
        let mut planes = [empty; D];
        let mut count = 0;
        // Indices of 1x1 blocks equal to -1, waiting for a partner.
        let mut pending: Option<usize> = None;
        let mut i = 0;
        while i < D {
            let two_by_two = i + 1 < D && {
                let sub = Scalar::abs(t[(i + 1, i)]);
                sub > eps * (Scalar::abs(t[(i, i)]) + Scalar::abs(t[(i + 1, i + 1)]))
            };
            let plane = if two_by_two {
                let p = plane_of(&t2, i, i + 1);
                i += 2;
                Some(p)
            } else {
                let d = t2[(i, i)];
                i += 1;
                if Scalar::abs(d - T::ONE) <= tol {
                    None
                } else if Scalar::abs(d + T::ONE) <= tol {
                    match pending.take() {
                        None => {
                            pending = Some(i - 1);
                            None
                        }
                        Some(first) => Some(plane_of(&t2, first, i - 1)),
                    }
                } else {
                    return Err(Error::NoConvergence);
                }
            };
            if let Some(p) = plane {
                let slot = planes.get_mut(count).ok_or(Error::NoConvergence)?;
                *slot = p;
                count += 1;
            }
        }
        if pending.is_some() {
            return Err(Error::NoConvergence);
        }
        let rotation = Self { s, planes, count };
        let residual = (t2 - rotation.block_root(1)).norm();
        if !matches!(
            residual.partial_cmp(&tol),
            Some(core::cmp::Ordering::Less | core::cmp::Ordering::Equal)
        ) {
            return Err(Error::NoConvergence);
        }
        Ok(rotation)
    }

    /// The planes and their angles.
    pub fn planes(&self) -> &[Plane<T>] {
        self.planes.get(..self.count).unwrap_or(&[])
    }

    /// The largest |theta_j| (0 for the identity).
    pub fn max_angle(&self) -> T {
        self.planes()
            .iter()
            .fold(T::ZERO, |m, p| Scalar::max(m, Scalar::abs(p.angle)))
    }

    /// ||Q^(1/q) - I|| = max_j 2 |sin(theta_j / 2q)|, for q >= 1.
    pub fn root_norm(&self, q: usize) -> T {
        let half = <T as Scalar>::from_f64(0.5 / q.max(1) as f64);
        self.planes().iter().fold(T::ZERO, |m, p| {
            Scalar::max(
                m,
                <T as Scalar>::from_f64(2.0) * Scalar::abs((p.angle * half).sin()),
            )
        })
    }

    /// Q^(1/q) = S diag(T(theta_j / q), 1, ...) S^T: (D, D), for q >= 1.
    pub fn root(&self, q: usize) -> Matrix<T, D, D> {
        self.s * self.block_root(q) * self.s.transpose()
    }

    /// Q^(1/q) - I = S (diag(T(theta_j / q), 1, ...) - I) S^T: (D, D), formed without the
    /// cancellation of subtracting I from a matrix close to I.
    pub fn root_perturbation(&self, q: usize) -> Matrix<T, D, D> {
        let mut b = self.block_root(q);
        let inv = <T as Scalar>::from_f64(1.0 / q.max(1) as f64);
        for p in self.planes() {
            // cos(x) - 1 = -2 sin^2(x / 2), exact in relative terms for small x.
            let h = (p.angle * inv * <T as Scalar>::from_f64(0.5)).sin();
            let c1 = -<T as Scalar>::from_f64(2.0) * h * h;
            b[(p.i, p.i)] = c1;
            b[(p.j, p.j)] = c1;
        }
        for k in 0..D {
            if !self.planes().iter().any(|p| p.i == k || p.j == k) {
                b[(k, k)] = T::ZERO;
            }
        }
        self.s * b * self.s.transpose()
    }

    fn block_root(&self, q: usize) -> Matrix<T, D, D> {
        let mut b = crate::identity_matrix::<T, D>();
        let inv = <T as Scalar>::from_f64(1.0 / q.max(1) as f64);
        for p in self.planes() {
            let (sin, cos) = (p.angle * inv).sin_cos();
            b[(p.i, p.i)] = cos;
            b[(p.j, p.j)] = cos;
            b[(p.j, p.i)] = sin;
            b[(p.i, p.j)] = -sin;
        }
        b
    }
}

/// Attempts of [`schur_with_retries`] after the first.
const RETRIES: u32 = 8;

/// nalgebra's Schur form of Q, retried on orthogonal similarities G Q G^T (or G Q^T G^T) when it
/// does not converge. nalgebra's Francis iteration has no exceptional shifts and stagnates on
/// tight clusters: for two planes turned by pi - 1e-9 and pi - 3e-9 in random 4-D bases it gave
/// up on 96 of 400 (any eps, 10^4 iterations); the similarities below rescued all 96. G is a
/// product of Givens rotations by 0.7 k radians in the planes (i, i + 1); S = G^T S'. Only the
/// block structure of T is used (T' for Q^T has the same blocks).
fn schur_with_retries<T: Real, const D: usize>(
    q: &Matrix<T, D, D>,
) -> Option<(Matrix<T, D, D>, Matrix<T, D, D>)>
where
    nalgebra::Const<D>: Decompose<T, D>,
{
    if let Some(st) = nalgebra::Const::<D>::schur(*q) {
        return Some(st);
    }
    for attempt in 1..=RETRIES {
        let (sin, cos) = (<T as Scalar>::from_f64(0.7 * attempt as f64)).sin_cos();
        let mut g = crate::identity_matrix::<T, D>();
        for k in 0..D.saturating_sub(1) {
            // g <- G_k g, G_k the rotation in the plane (k, k + 1).
            for c in 0..D {
                let (a, b) = (g[(k, c)], g[(k + 1, c)]);
                g[(k, c)] = cos * a - sin * b;
                g[(k + 1, c)] = sin * a + cos * b;
            }
        }
        let base = if attempt % 2 == 0 { q.transpose() } else { *q };
        if let Some((s, t)) = nalgebra::Const::<D>::schur(g * base * g.transpose()) {
            return Some((g.transpose() * s, t));
        }
    }
    None
}

/// The angle of the rotation closest to the 2x2 block t[[i, j], [i, j]]: for
/// [[a, b], [c, d]] it is atan2((c - b) / 2, (a + d) / 2), exact for a rotation.
fn plane_of<T: Real, const D: usize>(t: &Matrix<T, D, D>, i: usize, j: usize) -> Plane<T> {
    let half = <T as Scalar>::from_f64(0.5);
    let angle = ((t[(j, i)] - t[(i, j)]) * half).atan2((t[(i, i)] + t[(j, j)]) * half);
    Plane { i, j, angle }
}
