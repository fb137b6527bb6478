//! One residual block, y = x + W2 s(W1 x + b1) + b2 (He et al. 2016; the "x + A_i sigma(B_i x)"
//! units of BEL, docs/THEORY.md section 4): its parameters, its tape, and its passes, which are
//! the kernels' ([`Kernels::block_forward`], [`Kernels::block_backward`],
//! [`Kernels::block_update`]).

use core::marker::PhantomData;

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Layer, Name, Tensor, Trainable, Visitor, ZipVisitor};
use crate::{Activation, Matrix, Model, Relu, Rng, Scalar, Vector, zeros};

/// y = x + W2 s(W1 x + b1) + b2 with x, y: (D), hidden width H, activation `S`.
///
/// All-zero parameters give exactly the identity map ([`ResidualBlock::identity`]); with ReLU
/// that start is dead (a = 0, so only b2 gets a gradient): train from
/// [`ResidualBlock::identity_init`], which is also exactly the identity.
///
/// Its tensors, in order: W1 (H, D), b1 (H), W2 (D, H), b2 (D).
///
/// ```
/// use nearid::{Model, ResidualBlock, vector};
/// let block = ResidualBlock::<f64, 2, 4>::identity();
/// let x = vector![1.0, -2.0];
/// assert_eq!(block.forward(&x), Ok(x));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ResidualBlock<T: Scalar, const D: usize, const H: usize, S = Relu> {
    /// (H, D)
    pub w1: Matrix<T, H, D>,
    /// (H)
    pub b1: Vector<T, H>,
    /// (D, H)
    pub w2: Matrix<T, D, H>,
    /// (D)
    pub b2: Vector<T, D>,
    activation: PhantomData<S>,
}

/// What one block records for one sample: its input and hidden activations (forward), and the
/// backward signals dL/dy and dL/dz.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlockTape<T: Scalar, const D: usize, const H: usize> {
    /// x, the block's input: (D)
    pub x: Vector<T, D>,
    /// a = s(W1 x + b1): (H)
    pub a: Vector<T, H>,
    /// dL/dy, the signal arriving at the block's output: (D)
    pub dy: Vector<T, D>,
    /// dL/dz for z = W1 x + b1: (H)
    pub dz: Vector<T, H>,
}

impl<T: Scalar, const D: usize, const H: usize> BlockTape<T, D, H> {
    /// A tape of zeros.
    pub fn zeros() -> Self {
        Self {
            x: zeros(),
            a: zeros(),
            dy: zeros(),
            dz: zeros(),
        }
    }
}

impl<T: Scalar, const D: usize, const H: usize, S: Activation> ResidualBlock<T, D, H, S> {
    /// Bytes of parameters: (2 D H + D + H) scalars.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();

    /// A block from its parameters.
    pub fn new(
        w1: Matrix<T, H, D>,
        b1: Vector<T, H>,
        w2: Matrix<T, D, H>,
        b2: Vector<T, D>,
    ) -> Self {
        Self {
            w1,
            b1,
            w2,
            b2,
            activation: PhantomData,
        }
    }

    /// The exact identity map: every parameter zero. With ReLU this is a dead start (a = 0, so
    /// only b2 gets a gradient); train from [`ResidualBlock::identity_init`] instead.
    pub fn identity() -> Self {
        Self::new(zeros(), zeros(), zeros(), zeros())
    }

    /// Exactly the identity map, and trainable: W1 ~ N(0, scale^2) from the seeded generator,
    /// W2 = 0 and both biases 0, so the residual W2 s(W1 x + b1) + b2 is zero but its gradient
    /// dL/dW2 = dy s(W1 x)^T is not (the "zero last layer" start of Fixup and Goyal et al.).
    pub fn identity_init(rng: &mut Rng, scale: f64) -> Self {
        let mut b = Self::identity();
        b.w1.iter_mut()
            .for_each(|w| *w = T::from_f64(scale * rng.normal()));
        b
    }

    /// A block to insert into a trained network ([`crate::ResNet::grow`]): as
    /// [`ResidualBlock::identity_init`], but W2 and b2 are -0 in floats, so that
    /// x + b2 + W2 a keeps every bit of x, the sign of a zero x included (x + (-0) = x for every
    /// x, and a (-0) = -0 for a >= 0: ReLU and softplus units; a tanh or identity unit with
    /// a < 0 adds +0, which can turn an x of exactly -0 into +0, equal in value).
    pub fn for_insertion(rng: &mut Rng, scale: f64) -> Self {
        let mut b = Self::identity_init(rng, scale);
        b.w2.iter_mut()
            .chain(b.b2.iter_mut())
            .for_each(|w| *w = -T::ZERO);
        b
    }

    /// Weights drawn from N(0, scale^2) by the seeded generator, biases zero.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        let mut b = Self::identity();
        b.w1.iter_mut()
            .chain(b.w2.iter_mut())
            .for_each(|w| *w = T::from_f64(scale * rng.normal()));
        b
    }

    /// The same block in another number type, every parameter converted through f64
    /// ([`Scalar::from_f64`]: fixed point rounds to nearest and saturates, counted).
    pub fn cast<U: Scalar>(&self) -> ResidualBlock<U, D, H, S> {
        let c = |x: &T| U::from_f64(x.to_f64());
        ResidualBlock::new(
            self.w1.map(|x| c(&x)),
            self.b1.map(|x| c(&x)),
            self.w2.map(|x| c(&x)),
            self.b2.map(|x| c(&x)),
        )
    }

    /// Hands W1, b1, W2, b2 to `v` as the tensors of block `index`.
    pub(crate) fn visit_as<V: Visitor<T>>(&self, index: usize, v: &mut V) {
        let name = |tensor| Name {
            layer: Layer::Block(index),
            tensor,
        };
        v.tensor(name(Tensor::W1), &self.w1);
        v.tensor(name(Tensor::B1), &self.b1);
        v.tensor(name(Tensor::W2), &self.w2);
        v.tensor(name(Tensor::B2), &self.b2);
    }

    /// Hands W1, b1, W2, b2 of K blocks to `v` together, as the tensors of block `index`.
    pub(crate) fn visit_zip_as<V: ZipVisitor<T, K>, const K: usize>(
        blocks: [&mut Self; K],
        index: usize,
        v: &mut V,
    ) {
        let name = |tensor| Name {
            layer: Layer::Block(index),
            tensor,
        };
        let mut blocks = blocks;
        v.tensors(name(Tensor::W1), blocks.each_mut().map(|b| &mut b.w1));
        v.tensors(name(Tensor::B1), blocks.each_mut().map(|b| &mut b.b1));
        v.tensors(name(Tensor::W2), blocks.each_mut().map(|b| &mut b.w2));
        v.tensors(name(Tensor::B2), blocks.each_mut().map(|b| &mut b.b2));
    }

    /// Hands (W1, b1) with factors (dz, x) and (W2, b2) with (dy, a) to `v`.
    pub(crate) fn visit_gradients_of<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tapes: &[BlockTape<T, D, H>; B],
        v: &mut V,
    ) {
        let (dz, x) = (
            tapes.each_ref().map(|t| &t.dz),
            tapes.each_ref().map(|t| &t.x),
        );
        v.affine(&mut self.w1, Some(&mut self.b1), dz, x);
        let (dy, a) = (
            tapes.each_ref().map(|t| &t.dy),
            tapes.each_ref().map(|t| &t.a),
        );
        v.affine(&mut self.w2, Some(&mut self.b2), dy, a);
    }
}

impl<T: Scalar, const D: usize, const H: usize, S: Activation> Trainable<T>
    for ResidualBlock<T, D, H, S>
{
    /// One [`BlockTape`] per sample.
    type Tape<const B: usize> = [BlockTape<T, D, H>; B];
    const PARAMS: usize = 2 * D * H + D + H;

    fn zeros() -> Self {
        Self::identity()
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        [BlockTape::zeros(); B]
    }

    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tapes: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        K::block_update(self, tapes, eta, rounding);
    }

    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tapes: &Self::Tape<B>,
        v: &mut V,
    ) {
        self.visit_gradients_of(tapes, v);
    }

    fn visit<V: Visitor<T>>(&self, v: &mut V) {
        self.visit_as(0, v);
    }

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V) {
        Self::visit_zip_as(nets, 0, v);
    }
}

impl<T: Scalar, const D: usize, const H: usize, S: Activation> Model<T, D>
    for ResidualBlock<T, D, H, S>
{
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
    ) -> [Vector<T, D>; B] {
        let mut tapes = [BlockTape::zeros(); B];
        K::block_forward(self, xs, &mut tapes)
    }

    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        K::block_forward(self, xs, tape)
    }

    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        K::block_backward(self, dys, tape)
    }
}
