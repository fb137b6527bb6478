//! The growth report (`nearid verify growth`, docs/GROWTH.md): does growing depth when the
//! loss stalls pay, against a network that stays shallow and one that is deep from the start?
//!
//! Three tasks where one block is not enough (a smooth map of smooth_maps.rs, a
//! classification, a sawtooth), four variants each, trained by the core's `FusedSgd` in f32 on
//! the same batches:
//!
//! - fixed shallow: m = 1 of the capacity M throughout;
//! - fixed full depth: m = M throughout;
//! - grown, identity insertion: from m = 1, one block per stall of the core's [`Stall`] rule,
//!   inserted by [`Grow::grow`] after the block with the largest gradient
//!   ([`block_gradient_norms_sq`], [`largest`]): W2 = b2 = 0, so the network's outputs keep
//!   every bit (checked at each growth on the validation inputs);
//! - grown, random insertion: the same rule and position, but W2 ~ N(0, [`Plan::random_w2`]^2)
//!   (AutoGrow's alternative): the network's function changes at each growth (measured).
//!
//! Compute is the sum over the steps of m (a step's cost is proportional to the blocks that
//! run). The variants are compared at the same number of steps N and at the same compute C*
//! (the identity-grown run's compute at N steps): every run goes on until it has taken N steps
//! and spent C*.

use std::fmt::Write as _;
use std::path::Path;

use nearid::grow::{block_gradient_norms_sq, largest};
use nearid::{
    CrossEntropy, Dense, FusedSgd, Grow, Loss, Model, Net, Quadratic, Relu, ResNet, ResidualBlock,
    Rng, Sgd, SmoothMap, Stall, Tanh, Trainable, Vector,
};
use plotters::prelude::*;

use crate::smooth_maps::TwoShears;
use crate::smooth_report::plot_error;

/// The number of tasks.
pub const TASKS: usize = 3;

/// A way of choosing the depth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Variant {
    /// m = 1 throughout.
    Shallow,
    /// m = M throughout.
    Full,
    /// Grown from 1, new blocks exactly the identity (W2 = 0).
    Identity,
    /// Grown from 1, new blocks with a small random W2 (the function changes).
    Random,
}

impl Variant {
    /// Every variant, in the report's order.
    pub const ALL: [Variant; 4] = [
        Variant::Shallow,
        Variant::Full,
        Variant::Identity,
        Variant::Random,
    ];

    /// The name in tables and plots.
    pub fn name(self) -> &'static str {
        match self {
            Variant::Shallow => "fixed shallow (m = 1)",
            Variant::Full => "fixed full depth (m = M)",
            Variant::Identity => "grown, identity insertion",
            Variant::Random => "grown, random insertion",
        }
    }

    fn grows(self) -> bool {
        matches!(self, Variant::Identity | Variant::Random)
    }
}

/// The settings of one task's runs (the same for its four variants).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// N, the steps every variant takes at least.
    pub steps: usize,
    /// Learning rate of plain SGD (batches of [`BATCH`]).
    pub lr: f64,
    /// The stall rule's window, in steps.
    pub window: u32,
    /// The stall rule's threshold (relative improvement of the window mean).
    pub threshold: f32,
    /// Validation every this many steps.
    pub eval_every: usize,
    /// A new block's W1 ~ N(0, w1^2) (both insertions; the initial blocks as well).
    pub w1: f64,
    /// A randomly inserted block's W2 ~ N(0, random_w2^2).
    pub random_w2: f64,
    /// Seeds the data, the initial network, the batches and the insertions.
    pub seed: u64,
}

/// Samples per step.
pub const BATCH: usize = 8;

/// One validation point of a run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point {
    /// Steps taken.
    pub step: usize,
    /// Compute spent: sum over the steps taken of m.
    pub compute: u64,
    /// m after the step.
    pub depth: usize,
    /// Mean validation loss.
    pub val_loss: f64,
}

/// Theorem 3 (docs/THEORY.md section 5) at the new layer, on the validation sample (f64).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theorem3At {
    /// The largest guaranteed upper bound sup|s'| ||W2|| ||W1|| over the blocks in use.
    pub eps: f64,
    /// Q(h) - Q(h*) = Q(h) (noise-free targets).
    pub excess: f64,
    /// ||D_(h_i) Q|| = sqrt(mean_j ||J_(>i)^T r_j||^2) at the new layer (f64).
    pub layer_gradient: f64,
    /// (1 - eps)^(m - 1) Q(h) / ||h - h*||, when eps < 1.
    pub bound: Option<f64>,
}

/// One growth.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Event {
    /// The step whose window stalled (the new block trains from the next).
    pub step: usize,
    /// m after the growth.
    pub depth: usize,
    /// The new block's index (0-based): after block `position` (1-based) of before.
    pub position: usize,
    /// Mean training loss of the window that stalled.
    pub window_loss: f64,
    /// ||dL/dW2||_F of the new block at the insertion, on the validation sample.
    pub w2_gradient: f64,
    /// sqrt(mean_j ||dy_j||^2) at the new block's output, same sample.
    pub layer_gradient: f64,
    /// Every validation output kept every bit at the insertion.
    pub unchanged: bool,
    /// The largest change of a validation output at the insertion.
    pub max_change: f64,
    /// Validation loss just before and just after the insertion.
    pub val_before: f64,
    /// See `val_before`.
    pub val_after: f64,
    /// Theorem 3 at the new layer, where the task allows it.
    pub theorem3: Option<Theorem3At>,
}

/// One variant's run.
#[derive(Clone, Debug, PartialEq)]
pub struct Run {
    /// Which.
    pub variant: Variant,
    /// Validation every [`Plan::eval_every`] steps, at N, and where the compute first
    /// reaches C*.
    pub points: Vec<Point>,
    /// Each growth.
    pub events: Vec<Event>,
    /// m of every step taken, in order (compute = their sum).
    pub depths: Vec<u8>,
    /// Steps refused by the core (non-finite).
    pub refused: usize,
}

impl Run {
    /// The point at N steps.
    pub fn at_steps(&self, n: usize) -> Option<&Point> {
        self.points.iter().find(|p| p.step == n)
    }
    /// The first point whose compute reaches `budget`.
    pub fn at_compute(&self, budget: u64) -> Option<&Point> {
        self.points.iter().find(|p| p.compute >= budget)
    }
}

/// One task's runs.
#[derive(Clone, Debug, PartialEq)]
pub struct TaskReport {
    /// Short name (file names).
    pub name: &'static str,
    /// What it is.
    pub description: &'static str,
    /// The network type.
    pub network: &'static str,
    /// M.
    pub capacity: usize,
    /// Its settings.
    pub plan: Plan,
    /// C*: the identity-grown run's compute at N steps.
    pub budget: u64,
    /// The loss ("quadratic" or "cross-entropy").
    pub loss: &'static str,
    /// Why Theorem 3 is or is not computed.
    pub theorem3_note: &'static str,
    /// Shallow, full, identity, random.
    pub runs: Vec<Run>,
}

impl TaskReport {
    /// The run of a variant.
    pub fn run(&self, v: Variant) -> &Run {
        // Every task runs every variant.
        &self.runs[Variant::ALL.iter().position(|&w| w == v).unwrap_or(0)]
    }
}

/// Networks whose blocks can be inserted at random, and whose tape shows a block's signals.
pub trait Growable<const I: usize, const O: usize>: Model<f32, I, O> + Grow + Copy {
    /// Affine maps before the first block (1 for a dense input layer).
    const BLOCKS_START: usize;
    /// Inserts before block `position` a block with W1 ~ N(0, w1^2), W2 ~ N(0, w2^2), zero
    /// biases.
    fn insert_random(&mut self, position: usize, rng: &mut Rng, w1: f64, w2: f64);
    /// (dy, a) of sample b at block `position` (after a backward pass).
    fn signals<const B: usize>(
        tape: &Self::Tape<B>,
        position: usize,
        b: usize,
    ) -> (Vec<f64>, Vec<f64>);
    /// Sets m.
    fn set_depth(&mut self, m: usize);
}

fn random_block<const D: usize, const H: usize, S: nearid::Activation>(
    rng: &mut Rng,
    w1: f64,
    w2: f64,
) -> ResidualBlock<f32, D, H, S> {
    let mut b = ResidualBlock::<f32, D, H, S>::identity_init(rng, w1);
    b.w2.iter_mut()
        .for_each(|w| *w = (w2 * rng.normal()) as f32);
    b
}

fn record_signals<const D: usize, const H: usize>(
    r: &nearid::BlockTape<f32, D, H>,
) -> (Vec<f64>, Vec<f64>) {
    (
        r.dy.iter().map(|&v| f64::from(v)).collect(),
        r.a.iter().map(|&v| f64::from(v)).collect(),
    )
}

impl<const D: usize, const H: usize, const M: usize, S: nearid::Activation> Growable<D, D>
    for ResNet<f32, D, H, M, S>
{
    const BLOCKS_START: usize = 0;
    fn insert_random(&mut self, position: usize, rng: &mut Rng, w1: f64, w2: f64) {
        let _ = self.insert(position, random_block(rng, w1, w2));
    }
    fn signals<const B: usize>(
        tape: &Self::Tape<B>,
        position: usize,
        b: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        record_signals(&tape.blocks[position][b])
    }
    fn set_depth(&mut self, m: usize) {
        let _ = self.set_active_depth(m);
    }
}

impl<
    const I: usize,
    const D: usize,
    const H: usize,
    const M: usize,
    const O: usize,
    S: nearid::Activation,
> Growable<I, O> for Net<f32, I, D, H, M, O, S, Dense<f32, I, D>, Dense<f32, D, O>>
{
    const BLOCKS_START: usize = 1;
    fn insert_random(&mut self, position: usize, rng: &mut Rng, w1: f64, w2: f64) {
        let _ = self.blocks.insert(position, random_block(rng, w1, w2));
    }
    fn signals<const B: usize>(
        tape: &Self::Tape<B>,
        position: usize,
        b: usize,
    ) -> (Vec<f64>, Vec<f64>) {
        record_signals(&tape.blocks.blocks[position][b])
    }
    fn set_depth(&mut self, m: usize) {
        let _ = self.blocks.set_active_depth(m);
    }
}

/// A data set: inputs and targets.
pub type Samples<const I: usize, T> = Vec<(Vector<f32, I>, T)>;

/// Mean loss of `net` on `data`.
fn mean_loss<N, L, const I: usize, const O: usize>(net: &N, data: &Samples<I, L::Target>) -> f64
where
    N: Model<f32, I, O>,
    L: Loss<f32, O>,
{
    let sum: f64 = data
        .iter()
        .map(|(x, t)| f64::from(L::value(&net.apply(x), t)))
        .sum();
    sum / data.len() as f64
}

/// (||dL/dW2||_F, sqrt(mean ||dy||^2)) of block `position` on `data`, per-sample losses.
fn block_gradient<N, L, const I: usize, const O: usize>(
    net: &N,
    data: &Samples<I, L::Target>,
    position: usize,
) -> (f64, f64)
where
    N: Growable<I, O>,
    L: Loss<f32, O>,
{
    let mut tape = N::new_tape::<1>();
    let mut w2: Vec<f64> = Vec::new();
    let mut dy_sq = 0.0;
    for (x, t) in data {
        let y = net.forward_tape(x, &mut tape);
        net.backward(&L::gradient(&y, t, 1.0), &mut tape);
        let (dy, a) = N::signals(&tape, position, 0);
        if w2.is_empty() {
            w2 = vec![0.0; dy.len() * a.len()];
        }
        for (j, aj) in a.iter().enumerate() {
            for (k, dk) in dy.iter().enumerate() {
                w2[j * dy.len() + k] += dk * aj;
            }
        }
        dy_sq += dy.iter().map(|v| v * v).sum::<f64>();
    }
    let n = data.len() as f64;
    (
        w2.iter().map(|g| (g / n).powi(2)).sum::<f64>().sqrt(),
        (dy_sq / n).sqrt(),
    )
}

/// A task's data, network and the Theorem-3 measurement where it applies.
pub struct Setup<'a, N, L: Loss<f32, O>, const I: usize, const O: usize> {
    /// The network every variant starts from (its depth is set by the variant).
    pub init: N,
    /// Training samples (batches drawn uniformly, with replacement).
    pub train: &'a Samples<I, L::Target>,
    /// Validation samples.
    pub val: &'a Samples<I, L::Target>,
    /// The settings.
    pub plan: Plan,
    /// Theorem 3 at a new layer (the network, the layer's index), where it applies.
    pub theorem3: Option<Theorem3Fn<'a, N>>,
}

/// Measures Theorem 3 at a new layer: (the network, the layer's index).
pub type Theorem3Fn<'a, N> = &'a dyn Fn(&N, usize) -> Theorem3At;

impl<N, L: Loss<f32, O>, const I: usize, const O: usize> std::fmt::Debug for Setup<'_, N, L, I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("plan", &self.plan)
            .field("train", &self.train.len())
            .field("val", &self.val.len())
            .finish_non_exhaustive()
    }
}

/// Trains one variant until it has taken `plan.steps` steps and spent `budget`.
pub fn run_variant<N, L, const I: usize, const O: usize, const M: usize>(
    setup: &Setup<'_, N, L, I, O>,
    variant: Variant,
    budget: u64,
) -> Run
where
    N: Growable<I, O>,
    L: Loss<f32, O>,
    L::Target: Copy,
{
    let plan = setup.plan;
    let mut net = setup.init;
    net.set_depth(if variant == Variant::Full { M } else { 1 });
    let mut sgd = FusedSgd::<f32, N, BATCH, L>::new(Sgd::new(plan.lr as f32))
        .unwrap_or_else(|_| unreachable!("the plans' rates are valid"));
    // The same batches for every variant; insertions draw from their own generator.
    let mut batches = Rng::new(plan.seed ^ 0xBA7C);
    let mut inserts = Rng::new(plan.seed ^ 0x1A5E);
    let mut stall = Stall::new(plan.window, plan.threshold);
    let (mut window_sum, mut window_steps) = (0.0f64, 0u32);
    let mut run = Run {
        variant,
        points: Vec::new(),
        events: Vec::new(),
        depths: Vec::new(),
        refused: 0,
    };
    let (mut compute, mut reached) = (0u64, budget == 0);
    let n = setup.train.len() as u64;
    let mut step = 0;
    while step < plan.steps || compute < budget {
        step += 1;
        let picks: [usize; BATCH] = core::array::from_fn(|_| (batches.next_u64() % n) as usize);
        let xs = picks.map(|i| setup.train[i].0);
        let ts = picks.map(|i| setup.train[i].1);
        let m = net.active_depth();
        let loss = match sgd.step(&mut net, &xs, &ts) {
            Ok(s) => s.loss,
            Err(_) => {
                run.refused += 1;
                run.depths.push(m as u8);
                compute += m as u64;
                continue;
            }
        };
        run.depths.push(m as u8);
        compute += m as u64;
        if variant.grows() {
            window_sum += f64::from(loss);
            window_steps += 1;
            let stalled = stall.observe(loss);
            let window_loss = window_sum / f64::from(window_steps);
            if window_steps >= plan.window {
                (window_sum, window_steps) = (0.0, 0);
            }
            if stalled && m < M {
                let norms = block_gradient_norms_sq::<f32, N, BATCH, M>(
                    &mut net,
                    sgd.tape(),
                    N::BLOCKS_START,
                );
                let position = largest(&norms, m) + 1;
                let before: Vec<Vector<f32, O>> =
                    setup.val.iter().map(|(x, _)| net.apply(x)).collect();
                let val_before = mean_loss::<N, L, I, O>(&net, setup.val);
                match variant {
                    Variant::Identity => {
                        let _ = net.grow(position, &mut inserts, plan.w1);
                    }
                    _ => net.insert_random(position, &mut inserts, plan.w1, plan.random_w2),
                }
                let after: Vec<Vector<f32, O>> =
                    setup.val.iter().map(|(x, _)| net.apply(x)).collect();
                let (mut unchanged, mut max_change) = (true, 0.0f64);
                for (p, q) in before.iter().zip(&after) {
                    for (a, b) in p.iter().zip(q.iter()) {
                        unchanged &= a.to_bits() == b.to_bits();
                        max_change = max_change.max(f64::from((a - b).abs()));
                    }
                }
                let (w2_gradient, layer_gradient) =
                    block_gradient::<N, L, I, O>(&net, setup.val, position);
                run.events.push(Event {
                    step,
                    depth: m + 1,
                    position,
                    window_loss,
                    w2_gradient,
                    layer_gradient,
                    unchanged,
                    max_change,
                    val_before,
                    val_after: mean_loss::<N, L, I, O>(&net, setup.val),
                    theorem3: setup.theorem3.map(|f| f(&net, position)),
                });
                stall.restart();
                (window_sum, window_steps) = (0.0, 0);
            }
        }
        let crossing = !reached && compute >= budget;
        reached |= crossing;
        if step % plan.eval_every == 0 || step == plan.steps || crossing {
            run.points.push(Point {
                step,
                compute,
                depth: net.active_depth(),
                val_loss: mean_loss::<N, L, I, O>(&net, setup.val),
            });
        }
    }
    run
}

/// The four variants of a task (identity-grown first: its compute at N is C*), as C* and the
/// runs in the report's order.
pub fn run_task<N, L, const I: usize, const O: usize, const M: usize>(
    setup: &Setup<'_, N, L, I, O>,
    progress: &mut dyn FnMut(&str),
    name: &str,
) -> (u64, Vec<Run>)
where
    N: Growable<I, O>,
    L: Loss<f32, O>,
    L::Target: Copy,
{
    progress(&format!("{name}: {}", Variant::Identity.name()));
    let identity = run_variant::<N, L, I, O, M>(setup, Variant::Identity, 0);
    let budget = identity.at_steps(setup.plan.steps).map_or(0, |p| p.compute);
    let mut runs = Vec::new();
    for v in [Variant::Shallow, Variant::Full] {
        progress(&format!("{name}: {}", v.name()));
        runs.push(run_variant::<N, L, I, O, M>(setup, v, budget));
    }
    runs.push(identity);
    progress(&format!("{name}: {}", Variant::Random.name()));
    runs.push(run_variant::<N, L, I, O, M>(setup, Variant::Random, budget));
    (budget, runs)
}

/// Uniform in the unit disc.
fn disc_point(rng: &mut Rng) -> Vector<f32, 2> {
    let r = rng.uniform().sqrt();
    let t = std::f64::consts::TAU * rng.uniform();
    Vector::<f32, 2>::new((r * t.cos()) as f32, (r * t.sin()) as f32)
}

/// Task 1's network.
pub type DiscNet = ResNet<f32, 2, 4, 8, Tanh>;

/// Theorem 3 at layer `position` of the disc network, in f64, on `xs` against the exact map.
pub fn disc_theorem3(net: &DiscNet, position: usize, xs: &[Vector<f32, 2>]) -> Theorem3At {
    let h = TwoShears::DISC;
    let net = net.cast::<f64>();
    let m = net.active_depth();
    let eps = net.residual_lipschitz_uppers()[..m]
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let mut tape = ResNet::<f64, 2, 4, 8, Tanh>::new_tape::<1>();
    let (mut q, mut dy_sq) = (0.0, 0.0);
    for x in xs {
        let x = x.map(f64::from);
        let r = net.forward_tape(&x, &mut tape) - h.value(&x);
        q += 0.5 * r.norm_squared();
        net.backward(&r, &mut tape);
        dy_sq += tape.blocks[position][0].dy.norm_squared();
    }
    let n = xs.len() as f64;
    let q = q / n;
    let distance = (2.0 * q).sqrt();
    Theorem3At {
        eps,
        excess: q,
        layer_gradient: (dy_sq / n).sqrt(),
        bound: (eps < 1.0 && distance > 0.0).then(|| (1.0 - eps).powi(m as i32 - 1) * q / distance),
    }
}

/// The plans of the three tasks.
pub const DISC_PLAN: Plan = Plan {
    steps: 12_000,
    lr: 0.05,
    window: 400,
    threshold: 0.02,
    eval_every: 200,
    w1: 0.7,
    random_w2: 0.05,
    seed: 1,
};

/// Task 2: two interleaved spirals.
pub type SpiralNet = Net<f32, 2, 8, 8, 8, 2, Relu>;

/// See [`DISC_PLAN`].
pub const SPIRAL_PLAN: Plan = Plan {
    w1: 0.35,
    seed: 2,
    ..DISC_PLAN
};

/// Task 3: the sawtooth t(t(t(x))), t the tent map.
pub type SawNet = Net<f32, 1, 4, 8, 8, 1, Relu>;

/// See [`DISC_PLAN`].
pub const SAW_PLAN: Plan = Plan {
    w1: 0.5,
    seed: 3,
    ..DISC_PLAN
};

/// Two spirals of `n` points each, labels 0 and 1, radius up to 1, 1.5 turns, with noise.
fn spirals(n: usize, rng: &mut Rng) -> Samples<2, usize> {
    let mut out = Vec::with_capacity(2 * n);
    for i in 0..2 * n {
        let class = i % 2;
        let t = rng.uniform();
        let angle = 3.0 * std::f64::consts::PI * t + std::f64::consts::PI * class as f64;
        let r = 0.1 + 0.9 * t;
        let x = r * angle.cos() + 0.03 * rng.normal();
        let y = r * angle.sin() + 0.03 * rng.normal();
        out.push((Vector::<f32, 2>::new(x as f32, y as f32), class));
    }
    out
}

fn tent(x: f64) -> f64 {
    1.0 - (2.0 * x - 1.0).abs()
}

/// The sawtooth on [0, 1] (8 teeth), scaled to [-1, 1] in and out.
fn sawtooth(n: usize, rng: &mut Rng) -> Samples<1, Vector<f32, 1>> {
    (0..n)
        .map(|_| {
            let u = rng.uniform();
            let y = tent(tent(tent(u)));
            (
                Vector::<f32, 1>::new((2.0 * u - 1.0) as f32),
                Vector::<f32, 1>::new((2.0 * y - 1.0) as f32),
            )
        })
        .collect()
}

/// Every measurement of the report, calling `progress` before each of its 4 [`TASKS`] runs.
pub fn measure(progress: impl FnMut(&str)) -> Vec<TaskReport> {
    measure_with([DISC_PLAN, SPIRAL_PLAN, SAW_PLAN], progress)
}

/// [`measure`] with other plans (disc, spirals, sawtooth).
pub fn measure_with(plans: [Plan; TASKS], mut progress: impl FnMut(&str)) -> Vec<TaskReport> {
    let [disc_plan, spiral_plan, saw_plan] = plans;
    let mut reports = Vec::new();

    // Task 1: the disc map, noise-free, a pure residual network: Theorem 3 applies.
    let mut rng = Rng::new(disc_plan.seed);
    let h = TwoShears::DISC;
    let disc = |n: usize, rng: &mut Rng| -> Samples<2, Vector<f32, 2>> {
        (0..n)
            .map(|_| {
                let x = disc_point(rng);
                (x, h.value(&x.map(f64::from)).map(|v| v as f32))
            })
            .collect()
    };
    let train = disc(2000, &mut rng);
    let val = disc(500, &mut rng);
    let xs: Vec<Vector<f32, 2>> = val.iter().map(|(x, _)| *x).collect();
    let t3 = |net: &DiscNet, position: usize| disc_theorem3(net, position, &xs);
    let setup = Setup::<DiscNet, Quadratic, 2, 2> {
        init: DiscNet::identity_init(&mut rng, disc_plan.w1),
        train: &train,
        val: &val,
        plan: disc_plan,
        theorem3: Some(&t3),
    };
    let (budget, runs) = run_task::<_, _, 2, 2, 8>(&setup, &mut progress, "disc");
    reports.push(TaskReport {
        name: "disc",
        description: "the disc map of smooth_maps.rs (two shears, (x + y^2/2, then y + u^2/2)), \
                      x uniform in the unit disc, noise-free targets; 2000 training and 500 \
                      validation points",
        network: "ResNet<f32, D=2, H=4, M=8, Tanh> (no input or output layer)",
        capacity: 8,
        plan: disc_plan,
        budget,
        loss: "quadratic, 1/2 ||y^ - y||^2",
        theorem3_note: "computed: noise-free targets (Q(h*) = 0), a pure residual network of \
                        tanh blocks, eps from the core's guaranteed bound sup|s'| ||W2|| ||W1||",
        runs,
    });

    // Task 2: two spirals, softmax cross-entropy.
    let mut rng = Rng::new(spiral_plan.seed);
    let train = spirals(1000, &mut rng);
    let val = spirals(250, &mut rng);
    let setup = Setup::<SpiralNet, CrossEntropy, 2, 2> {
        init: SpiralNet::init(&mut rng, spiral_plan.w1),
        train: &train,
        val: &val,
        plan: spiral_plan,
        theorem3: None,
    };
    let (budget, runs) = run_task::<_, _, 2, 2, 8>(&setup, &mut progress, "spirals");
    reports.push(TaskReport {
        name: "spirals",
        description: "two interleaved spirals (1.5 turns, radius 0.1 to 1, noise 0.03), 2 \
                      classes; 2000 training and 500 validation points",
        network: "Net<f32, 2, D=8, H=8, M=8, 2, Relu> (dense input and output layers)",
        capacity: 8,
        plan: spiral_plan,
        budget,
        loss: "softmax cross-entropy",
        theorem3_note: "not computed: Theorem 3 is about the quadratic loss",
        runs,
    });

    // Task 3: the sawtooth, a depth-separation example (Telgarsky): 8 linear pieces.
    let mut rng = Rng::new(saw_plan.seed);
    let train = sawtooth(2000, &mut rng);
    let val = sawtooth(500, &mut rng);
    let setup = Setup::<SawNet, Quadratic, 1, 1> {
        init: SawNet::init(&mut rng, saw_plan.w1),
        train: &train,
        val: &val,
        plan: saw_plan,
        theorem3: None,
    };
    let (budget, runs) = run_task::<_, _, 1, 1, 8>(&setup, &mut progress, "sawtooth");
    reports.push(TaskReport {
        name: "sawtooth",
        description: "y = t(t(t(x))) with the tent map t(x) = 1 - |2x - 1| (8 teeth), x \
                      uniform in [0, 1], both scaled to [-1, 1]; 2000 training and 500 \
                      validation points",
        network: "Net<f32, 1, D=4, H=8, M=8, 1, Relu> (dense input and output layers)",
        capacity: 8,
        plan: saw_plan,
        budget,
        loss: "quadratic, 1/2 ||y^ - y||^2",
        theorem3_note: "not computed: the input and output layers are not near-identity maps \
                        (the theorem is about compositions of near-identity maps) and ReLU \
                        blocks have no smooth-activation bound",
        runs,
    });
    reports
}

/// The comparison table (markdown): per task and variant, the loss and compute at N steps and
/// the loss at the same compute C*.
pub fn table(reports: &[TaskReport]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| task | variant | final m | growths | val loss at N steps | compute at N | val loss at compute C* | steps to C* |"
    );
    let _ = writeln!(s, "|---|---|---|---|---|---|---|---|");
    for t in reports {
        for r in &t.runs {
            let n = r.at_steps(t.plan.steps);
            let c = r.at_compute(t.budget);
            let _ = writeln!(
                s,
                "| {} (N = {}, C* = {}) | {} | {} | {} | {} | {} | {} | {} |",
                t.name,
                t.plan.steps,
                t.budget,
                r.variant.name(),
                r.points.last().map_or(0, |p| p.depth),
                r.events.len(),
                n.map_or("-".into(), |p| format!("{:.3e}", p.val_loss)),
                n.map_or("-".into(), |p| p.compute.to_string()),
                c.map_or("-".into(), |p| format!("{:.3e}", p.val_loss)),
                c.map_or("-".into(), |p| p.step.to_string()),
            );
        }
    }
    s
}

fn ratio_text(a: f64, b: f64) -> String {
    if a <= b {
        format!("{:.2}x lower", b / a)
    } else {
        format!("{:.2}x higher", a / b)
    }
}

/// What the numbers say, task by task, in sentences built from them.
fn findings(t: &TaskReport) -> String {
    let mut s = String::new();
    let at_c = |v: Variant| {
        t.run(v)
            .at_compute(t.budget)
            .map_or(f64::NAN, |p| p.val_loss)
    };
    let at_n = |v: Variant| {
        t.run(v)
            .at_steps(t.plan.steps)
            .map_or(f64::NAN, |p| p.val_loss)
    };
    let (id_c, full_c, rnd_c, sh_c) = (
        at_c(Variant::Identity),
        at_c(Variant::Full),
        at_c(Variant::Random),
        at_c(Variant::Shallow),
    );
    let _ = writeln!(
        s,
        "- At the same compute C* = {}: identity-grown {:.3e}, full depth {:.3e} (grown is {}), \
         shallow {:.3e} (grown is {}). Growth {} here.",
        t.budget,
        id_c,
        full_c,
        ratio_text(id_c, full_c),
        sh_c,
        ratio_text(id_c, sh_c),
        verdict(id_c, full_c.min(sh_c))
    );
    let sh_n = at_n(Variant::Shallow);
    let _ = writeln!(
        s,
        "- Fixed shallow from N to C* steps ({} to {}): {:.3e} -> {:.3e}: {}.",
        t.plan.steps,
        t.run(Variant::Shallow)
            .at_compute(t.budget)
            .map_or(0, |p| p.step),
        sh_n,
        sh_c,
        if sh_c * CLEAR < sh_n {
            "one block is still learning (the stall rule fired on a slow decline, not a plateau)"
        } else {
            "stalled (within 10%)"
        }
    );
    let (id_n, full_n) = (at_n(Variant::Identity), at_n(Variant::Full));
    let _ = writeln!(
        s,
        "- At the same N = {} steps: identity-grown {:.3e}, full depth {:.3e} (grown is {}, at \
         {:.0}% of its compute).",
        t.plan.steps,
        id_n,
        full_n,
        ratio_text(id_n, full_n),
        100.0 * t.budget as f64 / (t.plan.steps * t.capacity) as f64
    );
    let _ = writeln!(
        s,
        "- Identity against random insertion at C*: identity {:.3e}, random {:.3e}: identity is \
         {}{}.",
        id_c,
        rnd_c,
        ratio_text(id_c, rnd_c),
        if id_c > CLEAR * rnd_c {
            " (identity insertion is worse here, as AutoGrow reports it can be)"
        } else if rnd_c > CLEAR * id_c {
            " (identity insertion is better here)"
        } else {
            " (within 10%: no clear difference)"
        }
    );
    s
}

/// A difference counts when one loss is more than 10% above the other (one seed per run:
/// smaller gaps are within what another seed could change).
const CLEAR: f64 = 1.1;

/// "helps" when `grown` is clearly below the best fixed variant's loss, "does not help" when
/// clearly above, else no clear difference.
fn verdict(grown: f64, best_fixed: f64) -> &'static str {
    if CLEAR * grown < best_fixed {
        "helps (clearly below both fixed depths)"
    } else if grown > CLEAR * best_fixed {
        "does not help (a fixed depth is clearly better at the same compute)"
    } else {
        "makes no clear difference (within 10% of the better fixed depth)"
    }
}

/// One line over the tasks: where identity growth beats both fixed depths at C*, and where
/// random insertion beats identity insertion.
fn summary(reports: &[TaskReport]) -> String {
    let at_c = |t: &TaskReport, v: Variant| {
        t.run(v)
            .at_compute(t.budget)
            .map_or(f64::NAN, |p| p.val_loss)
    };
    let names = |f: &dyn Fn(&TaskReport) -> bool| {
        let v: Vec<&str> = reports.iter().filter(|t| f(t)).map(|t| t.name).collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    let helps = names(&|t| {
        CLEAR * at_c(t, Variant::Identity) < at_c(t, Variant::Full).min(at_c(t, Variant::Shallow))
    });
    let random_better = names(&|t| at_c(t, Variant::Identity) > CLEAR * at_c(t, Variant::Random));
    let identity_better = names(&|t| at_c(t, Variant::Random) > CLEAR * at_c(t, Variant::Identity));
    format!(
        "At the same compute C*, identity growth is clearly (more than 10%) below both fixed \
         depths on: {helps}. Random insertion is clearly below identity insertion on: \
         {random_better}; identity clearly below random on: {identity_better}. One seed per \
         run: differences within 10% are not findings.\n"
    )
}

/// Validation loss against steps (left) and against compute (right), log scale, C* marked.
fn plot_task(file: &Path, t: &TaskReport) -> Result<(), String> {
    let root = SVGBackend::new(file, (1100, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(file, e))?;
    let panels = root.split_evenly((1, 2));
    let all = t.runs.iter().flat_map(|r| r.points.iter());
    let lo = all
        .clone()
        .map(|p| p.val_loss)
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min)
        / 1.5;
    let hi = all.clone().map(|p| p.val_loss).fold(0.0, f64::max) * 1.5;
    let max_step = all.clone().map(|p| p.step).max().unwrap_or(1) as f64;
    let max_compute = all.map(|p| p.compute).max().unwrap_or(1) as f64;
    let colours = [BLUE, RED, RGBColor(0, 150, 0), RGBColor(200, 120, 0)];
    for (k, panel) in panels.iter().enumerate() {
        let by_compute = k == 1;
        let x_hi = if by_compute { max_compute } else { max_step };
        let mut chart = ChartBuilder::on(panel)
            .caption(
                format!(
                    "{}: validation loss against {}",
                    t.name,
                    if by_compute {
                        "compute (sum of m)"
                    } else {
                        "steps"
                    }
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_hi * 1.02, (lo..hi).log_scale())
            .map_err(|e| plot_error(file, e))?;
        chart
            .configure_mesh()
            .x_desc(if by_compute {
                "compute (block-steps)"
            } else {
                "steps"
            })
            .y_desc("validation loss")
            .x_labels(6)
            .draw()
            .map_err(|e| plot_error(file, e))?;
        let (marker, label) = if by_compute {
            (t.budget as f64, format!("C* = {}", t.budget))
        } else {
            (t.plan.steps as f64, format!("N = {}", t.plan.steps))
        };
        chart
            .draw_series(LineSeries::new(
                vec![(marker, lo), (marker, hi)],
                RGBColor(150, 150, 150),
            ))
            .map_err(|e| plot_error(file, e))?
            .label(label)
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], RGBColor(150, 150, 150)));
        for (r, colour) in t.runs.iter().zip(colours) {
            let pts: Vec<(f64, f64)> = r
                .points
                .iter()
                .map(|p| {
                    let x = if by_compute {
                        p.compute as f64
                    } else {
                        p.step as f64
                    };
                    (x, p.val_loss.max(lo))
                })
                .collect();
            chart
                .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
                .map_err(|e| plot_error(file, e))?
                .label(r.variant.name())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE)
            .border_style(BLACK)
            .draw()
            .map_err(|e| plot_error(file, e))?;
    }
    root.present().map_err(|e| plot_error(file, e))
}

/// The markdown of docs/GROWTH.md.
pub fn markdown(reports: &[TaskReport]) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(w, "# Growing depth when training stalls\n");
    let _ = writeln!(
        w,
        "Generated by `cargo run -p nearid-host --release --bin nearid -- verify growth` (host/src/growth_report.rs);\n\
         `cargo test -p nearid-host --test growth_report` regenerates it and fails if a number here differs\n\
         (`NEARID_BLESS=1` rewrites it after a deliberate change). Deterministic: fixed seeds, f32, the core's\n\
         `FusedSgd` (plain SGD, batches of {BATCH}), the same batches for every variant of a task.\n"
    );
    let _ = writeln!(
        w,
        "BEL's Theorem 3 (docs/THEORY.md section 5) says a suboptimal composition of near-identity maps is\n\
         never stationary in function space, so a stall inside one architecture is a reason to try a deeper\n\
         one. Here a network of capacity M = 8 blocks runs m of them (the cost of a step is proportional to\n\
         m), and four ways of choosing m are compared:\n"
    );
    let _ = writeln!(
        w,
        "- **fixed shallow**: m = 1 throughout;\n\
         - **fixed full depth**: m = M throughout;\n\
         - **grown, identity insertion**: from m = 1; the core's `Stall` rule on the training loss (the mean of\n  \
           each window of W steps against the window before; a relative improvement below the threshold r is\n  \
           a stall; the first window after a growth only sets the reference) inserts one block after the block\n  \
           with the largest gradient norm (`block_gradient_norms_sq`, `largest`), via `Grow::grow`: W2 = b2 = 0\n  \
           and W1 ~ N(0, w1^2), so the network's outputs keep every bit at the insertion (checked on every\n  \
           validation output at every growth) and the block has a gradient at once;\n\
         - **grown, random insertion**: the same rule and position, but W2 ~ N(0, 0.05^2) (AutoGrow's\n  \
           alternative). This one **changes the network's function** at each growth: the table of growths\n  \
           gives the largest change of an output and the validation loss just before and after.\n"
    );
    let _ = writeln!(
        w,
        "Compute is the sum over the steps of m, in block-steps (the input and output layers, the same for\n\
         every variant, are not counted). Every variant takes at least N steps and goes on until it has spent\n\
         C*, the identity-grown run's compute at N steps, so that it can be read both at the same steps and at\n\
         the same compute (the shallow run takes C* steps; the full-depth run reaches C* before N).\n"
    );
    let _ = writeln!(w, "## The tasks\n");
    let _ = writeln!(
        w,
        "| task | data | network | loss | lr | stall window W, threshold r | W1 scale w1 | Theorem 3 |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|");
    // A bar inside a table cell must be escaped.
    let cell = |text: &str| text.replace('|', "\\|");
    for t in reports {
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {}, {} | {} | {} |",
            t.name,
            cell(t.description),
            cell(t.network),
            cell(t.loss),
            t.plan.lr,
            t.plan.window,
            t.plan.threshold,
            t.plan.w1,
            cell(t.theorem3_note)
        );
    }
    let _ = writeln!(w, "\n## Comparison\n");
    let _ = writeln!(
        w,
        "Validation loss (mean over the validation points; cross-entropy for the spirals), at N steps and at\n\
         the first validation point whose compute reaches C*; \"final m\" is the depth at the end of the run.\n"
    );
    w.push_str(&table(reports));
    let _ = writeln!(w);
    w.push_str(&summary(reports));
    for t in reports {
        let _ = writeln!(w, "\n### {}\n", t.name);
        w.push_str(&findings(t));
        let _ = writeln!(w, "\n![{0}](growth-{0}.svg)\n", t.name);
        let _ = writeln!(
            w,
            "| variant | step | m after | after block | window loss | val loss before -> after | outputs unchanged | largest output change | new block's norm of dL/dW2 | sqrt(mean norm dy^2) | Theorem 3: eps, bound, ratio |"
        );
        let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|---|---|");
        for r in t.runs.iter().filter(|r| r.variant.grows()) {
            for e in &r.events {
                let t3 = match e.theorem3 {
                    Some(Theorem3At {
                        eps,
                        bound: Some(b),
                        layer_gradient,
                        ..
                    }) => format!(
                        "{eps:.3}, {b:.3e}, {:.2} (f64 gradient {layer_gradient:.3e})",
                        layer_gradient / b
                    ),
                    Some(Theorem3At { eps, .. }) => {
                        format!("{eps:.3}: eps >= 1, outside the theorem")
                    }
                    None => "not computed (see the tasks)".into(),
                };
                let _ = writeln!(
                    w,
                    "| {} | {} | {} | {} | {:.3e} | {:.3e} -> {:.3e} | {} | {:.2e} | {:.3e} | {:.3e} | {} |",
                    if r.variant == Variant::Identity {
                        "identity"
                    } else {
                        "random"
                    },
                    e.step,
                    e.depth,
                    e.position,
                    e.window_loss,
                    e.val_before,
                    e.val_after,
                    if e.unchanged { "yes, every bit" } else { "no" },
                    e.max_change,
                    e.w2_gradient,
                    e.layer_gradient,
                    t3
                );
            }
        }
    }
    let _ = writeln!(w, "\n## Reading the growth tables\n");
    let _ = writeln!(
        w,
        "The new block's W2 gradient is dL/dW2 = mean_j dy_j a_j^T on the validation sample (dy_j = dL_j/dy at\n\
         the block's output, a_j = s(W1 z_j + b1)); beside it sqrt(mean_j ||dy_j||^2), which for the quadratic\n\
         loss is the sample form of ||D_(h_i) Q||, the function-space derivative Theorem 3 bounds below:\n\
         ||D_(h_i) Q|| >= (1 - eps)^(m - 1) (Q(h) - Q(h*)) / ||h - h*||. The W2 gradient is that derivative seen\n\
         through the block's own parametrisation (||dL/dW2|| <= sqrt(mean ||dy||^2) sqrt(mean ||a||^2)), so the\n\
         theorem bounds the second column, not the first; a small W2 gradient beside a large derivative is the\n\
         \"suboptimal stationary points inside one layer's parametrisation\" of section 5.\n\n\
         The bound is computed where its constants can be: on the disc task (noise-free targets, so Q(h*) = 0\n\
         and ||h - h*|| = sqrt(2 Q(h)); a pure residual network of tanh blocks, eps the largest of the core's\n\
         guaranteed upper bounds on ||f_i - Id||_L over the blocks in use), in f64 on the f32 network. It is\n\
         not computed for the spirals (cross-entropy) or the sawtooth (dense input and output layers, which are\n\
         not near-identity maps, and ReLU blocks). `nearid train --grow` logs the same gradients at each growth\n\
         on the training samples and says why it prints no bound: on a user's data Q(h*) (the noise) is\n\
         unknown and the network has dense end layers.\n"
    );
    md
}

/// Measures, then writes GROWTH.md and growth-<task>.svg into `docs` (created if missing).
pub fn write_growth_report(
    docs: &Path,
    progress: impl FnMut(&str),
) -> Result<Vec<TaskReport>, String> {
    let reports = measure(progress);
    write_files(docs, &reports)?;
    Ok(reports)
}

/// Writes GROWTH.md and growth-<task>.svg of measured `reports` into `docs` (created if
/// missing).
pub fn write_files(docs: &Path, reports: &[TaskReport]) -> Result<(), String> {
    std::fs::create_dir_all(docs)
        .map_err(|e| format!("{}: cannot create the directory: {e}", docs.display()))?;
    for t in reports {
        plot_task(&docs.join(format!("growth-{}.svg", t.name)), t)?;
    }
    let file = docs.join("GROWTH.md");
    std::fs::write(&file, markdown(reports))
        .map_err(|e| format!("{}: cannot write: {e}", file.display()))
}
