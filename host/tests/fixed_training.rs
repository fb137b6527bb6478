//! Training parity of the fixed-point formats with f32 (docs/THEORY.md section 6.4): the same
//! networks, data, initialisation and hyper-parameters in f32, Q16.16 and Q4.12, with
//! and without stochastic rounding of the updates. Losses are measured in f64 on a held-out set
//! from the networks' own outputs.

use nearid::fixed::{Q12, Q16, Rounding};
use nearid::{
    FusedSgd, LinearResNet, LinearTask, Matrix, Model, ResNet, Rng, Scalar, Sgd, SmoothTask,
    Trainable, Vector,
};

const D: usize = 4;

type Sample = (Vector<f64, D>, Vector<f64, D>);

fn convert<T: Scalar>(v: &Vector<f64, D>) -> Vector<T, D> {
    v.map(T::from_f64)
}

/// Mean over the set of 1/2 ||net(x) - y||^2, in f64.
fn eval_loss<T: Scalar, N: Model<T, D>>(net: &N, set: &[Sample]) -> f64 {
    let total: f64 = set
        .iter()
        .map(|(x, y)| {
            let p = net.apply(&convert::<T>(x)).map(|v| v.to_f64());
            0.5 * (p - y).norm_squared()
        })
        .sum();
    total / set.len() as f64
}

/// What a training run ends with.
#[derive(Clone, Copy, Debug)]
struct Outcome {
    /// Held-out loss after training, in f64.
    loss: f64,
    /// Saturations counted during training.
    saturations: u32,
    /// Steps among the last `WINDOW` that changed at least one weight.
    moving_steps: usize,
}

/// The window over which a run's last steps are checked for movement.
const WINDOW: usize = 1000;

/// Trains `net` one sample at a time on `train` with plain fused SGD.
fn train<T: Scalar, N: Model<T, D> + PartialEq>(
    mut net: N,
    eta: f64,
    rounding: Rounding,
    train: &[Sample],
    test: &[Sample],
) -> Outcome {
    let config = Sgd::new(T::from_f64(eta)).with_rounding(rounding);
    let mut sgd = FusedSgd::<T, N, 1>::new(config).unwrap();
    let mut saturations = 0u32;
    let mut moving_steps = 0;
    for (n, (x, y)) in train.iter().enumerate() {
        let before = (n + WINDOW >= train.len()).then(|| net.clone());
        let step = sgd
            .step(&mut net, &[convert(x)], &[convert(y)])
            .expect("a finite training step");
        saturations = saturations.saturating_add(step.saturations);
        if let Some(before) = before {
            let moved = before != net;
            moving_steps += usize::from(moved);
        }
    }
    Outcome {
        loss: eval_loss(&net, test),
        saturations,
        moving_steps,
    }
}

fn linear_data(n: usize, seed: u64, noise: f64) -> Vec<Sample> {
    let a: Matrix<f64, D, D> = LinearTask::random_spd(0.5, 1.5, 11);
    let mut task = LinearTask::<f64, D>::new(a, noise, seed);
    (0..n).map(|_| task.sample()).collect()
}

/// A smooth invertible map with Dh(0) = I-ish: two shears, h(x) = S2(S1(x)).
fn smooth(x: &Vector<f64, D>) -> Vector<f64, D> {
    let mut y = *x;
    for i in 0..D {
        y[i] += 0.4 * libm::sin(1.3 * y[(i + 1) % D]);
    }
    for i in (0..D).rev() {
        y[i] += 0.3 * libm::tanh(y[(i + D - 1) % D]);
    }
    y
}

fn smooth_data(n: usize, seed: u64) -> Vec<Sample> {
    let mut task = SmoothTask::<_, D>::new(smooth, 1.5, seed);
    (0..n).map(|_| task.sample::<f64>()).collect()
}

#[derive(Clone, Copy)]
struct Row {
    name: &'static str,
    out: Outcome,
}

fn report(task: &str, rows: &[Row], f32_loss: f64) {
    for r in rows {
        println!(
            "{task}: {:<18} held-out loss {:.3e}  ratio to f32 {:.4}  saturations {:>5}  \
             steps that moved a weight in the last {WINDOW}: {}",
            r.name,
            r.out.loss,
            r.out.loss / f32_loss,
            r.out.saturations,
            r.out.moving_steps
        );
    }
}

#[test]
fn linear_task_fixed_point_matches_f32() {
    type Net<T> = LinearResNet<T, D, 4>;
    let (train_set, test_set) = (linear_data(20000, 1, 0.05), linear_data(500, 2, 0.05));
    let eta = 0.001;
    let sr = Rounding::Stochastic { seed: 9 };
    let run = |name, f: &dyn Fn() -> Outcome| Row { name, out: f() };
    let initial = eval_loss::<f64, _>(&Net::<f64>::identity(), &test_set);
    // Label noise 0.05 in D = 4: the loss cannot fall below 1/2 D 0.05^2 = 0.005.
    let f32_row = run("f32", &|| {
        train::<f32, _>(Net::identity(), eta, sr, &train_set, &test_set)
    });
    let rows = [
        run("Q16.16 stochastic", &|| {
            train::<Q16, _>(Net::identity(), eta, sr, &train_set, &test_set)
        }),
        run("Q16.16 nearest", &|| {
            train::<Q16, _>(
                Net::identity(),
                eta,
                Rounding::Nearest,
                &train_set,
                &test_set,
            )
        }),
        run("Q4.12 stochastic", &|| {
            train::<Q12, _>(Net::identity(), eta, sr, &train_set, &test_set)
        }),
        run("Q4.12 nearest", &|| {
            train::<Q12, _>(
                Net::identity(),
                eta,
                Rounding::Nearest,
                &train_set,
                &test_set,
            )
        }),
    ];
    println!("linear: initial loss {initial:.6}");
    report("linear", &[f32_row], f32_row.out.loss);
    report("linear", &rows, f32_row.out.loss);
    check_parity(&f32_row, &rows, <Net<f32> as Trainable<f32>>::PARAMS, eta);
}

/// Two SGD runs on the same data whose roundings differ end this far apart relative to each
/// other here (Q16.16 against f32 on the smooth task: 0.9982, the largest seen), times five.
const RUN_SPREAD: f64 = 0.01;

/// The held-out loss ratio to f32 a format with stochastic rounding at step `q` stays below, for
/// a network of `params` parameters trained at rate `eta`:
///
/// ```text
/// 1 + RUN_SPREAD + 2 params q^2 / (16 eta L_f32)
/// ```
///
/// Stochastic rounding adds to each weight's update an independent zero-mean error of variance
/// at most q^2 / 4. Along a direction of curvature lambda the weight error follows
/// d <- (1 - eta lambda) d + e, whose stationary variance is (q^2 / 4) / (2 eta lambda), so its
/// expected excess loss lambda / 2 var = q^2 / (16 eta) per parameter, whatever lambda is; twice
/// that allows for the sample estimate of the held-out loss.
fn stochastic_ratio_bound(q: f64, params: usize, eta: f64, f32_loss: f64) -> f64 {
    1.0 + RUN_SPREAD + 2.0 * params as f64 * q * q / (16.0 * eta * f32_loss)
}

/// Every stochastic-rounding format below [`stochastic_ratio_bound`] of f32 (Q16.16: 1.0104
/// linear, 1.0114 smooth, against 0.9998 and 0.9982 seen; Q4.12: 1.1057 and 1.3669, against
/// 1.0034 and 1.0127; the bounds were 1.10 and 2 before), and Q16.16 without a single saturation.
fn check_parity(f32_row: &Row, rows: &[Row], params: usize, eta: f64) {
    let f32_loss = f32_row.out.loss;
    assert!(f32_loss.is_finite() && f32_loss > 0.0);
    for r in rows {
        let ratio = r.out.loss / f32_loss;
        let step = match r.name {
            n if n.starts_with("Q16.16") => {
                assert_eq!(r.out.saturations, 0, "{}", r.name);
                2f64.powi(-16)
            }
            n if n.starts_with("Q4.12") => 2f64.powi(-12),
            _ => continue,
        };
        if r.name.ends_with("stochastic") {
            let bound = stochastic_ratio_bound(step, params, eta, f32_loss);
            println!("{}: ratio {ratio:.4} against the bound {bound:.4}", r.name);
            assert!(ratio < bound, "{}: ratio {ratio} >= {bound}", r.name);
        }
    }
}

#[test]
fn smooth_task_fixed_point_matches_f32() {
    type Net<T> = ResNet<T, D, 16, 4>;
    let (train_set, test_set) = (smooth_data(20000, 3), smooth_data(500, 4));
    let eta = 0.001;
    let sr = Rounding::Stochastic { seed: 9 };
    let init = || ResNet::<f64, D, 16, 4>::random(&mut Rng::new(5), 0.2);
    fn cast<T: Scalar>(n: &ResNet<f64, D, 16, 4>) -> ResNet<T, D, 16, 4> {
        n.cast()
    }
    let run = |name, f: &dyn Fn() -> Outcome| Row { name, out: f() };
    let initial = eval_loss::<f64, _>(&init(), &test_set);
    let f32_row = run("f32", &|| {
        train::<f32, Net<f32>>(cast(&init()), eta, sr, &train_set, &test_set)
    });
    let rows = [
        run("Q16.16 stochastic", &|| {
            train::<Q16, Net<Q16>>(cast(&init()), eta, sr, &train_set, &test_set)
        }),
        run("Q4.12 stochastic", &|| {
            train::<Q12, Net<Q12>>(cast(&init()), eta, sr, &train_set, &test_set)
        }),
        run("Q4.12 nearest", &|| {
            train::<Q12, Net<Q12>>(cast(&init()), eta, Rounding::Nearest, &train_set, &test_set)
        }),
    ];
    println!("smooth: initial loss {initial:.6}");
    report("smooth", &[f32_row], f32_row.out.loss);
    report("smooth", &rows, f32_row.out.loss);
    assert!(
        f32_row.out.loss < 0.1 * initial,
        "f32 did not learn the smooth map"
    );
    check_parity(&f32_row, &rows, <Net<f32> as Trainable<f32>>::PARAMS, eta);
}

#[test]
fn without_stochastic_rounding_the_16_bit_format_stalls() {
    type Net<T> = LinearResNet<T, D, 4>;
    let (train_set, test_set) = (linear_data(20000, 1, 0.0), linear_data(500, 2, 0.0));
    let eta = 0.001;
    let sr = Rounding::Stochastic { seed: 9 };
    let run = |name, f: &dyn Fn() -> Outcome| Row { name, out: f() };
    let f32_row = run("f32", &|| {
        train::<f32, _>(Net::identity(), eta, sr, &train_set, &test_set)
    });
    let rows = [
        run("Q16.16 stochastic", &|| {
            train::<Q16, _>(Net::identity(), eta, sr, &train_set, &test_set)
        }),
        run("Q4.12 stochastic", &|| {
            train::<Q12, _>(Net::identity(), eta, sr, &train_set, &test_set)
        }),
        run("Q4.12 nearest", &|| {
            train::<Q12, _>(
                Net::identity(),
                eta,
                Rounding::Nearest,
                &train_set,
                &test_set,
            )
        }),
    ];
    report("stall", &[f32_row], f32_row.out.loss);
    report("stall", &rows, f32_row.out.loss);
    let [_, q12_sr, q12_nearest] = rows;
    // Rounded to nearest, every update eta g with |eta g| below half a step (2^-13) is lost:
    // once the residuals are that small, no weight moves again.
    assert_eq!(q12_nearest.out.moving_steps, 0, "Q4.12 nearest still moves");
    assert!(q12_sr.out.moving_steps > 0, "Q4.12 stochastic stopped too");
    println!(
        "stall: Q4.12 nearest / Q4.12 stochastic final loss = {:.1}",
        q12_nearest.out.loss / q12_sr.out.loss
    );
    assert!(q12_nearest.out.loss > 10.0 * q12_sr.out.loss);
}

/// Floats ignore the rounding setting (bit-identical runs), and in fixed point the fused and the
/// buffered optimiser (momentum 0) draw the same dither for the same weight: bit-identical. (In
/// floats plain fused SGD folds eta into each column and agrees to rounding only: core's
/// tests/training.rs.)
#[test]
fn rounding_leaves_floats_alone_and_fused_equals_buffered_in_fixed_point() {
    use nearid::BufferedSgd;
    type Net<T> = ResNet<T, D, 8, 3>;
    let data = smooth_data(300, 7);
    fn run_fused<T: Scalar>(rounding: Rounding, data: &[Sample]) -> Net<T> {
        let mut net = Net::<T>::identity_init(&mut Rng::new(3), 0.3);
        let config = Sgd::new(T::from_f64(0.01)).with_rounding(rounding);
        let mut sgd = FusedSgd::<T, Net<T>, 2>::new(config).unwrap();
        for pair in data.chunks_exact(2) {
            let xs = [convert(&pair[0].0), convert(&pair[1].0)];
            let ys = [convert(&pair[0].1), convert(&pair[1].1)];
            sgd.step(&mut net, &xs, &ys).unwrap();
        }
        net
    }
    fn run_buffered<T: Scalar>(rounding: Rounding, data: &[Sample]) -> Net<T> {
        let mut net = Net::<T>::identity_init(&mut Rng::new(3), 0.3);
        let config = Sgd::new(T::from_f64(0.01)).with_rounding(rounding);
        let mut sgd = BufferedSgd::<T, Net<T>, 2>::new(config).unwrap();
        for pair in data.chunks_exact(2) {
            let xs = [convert(&pair[0].0), convert(&pair[1].0)];
            let ys = [convert(&pair[0].1), convert(&pair[1].1)];
            sgd.step(&mut net, &xs, &ys).unwrap();
        }
        net
    }
    let sr = Rounding::Stochastic { seed: 4 };
    assert_eq!(
        run_fused::<f32>(sr, &data),
        run_fused::<f32>(Rounding::Nearest, &data)
    );
    assert_eq!(run_fused::<Q16>(sr, &data), run_buffered::<Q16>(sr, &data));
    assert_eq!(run_fused::<Q12>(sr, &data), run_buffered::<Q12>(sr, &data));
    // ... and the dither does act in fixed point.
    assert_ne!(
        run_fused::<Q12>(sr, &data),
        run_fused::<Q12>(Rounding::Nearest, &data)
    );
}
