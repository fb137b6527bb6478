//! A deep residual network: M residual blocks applied in order, block 1 first.

use crate::batch::batched;
use crate::fixed::Dither;
use crate::{Activation, BlockTape, Model, Relu, ResidualBlock, Rng, Scalar, Vector};

/// x -> f_M(...f_1(x)), f_i(x) = x + W2_i s(W1_i x + b1_i) + b2_i: M blocks of width D with
/// hidden width H. RAM is fixed by the types: see [`ResNet::PARAM_BYTES`] and
/// [`ResNet::TAPE_BYTES`].
///
/// ```
/// use nearid::{Model, ResNet, Rng, Vector};
/// let net = ResNet::<f32, 3, 8, 4>::random(&mut Rng::new(7), 0.1);
/// let y = net.forward(&Vector::<f32, 3>::new(0.5, -1.0, 2.0)).unwrap();
/// assert!(y.iter().all(|v| v.is_finite()));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResNet<T: Scalar, const D: usize, const H: usize, const M: usize, S = Relu> {
    /// The blocks, `blocks[0]` applied first.
    pub blocks: [ResidualBlock<T, D, H, S>; M],
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation>
    ResNet<T, D, H, M, S>
{
    /// Bytes of parameters: M (2 D H + D + H) scalars.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();
    /// Bytes of one sample's tape: M (2 D + 2 H) scalars (input, hidden activations, and the two
    /// backward signals of each block).
    pub const TAPE_BYTES: usize = core::mem::size_of::<[BlockTape<T, D, H>; M]>();

    /// The exact identity map (zero residual in every block).
    pub fn identity() -> Self {
        Self {
            blocks: [ResidualBlock::identity(); M],
        }
    }

    /// Exactly the identity map, trainable: every block from [`ResidualBlock::identity_init`]
    /// (W1 ~ N(0, scale^2), W2 = 0, biases 0).
    pub fn identity_init(rng: &mut Rng, scale: f64) -> Self {
        Self {
            blocks: core::array::from_fn(|_| ResidualBlock::identity_init(rng, scale)),
        }
    }

    /// Small random weights N(0, scale^2) from the seeded generator, biases zero.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        Self {
            blocks: core::array::from_fn(|_| ResidualBlock::random(rng, scale)),
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Model<T, D>
    for ResNet<T, D, H, M, S>
{
    /// One [`BlockTape`] per block: (M) x (2 D + 2 H).
    type Tape = [BlockTape<T, D, H>; M];
    const TENSORS: usize = 4 * M;

    fn new_tape() -> Self::Tape {
        [BlockTape::zeros(); M]
    }

    fn zeros() -> Self {
        Self::identity()
    }

    fn tensor(&self, i: usize) -> &[T] {
        self.blocks.get(i / 4).map_or(&[], |b| b.tensor(i % 4))
    }

    fn tensor_mut(&mut self, i: usize) -> &mut [T] {
        self.blocks
            .get_mut(i / 4)
            .map_or(&mut [], |b| b.tensor_mut(i % 4))
    }

    fn grad_factors(tape: &Self::Tape, i: usize) -> (&[T], Option<&[T]>) {
        tape.get(i / 4).map_or((&[], None), |t| {
            ResidualBlock::<T, D, H, S>::grad_factors(t, i % 4)
        })
    }

    /// Block by block with the shapes fixed by the types ([`ResidualBlock::sgd_plain_from`]);
    /// B > 1 floats on desktop targets take the batch kernels of the default.
    fn sgd_plain<const B: usize>(&mut self, tapes: &[Self::Tape; B], eta: T, dither: &mut Dither) {
        if batched::<T, B>() {
            crate::sgd::plain_update::<T, Self, D, B>(self, tapes, eta, dither);
            return;
        }
        for (i, block) in self.blocks.iter_mut().enumerate() {
            block.sgd_plain_from(&tapes.each_ref().map(|t| &t[i]), eta, dither);
        }
    }

    /// Block by block with the lengths fixed by the types
    /// ([`ResidualBlock::add_grad_norm_sq`]); B > 1 floats on desktop targets take the Gram
    /// kernels of the default.
    fn grad_norm_sq<const B: usize>(tapes: &[Self::Tape; B]) -> T {
        if batched::<T, B>() {
            return crate::sgd::grad_norm_sq::<T, Self, D, B>(tapes);
        }
        let mut total = T::ZERO;
        for i in 0..M {
            ResidualBlock::<T, D, H, S>::add_grad_norm_sq(
                &tapes.each_ref().map(|t| &t[i]),
                &mut total,
            );
        }
        total
    }

    fn apply(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.blocks.iter().fold(*x, |x, b| b.apply(&x))
    }

    fn forward_tape(&self, x: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        self.blocks
            .iter()
            .zip(tape.iter_mut())
            .fold(*x, |x, (b, t)| b.forward_tape(&x, t))
    }

    fn backward(&self, dy: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        self.blocks
            .iter()
            .zip(tape.iter_mut())
            .rev()
            .fold(*dy, |g, (b, t)| b.backward(&g, t))
    }

    /// Block by block for the whole batch with the kernels of [`crate::batch`] when they apply
    /// ([`batched`]: B > 1 floats on desktop targets), so each block's weights are read once
    /// per batch; otherwise sample by sample. The same outputs and tapes to the bit.
    fn apply_batch<const B: usize>(&self, xs: &[Vector<T, D>; B]) -> [Vector<T, D>; B] {
        if !batched::<T, B>() {
            return core::array::from_fn(|b| self.apply(&xs[b]));
        }
        self.blocks
            .iter()
            .fold(*xs, |xs, block| block.apply_batch(&xs))
    }

    /// Block by block for the whole batch when [`batched`], else sample by sample; see
    /// [`ResNet::apply_batch`].
    fn forward_tape_batch<const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tapes: &mut [Self::Tape; B],
    ) -> [Vector<T, D>; B] {
        if !batched::<T, B>() {
            return core::array::from_fn(|b| self.forward_tape(&xs[b], &mut tapes[b]));
        }
        let mut xs = *xs;
        for (i, block) in self.blocks.iter().enumerate() {
            xs = block.forward_tape_batch(&xs, tapes.each_mut().map(|t| &mut t[i]));
        }
        xs
    }

    /// Block by block (last first) for the whole batch when [`batched`], else sample by
    /// sample.
    fn backward_batch<const B: usize>(&self, dys: &[Vector<T, D>; B], tapes: &mut [Self::Tape; B]) {
        if !batched::<T, B>() {
            for (dy, tape) in dys.iter().zip(tapes) {
                self.backward(dy, tape);
            }
            return;
        }
        let mut gs = *dys;
        for (i, block) in self.blocks.iter().enumerate().rev() {
            gs = block.backward_batch(&gs, tapes.each_mut().map(|t| &mut t[i]));
        }
    }
}
