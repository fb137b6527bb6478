//! The machine's peak f32 rate on one core, measured: 64 independent multiply-add chains
//! (8 AVX registers' worth), enough to keep every FMA pipe busy whatever its latency.
//! Compiled with FMA available (`-C target-cpu=native` on an FMA machine) each link is one fused
//! multiply-add, otherwise a multiply and an add (what the default x86-64 target can issue).
//! Counted as 2 flops per link either way. Id: `peak/mul_add` (throughput in elements = flops).
//!
//! `cargo bench -p nearid-benches --bench peak`

use std::hint::black_box;

use criterion::{Criterion, Throughput};

const CHAINS: usize = 64;
const LINKS: usize = 4096;

#[inline(always)]
fn link(v: f32, a: f32, b: f32) -> f32 {
    if cfg!(target_feature = "fma") {
        v.mul_add(a, b)
    } else {
        v * a + b
    }
}

fn chains(a: f32, b: f32) -> [f32; CHAINS] {
    let mut acc = [1.0f32; CHAINS];
    for _ in 0..LINKS {
        for v in acc.iter_mut() {
            *v = link(*v, a, b);
        }
    }
    acc
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    let mut group = c.benchmark_group("peak");
    group.throughput(Throughput::Elements((2 * CHAINS * LINKS) as u64));
    // a < 1 and b small keep every chain at a fixed point well inside the normal range.
    group.bench_function("mul_add", |bench| {
        bench.iter(|| chains(black_box(0.999), black_box(1e-3)))
    });
    group.finish();
    c.final_summary();
}
