//! Criterion benchmarks of the core on the desktop: forward alone and one SGD training step
//! (fused: no gradient buffer; buffered: gradient buffer, the path momentum uses) for the
//! shapes (D, H, M, B) of the performance issue, in f32 and f64.
//!
//! `cargo bench -p nearid-benches --bench train`; a filter picks a group, e.g. `-- train/16x32x32`.

use std::hint::black_box;

use criterion::{Criterion, Throughput};
use nearid::{
    BufferedSgd, FusedSgd, LinearTask, Model, ResNet, Rng, Scalar, Sgd, Trainable, Vector,
};

/// Forward and training-step benchmarks for one shape and scalar type.
fn shape<T: Scalar, const D: usize, const H: usize, const M: usize, const B: usize>(
    c: &mut Criterion,
    type_name: &str,
) {
    let name = format!("{D}x{H}x{M}x{B}/{type_name}");
    let params = <ResNet<T, D, H, M> as Trainable<T>>::PARAMS as u64;
    // Boxed: the largest shape's optimiser state is several MiB.
    let net = Box::new(ResNet::<T, D, H, M>::identity_init(&mut Rng::new(1), 0.3));
    let mut task = LinearTask::new(LinearTask::<T, D>::random_spd(0.5, 1.5, 2), 0.01, 3);
    let (xs, ys): ([Vector<T, D>; B], [Vector<T, D>; B]) = task.batch::<B>();
    let config = Sgd::new(T::from_f64(1e-4));

    let mut group = c.benchmark_group("forward");
    group.throughput(Throughput::Elements(params * B as u64));
    group.bench_function(&name, |b| {
        b.iter(|| {
            black_box(&*net)
                .apply_batch(black_box(&xs))
                .iter()
                .fold(T::ZERO, |s, y| s + y[0])
        })
    });
    group.finish();

    let mut group = c.benchmark_group("train");
    group.throughput(Throughput::Elements(params * B as u64));
    let mut fused_net = net.clone();
    let mut fused = Box::new(FusedSgd::<T, ResNet<T, D, H, M>, B>::new(config).unwrap());
    group.bench_function(format!("{name}/fused"), |b| {
        b.iter(|| {
            fused
                .step(&mut fused_net, black_box(&xs), black_box(&ys))
                .unwrap()
        })
    });
    let mut buffered_net = net.clone();
    let mut buffered = Box::new(BufferedSgd::<T, ResNet<T, D, H, M>, B>::new(config).unwrap());
    group.bench_function(format!("{name}/buffered"), |b| {
        b.iter(|| {
            buffered
                .step(&mut buffered_net, black_box(&xs), black_box(&ys))
                .unwrap()
        })
    });
    group.finish();
}

fn benches(c: &mut Criterion) {
    shape::<f32, 8, 16, 8, 1>(c, "f32");
    shape::<f64, 8, 16, 8, 1>(c, "f64");
    shape::<f32, 16, 32, 32, 1>(c, "f32");
    shape::<f64, 16, 32, 32, 1>(c, "f64");
    shape::<f32, 64, 128, 16, 32>(c, "f32");
    shape::<f64, 64, 128, 16, 32>(c, "f64");
}

fn main() {
    // The largest shapes build multi-MiB values before they are boxed: give them a roomy stack.
    std::thread::Builder::new()
        .stack_size(256 << 20)
        .spawn(|| {
            let mut c = Criterion::default().configure_from_args();
            benches(&mut c);
            c.final_summary();
        })
        .expect("spawn the benchmark thread")
        .join()
        .expect("benchmarks panicked");
}
