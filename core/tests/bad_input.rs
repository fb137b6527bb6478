//! Bad input gets a typed error and loses nothing: NaN and infinite inputs, targets and losses,
//! and invalid hyper-parameters, for both optimisers; the weights (and momentum) stay exactly as
//! they were, bit for bit.

mod common;

use nearid::{
    BufferedSgd, Error, FusedSgd, LinearResNet, LinearTask, Model, ResNet, Rng, Sgd, Trainable,
    Vector, certify, certify_frobenius,
};

type Net = ResNet<f32, 3, 6, 4>;

/// A named batch of two inputs and two targets.
type Case = (&'static str, [Vector<f32, 3>; 2], [Vector<f32, 3>; 2]);

/// Inputs and targets that must be refused, with a description.
fn bad_batches() -> Vec<Case> {
    let ok = Vector::<f32, 3>::new(0.1, -0.2, 0.3);
    let with = |v: f32| Vector::<f32, 3>::new(0.1, v, 0.3);
    vec![
        ("NaN input", [ok, with(f32::NAN)], [ok, ok]),
        ("+inf input", [with(f32::INFINITY), ok], [ok, ok]),
        ("-inf target", [ok, ok], [ok, with(f32::NEG_INFINITY)]),
        ("NaN target", [ok, ok], [with(f32::NAN), ok]),
        // Finite data whose loss overflows f32: 1/2 (3e19)^2 = 4.5e38 > f32::MAX.
        ("overflowing loss", [ok, ok], [with(3e19), ok]),
        // Finite input whose forward pass overflows.
        ("overflowing output", [with(f32::MAX), ok], [ok, ok]),
    ]
}

fn trained_start() -> Net {
    // Not at the identity, so every tensor is non-trivial.
    let mut net = Net::random(&mut Rng::new(1), 0.3);
    let mut sgd = BufferedSgd::<f32, Net, 2>::new(Sgd::new(0.01).with_momentum(0.9)).unwrap();
    let mut task = LinearTask::new(LinearTask::<f32, 3>::random_spd(0.5, 1.5, 2), 0.1, 3);
    for _ in 0..50 {
        let (x, y) = task.batch::<2>();
        sgd.step(&mut net, &x, &y).unwrap();
    }
    net
}

#[test]
fn fused_step_on_bad_data_errors_and_keeps_the_weights() {
    let start = trained_start();
    let mut sgd = FusedSgd::<f32, Net, 2>::new(Sgd::new(0.01).with_clip_norm(1.0)).unwrap();
    for (what, xs, ys) in bad_batches() {
        let mut net = start;
        assert_eq!(
            sgd.step(&mut net, &xs, &ys),
            Err(Error::NonFinite),
            "{what}"
        );
        assert!(bitwise_equal(&net, &start), "{what}: weights changed");
    }
}

#[test]
fn buffered_step_on_bad_data_errors_and_keeps_weights_and_momentum() {
    let start = trained_start();
    let mut sgd = BufferedSgd::<f32, Net, 2>::new(Sgd::new(0.01).with_momentum(0.9)).unwrap();
    let mut net = start;
    let mut task = LinearTask::new(LinearTask::<f32, 3>::random_spd(0.5, 1.5, 2), 0.1, 4);
    let (x, y) = task.batch::<2>();
    sgd.step(&mut net, &x, &y).unwrap(); // momentum now non-zero
    let (before, velocity) = (net, *sgd.velocity());
    for (what, xs, ys) in bad_batches() {
        assert_eq!(
            sgd.step(&mut net, &xs, &ys),
            Err(Error::NonFinite),
            "{what}"
        );
        assert!(bitwise_equal(&net, &before), "{what}: weights changed");
        assert!(
            bitwise_equal(sgd.velocity(), &velocity),
            "{what}: momentum changed"
        );
    }
    // And training goes on afterwards.
    assert!(sgd.step(&mut net, &x, &y).is_ok());
}

#[test]
fn a_nan_weight_is_reported_and_not_spread() {
    let mut net = trained_start();
    net.blocks[2].w2[(1, 3)] = f32::NAN;
    let before = net;
    let mut sgd = FusedSgd::<f32, Net, 1>::new(Sgd::new(0.01)).unwrap();
    let x = [Vector::<f32, 3>::new(0.5, 0.5, 0.5)];
    assert_eq!(sgd.step(&mut net, &x, &x), Err(Error::NonFinite));
    assert!(bitwise_equal(&net, &before));
    assert_eq!(net.forward(&x[0]), Err(Error::NonFinite));
}

#[test]
fn inference_rejects_non_finite_inputs() {
    let net = trained_start();
    let linear = LinearResNet::<f64, 2, 3>::identity();
    assert_eq!(
        net.forward(&Vector::<f32, 3>::new(f32::NAN, 0.0, 0.0)),
        Err(Error::NonFinite)
    );
    assert_eq!(
        net.forward(&Vector::<f32, 3>::new(0.0, f32::INFINITY, 0.0)),
        Err(Error::NonFinite)
    );
    assert_eq!(
        linear.forward(&Vector::<f64, 2>::new(0.0, f64::NEG_INFINITY)),
        Err(Error::NonFinite)
    );
    assert!(net.forward(&Vector::<f32, 3>::new(1.0, 2.0, 3.0)).is_ok());
}

#[test]
fn a_new_learning_rate_is_checked_and_keeps_the_rest_of_the_configuration() {
    let mut fused = FusedSgd::<f32, Net, 1>::new(Sgd::new(0.1).with_weight_decay(0.5)).unwrap();
    fused.set_learning_rate(0.05).unwrap();
    assert_eq!(fused.config().learning_rate, 0.05);
    assert_eq!(fused.config().weight_decay, 0.5);
    assert_eq!(fused.set_learning_rate(-1.0), Err(Error::OutOfRange));
    // 3 0.5 >= 1: the decay would flip the weights' sign.
    assert_eq!(fused.set_learning_rate(3.0), Err(Error::OutOfRange));
    assert_eq!(
        fused.config().learning_rate,
        0.05,
        "a refused rate is not kept"
    );
    let buffered = BufferedSgd::<f32, Net, 1>::new(Sgd::new(0.1).with_momentum(0.9)).unwrap();
    assert_eq!(buffered.config().learning_rate, 0.1);
    assert_eq!(buffered.config().momentum, 0.9);
}

#[test]
fn invalid_hyper_parameters_are_refused() {
    let bad = [
        Sgd::new(0.0f32),
        Sgd::new(-0.1),
        Sgd::new(f32::NAN),
        Sgd::new(f32::INFINITY),
        Sgd::new(0.1).with_momentum(1.0),
        Sgd::new(0.1).with_momentum(-0.5),
        Sgd::new(0.1).with_weight_decay(-1.0),
        Sgd::new(0.1).with_weight_decay(20.0), // eta lambda >= 1 would flip the weights' sign
        Sgd::new(0.5).with_weight_decay(2.0),  // eta lambda = 1 exactly would zero them all
        Sgd::new(0.1).with_clip_norm(0.0),
        Sgd::new(0.1).with_clip_norm(f32::NAN),
    ];
    for config in bad {
        assert_eq!(
            BufferedSgd::<f32, Net, 1>::new(config).err(),
            Some(Error::OutOfRange),
            "{config:?}"
        );
        assert_eq!(
            FusedSgd::<f32, Net, 1>::new(config).err(),
            Some(Error::OutOfRange),
            "{config:?}"
        );
    }
    // Momentum needs the gradient buffer.
    assert_eq!(
        FusedSgd::<f32, Net, 1>::new(Sgd::new(0.1).with_momentum(0.5)).err(),
        Some(Error::OutOfRange)
    );
    // An empty batch.
    assert_eq!(
        FusedSgd::<f32, Net, 0>::new(Sgd::new(0.1)).err(),
        Some(Error::OutOfRange)
    );
    assert_eq!(
        BufferedSgd::<f32, Net, 0>::new(Sgd::new(0.1)).err(),
        Some(Error::OutOfRange)
    );
}

/// Equality of every parameter's bits (so NaN == NaN and -0 != +0).
fn bitwise_equal<N: Trainable<f32>>(a: &N, b: &N) -> bool {
    common::same_bits(a, b)
}

/// A NaN in any factor, not only the one with the largest norm, is reported: the norms are
/// combined with a NaN-blind max, so the factors are checked first.
#[test]
fn certificates_reject_a_nan_factor_anywhere() {
    for i in 0..3 {
        let mut net = LinearResNet::<f64, 2, 3>::identity();
        net.factors[0][(0, 0)] = 0.2;
        net.factors[i][(1, 1)] = f64::NAN;
        assert_eq!(certify(&net, 1.0, 1.0).err(), Some(Error::NonFinite), "{i}");
        assert_eq!(
            certify_frobenius(&net, 1.0, 1.0).err(),
            Some(Error::NonFinite),
            "{i}"
        );
    }
}

/// Issue 12, defect 1: an `Ok` step writes only finite weights, whatever the learning rate, in
/// every kernel path. eta = f32::MAX on x = y (zero residual, so every gradient entry is 0)
/// formed eta v = inf before the multiply by u = 0, and wrote NaN.
#[test]
fn an_ok_step_never_writes_a_non_finite_weight() {
    use nearid::kernels::{ByUnit, Kernels, Lanes, Reference};
    fn linear<K: Kernels<f32>, const B: usize>(eta: f32) {
        let mut net = LinearResNet::<f32, 1, 1>::identity();
        let mut sgd = FusedSgd::<f32, _, B, nearid::Quadratic, K>::new(Sgd::new(eta)).unwrap();
        let x = [Vector::<f32, 1>::new(2.0); B];
        let before = net;
        match sgd.step(&mut net, &x, &x) {
            Ok(_) => assert!(
                net.is_finite(),
                "eta {eta}, B = {B}: Ok with {:?}",
                net.factors
            ),
            Err(_) => assert!(bitwise_equal(&net, &before)),
        }
    }
    fn resnet<K: Kernels<f32>, const B: usize>(eta: f32) {
        let mut net = ResNet::<f32, 3, 16, 8>::identity_init(&mut Rng::new(1), 0.5);
        let mut sgd = FusedSgd::<f32, _, B, nearid::Quadratic, K>::new(Sgd::new(eta)).unwrap();
        let x = [Vector::<f32, 3>::new(1e9, 0.5, -0.5); B];
        let before = net;
        match sgd.step(&mut net, &x, &x) {
            Ok(_) => assert!(
                net.is_finite(),
                "eta {eta}, B = {B}: Ok with non-finite weights"
            ),
            Err(_) => assert!(bitwise_equal(&net, &before)),
        }
    }
    for eta in [f32::MAX, 1e30, 3.0, 1.0] {
        linear::<ByUnit, 1>(eta);
        linear::<Lanes, 1>(eta);
        linear::<Lanes, 2>(eta);
        linear::<Reference, 3>(eta);
        resnet::<ByUnit, 1>(eta);
        resnet::<Lanes, 1>(eta);
        resnet::<Lanes, 4>(eta);
        resnet::<Reference, 2>(eta);
    }
}

/// Issue 12, defect 1 through weight decay: lambda w overflowed for A_1 = -1e300 and
/// lambda = 1e30 (eta lambda = 5e-294 < 1 is a valid configuration): both optimisers refuse
/// the step and keep the weights.
#[test]
fn weight_decay_that_would_overflow_is_refused_by_both_optimisers() {
    let mut start = LinearResNet::<f64, 1, 1>::identity();
    start.factors[0][(0, 0)] = -1e300;
    let config = Sgd::new(5e-324).with_weight_decay(1e30);
    // x = y = 0: loss and gradient 0, so only the decay moves the weight.
    let x = [Vector::<f64, 1>::new(0.0)];
    let mut net = start;
    let mut fused = FusedSgd::<f64, _, 1>::new(config).unwrap();
    assert_eq!(fused.step(&mut net, &x, &x).err(), Some(Error::NonFinite));
    assert_eq!(net, start);
    let mut buffered = BufferedSgd::<f64, _, 1>::new(config).unwrap();
    assert_eq!(
        buffered.step(&mut net, &x, &x).err(),
        Some(Error::NonFinite)
    );
    assert_eq!(net, start);
}

/// A velocity resumed from a checkpoint is finite but may be large: mu v + d stays finite
/// while w - eta (mu v + d) overflows. Checking only one of the two (the new weight or the new
/// velocity) would write -inf; the step is refused with the weights and velocity kept.
#[test]
fn a_resumed_velocity_that_would_overflow_a_weight_is_refused() {
    let start = LinearResNet::<f32, 1, 1>::identity();
    let mut huge = start;
    huge.factors[0][(0, 0)] = 3e38;
    let mut sgd = BufferedSgd::<f32, _, 1>::new(Sgd::new(2.0).with_momentum(0.9)).unwrap();
    sgd.set_state(sgd.state(), huge);
    // x = y = 0: the gradient is 0, so v' = 0.9 * 3e38 (finite) and w' = -2 v' = -inf.
    let x = [Vector::<f32, 1>::new(0.0)];
    let mut net = start;
    assert_eq!(sgd.step(&mut net, &x, &x), Err(Error::NonFinite));
    assert!(bitwise_equal(&net, &start), "weights changed");
    assert!(bitwise_equal(sgd.velocity(), &huge), "velocity changed");
}

/// Issue 12, defect 5: in Q4.12 the squared gradient norm saturates at 8, and clipping by it
/// let the step grow as sqrt(||g||^2 / 8): one step of LinearResNet<Q12, 2, 1> from the
/// identity on x = (2, 0), y = 0 (gradient [[4, 0], [0, 0]], norm 4), clip 1, eta 0.05,
/// rounding to nearest moved A_1 by 1.416 eta. The clip now bounds the step up to the
/// format's roundings: with u = 2^-13, c = round(clip / ||g||) is within u, each entry of
/// d = g c within u, and each of eta d within u once more, so over the n = 4 entries
/// ||dA|| <= eta (clip + (||g|| + sqrt n) u) + sqrt n u.
#[test]
fn clipping_bounds_the_step_in_fixed_point() {
    use nearid::Scalar;
    use nearid::fixed::{Q12, Rounding};
    let eta = Q12::from_f64(0.05);
    let config = Sgd::new(eta)
        .with_clip_norm(Q12::ONE)
        .with_rounding(Rounding::Nearest);
    let mut net = LinearResNet::<Q12, 2, 1>::identity();
    let mut sgd = FusedSgd::<Q12, _, 1>::new(config).unwrap();
    let x = [Vector::<Q12, 2>::new(Q12::from_f64(2.0), Q12::ZERO)];
    let y = [Vector::<Q12, 2>::new(Q12::ZERO, Q12::ZERO)];
    sgd.step(&mut net, &x, &y).unwrap();
    let moved = net.factors[0]
        .iter()
        .map(|v| v.to_f64().powi(2))
        .sum::<f64>()
        .sqrt();
    let (u, n, g) = (0.5f64.powi(13), 4.0f64, 4.0);
    let bound = eta.to_f64() * (1.0 + (g + n.sqrt()) * u) + n.sqrt() * u;
    println!(
        "||dA|| / eta = {:.5} (bound {:.5})",
        moved / eta.to_f64(),
        bound / eta.to_f64()
    );
    assert!(moved <= bound, "||dA|| = {moved} > {bound}");
    assert!(moved > 0.9 * eta.to_f64(), "the step did not move: {moved}");
}
