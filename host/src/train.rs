//! Training and running a model in one of the compiled types ([`crate::compiled`]): the loop
//! behind `nearid train` (the core's [`FusedSgd`] on shuffled mini-batches, the validation
//! metrics after every epoch, the best epoch kept) and the forward pass behind `eval` and
//! `predict`.
//!
//! Data reach these functions standardised and zero-padded ([`Samples`]); the metrics are
//! computed in f64 from the network's outputs in its own arithmetic, in the data's units
//! (regression losses are scaled back by each target's standard deviation).

use crate::compiled::WIDTH;
use crate::compiled::{
    Class, Format, INPUTS, Job, OUTPUTS, Padded, PaddedCrossEntropy, from_padded, to_padded,
};
use crate::network::Network;
use nearid::fixed::Rounding;
use nearid::grow::{block_gradient_norms_sq, largest};
use nearid::{
    Activation, FusedSgd, Grow, Loss, Model, Quadratic, Rng, Scalar, Sgd, Stall, Trainable, Vector,
};

/// The mini-batch sizes compiled.
pub const BATCHES: [usize; 3] = [1, 8, 32];

/// What the samples are compared with.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
    /// Regression targets (standardised), zero-padded to [`OUTPUTS`].
    Values(Vec<[f64; OUTPUTS]>),
    /// Classes 0 .. C - 1, and C.
    Classes(Vec<usize>, usize),
    /// None (prediction only).
    None,
}

/// Samples as the compiled networks take them: inputs standardised (or raw, for a folded
/// model) and zero-padded to [`INPUTS`].
#[derive(Clone, Debug, PartialEq)]
pub struct Samples {
    /// x, one row per sample.
    pub x: Vec<[f64; INPUTS]>,
    /// The targets.
    pub y: Targets,
}

impl Samples {
    /// The number of samples.
    pub fn len(&self) -> usize {
        self.x.len()
    }
    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.x.is_empty()
    }
}

/// Loss (and accuracy) of predictions against targets.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Metrics {
    /// Mean over the samples of 1/2 ||y^ - y||^2 (regression, in the data's units) or of the
    /// cross-entropy (classification).
    pub loss: f64,
    /// Classification: the fraction whose largest logit is the class.
    pub accuracy: Option<f64>,
    /// Regression: the root mean square error over samples and outputs, in the data's units.
    pub rmse: Option<f64>,
}

/// The metrics of `predictions` (padded rows, as [`predict`] returns them) for `targets`;
/// `scale` multiplies each output's residual (the targets' standard deviations, to report in
/// the data's units; ones for raw targets). `None` without targets or samples.
pub fn metrics(
    predictions: &[[f64; OUTPUTS]],
    targets: &Targets,
    scale: &[f64],
) -> Option<Metrics> {
    let n = predictions.len() as f64;
    if predictions.is_empty() {
        return None;
    }
    match targets {
        Targets::None => None,
        Targets::Values(y) => {
            let mut sq = 0.0;
            for (p, t) in predictions.iter().zip(y) {
                for (k, s) in scale.iter().enumerate() {
                    sq += (s * (p[k] - t[k])).powi(2);
                }
            }
            Some(Metrics {
                loss: 0.5 * sq / n,
                accuracy: None,
                rmse: Some((sq / (n * scale.len().max(1) as f64)).sqrt()),
            })
        }
        Targets::Classes(labels, c) => {
            let (mut loss, mut correct) = (0.0, 0usize);
            for (p, &label) in predictions.iter().zip(labels) {
                let z = &p[..*c];
                let m = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let s: f64 = z.iter().map(|v| (v - m).exp()).sum();
                loss += m + s.ln() - z[label];
                let first_max = z.iter().position(|&v| v == m).unwrap_or(0);
                correct += usize::from(first_max == label);
            }
            Some(Metrics {
                loss: loss / n,
                accuracy: Some(correct as f64 / n),
                rmse: None,
            })
        }
    }
}

/// A sample's input as the compiled type's vector.
fn input<T: Scalar>(x: &[f64; INPUTS]) -> Vector<T, INPUTS> {
    Vector::from_fn(|k, _| T::from_f64(x[k]))
}

/// The outputs of the compiled network for each row, one sample at a time (the form the
/// firmware runs), widened to f64.
pub fn predict_padded<T: Format, S: Activation, const H: usize, const M: usize>(
    net: &Padded<T, S, H, M>,
    x: &[[f64; INPUTS]],
) -> Vec<[f64; OUTPUTS]> {
    x.iter()
        .map(|x| {
            let y = net.apply(&input::<T>(x));
            core::array::from_fn(|k| y[k].to_f64())
        })
        .collect()
}

/// [`Job`]: the predictions of a network (already in the format's values) for rows of x.
#[derive(Debug)]
pub struct Predict<'a> {
    /// The network.
    pub network: &'a Network,
    /// The inputs, zero-padded.
    pub x: &'a [[f64; INPUTS]],
}

impl Job for Predict<'_> {
    type Output = Vec<[f64; OUTPUTS]>;
    fn run<T: Format, S: Activation, const H: usize, const M: usize>(self) -> Self::Output {
        predict_padded(&to_padded::<T, S, H, M>(self.network), self.x)
    }
}

/// The hyper-parameters of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
    /// Passes over the training samples.
    pub epochs: usize,
    /// Samples per step (one of [`BATCHES`]).
    pub batch: usize,
    /// eta.
    pub learning_rate: f64,
    /// Seeds the shuffles and the stochastic rounding of fixed-point updates.
    pub seed: u64,
    /// Grow depth when the loss stalls (the start depth is the initial network's active depth).
    pub grow: Option<Growth>,
}

/// How `nearid train --grow` grows: the core's [`Stall`] rule on the training loss (each step's
/// batch mean), and where the block goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Growth {
    /// Steps per window of the stall rule.
    pub window: u32,
    /// The relative improvement below which a window has stalled.
    pub threshold: f32,
    /// After the block with the largest gradient (true) or at the end.
    pub after_largest: bool,
}

/// The scale of a new block's W1 ~ N(0, scale^2): 1/sqrt(D), as [`Network::init`] starts
/// every block.
pub fn growth_scale() -> f64 {
    1.0 / (WIDTH as f64).sqrt()
}

/// One growth of `nearid train --grow`, measured at the insertion.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct GrowthEvent {
    /// 1-based epoch.
    pub epoch: usize,
    /// 1-based step of the whole run whose window stalled (the block is there from the next).
    pub step: usize,
    /// m after the growth.
    pub depth: usize,
    /// The new block's index (0-based): it follows block `position` (1-based) of before.
    pub position: usize,
    /// Whether the position was the largest gradient's (else the end).
    pub after_largest: bool,
    /// Mean training loss of the window that stalled (standardised units for regression).
    pub window_loss: f64,
    /// ||dL/dW2||_F of the new block at the insertion, dL/dW2 = mean_j dy_j a_j^T over the
    /// training samples (whole batches), a_j = s(W1 z_j + b1).
    pub w2_gradient: f64,
    /// sqrt(mean_j ||dy_j||^2): the loss's derivative at the new block's output on the same
    /// samples (for the quadratic loss the sample form of ||D_(h_i) Q|| of docs/THEORY.md
    /// section 5, which Theorem 3 bounds below; ||dL/dW2|| <= it times the RMS of |a_j|).
    pub layer_gradient: f64,
    /// sqrt(mean_j ||a_j||^2).
    pub activation_rms: f64,
}

/// Why `nearid train --grow` prints no Theorem-3 bound beside the gradient (docs/GROWTH.md
/// computes it where it can be).
pub fn theorem3_note(classify: bool) -> &'static str {
    if classify {
        "Theorem 3 is about the quadratic loss: no bound for cross-entropy"
    } else {
        "Theorem-3 bound not computable on file data: it needs Q(h*) (the targets' noise, \
         unknown here), and the input and output layers are not near-identity maps \
         (docs/GROWTH.md computes it on a noise-free smooth map)"
    }
}

/// One epoch's record.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Epoch {
    /// Mean of the steps' losses (each measured before its update, in the network's own
    /// arithmetic, in standardised units for regression).
    pub train_loss: f64,
    /// Classification: the fraction of training samples classified right during the epoch.
    pub train_accuracy: Option<f64>,
    /// The validation metrics after the epoch (in the data's units).
    pub val: Option<Metrics>,
    /// Steps the core refused (a non-finite loss or gradient; the weights were kept).
    pub refused: usize,
    /// Fixed-point results clamped to the format's range during the epoch.
    pub saturations: u64,
}

/// What training gave: the network of the best admissible epoch (by validation loss; the last
/// without validation data), in the coordinates it was trained in.
#[derive(Clone, Debug, PartialEq)]
pub struct Trained {
    /// The network, trimmed to the user's shape.
    pub network: Network,
    /// 1-based; 0 if no epoch was finite and admissible (the network is then the last).
    pub best_epoch: usize,
    /// Every epoch.
    pub history: Vec<Epoch>,
    /// Every growth (empty without --grow).
    pub growths: Vec<GrowthEvent>,
    /// sum over the steps taken of the blocks in use (the compute of the run in block-steps).
    pub compute: u64,
    /// The steps taken (not refused).
    pub steps: usize,
}

/// [`Job`]: train `init` on `train`, validating on `val`, calling `on_epoch` after each epoch.
pub struct Train<'a> {
    /// Where training starts (its values already fit the format).
    pub init: &'a Network,
    /// The training samples.
    pub train: &'a Samples,
    /// The validation samples (possibly none).
    pub val: &'a Samples,
    /// Each regression target's standard deviation (for metrics in the data's units).
    pub scale: &'a [f64],
    /// Hyper-parameters.
    pub settings: Settings,
    /// Progress.
    pub on_epoch: &'a mut dyn FnMut(usize, &Epoch),
    /// Whether an epoch's network may be kept (a fixed-point model must still fit its format
    /// once the standardisation is folded in): the best epoch is the best admissible one.
    pub admissible: &'a dyn Fn(&Network) -> bool,
}

impl std::fmt::Debug for Train<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Train")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// A loss the tool trains with, and how its target is built from [`Targets`].
pub trait HostLoss<T: Scalar>: Loss<T, OUTPUTS> {
    /// Sample i's target.
    fn target(y: &Targets, i: usize) -> Self::Target;
}

impl<T: Scalar> HostLoss<T> for Quadratic {
    fn target(y: &Targets, i: usize) -> Vector<T, OUTPUTS> {
        match y {
            Targets::Values(v) => Vector::from_fn(|k, _| T::from_f64(v[i][k])),
            _ => Vector::from_element(T::ZERO),
        }
    }
}

impl<T: Scalar> HostLoss<T> for PaddedCrossEntropy {
    fn target(y: &Targets, i: usize) -> Class {
        match y {
            Targets::Classes(labels, c) => Class {
                class: labels[i],
                classes: *c,
            },
            _ => Class {
                class: 0,
                classes: 1,
            },
        }
    }
}

impl Job for Train<'_> {
    type Output = Result<Trained, String>;
    fn run<T: Format, S: Activation, const H: usize, const M: usize>(self) -> Self::Output {
        let classify = matches!(self.train.y, Targets::Classes(..));
        match (classify, self.settings.batch) {
            (false, 1) => train_loop::<T, S, Quadratic, H, M, 1>(self),
            (false, 8) => train_loop::<T, S, Quadratic, H, M, 8>(self),
            (false, 32) => train_loop::<T, S, Quadratic, H, M, 32>(self),
            (true, 1) => train_loop::<T, S, PaddedCrossEntropy, H, M, 1>(self),
            (true, 8) => train_loop::<T, S, PaddedCrossEntropy, H, M, 8>(self),
            (true, 32) => train_loop::<T, S, PaddedCrossEntropy, H, M, 32>(self),
            (_, b) => Err(format!(
                "--batch {b} is not compiled (the tool trains with B = 1, 8 or 32)"
            )),
        }
    }
}

/// Fisher-Yates with the core's seeded generator.
pub fn shuffle(order: &mut [usize], rng: &mut Rng) {
    for i in (1..order.len()).rev() {
        let j = (rng.next_u64() % (i as u64 + 1)) as usize;
        order.swap(i, j);
    }
}

fn train_loop<T, S, L, const H: usize, const M: usize, const B: usize>(
    job: Train<'_>,
) -> Result<Trained, String>
where
    T: Format,
    S: Activation,
    L: HostLoss<T>,
{
    let Train {
        init,
        train,
        val,
        scale,
        settings,
        on_epoch,
        admissible,
    } = job;
    if train.len() < B {
        return Err(format!(
            "{} training samples, fewer than one batch of {B}",
            train.len()
        ));
    }
    let eta = T::from_f64(settings.learning_rate);
    let rounding = Rounding::Stochastic {
        seed: (settings.seed as u32) ^ 0x9E37_79B9,
    };
    let mut sgd =
        FusedSgd::<T, Padded<T, S, H, M>, B, L>::new(Sgd::new(eta).with_rounding(rounding))
            .map_err(|_| {
                format!(
                    "--lr {} is not a usable learning rate in {} (it must be positive and \
             representable{})",
                    settings.learning_rate,
                    T::NAME.label(),
                    match T::NAME.step() {
                        0.0 => String::new(),
                        s => format!("; the format's step is {s:e}"),
                    }
                )
            })?;
    let mut net = to_padded::<T, S, H, M>(init);
    let mut rng = Rng::new(settings.seed);
    // Its own generator, so that a run without growth draws what it always drew.
    let mut grow_rng = Rng::new(settings.seed ^ 0x6_0A_57);
    let mut stall = settings.grow.map(|g| Stall::new(g.window, g.threshold));
    let (mut window_sum, mut window_steps) = (0.0f64, 0u32);
    let mut growths = Vec::new();
    let (mut compute, mut global_step, mut taken) = (0u64, 0usize, 0usize);
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut history = Vec::with_capacity(settings.epochs);
    let mut best: Option<(f64, usize, Padded<T, S, H, M>)> = None;
    for epoch in 1..=settings.epochs {
        shuffle(&mut order, &mut rng);
        let (mut sum, mut steps, mut refused, mut correct, mut saturations) = (0.0, 0, 0, 0, 0);
        for chunk in order.chunks_exact(B) {
            let xs: [Vector<T, INPUTS>; B] = core::array::from_fn(|b| input(&train.x[chunk[b]]));
            let ts: [<L as Loss<T, OUTPUTS>>::Target; B] =
                core::array::from_fn(|b| L::target(&train.y, chunk[b]));
            let m = net.blocks.active_depth();
            global_step += 1;
            match sgd.step(&mut net, &xs, &ts) {
                Ok(step) => {
                    compute += m as u64;
                    taken += 1;
                    sum += step.loss.to_f64();
                    steps += 1;
                    correct += step.correct as usize;
                    saturations += u64::from(step.saturations);
                    let (Some(rule), Some(g)) = (stall.as_mut(), settings.grow) else {
                        continue;
                    };
                    window_sum += step.loss.to_f64();
                    window_steps += 1;
                    let stalled = rule.observe(step.loss.to_f64() as f32);
                    let window_loss = window_sum / f64::from(window_steps.max(1));
                    if window_steps >= g.window {
                        (window_sum, window_steps) = (0.0, 0);
                    }
                    // Up to the user's M (the compiled type holds CAPACITY blocks).
                    if !stalled || m >= init.depth().min(M) {
                        continue;
                    }
                    // After the block with the largest gradient on this step's batch (the
                    // tape holds its backward pass), or after the last.
                    let position = if g.after_largest {
                        let norms = block_gradient_norms_sq::<T, _, B, M>(&mut net, sgd.tape(), 1);
                        largest(&norms, m) + 1
                    } else {
                        m
                    };
                    if net.grow(position, &mut grow_rng, growth_scale()).is_err() {
                        continue;
                    }
                    // Keep the padding exact: the new W1's columns past the user's width are 0.
                    let width = init.width();
                    let w1 = &mut net.blocks.blocks[position].w1;
                    for k in width..WIDTH {
                        for j in 0..H {
                            w1[(j, k)] = T::ZERO;
                        }
                    }
                    let (w2_gradient, layer_gradient, activation_rms) =
                        new_block_gradient::<T, S, L, H, M, B>(&net, train, position);
                    growths.push(GrowthEvent {
                        epoch,
                        step: global_step,
                        depth: m + 1,
                        position,
                        after_largest: g.after_largest,
                        window_loss,
                        w2_gradient,
                        layer_gradient,
                        activation_rms,
                    });
                    rule.restart();
                    (window_sum, window_steps) = (0.0, 0);
                }
                Err(_) => refused += 1,
            }
        }
        let seen = (steps * B) as f64;
        let record = Epoch {
            train_loss: if steps > 0 {
                sum / steps as f64
            } else {
                f64::NAN
            },
            train_accuracy: matches!(train.y, Targets::Classes(..))
                .then(|| correct as f64 / seen.max(1.0)),
            val: metrics(&predict_padded(&net, &val.x), &val.y, scale),
            refused,
            saturations,
        };
        // The best epoch by validation loss; without validation data, the last.
        let score = record.val.map_or(0.0, |m| m.loss);
        let better = best
            .as_ref()
            .is_none_or(|(s, _, _)| score < *s || val.is_empty());
        if score.is_finite() && better && admissible(&from_padded(&net, init)) {
            best = Some((score, epoch, net));
        }
        on_epoch(epoch, &record);
        history.push(record);
    }
    let (best_epoch, net) = match best {
        Some((_, e, n)) => (e, n),
        None => (0, net),
    };
    Ok(Trained {
        network: from_padded(&net, init),
        best_epoch,
        history,
        growths,
        compute,
        steps: taken,
    })
}

/// (||dL/dW2||_F, sqrt(mean_j ||dy_j||^2), sqrt(mean_j ||a_j||^2)) of block `position` over
/// the training samples in whole batches of B, in f64 from the network's own arithmetic
/// (dy_j = dL_j/dy, each sample's own loss, unscaled; the means divide in f64).
fn new_block_gradient<T, S, L, const H: usize, const M: usize, const B: usize>(
    net: &Padded<T, S, H, M>,
    train: &Samples,
    position: usize,
) -> (f64, f64, f64)
where
    T: Format,
    S: Activation,
    L: HostLoss<T>,
{
    let mut tape = Box::new(<Padded<T, S, H, M> as Trainable<T>>::new_tape::<B>());
    let mut w2 = vec![0.0f64; WIDTH * H];
    let (mut dy_sq, mut a_sq, mut n) = (0.0f64, 0.0f64, 0usize);
    let rows: Vec<usize> = (0..train.len()).collect();
    for chunk in rows.chunks_exact(B) {
        let xs: [Vector<T, INPUTS>; B] = core::array::from_fn(|b| input(&train.x[chunk[b]]));
        let ys = net.forward_with::<T::Kernels, B>(&xs, &mut tape);
        let dys: [Vector<T, OUTPUTS>; B] =
            core::array::from_fn(|b| L::gradient(&ys[b], &L::target(&train.y, chunk[b]), T::ONE));
        net.backward_with::<T::Kernels, B>(&dys, &mut tape);
        for record in &tape.blocks.blocks[position] {
            let dy: Vec<f64> = record.dy.iter().map(|v| v.to_f64()).collect();
            let a: Vec<f64> = record.a.iter().map(|v| v.to_f64()).collect();
            for (j, aj) in a.iter().enumerate() {
                for (k, dk) in dy.iter().enumerate() {
                    w2[j * WIDTH + k] += dk * aj;
                }
            }
            dy_sq += dy.iter().map(|v| v * v).sum::<f64>();
            a_sq += a.iter().map(|v| v * v).sum::<f64>();
            n += 1;
        }
    }
    let n = n.max(1) as f64;
    let w2_norm = w2.iter().map(|g| (g / n).powi(2)).sum::<f64>().sqrt();
    (w2_norm, (dy_sq / n).sqrt(), (a_sq / n).sqrt())
}
