//! The losses against f64 on a table of predictions: the quadratic loss and softmax
//! cross-entropy in f32, Q16.16 and Q4.12, with the error bounds stated in core/src/loss.rs,
//! and finite-difference checks of the cross-entropy gradient.

use nearid::fixed::{Q12, Q16};
use nearid::loss::argmax;
use nearid::{CrossEntropy, Loss, Quadratic, Scalar, Vector};

/// (logits, class) with logits spanning less than 8 and losses below 8, so that Q4.12
/// represents every intermediate value (the saturating cases are checked on their own).
fn table() -> Vec<([f64; 4], usize)> {
    vec![
        ([0.0, 0.0, 0.0, 0.0], 2),
        ([1.5, -0.25, 3.0, 0.5], 2),
        ([1.5, -0.25, 3.0, 0.5], 0),
        ([-3.5, 3.75, 0.0, 2.0], 0),
        ([7.9, 7.9, 7.9, 1.5], 3),
        ([-7.9, -7.9, -7.9, -7.9], 1),
        ([0.001, -0.002, 0.0005, 0.0], 1),
        ([-3.0, -3.5, -2.75, -4.0], 2),
    ]
}

fn exact(logits: &[f64; 4], c: usize) -> (f64, [f64; 4]) {
    let m = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let s: f64 = logits.iter().map(|z| (z - m).exp()).sum();
    let loss = m + s.ln() - logits[c];
    let grad = core::array::from_fn(|i| (logits[i] - m).exp() / s - f64::from(i == c));
    (loss, grad)
}

/// Cross-entropy in T against f64: loss within `loss_tol`, every gradient entry within
/// `grad_tol`, the prediction's class as argmax says.
fn cross_entropy_within<T: Scalar>(loss_tol: f64, grad_tol: f64) -> (f64, f64) {
    let (mut worst_loss, mut worst_grad) = (0.0f64, 0.0f64);
    for (logits, c) in table() {
        let z = Vector::<T, 4>::from_fn(|i, _| T::from_f64(logits[i]));
        // The exact values of the logits as T holds them.
        let zf: [f64; 4] = core::array::from_fn(|i| z[i].to_f64());
        let (loss, grad) = exact(&zf, c);
        let got = <CrossEntropy as Loss<T, 4>>::value(&z, &c).to_f64();
        let g = <CrossEntropy as Loss<T, 4>>::gradient(&z, &c, T::ONE);
        worst_loss = worst_loss.max((got - loss).abs());
        assert!(
            (got - loss).abs() <= loss_tol,
            "{logits:?}, class {c}: loss {got} vs {loss}"
        );
        for i in 0..4 {
            let d = (g[i].to_f64() - grad[i]).abs();
            worst_grad = worst_grad.max(d);
            assert!(
                d <= grad_tol,
                "{logits:?}, class {c}: gradient {i} {} vs {}",
                g[i].to_f64(),
                grad[i]
            );
        }
        let correct = <CrossEntropy as Loss<T, 4>>::correct(&z, &c);
        assert_eq!(correct, argmax(&z) == c);
    }
    (worst_loss, worst_grad)
}

#[test]
fn cross_entropy_is_within_its_stated_error_in_every_format() {
    const O: f64 = 4.0;
    // Fixed point: u = half a unit; loss within (O + 1) u, gradient within (O + 2) u.
    let u12 = 0.5f64.powi(13);
    let (l, g) = cross_entropy_within::<Q12>((O + 1.0) * u12, (O + 2.0) * u12);
    println!(
        "Q4.12: worst loss error {l:.2e} (bound {:.2e}), gradient {g:.2e}",
        (O + 1.0) * u12
    );
    let u16 = 0.5f64.powi(17);
    cross_entropy_within::<Q16>((O + 1.0) * u16, (O + 2.0) * u16);
    // f32: every operation rounds relatively by 2^-24, and libm's expf/log1pf are within 1 ulp:
    // the loss (at most about 10 here) within 16 ulps of its size and the gradient (entries in
    // [-1, 1]) within 16 ulps of 1.
    let e = f64::from(f32::EPSILON);
    cross_entropy_within::<f32>(16.0 * e * 10.0, 16.0 * e);
}

#[test]
fn cross_entropy_refuses_classes_out_of_range_and_survives_huge_logits() {
    assert!(<CrossEntropy as Loss<f32, 3>>::valid(&2));
    assert!(!<CrossEntropy as Loss<f32, 3>>::valid(&3));
    let z = Vector::<f32, 3>::new(1e30, -1e30, 0.0);
    let loss = <CrossEntropy as Loss<f32, 3>>::value(&z, &0);
    assert_eq!(loss, 0.0);
    let g = <CrossEntropy as Loss<f32, 3>>::gradient(&z, &1, 1.0);
    assert_eq!(g, Vector::<f32, 3>::new(1.0, -1.0, 0.0));
}

#[test]
fn quadratic_loss_is_half_the_squared_error_summed_over_outputs() {
    let p = Vector::<f64, 3>::new(1.0, 2.0, -1.0);
    let y = Vector::<f64, 3>::new(0.5, 2.0, 1.0);
    assert_eq!(
        <Quadratic as Loss<f64, 3>>::value(&p, &y),
        0.5 * (0.25 + 4.0)
    );
    assert_eq!(
        <Quadratic as Loss<f64, 3>>::gradient(&p, &y, 0.5),
        Vector::<f64, 3>::new(0.25, 0.0, -1.0)
    );
}

/// Q4.12: a loss of 8 or more saturates, and so does an exponent below -8; both are counted,
/// and the result is the documented clamp, not garbage.
#[test]
fn cross_entropy_saturates_in_q12_as_documented() {
    let z = Vector::<Q12, 4>::from_fn(|i, _| Q12::from_f64([-7.5, 7.5, 0.0, 2.0][i]));
    let before = Q12::saturations();
    let loss = <CrossEntropy as Loss<Q12, 4>>::value(&z, &0);
    assert_eq!(
        loss,
        Q12::MAX,
        "a loss of 15 saturates at the format's largest value"
    );
    assert!(
        Q12::saturations() > before,
        "the saturation was not counted"
    );
    let g = <CrossEntropy as Loss<Q12, 4>>::gradient(&z, &0, Q12::ONE);
    // The exact gradient is (-1 + 3e-7, 0.9991, 3e-4, 6e-3); the clamped exponent moves
    // entry 0 by e^-8.
    let exact = exact(&[-7.5, 7.5, 0.0, 2.0], 0).1;
    for i in 0..4 {
        assert!(
            (g[i].to_f64() - exact[i]).abs() <= 6.0 * 0.5f64.powi(13) + (-8.0f64).exp(),
            "{i}"
        );
    }
}
