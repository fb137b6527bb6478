//! A deep residual network: M residual blocks applied in order, block 1 first, of which the
//! first m are in use (the active depth: a network grows by inserting blocks, up to M).

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Trainable, Visitor, ZipVisitor};
use crate::{
    Activation, BlockTape, Error, Model, Relu, ResidualBlock, Result, Rng, Scalar, Vector,
};

/// x -> f_m(...f_1(x)), f_i(x) = x + W2_i s(W1_i x + b1_i) + b2_i: blocks of width D with hidden
/// width H, room for M of them (RAM is fixed by M: see [`ResNet::PARAM_BYTES`] and
/// [`ResNet::TAPE_BYTES`]), of which the first m run ([`ResNet::active_depth`], M unless set).
/// Blocks past m are not computed, trained or tested; the cost of a step falls with m.
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
    /// The blocks, `blocks[0]` applied first; only the first [`ResNet::active_depth`] run.
    pub blocks: [ResidualBlock<T, D, H, S>; M],
    /// m <= M, kept in range by every method that sets it.
    active: usize,
}

/// What a [`ResNet`] records for a batch of B: per block, one [`BlockTape`] per sample
/// ((M, B) x (2 D + 2 H)), and how many blocks ran.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResNetTape<T: Scalar, const D: usize, const H: usize, const M: usize, const B: usize> {
    /// `blocks[i][b]`: block i, sample b. Only the first `active` hold this batch.
    pub blocks: [[BlockTape<T, D, H>; B]; M],
    /// The active depth of the forward pass that wrote it.
    pub active: usize,
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, const B: usize>
    ResNetTape<T, D, H, M, B>
{
    /// The tapes of the blocks that ran.
    pub fn active(&self) -> &[[BlockTape<T, D, H>; B]] {
        &self.blocks[..self.active.min(M)]
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation>
    ResNet<T, D, H, M, S>
{
    /// Bytes of parameters: M (2 D H + D + H) scalars (the network takes a word more, its
    /// active depth).
    pub const PARAM_BYTES: usize = M * ResidualBlock::<T, D, H, S>::PARAM_BYTES;
    /// Bytes of one sample's tape: M (2 D + 2 H) scalars (input, hidden activations, and the two
    /// backward signals of each block); a batch of B takes B times this.
    pub const TAPE_BYTES: usize = core::mem::size_of::<[BlockTape<T, D, H>; M]>();

    /// A network from its blocks, all of them active.
    pub fn from_blocks(blocks: [ResidualBlock<T, D, H, S>; M]) -> Self {
        Self { blocks, active: M }
    }

    /// The exact identity map (zero residual in every block). With ReLU a dead start: see
    /// [`ResNet::identity_init`].
    pub fn identity() -> Self {
        Self::from_blocks([ResidualBlock::identity(); M])
    }

    /// Exactly the identity map, trainable: every block from [`ResidualBlock::identity_init`]
    /// (W1 ~ N(0, scale^2), W2 = 0, biases 0).
    pub fn identity_init(rng: &mut Rng, scale: f64) -> Self {
        Self::from_blocks(core::array::from_fn(|_| {
            ResidualBlock::identity_init(rng, scale)
        }))
    }

    /// Small random weights N(0, scale^2) from the seeded generator, biases zero.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        Self::from_blocks(core::array::from_fn(|_| ResidualBlock::random(rng, scale)))
    }

    /// The same network in another number type ([`ResidualBlock::cast`]).
    pub fn cast<U: Scalar>(&self) -> ResNet<U, D, H, M, S> {
        ResNet {
            blocks: self.blocks.each_ref().map(|b| b.cast()),
            active: self.active,
        }
    }

    /// m, the blocks in use.
    pub fn active_depth(&self) -> usize {
        self.active
    }

    /// Uses the first m blocks, or [`Error::OutOfRange`] for m > M. The blocks past m are left
    /// as they are (and ignored until the depth reaches them).
    pub fn set_active_depth(&mut self, m: usize) -> Result<()> {
        if m > M {
            return Err(Error::OutOfRange);
        }
        self.active = m;
        Ok(())
    }

    /// Inserts `block` before block `position` (0 ..= m; m appends it) and uses one block
    /// more: blocks `position .. m` move up by one. [`Error::OutOfRange`] when the network is
    /// at its capacity M or `position > m`; nothing changes then.
    pub fn insert(&mut self, position: usize, block: ResidualBlock<T, D, H, S>) -> Result<()> {
        let m = self.active;
        if m >= M || position > m {
            return Err(Error::OutOfRange);
        }
        self.blocks[position..=m].rotate_right(1);
        self.blocks[position] = block;
        self.active = m + 1;
        Ok(())
    }

    /// Grows by one block at `position` that computes exactly the identity (W2 = 0, b2 = 0,
    /// b1 = 0) but gets a gradient at once: W1 ~ N(0, scale^2), so a = s(W1 z) is not zero and
    /// dL/dW2 = dy a^T is not either ([`ResidualBlock::for_insertion`]). The network's outputs
    /// keep every bit at the insertion (the new block adds W2 a + b2 = -0 to its input; the
    /// exceptions: the sign of an output of exactly zero behind a tanh or identity unit, see
    /// [`ResidualBlock::for_insertion`], and a signal so large that W1 z overflows, where the
    /// outputs become non-finite and [`Model::forward`] refuses them).
    pub fn grow(&mut self, position: usize, rng: &mut Rng, scale: f64) -> Result<()> {
        if self.active >= M || position > self.active {
            return Err(Error::OutOfRange);
        }
        self.insert(position, ResidualBlock::for_insertion(rng, scale))
    }

    /// Inserts an all-zero block before block `position` of a buffer shaped like the network
    /// (momentum, which must grow with it): blocks `position ..` move up by one and the last
    /// falls off (a buffer's blocks past the network's depth are zero), and one block more is
    /// in use. [`Error::OutOfRange`] for `position >= M`.
    pub fn grow_zero(&mut self, position: usize) -> Result<()> {
        if position >= M {
            return Err(Error::OutOfRange);
        }
        self.blocks[position..].rotate_right(1);
        self.blocks[position] = ResidualBlock::identity();
        self.active = (self.active + 1).min(M);
        Ok(())
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: Activation> Trainable<T>
    for ResNet<T, D, H, M, S>
{
    type Tape<const B: usize> = ResNetTape<T, D, H, M, B>;
    const PARAMS: usize = M * <ResidualBlock<T, D, H, S> as Trainable<T>>::PARAMS;

    fn zeros() -> Self {
        Self::identity()
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        ResNetTape {
            blocks: [[BlockTape::zeros(); B]; M],
            active: 0,
        }
    }

    /// Block by block, the blocks that ran ([`Kernels::block_update`]).
    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        for (block, tapes) in self.blocks.iter_mut().zip(tape.active()) {
            K::block_update(block, tapes, eta, rounding);
        }
    }

    /// The blocks that ran.
    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        v: &mut V,
    ) {
        for (block, tapes) in self.blocks.iter_mut().zip(tape.active()) {
            block.visit_gradients_of(tapes, v);
        }
    }

    /// Every block, in use or not (a file holds the network's whole capacity).
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
            .take(self.active)
            .fold(*xs, |xs, block| K::block_forward(block, &xs, &mut tapes))
    }

    /// Block by block, each for the whole batch ([`Kernels::block_forward`]).
    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        let m = self.active.min(M);
        tape.active = m;
        self.blocks[..m]
            .iter()
            .zip(tape.blocks.iter_mut())
            .fold(*xs, |xs, (block, tapes)| {
                K::block_forward(block, &xs, tapes)
            })
    }

    /// Block by block, last first ([`Kernels::block_backward`]), over the blocks that ran.
    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        let m = tape.active.min(M);
        self.blocks[..m]
            .iter()
            .zip(tape.blocks.iter_mut())
            .rev()
            .fold(*dys, |gs, (block, tapes)| {
                K::block_backward(block, &gs, tapes)
            })
    }
}
