//! A fixed number of f32 fused training steps, for counters that need a known amount of work:
//! `perf stat -e cycles:u,instructions:u target/release/examples/steps 16x32x32x1 20000` gives
//! cycles per step without criterion's timing loop (steadier than wall time on a loaded machine).

use std::hint::black_box;

use nearid::{FusedSgd, LinearTask, ResNet, Rng, Sgd, Vector};

fn run<const D: usize, const H: usize, const M: usize, const B: usize>(steps: u64) {
    let mut net = Box::new(ResNet::<f32, D, H, M>::identity_init(&mut Rng::new(1), 0.3));
    let mut task = LinearTask::new(LinearTask::<f32, D>::random_spd(0.5, 1.5, 2), 0.01, 3);
    let (xs, ys): ([Vector<f32, D>; B], [Vector<f32, D>; B]) = task.batch::<B>();
    let mut sgd = Box::new(FusedSgd::<f32, ResNet<f32, D, H, M>, B>::new(Sgd::new(1e-4)).unwrap());
    for _ in 0..steps {
        black_box(sgd.step(&mut net, black_box(&xs), black_box(&ys)).unwrap());
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let steps = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    match args.get(1).map(String::as_str) {
        Some("8x16x8x1") => run::<8, 16, 8, 1>(steps),
        Some("16x32x32x1") => run::<16, 32, 32, 1>(steps),
        Some("64x128x16x32") => run::<64, 128, 16, 32>(steps),
        _ => {
            eprintln!("usage: steps 8x16x8x1|16x32x32x1|64x128x16x32 [steps]");
            std::process::exit(2);
        }
    }
}
