//! The Cortex-M4F's training step (kernels `ByUnit`: a block's update one hidden unit at a
//! time, core/src/kernels/by_unit.rs) against the reference kernels' step on the host: every
//! updated weight of every block (W1, b1, W2, b2) within rounding of the reference's, and every
//! one moved. core/tests/kernels.rs compares `ByUnit`'s matrix update and its forward and
//! backward passes; this compares the block update the chip runs.
//!
//! Bound per weight (f32, eps = 2^-24 per operation), as in core/tests/training.rs: each side
//! forms B products and B - 1 sums of the step and subtracts it once, so
//! |w_ByUnit - w_Reference| <= 2 (B + 1) eps sum_b |eta u_b v_b| + 2 eps |w'|.

mod common;

use common::{affines, batch_of, params, randomised};
use nearid::kernels::{ByUnit, Reference};
use nearid::{FusedSgd, Quadratic, ResNet, Rng, Sgd, Tanh, Trainable};

fn same_step<N: nearid::Model<f32, 3> + Trainable<f32>, const B: usize>(net: &N, seed: u64) {
    let mut rng = Rng::new(seed);
    let (xs, ys) = (
        batch_of::<f32, 3, B>(&mut rng),
        batch_of::<f32, 3, B>(&mut rng),
    );
    let eta = 0.02;
    let mut chip = FusedSgd::<f32, N, B, Quadratic, ByUnit>::new(Sgd::new(eta)).unwrap();
    let mut reference = FusedSgd::<f32, N, B, Quadratic, Reference>::new(Sgd::new(eta)).unwrap();
    let (mut a, mut b) = (net.clone(), net.clone());
    chip.step(&mut a, &xs, &ys).unwrap();
    reference.step(&mut b, &xs, &ys).unwrap();
    let (before, a, b) = (params(net), params(&a), params(&b));
    let eps = f32::EPSILON as f64 / 2.0;
    let mut e = 0;
    let mut worst = 0.0f64;
    for map in affines(net, reference.tape()) {
        for i in 0..map.len() {
            let (u, v) = map.factors_of(i);
            let s: f64 = u
                .iter()
                .zip(&v)
                .map(|(u, v)| (eta as f64 * *u as f64 * *v as f64).abs())
                .sum();
            let (wa, wb) = (a[e] as f64, b[e] as f64);
            let bound = 2.0 * (B as f64 + 1.0) * eps * s + 2.0 * eps * wa.abs().max(wb.abs());
            assert!(
                (wa - wb).abs() <= bound,
                "B = {B}, parameter {e}: ByUnit {wa} vs reference {wb} (bound {bound:.2e})"
            );
            if s > 1e3 * bound {
                // A step far above the rounding must have moved the weight, on both sides.
                assert_ne!(
                    a[e], before[e],
                    "B = {B}, parameter {e}: ByUnit did not move it"
                );
            }
            if bound > 0.0 {
                worst = worst.max((wa - wb).abs() / bound);
            }
            e += 1;
        }
    }
    assert_eq!(e, a.len(), "every parameter compared");
    println!("B = {B}: worst |ByUnit - reference| / bound = {worst:.3}");
}

#[test]
fn the_chips_block_update_is_the_references_to_rounding() {
    let mut rng = Rng::new(51);
    // The M4F's network, ResNet<f32, 3, 16, 8> (ReLU), and a tanh one.
    let relu = randomised(&ResNet::<f32, 3, 16, 8>::identity(), &mut rng, 0.3);
    same_step::<_, 1>(&relu, 1);
    same_step::<_, 4>(&relu, 2);
    let tanh = randomised(&ResNet::<f32, 3, 16, 4, Tanh>::identity(), &mut rng, 0.3);
    same_step::<_, 1>(&tanh, 3);
}
