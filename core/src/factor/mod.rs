//! Near-identity factorisation (HM Theorem 2.1, docs/THEORY.md section 1): every D x D R with
//! det R > 0 is a product (I + A_M) ... (I + A_1) with
//!
//! ```text
//! max_i ||A_i|| <= 2 (sqrt(pi) + sqrt(3 gamma))^2 / M   whenever M >= 3 gamma,
//! gamma = max(|ln sigma_max(R)|, |ln sigma_min(R)|).
//! ```
//!
//! The construction: polar decomposition R = Q P ([`Polar`], via the SVD); the real Schur form of
//! the rotation Q ([`Rotation`]); p equal factors P^(1/p) act first, then q equal factors
//! Q^(1/q), with p + q = M split to minimise the larger factor norm
//! ([`factorize_into`], [`factorize`]). Everything runs without a heap, on the microcontroller too.
//!
//! The SVD ([`Svd`]) and the Schur form of the rotation ([`Rotation`]) are the core's own
//! Jacobi methods on static matrices: they converge on any input, clustered eigenvalues and
//! rotations by exactly pi included. The determinant's sign comes from nalgebra's LU, which
//! expresses "D >= 1" through typenum, so generic code carries the bound
//! `nalgebra::Const<D>: Decompose<T, D>`, which every concrete D from 1 to 127 satisfies.
//!
//! ```
//! use nearid::{Matrix, factor::factorize};
//! let r = -Matrix::<f64, 2, 2>::identity(); // det = +1, but gradient descent from I cannot reach it
//! let (net, report) = factorize::<f64, 2, 16>(&r).unwrap();
//! assert!((net.product() - r).norm() < 1e-13);
//! assert!(report.max_norm <= report.bound.unwrap());
//! ```

mod polar;
mod rotation;
mod svd;

pub use polar::Polar;
pub use rotation::{Plane, Rotation};
pub use svd::Svd;

use crate::{Error, LinearResNet, Matrix, Real, Result, Scalar, zeros};
use nalgebra::{Const, DimMin};

/// The decomposition the factorisation needs from nalgebra on static D x D matrices: the
/// determinant (the SVD and the Schur form are the core's own, [`Svd`] and [`Rotation`]).
/// Implemented for `nalgebra::Const<D>` for every D nalgebra supports (1 to 127); it only
/// carries nalgebra's dimension bounds so that generic code names one bound.
pub trait Decompose<T: Real, const D: usize> {
    /// det M (by LU).
    fn determinant(m: &Matrix<T, D, D>) -> T;
}

impl<T: Real, const D: usize> Decompose<T, D> for Const<D>
where
    Const<D>: DimMin<Const<D>, Output = Const<D>>,
{
    fn determinant(m: &Matrix<T, D, D>) -> T {
        m.determinant()
    }
}

/// What [`factorize_into`] achieved, next to what HM promise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FactorReport<T> {
    /// max_i ||A_i||, the spectral norm of the factors written (measured by SVD).
    pub max_norm: T,
    /// The HM bound 2 (sqrt(pi) + sqrt(3 gamma))^2 / M, or `None` when M < 3 gamma (the
    /// theorem does not apply; the factorisation is still exact).
    pub bound: Option<T>,
    /// gamma = max(|ln sigma_max(R)|, |ln sigma_min(R)|).
    pub gamma: T,
    /// sigma_min(R).
    pub sigma_min: T,
    /// sigma_max(R).
    pub sigma_max: T,
    /// The largest rotation angle |theta_j| of the orthogonal part Q, in [0, pi].
    pub max_angle: T,
    /// Number of factors of the positive definite part P (they come first: A_1 .. A_p).
    pub p: usize,
    /// Number of factors of the rotation Q (A_{p+1} .. A_M).
    pub q: usize,
    /// An upper bound (to first order in eps) on ||Pi(A) - R||_F / ||R||_F for the product of
    /// the factors as written, in exact arithmetic: the decomposition's measured residual plus
    /// the rounding of each stored A_i carried through the partial products (see
    /// [`factorize_into`]). It grows where I + A_i cannot carry R: R far below the identity
    /// with few factors.
    pub error_bound: T,
}

/// The HM bound 2 (sqrt(pi) + sqrt(3 gamma))^2 / M on max_i ||A_i||, or `None` when M < 3 gamma
/// or M = 0 (docs/THEORY.md section 1).
///
/// gamma is max(|ln sigma_max|, |ln sigma_min|) >= 0: a NaN, infinite or negative gamma gives
/// `None` (there is no bound to state).
///
/// ```
/// use nearid::hm_bound;
/// let pure_rotation = hm_bound(0.0f64, 4).unwrap(); // 2 pi / M
/// assert!((pure_rotation - core::f64::consts::PI / 2.0).abs() < 1e-15);
/// assert_eq!(hm_bound(1.0f64, 2), None); // M < 3 gamma
/// assert_eq!(hm_bound(f64::NAN, 3), None);
/// assert_eq!(hm_bound(-1.0f64, 3), None);
/// ```
pub fn hm_bound<T: Real>(gamma: T, m: usize) -> Option<T> {
    let depth = <T as Scalar>::from_f64(m as f64);
    let valid = Scalar::is_finite(gamma) && gamma >= T::ZERO;
    if m == 0 || !valid || depth < <T as Scalar>::from_f64(3.0) * gamma {
        return None;
    }
    let root = Scalar::sqrt(T::pi()) + Scalar::sqrt(<T as Scalar>::from_f64(3.0) * gamma);
    Some(<T as Scalar>::from_f64(2.0) * root * root / depth)
}

/// Factorise R (D x D, det R > 0) as (I + A_M) ... (I + A_1) into `out` = [A_1, ..., A_M]
/// (M = `out.len()`, each (D, D), A_1 applied first), following docs/THEORY.md section 1:
///
/// 1. R = Q P, polar decomposition via the SVD R = U diag(k) V^T ([`Polar`]);
/// 2. Q = S diag(T(theta_j)) S^T, real Schur form, -1 eigenvalues paired as turns by pi
///    ([`Rotation`]);
/// 3. A_1 = ... = A_p = P^(1/p) - I with norm max_i |k_i^(1/p) - 1|, then
///    A_{p+1} = ... = A_M = Q^(1/q) - I with norm max_j 2 |sin(theta_j / 2q)|;
/// 4. the split p + q = M minimises the larger of the two norms; p = 0 is taken only when P = I
///    and q = 0 only when Q = I, to working precision (max |k_i - 1| resp. max |theta_j| at most
///    D eps). With M = 1 and neither part the identity, A_1 = R - I (p = q = 0 in the report).
///
/// The report's `error_bound` on ||Pi(A) - R||_F / ||R||_F adds (first order in eps):
///
/// - ||R - Q P||_F / ||R||_F for the Q = S B S^T and P = V diag(k) V^T the roots are taken
///   of (I for a part left out), measured in f64, plus twice the orthogonality defects
///   ||V^T V - I||_F, ||S^T S - I||_F (V, S are orthogonal to rounding only);
/// - for each stored factor, its rounding e_i = (2 D (D + 2) eps + ||V^T V - I||_F) ||A_i||
///   (a sum of D products per entry, each entry within (D + 2) eps ||A_i||, doubled; S for the
///   rotation's factors; eps ||R - I||_F for A_1 = R - I) times the norms of the partial
///   products around it, relative to ||R||_F >= sigma_max: ||P^t|| = sigma_max^t, so the p
///   factors of P add p e_p sigma_max^(-1/p) and the q factors of Q add q e_q; and
///   2 eps gamma for the rounding of ln k in the roots k^(1/p) = exp(ln(k) / p).
///
/// Errors: [`Error::OutOfRange`] for an empty `out`, and when that bound is 1 or more: the
/// depth is too small for factors I + A_i to carry R at this precision (each factor is
/// R^(1/M)-sized: for R = 1e-300 I and M = 2, I + A_i = 1e-150 I is stored as 1 + (-1) = 0;
/// more factors are closer to I); [`Error::Overflow`] when a singular value or factor of a
/// finite R is not representable in T; otherwise those of [`Polar::new`] and
/// [`Rotation::new`] (NonFinite, Singular, NonPositiveDeterminant, NoConvergence). On error
/// `out` is unchanged. Nothing is allocated: the depth is the caller's slice.
///
/// ```
/// use nearid::{Matrix, factor::factorize_into};
/// let r = Matrix::<f32, 3, 3>::from_diagonal(&nalgebra::Vector3::new(2.0, 0.5, 1.0));
/// let mut factors = [Matrix::<f32, 3, 3>::zeros(); 8]; // M = 8, chosen at run time
/// let report = factorize_into(&r, &mut factors).unwrap();
/// assert_eq!((report.p, report.q), (8, 0)); // R is positive definite: no rotation part
/// assert!(report.max_norm <= report.bound.unwrap());
/// ```
pub fn factorize_into<T: Real, const D: usize>(
    r: &Matrix<T, D, D>,
    out: &mut [Matrix<T, D, D>],
) -> Result<FactorReport<T>>
where
    Const<D>: Decompose<T, D>,
{
    let m = out.len();
    if m == 0 {
        return Err(Error::OutOfRange);
    }
    let polar = Polar::new(r)?;
    let rotation = Rotation::new(&polar.q)?;
    let (sigma_min, sigma_max) = polar.extreme_singular_values();
    let gamma = Scalar::max(Scalar::abs(sigma_max.ln()), Scalar::abs(sigma_min.ln()));
    let max_angle = rotation.max_angle();

    let tiny = <T as Scalar>::from_f64(D as f64) * T::default_epsilon();
    let p_is_identity = polar.distance_from_identity() <= tiny;
    let q_is_identity = max_angle <= tiny;
    // The larger factor norm for a split (p, M - p), or None when the split cannot be exact.
    let cost = |p: usize| -> Option<T> {
        let q = m - p;
        let np = match p {
            0 if p_is_identity => T::ZERO,
            0 => return None,
            p => polar.root_norm(p),
        };
        let nq = match q {
            0 if q_is_identity => T::ZERO,
            0 => return None,
            q => rotation.root_norm(q),
        };
        Some(Scalar::max(np, nq))
    };
    let mut best: Option<(usize, T)> = None;
    for p in 0..=m {
        if let Some(c) = cost(p)
            && best.is_none_or(|(_, b)| c < b)
        {
            best = Some((p, c));
        }
    }

    let (p, q) = match best {
        Some((p, _)) => (p, m - p),
        None => (0, 0),
    };
    let a_p = if p > 0 {
        polar.root_perturbation(p).0
    } else {
        zeros()
    };
    let a_q = if q > 0 {
        rotation.root_perturbation(q)
    } else {
        zeros()
    };
    let direct = r - crate::identity_matrix::<T, D>(); // the M = 1 fallback
    let fallback = best.is_none();
    let mut max_norm = T::ZERO;
    for a in [a_p, a_q, direct] {
        if !a.iter().all(|v| Scalar::is_finite(*v)) {
            return Err(Error::Overflow);
        }
    }
    let (mut norm_p, mut norm_q) = (T::ZERO, T::ZERO);
    if p > 0 {
        norm_p = spectral_norm(&a_p)?;
        max_norm = Scalar::max(max_norm, norm_p);
    }
    if q > 0 {
        norm_q = spectral_norm(&a_q)?;
        max_norm = Scalar::max(max_norm, norm_q);
    }
    if fallback {
        max_norm = spectral_norm(&direct)?;
    }
    let error_bound = {
        let f = |x: T| Scalar::to_f64(x);
        let (d, eps) = (D as f64, f(T::default_epsilon()));
        let id = Matrix::<f64, D, D>::identity();
        let r64 = r.map(f);
        let norm = |m: &Matrix<f64, D, D>| crate::upper::frobenius(m.iter().copied());
        let r_norm = norm(&r64);
        let v64 = polar.v.map(f);
        let s64 = rotation.s.map(f);
        // V and S are orthogonal to rounding only: E = V^T V - I.
        let (orth_v, orth_s) = (
            norm(&(v64.transpose() * v64 - id)),
            norm(&(s64.transpose() * s64 - id)),
        );
        let rounding = 2.0 * d * (d + 2.0) * eps;
        let carried = if fallback {
            eps * norm(&direct.map(f)) / r_norm
        } else {
            let root = libm::exp(-libm::log(f(sigma_max)) / p.max(1) as f64);
            // The roots k^(1/p) = exp(ln(k) / p) carry ln k's rounding, eps |ln k| / p
            // relative per factor: eps gamma over the p factors (doubled).
            let logs = if p > 0 { 2.0 * eps * f(gamma) } else { 0.0 };
            p as f64 * (rounding + orth_v) * f(norm_p) * root
                + q as f64 * (rounding + orth_s) * f(norm_q)
                + logs
        };
        // R against the product of the parts actually used (a part within D eps of I is left
        // out, its distance from I then counts here), with V, S taken as orthogonal (their
        // defect counts twice).
        let residual = if fallback {
            0.0
        } else {
            let q_used = if q > 0 { rotation.rotation_f64() } else { id };
            let p_used = if p > 0 {
                v64 * Matrix::from_diagonal(&polar.k.map(f)) * v64.transpose()
            } else {
                id
            };
            norm(&(r64 - q_used * p_used)) / r_norm + 2.0 * (orth_v + orth_s)
        };
        // The residual's own rounding in f64 (two products of D terms) is below 4 D eps_64.
        residual + 4.0 * d * f64::EPSILON + carried
    };
    // (NaN-safe: only a definite "less" passes.)
    if error_bound.partial_cmp(&1.0) != Some(core::cmp::Ordering::Less) {
        return Err(Error::OutOfRange);
    }
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = if fallback {
            direct
        } else if i < p {
            a_p
        } else {
            a_q
        };
    }
    Ok(FactorReport {
        max_norm,
        bound: hm_bound(gamma, m),
        gamma,
        sigma_min,
        sigma_max,
        max_angle,
        p,
        q,
        // Rounded up past from_f64's half-ulp rounding.
        error_bound: <T as Scalar>::from_f64(error_bound * (1.0 + 1e-6)),
    })
}

/// [`factorize_into`] with the depth M as a const generic: a [`LinearResNet`] whose product is R,
/// and the report.
pub fn factorize<T: Real, const D: usize, const M: usize>(
    r: &Matrix<T, D, D>,
) -> Result<(LinearResNet<T, D, M>, FactorReport<T>)>
where
    Const<D>: Decompose<T, D>,
{
    let mut net = LinearResNet::identity();
    let report = factorize_into(r, &mut net.factors)?;
    Ok((net, report))
}

/// ||A||, the largest singular value ([`Svd`]); [`Error::NoConvergence`] when the SVD did not
/// converge, [`Error::NonFinite`] for non-finite entries.
pub fn spectral_norm<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> Result<T> {
    Ok(Svd::new(a)?.extremes().1)
}
