//! Issue 12, defect 4: numerical helpers returned values below what they bound, or Ok with
//! non-finite values. Each reproduction from the issue, with the exact value it must not go
//! below computed here by hand.

use nearid::fixed::{Guarded, Q16, guard};
use nearid::smooth::{
    Distill, Scales, ScalingDecomposition, Schedule, determinant, distill, spectral_norm_upper,
};
use nearid::{
    Error, LinearResNet, Matrix, ResNet, Rng, Scalar, Sgd, SmoothMap, Tanh, Vector,
    certify_frobenius, excess_loss_bound, hm_bound,
};

#[test]
fn spectral_norm_upper_bounds_tiny_matrices() {
    // W W^T = 1e-222 was fine, but the Gram matrix of entries below 1e-154 underflows: scaled.
    for x in [1e-111f64, 1e-170, 1e-300, 5e-324] {
        let s = spectral_norm_upper(&Matrix::<f64, 1, 1>::new(x));
        assert!(s >= x && s <= x * 1.001 + 1e-323, "{x:e} -> {s:e}");
    }
    let s = spectral_norm_upper(&Matrix::<f32, 1, 1>::new(1e-40));
    assert!(s as f64 >= 1e-40f32 as f64, "{s:e}");
}

#[test]
fn the_guard_refuses_nan_weights() {
    // min(NaN, 1e5) was 1e5.
    let a = Matrix::<f64, 2, 2>::new(f64::NAN, 0.0, 1e10, 1.0);
    assert!(guard::spectral_upper(&a).is_nan());
    let mut net = ResNet::<Q16, 2, 4, 2>::random(&mut Rng::new(1), 0.3);
    assert!(Guarded::new(&net, 1.0).is_ok());
    // Q16 has no NaN; a linear network of f64 factors is bounded through spectral_upper.
    let mut linear = LinearResNet::<f64, 2, 2>::identity();
    linear.factors[1][(0, 0)] = f64::NAN;
    use nearid::fixed::Bounded;
    assert!(linear.value_bound(1.0, 1e-5).is_nan());
    net.blocks[0].w1[(0, 0)] = Q16::from_f64(1.0);
    assert!(Guarded::new(&net, 1.0).is_ok());
    assert_eq!(nearid::fixed::integer_bits(f64::NAN, 16), 128);
}

#[test]
fn the_excess_loss_bound_does_not_round_to_zero() {
    // 2 M sigma_min = 2.04e39 overflowed f32: 3.8e9 / inf = 0.
    let exact = 3.8e9f64 / (2.0 * 3.0 * 3.4e38f32 as f64);
    let bound = excess_loss_bound::<f32>(3, 0.0, 3.8e9, 3.4e38).unwrap();
    assert!(bound as f64 >= exact, "{bound:e} < {exact:e}");
    assert!((bound as f64) < exact * (1.0 + 1e-6));
    assert_eq!(excess_loss_bound::<f64>(3, 0.0, 0.0, 1.0), Ok(0.0));
}

#[test]
fn the_frobenius_certificate_keeps_tiny_factors() {
    // ||A||_F of [[2e-300]] squared to 0: tau = 0.
    let mut net = LinearResNet::<f64, 1, 1>::identity();
    net.factors[0][(0, 0)] = 2e-300;
    let c = certify_frobenius(&net, 1.0, 1.0).unwrap();
    assert!(c.tau >= 2e-300, "{:e}", c.tau);
}

#[test]
fn hm_bound_of_an_invalid_gamma_is_none() {
    assert_eq!(hm_bound(f64::NAN, 3), None);
    assert_eq!(hm_bound(-1.0f64, 3), None);
    assert_eq!(hm_bound(f64::INFINITY, 3), None);
    assert!(hm_bound(0.5f64, 3).is_some_and(|b| b.is_finite()));
}

#[test]
fn determinant_of_a_finite_singular_matrix_is_zero_not_nan() {
    // 1e200 * 1e200 * 0 = inf * 0 = NaN.
    let a = Matrix::<f64, 3, 3>::from_diagonal(&Vector::<f64, 3>::new(1e200, 1e200, 0.0));
    assert_eq!(determinant(&a), Ok(0.0));
    let big = Matrix::<f64, 2, 2>::from_diagonal(&Vector::<f64, 2>::new(1e200, 1e200));
    assert_eq!(determinant(&big), Err(Error::Overflow));
    let balanced = Matrix::<f64, 2, 2>::from_diagonal(&Vector::<f64, 2>::new(1e200, 1e-200));
    assert!((determinant(&balanced).unwrap() - 1.0).abs() < 1e-15);
}

#[test]
fn scales_that_t_cannot_hold_are_refused() {
    // 1 - 1e-40 = 1: the scales were [0, 1, 1, 1, 1].
    assert_eq!(
        Scales::<f64>::new(Schedule::Geometric(Some(1e-40)), 4),
        Err(Error::OutOfRange)
    );
    let ok = Scales::<f64>::new(Schedule::Geometric(Some(0.3)), 4).unwrap();
    assert!((1..=4).all(|i| ok.step(i).unwrap() > 0.0));
}

/// x (1 + |x|^2 / 4).
struct Radial;
impl SmoothMap<f64, 2> for Radial {
    fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
        x * (1.0 + 0.25 * x.norm_squared())
    }
    fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        Matrix::<f64, 2, 2>::identity() * (1.0 + 0.25 * x.norm_squared()) + x * x.transpose() * 0.5
    }
}

#[test]
fn a_layer_of_a_nan_point_is_an_error() {
    // Layer 1's preimage is the identity, so the NaN went straight through: Ok([NaN, NaN]).
    let dec = ScalingDecomposition::new(Radial, Scales::new(Schedule::Uniform, 4).unwrap());
    let x = Vector::<f64, 2>::new(3.0, f64::NAN);
    assert_eq!(dec.layer(1, &x), Err(Error::NonFinite));
    assert_eq!(dec.compose(&x), Err(Error::NonFinite));
    assert_eq!(dec.layer_from_preimage(2, &x), Err(Error::NonFinite));
    assert!(dec.layer(1, &Vector::<f64, 2>::new(0.3, 0.1)).is_ok());
}

/// NaN outside the unit disc.
struct Partial;
impl SmoothMap<f64, 2> for Partial {
    fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
        if x.norm() < 1.0 {
            *x
        } else {
            Vector::repeat(f64::NAN)
        }
    }
    fn jacobian(&self, _: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        Matrix::identity()
    }
}

#[test]
fn distill_does_not_return_a_nan_loss() {
    // No training and no fine-tuning: the loss is measured on samples where h is NaN.
    let dec = ScalingDecomposition::new(Partial, Scales::new(Schedule::Uniform, 2).unwrap());
    let mut net = ResNet::<f64, 2, 4, 2, Tanh>::identity();
    let config = Distill {
        block_steps: 0,
        block_sgd: Sgd::new(0.1),
        fine_tune_steps: 0,
        fine_tune_sgd: Sgd::new(0.1),
        init: 0.5,
        seed: 1,
    };
    let far = |_: &mut Rng| Vector::<f64, 2>::new(3.0, 0.0);
    let result = distill::<_, _, _, _, 2, 4, 2, 1>(&mut net, &dec, far, &config);
    assert_eq!(result.err(), Some(Error::NonFinite));
    let near = |rng: &mut Rng| Vector::<f64, 2>::new(0.5 * rng.uniform(), 0.0);
    let report = distill::<_, _, _, _, 2, 4, 2, 1>(&mut net, &dec, near, &config).unwrap();
    assert!(report.loss.is_finite());
}
