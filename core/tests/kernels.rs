//! Every kernel against the reference kernels (core/src/kernels/reference.rs), on a table of
//! shapes x batch sizes x formats: bit for bit where the order of operations is the same, and
//! within a rounding bound derived below where it is not.
//!
//! | kernels | formats | same bits as the reference | within a bound |
//! |---|---|---|---|
//! | `ByUnit` | f32, f64 | W x, W^T g, the gradient norm, a block's forward and backward | the update (eta folded into each column) |
//! | `Lanes` | f32, f64 | W x, a block's forward | W^T g and the norm (8 partial sums), the update |
//! | `FixedKernels` | Q16.16, Q4.12 | everything, saturations and dither draws included | |
//!
//! The fused update of `ByUnit` and `Lanes` is also checked bit for bit against its own
//! definition, w - sum_b (eta v_b) u_b summed from the first term, and `Lanes` for a batch
//! against `Lanes` one sample at a time (its register-blocked batch kernels keep the
//! per-sample order). Every test draws its values from a seeded generator.
//!
//! The float kernels' matrix-level table is in core/tests/float_kernels/ (one test crate per
//! format, float_kernels_f32.rs and float_kernels_f64.rs, so they compile in parallel).

mod common;

use common::{batch_of, bits, matrix, params, randomised};
use nearid::fixed::{Q12, Q16};
use nearid::kernels::{ByUnit, FixedKernels, Kernels, Lanes, Reference};
use nearid::{
    FusedSgd, LinearResNet, Model, Net, Real, ResNet, Rng, Scalar, Sgd, Tanh, Trainable, Vector,
    zeros,
};

/// The fixed-point kernels against the reference, bit for bit, with saturation counts and the
/// dither's state after, for values small (no clamp) and large (clamps fire): W x, W^T g, the
/// update in both roundings, the norm.
fn fixed_matrix_kernels<T: nearid::fixed::Fixed, const R: usize, const C: usize, const B: usize>(
    scale: f64,
    seed: u64,
) -> u32 {
    let case = format!(
        "{} {R}x{C} B={B} scale {scale}",
        core::any::type_name::<T>()
    );
    let mut rng = Rng::new(seed);
    let w = matrix::<T, R, C>(&mut rng, scale);
    let draw = |rng: &mut Rng| -> [Vector<T, C>; B] {
        core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(scale * rng.normal())))
    };
    let xs = draw(&mut rng);
    let gs: [Vector<T, R>; B] =
        core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(scale * rng.normal())));
    let counted = |f: &mut dyn FnMut()| {
        let before = T::saturations();
        f();
        T::saturations() - before
    };
    let mut saturated = 0;

    let (mut y_k, mut y_ref) = ([zeros::<T, R, 1>(); B], [zeros::<T, R, 1>(); B]);
    let n_k = counted(&mut || FixedKernels::mat_vec(&w, xs.each_ref(), &mut y_k));
    let n_ref = counted(&mut || Reference::mat_vec(&w, xs.each_ref(), &mut y_ref));
    assert_eq!((y_k, n_k), (y_ref, n_ref), "{case}: W x");
    saturated += n_k;

    let (mut o_k, mut o_ref) = ([zeros::<T, C, 1>(); B], [zeros::<T, C, 1>(); B]);
    let n_k = counted(&mut || FixedKernels::mat_t_vec(&w, gs.each_ref(), &mut o_k));
    let n_ref = counted(&mut || Reference::mat_t_vec(&w, gs.each_ref(), &mut o_ref));
    assert_eq!((o_k, n_k), (o_ref, n_ref), "{case}: W^T g");

    for rounding in [
        nearid::fixed::Rounding::Nearest,
        nearid::fixed::Rounding::Stochastic { seed: 7 },
    ] {
        let eta = T::from_f64(0.3);
        let bias = Vector::<T, R>::from_fn(|_, _| T::from_f64(scale * rng.normal()));
        let (mut w_k, mut b_k, mut w_ref, mut b_ref) = (w, bias, w, bias);
        let (mut d_k, mut d_ref) = (
            nearid::fixed::Dither::new(rounding),
            nearid::fixed::Dither::new(rounding),
        );
        let n_k = counted(&mut || {
            FixedKernels::update(
                &mut w_k,
                Some(&mut b_k),
                gs.each_ref(),
                xs.each_ref(),
                eta,
                &mut d_k,
            )
        });
        let n_ref = counted(&mut || {
            Reference::update(
                &mut w_ref,
                Some(&mut b_ref),
                gs.each_ref(),
                xs.each_ref(),
                eta,
                &mut d_ref,
            )
        });
        assert_eq!(
            (w_k, b_k, d_k, n_k),
            (w_ref, b_ref, d_ref, n_ref),
            "{case}: update ({rounding:?})"
        );
        // At the smallest scale every |eta u v| is below half a unit: nothing may move.
        assert_eq!(w_k != w, scale > 0.01, "{case}: which weights moved");
        saturated += n_k;
    }

    let (mut n_k, mut n_ref) = (T::ZERO, T::ZERO);
    FixedKernels::add_norm_sq(&mut n_k, gs.each_ref(), xs.each_ref(), true);
    Reference::add_norm_sq(&mut n_ref, gs.each_ref(), xs.each_ref(), true);
    assert_eq!(n_k, n_ref, "{case}: norm");
    saturated
}

#[test]
fn fixed_matrix_kernels_are_the_reference_bit_for_bit() {
    // Q4.12: 0.003 makes every |u v| less than half a unit (the update's columns only draw the
    // dither); 0.3 keeps products far inside [-8, 8); 3 makes them leave it.
    let mut q12 = 0;
    for (scale, seed) in [(0.003, 1), (0.3, 2), (3.0, 3)] {
        q12 += fixed_matrix_kernels::<Q12, 16, 3, 1>(scale, seed);
        q12 += fixed_matrix_kernels::<Q12, 3, 16, 1>(scale, seed);
        q12 += fixed_matrix_kernels::<Q12, 7, 5, 2>(scale, seed);
        q12 += fixed_matrix_kernels::<Q12, 13, 21, 3>(scale, seed);
    }
    assert!(
        q12 > 0,
        "Q4.12: no case saturated, so the counts were not compared"
    );
    let mut q16 = 0;
    for (scale, seed) in [(1e-4, 4), (0.3, 5), (20_000.0, 6)] {
        q16 += fixed_matrix_kernels::<Q16, 16, 3, 1>(scale, seed);
        q16 += fixed_matrix_kernels::<Q16, 7, 5, 3>(scale, seed);
    }
    assert!(q16 > 0, "Q16.16: no case saturated");
}

/// One training step of a network with kernels K against the same step with the reference:
/// the loss, the gradient norm and every tape entry to the bit where `same_backward`, else the
/// loss to the bit (the forward pass is the same in every kernel); the weights are compared by
/// the matrix-level tests above.
fn step_matches<T: Real, N: Model<T, D>, K: Kernels<T>, const D: usize, const B: usize>(
    net: &N,
    same_backward: bool,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let (xs, ys) = (batch_of::<T, D, B>(&mut rng), batch_of::<T, D, B>(&mut rng));
    let config = Sgd::new(<T as Scalar>::from_f64(0.01));
    let mut with_k = FusedSgd::<T, N, B, nearid::Quadratic, K>::new(config).unwrap();
    let mut with_ref = FusedSgd::<T, N, B, nearid::Quadratic, Reference>::new(config).unwrap();
    let (mut a, mut b) = (net.clone(), net.clone());
    let (sa, sb) = (
        with_k.step(&mut a, &xs, &ys).unwrap(),
        with_ref.step(&mut b, &xs, &ys).unwrap(),
    );
    assert_eq!(bits(&sa.loss), bits(&sb.loss), "loss");
    if same_backward {
        assert_eq!(
            bits(&sa.grad_norm_sq),
            bits(&sb.grad_norm_sq),
            "gradient norm"
        );
        assert_eq!(bits(with_k.tape()), bits(with_ref.tape()), "tape");
    }
    assert_ne!(params(&a), params(net), "the step moved nothing");
}

/// The block passes of `ByUnit` (one hidden unit at a time) are the reference's to the bit,
/// forward and backward, for ReLU and tanh, one sample and several; `Lanes` for a batch is
/// `Lanes` one sample at a time to the bit (outputs, tapes and updated weights).
#[test]
fn block_kernels_match() {
    let mut rng = Rng::new(41);
    let relu = randomised(&ResNet::<f32, 3, 16, 3>::identity(), &mut rng, 0.4);
    step_matches::<f32, _, ByUnit, 3, 1>(&relu, true, 1);
    step_matches::<f32, _, ByUnit, 3, 4>(&relu, true, 2);
    step_matches::<f32, _, Lanes, 3, 1>(&relu, false, 3);
    let odd = randomised(&ResNet::<f64, 13, 21, 2, Tanh>::identity(), &mut rng, 0.3);
    step_matches::<f64, _, ByUnit, 13, 3>(&odd, true, 4);
    step_matches::<f64, _, Lanes, 13, 5>(&odd, false, 5);
    let net = randomised(&Net::<f32, 4, 3, 16, 2, 2>::zeros(), &mut rng, 0.4);
    step_matches_net::<ByUnit>(&net, true, 14);
    step_matches_net::<Lanes>(&net, false, 15);
    let linear = randomised(&LinearResNet::<f32, 5, 4>::identity(), &mut rng, 0.2);
    step_matches::<f32, _, ByUnit, 5, 2>(&linear, true, 6);
    step_matches::<f32, _, Lanes, 5, 2>(&linear, false, 7);

    lanes_batch_is_per_sample::<f32, _, 13, 3>(
        &randomised(&ResNet::<f32, 13, 21, 3>::identity(), &mut rng, 0.3),
        8,
    );
    lanes_batch_is_per_sample::<f32, _, 13, 32>(
        &randomised(&ResNet::<f32, 13, 21, 3>::identity(), &mut rng, 0.3),
        9,
    );
    lanes_batch_is_per_sample::<f32, _, 24, 32>(
        &randomised(&ResNet::<f32, 24, 40, 2>::identity(), &mut rng, 0.3),
        10,
    );
    lanes_batch_is_per_sample::<f32, _, 64, 32>(
        &randomised(&ResNet::<f32, 64, 128, 2>::identity(), &mut rng, 0.1),
        11,
    );
    lanes_batch_is_per_sample::<f64, _, 13, 5>(&odd, 12);
    lanes_batch_is_per_sample::<f32, _, 5, 3>(&linear, 13);
}

/// [`step_matches`] for a network with input and output layers of other widths.
fn step_matches_net<K: Kernels<f32>>(
    net: &Net<f32, 4, 3, 16, 2, 2>,
    same_backward: bool,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let (xs, ys) = (
        batch_of::<f32, 4, 3>(&mut rng),
        batch_of::<f32, 2, 3>(&mut rng),
    );
    type N = Net<f32, 4, 3, 16, 2, 2>;
    let mut with_k = FusedSgd::<f32, N, 3, nearid::Quadratic, K>::new(Sgd::new(0.01)).unwrap();
    let mut with_ref =
        FusedSgd::<f32, N, 3, nearid::Quadratic, Reference>::new(Sgd::new(0.01)).unwrap();
    let (mut a, mut b) = (*net, *net);
    let (sa, sb) = (
        with_k.step(&mut a, &xs, &ys).unwrap(),
        with_ref.step(&mut b, &xs, &ys).unwrap(),
    );
    assert_eq!(bits(&sa.loss), bits(&sb.loss), "loss");
    if same_backward {
        assert_eq!(
            bits(&sa.grad_norm_sq),
            bits(&sb.grad_norm_sq),
            "gradient norm"
        );
        assert_eq!(bits(with_k.tape()), bits(with_ref.tape()), "tape");
    }
}

/// `Lanes` on a batch against `Lanes` on each sample alone: forward, backward and tapes to the
/// bit; the gradient norm and the update against their per-sample definitions (the Gram form
/// with the one-sample dots, the fused step summed from the first sample) are checked by
/// `float_matrix_kernels` at B > 1.
fn lanes_batch_is_per_sample<T: Real, N: Model<T, D>, const D: usize, const B: usize>(
    net: &N,
    seed: u64,
) {
    let mut rng = Rng::new(seed);
    let (xs, dys) = (batch_of::<T, D, B>(&mut rng), batch_of::<T, D, B>(&mut rng));
    let mut tape = N::new_tape::<B>();
    let ys = net.forward_with::<Lanes, B>(&xs, &mut tape);
    let dxs = net.backward_with::<Lanes, B>(&dys, &mut tape);
    for b in 0..B {
        let mut one = N::new_tape::<1>();
        let [y] = net.forward_with::<Lanes, 1>(&[xs[b]], &mut one);
        let [dx] = net.backward_with::<Lanes, 1>(&[dys[b]], &mut one);
        assert_eq!(bits(&(ys[b], dxs[b])), bits(&(y, dx)), "sample {b} of {B}");
        assert_eq!(
            bits(&net.apply_with::<Lanes, B>(&xs)[b]),
            bits(&y),
            "apply, sample {b} of {B}"
        );
    }
}

/// The fixed-point kernels train a network exactly as the reference does: weights, dither and
/// saturation counts after 200 steps, Q4.12 and Q16.16, one sample and three.
#[test]
fn fixed_point_training_is_the_reference_bit_for_bit() {
    fn run<T: nearid::fixed::Fixed, K: Kernels<T>, const B: usize>() -> (ResNet<T, 3, 16, 3>, u32) {
        let mut rng = Rng::new(3);
        let mut net = ResNet::<T, 3, 16, 3>::identity_init(&mut rng, 0.5);
        let config = Sgd::new(T::from_f64(0.05));
        let mut sgd =
            FusedSgd::<T, ResNet<T, 3, 16, 3>, B, nearid::Quadratic, K>::new(config).unwrap();
        let mut saturations = 0;
        for _ in 0..200 {
            let xs =
                core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(2.5 * rng.normal())));
            let ys =
                core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(2.5 * rng.normal())));
            saturations += sgd.step(&mut net, &xs, &ys).unwrap().saturations;
        }
        (net, saturations)
    }
    let (a, sa) = run::<Q12, FixedKernels, 1>();
    let (b, sb) = run::<Q12, Reference, 1>();
    assert_eq!((a, sa), (b, sb), "Q4.12, B = 1");
    assert!(
        sa > 0,
        "Q4.12 never saturated: the counts were not compared"
    );
    assert_eq!(
        run::<Q12, FixedKernels, 3>(),
        run::<Q12, Reference, 3>(),
        "Q4.12, B = 3"
    );
    assert_eq!(
        run::<Q16, FixedKernels, 1>(),
        run::<Q16, Reference, 1>(),
        "Q16.16, B = 1"
    );
    assert_eq!(
        run::<Q16, FixedKernels, 3>(),
        run::<Q16, Reference, 3>(),
        "Q16.16, B = 3"
    );
}

/// The number type's own kernels are the ones the one-sample methods use.
#[test]
fn the_default_kernels_are_the_number_types() {
    let net = ResNet::<f32, 3, 8, 2>::random(&mut Rng::new(1), 0.5);
    let x = Vector::<f32, 3>::new(0.3, -0.1, 0.7);
    let [y] = net.apply_with::<<f32 as Scalar>::Kernels, 1>(&[x]);
    assert_eq!(net.apply(&x), y);
}
