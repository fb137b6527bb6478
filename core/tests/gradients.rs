//! Finite-difference checks of every parameter gradient, in f64, for both network kinds and
//! every activation: the core's backward pass against central differences of its own forward.

mod common;

use common::{params, with_params};
use nearid::{
    Activation, BufferedSgd, CrossEntropy, Identity, LinearResNet, Loss, Model, Net, Quadratic,
    Relu, ResNet, Rng, Sgd, Softplus, Tanh, Trainable, Vector,
};

/// Largest relative error allowed.
const MAX_RELATIVE_ERROR: f64 = 1e-6;
/// Step of the five-point stencil: truncation error ~ h^4 |f^(5)| / 30 ~ 1e-17, rounding error
/// ~ eps |f| / h ~ 1e-12, both far below the tolerance for gradients of size 1e-3 and up. (The
/// plain central difference with h = 1e-6 has rounding error ~ 1e-9 on a loss of size 5,
/// which is already 1e-6 of a gradient of size 1e-3.)
const H: f64 = 1e-4;

/// d/dt loss(net with parameter k moved by t), at t = 0, by the five-point stencil.
fn finite_difference<N: Model<f64, D>, const D: usize, const B: usize>(
    net: &N,
    k: usize,
    xs: &[Vector<f64, D>; B],
    ys: &[Vector<f64, D>; B],
) -> f64 {
    let values = params(net);
    let at = |t: f64| {
        let mut moved = values.clone();
        moved[k] += t;
        batch_loss(&with_params(net, &moved), xs, ys)
    };
    (-at(2.0 * H) + 8.0 * at(H) - 8.0 * at(-H) + at(-2.0 * H)) / (12.0 * H)
}

/// Loss of a batch, as the optimisers define it: mean over samples of 1/2 ||y^ - y||^2.
fn batch_loss<N: Model<f64, D>, const D: usize, const B: usize>(
    net: &N,
    xs: &[Vector<f64, D>; B],
    ys: &[Vector<f64, D>; B],
) -> f64 {
    xs.iter()
        .zip(ys)
        .map(|(x, y)| 0.5 * (net.apply(x) - y).norm_squared())
        .sum::<f64>()
        / B as f64
}

/// Compares the gradient the optimiser computes (`BufferedSgd::gradient`) with central
/// differences, entry by entry, and returns the worst relative error.
fn check<N: Model<f64, D>, const D: usize, const B: usize>(net: &N, seed: u64) -> f64 {
    let mut rng = Rng::new(seed);
    let xs: [Vector<f64, D>; B] = core::array::from_fn(|_| Vector::from_fn(|_, _| rng.normal()));
    let ys: [Vector<f64, D>; B] = core::array::from_fn(|_| Vector::from_fn(|_, _| rng.normal()));
    // A learning rate too small to matter: we only want the gradient it records.
    let mut sgd = BufferedSgd::<f64, N, B>::new(Sgd::new(1e-300)).unwrap();
    let mut scratch = net.clone();
    sgd.step(&mut scratch, &xs, &ys).unwrap();
    let grad = params(sgd.gradient());
    let mut worst = 0.0f64;
    for (k, &g) in grad.iter().enumerate() {
        let fd = finite_difference(net, k, &xs, &ys);
        // Relative to the gradient's own size, floored at 1e-3 so entries that are zero
        // (ReLU units off for every sample) are compared absolutely.
        let err = (g - fd).abs() / fd.abs().max(g.abs()).max(1e-3);
        worst = worst.max(err);
    }
    assert_eq!(grad.len(), N::PARAMS);
    worst
}

fn check_resnet<S: Activation>(name: &str) {
    let net = ResNet::<f64, 3, 5, 4, S>::random(&mut Rng::new(11), 0.4);
    // Biases off zero too, so every term of the backward pass is exercised.
    let mut net = net;
    let mut rng = Rng::new(12);
    for b in net.blocks.iter_mut() {
        b.b1.iter_mut()
            .chain(b.b2.iter_mut())
            .for_each(|v| *v = 0.3 * rng.normal());
    }
    let worst1 = check::<_, 3, 1>(&net, 1);
    let worst4 = check::<_, 3, 4>(&net, 2);
    println!("ResNet<{name}>: worst relative error {worst1:.2e} (B = 1), {worst4:.2e} (B = 4)");
    assert!(worst1 < MAX_RELATIVE_ERROR && worst4 < MAX_RELATIVE_ERROR);
}

#[test]
fn resnet_gradients_match_finite_differences_for_every_activation() {
    check_resnet::<Relu>("Relu");
    check_resnet::<Tanh>("Tanh");
    check_resnet::<Softplus>("Softplus");
    check_resnet::<Identity>("Identity");
}

#[test]
fn linear_resnet_gradients_match_finite_differences() {
    let net = LinearResNet::<f64, 4, 6>::random(&mut Rng::new(5), 0.3);
    let worst1 = check::<_, 4, 1>(&net, 3);
    let worst3 = check::<_, 4, 3>(&net, 4);
    println!("LinearResNet: worst relative error {worst1:.2e} (B = 1), {worst3:.2e} (B = 3)");
    assert!(worst1 < MAX_RELATIVE_ERROR && worst3 < MAX_RELATIVE_ERROR);
}

#[test]
fn input_gradient_matches_finite_differences() {
    let net = ResNet::<f64, 3, 5, 4, Tanh>::random(&mut Rng::new(21), 0.5);
    let x = Vector::<f64, 3>::new(0.3, -0.8, 1.1);
    let y = Vector::<f64, 3>::new(-0.2, 0.4, 0.9);
    let mut tape = ResNet::<f64, 3, 5, 4, Tanh>::new_tape::<1>();
    let out = net.forward_tape(&x, &mut tape);
    let dx = net.backward(&(out - y), &mut tape);
    for j in 0..3 {
        let at = |t: f64| {
            let mut moved = x;
            moved[j] += t;
            0.5 * (net.apply(&moved) - y).norm_squared()
        };
        let fd = (-at(2.0 * H) + 8.0 * at(H) - 8.0 * at(-H) + at(-2.0 * H)) / (12.0 * H);
        assert!(
            (fd - dx[j]).abs() < MAX_RELATIVE_ERROR * fd.abs().max(1.0),
            "dx[{j}] {} vs {fd}",
            dx[j]
        );
    }
}

/// The gradient of a [`Net`] (input layer, blocks, output layer) under loss L against central
/// differences of L's own value, every parameter of every layer; returns the worst relative
/// error.
fn check_net<N, L, const I: usize, const O: usize, const B: usize>(
    net: &N,
    xs: &[Vector<f64, I>; B],
    targets: &[L::Target; B],
) -> f64
where
    N: Model<f64, I, O>,
    L: Loss<f64, O>,
{
    let loss = |n: &N| -> f64 {
        xs.iter()
            .zip(targets)
            .map(|(x, t)| L::value(&n.apply(x), t))
            .sum::<f64>()
            / B as f64
    };
    let mut sgd = BufferedSgd::<f64, N, B, L>::new(Sgd::new(1e-300)).unwrap();
    sgd.step(&mut net.clone(), xs, targets).unwrap();
    let grad = params(sgd.gradient());
    let values = params(net);
    let mut worst = 0.0f64;
    for (k, &g) in grad.iter().enumerate() {
        let at = |t: f64| {
            let mut moved = values.clone();
            moved[k] += t;
            loss(&with_params(net, &moved))
        };
        let fd = (-at(2.0 * H) + 8.0 * at(H) - 8.0 * at(-H) + at(-2.0 * H)) / (12.0 * H);
        worst = worst.max((g - fd).abs() / fd.abs().max(g.abs()).max(1e-3));
    }
    worst
}

#[test]
fn net_gradients_match_finite_differences_for_both_losses() {
    let mut rng = Rng::new(31);
    // 3 inputs, width 5, 4 outputs; biases off zero so every term is exercised.
    let net = common::randomised(&Net::<f64, 3, 5, 6, 2, 4, Tanh>::zeros(), &mut rng, 0.4);
    let xs: [Vector<f64, 3>; 3] = core::array::from_fn(|_| Vector::from_fn(|_, _| rng.normal()));
    let ys: [Vector<f64, 4>; 3] = core::array::from_fn(|_| Vector::from_fn(|_, _| rng.normal()));
    let quadratic = check_net::<_, Quadratic, 3, 4, 3>(&net, &xs, &ys);
    let cross_entropy = check_net::<_, CrossEntropy, 3, 4, 3>(&net, &xs, &[0, 3, 1]);
    let relu = common::randomised(&Net::<f64, 3, 5, 6, 2, 4>::zeros(), &mut rng, 0.4);
    let relu_ce = check_net::<_, CrossEntropy, 3, 4, 3>(&relu, &xs, &[2, 2, 0]);
    println!(
        "Net: worst relative error {quadratic:.2e} (quadratic), {cross_entropy:.2e} \
         (cross-entropy), {relu_ce:.2e} (ReLU, cross-entropy)"
    );
    assert!(quadratic < MAX_RELATIVE_ERROR);
    assert!(cross_entropy < MAX_RELATIVE_ERROR);
    assert!(relu_ce < MAX_RELATIVE_ERROR);
}
