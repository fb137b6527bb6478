//! Stochastic gradient descent on mini-batches of B samples, in two forms:
//!
//! - [`FusedSgd`]: plain SGD (learning rate, weight decay, gradient-norm clipping) that applies
//!   each weight's update straight from the backward signals on the tape, so training needs the
//!   parameters and the tapes only, no gradient buffer.
//! - [`BufferedSgd`]: SGD with a gradient buffer and momentum (heavy ball).
//!
//! Plain SGD in [`FusedSgd`] folds eta into each column's factor and makes one pass over each
//! weight matrix, W <- W - sum_b (eta v_b) u_b^T column by column ([`Scalar::sgd_column`]),
//! through the network's [`Model::sgd_plain`] (residual networks hand each tensor over with its
//! shape in the types, so on a microcontroller the loops are straight-line code): it
//! agrees with [`BufferedSgd`] at momentum 0 to rounding. With weight decay or clipping both
//! compute each update with the same expression in the same order and agree to the bit. Both
//! take the step only when everything it depends on is finite: a NaN or infinite input,
//! target, output, loss or gradient returns [`Error::NonFinite`] before any weight (or momentum)
//! is written.
//!
//! The step minimises the mean over the batch of the quadratic loss 1/2 ||y^ - y||^2 and reads,
//! for every parameter w with gradient g (the batch mean),
//!
//! ```text
//! d = c g + lambda w          c = min(1, clip / ||grad||_F), lambda = weight decay
//! v <- mu v + d;  w <- w - eta v      (BufferedSgd; mu = 0 gives w <- w - eta d, as FusedSgd)
//! ```
//!
//! Weight decay pulls every parameter toward zero, which for a residual network is the identity
//! map (zero residual), not the zero map.

use crate::batch::{self, batched};
use crate::fixed::{Dither, Rounding};
use crate::loss::{quadratic, quadratic_grad};
use crate::scalar::all_finite;
use crate::{Error, Model, Result, Scalar, Vector};

/// Hyper-parameters of SGD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<T> {
    /// eta > 0.
    pub learning_rate: T,
    /// mu in [0, 1); only [`BufferedSgd`] accepts mu != 0.
    pub momentum: T,
    /// lambda >= 0, with eta lambda < 1: decay toward zero residual (the identity).
    pub weight_decay: T,
    /// Rescale the gradient to this Frobenius norm when it is larger. The norm is taken with
    /// [`Scalar::approx_sqrt`] (about 5% off in f32), which only moves the threshold.
    pub clip_norm: Option<T>,
    /// How fixed-point formats round each update w - eta d (floats ignore it): stochastic
    /// (seeded, the default) or to nearest. See [`crate::fixed::stochastic`].
    pub rounding: Rounding,
}

impl<T: Scalar> Sgd<T> {
    /// Plain SGD with learning rate `eta`.
    pub fn new(learning_rate: T) -> Self {
        Self {
            learning_rate,
            momentum: T::ZERO,
            weight_decay: T::ZERO,
            clip_norm: None,
            rounding: Rounding::default(),
        }
    }

    /// With the given rounding of fixed-point updates.
    pub fn with_rounding(self, rounding: Rounding) -> Self {
        Self { rounding, ..self }
    }

    /// With momentum mu.
    pub fn with_momentum(self, momentum: T) -> Self {
        Self { momentum, ..self }
    }

    /// With weight decay lambda toward zero residual.
    pub fn with_weight_decay(self, weight_decay: T) -> Self {
        Self {
            weight_decay,
            ..self
        }
    }

    /// With gradient-norm clipping at `clip`.
    pub fn with_clip_norm(self, clip: T) -> Self {
        Self {
            clip_norm: Some(clip),
            ..self
        }
    }

    /// [`Error::OutOfRange`] unless eta > 0, 0 <= mu < 1, lambda >= 0 with eta lambda < 1,
    /// clip > 0, all finite.
    pub fn validate(&self) -> Result<()> {
        let finite = [self.learning_rate, self.momentum, self.weight_decay]
            .iter()
            .chain(self.clip_norm.as_ref())
            .all(|v| v.is_finite());
        let ok = finite
            && self.learning_rate > T::ZERO
            && self.momentum >= T::ZERO
            && self.momentum < T::ONE
            && self.weight_decay >= T::ZERO
            && self.learning_rate * self.weight_decay < T::ONE
            && self.clip_norm.is_none_or(|c| c > T::ZERO);
        if ok { Ok(()) } else { Err(Error::OutOfRange) }
    }
}

/// What a training step reports (measured before the update).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Step<T> {
    /// Mean over the batch of 1/2 ||y^ - y||^2.
    pub loss: T,
    /// ||grad L||_F^2 over all parameters (before clipping): the input of the HM certificate.
    pub grad_norm_sq: T,
    /// Fixed-point results clamped to the format's range during this step (always 0 for
    /// floats); see [`crate::fixed::saturation`].
    pub saturations: u32,
}

/// Plain SGD without a gradient buffer: RAM = parameters + B tapes.
///
/// ```
/// use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Sgd};
/// let mut net = ResNet::<f32, 4, 8, 4>::identity();
/// let mut sgd = FusedSgd::<f32, _, 4, 1>::new(Sgd::new(0.05)).unwrap();
/// let mut task = LinearTask::new(LinearTask::<f32, 4>::random_spd(0.5, 1.5, 1), 0.0, 2);
/// let first = sgd.step(&mut net, &task.batch::<1>().0, &task.batch::<1>().1).unwrap();
/// assert!(first.loss >= 0.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FusedSgd<T: Scalar, N: Model<T, D>, const D: usize, const B: usize> {
    config: Sgd<T>,
    dither: Dither,
    tapes: [N::Tape; B],
}

impl<T: Scalar, N: Model<T, D>, const D: usize, const B: usize> FusedSgd<T, N, D, B> {
    /// Bytes of optimiser state (the B tapes); training RAM is this plus the network's.
    pub const STATE_BYTES: usize = core::mem::size_of::<Self>();

    /// The optimiser, or [`Error::OutOfRange`] for invalid hyper-parameters (including any
    /// momentum: that needs [`BufferedSgd`]) or B = 0.
    pub fn new(config: Sgd<T>) -> Result<Self> {
        config.validate()?;
        if config.momentum != T::ZERO || B == 0 {
            return Err(Error::OutOfRange);
        }
        Ok(Self {
            config,
            dither: Dither::new(config.rounding),
            tapes: [N::new_tape(); B],
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Sgd<T> {
        &self.config
    }

    /// The tapes of the last step (backward signals included).
    pub fn tapes(&self) -> &[N::Tape; B] {
        &self.tapes
    }

    /// One step on the batch (xs, ys). On error the network is unchanged.
    ///
    /// The update of each weight is computed from finite signals bounded by the gradient norm;
    /// it cannot overflow while every weight is below T::MAX / 4 in magnitude.
    pub fn step(
        &mut self,
        net: &mut N,
        xs: &[Vector<T, D>; B],
        ys: &[Vector<T, D>; B],
    ) -> Result<Step<T>> {
        let before = T::saturations();
        let mut step = forward_backward(net, &mut self.tapes, xs, ys)?;
        let rule = Rule::new(&self.config, step.grad_norm_sq)?;
        let dither = &mut self.dither;
        if rule.plain_gradient {
            net.sgd_plain(&self.tapes, rule.eta, dither);
        } else {
            for i in 0..N::TENSORS {
                let factors = factors_of::<T, N, D, B>(&self.tapes, i);
                for_each_entry(net.tensor_mut(i), &factors, |w, g| {
                    *w = rule.plain(*w, g, dither)
                });
            }
        }
        step.saturations = T::saturations().wrapping_sub(before);
        Ok(step)
    }
}

/// SGD with a gradient buffer and momentum: RAM = 3 x parameters + B tapes.
#[derive(Clone, Debug)]
pub struct BufferedSgd<T: Scalar, N: Model<T, D>, const D: usize, const B: usize> {
    config: Sgd<T>,
    dither: Dither,
    tapes: [N::Tape; B],
    gradient: N,
    velocity: N,
}

impl<T: Scalar, N: Model<T, D>, const D: usize, const B: usize> BufferedSgd<T, N, D, B> {
    /// Bytes of optimiser state (B tapes, the gradient and the velocity).
    pub const STATE_BYTES: usize = core::mem::size_of::<Self>();

    /// The optimiser, or [`Error::OutOfRange`] for invalid hyper-parameters or B = 0.
    pub fn new(config: Sgd<T>) -> Result<Self> {
        config.validate()?;
        if B == 0 {
            return Err(Error::OutOfRange);
        }
        Ok(Self {
            config,
            dither: Dither::new(config.rounding),
            tapes: [N::new_tape(); B],
            gradient: N::zeros(),
            velocity: N::zeros(),
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Sgd<T> {
        &self.config
    }

    /// The gradient of the last step (batch mean, before clipping), shaped like the network.
    pub fn gradient(&self) -> &N {
        &self.gradient
    }

    /// The momentum buffer.
    pub fn velocity(&self) -> &N {
        &self.velocity
    }

    /// One step on the batch (xs, ys). On error the network and the momentum are unchanged.
    pub fn step(
        &mut self,
        net: &mut N,
        xs: &[Vector<T, D>; B],
        ys: &[Vector<T, D>; B],
    ) -> Result<Step<T>> {
        let before = T::saturations();
        let mut step = forward_backward(net, &mut self.tapes, xs, ys)?;
        let rule = Rule::new(&self.config, step.grad_norm_sq)?;
        for i in 0..N::TENSORS {
            let factors = factors_of::<T, N, D, B>(&self.tapes, i);
            for_each_entry(self.gradient.tensor_mut(i), &factors, |g, s| *g = s);
        }
        // Check every new weight and velocity before writing any, with a copy of the dither so
        // the check sees the same rounding as the writes.
        let mut check_dither = self.dither;
        let finite = (0..N::TENSORS).all(|i| {
            let (w, g, v) = (
                net.tensor(i),
                self.gradient.tensor(i),
                self.velocity.tensor(i),
            );
            w.iter().zip(g).zip(v).all(|((&w, &g), &v)| {
                let (w, v) = rule.momentum(w, g, v, &mut check_dither);
                w.is_finite() && v.is_finite()
            })
        });
        if !finite {
            return Err(Error::NonFinite);
        }
        for i in 0..N::TENSORS {
            let (w, g, v) = (
                net.tensor_mut(i),
                self.gradient.tensor(i),
                self.velocity.tensor_mut(i),
            );
            for ((w, &g), v) in w.iter_mut().zip(g).zip(v.iter_mut()) {
                (*w, *v) = rule.momentum(*w, g, *v, &mut self.dither);
            }
        }
        step.saturations = T::saturations().wrapping_sub(before);
        Ok(step)
    }
}

/// Forward and backward over the batch, filling the tapes; checks that inputs, targets, outputs,
/// loss and every backward signal are finite. Writes nothing but the tapes.
fn forward_backward<T: Scalar, N: Model<T, D>, const D: usize, const B: usize>(
    net: &N,
    tapes: &mut [N::Tape; B],
    xs: &[Vector<T, D>; B],
    ys: &[Vector<T, D>; B],
) -> Result<Step<T>> {
    let finite_data = xs.iter().chain(ys).all(|v| all_finite(v.as_slice()));
    if !finite_data {
        return Err(Error::NonFinite);
    }
    let inv_b = T::from_f64(1.0 / B as f64);
    let predictions = net.forward_tape_batch(xs, tapes);
    if !predictions.iter().all(|p| all_finite(p.as_slice())) {
        return Err(Error::NonFinite);
    }
    let loss = predictions
        .iter()
        .zip(ys)
        .fold(T::ZERO, |sum, (p, y)| sum + quadratic(p, y))
        * inv_b;
    if !loss.is_finite() {
        return Err(Error::NonFinite);
    }
    let dys = core::array::from_fn(|b| quadratic_grad(&predictions[b], &ys[b], inv_b));
    net.backward_batch(&dys, tapes);
    // The Gram form below sums (u_b . u_c)(v_b . v_c) over every tensor, with b = c among the
    // terms: an infinite or NaN backward signal makes it infinite or NaN, so this one test also
    // covers every signal the update will read.
    let grad_norm_sq = N::grad_norm_sq(tapes);
    if !grad_norm_sq.is_finite() {
        return Err(Error::NonFinite);
    }
    Ok(Step {
        loss,
        grad_norm_sq,
        saturations: 0,
    })
}

/// ||sum_b u_b v_b^T||_F^2 summed over tensors, from the tapes alone:
/// sum_{b,c} (u_b . u_c)(v_b . v_c), which is O(B^2 (D + H) / 2) per tensor instead of
/// O(B D H): what [`Model::grad_norm_sq`] does unless a network overrides it.
pub fn grad_norm_sq<T: Scalar, N: Model<T, D>, const D: usize, const B: usize>(
    tapes: &[N::Tape; B],
) -> T {
    if batched::<T, B>() {
        return grad_norm_sq_gram::<T, N, D, B>(tapes);
    }
    let mut total = T::ZERO;
    for i in 0..N::TENSORS {
        let f = factors_of::<T, N, D, B>(tapes, i);
        add_symmetric::<T, B>(&mut total, |b, c| match (f[b], f[c]) {
            ((ub, Some(vb)), (uc, Some(vc))) => T::dot_times_dot(ub, uc, vb, vc),
            ((ub, _), (uc, _)) => T::dot(ub, uc),
        });
    }
    total
}

/// total += sum_{b, c < B} term(b, c) for a term symmetric in (b, c): the diagonal once and
/// each pair b < c twice, in the order both gradient norms sum (so they agree to the bit).
#[inline]
pub(crate) fn add_symmetric<T: Scalar, const B: usize>(
    total: &mut T,
    term: impl Fn(usize, usize) -> T,
) {
    for b in 0..B {
        *total += term(b, b);
        for c in b + 1..B {
            let t = term(b, c);
            *total += t + t;
        }
    }
}

/// [`grad_norm_sq`] for B > 1 floats on desktop targets ([`batched`]), to the bit: the Gram
/// matrices (u_b . u_c) and (v_b . v_c) come from the register-blocked [`batch::gram_upper`]
/// (the same dot products), a tensor whose u's are the previous tensor's (a bias after its
/// weight: both take dL/dz) reuses that Gram matrix, and the terms are summed in the same order.
fn grad_norm_sq_gram<T: Scalar, N: Model<T, D>, const D: usize, const B: usize>(
    tapes: &[N::Tape; B],
) -> T {
    let mut total = T::ZERO;
    let mut previous: Option<FactorsGram<'_, T, B>> = None;
    for i in 0..N::TENSORS {
        let f = factors_of::<T, N, D, B>(tapes, i);
        let us = f.map(|(u, _)| u);
        let gu = match previous {
            Some((p, g)) if p.iter().zip(&us).all(|(p, u)| core::ptr::eq(*p, *u)) => g,
            _ => batch::gram_upper(&us),
        };
        previous = Some((us, gu));
        let vs: Option<[&[T]; B]> = f
            .iter()
            .all(|(_, v)| v.is_some())
            .then(|| f.map(|(_, v)| v.unwrap_or(&[])));
        let gv = vs.map(|vs| batch::gram_upper(&vs));
        add_symmetric::<T, B>(&mut total, |b, c| match &gv {
            Some(gv) => gu[b][c] * gv[b][c],
            None => gu[b][c],
        });
    }
    total
}

/// One factor of a tensor's gradient for every sample, and their Gram matrix.
type FactorsGram<'a, T, const B: usize> = ([&'a [T]; B], [[T; B]; B]);

type Factors<'a, T> = (&'a [T], Option<&'a [T]>);

fn factors_of<T: Scalar, N: Model<T, D>, const D: usize, const B: usize>(
    tapes: &[N::Tape; B],
    i: usize,
) -> [Factors<'_, T>; B] {
    core::array::from_fn(|b| N::grad_factors(&tapes[b], i))
}

/// Calls f(w_jk, sum_b u_b[j] v_b[k]) for every entry of a column-major tensor, the gradient
/// entry summed over the batch in order b = 0, 1, ... (the same order in both optimisers).
/// Factors whose lengths do not match the tensor's shape are a bug in a `Model` impl: the tensor
/// is then left alone rather than indexed out of bounds.
#[inline]
fn for_each_entry<T: Scalar, const B: usize>(
    tensor: &mut [T],
    factors: &[Factors<'_, T>; B],
    mut f: impl FnMut(&mut T, T),
) {
    let Some((rows, _)) = shape(tensor, factors) else {
        return;
    };
    for (k, column) in tensor.chunks_exact_mut(rows).enumerate() {
        // v_b[k] for every sample (1 for a bias).
        let vk: [T; B] = core::array::from_fn(|b| factors[b].1.map_or(T::ONE, |v| v[k]));
        if B == 1 {
            for (w, &u) in column.iter_mut().zip(factors[0].0) {
                f(w, u * vk[0]);
            }
        } else {
            // Rows in chunks of CHUNK, summing the batch into a stack buffer one sample at a
            // time: each step is an axpy the compiler vectorises, and every entry still sums
            // over b in order.
            const CHUNK: usize = 64;
            for (c, ws) in column.chunks_mut(CHUNK).enumerate() {
                let mut acc = [T::ZERO; CHUNK];
                let rows = c * CHUNK..c * CHUNK + ws.len();
                for (b, (u, _)) in factors.iter().enumerate() {
                    T::axpy(vk[b], &u[rows.clone()], &mut acc);
                }
                for (w, &s) in ws.iter_mut().zip(&acc) {
                    f(w, s);
                }
            }
        }
    }
}

/// Plain SGD W <- W - eta sum_b u_b v_b^T on every tensor of `net` from the tapes of a batch,
/// tensor by tensor through the flat [`Model`] interface: what [`Model::sgd_plain`] does unless
/// a network overrides it. B > 1 floats on desktop targets ([`batched`]) take the
/// register-blocked [`batch::sgd_update`], the same bits as [`Scalar::sgd_column`].
pub fn plain_update<T: Scalar, N: Model<T, D>, const D: usize, const B: usize>(
    net: &mut N,
    tapes: &[N::Tape; B],
    eta: T,
    dither: &mut Dither,
) {
    for i in 0..N::TENSORS {
        let factors = factors_of::<T, N, D, B>(tapes, i);
        if batched::<T, B>() {
            let us = factors.map(|(u, _)| u);
            let vs = factors.map(|(_, v)| v);
            batch::sgd_update(net.tensor_mut(i), &us, &vs, eta);
        } else {
            sgd_columns(net.tensor_mut(i), &factors, eta, dither);
        }
    }
}

/// W <- W - eta sum_b u_b v_b^T for a column-major tensor, column by column
/// ([`Scalar::sgd_column`]): plain SGD with one pass over the weights. Factors whose lengths do
/// not match the tensor's shape leave it alone, as in [`for_each_entry`].
fn sgd_columns<T: Scalar, const B: usize>(
    tensor: &mut [T],
    factors: &[Factors<'_, T>; B],
    eta: T,
    dither: &mut Dither,
) {
    let Some((rows, cols)) = shape(tensor, factors) else {
        return;
    };
    let us: [&[T]; B] = core::array::from_fn(|b| factors[b].0);
    for (k, column) in tensor.chunks_exact_mut(rows).enumerate().take(cols) {
        let vs: [T; B] = core::array::from_fn(|b| factors[b].1.map_or(T::ONE, |v| v[k]));
        T::sgd_column(column, &us, &vs, eta, dither);
    }
}

/// (rows, columns) of a column-major tensor whose gradient is sum_b u_b v_b^T, or `None` when
/// the factors do not fit it (a bug in a `Model` impl) or it is empty.
fn shape<T: Scalar, const B: usize>(
    tensor: &[T],
    factors: &[Factors<'_, T>; B],
) -> Option<(usize, usize)> {
    let rows = factors.first().map(|(u, _)| u.len()).filter(|&r| r > 0)?;
    let cols = tensor.len() / rows;
    let shaped = tensor.len() == rows * cols
        && factors
            .iter()
            .all(|(u, v)| u.len() == rows && v.is_none_or(|v| v.len() == cols));
    shaped.then_some((rows, cols))
}

/// The per-entry update, shared by both optimisers so they agree to the bit.
#[derive(Clone, Copy, Debug)]
struct Rule<T> {
    eta: T,
    mu: T,
    lambda: T,
    /// Clip factor c = min(1, clip / ||grad||).
    c: T,
    /// c = 1 and lambda = 0: the direction is g itself (exactly, in every format), which
    /// saves fixed point two rounded products per weight.
    plain_gradient: bool,
}

impl<T: Scalar> Rule<T> {
    fn new(config: &Sgd<T>, grad_norm_sq: T) -> Result<Self> {
        let norm = grad_norm_sq.approx_sqrt();
        let c = match config.clip_norm {
            Some(clip) if norm > clip => clip / norm,
            _ => T::ONE,
        };
        // |eta c g| <= eta c ||grad||: keep every increment far from overflow.
        let largest_increment = config.learning_rate * c * grad_norm_sq.sqrt();
        if !largest_increment.is_finite() || largest_increment > T::MAX / T::from_f64(4.0) {
            return Err(Error::NonFinite);
        }
        Ok(Self {
            eta: config.learning_rate,
            mu: config.momentum,
            lambda: config.weight_decay,
            c,
            plain_gradient: c == T::ONE && config.weight_decay == T::ZERO,
        })
    }

    #[inline(always)]
    fn direction(&self, w: T, g: T) -> T {
        if self.plain_gradient {
            // g * 1 + 0 * w == g for finite w (floats: up to the sign of a zero g, which
            // w - eta d does not see).
            g
        } else {
            g * self.c + self.lambda * w
        }
    }

    /// w - eta d; for floats exactly that expression, for fixed point with eta d rounded by
    /// the dither ([`Scalar::sub_mul_rounded`]).
    #[inline(always)]
    fn plain(&self, w: T, g: T, dither: &mut Dither) -> T {
        w.sub_mul_rounded(self.eta, self.direction(w, g), dither)
    }

    #[inline(always)]
    fn momentum(&self, w: T, g: T, v: T, dither: &mut Dither) -> (T, T) {
        let v = self.mu * v + self.direction(w, g);
        (w.sub_mul_rounded(self.eta, v, dither), v)
    }
}
