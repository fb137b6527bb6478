//! The batch paths (block by block over a mini-batch with the register-blocked kernels of
//! `nearid::batch`) against the per-sample paths: the same outputs, tapes and updated weights to
//! the bit, because every output keeps the per-sample operation order. Shapes cover D and H
//! that are multiples of 16, of 8 only, and of neither, and batches smaller than, equal to and
//! larger than the kernels' register tiles.

use nearid::{FusedSgd, Model, ResNet, Rng, Scalar, Sgd, Tanh, Vector};

fn batch_of<T: Scalar, const D: usize, const B: usize>(rng: &mut Rng) -> [Vector<T, D>; B] {
    core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(rng.normal())))
}

/// Forward with tapes, backward and the plain fused SGD step, batch path against per sample.
fn check<N: Model<T, D>, T: Scalar, const D: usize, const B: usize>(net: &N, seed: u64) {
    let mut rng = Rng::new(seed);
    let xs = batch_of::<T, D, B>(&mut rng);
    let dys = batch_of::<T, D, B>(&mut rng);

    let mut tapes = [N::new_tape(); B];
    let ys = net.forward_tape_batch(&xs, &mut tapes);
    let mut expected_tapes = [N::new_tape(); B];
    for b in 0..B {
        let y = net.forward_tape(&xs[b], &mut expected_tapes[b]);
        assert_eq!(ys[b], y, "forward_tape_batch output, sample {b} of {B}");
        assert_eq!(net.apply_batch(&xs)[b], y, "apply_batch, sample {b} of {B}");
    }
    net.backward_batch(&dys, &mut tapes);
    for b in 0..B {
        net.backward(&dys[b], &mut expected_tapes[b]);
        // Tapes hold floats: compare their debug forms, which print every bit of the value.
        assert_eq!(
            format!("{:?}", tapes[b]),
            format!("{:?}", expected_tapes[b]),
            "tape of sample {b} of {B}"
        );
    }
}

/// The fused plain SGD step against its definition, entry by entry: w - sum_b (eta v_b[k])
/// u_b[j], the sum from the first term in order b, with (u_b, v_b) from the per-sample tapes.
fn check_step<N: Model<f32, D>, const D: usize, const B: usize>(net: &N, seed: u64) {
    let mut rng = Rng::new(seed);
    let xs = batch_of::<f32, D, B>(&mut rng);
    let ys = batch_of::<f32, D, B>(&mut rng);
    let eta = 0.0123f32;
    let mut sgd = FusedSgd::<f32, N, D, B>::new(Sgd::new(eta)).unwrap();
    let mut trained = net.clone();
    let report = sgd.step(&mut trained, &xs, &ys).unwrap();
    // The per-sample tapes of the same step.
    let mut tapes = [N::new_tape(); B];
    for b in 0..B {
        let y = net.forward_tape(&xs[b], &mut tapes[b]);
        let dy = (y - ys[b]) * (1.0 / B as f32);
        net.backward(&dy, &mut tapes[b]);
    }
    assert_eq!(format!("{:?}", sgd.tapes()), format!("{tapes:?}"));
    // ||grad||^2 in the Gram form sum_{b,c} (u_b . u_c)(v_b . v_c), diagonal once and each pair
    // b < c doubled, in this order, with the per-sample dot products.
    let mut norm = 0.0f32;
    for i in 0..N::TENSORS {
        let term = |b: usize, c: usize| {
            let ((ub, vb), (uc, vc)) =
                (N::grad_factors(&tapes[b], i), N::grad_factors(&tapes[c], i));
            let uu = <f32 as Scalar>::dot(ub, uc);
            vb.zip(vc)
                .map_or(uu, |(vb, vc)| uu * <f32 as Scalar>::dot(vb, vc))
        };
        for b in 0..B {
            norm += term(b, b);
            for c in b + 1..B {
                let t = term(b, c);
                norm += t + t;
            }
        }
    }
    assert_eq!(
        report.grad_norm_sq.to_bits(),
        norm.to_bits(),
        "grad_norm_sq"
    );
    for i in 0..N::TENSORS {
        let rows = N::grad_factors(&tapes[0], i).0.len();
        for (e, (&w, &new)) in net.tensor(i).iter().zip(trained.tensor(i)).enumerate() {
            let (j, k) = (e % rows, e / rows);
            let mut terms = tapes.iter().map(|t| {
                let (u, v) = N::grad_factors(t, i);
                eta * v.map_or(1.0, |v| v[k]) * u[j]
            });
            let first = terms.next().unwrap();
            let step = terms.fold(first, |s, t| s + t);
            assert_eq!(new.to_bits(), (w - step).to_bits(), "tensor {i} entry {e}");
        }
    }
}

#[test]
fn batch_forward_and_backward_equal_the_per_sample_path_to_the_bit() {
    let mut rng = Rng::new(31);
    // Neither D nor H a multiple of 8.
    let odd = ResNet::<f32, 13, 21, 3>::random(&mut rng, 0.3);
    check::<_, f32, 13, 1>(&odd, 1);
    check::<_, f32, 13, 3>(&odd, 2);
    check::<_, f32, 13, 5>(&odd, 3);
    check::<_, f32, 13, 32>(&odd, 4);
    // Multiples of 8 but not 16 (tiles of 8 rows after those of 16), and of 16.
    let eights = ResNet::<f32, 24, 40, 2>::random(&mut rng, 0.3);
    check::<_, f32, 24, 3>(&eights, 5);
    check::<_, f32, 24, 32>(&eights, 6);
    let wide = ResNet::<f32, 64, 128, 2>::random(&mut rng, 0.1);
    check::<_, f32, 64, 32>(&wide, 7);
    // f64, and an activation whose derivative is not 0/1.
    let tanh = ResNet::<f64, 13, 21, 2, Tanh>::random(&mut rng, 0.3);
    check::<_, f64, 13, 3>(&tanh, 8);
    check::<_, f64, 13, 32>(&tanh, 9);
}

#[test]
fn batch_sgd_step_equals_its_definition_to_the_bit() {
    let mut rng = Rng::new(32);
    let odd = ResNet::<f32, 13, 21, 3>::random(&mut rng, 0.3);
    check_step::<_, 13, 1>(&odd, 1);
    check_step::<_, 13, 3>(&odd, 2);
    check_step::<_, 13, 32>(&odd, 3);
    let eights = ResNet::<f32, 24, 40, 2>::random(&mut rng, 0.3);
    check_step::<_, 24, 32>(&eights, 4);
}
