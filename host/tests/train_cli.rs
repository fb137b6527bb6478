//! `nearid train`, `export`, `import`, `predict` and `eval` end to end, and the exact zero
//! padding behind them (host/src/compiled.rs):
//!
//! - a model trained by the CLI with D_in = 3 and D_out = 2 (not the padded 16 and 8), exported
//!   in f32, Q16.16 and Q4.12, loads with `nearid::file::load` into the core's own
//!   `Net<T, 3, 16, 16, 2, 2>`, which saves the same bytes back and predicts what `nearid
//!   predict` printed (fixed point: the same bits; f32: within the rounding bound derived below);
//! - `nearid import` of that file gives back the model's weights exactly;
//! - training in the padded type leaves every padded weight exactly zero, and with rounding to
//!   nearest it is bit for bit the training of the unpadded core type, in Q4.12 and Q16.16;
//! - the padded cross-entropy is the core's over the first C logits, bit for bit.
//!
//! About 2 s in the test profile.

mod common;

use common::{nearid, s, scratch};
use nearid::file::{self, LossKind};
use nearid::fixed::{Q12, Q16, Rounding};
use nearid::{
    CrossEntropy, FusedSgd, Loss, Model, Net, Quadratic, Relu, Rng, Scalar, Sgd, Trainable, Vector,
};
use nearid_host::compiled::{
    Class, Padded, PaddedCrossEntropy, from_padded, padding_is_zero, to_padded,
};
use nearid_host::network::{ActivationName, Config, LossName, Network, ScalarName};
use std::path::Path;

/// 200 rows of a smooth map R^3 -> R^2, inputs in [-2, 2] (inside Q4.12's range).
fn regression_csv(path: &Path) -> Vec<[f64; 3]> {
    let mut rng = Rng::new(5);
    let mut text = String::from("a,b,c,y0,y1\n");
    let mut xs = Vec::new();
    for _ in 0..200 {
        let x = [0; 3].map(|_| rng.uniform_in(-2.0, 2.0));
        let y0 = (x[0] * x[1]).tanh() + 0.3 * x[2];
        let y1 = 0.5 * x[0] - (x[2]).sin();
        text += &format!("{},{},{},{y0},{y1}\n", x[0], x[1], x[2]);
        xs.push(x);
    }
    std::fs::write(path, text).unwrap();
    xs
}

/// The predictions `nearid predict` wrote as CSV (a header, then one row per sample).
fn read_predictions(path: &Path) -> Vec<Vec<f64>> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| l.split(',').map(|v| v.parse().unwrap()).collect())
        .collect()
}

/// A bound on |f32 forward - exact forward| for each output of `net` at x (f32 inputs and
/// weights): the running error analysis of Higham, Accuracy and Stability of Numerical
/// Algorithms, section 3.1. An affine map of n terms y = W x + b computed in f32 in any order
/// is within gamma_(n+1) (|W| |x| + |b|) of the exact value for the same x, gamma_k = k u /
/// (1 - k u), u = 2^-24; an error e in x adds at most |W| e; ReLU is exact and 1-Lipschitz; the
/// residual sum z + (W2 a + b2) is one sum of H + 2 terms.
fn f32_bound(net: &Network, x: &[f64]) -> Vec<f64> {
    let u = 2f64.powi(-24);
    let gamma = |k: usize| k as f64 * u / (1.0 - k as f64 * u);
    let affine = |w: &nalgebra::DMatrix<f64>, b: &nalgebra::DVector<f64>, x: &[f64], e: &[f64]| {
        let y: Vec<f64> = (0..w.nrows())
            .map(|r| b[r] + (0..w.ncols()).map(|c| w[(r, c)] * x[c]).sum::<f64>())
            .collect();
        let err: Vec<f64> = (0..w.nrows())
            .map(|r| {
                let mag = b[r].abs()
                    + (0..w.ncols())
                        .map(|c| (w[(r, c)] * x[c]).abs())
                        .sum::<f64>();
                let prop = (0..w.ncols()).map(|c| w[(r, c)].abs() * e[c]).sum::<f64>();
                gamma(w.ncols() + 1) * mag + prop
            })
            .collect();
        (y, err)
    };
    let (mut z, mut e) = affine(&net.stem.w, &net.stem.b, x, &vec![0.0; x.len()]);
    for b in &net.blocks {
        let (pre, ep) = affine(&b.w1, &b.b1, &z, &e);
        let a: Vec<f64> = pre.iter().map(|v| v.max(0.0)).collect();
        let (r, er) = affine(&b.w2, &b.b2, &a, &ep);
        let h = b.w1.nrows();
        for k in 0..z.len() {
            let sum = z[k] + r[k];
            // One more rounding of the sum of H + 2 terms, on top of the two inputs' errors.
            e[k] = e[k] + er[k] + gamma(h + 2) * (z[k].abs() + r[k].abs());
            z[k] = sum;
        }
    }
    affine(&net.head.w, &net.head.b, &z, &e).1
}

#[test]
fn a_cli_model_loads_into_the_core_type_in_every_format() {
    let data = scratch("reg.csv");
    let xs = regression_csv(&data);
    let model = scratch("reg.npz");
    nearid(&[
        "train",
        s(&data),
        "--inputs",
        "a,b,c",
        "--targets",
        "y0,y1",
        "--hidden",
        "16",
        "--depth",
        "2",
        "--epochs",
        "3",
        "--batch",
        "8",
        "--lr",
        "0.02",
        "--quiet",
        "--out",
        s(&model),
    ]);
    let net = Network::read_npz(&model).unwrap();
    assert_eq!(
        (
            net.inputs(),
            net.width(),
            net.hidden(),
            net.depth(),
            net.outputs()
        ),
        (3, 16, 16, 2, 2)
    );
    // f32.
    let nid = scratch("reg-f32.nid");
    nearid(&["export", s(&model), "--scalar", "f32", "--out", s(&nid)]);
    let bytes = std::fs::read(&nid).unwrap();
    let mut core = <Net<f32, 3, 16, 16, 2, 2> as nearid::Trainable<f32>>::zeros();
    let header = file::load(&mut core, &bytes).unwrap();
    assert_eq!(header.loss, LossKind::Quadratic);
    let mut again = vec![0u8; bytes.len()];
    file::save(&core, LossKind::Quadratic, &mut again).unwrap();
    assert_eq!(again, bytes, "the core saves the same bytes the tool wrote");
    let pred = scratch("reg-f32.csv");
    nearid(&["predict", s(&model), s(&data), "--out", s(&pred)]);
    let printed = read_predictions(&pred);
    let mut worst: f64 = 0.0;
    for (x, p) in xs.iter().zip(&printed) {
        let xf = x.map(|v| v as f32);
        let y = core.forward(&Vector::from(xf)).unwrap();
        let bound = f32_bound(&net, &xf.map(f64::from));
        for k in 0..2 {
            // Two f32 evaluations of the same network (padded and not: different summation
            // orders) are each within the bound of the exact value.
            let d = (f64::from(y[k]) - p[k]).abs();
            assert!(
                d <= 2.0 * bound[k],
                "{x:?}: {} vs {} (bound {})",
                y[k],
                p[k],
                bound[k]
            );
            worst = worst.max(d / (2.0 * bound[k]).max(f64::MIN_POSITIVE));
        }
    }
    println!("f32: largest |core - cli| / derived bound = {worst:.3}");
    // Q16.16 and Q4.12: exact sums, so the padded type computes the same bits.
    fixed_case::<Q16>(&model, &data, &xs, "q16");
    fixed_case::<Q12>(&model, &data, &xs, "q12");
    // Import gives the same network back (f32 values of an f32 model, exactly).
    let back = scratch("reg-back.npz");
    nearid(&[
        "import",
        s(&nid),
        "--names-from",
        s(&model),
        "--out",
        s(&back),
    ]);
    let imported = Network::read_npz(&back).unwrap();
    assert_eq!(imported.values(), net.values());
    assert_eq!(imported.config.inputs, net.config.inputs);
}

fn fixed_case<T: nearid::file::Stored>(model: &Path, data: &Path, xs: &[[f64; 3]], name: &str) {
    let nid = scratch(&format!("reg-{name}.nid"));
    nearid(&["export", s(model), "--scalar", name, "--out", s(&nid)]);
    let bytes = std::fs::read(&nid).unwrap();
    let mut core = <Net<T, 3, 16, 16, 2, 2> as nearid::Trainable<T>>::zeros();
    file::load(&mut core, &bytes).unwrap();
    let pred = scratch(&format!("reg-{name}.csv"));
    nearid(&[
        "predict",
        s(model),
        s(data),
        "--scalar",
        name,
        "--out",
        s(&pred),
    ]);
    for (x, p) in xs.iter().zip(read_predictions(&pred)) {
        let y = core.apply(&Vector::from(x.map(T::from_f64)));
        assert_eq!(
            [y[0].to_f64(), y[1].to_f64()],
            [p[0], p[1]],
            "{name} at {x:?}"
        );
    }
}

fn small(d_in: usize, d_out: usize, loss: LossName) -> Network {
    let config = Config {
        activation: ActivationName::Relu,
        loss,
        scalar: ScalarName::Q12,
        inputs: (0..d_in).map(|i| format!("x{i}")).collect(),
        targets: vec![
            "y".into();
            if loss == LossName::Quadratic {
                d_out
            } else {
                1
            }
        ],
        classes: (loss == LossName::CrossEntropy)
            .then(|| (0..d_out).map(|i| i.to_string()).collect()),
        training: None,
        active_depth: None,
    };
    let mut net = Network::init(config, 16, 2, d_out, 3);
    // A non-zero head, so every layer trains from the first step.
    net.head.w =
        nalgebra::DMatrix::from_fn(d_out, 16, |r, c| 0.05 * ((r * 16 + c) % 7) as f64 - 0.15);
    net
}

/// Trains the padded type and the core's own unpadded one side by side, B = 1, rounding to
/// nearest: the same bits at every step, and the padding stays zero.
fn padded_equals_unpadded<T: nearid_host::compiled::Format>() {
    let net = small(3, 2, LossName::Quadratic);
    let mut padded: Padded<T, Relu, 16, 2> = to_padded(&net);
    let mut plain = <Net<T, 3, 16, 16, 2, 2> as nearid::Trainable<T>>::zeros();
    plain
        .read_params(
            &net.values()
                .iter()
                .map(|&v| T::from_f64(v))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let sgd = Sgd::new(T::from_f64(0.05)).with_rounding(Rounding::Nearest);
    let mut a = FusedSgd::<T, _, 1, Quadratic>::new(sgd).unwrap();
    let mut b = FusedSgd::<T, _, 1, Quadratic>::new(sgd).unwrap();
    let mut rng = Rng::new(9);
    for _ in 0..300 {
        let x = [0; 3].map(|_| rng.uniform_in(-1.5, 1.5));
        let y = [(x[0] * x[1]).tanh(), x[2] - 0.5 * x[0]];
        let xp = Vector::<T, 16>::from_fn(|k, _| T::from_f64(x.get(k).copied().unwrap_or(0.0)));
        let yp = Vector::<T, 8>::from_fn(|k, _| T::from_f64(y.get(k).copied().unwrap_or(0.0)));
        let sa = a.step(&mut padded, &[xp], &[yp]).unwrap();
        let sb = b
            .step(
                &mut plain,
                &[Vector::from(x.map(T::from_f64))],
                &[Vector::from(y.map(T::from_f64))],
            )
            .unwrap();
        assert_eq!(sa.loss, sb.loss);
    }
    assert!(padding_is_zero(&padded, &net));
    let trimmed = from_padded(&padded, &net).values();
    let mut values = vec![T::ZERO; trimmed.len()];
    plain.write_params(&mut values).unwrap();
    assert_eq!(
        trimmed,
        values.iter().map(|v| v.to_f64()).collect::<Vec<_>>()
    );
    assert_ne!(trimmed, net.values(), "it trained");
}

#[test]
fn padding_is_exact_in_fixed_point() {
    padded_equals_unpadded::<Q12>();
    padded_equals_unpadded::<Q16>();
}

/// With stochastic rounding (the default) the padded weights draw dither too, so the run is
/// not the unpadded one's bits; the padding still stays exactly zero, for both losses and f32.
#[test]
fn padding_stays_zero_with_stochastic_rounding_and_classification() {
    fn run<T: nearid_host::compiled::Format>(loss: LossName) {
        let net = small(5, 3, loss);
        let mut p: Padded<T, Relu, 16, 2> = to_padded(&net);
        let mut rng = Rng::new(4);
        let eta = T::from_f64(0.05);
        let x = || Vector::<T, 16>::from_fn(|k, _| T::from_f64(if k < 5 { 0.9 } else { 0.0 }));
        match loss {
            LossName::Quadratic => {
                let mut sgd = FusedSgd::<T, _, 8, Quadratic>::new(Sgd::new(eta)).unwrap();
                for _ in 0..100 {
                    let xs =
                        [0; 8].map(|_| x().map(|v| v * T::from_f64(rng.uniform_in(-1.0, 1.0))));
                    let ys = [0; 8].map(|_| {
                        Vector::<T, 8>::from_fn(|k, _| {
                            T::from_f64(if k < 3 { rng.normal() } else { 0.0 })
                        })
                    });
                    sgd.step(&mut p, &xs, &ys).unwrap();
                }
            }
            LossName::CrossEntropy => {
                let mut sgd = FusedSgd::<T, _, 8, PaddedCrossEntropy>::new(Sgd::new(eta)).unwrap();
                for _ in 0..100 {
                    let xs =
                        [0; 8].map(|_| x().map(|v| v * T::from_f64(rng.uniform_in(-1.0, 1.0))));
                    let ts = [0; 8].map(|_| Class {
                        class: (rng.next_u32() % 3) as usize,
                        classes: 3,
                    });
                    sgd.step(&mut p, &xs, &ts).unwrap();
                }
            }
        }
        assert!(padding_is_zero(&p, &net), "{loss:?}");
        assert_ne!(from_padded(&p, &net).values(), net.values());
    }
    for loss in [LossName::Quadratic, LossName::CrossEntropy] {
        run::<f32>(loss);
        run::<Q12>(loss);
        run::<Q16>(loss);
    }
}

/// The padded cross-entropy over C = 3 of 8 logits against the core's over 3 logits: value,
/// gradient and correctness, bit for bit, in f32 and Q4.12; the padded logits' gradient is 0.
#[test]
fn padded_cross_entropy_is_the_cores() {
    fn check<T: Scalar>() {
        let mut rng = Rng::new(2);
        for _ in 0..200 {
            let z3 = Vector::<T, 3>::from_fn(|_, _| T::from_f64(2.0 * rng.normal()));
            let z8 = Vector::<T, 8>::from_fn(|k, _| {
                if k < 3 {
                    z3[k]
                } else {
                    T::from_f64(5.0 * rng.normal())
                }
            });
            let c = (rng.next_u32() % 3) as usize;
            let t = Class {
                class: c,
                classes: 3,
            };
            let scale = T::from_f64(0.125);
            assert_eq!(
                <PaddedCrossEntropy as Loss<T, 8>>::value(&z8, &t),
                <CrossEntropy as Loss<T, 3>>::value(&z3, &c)
            );
            let g8 = <PaddedCrossEntropy as Loss<T, 8>>::gradient(&z8, &t, scale);
            let g3 = <CrossEntropy as Loss<T, 3>>::gradient(&z3, &c, scale);
            assert_eq!(&g8.as_slice()[..3], g3.as_slice());
            assert!(g8.as_slice()[3..].iter().all(|&g| g == T::ZERO));
            assert_eq!(
                <PaddedCrossEntropy as Loss<T, 8>>::correct(&z8, &t),
                <CrossEntropy as Loss<T, 3>>::correct(&z3, &c)
            );
        }
    }
    check::<f32>();
    check::<Q12>();
}
