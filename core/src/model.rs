//! The interface every trainable network implements: forward with a tape, backward into the
//! tape, and its parameters as flat tensors. The optimisers in [`crate::sgd`] are written once
//! against it.
//!
//! Every parameter tensor's gradient on one sample is an outer product u v^T (a bias: u alone),
//! with u and v vectors the tape already holds: for a weight W in y = W v, u = dL/dy. So the
//! gradient of a mini-batch never has to be stored to be applied: [`Model::grad_factors`] hands
//! out (u, v) and the fused optimiser updates each weight from sum_b u_b v_b^T directly.

use crate::fixed::Dither;
use crate::{Error, Result, Scalar, Vector, scalar::all_finite};

/// A trainable map R^D -> R^D.
pub trait Model<T: Scalar, const D: usize>: Clone {
    /// What one sample's forward pass records and its backward pass fills in.
    type Tape: Copy + core::fmt::Debug;

    /// Number of parameter tensors (weight matrices and bias vectors).
    const TENSORS: usize;

    /// A tape of zeros.
    fn new_tape() -> Self::Tape;

    /// The same shape with every parameter zero. For residual networks this is the identity map;
    /// the optimisers also use it as a gradient or momentum buffer.
    fn zeros() -> Self;

    /// Parameter tensor `i` as a column-major slice (empty when `i >= TENSORS`).
    fn tensor(&self, i: usize) -> &[T];

    /// Parameter tensor `i`, mutable (empty when `i >= TENSORS`).
    fn tensor_mut(&mut self, i: usize) -> &mut [T];

    /// Tensor `i`'s gradient on the sample recorded in `tape` (after [`Model::backward`]) is
    /// u v^T, column-major (rows u, columns v); `None` for v means a bias, whose gradient is u.
    fn grad_factors(tape: &Self::Tape, i: usize) -> (&[T], Option<&[T]>);

    /// The network's output, without checks: NaN in, NaN out.
    fn apply(&self, x: &Vector<T, D>) -> Vector<T, D>;

    /// Like [`Model::apply`], recording what [`Model::backward`] needs.
    fn forward_tape(&self, x: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D>;

    /// Given dL/dy for the output of the sample recorded in `tape`, fills the tape with the
    /// backward signals (the vector-Jacobian products every parameter gradient is built from)
    /// and returns dL/dx.
    fn backward(&self, dy: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D>;

    /// [`Model::apply`] for every sample of a batch. Networks of several layers override it to
    /// run layer by layer, as [`Model::forward_tape_batch`].
    fn apply_batch<const B: usize>(&self, xs: &[Vector<T, D>; B]) -> [Vector<T, D>; B] {
        core::array::from_fn(|b| self.apply(&xs[b]))
    }

    /// [`Model::forward_tape`] for every sample of a batch, returning the outputs. Networks of
    /// several layers override it to run layer by layer, so each layer's weights are read once
    /// per batch instead of once per sample.
    fn forward_tape_batch<const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tapes: &mut [Self::Tape; B],
    ) -> [Vector<T, D>; B] {
        core::array::from_fn(|b| self.forward_tape(&xs[b], &mut tapes[b]))
    }

    /// [`Model::backward`] for every sample of a batch, given dL/dy of each (the tapes recorded
    /// by [`Model::forward_tape_batch`]).
    fn backward_batch<const B: usize>(&self, dys: &[Vector<T, D>; B], tapes: &mut [Self::Tape; B]) {
        for (dy, tape) in dys.iter().zip(tapes) {
            self.backward(dy, tape);
        }
    }

    /// Plain SGD on every parameter from the tapes of a batch (after
    /// [`Model::backward_batch`]): W <- W - eta sum_b u_b v_b^T for each tensor in order,
    /// column by column through [`Scalar::sgd_column`]. Networks override it to hand each
    /// tensor over with its shape fixed by the types, so the compiler knows every loop's
    /// length (on a Cortex-M4F the update of a ResNet<f32, 3, 16, 8> is then straight-line
    /// code per column); the result is the same to the bit.
    fn sgd_plain<const B: usize>(&mut self, tapes: &[Self::Tape; B], eta: T, dither: &mut Dither) {
        crate::sgd::plain_update::<T, Self, D, B>(self, tapes, eta, dither);
    }

    /// ||grad L||_F^2 of the batch recorded in the tapes (after [`Model::backward_batch`]),
    /// from the factors: sum over tensors of sum_{b,c} (u_b . u_c)(v_b . v_c), tensor by tensor
    /// in order. Networks override it to hand the factors over with their lengths in the types;
    /// the result is the same to the bit.
    fn grad_norm_sq<const B: usize>(tapes: &[Self::Tape; B]) -> T {
        crate::sgd::grad_norm_sq::<T, Self, D, B>(tapes)
    }

    /// Inference: the output for `x`, or [`Error::NonFinite`] when `x` or the output is not
    /// finite.
    fn forward(&self, x: &Vector<T, D>) -> Result<Vector<T, D>> {
        if !all_finite(x.as_slice()) {
            return Err(Error::NonFinite);
        }
        let y = self.apply(x);
        if all_finite(y.as_slice()) {
            Ok(y)
        } else {
            Err(Error::NonFinite)
        }
    }

    /// Number of scalar parameters.
    fn parameter_count() -> usize {
        let z = Self::zeros();
        (0..Self::TENSORS).map(|i| z.tensor(i).len()).sum()
    }

    /// True when every parameter is finite.
    fn is_finite(&self) -> bool {
        (0..Self::TENSORS).all(|i| all_finite(self.tensor(i)))
    }
}

/// The bytes a model's training state occupies, known at compile time: the parameters, one tape
/// per mini-batch sample, and the optimiser's buffers (`buffers` extra copies of the parameters:
/// 0 for fused SGD, 2 for SGD with a gradient buffer and momentum).
pub const fn training_bytes<T, N: Model<T, D>, const D: usize>(
    batch: usize,
    buffers: usize,
) -> usize
where
    T: Scalar,
{
    (1 + buffers) * core::mem::size_of::<N>() + batch * core::mem::size_of::<N::Tape>()
}
