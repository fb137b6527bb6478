//! HM Theorem 2.1 (THEORY.md section 1) against the core's factorisation: reconstruction,
//! the bound on max ||A_i|| for M >= 3 gamma, M max ||A_i|| bounded as M grows, and the errors.
//!
//! The factors are the core's (`nearid::factorize_into`, through the run-time dispatch); the
//! product and the spectral norms are recomputed here in f64 with nalgebra's dynamic matrices.

use nalgebra::DMatrix;
use nearid::Rng;
use nearid_host::dispatch::{DispatchError, Factorisation, factorize_f32, factorize_f64};
use nearid_host::sample;

const TOL_F64: f64 = 1e-10;
const TOL_F32: f64 = 1e-4;

fn relative_error(f: &Factorisation, r: &DMatrix<f64>) -> f64 {
    (f.product() - r).norm() / r.norm()
}

/// max_i ||A_i|| recomputed in f64 from the factors themselves (not the core's report).
fn max_norm(f: &Factorisation) -> f64 {
    // The factors are p copies of one matrix, then q of another: SVD each distinct one once.
    let mut distinct: Vec<&DMatrix<f64>> = Vec::new();
    for a in &f.factors {
        if distinct.last().is_none_or(|b| *b != a) {
            distinct.push(a);
        }
    }
    distinct
        .iter()
        .map(|a| sample::spectral_norm(a))
        .fold(0.0, f64::max)
}

#[derive(Default)]
struct Worst {
    err64: f64,
    err32: f64,
    ratio: f64,
    checked: usize,
}

/// Factorise in f64 and f32; check reconstruction and, when M >= 3 gamma, the HM bound.
fn check(r: &DMatrix<f64>, depth: usize, what: &str, worst: &mut Worst) {
    let f = factorize_f64(r, depth).unwrap_or_else(|e| panic!("{what}, M = {depth}: {e}"));
    assert_eq!(f.factors.len(), depth);
    let err = relative_error(&f, r);
    assert!(
        err < TOL_F64,
        "{what}, M = {depth}: f64 relative error {err:e}"
    );
    worst.err64 = worst.err64.max(err);
    let measured = max_norm(&f);
    // The core's report must agree with the norms of what it wrote.
    assert!(
        (measured - f.report.max_norm).abs() <= 1e-12 * (1.0 + measured),
        "{what}, M = {depth}: report {} vs measured {measured}, p {} q {}",
        f.report.max_norm,
        f.report.p,
        f.report.q
    );
    if let Some(bound) = f.report.bound {
        assert!(
            depth as f64 >= 3.0 * f.report.gamma,
            "{what}: bound given for M < 3 gamma"
        );
        assert!(
            measured <= bound,
            "{what}, M = {depth}: max ||A_i|| = {measured} > HM bound {bound}"
        );
        worst.ratio = worst.ratio.max(measured / bound);
        worst.checked += 1;
    } else {
        assert!(
            (depth as f64) < 3.0 * f.report.gamma,
            "{what}: bound missing"
        );
    }
    let f32 = factorize_f32(r, depth).unwrap_or_else(|e| panic!("{what} (f32), M = {depth}: {e}"));
    let err = relative_error(&f32, r);
    assert!(
        err < TOL_F32,
        "{what}, M = {depth}: f32 relative error {err:e}"
    );
    worst.err32 = worst.err32.max(err);
}

#[test]
fn random_matrices_reconstruct_and_meet_the_hm_bound() {
    let mut rng = Rng::new(2017);
    let mut worst = Worst::default();
    let mut cases = 0;
    for d in 1..=16 {
        for _ in 0..12 {
            let r = sample::det_positive(d, 2.0, &mut rng);
            // Depths log-uniform in 1..=512, plus the extremes.
            let random_depth = (rng.uniform_in(0.0, 512f64.ln()).exp() as usize).clamp(1, 512);
            for depth in [1, random_depth, 512] {
                check(&r, depth, &format!("random D = {d}"), &mut worst);
                cases += 1;
            }
        }
    }
    println!(
        "random sweep: {cases} cases, worst relative error f64 {:.2e} (tol {TOL_F64:e}), \
         f32 {:.2e} (tol {TOL_F32:e}); HM bound checked {} times, worst max||A_i|| / bound = {:.4}",
        worst.err64, worst.err32, worst.checked, worst.ratio
    );
    assert!(worst.checked > 0);
}
