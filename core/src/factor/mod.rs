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
//! The SVD and Schur iterations are nalgebra's, on static matrices. nalgebra expresses "D >= 1"
//! through typenum, so generic code carries the bound `nalgebra::Const<D>: Decompose<T, D>`,
//! which every concrete D from 1 to 127 satisfies.
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
use nalgebra::allocator::Allocator;
use nalgebra::{Const, DefaultAllocator, DimDiff, DimMin, DimSub, U1};

/// The decompositions the factorisation needs from nalgebra on static D x D matrices: the real
/// Schur form and the determinant (the SVD is the core's own, [`Svd`]). Implemented for `nalgebra::Const<D>` for every D nalgebra supports
/// (1 to 127); it only carries nalgebra's dimension bounds so that generic code names one bound.
pub trait Decompose<T: Real, const D: usize> {
    /// (S, T) with M = S T S^T, S orthogonal and T quasi-upper-triangular (1x1 and 2x2 blocks),
    /// or `None` when the iteration did not converge.
    fn schur(m: Matrix<T, D, D>) -> Option<(Matrix<T, D, D>, Matrix<T, D, D>)>;
    /// det M (by LU).
    fn determinant(m: &Matrix<T, D, D>) -> T;
}

/// Iteration cap for nalgebra's Schur iteration (0 would mean "forever").
const MAX_ITERATIONS: usize = 10_000;

impl<T: Real, const D: usize> Decompose<T, D> for Const<D>
where
    Const<D>: DimMin<Const<D>, Output = Const<D>> + DimSub<U1>,
    DefaultAllocator: Allocator<DimDiff<Const<D>, U1>> + Allocator<Const<D>, DimDiff<Const<D>, U1>>,
{
    fn schur(m: Matrix<T, D, D>) -> Option<(Matrix<T, D, D>, Matrix<T, D, D>)> {
        nalgebra::linalg::Schur::<T, Const<D>>::try_new(m, T::default_epsilon(), MAX_ITERATIONS)
            .map(|s| s.unpack())
    }

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
}

/// The HM bound 2 (sqrt(pi) + sqrt(3 gamma))^2 / M on max_i ||A_i||, or `None` when M < 3 gamma
/// or M = 0 (docs/THEORY.md section 1).
pub fn hm_bound<T: Real>(gamma: T, m: usize) -> Option<T> {
    let depth = <T as Scalar>::from_f64(m as f64);
    if m == 0 || depth < <T as Scalar>::from_f64(3.0) * gamma {
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
/// Errors: [`Error::OutOfRange`] for an empty `out`; otherwise those of [`Polar::new`] and
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
            return Err(Error::NonFinite);
        }
    }
    if p > 0 {
        max_norm = Scalar::max(max_norm, spectral_norm(&a_p)?);
    }
    if q > 0 {
        max_norm = Scalar::max(max_norm, spectral_norm(&a_q)?);
    }
    if fallback {
        max_norm = spectral_norm(&direct)?;
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
