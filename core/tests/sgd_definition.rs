//! One SGD step of each optimiser against the update written from its definition (the module
//! doc of core/src/sgd.rs) in f64 inside this test, not through the core's shared per-entry
//! rule, in f32, Q16.16 and Q4.12:
//!
//! ```text
//! g = sum_b u_b v_b^T                     the batch gradient from the tape's factors
//! c = min(1, clip / ||g||_F)              clipping
//! d = c g + lambda w                      weight decay pulls w toward 0 (the identity)
//! v <- mu v + d;  w <- w - eta v          (mu = 0: w <- w - eta d)
//! ```
//!
//! The gradient factors u_b, v_b come from the core's tape (their correctness is
//! core/tests/gradients.rs'); everything after them is recomputed here. Each test also checks
//! that it can see the bug it is there for: the term a bug would drop or flip is many times
//! the rounding bound.
//!
//! Bounds per weight, from one rounding per operation the core performs (f32: relative
//! eps = 2^-24 per operation; fixed point: ulp / 2 per rounded product, to nearest, and below
//! 1 ulp for the stochastically rounded eta d; sums are exact in fixed point):
//!
//! - f32: |w' - w'_def| <= eta (B + 5) eps (c S + lambda |w|) + eps |w'_def|, with
//!   S = sum_b |u_b v_b|: the gradient's B products and sums ((B + 1) eps S), c rounded to f32
//!   (eps c S), c g (eps c S), lambda w (eps lambda |w|), their sum and eta d (eps |d| each),
//!   w - eta d (eps |w'|).
//! - fixed point: |w' - w'_def| <= eta (c B ulp/2 + |g| ulp/2 + ulp/2 + ulp/2) + r, with r =
//!   ulp/2 (to nearest) or ulp (stochastic): the gradient's B rounded products (B ulp/2, times
//!   c), c rounded to the format (ulp/2, times |g|), c g and lambda w rounded (ulp/2 each), and
//!   eta d rounded once.
//! - velocity v' = mu v + d: the d error above, mu v rounded (eps |mu v| or ulp/2) and the sum
//!   (eps |v'| in f32).

mod common;

use common::{Affine, affines, batch_of, params, randomised};
use nearid::fixed::{Q12, Q16, Rounding};
use nearid::loss::argmax;
use nearid::{BufferedSgd, CrossEntropy, FusedSgd, Model, ResNet, Rng, Scalar, Sgd, Vector};

const D: usize = 4;
type Net<T> = ResNet<T, D, 8, 3>;

/// The rounding the core does in a format: a relative eps (floats) or an absolute ulp.
#[derive(Clone, Copy, Debug)]
enum Precision {
    Float { eps: f64 },
    Fixed { ulp: f64, update: f64 },
}

trait Format: Scalar {
    fn precision(rounding: Rounding) -> Precision;
}

impl Format for f32 {
    fn precision(_: Rounding) -> Precision {
        Precision::Float {
            eps: f64::from(f32::EPSILON) / 2.0,
        }
    }
}

fn fixed_precision(ulp: f64, rounding: Rounding) -> Precision {
    let update = match rounding {
        Rounding::Nearest => ulp / 2.0,
        // Stochastic rounding moves eta d to one of its two neighbours: strictly below 1 ulp.
        _ => ulp,
    };
    Precision::Fixed { ulp, update }
}

impl Format for Q16 {
    fn precision(rounding: Rounding) -> Precision {
        fixed_precision(Q16::EPSILON.to_f64(), rounding)
    }
}

impl Format for Q12 {
    fn precision(rounding: Rounding) -> Precision {
        fixed_precision(Q12::EPSILON.to_f64(), rounding)
    }
}

/// The hyper-parameters as the format holds them, in f64.
#[derive(Clone, Copy, Debug)]
struct Hyper {
    eta: f64,
    mu: f64,
    lambda: f64,
    clip: Option<f64>,
}

impl Hyper {
    fn of<T: Scalar>(config: &Sgd<T>) -> Self {
        Self {
            eta: config.learning_rate.to_f64(),
            mu: config.momentum.to_f64(),
            lambda: config.weight_decay.to_f64(),
            clip: config.clip_norm.map(|c| c.to_f64()),
        }
    }
}

/// Per parameter (in [`params`] order): the batch gradient g = sum_b u_b v_b in f64 and
/// S = sum_b |u_b v_b|.
fn gradient_f64<T: Scalar>(maps: &[Affine<T>]) -> (Vec<f64>, Vec<f64>) {
    let (mut g, mut s) = (Vec::new(), Vec::new());
    for map in maps {
        for e in 0..map.len() {
            let (u, v) = map.factors_of(e);
            let terms: Vec<f64> = u
                .iter()
                .zip(&v)
                .map(|(u, v)| u.to_f64() * v.to_f64())
                .collect();
            g.push(terms.iter().sum());
            s.push(terms.iter().map(|t| t.abs()).sum());
        }
    }
    (g, s)
}

/// What the definition gives for one step, per parameter, with its rounding bound.
#[derive(Debug)]
struct Expected {
    weights: Vec<f64>,
    weight_bound: Vec<f64>,
    velocity: Vec<f64>,
    velocity_bound: Vec<f64>,
    /// The clip factor c.
    c: f64,
    /// max over the parameters of what clipping removes, eta (1 - c) |g|.
    clipped_away: f64,
    /// max over the parameters of the decay term eta lambda |w|.
    decay_term: f64,
    /// max over the parameters of the momentum term eta mu |v|.
    momentum_term: f64,
}

/// The step from weights `w` and velocity `v` (both in f64, as the core holds them) with the
/// tape's factors, from the definition.
fn expected<T: Scalar>(
    w: &[f64],
    v: &[f64],
    maps: &[Affine<T>],
    h: Hyper,
    batch: usize,
    precision: Precision,
) -> Expected {
    let (g, s) = gradient_f64(maps);
    assert_eq!(g.len(), w.len(), "one gradient entry per parameter");
    let norm = g.iter().map(|g| g * g).sum::<f64>().sqrt();
    let c = h.clip.map_or(1.0, |clip| (clip / norm).min(1.0));
    let b = batch as f64;
    let mut out = Expected {
        weights: vec![],
        weight_bound: vec![],
        velocity: vec![],
        velocity_bound: vec![],
        c,
        clipped_away: 0.0,
        decay_term: 0.0,
        momentum_term: 0.0,
    };
    for e in 0..w.len() {
        let d = c * g[e] + h.lambda * w[e];
        let new_v = h.mu * v[e] + d;
        let new_w = w[e] - h.eta * new_v;
        let (d_err, v_err, w_round) = match precision {
            Precision::Float { eps } => {
                let d_err = (b + 5.0) * eps * (c * s[e] + h.lambda * w[e].abs());
                let v_err = d_err + eps * (h.mu * v[e]).abs() + eps * new_v.abs();
                (d_err, v_err, eps * new_w.abs())
            }
            Precision::Fixed { ulp, update } => {
                let half = ulp / 2.0;
                let d_err = c * b * half + g[e].abs() * half + half + half;
                let v_err = d_err + if h.mu != 0.0 { half } else { 0.0 };
                (d_err, v_err, update)
            }
        };
        // Without momentum the velocity is d and w' = w - eta d.
        let step_err = if h.mu != 0.0 { v_err } else { d_err };
        let w_err = h.eta * step_err + w_round;
        out.weights.push(new_w);
        out.weight_bound.push(w_err);
        out.velocity.push(new_v);
        out.velocity_bound.push(v_err);
        out.clipped_away = out.clipped_away.max(h.eta * (1.0 - c) * g[e].abs());
        out.decay_term = out.decay_term.max(h.eta * h.lambda * w[e].abs());
        out.momentum_term = out.momentum_term.max(h.eta * h.mu * v[e].abs());
    }
    out
}

fn to_f64<T: Scalar>(values: &[T]) -> Vec<f64> {
    values.iter().map(|v| v.to_f64()).collect()
}

/// max_e |got_e - want_e| / bound_e: at most 1 when `got` is the definition's update.
fn worst_ratio(got: &[f64], want: &[f64], bound: &[f64]) -> f64 {
    assert_eq!(got.len(), want.len());
    got.iter()
        .zip(want)
        .zip(bound)
        .map(|((g, w), b)| (g - w).abs() / b)
        .fold(0.0, f64::max)
}

/// The tape's factors for one step of `config` (momentum dropped) on `net`: [`FusedSgd`] on a
/// copy, whose forward and backward on the same weights fill the same tape as any optimiser's.
fn factors<T: Scalar, const B: usize>(
    net: &Net<T>,
    config: Sgd<T>,
    xs: &[Vector<T, D>; B],
    ys: &[Vector<T, D>; B],
) -> Vec<Affine<T>> {
    let mut copy = *net;
    let mut fused = FusedSgd::<T, Net<T>, B>::new(config.with_momentum(T::ZERO)).unwrap();
    fused.step(&mut copy, xs, ys).unwrap();
    affines(net, fused.tape())
}

/// A batch of B vectors with N(0, 1/4) entries: small enough that no product of Q4.12's
/// forward, backward or gradient leaves its range [-8, 8) (each step asserts 0 saturations: a
/// saturated gradient is not the definition's, and is counted, not hidden).
fn small_batch<T: Scalar, const B: usize>(rng: &mut Rng) -> [Vector<T, D>; B] {
    batch_of::<f64, D, B>(rng).map(|v| v.map(|x| T::from_f64(0.5 * x)))
}

/// Targets near the inputs (y = x + N(0, 1/16) noise), so the residual to learn is small.
fn targets<T: Scalar, const B: usize>(xs: &[Vector<T, D>; B], rng: &mut Rng) -> [Vector<T, D>; B] {
    let noise = small_batch::<f64, B>(rng);
    core::array::from_fn(|b| {
        Vector::from_fn(|i, _| T::from_f64(xs[b][i].to_f64() + 0.5 * noise[b][i]))
    })
}

/// A network away from the identity (so weight decay has something to pull) and a batch.
/// Weights of scale 0.15 keep the squared gradient norm, which the step reports in the format
/// itself, below Q4.12's 8 (at 0.4 it is about 80, and the report saturates, counted).
fn setup<T: Scalar, const B: usize>(seed: u64) -> (Net<T>, [Vector<T, D>; B], [Vector<T, D>; B]) {
    let mut rng = Rng::new(seed);
    let net = randomised(&Net::<T>::identity(), &mut rng, 0.15);
    let xs = small_batch::<T, B>(&mut rng);
    let ys = targets(&xs, &mut rng);
    (net, xs, ys)
}

/// One step of both optimisers (momentum 0) against the definition.
fn check_plain_step<T: Format, const B: usize>(config: Sgd<T>, seed: u64) -> Expected {
    let (net, xs, ys) = setup::<T, B>(seed);
    let maps = factors(&net, config, &xs, &ys);
    let w = to_f64(&params(&net));
    let zero = vec![0.0; w.len()];
    let want = expected(
        &w,
        &zero,
        &maps,
        Hyper::of(&config),
        B,
        T::precision(config.rounding),
    );
    let mut fused_net = net;
    let fused_step = FusedSgd::<T, Net<T>, B>::new(config)
        .unwrap()
        .step(&mut fused_net, &xs, &ys)
        .unwrap();
    let mut buffered_net = net;
    let mut buffered = BufferedSgd::<T, Net<T>, B>::new(config).unwrap();
    let buffered_step = buffered.step(&mut buffered_net, &xs, &ys).unwrap();
    assert_eq!(
        (fused_step.saturations, buffered_step.saturations),
        (0, 0),
        "a saturated step is outside the definition"
    );
    for (name, got) in [("FusedSgd", &fused_net), ("BufferedSgd", &buffered_net)] {
        let got = to_f64(&params(got));
        let ratio = worst_ratio(&got, &want.weights, &want.weight_bound);
        println!(
            "{name} {} B = {B}: worst |w' - definition| / bound = {ratio:.3} (c = {:.3})",
            core::any::type_name::<T>(),
            want.c
        );
        assert!(
            ratio <= 1.0,
            "{name}, B = {B}: off the definition by {ratio} bounds"
        );
    }
    let v = to_f64(&params(buffered.velocity()));
    let ratio = worst_ratio(&v, &want.velocity, &want.velocity_bound);
    assert!(
        ratio <= 1.0,
        "BufferedSgd velocity off the definition by {ratio} bounds"
    );
    want
}

/// The largest rounding bound of a plain step, for the "can it see the bug" checks.
fn largest(bound: &[f64]) -> f64 {
    bound.iter().copied().fold(0.0, f64::max)
}

/// Clipping well below the gradient's norm, with weight decay: a no-op clip (c = 1) or a
/// flipped decay sign (w + eta lambda w) moves weights by many bounds.
fn clip_and_decay<T: Format>(eta: f64, rounding: Rounding) {
    let config = Sgd::new(T::from_f64(eta))
        .with_weight_decay(T::from_f64(0.2))
        .with_clip_norm(T::from_f64(0.25))
        .with_rounding(rounding);
    for seed in [1, 2, 3] {
        for want in [
            check_plain_step::<T, 1>(config, seed),
            check_plain_step::<T, 4>(config, seed),
        ] {
            let bound = largest(&want.weight_bound);
            assert!(want.c < 0.5, "the clip must be active: c = {}", want.c);
            assert!(
                want.clipped_away > 10.0 * bound && want.decay_term > 10.0 * bound,
                "the test must see a missing clip ({:.2e}) and a flipped decay ({:.2e}) \
                 above the rounding bound {bound:.2e}",
                want.clipped_away,
                want.decay_term
            );
        }
    }
    // Decay alone (no clip): the rule's other branch.
    let decay = Sgd::new(T::from_f64(eta))
        .with_weight_decay(T::from_f64(0.2))
        .with_rounding(rounding);
    let want = check_plain_step::<T, 2>(decay, 4);
    assert_eq!(want.c, 1.0);
    assert!(want.decay_term > 10.0 * largest(&want.weight_bound));
}

#[test]
fn clipping_and_weight_decay_follow_their_definition_in_f32() {
    clip_and_decay::<f32>(0.1, Rounding::Nearest);
}

#[test]
fn clipping_and_weight_decay_follow_their_definition_in_q16() {
    clip_and_decay::<Q16>(0.25, Rounding::Nearest);
    clip_and_decay::<Q16>(0.25, Rounding::default());
}

#[test]
fn clipping_and_weight_decay_follow_their_definition_in_q12() {
    clip_and_decay::<Q12>(0.25, Rounding::Nearest);
    clip_and_decay::<Q12>(0.25, Rounding::default());
}

/// Two steps of [`BufferedSgd`] with momentum: the second must carry mu times the first
/// step's velocity. Each step is checked from the weights and velocity the core holds before
/// it, so the bound stays one step's.
fn momentum<T: Format>(mu: f64, rounding: Rounding) {
    const B: usize = 2;
    let config = Sgd::new(T::from_f64(0.1))
        .with_momentum(T::from_f64(mu))
        .with_weight_decay(T::from_f64(0.05))
        .with_rounding(rounding);
    let (mut net, xs, ys) = setup::<T, B>(7);
    let mut sgd = BufferedSgd::<T, Net<T>, B>::new(config).unwrap();
    let mut rng = Rng::new(8);
    let mut batch = (xs, ys);
    for step in 0..3 {
        let maps = factors(&net, config, &batch.0, &batch.1);
        let w = to_f64(&params(&net));
        let v = to_f64(&params(sgd.velocity()));
        let want = expected(&w, &v, &maps, Hyper::of(&config), B, T::precision(rounding));
        let taken = sgd.step(&mut net, &batch.0, &batch.1).unwrap();
        assert_eq!(
            taken.saturations, 0,
            "a saturated step is outside the definition"
        );
        let got_w = to_f64(&params(&net));
        let got_v = to_f64(&params(sgd.velocity()));
        let rw = worst_ratio(&got_w, &want.weights, &want.weight_bound);
        let rv = worst_ratio(&got_v, &want.velocity, &want.velocity_bound);
        println!(
            "momentum {} step {step}: worst ratio to bound: weights {rw:.3}, velocity {rv:.3}",
            core::any::type_name::<T>()
        );
        assert!(
            rw <= 1.0 && rv <= 1.0,
            "step {step}: weights {rw}, velocity {rv}"
        );
        if step > 0 {
            let bound = largest(&want.weight_bound);
            assert!(
                want.momentum_term > 10.0 * bound,
                "the test must see a dropped momentum term ({:.2e}) above the bound {bound:.2e}",
                want.momentum_term
            );
        }
        let xs = small_batch(&mut rng);
        batch = (xs, targets(&xs, &mut rng));
    }
}

#[test]
fn momentum_follows_its_definition() {
    momentum::<f32>(0.9, Rounding::Nearest);
    momentum::<Q16>(0.9, Rounding::Nearest);
    momentum::<Q16>(0.5, Rounding::default());
    momentum::<Q12>(0.9, Rounding::Nearest);
    momentum::<Q12>(0.5, Rounding::default());
}

/// What a step reports for a quadratic loss: the batch mean (1/B) sum_b 1/2 ||f(x_b) - y_b||^2
/// at the weights before the step, recomputed here in f64 from the network's own outputs
/// (`apply_batch`, the same kernels and batch as the step's forward pass, so the same f32
/// outputs). The core rounds each squared difference and its sum over the D outputs (2 D eps
/// relative, every term non-negative), the sum over the batch (B - 1 eps), 1/B and the final
/// product (2 eps): within (2 D + B + 1) eps of the loss, eps = 2^-24.
fn reports_the_mean_loss<const B: usize>(buffered: bool) {
    let mut rng = Rng::new(11 + B as u64);
    let net = randomised(&Net::<f32>::identity(), &mut rng, 0.3);
    let xs = batch_of::<f32, D, B>(&mut rng);
    let ys = batch_of::<f32, D, B>(&mut rng);
    let outputs = net.apply_batch(&xs);
    let mean: f64 = outputs
        .iter()
        .zip(&ys)
        .map(|(p, y)| {
            let sq: f64 = (0..D)
                .map(|i| (p[i].to_f64() - y[i].to_f64()).powi(2))
                .sum();
            sq / 2.0
        })
        .sum::<f64>()
        / B as f64;
    let config = Sgd::new(0.01f32).with_momentum(0.5);
    let mut trained = net;
    let step = if buffered {
        BufferedSgd::<f32, Net<f32>, B>::new(config)
            .unwrap()
            .step(&mut trained, &xs, &ys)
    } else {
        FusedSgd::<f32, Net<f32>, B>::new(Sgd::new(0.01))
            .unwrap()
            .step(&mut trained, &xs, &ys)
    }
    .unwrap();
    let eps = f64::from(f32::EPSILON) / 2.0;
    let bound = (2 * D + B + 1) as f64 * eps * mean;
    let error = (step.loss.to_f64() - mean).abs();
    assert!(
        error <= bound,
        "B = {B}, buffered {buffered}: loss {} against {mean} (error {error:e} > {bound:e})",
        step.loss
    );
    assert_eq!(
        step.correct, 0,
        "a quadratic loss counts no correct predictions"
    );
}

/// And for cross-entropy, how many predictions pick their target class (the first largest
/// logit), counted here from the same outputs.
fn reports_the_correct_count<const B: usize>() {
    let mut rng = Rng::new(23 + B as u64);
    let net = randomised(&Net::<f32>::identity(), &mut rng, 0.3);
    let xs = batch_of::<f32, D, B>(&mut rng);
    let outputs = net.apply_batch(&xs);
    // Half the targets from the argmax, half one class off it, so both outcomes occur.
    let targets: [usize; B] = core::array::from_fn(|b| (argmax(&outputs[b]) + b % 2) % D);
    let expected = (0..B)
        .filter(|&b| targets[b] == argmax(&outputs[b]))
        .count() as u32;
    let mut trained = net;
    let mut sgd = FusedSgd::<f32, Net<f32>, B, CrossEntropy>::new(Sgd::new(0.01)).unwrap();
    let step = sgd.step(&mut trained, &xs, &targets).unwrap();
    assert_eq!(step.correct, expected, "B = {B}");
}

#[test]
fn a_step_reports_the_loss_and_accuracy_before_it() {
    for buffered in [false, true] {
        reports_the_mean_loss::<1>(buffered);
        reports_the_mean_loss::<3>(buffered);
        reports_the_mean_loss::<8>(buffered);
    }
    reports_the_correct_count::<1>();
    reports_the_correct_count::<5>();
}
