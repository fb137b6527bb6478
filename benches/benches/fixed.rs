//! Criterion benchmark of fixed point against f32 on the desktop: one fused SGD training step
//! of the ReLU ResNet (D, H, M, B) = (8, 16, 8, 1) in f32, Q16.16 and Q4.12 (stochastic rounding
//! of the updates, the default), and the forward pass alone.
//!
//! `cargo bench -p nearid-benches --bench fixed`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use nearid::fixed::{Q12, Q16};
use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Scalar, Sgd, Trainable, Vector};

fn shape<T: Scalar, const D: usize, const H: usize, const M: usize, const B: usize>(
    c: &mut Criterion,
    type_name: &str,
) {
    let name = format!("{D}x{H}x{M}x{B}/{type_name}");
    let params = <ResNet<T, D, H, M> as Trainable<T>>::PARAMS as u64;
    let net = ResNet::<T, D, H, M>::identity_init(&mut Rng::new(1), 0.3);
    let mut task = LinearTask::new(LinearTask::<T, D>::random_spd(0.5, 1.5, 2), 0.01, 3);
    let (xs, ys): ([Vector<T, D>; B], [Vector<T, D>; B]) = task.batch::<B>();
    let config = Sgd::new(T::from_f64(1e-3));

    let mut group = c.benchmark_group("fixed/forward");
    group.throughput(Throughput::Elements(params * B as u64));
    group.bench_function(&name, |b| {
        b.iter(|| black_box(&net).apply(black_box(&xs[0])))
    });
    group.finish();

    let mut group = c.benchmark_group("fixed/train");
    group.throughput(Throughput::Elements(params * B as u64));
    let mut fused_net = net;
    let mut fused = FusedSgd::<T, ResNet<T, D, H, M>, B>::new(config).unwrap();
    group.bench_function(format!("{name}/fused"), |b| {
        b.iter(|| {
            fused
                .step(&mut fused_net, black_box(&xs), black_box(&ys))
                .unwrap()
        })
    });
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    shape::<f32, 8, 16, 8, 1>(&mut c, "f32");
    shape::<Q16, 8, 16, 8, 1>(&mut c, "Q16.16");
    shape::<Q12, 8, 16, 8, 1>(&mut c, "Q4.12");
    c.final_summary();
}
