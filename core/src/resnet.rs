//! A deep residual network: M residual blocks applied in order, block 1 first.

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Trainable, Visitor, ZipVisitor};
use crate::{Activation, BlockTape, Model, Relu, ResidualBlock, Rng, Scalar, Vector};

/// x -> f_M(...f_1(x)), f_i(x) = x + W2_i s(W1_i x + b1_i) + b2_i: M blocks of width D with
/// hidden width H. RAM is fixed by the types: see [`ResNet::PARAM_BYTES`] and
/// [`ResNet::TAPE_BYTES`].
///
/// Start training from [`ResNet::identity_init`]: exactly the identity map, with random W1 so
/// that every block gets a gradient. [`ResNet::identity`] (all zeros) is the identity too, but
/// with ReLU its hidden units are dead (a = 0), so only the last bias would ever train.
///
/// Its tensors, in order: for each block i = 0 .. M - 1 (applied in that order), W1 (H, D),
/// b1 (H), W2 (D, H), b2 (D).
///
/// ```
/// use nearid::{Model, ResNet, Rng, vector};
/// let net = ResNet::<f32, 3, 8, 4>::random(&mut Rng::new(7), 0.1);
/// let y = net.forward(&vector![0.5, -1.0, 2.0]).unwrap();
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
    /// backward signals of each block); a batch of B takes B times this.
    pub const TAPE_BYTES: usize = core::mem::size_of::<[BlockTape<T, D, H>; M]>();

    /// The exact identity map (zero residual in every block). With ReLU a dead start: see
    /// [`ResNet::identity_init`].
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

    /// The same network in another number type ([`ResidualBlock::cast`]).
    pub fn cast<U: Scalar>(&self) -> ResNet<U, D, H, M, S> {
        ResNet {
            blocks: self.blocks.each_ref().map(|b| b.cast()),
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Trainable<T>
    for ResNet<T, D, H, M, S>
{
    /// Per block, one [`BlockTape`] per sample: (M, B) x (2 D + 2 H).
    type Tape<const B: usize> = [[BlockTape<T, D, H>; B]; M];
    const PARAMS: usize = M * <ResidualBlock<T, D, H, S> as Trainable<T>>::PARAMS;

    fn zeros() -> Self {
        Self::identity()
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        [[BlockTape::zeros(); B]; M]
    }

    /// Block by block ([`Kernels::block_update`]).
    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        for (block, tapes) in self.blocks.iter_mut().zip(tape) {
            K::block_update(block, tapes, eta, rounding);
        }
    }

    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        v: &mut V,
    ) {
        for (block, tapes) in self.blocks.iter_mut().zip(tape) {
            block.visit_gradients_of(tapes, v);
        }
    }

    fn visit<V: Visitor<T>>(&self, v: &mut V) {
        for (i, block) in self.blocks.iter().enumerate() {
            block.visit_as(i, v);
        }
    }

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V) {
        let mut nets = nets;
        for i in 0..M {
            ResidualBlock::visit_zip_as(nets.each_mut().map(|n| &mut n.blocks[i]), i, v);
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Model<T, D>
    for ResNet<T, D, H, M, S>
{
    /// Block by block, each for the whole batch, with one block's tape at a time.
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
    ) -> [Vector<T, D>; B] {
        let mut tapes = [BlockTape::zeros(); B];
        self.blocks
            .iter()
            .fold(*xs, |xs, block| K::block_forward(block, &xs, &mut tapes))
    }

    /// Block by block, each for the whole batch ([`Kernels::block_forward`]).
    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        self.blocks
            .iter()
            .zip(tape.iter_mut())
            .fold(*xs, |xs, (block, tapes)| {
                K::block_forward(block, &xs, tapes)
            })
    }

    /// Block by block, last first ([`Kernels::block_backward`]).
    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        self.blocks
            .iter()
            .zip(tape.iter_mut())
            .rev()
            .fold(*dys, |gs, (block, tapes)| {
                K::block_backward(block, &gs, tapes)
            })
    }
}
