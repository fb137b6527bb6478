//! Fixed-point near-identity factors (docs/THEORY.md section 6.2): each factor of the core's own
//! factorisation (section 1) is quantised alone, 16-bit mantissas with its own power-of-two
//! scale. Checks, for M = 8 .. 1024:
//! - ||Pi(A^) - Pi(A)|| <= exp(sum_i (||A_i|| + delta_i)) sum_i delta_i, delta_i = ||A^_i - A_i||
//!   (all norms the core's spectral norms);
//! - the error does not grow with depth, and stays of the order of quantising R directly in the
//!   same format (16-bit mantissas, one power-of-two scale). The curve is printed.

use nearid::factor::{factorize, spectral_norm};
use nearid::fixed::{FixedLinearResNet, ScaledFactor};
use nearid::{Matrix, Rng};

const D: usize = 4;

/// A fixed test matrix with det > 0, a rotation part and spread singular values.
fn target() -> Matrix<f64, D, D> {
    let mut rng = Rng::new(2024);
    loop {
        let r = Matrix::<f64, D, D>::from_fn(|_, _| rng.normal());
        if r.determinant() > 0.1 {
            return r;
        }
    }
}

struct Point {
    m: usize,
    error: f64,
    bound: f64,
    sum_norms: f64,
    sum_deltas: f64,
}

fn point<const M: usize>(r: &Matrix<f64, D, D>) -> Point {
    let (net, _report) = factorize::<f64, D, M>(r).expect("det R > 0");
    let fixed = FixedLinearResNet::<D, M>::from_linear(&net).expect("finite factors");
    let (mut sum_norms, mut sum_deltas) = (0.0, 0.0);
    for (a, q) in net.factors.iter().zip(fixed.factors.iter()) {
        sum_norms += spectral_norm(a).unwrap();
        sum_deltas += spectral_norm(&(q.to_f64() - a)).unwrap();
    }
    let bound = (sum_norms + sum_deltas).exp() * sum_deltas;
    let error = spectral_norm(&(fixed.product_f64() - net.product())).unwrap();
    Point {
        m: M,
        error,
        bound,
        sum_norms,
        sum_deltas,
    }
}

#[test]
fn quantised_factors_meet_the_section_6_bound_at_every_depth() {
    let r = target();
    let direct = ScaledFactor::quantize(&r).unwrap().to_f64();
    let direct_error = spectral_norm(&(direct - r)).unwrap();
    let points = [
        point::<8>(&r),
        point::<16>(&r),
        point::<32>(&r),
        point::<64>(&r),
        point::<128>(&r),
        point::<256>(&r),
        point::<512>(&r),
        point::<1024>(&r),
    ];
    println!(
        "quantising R directly (16-bit mantissas, one scale): ||R^ - R|| = {direct_error:.3e}"
    );
    for p in &points {
        println!(
            "M = {:>4}: ||Pi(A^) - Pi(A)|| = {:.3e}  bound {:.3e}  measured/bound {:.3}  \
             sum ||A_i|| {:.3}  sum delta_i {:.3e}  / direct {:.2}",
            p.m,
            p.error,
            p.bound,
            p.error / p.bound,
            p.sum_norms,
            p.sum_deltas,
            p.error / direct_error
        );
        assert!(p.error <= p.bound, "M = {}: {} > {}", p.m, p.error, p.bound);
    }
    // Depth independence: sum_i ||A_i|| stays O(1), so the bound does not grow with M, and
    // neither does the measured error: an error growing like M would be 128 times larger at
    // M = 1024 than at M = 8, one growing like sqrt(M) (independent rounding per factor) 11 times.
    let first = &points[0];
    for p in &points {
        println!(
            "M = {:>4}: error / error at M = 8: {:.2}",
            p.m,
            p.error / first.error
        );
        assert!(p.bound <= 2.0 * first.bound, "bound grew: M = {}", p.m);
        assert!(p.error <= 4.0 * first.error, "error grew: M = {}", p.m);
    }
}
