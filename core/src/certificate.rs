//! The HM suboptimality certificate (HM Theorem 2.2 read backwards, docs/THEORY.md section 2).
//!
//! Data x with E x = 0 and covariance Sigma, y = R x + xi. For the loss the optimisers use,
//! L(A) = 1/2 E ||Pi(A) x - y||^2, and tau = max_i ||A_i|| < 1:
//!
//! ```text
//! ||grad L||_F^2 >= 2 M (1 - tau)^(2M - 2) sigma_min(Sigma) (L - L_opt),   so
//! L - L_opt <= ||grad L||_F^2 / (2 M (1 - tau)^(2M - 2) sigma_min(Sigma)).
//! ```
//!
//! (With f = E ||Pi x - y||^2 = 2 L the same statement reads ||grad f||^2 >= 4 M (...) (f - C_opt).)
//! The gradient is the one a training step already measures ([`crate::Step::grad_norm_sq`]),
//! so the certificate costs one pass over the factors: an SVD each for the exact tau
//! ([`certify`]), or nothing but sums for a Frobenius upper bound on tau ([`certify_frobenius`],
//! looser but still valid because the bound grows with tau).
//!
//! A gradient of one mini-batch is an estimate of the population gradient; the certificate is a
//! bound on the population excess loss only when the gradient is the population one (or a
//! batch whose second moment is Sigma exactly, as the host tests arrange).

use crate::factor::spectral_norm;
use crate::scalar::all_finite;
use crate::{Error, LinearResNet, Matrix, Real, Result, Scalar};

/// An upper bound on the excess loss L - L_opt of a linear residual network.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Certificate<T> {
    /// ||grad L||_F^2 / (2 M (1 - tau)^(2M - 2) sigma_min(Sigma)).
    pub excess_loss_bound: T,
    /// The tau used (max_i ||A_i||, or its Frobenius upper bound).
    pub tau: T,
}

/// L - L_opt <= ||grad L||_F^2 / (2 M (1 - tau)^(2M - 2) sigma_min) (docs/THEORY.md section 2).
///
/// Errors: [`Error::NonFinite`] for non-finite inputs, [`Error::OutOfRange`] unless M >= 1,
/// 0 <= tau < 1, sigma_min > 0 and grad_norm_sq >= 0, [`Error::Overflow`] when the bound is
/// above T::MAX (tau close to 1 for a deep network). The result is rounded up: it is never
/// below the exact bound.
///
/// ```
/// // Sigma = I, R = 0, A_i = -tau I is the tight case: L - L_opt = D/2 (1 - tau)^(2M) and
/// // ||grad L||^2 = M D (1 - tau)^(4M - 2).
/// let (d, m, tau) = (3.0f64, 8usize, 0.1f64);
/// let excess = d / 2.0 * (1.0 - tau).powi(2 * m as i32);
/// let grad_sq = m as f64 * d * (1.0 - tau).powi(4 * m as i32 - 2);
/// let bound = nearid::excess_loss_bound(m, tau, grad_sq, 1.0).unwrap();
/// assert!((bound - excess).abs() < 1e-12 * excess);
/// ```
pub fn excess_loss_bound<T: Real>(m: usize, tau: T, grad_norm_sq: T, sigma_min: T) -> Result<T> {
    if ![tau, grad_norm_sq, sigma_min]
        .iter()
        .all(|v| Scalar::is_finite(*v))
    {
        return Err(Error::NonFinite);
    }
    if m == 0 || tau < T::ZERO || tau >= T::ONE || sigma_min <= T::ZERO || grad_norm_sq < T::ZERO {
        return Err(Error::OutOfRange);
    }
    // In logarithms, in f64: the bound grad / (2 M (1 - tau)^(2M - 2) sigma_min) neither
    // overflows nor underflows on the way (in f32, 2 M sigma_min alone overflows for
    // sigma_min = 3.4e38, which turned a bound of 1.1e-29 into 0). Each term and each of the
    // three sums is within an ulp, so the exponent is within 8 eps_64 (sum of |terms|): the
    // exponential is rounded up by that (and its own ulp), then up into T.
    if grad_norm_sq == T::ZERO {
        return Ok(T::ZERO);
    }
    let f = |x: T| Scalar::to_f64(x);
    let (m, tau, grad, sigma) = (m as f64, f(tau), f(grad_norm_sq), f(sigma_min));
    let terms = [
        libm::log(grad),
        -libm::log(2.0 * m),
        -2.0 * (m - 1.0) * libm::log1p(-tau),
        -libm::log(sigma),
    ];
    let log_bound: f64 = terms.iter().sum();
    let error = 8.0 * f64::EPSILON * terms.iter().map(|t| t.abs()).sum::<f64>();
    let bound: T =
        crate::upper::round_up(libm::exp(log_bound) * (1.0 + error + 2.0 * f64::EPSILON));
    if Scalar::is_finite(bound) {
        Ok(bound)
    } else {
        Err(Error::Overflow)
    }
}

/// The certificate for `net`, with tau = max_i ||A_i|| (spectral norms by SVD, one per factor),
/// `grad_norm_sq` = ||grad L||_F^2 for the loss L = 1/2 E||Pi(A) x - y||^2 (what
/// [`crate::Step::grad_norm_sq`] reports), and sigma_min of the input covariance.
/// Errors as [`excess_loss_bound`]; tau >= 1 is [`Error::OutOfRange`] (the theorem needs the
/// factors inside the unit ball), an SVD that did not converge [`Error::NoConvergence`].
pub fn certify<T: Real, const D: usize, const M: usize>(
    net: &LinearResNet<T, D, M>,
    grad_norm_sq: T,
    sigma_min: T,
) -> Result<Certificate<T>> {
    certificate_with(net, grad_norm_sq, sigma_min, spectral_norm)
}

/// [`certify`] with tau bounded by max_i ||A_i||_F >= max_i ||A_i||: no SVD, O(M D^2), valid
/// (the bound increases with tau) but looser by up to a factor depending on sqrt(D) in tau.
/// The Frobenius norm is scaled before squaring and rounded up, so tau is never below it.
pub fn certify_frobenius<T: Real, const D: usize, const M: usize>(
    net: &LinearResNet<T, D, M>,
    grad_norm_sq: T,
    sigma_min: T,
) -> Result<Certificate<T>> {
    certificate_with(net, grad_norm_sq, sigma_min, |a| Ok(frobenius_upper(a)))
}

/// ||A||_F, scaled by a power of two before squaring (entries of 1e-300 square to 0) and rounded
/// up: never below the exact norm.
fn frobenius_upper<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> T {
    use crate::upper::{exponent_of, round_up, scaled};
    let e = exponent_of(a.iter().copied());
    let sum: f64 = a
        .iter()
        .map(|&x| Scalar::to_f64(scaled(x, e)))
        .map(|x| x * x)
        .sum();
    // D^2 terms in [0, 1]: the sum is within D^2 eps_64 relative, the sqrt within another.
    let slack = 1.0 + (D * D + 2) as f64 * f64::EPSILON;
    round_up(libm::ldexp(libm::sqrt(sum) * slack, e))
}

/// The certificate with tau = max_i norm(A_i) for a norm at least the spectral norm.
fn certificate_with<T: Real, const D: usize, const M: usize>(
    net: &LinearResNet<T, D, M>,
    grad_norm_sq: T,
    sigma_min: T,
    norm: impl Fn(&Matrix<T, D, D>) -> Result<T>,
) -> Result<Certificate<T>> {
    // Checked first: max() is NaN-blind.
    if !net.factors.iter().all(|a| all_finite(a.as_slice())) {
        return Err(Error::NonFinite);
    }
    let mut tau = T::ZERO;
    for a in &net.factors {
        tau = Scalar::max(tau, norm(a)?);
    }
    // Finite factors whose norm overflows T have tau >= 1.
    if !Scalar::is_finite(tau) {
        return Err(Error::OutOfRange);
    }
    // The bound grows with tau, so tau is rounded up past the norm's own rounding error
    // (the SVD's singular values are within 8 D eps relative).
    let up = 1.0 + 8.0 * D as f64 * Scalar::to_f64(T::default_epsilon());
    let tau: T = crate::upper::round_up(crate::upper::mul_up(Scalar::to_f64(tau), up));
    let excess_loss_bound = excess_loss_bound(M, tau, grad_norm_sq, sigma_min)?;
    Ok(Certificate {
        excess_loss_bound,
        tau,
    })
}
