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
