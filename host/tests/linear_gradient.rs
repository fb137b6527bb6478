//! HM Theorem 2.2 (docs/THEORY.md section 2): the gradient lower bound at random points with
//! tau < 1, its tight case, and the certificate read from it, against the core's backward pass.
//!
//! The population loss is computed exactly with a batch: for covariance Sigma take the D inputs
//! x_b = sqrt(D) Sigma^(1/2) e_b (columns of Sigma^(1/2), scaled) with targets y_b = R x_b. Their
//! second moment (1/D) sum_b x_b x_b^T is Sigma, so the optimiser's batch loss
//! mean_b 1/2 ||Pi x_b - y_b||^2 = 1/2 tr(E Sigma E^T) = L - L_opt (the noise xi adds the same
//! constant d/2 to L and L_opt), and its gradient is grad L. The f of docs/THEORY.md section 2
//! has no 1/2: f - C_opt = 2 (L - L_opt) and ||grad f||^2 = 4 ||grad L||^2.

use nalgebra::DMatrix;
use nearid::{FusedSgd, LinearResNet, Matrix, Rng, Sgd, Vector};
use nearid_host::sample;

/// Sigma^(1/2) of a symmetric positive definite matrix (host reference, f64).
fn sqrt_spd(sigma: &DMatrix<f64>) -> DMatrix<f64> {
    let e = sigma.clone().symmetric_eigen();
    &e.eigenvectors
        * DMatrix::from_diagonal(&e.eigenvalues.map(f64::sqrt))
        * e.eigenvectors.transpose()
}

/// (L - L_opt, ||grad L||^2) from the core's forward and backward pass (one FusedSgd step on a
/// copy of the network: the step reports both before it updates anything).
fn population_loss_and_grad<const D: usize, const M: usize>(
    net: &LinearResNet<f64, D, M>,
    sigma: &DMatrix<f64>,
    r: &DMatrix<f64>,
) -> (f64, f64) {
    let root = sqrt_spd(sigma) * (D as f64).sqrt();
    let xs: [Vector<f64, D>; D] = std::array::from_fn(|b| Vector::from_fn(|i, _| root[(i, b)]));
    let rm: Matrix<f64, D, D> = Matrix::from_fn(|i, j| r[(i, j)]);
    let ys: [Vector<f64, D>; D] = std::array::from_fn(|b| rm * xs[b]);
    let mut copy = *net;
    let mut sgd = FusedSgd::<f64, LinearResNet<f64, D, M>, D>::new(Sgd::new(1e-3)).unwrap();
    let step = sgd.step(&mut copy, &xs, &ys).unwrap();
    (step.loss, step.grad_norm_sq)
}

fn to_dyn<const D: usize>(m: &Matrix<f64, D, D>) -> DMatrix<f64> {
    DMatrix::from_fn(D, D, |i, j| m[(i, j)])
}

/// max_i ||A_i|| by the core's SVD.
fn tau<const D: usize, const M: usize>(net: &LinearResNet<f64, D, M>) -> f64 {
    net.factors
        .iter()
        .map(|a| nearid::factor::spectral_norm(a).unwrap())
        .fold(0.0, f64::max)
}

struct Ratios {
    /// min ||grad f||^2 / (4 M (1 - tau)^(2M - 2) sigma_min (f - C_opt)), must be >= 1.
    gradient: f64,
    /// min certificate / true excess, must be >= 1.
    certificate: f64,
    points: usize,
}

fn random_points<const D: usize, const M: usize>(rng: &mut Rng, ratios: &mut Ratios) {
    for _ in 0..40 {
        let tau_max = rng.uniform_in(0.01, 0.95);
        let mut net = LinearResNet::<f64, D, M>::identity();
        for a in net.factors.iter_mut() {
            let g = Matrix::<f64, D, D>::from_fn(|_, _| rng.normal());
            let norm = nearid::factor::spectral_norm(&g).unwrap();
            *a = g * (tau_max * rng.uniform_in(0.2, 1.0) / norm);
        }
        let g = sample::gaussian(D, rng);
        let sigma =
            &g * g.transpose() / D as f64 + DMatrix::identity(D, D) * rng.uniform_in(0.01, 1.0);
        let sigma_min = sigma.symmetric_eigenvalues().min();
        let r = sample::gaussian(D, rng) * rng.uniform_in(0.1, 3.0);
        let (excess, grad_sq) = population_loss_and_grad(&net, &sigma, &r);
        // The batch loss must be the population excess 1/2 tr(E Sigma E^T).
        let e = to_dyn(&net.product()) - &r;
        let exact = 0.5 * (&e * &sigma * e.transpose()).trace();
        assert!(
            (excess - exact).abs() <= 1e-10 * (1.0 + exact),
            "{excess} vs {exact}"
        );
        let t = tau(&net);
        let grad_f_sq = 4.0 * grad_sq;
        let bound = 4.0 * M as f64 * (1.0 - t).powi(2 * M as i32 - 2) * sigma_min * (2.0 * excess);
        let ratio = grad_f_sq / bound;
        // For D = 1 and M = 1 the bound is an equality (grad f = 2 E sigma), so allow rounding.
        assert!(
            ratio >= 1.0 - 1e-12,
            "D = {D}, M = {M}, tau = {t}: ||grad f||^2 = {grad_f_sq} < bound {bound}"
        );
        // D = M = 1 is an equality case: it would hide the slack everywhere else.
        if D * M > 1 {
            ratios.gradient = ratios.gradient.min(ratio);
        }
        let cert = nearid::certify(&net, grad_sq, sigma_min).unwrap();
        assert!((cert.tau - t).abs() < 1e-12);
        let c = cert.excess_loss_bound / exact;
        assert!(
            c >= 1.0 - 1e-12,
            "D = {D}, M = {M}: certificate {} < excess {exact}",
            cert.excess_loss_bound
        );
        // The Frobenius variant is looser, never tighter.
        if let Ok(loose) = nearid::certify_frobenius(&net, grad_sq, sigma_min) {
            assert!(loose.excess_loss_bound >= cert.excess_loss_bound * (1.0 - 1e-12));
        }
        if D * M > 1 {
            ratios.certificate = ratios.certificate.min(c);
        }
        ratios.points += 1;
    }
}

#[test]
fn gradient_lower_bound_and_certificate_at_random_points() {
    let mut rng = Rng::new(22);
    let mut ratios = Ratios {
        gradient: f64::INFINITY,
        certificate: f64::INFINITY,
        points: 0,
    };
    macro_rules! sweep {
        ($(($d:literal, $m:literal)),*) => { $( random_points::<$d, $m>(&mut rng, &mut ratios); )* };
    }
    sweep!(
        (1, 1),
        (1, 8),
        (2, 1),
        (2, 2),
        (2, 16),
        (3, 4),
        (3, 32),
        (5, 3),
        (5, 8),
        (8, 2),
        (8, 16),
        (16, 4)
    );
    println!(
        "{} random points: min ||grad f||^2 / bound = {:.4} (>= 1), min certificate / excess = {:.4} (>= 1); D = M = 1 (an equality) left out of the minima",
        ratios.points, ratios.gradient, ratios.certificate
    );
}

fn tight<const D: usize, const M: usize>(t: f64) -> f64 {
    let net = LinearResNet::<f64, D, M>::from_factors([Matrix::<f64, D, D>::identity() * -t; M]);
    let sigma = DMatrix::<f64>::identity(D, D);
    let r = DMatrix::<f64>::zeros(D, D);
    let (excess, grad_sq) = population_loss_and_grad(&net, &sigma, &r);
    let bound = 4.0 * M as f64 * (1.0 - t).powi(2 * M as i32 - 2) * (2.0 * excess);
    let rel = (4.0 * grad_sq - bound).abs() / bound;
    assert!(
        rel < 1e-9,
        "D = {D}, M = {M}, tau = {t}: relative gap {rel:e}"
    );
    // The certificate is then exact too.
    let cert = nearid::certify(&net, grad_sq, 1.0).unwrap();
    assert!((cert.excess_loss_bound - excess).abs() < 1e-9 * excess);
    rel
}

#[test]
fn the_bound_is_tight_for_sigma_i_r_zero_a_minus_tau_i() {
    let mut worst = 0.0f64;
    for t in [0.0, 0.01, 0.1, 0.3, 0.5, 0.9] {
        worst = worst.max(tight::<1, 1>(t));
        worst = worst.max(tight::<2, 4>(t));
        worst = worst.max(tight::<3, 16>(t));
        worst = worst.max(tight::<4, 64>(t));
    }
    println!("tight case: worst |ratio - 1| = {worst:.2e} (tolerance 1e-9)");
}

#[test]
fn the_certificate_holds_along_training() {
    // Population gradient descent on y = R x with R positive definite, from the identity: at
    // every step the certificate from the step's own gradient bounds the true excess loss.
    const D: usize = 3;
    const M: usize = 8;
    let mut rng = Rng::new(5);
    let g = sample::gaussian(D, &mut rng);
    let sigma = &g * g.transpose() / D as f64 + DMatrix::identity(D, D) * 0.3;
    let sigma_min = sigma.symmetric_eigenvalues().min();
    let r = to_dyn(&nearid::LinearTask::<f64, D>::random_spd(0.5, 2.0, 9));
    let root = sqrt_spd(&sigma) * (D as f64).sqrt();
    let xs: [Vector<f64, D>; D] = std::array::from_fn(|b| Vector::from_fn(|i, _| root[(i, b)]));
    let rm: Matrix<f64, D, D> = Matrix::from_fn(|i, j| r[(i, j)]);
    let ys: [Vector<f64, D>; D] = std::array::from_fn(|b| rm * xs[b]);
    let mut net = LinearResNet::<f64, D, M>::identity();
    let mut sgd = FusedSgd::<f64, LinearResNet<f64, D, M>, D>::new(Sgd::new(0.01)).unwrap();
    let (mut worst, mut first, mut last) = (f64::INFINITY, 0.0, 0.0);
    for step in 0..3000 {
        let before = net;
        let s = sgd.step(&mut net, &xs, &ys).unwrap();
        let cert = nearid::certify(&before, s.grad_norm_sq, sigma_min).unwrap();
        assert!(cert.tau < 1.0);
        assert!(
            cert.excess_loss_bound >= s.loss,
            "step {step}: {} < {}",
            cert.excess_loss_bound,
            s.loss
        );
        worst = worst.min(cert.excess_loss_bound / s.loss);
        if step == 0 {
            first = s.loss;
        }
        last = s.loss;
    }
    println!(
        "training: excess loss {first:.3e} -> {last:.3e}; min certificate / excess = {worst:.4}"
    );
    assert!(
        last < 1e-3 * first,
        "training did not converge: {first} -> {last}"
    );
}

#[test]
fn certificate_errors() {
    use nearid::Error;
    let net = LinearResNet::<f64, 2, 2>::from_factors([Matrix::identity() * 1.5; 2]);
    assert_eq!(
        nearid::certify(&net, 1.0, 1.0).err(),
        Some(Error::OutOfRange)
    ); // tau >= 1
    let net = LinearResNet::<f64, 2, 2>::identity();
    assert_eq!(
        nearid::certify(&net, 1.0, 0.0).err(),
        Some(Error::OutOfRange)
    );
    assert_eq!(
        nearid::certify(&net, f64::NAN, 1.0).err(),
        Some(Error::NonFinite)
    );
    assert_eq!(
        nearid::certify(&net, -1.0, 1.0).err(),
        Some(Error::OutOfRange)
    );
    assert_eq!(
        nearid::excess_loss_bound(0, 0.1, 1.0, 1.0).err(),
        Some(Error::OutOfRange)
    );
    // (1 - 0.999999)^(2 * 10^6) underflows: the certificate is vacuous, reported as Overflow.
    assert_eq!(
        nearid::excess_loss_bound(1_000_000, 0.999_999f64, 1.0, 1.0).err(),
        Some(Error::Overflow)
    );
}
