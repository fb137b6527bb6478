//! The fuzz targets of the numerical APIs: factorisation (factor/), certificates, the fixed-point
//! guard and factors, smooth maps (smooth/). Each draws a hostile input ([`crate::hostile`]),
//! calls the API and judges the result against an independent computation: nalgebra's SVD and
//! determinant in f64 on the host, or the formula the API documents. A valid input that the
//! API refuses, an `Ok` that is not finite, a bound below what it bounds, or a factorisation
//! whose product is not R to its stated accuracy is [`Verdict::Wrong`].
//!
//! The tolerances, where a comparison needs one, are derived beside it.

// `!(got <= allowed)` is the check here on purpose: it fails for a NaN, as a check must.
#![allow(clippy::neg_cmp_op_on_partial_ord)]

use nalgebra::{DMatrix, DVector};
use nearid::fixed::{Guarded, Q16, ScaledFactor, guard, integer_bits};
use nearid::smooth::{self, Distill, Newton, Normalised, Scales, ScalingDecomposition, Schedule};
use nearid::{
    Error, LinearResNet, Matrix, ResNet, ResidualBlock, Rng, Scalar, SmoothMap, Tanh, Vector,
    certify, certify_frobenius, excess_loss_bound, hm_bound,
};
use proptest::prelude::*;

use crate::dispatch::{DispatchError, Factorisation, factorize_f32, factorize_f64};
use crate::hostile::{
    HostileMatrix, Target, Verdict, hostile_f64, hostile_matrix, hostile_positive,
    reference_det_sign, reference_singular_values,
};
use crate::with_dim;

/// Every target of this module, in the order the fuzz table prints them.
pub fn targets() -> Vec<Target> {
    let mut all = factor_targets();
    all.extend(bound_targets());
    all.extend(smooth_targets());
    all.extend(crate::fuzz_training::targets());
    all
}

/// factorize (f64, f32), the core's SVD, the spectral norm.
pub fn factor_targets() -> Vec<Target> {
    let depth = prop_oneof![
        1 => Just(0usize),
        4 => 1usize..=4,
        3 => prop::sample::select(vec![7usize, 16, 32, 64, 100]),
        2 => 1usize..=512,
    ];
    let input = (hostile_matrix(1..=16), depth).boxed();
    vec![
        Target::new("factorize_into f64", input.clone(), |(m, depth)| {
            check_factorize(m, *depth, Precision::F64)
        }),
        Target::new("factorize_into f32", input, |(m, depth)| {
            check_factorize(m, *depth, Precision::F32)
        }),
        Target::new("Svd::new f64", hostile_matrix(1..=8), check_svd),
        Target::new(
            "spectral_norm f64",
            hostile_matrix(1..=8),
            check_spectral_norm,
        ),
        Target::new(
            "hm_bound",
            (hostile_f64(), 0usize..2000).boxed(),
            check_hm_bound,
        ),
    ]
}

/// The certificate, the guard, fixed-point factors, the solves and upper bounds of smooth/.
pub fn bound_targets() -> Vec<Target> {
    let m = prop::sample::select(vec![0usize, 1, 2, 3, 8, 100, 1_000_000]);
    let args = (m, hostile_f64(), hostile_f64(), hostile_f64()).boxed();
    vec![
        Target::new("excess_loss_bound f64", args.clone(), |a| {
            check_excess::<f64>(a)
        }),
        Target::new("excess_loss_bound f32", args, check_excess::<f32>),
        Target::new(
            "certify, certify_frobenius",
            (
                hostile_matrix(3..=3),
                -320.0..1.0f64,
                hostile_f64(),
                hostile_f64(),
            )
                .boxed(),
            check_certify,
        ),
        Target::new(
            "spectral_norm_upper f64, f32",
            hostile_matrix(1..=4),
            check_spectral_norm_upper,
        ),
        Target::new(
            "guard::spectral_upper",
            hostile_matrix(1..=4),
            check_guard_upper,
        ),
        Target::new(
            "integer_bits",
            (hostile_f64(), 0u32..=40).boxed(),
            check_integer_bits,
        ),
        Target::new(
            "Guarded::new, forward",
            (any::<u64>(), hostile_positive(), hostile_f64()).boxed(),
            check_guarded,
        ),
        Target::new(
            "ScaledFactor::quantize",
            hostile_matrix(3..=3),
            check_quantize,
        ),
        Target::new("determinant", hostile_matrix(1..=6), check_determinant),
        Target::new(
            "solve, inverse",
            (hostile_matrix(1..=6), any::<u64>(), hostile_positive()).boxed(),
            check_solve,
        ),
    ]
}

/// Scales, the scaling decomposition, Newton, normalisation, distillation, block Lipschitz
/// bounds.
pub fn smooth_targets() -> Vec<Target> {
    let schedule = prop_oneof![
        Just(None),
        Just(Some(None)),
        hostile_f64().prop_map(|c| Some(Some(c))),
    ];
    let layers = prop::sample::select(vec![
        0usize,
        1,
        2,
        3,
        7,
        64,
        1000,
        1 << 20,
        1 << 25,
        i32::MAX as usize,
        i32::MAX as usize + 1,
    ]);
    let point = (hostile_f64(), hostile_f64());
    vec![
        Target::new(
            "Scales::new f64, f32",
            (schedule.clone(), layers).boxed(),
            check_scales,
        ),
        Target::new(
            "ScalingDecomposition layer, compose",
            (schedule, 1usize..=12, point.clone(), 0usize..=14).boxed(),
            check_layers,
        ),
        Target::new(
            "Newton::invert",
            (
                hostile_f64(),
                0u32..60,
                0u32..40,
                point.clone(),
                point.clone(),
            )
                .boxed(),
            check_newton,
        ),
        Target::new(
            "Normalised::new",
            (any::<u64>(), hostile_positive(), point.clone()).boxed(),
            check_normalised,
        ),
        Target::new(
            "distill",
            (
                any::<u64>(),
                hostile_f64(),
                hostile_f64(),
                hostile_f64(),
                0usize..12,
            )
                .boxed(),
            check_distill,
        ),
        Target::new(
            "residual_lipschitz_upper",
            (any::<u64>(), hostile_f64(), point).boxed(),
            check_lipschitz,
        ),
    ]
}

/// The arithmetic a factorisation target runs in.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Precision {
    /// f64.
    F64,
    /// f32 (the input is rounded to f32 first).
    F32,
}

fn wrong(why: impl Into<String>) -> Verdict {
    Verdict::Wrong(why.into())
}

/// The factorisation's promises, checked on the matrix as the core sees it (cast to f32 for
/// f32):
/// - a non-finite entry is `NonFinite`; M = 0 is `OutOfRange`;
/// - a well-conditioned R (sigma_min > 100 D eps sigma_max by nalgebra's SVD, sigma_max
///   below T::MAX / 64) must give `Ok` with det R > 0 and `NonPositiveDeterminant` with
///   det R < 0; `NoConvergence` is never right for a finite R; `OutOfRange` only where R's
///   singular values are far from 1 (0.05..20 in f32, 1e-6..1e6 in f64 are never), `Overflow`
///   only near T::MAX, `Singular` only for sigma_min <= 100 D eps sigma_max;
/// - an `Ok` has finite factors and report; max_norm is the measured max_i ||A_i|| to
///   8 D eps; the HM bound, when stated, holds for the measured norms (to the same 8 D eps);
///   sigma_min, sigma_max agree with nalgebra's to 8 D eps sigma_max; and
///   ||Pi(A) - R||_F / ||R||_F is at most the stated error_bound plus the check's own
///   rounding ([`product_rounding`]).
fn check_factorize(m: &HostileMatrix, depth: usize, precision: Precision) -> Verdict {
    judge_factorisation(&m.build(), depth, precision)
}

/// [`check_factorize`]'s judgement of the factorisation of one matrix (rounded to f32 for
/// [`Precision::F32`]), for the regression tests.
pub fn judge_factorisation(r: &DMatrix<f64>, depth: usize, precision: Precision) -> Verdict {
    let r = match precision {
        Precision::F64 => r.clone(),
        Precision::F32 => r.map(|x| x as f32 as f64),
    };
    let d = r.nrows();
    let eps = match precision {
        Precision::F64 => f64::EPSILON,
        Precision::F32 => f32::EPSILON as f64,
    };
    let (max, tiny, min_normal) = match precision {
        Precision::F64 => (f64::MAX, 5e-324, f64::MIN_POSITIVE),
        Precision::F32 => (f32::MAX as f64, 1.4e-45, f32::MIN_POSITIVE as f64),
    };
    let result = match precision {
        Precision::F64 => factorize_f64(&r, depth),
        Precision::F32 => factorize_f32(&r, depth),
    };
    let finite = r.iter().all(|v| v.is_finite());
    if depth == 0 {
        return match result {
            Err(DispatchError::Core(Error::OutOfRange)) => Verdict::Err,
            other => wrong(format!("M = 0 gave {:?}", other.map(|f| f.report))),
        };
    }
    if !finite {
        return match result {
            Err(DispatchError::Core(Error::NonFinite)) => Verdict::Err,
            other => wrong(format!("non-finite R gave {:?}", other.map(|f| f.report))),
        };
    }
    let Some(s) = reference_singular_values(&r) else {
        // nalgebra's SVD failed on this finite R (it has, on mixes of 1e300 and subnormal
        // entries): judged without a reference, on finiteness and reconstruction alone.
        return match result {
            Ok(f) => reconstructs(&f, &r),
            Err(DispatchError::Core(Error::NoConvergence)) => wrong("NoConvergence"),
            Err(_) => Verdict::Err,
        };
    };
    let (lo, hi) = s
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    // (Subnormal singular values have few bits: such an R is not well-conditioned in T.)
    let well_conditioned = lo > 100.0 * d as f64 * eps * hi && hi < max / 64.0 && lo > min_normal;
    let sign = reference_det_sign(&r);
    let moderate = match precision {
        Precision::F32 => lo >= 0.05 && hi <= 20.0,
        Precision::F64 => lo >= 1e-6 && hi <= 1e6,
    };
    let f = match result {
        Ok(f) => f,
        Err(e) => {
            let justified = match e {
                DispatchError::Core(Error::NonPositiveDeterminant) => {
                    !(well_conditioned && sign > 0)
                }
                DispatchError::Core(Error::Singular) => !well_conditioned,
                DispatchError::Core(Error::OutOfRange) => !(well_conditioned && moderate),
                DispatchError::Core(Error::Overflow) => hi > max * 1e-3,
                _ => false,
            };
            return if justified {
                Verdict::Err
            } else {
                wrong(format!(
                    "{e:?} for sigma in [{lo:e}, {hi:e}], det sign {sign}, M = {depth}"
                ))
            };
        }
    };
    if well_conditioned && sign < 0 {
        return wrong("Ok for det R < 0");
    }
    let rep = f.report;
    let fields = [
        rep.max_norm,
        rep.gamma,
        rep.sigma_min,
        rep.sigma_max,
        rep.max_angle,
        rep.error_bound,
    ];
    if !fields.iter().all(|v| v.is_finite()) || !f.factors.iter().flatten().all(|v| v.is_finite()) {
        return wrong(format!("non-finite Ok: {rep:?}"));
    }
    if rep.p + rep.q != depth && !(depth == 1 && rep.p == 0 && rep.q == 0) {
        return wrong(format!("p + q = {} for M = {depth}", rep.p + rep.q));
    }
    let slack = 8.0 * d as f64 * eps;
    let measured = max_factor_norm(&f);
    if measured.is_nan() {
        return reconstructs(&f, &r); // no reference for a factor's norm
    }
    if (measured - rep.max_norm).abs() > slack * (1.0 + measured) {
        return wrong(format!(
            "report max_norm {} vs measured {measured}",
            rep.max_norm
        ));
    }
    if let Some(bound) = rep.bound {
        if (depth as f64) < 3.0 * rep.gamma {
            return wrong("HM bound stated for M < 3 gamma");
        }
        if measured > bound * (1.0 + slack) {
            return wrong(format!(
                "max ||A_i|| = {measured} > HM bound {bound} (M = {depth})"
            ));
        }
    }
    let sigma_tol = slack * hi + 4.0 * tiny;
    if (rep.sigma_max - hi).abs() > sigma_tol || (rep.sigma_min - lo).abs() > sigma_tol {
        return wrong(format!(
            "sigma [{}, {}] vs reference [{lo}, {hi}]",
            rep.sigma_min, rep.sigma_max
        ));
    }
    reconstructs(&f, &r)
}

/// Finite factors and report, and ||Pi(A) - R||_F / ||R||_F within the stated error_bound
/// plus the check's own rounding ([`product_rounding`]); the product in f64 overflows for
/// ||R|| near f64::MAX, so that part is checked below 1e300.
fn reconstructs(f: &Factorisation, r: &DMatrix<f64>) -> Verdict {
    let rep = f.report;
    if !rep.error_bound.is_finite() || !f.factors.iter().flatten().all(|v| v.is_finite()) {
        return wrong(format!("non-finite Ok: {rep:?}"));
    }
    let r_norm = scaled_norm(r);
    if r_norm < 1e300 && r_norm > 1e-300 {
        let err = scaled_norm(&(f.product() - r)) / r_norm;
        let allowed = rep.error_bound + product_rounding(f) / r_norm;
        if !(err <= allowed) {
            return wrong(format!(
                "||Pi(A) - R||_F / ||R||_F = {err:e} > error_bound {:e} + check rounding \
                 (M = {}, p = {}, q = {})",
                rep.error_bound,
                f.factors.len(),
                rep.p,
                rep.q
            ));
        }
    }
    Verdict::Ok
}

/// ||A||_F with A scaled by a power of two before squaring.
fn scaled_norm(a: &DMatrix<f64>) -> f64 {
    let largest = a.iter().fold(0.0f64, |x, v| x.max(v.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let e = libm::frexp(largest).1;
    libm::ldexp(a.map(|v| libm::ldexp(v, -e)).norm(), e)
}

/// max_i ||A_i|| by nalgebra's SVD (the factors are p copies of one matrix, then q of another:
/// each distinct one once).
fn max_factor_norm(f: &Factorisation) -> f64 {
    let mut last: Option<&DMatrix<f64>> = None;
    let mut best = 0.0f64;
    for a in &f.factors {
        if last != Some(a) {
            best = best.max(
                reference_singular_values(a)
                    .map_or(f64::NAN, |s| s.iter().fold(0.0f64, |m, &x| m.max(x))),
            );
            last = Some(a);
        }
    }
    best
}

/// A bound on the rounding of [`Factorisation::product`] in f64: step i multiplies by
/// I + A_i, each entry a sum of D products within (D + 1) eps_64 of its value, so the step's
/// error is at most (D + 1) eps_64 ||I + A_i||_F ||Pi_{<i}||_F, carried by ||Pi_{>i}|| <=
/// prod_{j>i} ||I + A_j||_F (first order).
fn product_rounding(f: &Factorisation) -> f64 {
    let d = f.factors.first().map_or(0, |a| a.nrows());
    let id = DMatrix::<f64>::identity(d, d);
    let norms: Vec<f64> = f.factors.iter().map(|a| (&id + a).norm()).collect();
    let mut prefix = (d as f64).sqrt(); // ||I||_F
    let mut total = 0.0;
    for (i, n) in norms.iter().enumerate() {
        let suffix: f64 = norms[i + 1..].iter().product();
        total += (d as f64 + 1.0) * f64::EPSILON * n * prefix * suffix;
        prefix *= n;
    }
    total * 2.0 // second-order terms, generously
}

fn check_svd(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    with_dim!(a.nrows(), wrong("dim"), svd_static::<; D>(&a))
}

/// The core's SVD: A = U diag(k) V^T to 16 D eps ||A||_F (one-sided Jacobi is backward stable;
/// the sweeps' rotations add D eps each, a few sweeps), V orthogonal with det +1, the k equal
/// to nalgebra's singular values to 16 D eps max k.
fn svd_static<const D: usize>(a: &DMatrix<f64>) -> Verdict {
    let s: Matrix<f64, D, D> = Matrix::from_fn(|i, j| a[(i, j)]);
    let result = nearid::factor::Svd::new(&s);
    let finite = a.iter().all(|v| v.is_finite());
    let Some(reference) = reference_singular_values(a) else {
        if finite {
            // No reference (nalgebra failed): only what needs none.
            return match result {
                Err(Error::NoConvergence) => wrong("NoConvergence"),
                Ok(svd) if !svd.k.iter().all(|k| k.is_finite()) => wrong("non-finite k"),
                _ => Verdict::Ok,
            };
        }
        return match result {
            Err(Error::NonFinite) => Verdict::Err,
            other => wrong(format!("non-finite A gave {other:?}")),
        };
    };
    let hi = reference.iter().fold(0.0f64, |m, &x| m.max(x));
    let svd = match result {
        Ok(svd) => svd,
        Err(Error::Overflow) if hi > f64::MAX / 4.0 => return Verdict::Err,
        Err(e) => return wrong(format!("{e:?} for a finite A (sigma_max {hi:e})")),
    };
    let tol = 16.0 * D as f64 * f64::EPSILON;
    let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // Compared after scaling by 2^-e, e of the largest entry (products overflow near f64::MAX,
    // and subnormal k have absolute errors of an ulp of 5e-324).
    let e = if largest > 0.0 {
        libm::frexp(largest).1
    } else {
        0
    };
    let k = svd.k.map(|x| libm::ldexp(x, -e));
    let back = svd.u * Matrix::from_diagonal(&k) * svd.v.transpose();
    let scaled = s.map(|x| libm::ldexp(x, -e));
    let err = (back - scaled).norm();
    let subnormal = D as f64 * libm::ldexp(5e-324, -e);
    if !(err <= tol * scaled.norm() + subnormal) {
        return wrong(format!("reconstruction error {err:e}"));
    }
    if (svd.v.transpose() * svd.v - Matrix::<f64, D, D>::identity()).norm() > tol
        || nalgebra::DMatrix::from_fn(D, D, |i, j| svd.v[(i, j)]).determinant() < 0.0
    {
        return wrong("V not a rotation");
    }
    let mut k: Vec<f64> = svd.k.iter().copied().collect();
    let mut r = reference;
    k.sort_by(f64::total_cmp);
    r.sort_by(f64::total_cmp);
    if k.iter()
        .zip(&r)
        .any(|(x, y)| (x - y).abs() > tol * hi + 4.0 * 5e-324)
    {
        return wrong(format!("singular values {k:?} vs {r:?}"));
    }
    Verdict::Ok
}

fn check_spectral_norm(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    with_dim!(a.nrows(), wrong("dim"), spectral_static::<; D>(&a))
}

fn spectral_static<const D: usize>(a: &DMatrix<f64>) -> Verdict {
    let s: Matrix<f64, D, D> = Matrix::from_fn(|i, j| a[(i, j)]);
    let finite = a.iter().all(|v| v.is_finite());
    match (
        nearid::factor::spectral_norm(&s),
        reference_singular_values(a),
    ) {
        (Err(Error::NonFinite), None) if !finite => Verdict::Err,
        (Ok(n), None) if finite && n.is_finite() => Verdict::Ok,
        (Ok(n), Some(r)) => {
            let hi = r.iter().fold(0.0f64, |m, &x| m.max(x));
            if (n - hi).abs() <= 16.0 * D as f64 * f64::EPSILON * hi + 4.0 * 5e-324 {
                Verdict::Ok
            } else {
                wrong(format!("{n:e} vs {hi:e}"))
            }
        }
        (Err(Error::Overflow), Some(r)) if r.iter().any(|&x| x > f64::MAX / 4.0) => Verdict::Err,
        (other, r) => wrong(format!("{other:?} with reference {r:?}")),
    }
}

/// hm_bound: None exactly for M = 0, a gamma that is NaN, infinite or negative, or M < 3 gamma;
/// otherwise the formula, finite.
fn check_hm_bound(&(gamma, m): &(f64, usize)) -> Verdict {
    let got = hm_bound(gamma, m);
    let valid = gamma.is_finite() && gamma >= 0.0 && m > 0 && m as f64 >= 3.0 * gamma;
    match (got, valid) {
        (None, false) => Verdict::Err,
        (Some(b), true) => {
            let exact =
                2.0 * (std::f64::consts::PI.sqrt() + (3.0 * gamma).sqrt()).powi(2) / m as f64;
            if b.is_finite() && (b - exact).abs() <= 1e-14 * exact {
                Verdict::Ok
            } else {
                wrong(format!("{b} vs {exact}"))
            }
        }
        (got, _) => wrong(format!("hm_bound({gamma}, {m}) = {got:?}")),
    }
}

/// excess_loss_bound in T: the errors as documented, and an Ok at least the bound computed
/// independently in f64 from the same (T-rounded) inputs, step by step (skipped where that
/// computation over- or underflows).
fn check_excess<T: nearid::Real>(&(m, tau, grad, sigma): &(usize, f64, f64, f64)) -> Verdict {
    let (tau, grad, sigma) = (
        Scalar::to_f64(<T as Scalar>::from_f64(tau)),
        Scalar::to_f64(<T as Scalar>::from_f64(grad)),
        Scalar::to_f64(<T as Scalar>::from_f64(sigma)),
    );
    let got = excess_loss_bound::<T>(
        m,
        <T as Scalar>::from_f64(tau),
        <T as Scalar>::from_f64(grad),
        <T as Scalar>::from_f64(sigma),
    );
    if !(tau.is_finite() && grad.is_finite() && sigma.is_finite()) {
        return match got {
            Err(Error::NonFinite) => Verdict::Err,
            other => wrong(format!("non-finite input gave {other:?}")),
        };
    }
    if m == 0 || !(0.0..1.0).contains(&tau) || sigma <= 0.0 || grad < 0.0 {
        return match got {
            Err(Error::OutOfRange) => Verdict::Err,
            other => wrong(format!("invalid input gave {other:?}")),
        };
    }
    let ratio = grad / sigma;
    let denominator = 2.0 * m as f64 * (1.0 - tau).powf(2.0 * (m as f64 - 1.0));
    let reference = ratio / denominator;
    // Compared only where no step of the reference left the normal range (a subnormal step
    // loses digits).
    let normal = |x: f64| (1e-290..1e290).contains(&x);
    let comparable = normal(ratio) && normal(denominator) && normal(reference);
    // The reference's own error: 1 - tau rounds by eps / 2 relative, which the power
    // 2 (M - 1) multiplies (the API works with ln(1 - tau) and has no such error).
    let reference_error = 1e-12 + 2.0 * m as f64 * f64::EPSILON;
    let t_max = Scalar::to_f64(<T as Scalar>::MAX);
    match got {
        Ok(b) => {
            let b = Scalar::to_f64(b);
            if !b.is_finite() {
                wrong("non-finite Ok")
            } else if comparable && b < reference * (1.0 - reference_error) {
                wrong(format!("bound {b:e} below {reference:e}"))
            } else {
                Verdict::Ok
            }
        }
        Err(Error::Overflow) if !(reference < t_max * (1.0 - 1e-9)) => Verdict::Err,
        other => wrong(format!("{other:?}, reference {reference:e}")),
    }
}

/// certify and certify_frobenius on 4 factors A_i = 10^e * (hostile 3 x 3): tau at least the
/// largest spectral (resp. Frobenius) norm by nalgebra, and the bound at least the formula at
/// that tau.
fn check_certify(&(ref m, e, grad, sigma): &(HostileMatrix, f64, f64, f64)) -> Verdict {
    let a = m.build() * 10f64.powf(e);
    let mut net = LinearResNet::<f64, 3, 4>::identity();
    for (k, f) in net.factors.iter_mut().enumerate() {
        *f = Matrix::from_fn(|i, j| a[(i, j)] * [1.0, 0.5, -0.25, 0.0][k]);
    }
    let spectral = reference_singular_values(&a).map(|s| s.iter().fold(0.0f64, |x, &y| x.max(y)));
    // ||a||_F scaled by a power of two before squaring (entries of 1e-160 square to subnormals).
    let frobenius = spectral.map(|_| {
        let largest = a.iter().fold(0.0f64, |x, v| x.max(v.abs()));
        let e = if largest > 0.0 {
            libm::frexp(largest).1
        } else {
            0
        };
        libm::ldexp(
            a.iter()
                .map(|x| libm::ldexp(*x, -e).powi(2))
                .sum::<f64>()
                .sqrt(),
            e,
        )
    });
    for (which, result, tau_ref) in [
        ("certify", certify(&net, grad, sigma), spectral),
        (
            "certify_frobenius",
            certify_frobenius(&net, grad, sigma),
            frobenius,
        ),
    ] {
        let finite = a.iter().all(|v| v.is_finite());
        match (result, tau_ref) {
            (_, None) if finite => {} // no reference
            (Err(Error::NonFinite), None) => {}
            (Err(Error::NonFinite), _) if !grad.is_finite() || !sigma.is_finite() => {}
            (Err(Error::OutOfRange | Error::Overflow), _) => {}
            (Ok(c), Some(tau)) => {
                if !(c.tau >= tau && c.tau.is_finite()) {
                    return wrong(format!("{which}: tau {:e} below ||A|| = {tau:e}", c.tau));
                }
                let at_tau = grad / sigma / 8.0 / (1.0 - tau).powi(6);
                if at_tau.is_finite()
                    && at_tau > 1e-290
                    && c.excess_loss_bound < at_tau * (1.0 - 1e-12)
                {
                    return wrong(format!(
                        "{which}: bound {:e} below {at_tau:e}",
                        c.excess_loss_bound
                    ));
                }
            }
            (other, tau) => return wrong(format!("{which}: {other:?} for tau {tau:?}")),
        }
    }
    Verdict::Ok
}

/// spectral_norm_upper in f64 and f32 (on the f32-rounded entries): NaN for a non-finite
/// entry, otherwise at least nalgebra's sigma_max of the same entries (to 1e-13, nalgebra's own
/// accuracy) and at most 1.01 times it (the documented n^(1/2048), with room).
fn check_spectral_norm_upper(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    let a32 = a.map(|x| x as f32 as f64);
    let out64 = with_dim!(a.nrows(), f64::NAN, upper_static::<f64; D>(&a));
    let out32 = with_dim!(a.nrows(), f64::NAN, upper_static::<f32; D>(&a32));
    // (T's smallest subnormal: a bound rounded up there is an ulp or two above.)
    let cases = [
        (out64, &a, f64::MAX, 5e-324),
        (out32, &a32, f32::MAX as f64, 1.4e-45),
    ];
    for (got, entries, t_max, tiny) in cases {
        match reference_singular_values(entries) {
            None if entries.iter().all(|v| v.is_finite()) => {} // no reference
            None if got.is_nan() => {}
            None => return wrong(format!("{got} for a non-finite entry")),
            Some(s) => {
                let hi = s.iter().fold(0.0f64, |x, &y| x.max(y));
                if hi * 1.01 > t_max && got.is_infinite() {
                    continue;
                }
                if !(got >= hi * (1.0 - 1e-13)) || !(got <= hi * 1.01 + 2.0 * tiny) {
                    return wrong(format!("{got:e} vs sigma_max {hi:e}"));
                }
            }
        }
    }
    Verdict::Ok
}

fn upper_static<T: nearid::Real, const D: usize>(a: &DMatrix<f64>) -> f64 {
    let s: Matrix<T, D, D> = Matrix::from_fn(|i, j| <T as Scalar>::from_f64(a[(i, j)]));
    Scalar::to_f64(smooth::spectral_norm_upper(&s))
}

/// guard::spectral_upper: NaN for a non-finite entry, at least sigma_max otherwise.
fn check_guard_upper(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    let got = with_dim!(a.nrows(), f64::NAN, guard_static::<; D>(&a));
    match reference_singular_values(&a) {
        None if a.iter().all(|v| v.is_finite()) => Verdict::Ok, // no reference
        None if got.is_nan() => Verdict::Ok,
        None => wrong(format!("{got} for a non-finite entry")),
        Some(s) => {
            let hi = s.iter().fold(0.0f64, |x, &y| x.max(y));
            if got >= hi * (1.0 - 1e-13) {
                Verdict::Ok
            } else {
                wrong(format!("{got:e} below sigma_max {hi:e}"))
            }
        }
    }
}

fn guard_static<const D: usize>(a: &DMatrix<f64>) -> f64 {
    let s: Matrix<f64, D, D> = Matrix::from_fn(|i, j| a[(i, j)]);
    guard::spectral_upper(&s)
}

/// integer_bits: 128 for NaN, else every value up to the bound fits: bound <= 2^(I-1) - 2^-frac
/// (or I = 128, the cap).
fn check_integer_bits(&(bound, frac): &(f64, u32)) -> Verdict {
    let bits = integer_bits(bound, frac);
    let ulp = libm::ldexp(1.0, -(frac.min(126) as i32));
    let fits = bits == 128 || bound <= libm::ldexp(1.0, bits as i32 - 1) - ulp;
    if bound.is_nan() {
        return if bits == 128 {
            Verdict::Ok
        } else {
            wrong(format!("NaN -> {bits}"))
        };
    }
    if fits && (1..=128).contains(&bits) {
        Verdict::Ok
    } else {
        wrong(format!(
            "{bound:e} with {frac} fractional bits -> {bits} bits"
        ))
    }
}

/// A Q16.16 ResNet with weights of hostile magnitude: Guarded::new refuses (typed) or accepts
/// with a finite bound within the format, and then no forward pass inside the radius saturates.
fn check_guarded(&(seed, scale, radius): &(u64, f64, f64)) -> Verdict {
    let mut rng = Rng::new(seed);
    let scale = if scale > 1e6 { 1e6 } else { scale };
    let net = ResNet::<Q16, 2, 4, 2>::random(&mut rng, scale.min(4.0));
    match Guarded::new(&net, radius) {
        Err(Error::OutOfRange) if !(radius.is_finite() && radius >= 0.0) => Verdict::Err,
        Err(Error::Overflow) => Verdict::Err,
        Ok(g) => {
            if !(g.bound().is_finite() && g.bound() <= Scalar::to_f64(<Q16 as Scalar>::MAX)) {
                return wrong(format!("bound {}", g.bound()));
            }
            let before = nearid::fixed::saturation::count(nearid::fixed::saturation::Format::Q16);
            for _ in 0..4 {
                let (u, v) = (rng.normal(), rng.normal());
                let n = (u * u + v * v).sqrt().max(1e-12);
                // Inside the radius after rounding to Q16.16: shrink by two units.
                let r = (radius - 4.0 / 65536.0).max(0.0) * rng.uniform();
                let x = Vector::<Q16, 2>::new(Q16::from_f64(u / n * r), Q16::from_f64(v / n * r));
                if g.forward(&x).is_err() {
                    return wrong(format!("input of norm {r} refused within radius {radius}"));
                }
            }
            if nearid::fixed::saturation::count(nearid::fixed::saturation::Format::Q16) != before {
                return wrong("a guarded forward pass saturated");
            }
            Verdict::Ok
        }
        Err(e) => wrong(format!("{e:?} for radius {radius}")),
    }
}

/// ScaledFactor::quantize: NonFinite and Overflow exactly as documented, else every entry within
/// half a step 2^-(s+1).
fn check_quantize(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    let s: Matrix<f64, 3, 3> = Matrix::from_fn(|i, j| a[(i, j)]);
    let largest = a.iter().fold(0.0f64, |x, v| x.max(v.abs()));
    match ScaledFactor::quantize(&s) {
        Err(Error::NonFinite) if !a.iter().all(|v| v.is_finite()) => Verdict::Err,
        Err(Error::Overflow) if largest >= 32767.5 => Verdict::Err,
        Ok(q) => {
            let step = libm::ldexp(1.0, -(q.shift as i32));
            let worst = (q.to_f64() - s).iter().fold(0.0f64, |x, e| x.max(e.abs()));
            if worst <= step / 2.0 {
                Verdict::Ok
            } else {
                wrong(format!("error {worst:e} above half a step {step:e}"))
            }
        }
        other => wrong(format!("{other:?} for largest entry {largest:e}")),
    }
}

/// determinant: NonFinite for a non-finite entry; never NaN; sign as nalgebra's SVD says (when
/// it says one), and |det| = prod sigma_i to 64 D eps kappa (LU's error grows with the
/// condition number kappa); Overflow only when prod sigma_i is above f64::MAX / 2.
fn check_determinant(m: &HostileMatrix) -> Verdict {
    let a = m.build();
    let got = with_dim!(a.nrows(), Err(Error::OutOfRange), det_static::<; D>(&a));
    let Some(s) = reference_singular_values(&a) else {
        return match got {
            Ok(det) if a.iter().all(|v| v.is_finite()) && !det.is_nan() => Verdict::Ok,
            Err(Error::NonFinite) => Verdict::Err,
            other => wrong(format!("non-finite A gave {other:?}")),
        };
    };
    let log_abs: f64 = s.iter().map(|x| x.ln()).sum();
    let (lo, hi) = s
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    let d = a.nrows() as f64;
    match got {
        Ok(det) if det.is_nan() => wrong("NaN determinant"),
        Ok(det) => {
            let sign = reference_det_sign(&a);
            let kappa = hi / lo;
            let rel = 64.0 * d * f64::EPSILON * kappa;
            if sign != 0 && rel < 0.1 && log_abs.abs() < 700.0 {
                if (det.signum() as i8) != sign {
                    return wrong(format!("det {det:e}, reference sign {sign}"));
                }
                // (The reference log, a sum of D logs, is itself within D eps sum |ln sigma_i|.)
                let log_error: f64 = d * f64::EPSILON * s.iter().map(|x| x.ln().abs()).sum::<f64>();
                if (det.abs().ln() - log_abs).abs() > 2.0 * rel + 2.0 * log_error {
                    return wrong(format!("|det| {:e} vs {:e}", det.abs(), log_abs.exp()));
                }
            }
            Verdict::Ok
        }
        // A (nearly) singular A of huge entries: LU's rounding-level det, of size
        // 64 D eps sigma_max^D, may itself overflow.
        Err(Error::Overflow)
            if log_abs.max(d * hi.ln() + (64.0 * d * f64::EPSILON).ln()) > f64::MAX.ln() - 1.0 =>
        {
            Verdict::Err
        }
        other => wrong(format!("{other:?}, log |det| {log_abs}")),
    }
}

fn det_static<const D: usize>(a: &DMatrix<f64>) -> nearid::Result<f64> {
    smooth::determinant(&Matrix::<f64, D, D>::from_fn(|i, j| a[(i, j)]))
}

/// solve and inverse: an Ok is finite with residual ||A x - b|| <= 2^D 64 D eps (||A|| ||x|| +
/// ||b||) (partial pivoting: backward stable up to the growth factor 2^(D-1)); Singular only
/// for kappa >= 1e8; Overflow only for finite input whose x or inverse may be huge.
fn check_solve(&(ref m, seed, size): &(HostileMatrix, u64, f64)) -> Verdict {
    let a = m.build();
    let d = a.nrows();
    let mut rng = Rng::new(seed);
    let b = DVector::from_fn(d, |_, _| rng.normal() * size);
    with_dim!(d, wrong("dim"), solve_static::<; D>(&a, &b))
}

fn solve_static<const D: usize>(a: &DMatrix<f64>, b: &DVector<f64>) -> Verdict {
    let s: Matrix<f64, D, D> = Matrix::from_fn(|i, j| a[(i, j)]);
    let v: Vector<f64, D> = Vector::from_fn(|i, _| b[i]);
    if !v.iter().all(|x| x.is_finite()) {
        return match smooth::solve(&s, &v) {
            Err(Error::NonFinite) => Verdict::Err,
            other => wrong(format!("non-finite b gave {other:?}")),
        };
    }
    let Some(sv) = reference_singular_values(a) else {
        if a.iter().all(|v| v.is_finite()) {
            return Verdict::Ok; // no reference
        }
        return match (smooth::solve(&s, &v), smooth::inverse(&s)) {
            (Err(Error::NonFinite), Err(Error::NonFinite)) => Verdict::Err,
            other => wrong(format!("non-finite A gave {other:?}")),
        };
    };
    let (lo, hi) = sv
        .iter()
        .fold((f64::MAX, 0.0f64), |(x, y), &z| (x.min(z), y.max(z)));
    let kappa = hi / lo;
    let tol = libm::ldexp(64.0 * D as f64 * f64::EPSILON, D as i32);
    // (kappa >= 1e15 is singular to f64: LU's x is then rounding-sized garbage, which may
    // overflow.)
    let huge = hi > 1e290 || v.amax() / lo > 1e290 || 1.0 / lo > 1e290 || !(kappa < 1e15);
    let judge = |e: Error| match e {
        Error::Singular if !(kappa < 1e8) => Verdict::Err,
        Error::Overflow if huge => Verdict::Err,
        e => wrong(format!("{e:?} for kappa {kappa:e}, sigma_max {hi:e}")),
    };
    match smooth::solve(&s, &v) {
        Ok(x) => {
            // Norms as D max |entry| (nalgebra's norm squares entries: 1e-203 squares to 0).
            let n = D as f64;
            let residual = (s * x - v).amax();
            let scale = n * s.amax() * x.amax() + v.amax();
            if !x.iter().all(|c| c.is_finite()) {
                return wrong("non-finite solution");
            }
            // (An x below the smallest subnormal is 0: A x then misses b by up to
            // D max|A| 2^-1074 per entry.)
            let underflow = n * s.amax() * 1e-323 + 4.0 * 5e-324;
            if scale.is_finite() && residual > tol * scale + underflow {
                return wrong(format!("residual {residual:e} for scale {scale:e}"));
            }
        }
        Err(e) => {
            if let Verdict::Wrong(w) = judge(e) {
                return Verdict::Wrong(w);
            }
        }
    }
    match smooth::inverse(&s) {
        Ok(inv) => {
            if !inv.iter().all(|c| c.is_finite()) {
                return wrong("non-finite inverse");
            }
            let residual = (s * inv - Matrix::<f64, D, D>::identity()).amax();
            let scale = D as f64 * s.amax() * inv.amax() + 1.0;
            if scale.is_finite() && residual > tol * scale {
                return wrong(format!("inverse residual {residual:e} for scale {scale:e}"));
            }
            Verdict::Ok
        }
        Err(e) => judge(e),
    }
}

/// (None = uniform, Some(None) = the paper's geometric c, Some(Some(c)) = geometric c).
type ScheduleChoice = Option<Option<f64>>;

fn schedule_of(choice: ScheduleChoice) -> Schedule<f64> {
    match choice {
        None => Schedule::Uniform,
        Some(c) => Schedule::Geometric(c),
    }
}

/// Scales::new: an Ok has a_0 = 0, a_m = 1 and positive, finite steps (checked at i = 1, 2,
/// m / 2, m - 1, m), in f64 and f32.
fn check_scales(&(choice, m): &(ScheduleChoice, usize)) -> Verdict {
    let f32_schedule = match choice {
        None => Schedule::Uniform,
        Some(c) => Schedule::Geometric(c.map(|c| c as f32)),
    };
    let v64 = scales_ok(Scales::<f64>::new(schedule_of(choice), m), m);
    let v32 = scales_ok(Scales::<f32>::new(f32_schedule, m), m);
    match (v64, v32) {
        (Verdict::Wrong(w), _) | (_, Verdict::Wrong(w)) => Verdict::Wrong(w),
        (Verdict::Ok, _) | (_, Verdict::Ok) => Verdict::Ok,
        _ => Verdict::Err,
    }
}

fn scales_ok<T: nearid::Real>(s: nearid::Result<Scales<T>>, m: usize) -> Verdict {
    let s = match s {
        Ok(s) => s,
        Err(Error::OutOfRange) => return Verdict::Err,
        Err(e) => return wrong(format!("{e:?}")),
    };
    if s.scale(0) != Ok(T::zero()) || s.scale(m) != Ok(T::one()) {
        return wrong("a_0 != 0 or a_m != 1");
    }
    for i in [1, 2.min(m), m / 2, m.saturating_sub(1), m] {
        if i == 0 {
            continue;
        }
        match s.step(i) {
            Ok(step) if step > T::zero() && step.is_finite() => {}
            other => return wrong(format!("step {i} of {m}: {other:?} (c = {:?})", s.c())),
        }
    }
    Verdict::Ok
}

/// x (1 + |x|^2 / 4): h(0) = 0, Dh(0) = I, invertible.
#[derive(Clone, Copy, Debug)]
struct Radial;
impl SmoothMap<f64, 2> for Radial {
    fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
        x * (1.0 + 0.25 * x.norm_squared())
    }
    fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        Matrix::<f64, 2, 2>::identity() * (1.0 + 0.25 * x.norm_squared()) + x * x.transpose() * 0.5
    }
}

/// layer and compose: OutOfRange for i outside 1..=m, NonFinite for a non-finite point, an Ok
/// finite, and compose(x) = h(x) to the Newton tolerance carried through m layers (checked for
/// |x| <= 4, where each layer's Lipschitz constant is below 1 + 12 (a_i - a_{i-1})).
fn check_layers(&(choice, m, (x0, x1), i): &(ScheduleChoice, usize, (f64, f64), usize)) -> Verdict {
    let Ok(scales) = Scales::new(schedule_of(choice), m) else {
        return Verdict::Err;
    };
    let dec = ScalingDecomposition::new(Radial, scales);
    let x = Vector::<f64, 2>::new(x0, x1);
    let finite = x.iter().all(|v| v.is_finite());
    match dec.layer(i, &x) {
        Ok(y) if !y.iter().all(|v| v.is_finite()) => return wrong("non-finite layer value"),
        Ok(_) if !finite || i == 0 || i > m => return wrong("Ok for a bad input"),
        Err(Error::OutOfRange) if i == 0 || i > m => {}
        Err(Error::NonFinite) if !finite => {}
        Err(Error::NoConvergence | Error::Singular | Error::NonFinite) if finite => {}
        Ok(_) => {}
        Err(e) => return wrong(format!("layer {i}: {e:?}")),
    }
    match dec.compose(&x) {
        Ok(y) => {
            if !y.iter().all(|v| v.is_finite()) {
                return wrong("non-finite composition");
            }
            let h = Radial.value(&x);
            let tol = 1e-9 * m as f64 * (1.0 + h.norm());
            if x.norm() <= 4.0 && (y - h).norm() > tol {
                return wrong(format!("compose {y:?} vs h {h:?}"));
            }
            Verdict::Ok
        }
        Err(Error::NonFinite) if !finite => Verdict::Err,
        Err(Error::NoConvergence | Error::Singular | Error::NonFinite) if finite => {
            if x.norm() <= 4.0 {
                wrong("compose refused a point of the unit-scale domain")
            } else {
                Verdict::Err
            }
        }
        Err(e) => wrong(format!("compose: {e:?}")),
    }
}

/// y -> y + y^3 / 3 coordinatewise.
struct Cubic;
impl SmoothMap<f64, 2> for Cubic {
    fn value(&self, y: &Vector<f64, 2>) -> Vector<f64, 2> {
        y.map(|v| v + v * v * v / 3.0)
    }
    fn jacobian(&self, y: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        Matrix::<f64, 2, 2>::from_diagonal(&y.map(|v| 1.0 + v * v))
    }
}

type NewtonInput = (f64, u32, u32, (f64, f64), (f64, f64));

/// Newton::invert with hostile settings: an Ok is finite and meets the stopping rule
/// ||f(y) - x|| <= tolerance (1 + ||x||) (recomputed here).
fn check_newton(&(tolerance, iterations, halvings, (x0, x1), (g0, g1)): &NewtonInput) -> Verdict {
    let newton = Newton {
        tolerance,
        max_iterations: iterations,
        max_halvings: halvings,
    };
    let x = Vector::<f64, 2>::new(x0, x1);
    let guess = Vector::<f64, 2>::new(g0, g1);
    match newton.invert(&Cubic, &x, guess) {
        Ok(y) => {
            let norm =
                |v: Vector<f64, 2>| scaled_norm(&DMatrix::from_column_slice(2, 1, v.as_slice()));
            let r = norm(Cubic.value(&y) - x);
            if y.iter().all(|v| v.is_finite()) && r <= tolerance * (1.0 + norm(x)) {
                Verdict::Ok
            } else {
                wrong(format!(
                    "y = {y:?}, residual {r:e}, tolerance {tolerance:e}"
                ))
            }
        }
        Err(_) => Verdict::Err,
    }
}

/// Normalised::new on a random tanh network with hostile weight scale and base point: an Ok
/// has det Dh(x0) > 0 (nalgebra) and a finite normalised value and Jacobian at 0.
fn check_normalised(&(seed, scale, (x0, x1)): &(u64, f64, (f64, f64))) -> Verdict {
    let net = ResNet::<f64, 2, 3, 2, Tanh>::random(&mut Rng::new(seed), scale.min(1e3));
    let x = Vector::<f64, 2>::new(x0, x1);
    match Normalised::new(net, x) {
        Ok(n) => {
            let j = net.jacobian(&x);
            let jd = DMatrix::from_fn(2, 2, |r, c| j[(r, c)]);
            if reference_det_sign(&jd) < 0 {
                return wrong("accepted det Dh(x0) < 0");
            }
            let (v, jac) = n.value_and_jacobian(&Vector::zeros());
            if v.iter().chain(jac.iter()).all(|c| c.is_finite()) {
                Verdict::Ok
            } else {
                wrong("non-finite normalised map at 0")
            }
        }
        Err(_) => Verdict::Err,
    }
}

type DistillInput = (u64, f64, f64, f64, usize);

/// distill with hostile learning rate, init and map scale, and few steps: an Ok has finite
/// losses and weights.
fn check_distill(&(seed, lr, init, gain, steps): &DistillInput) -> Verdict {
    #[derive(Clone, Copy)]
    struct Gain(f64);
    impl SmoothMap<f64, 2> for Gain {
        fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
            x * (1.0 + self.0 * x.norm_squared())
        }
        fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
            Matrix::<f64, 2, 2>::identity() * (1.0 + self.0 * x.norm_squared())
                + x * x.transpose() * (2.0 * self.0)
        }
    }
    let Ok(scales) = Scales::new(Schedule::Uniform, 2) else {
        return wrong("Scales::new(Uniform, 2)");
    };
    let dec = ScalingDecomposition::new(Gain(gain), scales);
    let mut net = ResNet::<f64, 2, 4, 2, Tanh>::identity();
    let config = Distill {
        block_steps: steps,
        block_sgd: nearid::Sgd::new(lr),
        fine_tune_steps: steps / 2,
        fine_tune_sgd: nearid::Sgd::new(lr),
        init,
        seed,
    };
    let sample = |rng: &mut Rng| Vector::<f64, 2>::new(rng.normal(), rng.normal());
    match smooth::distill::<_, _, _, _, 2, 4, 2, 2>(&mut net, &dec, sample, &config) {
        Ok(report) => {
            let losses = report.block_loss.iter().chain([&report.loss]);
            let weights_finite = nearid::Trainable::is_finite(&net);
            if losses.copied().all(|v| v.is_finite()) && weights_finite {
                Verdict::Ok
            } else {
                wrong(format!("Ok with non-finite losses or weights: {report:?}"))
            }
        }
        Err(_) => Verdict::Err,
    }
}

/// residual_lipschitz_upper: NaN for non-finite weights, else at least the spectral norm of the
/// residual's Jacobian at three points (nalgebra; to 1e-12 for its rounding).
fn check_lipschitz(&(seed, scale, (x0, x1)): &(u64, f64, (f64, f64))) -> Verdict {
    let mut block = ResidualBlock::<f64, 2, 5, Tanh>::random(&mut Rng::new(seed), 1.0);
    if scale.is_finite() {
        block.w1 *= scale;
    } else {
        block.w1[(0, 0)] = scale;
    }
    let upper = block.residual_lipschitz_upper();
    if !block.w1.iter().all(|v| v.is_finite()) {
        return if upper.is_nan() {
            Verdict::Err
        } else {
            wrong(format!("{upper} for a non-finite weight"))
        };
    }
    let mut rng = Rng::new(seed ^ 1);
    for x in [
        Vector::<f64, 2>::new(x0, x1),
        Vector::<f64, 2>::new(rng.normal(), rng.normal()),
        Vector::<f64, 2>::zeros(),
    ] {
        if !x.iter().all(|v| v.is_finite()) {
            continue;
        }
        let j = block.residual_jacobian(&x);
        let jd = DMatrix::from_fn(2, 2, |r, c| j[(r, c)]);
        if let Some(s) = reference_singular_values(&jd) {
            let n = s.iter().fold(0.0f64, |a, &b| a.max(b));
            if !(upper >= n * (1.0 - 1e-12)) {
                return wrong(format!("{upper:e} below ||J|| = {n:e}"));
            }
        }
    }
    Verdict::Ok
}
