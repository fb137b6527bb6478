//! Criterion benchmarks of the Rust peers on the problem of `nearid_peers` (the same network,
//! weights and batch as nearid's `benches/benches/train.rs`): forward alone and one SGD training
//! step, ids `{forward,train}/DxHxMxB/{candle,dfdx}`.
//!
//! Run by `cargo xtask bench` with RAYON_NUM_THREADS=1 (both crates use rayon and `gemm`, which
//! then runs on one thread). Before timing, every shape is trained for a few steps in nearid,
//! candle and dfdx from the same start and the losses compared (printed).

use std::hint::black_box;

use criterion::Criterion;
use nearid_peers::dfdx::Step;
use nearid_peers::{LEARNING_RATE, Problem, candle, check, dfdx};

fn shape<const D: usize, const H: usize, const M: usize, const B: usize>(c: &mut Criterion)
where
    dfdx::Net<D, H, M, B>: Step,
{
    let name = Problem::<D, H, M, B>::name();
    let [n, cd, df] = check::<D, H, M, B>();
    println!("check {name}: losses nearid {n:?} candle {cd:?} dfdx {df:?}");
    let p = Problem::<D, H, M, B>::new();

    let candle = candle::Net::new(&p, LEARNING_RATE).expect("candle setup");
    let mut dfdx = dfdx::Net::<D, H, M, B>::new(&p, LEARNING_RATE);

    let mut group = c.benchmark_group("forward");
    group.bench_function(format!("{name}/candle"), |b| {
        b.iter(|| black_box(&candle).forward().expect("candle forward"))
    });
    group.bench_function(format!("{name}/dfdx"), |b| {
        b.iter(|| black_box(&dfdx).forward())
    });
    group.finish();

    let mut group = c.benchmark_group("train");
    group.bench_function(format!("{name}/candle"), |b| {
        b.iter(|| candle.step().expect("candle step"))
    });
    group.bench_function(format!("{name}/dfdx"), |b| b.iter(|| dfdx.step()));
    group.finish();
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    shape::<8, 16, 8, 1>(&mut c);
    shape::<16, 32, 32, 1>(&mut c);
    shape::<64, 128, 16, 32>(&mut c);
    c.final_summary();
}
