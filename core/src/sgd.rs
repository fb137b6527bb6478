//! Stochastic gradient descent on mini-batches of B samples, in two forms:
//!
//! - [`FusedSgd`]: plain SGD (learning rate, weight decay, gradient-norm clipping) that applies
//!   each weight's update straight from the backward signals on the tape, so training needs the
//!   parameters and the tapes only, no gradient buffer.
//! - [`BufferedSgd`]: SGD with a gradient buffer and momentum (heavy ball).
//!
//! Plain SGD in [`FusedSgd`] is the network's [`Trainable::update_with`], one pass over each
//! weight matrix with the kernels K ([`crate::kernels`]; on floats they fold eta into each
//! column's factor, W <- W - sum_b (eta v_b) u_b^T): it agrees with [`BufferedSgd`] at
//! momentum 0 to rounding. With weight decay or clipping both
//! compute each update with the same expression in the same order and agree to the bit. Both
//! take the step only when everything it depends on is finite: a NaN or infinite input,
//! target, output, loss or gradient returns [`Error::NonFinite`] before any weight (or momentum)
//! is written.
//!
//! The step minimises the mean over the batch of a [`Loss`] (by default [`Quadratic`],
//! 1/2 ||y^ - y||^2) and reads, for every parameter w with gradient g (the batch mean),
//!
//! ```text
//! d = c g + lambda w          c = min(1, clip / ||grad||_F), lambda = weight decay
//! v <- mu v + d;  w <- w - eta v      (BufferedSgd; mu = 0 gives w <- w - eta d, as FusedSgd)
//! ```
//!
//! Weight decay pulls every parameter toward zero, which for a residual network is the identity
//! map (zero residual), not the zero map.

use core::marker::PhantomData;

use crate::fixed::Rounding;
use crate::grow::Grow;
use crate::kernels::Kernels;
use crate::loss::{Loss, Quadratic};
use crate::model::GradientVisitor;
use crate::scalar::{RoundingState, all_finite};
use crate::{Error, Matrix, Model, Result, Rng, Scalar, Trainable, Vector};

/// Hyper-parameters of SGD.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sgd<T> {
    /// eta > 0.
    pub learning_rate: T,
    /// mu in [0, 1); only [`BufferedSgd`] accepts mu != 0.
    pub momentum: T,
    /// lambda >= 0, with eta lambda < 1: decay toward zero residual (the identity).
    pub weight_decay: T,
    /// Rescale the gradient to this Frobenius norm when it is larger. The norm is computed in
    /// f64 from the gradient's factors, so that it is exact to f64's precision in every format
    /// (a fixed-point format's own squared norm saturates: Q4.12's at 8).
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
    /// Mean over the batch of the loss (for [`Quadratic`], 1/2 ||y^ - y||^2).
    pub loss: T,
    /// ||grad L||_F^2 over all parameters (before clipping): the input of the HM certificate.
    pub grad_norm_sq: T,
    /// Fixed-point results clamped to the format's range during this step (always 0 for
    /// floats); see [`crate::fixed::saturation`].
    pub saturations: u32,
    /// With a classification loss, the samples of the batch whose prediction picked the target
    /// ([`Loss::correct`], measured before the update); 0 otherwise.
    pub correct: u32,
}

/// Plain SGD without a gradient buffer: RAM = parameters + the tape of B samples.
///
/// `L` is the loss ([`Quadratic`] by default), `K` the kernels (the number type's own by
/// default; name another, e.g. [`crate::kernels::Reference`], to train with it).
///
/// ```
/// use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Sgd};
/// let mut net = ResNet::<f32, 4, 8, 4>::identity_init(&mut Rng::new(1), 0.5);
/// let mut sgd = FusedSgd::<f32, _, 1>::new(Sgd::new(0.05)).unwrap();
/// let mut task = LinearTask::new(LinearTask::<f32, 4>::random_spd(0.5, 1.5, 1), 0.0, 2);
/// let (x, y) = task.batch::<1>();
/// let first = sgd.step(&mut net, &x, &y).unwrap();
/// assert!(first.loss >= 0.0);
/// ```
#[derive(Clone, Copy, Debug)]
pub struct FusedSgd<
    T: Scalar,
    N: Trainable<T>,
    const B: usize,
    L = Quadratic,
    K = <T as Scalar>::Kernels,
> {
    config: Sgd<T>,
    state: State<T::Rounding>,
    tape: N::Tape<B>,
    choice: PhantomData<(L, K)>,
}

/// What an optimiser carries from one step to the next besides its buffers: the steps taken
/// and the rounding state (the dither of fixed-point formats). Restoring it and the weights
/// resumes training exactly where it stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SgdState {
    /// Steps taken (that returned `Ok`), wrapping at 2^32.
    pub steps: u32,
    /// [`RoundingState::to_bits`] of the rounding state.
    pub rounding: u32,
}

#[derive(Clone, Copy, Debug)]
struct State<R> {
    steps: u32,
    rounding: R,
}

impl<R: RoundingState> State<R> {
    fn new(rounding: Rounding) -> Self {
        Self {
            steps: 0,
            rounding: R::new(rounding),
        }
    }

    fn get(&self) -> SgdState {
        SgdState {
            steps: self.steps,
            rounding: self.rounding.to_bits(),
        }
    }

    fn set(&mut self, s: SgdState) {
        self.steps = s.steps;
        self.rounding = R::from_bits(s.rounding);
    }
}

impl<T: Scalar, N: Trainable<T>, const B: usize, L, K: Kernels<T>> FusedSgd<T, N, B, L, K> {
    /// Bytes of optimiser state (the tape of B samples); training RAM is this plus the
    /// network's.
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
            state: State::new(config.rounding),
            tape: N::new_tape::<B>(),
            choice: PhantomData,
        })
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &Sgd<T> {
        &self.config
    }

    /// The tape of the last step (backward signals included).
    pub fn tape(&self) -> &N::Tape<B> {
        &self.tape
    }

    /// The steps taken and the rounding state, for a checkpoint.
    pub fn state(&self) -> SgdState {
        self.state.get()
    }

    /// Resumes from a checkpoint's [`FusedSgd::state`].
    pub fn set_state(&mut self, state: SgdState) {
        self.state.set(state);
    }

    /// A new learning rate (for example after a rollback), checked as [`Sgd::validate`]
    /// does; the rest of the configuration and the state stay.
    pub fn set_learning_rate(&mut self, eta: T) -> Result<()> {
        let config = Sgd {
            learning_rate: eta,
            ..self.config
        };
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// One step on the batch (xs, targets). On error the network is unchanged.
    pub fn step<const I: usize, const O: usize>(
        &mut self,
        net: &mut N,
        xs: &[Vector<T, I>; B],
        targets: &[<L as Loss<T, O>>::Target; B],
    ) -> Result<Step<T>>
    where
        N: Model<T, I, O>,
        L: Loss<T, O>,
    {
        let before = T::saturations();
        let mut step = forward_backward::<T, N, L, K, I, O, B>(net, &mut self.tape, xs, targets)?;
        let rule = Rule::new(&self.config, step.grad_norm_sq, net, &self.tape)?;
        let rounding = &mut self.state.rounding;
        if rule.fused {
            // The guard of `Rule::new` bounds every increment the kernels form.
            net.update_with::<K, B>(&self.tape, rule.eta, rounding);
        } else {
            // Check every new weight before writing any, with a copy of the rounding state so
            // the check sees the same rounding as the writes.
            let mut check = RuleUpdate {
                rule,
                rounding: *rounding,
                write: false,
                finite: true,
            };
            net.visit_gradients(&self.tape, &mut check);
            if !check.finite {
                return Err(Error::NonFinite);
            }
            let mut write = RuleUpdate {
                rule,
                rounding: *rounding,
                write: true,
                finite: true,
            };
            net.visit_gradients(&self.tape, &mut write);
            *rounding = write.rounding;
        }
        self.state.steps = self.state.steps.wrapping_add(1);
        step.saturations = T::saturations().wrapping_sub(before);
        Ok(step)
    }
}

/// SGD with a gradient buffer and momentum: RAM = 3 x parameters + the tape of B samples.
#[derive(Clone, Debug)]
pub struct BufferedSgd<
    T: Scalar,
    N: Trainable<T>,
    const B: usize,
    L = Quadratic,
    K = <T as Scalar>::Kernels,
> {
    config: Sgd<T>,
    state: State<T::Rounding>,
    tape: N::Tape<B>,
    gradient: N,
    velocity: N,
    choice: PhantomData<(L, K)>,
}

impl<T: Scalar, N: Trainable<T>, const B: usize, L, K: Kernels<T>> BufferedSgd<T, N, B, L, K> {
    /// Bytes of optimiser state (the tape of B samples, the gradient and the velocity).
    pub const STATE_BYTES: usize = core::mem::size_of::<Self>();

    /// The optimiser, or [`Error::OutOfRange`] for invalid hyper-parameters or B = 0.
    pub fn new(config: Sgd<T>) -> Result<Self> {
        config.validate()?;
        if B == 0 {
            return Err(Error::OutOfRange);
        }
        Ok(Self {
            config,
            state: State::new(config.rounding),
            tape: N::new_tape::<B>(),
            gradient: N::zeros(),
            velocity: N::zeros(),
            choice: PhantomData,
        })
    }

    /// Grows `net` by a block at `position` ([`Grow::grow`]) and the momentum and gradient
    /// buffers with it: the new block's momentum is zero and every other block keeps its own.
    /// Nothing changes on error.
    pub fn grow(&mut self, net: &mut N, position: usize, rng: &mut Rng, scale: f64) -> Result<()>
    where
        N: Grow,
    {
        net.grow(position, rng, scale)?;
        // The buffers' blocks past the network's depth are zero (never written), so the
        // shift loses nothing.
        self.velocity.grow_zero(position)?;
        self.gradient.grow_zero(position)
    }

    /// The steps taken and the rounding state, for a checkpoint (with [`BufferedSgd::velocity`]).
    pub fn state(&self) -> SgdState {
        self.state.get()
    }

    /// Resumes from a checkpoint: the state and the momentum buffer.
    pub fn set_state(&mut self, state: SgdState, velocity: N) {
        self.state.set(state);
        self.velocity = velocity;
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

    /// One step on the batch (xs, targets). On error the network and the momentum are
    /// unchanged.
    pub fn step<const I: usize, const O: usize>(
        &mut self,
        net: &mut N,
        xs: &[Vector<T, I>; B],
        targets: &[<L as Loss<T, O>>::Target; B],
    ) -> Result<Step<T>>
    where
        N: Model<T, I, O>,
        L: Loss<T, O>,
    {
        let before = T::saturations();
        let mut step = forward_backward::<T, N, L, K, I, O, B>(net, &mut self.tape, xs, targets)?;
        let rule = Rule::new(&self.config, step.grad_norm_sq, net, &self.tape)?;
        self.gradient
            .visit_gradients(&self.tape, &mut StoreGradient);
        // Check every new weight and velocity before writing any, with a copy of the rounding
        // state so the check sees the same rounding as the writes.
        let mut check = Momentum {
            rule,
            rounding: self.state.rounding,
            write: false,
            finite: true,
        };
        N::visit_zip([net, &mut self.gradient, &mut self.velocity], &mut check);
        if !check.finite {
            return Err(Error::NonFinite);
        }
        let mut write = Momentum {
            rule,
            rounding: self.state.rounding,
            write: true,
            finite: true,
        };
        N::visit_zip([net, &mut self.gradient, &mut self.velocity], &mut write);
        self.state.rounding = write.rounding;
        self.state.steps = self.state.steps.wrapping_add(1);
        step.saturations = T::saturations().wrapping_sub(before);
        Ok(step)
    }
}

/// Forward and backward over the batch with the kernels K, filling the tapes; checks that
/// inputs, targets, outputs, loss and every backward signal are usable. Writes nothing but the
/// tape.
fn forward_backward<T, N, L, K, const I: usize, const O: usize, const B: usize>(
    net: &mut N,
    tape: &mut N::Tape<B>,
    xs: &[Vector<T, I>; B],
    targets: &[L::Target; B],
) -> Result<Step<T>>
where
    T: Scalar,
    N: Model<T, I, O>,
    L: Loss<T, O>,
    K: Kernels<T>,
{
    if !xs.iter().all(|x| all_finite(x.as_slice())) {
        return Err(Error::NonFinite);
    }
    if !targets.iter().all(L::valid) {
        return Err(L::INVALID);
    }
    let inv_b = T::from_f64(1.0 / B as f64);
    let predictions = net.forward_with::<K, B>(xs, tape);
    if !predictions.iter().all(|p| all_finite(p.as_slice())) {
        return Err(Error::NonFinite);
    }
    let loss = predictions
        .iter()
        .zip(targets)
        .fold(T::ZERO, |sum, (p, y)| sum + L::value(p, y))
        * inv_b;
    if !loss.is_finite() {
        return Err(Error::NonFinite);
    }
    let correct = predictions
        .iter()
        .zip(targets)
        .filter(|(p, y)| L::correct(p, y))
        .count() as u32;
    let dys = core::array::from_fn(|b| L::gradient(&predictions[b], &targets[b], inv_b));
    net.backward_with::<K, B>(&dys, tape);
    // The Gram form sums (u_b . u_c)(v_b . v_c) over every affine map, with b = c among the
    // terms: an infinite or NaN backward signal makes it infinite or NaN, so this one test also
    // covers every signal the update will read.
    let grad_norm_sq = net.grad_norm_sq_with::<K, B>(tape);
    if !grad_norm_sq.is_finite() {
        return Err(Error::NonFinite);
    }
    Ok(Step {
        loss,
        grad_norm_sq,
        saturations: 0,
        correct,
    })
}

/// g_jk = sum_b u_b[j] v_b[k] (v = 1 for a bias), the gradient entry summed over the batch in
/// order b = 0, 1, ... (the same expression in both optimisers): u v for one sample, else one
/// [`Scalar::axpy`] entry per sample.
#[inline(always)]
fn gradient_entry<T: Scalar, const B: usize>(u: [T; B], v: [T; B]) -> T {
    if B == 1 {
        return u[0] * v[0];
    }
    (0..B).fold(T::ZERO, |g, b| g.add_product(v[b], u[b]))
}

/// Calls `f(w_jk, g_jk)` for every entry of the affine map (W column-major, then the bias).
#[inline(always)]
fn for_each_entry<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &mut Matrix<T, R, C>,
    bias: Option<&mut Vector<T, R>>,
    us: [&Vector<T, R>; B],
    vs: [&Vector<T, C>; B],
    mut f: impl FnMut(&mut T, T),
) {
    if B > 1 {
        return for_each_entry_batched(w, bias, us, vs, f);
    }
    for k in 0..C {
        let v = vs.map(|v| v[k]);
        for j in 0..R {
            f(&mut w[(j, k)], gradient_entry(us.map(|u| u[j]), v));
        }
    }
    if let Some(bias) = bias {
        for j in 0..R {
            f(&mut bias[j], gradient_entry(us.map(|u| u[j]), [T::ONE; B]));
        }
    }
}

/// [`for_each_entry`] for B > 1: the same entries in the same order, each g_jk the same fold
/// of [`gradient_entry`] over b = 0, 1, ..., but a column's rows are taken CHUNK at a time
/// into a stack buffer, one sample at a time: each step is an axpy the compiler vectorises. Entry by entry, the fold over 32 samples gathered one value
/// from each sample's factor per entry and stayed scalar (64x128x16x32 buffered step about 2x
/// 518e1ef's, which summed this way).
#[inline(always)]
fn for_each_entry_batched<T: Scalar, const R: usize, const C: usize, const B: usize>(
    w: &mut Matrix<T, R, C>,
    bias: Option<&mut Vector<T, R>>,
    us: [&Vector<T, R>; B],
    vs: [&Vector<T, C>; B],
    mut f: impl FnMut(&mut T, T),
) {
    const CHUNK: usize = 64;
    let us = us.map(|u| u.as_slice());
    let mut per_column = |column: &mut [T], v: [T; B]| {
        for (c, ws) in column.chunks_mut(CHUNK).enumerate() {
            let rows = c * CHUNK..c * CHUNK + ws.len();
            let mut acc = [T::ZERO; CHUNK];
            for (u, &v) in us.iter().zip(&v) {
                for (g, &u) in acc.iter_mut().zip(&u[rows.clone()]) {
                    *g = g.add_product(v, u);
                }
            }
            for (w, &g) in ws.iter_mut().zip(&acc) {
                f(w, g);
            }
        }
    };
    for (k, ws) in w.as_mut_slice().chunks_exact_mut(R.max(1)).enumerate() {
        per_column(ws, vs.map(|v| v[k]));
    }
    if let Some(bias) = bias {
        per_column(bias.as_mut_slice(), [T::ONE; B]);
    }
}

/// [`FusedSgd`] off its fused path (weight decay, clipping, eta > 1): every weight from
/// [`Rule::plain`], checked to be finite (`write` false) or written.
struct RuleUpdate<T: Scalar> {
    rule: Rule<T>,
    rounding: T::Rounding,
    write: bool,
    finite: bool,
}

impl<T: Scalar, const B: usize> GradientVisitor<T, B> for RuleUpdate<T> {
    fn affine<const R: usize, const C: usize>(
        &mut self,
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
    ) {
        let (rule, write) = (self.rule, self.write);
        let (rounding, finite) = (&mut self.rounding, &mut self.finite);
        for_each_entry(w, bias, us, vs, |w, g| {
            let new = rule.plain(*w, g, rounding);
            if write {
                *w = new;
            } else {
                *finite &= new.is_finite();
            }
        });
    }
}

/// Adds to `sum` ||grad||_F^2 of one affine map in f64, from the factors of its batch gradient
/// sum_b u_b [v_b; 1]^T: sum_{b,c} (u_b . u_c) ((v_b . v_c) + 1 with a bias), every product in
/// f64, so it does not depend on a format's range; term by term into `sum`, so a caller
/// summing over maps gets one sum in one order.
pub(crate) fn add_affine_norm_sq_f64<T: Scalar, const R: usize, const C: usize, const B: usize>(
    sum: &mut f64,
    has_bias: bool,
    us: [&Vector<T, R>; B],
    vs: [&Vector<T, C>; B],
) {
    let dot =
        |a: &[T], b: &[T]| -> f64 { a.iter().zip(b).map(|(x, y)| x.to_f64() * y.to_f64()).sum() };
    let one = if has_bias { 1.0 } else { 0.0 };
    for b in 0..B {
        for c in 0..B {
            let uu = dot(us[b].as_slice(), us[c].as_slice());
            *sum += uu * (dot(vs[b].as_slice(), vs[c].as_slice()) + one);
        }
    }
}

/// ||grad L||_F^2 in f64 over every affine map ([`add_affine_norm_sq_f64`]). For the clipping
/// factor, which must not depend on a format's range.
struct NormSqInF64(f64);

impl<T: Scalar, const B: usize> GradientVisitor<T, B> for NormSqInF64 {
    fn affine<const R: usize, const C: usize>(
        &mut self,
        _: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
    ) {
        add_affine_norm_sq_f64(&mut self.0, bias.is_some(), us, vs);
    }
}

/// Writes the batch gradient into a network-shaped buffer.
struct StoreGradient;

impl<T: Scalar, const B: usize> GradientVisitor<T, B> for StoreGradient {
    fn affine<const R: usize, const C: usize>(
        &mut self,
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
    ) {
        for_each_entry(w, bias, us, vs, |w, g| *w = g);
    }
}

/// [`BufferedSgd`]'s update of (weights, gradient, velocity): checks that every new weight and
/// velocity is finite, or (`write`) writes them.
struct Momentum<T: Scalar> {
    rule: Rule<T>,
    rounding: T::Rounding,
    write: bool,
    finite: bool,
}

impl<T: Scalar> crate::model::ZipVisitor<T, 3> for Momentum<T> {
    fn tensors<const R: usize, const C: usize>(
        &mut self,
        _: crate::model::Name,
        [w, g, v]: [&mut Matrix<T, R, C>; 3],
    ) {
        // As slices, one loop per mode: nalgebra's `iter_mut` checks for the end of each
        // column at every entry (it allows strides), which kept this loop scalar: 4x the
        // 518e1ef step time of every buffered benchmark, nearly all of it here (profile).
        let (rule, rounding) = (self.rule, &mut self.rounding);
        let entries = w
            .as_mut_slice()
            .iter_mut()
            .zip(g.as_slice())
            .zip(v.as_mut_slice());
        if self.write {
            for ((w, &g), v) in entries {
                (*w, *v) = rule.momentum(*w, g, *v, rounding);
            }
        } else {
            let mut finite = true;
            for ((w, &g), v) in entries {
                let (new_w, new_v) = rule.momentum(*w, g, *v, rounding);
                finite &= new_w.is_finite() & new_v.is_finite();
            }
            self.finite &= finite;
        }
    }
}

/// The per-entry update, shared by both optimisers so they agree to the bit.
#[derive(Clone, Copy, Debug)]
struct Rule<T> {
    eta: T,
    mu: T,
    lambda: T,
    /// Clip factor c = min(1, clip / ||grad||).
    c: T,
    /// c = 1 and lambda = 0: the direction is g itself (exactly, in every format).
    plain_gradient: bool,
    /// The plain gradient with eta <= 1: [`FusedSgd`] takes the network's own update
    /// ([`Trainable::update_with`]), which forms eta v before multiplying by u (eta <= 1 keeps
    /// that finite for every finite v).
    fused: bool,
}

impl<T: Scalar> Rule<T> {
    /// The rule for a step whose gradient has squared norm `grad_norm_sq` (the kernels'), or
    /// [`Error::NonFinite`] when an increment could make a weight non-finite: every increment
    /// is at most eta c ||grad|| in magnitude (|g_jk| <= ||grad||_F) and must stay below
    /// [`Scalar::FINITE_STEP`]. With clipping, the norm that sets c comes from the factors in
    /// f64 ([`NormSqInF64`]).
    fn new<N: Trainable<T>, const B: usize>(
        config: &Sgd<T>,
        grad_norm_sq: T,
        net: &mut N,
        tape: &N::Tape<B>,
    ) -> Result<Self> {
        let c = match config.clip_norm {
            Some(clip) => {
                let mut norm_sq = NormSqInF64(0.0);
                net.visit_gradients(tape, &mut norm_sq);
                let norm = libm::sqrt(norm_sq.0);
                if !norm.is_finite() {
                    return Err(Error::NonFinite);
                }
                if norm > clip.to_f64() {
                    T::from_f64(clip.to_f64() / norm)
                } else {
                    T::ONE
                }
            }
            None => T::ONE,
        };
        let eta = config.learning_rate;
        let largest_increment = eta * c * grad_norm_sq.sqrt();
        if !largest_increment.is_finite() || largest_increment > T::FINITE_STEP {
            return Err(Error::NonFinite);
        }
        let plain_gradient = c == T::ONE && config.weight_decay == T::ZERO;
        Ok(Self {
            eta,
            mu: config.momentum,
            lambda: config.weight_decay,
            c,
            plain_gradient,
            fused: plain_gradient && eta <= T::ONE,
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
    /// the rounding state ([`Scalar::sub_mul_rounded`]).
    #[inline(always)]
    fn plain(&self, w: T, g: T, rounding: &mut T::Rounding) -> T {
        w.sub_mul_rounded(self.eta, self.direction(w, g), rounding)
    }

    #[inline(always)]
    fn momentum(&self, w: T, g: T, v: T, rounding: &mut T::Rounding) -> (T, T) {
        let v = self.mu * v + self.direction(w, g);
        (w.sub_mul_rounded(self.eta, v, rounding), v)
    }
}

#[cfg(test)]
mod tests {
    use super::{for_each_entry, gradient_entry};
    use crate::fixed::Q12;
    use crate::{Matrix, Rng, Scalar, Vector};

    /// The batched walk visits every entry once, in column-major order then the bias, with
    /// exactly [`gradient_entry`]'s value: R = 70 crosses a CHUNK boundary (64) with a partial
    /// chunk, B = 3 sums more than one sample.
    fn batched_walk_is_the_entry_fold<T: Scalar>() {
        const R: usize = 70;
        const C: usize = 3;
        let mut rng = Rng::new(5);
        let mut draw = || T::from_f64(rng.uniform_in(-1.0, 1.0));
        let us: [Vector<T, R>; 3] = core::array::from_fn(|_| Vector::from_fn(|_, _| draw()));
        let vs: [Vector<T, C>; 3] = core::array::from_fn(|_| Vector::from_fn(|_, _| draw()));
        let (mut w, mut bias): (Matrix<T, R, C>, Vector<T, R>) = (crate::zeros(), crate::zeros());
        let mut seen = [T::ZERO; R * C + R];
        let mut n = 0;
        let (ur, vr) = (us.each_ref(), vs.each_ref());
        for_each_entry(&mut w, Some(&mut bias), ur, vr, |_, g| {
            seen[n] = g;
            n += 1;
        });
        assert_eq!(n, R * C + R);
        for k in 0..=C {
            for j in 0..R {
                let v = if k < C { vs.map(|v| v[k]) } else { [T::ONE; 3] };
                let want = gradient_entry(us.map(|u| u[j]), v);
                assert_eq!(seen[k * R + j], want, "entry ({j}, {k})");
            }
        }
    }

    #[test]
    fn batched_walk_is_the_entry_fold_in_every_format() {
        batched_walk_is_the_entry_fold::<f32>();
        batched_walk_is_the_entry_fold::<f64>();
        batched_walk_is_the_entry_fold::<Q12>();
        batched_walk_is_the_entry_fold::<crate::fixed::Q16>();
    }
}
