//! Time of one near-identity factorisation (`nearid::factorize_into`: polar form by Jacobi SVD,
//! the rotation's Schur form by Jacobi methods, roots, the split, two SVDs and the error bound
//! for the report) for D = 16, f64 and f32, on random and hard matrices. The depth only adds
//! copies: M = 64.
//!
//! `cargo bench -p nearid-benches --bench factor`

use criterion::{Criterion, criterion_group, criterion_main};
use nalgebra::DMatrix;
use nearid::{Matrix, Real, Rng, Scalar};
use nearid_host::sample;
use std::hint::black_box;

const D: usize = 16;
const M: usize = 64;

fn to_static<T: Real>(r: &DMatrix<f64>) -> Matrix<T, D, D> {
    Matrix::from_fn(|i, j| <T as Scalar>::from_f64(r[(i, j)]))
}

fn cases() -> Vec<(String, DMatrix<f64>)> {
    let mut rng = Rng::new(16);
    let mut out: Vec<(String, DMatrix<f64>)> = (0..4)
        .map(|k| {
            (
                format!("random#{k}"),
                sample::det_positive(D, 2.0, &mut rng),
            )
        })
        .collect();
    out.push(("minus_identity".into(), -DMatrix::<f64>::identity(D, D)));
    let s: Vec<f64> = (0..D)
        .map(|i| 10f64.powf(-6.0 * i as f64 / (D - 1) as f64))
        .collect();
    out.push((
        "cond_1e6".into(),
        sample::with_singular_values(&s, &mut rng),
    ));
    out
}

fn factor(c: &mut Criterion) {
    let mut group = c.benchmark_group("factorize_d16_m64");
    group.sample_size(30);
    group.measurement_time(std::time::Duration::from_secs(2));
    group.warm_up_time(std::time::Duration::from_millis(500));
    for (name, r) in cases() {
        let r64 = to_static::<f64>(&r);
        let mut out64 = [Matrix::<f64, D, D>::zeros(); M];
        group.bench_function(format!("f64/{name}"), |b| {
            b.iter(|| nearid::factorize_into(black_box(&r64), &mut out64).unwrap())
        });
        if name != "cond_1e6" {
            // (f32 calls sigma_min < 16 eps_32 sigma_max singular: cond 1e6 is out of its range.)
            let r32 = to_static::<f32>(&r);
            let mut out32 = [Matrix::<f32, D, D>::zeros(); M];
            group.bench_function(format!("f32/{name}"), |b| {
                b.iter(|| nearid::factorize_into(black_box(&r32), &mut out32).unwrap())
            });
        }
    }
    group.finish();
}

criterion_group!(benches, factor);
criterion_main!(benches);
