//! A network for a user's own task: x (I) -> input layer -> M residual blocks of width D ->
//! output layer -> y (O).

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Layer, Rename, Trainable, Visitor, ZipVisitor};
use crate::{Activation, Dense, Model, Relu, ResNet, Rng, Scalar, Vector};

/// x -> z_0 = P x + p -> z_M = f_M(... f_1(z_0)) -> y = Q z_M + c, with x: (I), z: (D), y: (O),
/// M residual blocks of hidden width H and activation `S` ([`ResNet`]).
///
/// The input and output layers are [`Dense`] by default; either may be [`crate::Skip`] (the
/// exact identity, no parameters) when its widths agree: `Net<T, D, D, H, M, D, S, Skip, Skip>`
/// computes what a [`ResNet`] computes. All of them train together. RAM is fixed by the types.
///
/// Its tensors, in order: the input layer's W (D, I) and b (D), then each block's W1, b1, W2,
/// b2 (block 0 first), then the output layer's W (O, D) and b (O).
///
/// ```
/// use nearid::{CrossEntropy, FusedSgd, Net, Rng, Sgd, vector};
/// // 4 inputs, blocks of width 8, 3 classes.
/// let mut net = Net::<f32, 4, 8, 16, 2, 3>::init(&mut Rng::new(1), 0.5);
/// let mut sgd = FusedSgd::<f32, _, 1, CrossEntropy>::new(Sgd::new(0.1)).unwrap();
/// let step = sgd.step(&mut net, &[vector![1.0, 0.0, -1.0, 0.5]], &[2]).unwrap();
/// assert!(step.loss > 0.0);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Net<
    T: Scalar,
    const I: usize,
    const D: usize,
    const H: usize,
    const M: usize,
    const O: usize,
    S = Relu,
    P = Dense<T, I, D>,
    Q = Dense<T, D, O>,
> {
    /// The input layer, (I) -> (D).
    pub input: P,
    /// The residual blocks, width D.
    pub blocks: ResNet<T, D, H, M, S>,
    /// The output layer, (D) -> (O).
    pub output: Q,
}

/// What a [`Net`] records for a batch: its three parts' tapes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct NetTape<P, R, Q> {
    /// The input layer's.
    pub input: P,
    /// The blocks'.
    pub blocks: R,
    /// The output layer's.
    pub output: Q,
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S, P, Q>
    Net<T, I, D, H, M, O, S, P, Q>
where
    T: Scalar,
    S: Activation,
{
    /// Bytes of parameters.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();

    /// A network from its parts.
    pub fn new(input: P, blocks: ResNet<T, D, H, M, S>, output: Q) -> Self {
        Self {
            input,
            blocks,
            output,
        }
    }
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S>
    Net<T, I, D, H, M, O, S>
where
    T: Scalar,
    S: Activation,
{
    /// A trainable start: input and output layers as [`Dense::identity`] where the widths agree
    /// and [`Dense::random`] (W ~ N(0, 1 / fan-in)) where they do not, and the blocks from
    /// [`ResNet::identity_init`] (exactly the identity, W1 ~ N(0, scale^2)).
    pub fn init(rng: &mut Rng, scale: f64) -> Self {
        let input = if I == D {
            Dense::identity()
        } else {
            Dense::random(rng, 1.0)
        };
        let blocks = ResNet::identity_init(rng, scale);
        let output = if D == O {
            Dense::identity()
        } else {
            Dense::random(rng, 1.0)
        };
        Self::new(input, blocks, output)
    }

    /// The same network in another number type, every parameter converted through f64.
    pub fn cast<U: Scalar>(&self) -> Net<U, I, D, H, M, O, S> {
        Net::new(self.input.cast(), self.blocks.cast(), self.output.cast())
    }
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S, P, Q>
    Trainable<T> for Net<T, I, D, H, M, O, S, P, Q>
where
    T: Scalar,
    S: Activation,
    P: Model<T, I, D>,
    Q: Model<T, D, O>,
{
    type Tape<const B: usize> =
        NetTape<P::Tape<B>, <ResNet<T, D, H, M, S> as Trainable<T>>::Tape<B>, Q::Tape<B>>;
    const PARAMS: usize = P::PARAMS + <ResNet<T, D, H, M, S> as Trainable<T>>::PARAMS + Q::PARAMS;

    fn zeros() -> Self {
        Self::new(P::zeros(), ResNet::zeros(), Q::zeros())
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        NetTape {
            input: P::new_tape::<B>(),
            blocks: ResNet::<T, D, H, M, S>::new_tape::<B>(),
            output: Q::new_tape::<B>(),
        }
    }

    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        self.input.update_with::<K, B>(&tape.input, eta, rounding);
        self.blocks.update_with::<K, B>(&tape.blocks, eta, rounding);
        self.output.update_with::<K, B>(&tape.output, eta, rounding);
    }

    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        v: &mut V,
    ) {
        self.input.visit_gradients(&tape.input, v);
        self.blocks.visit_gradients(&tape.blocks, v);
        self.output.visit_gradients(&tape.output, v);
    }

    fn visit<V: Visitor<T>>(&self, v: &mut V) {
        self.input.visit(&mut Rename {
            inner: v,
            layer: Layer::Input,
        });
        self.blocks.visit(v);
        self.output.visit(&mut Rename {
            inner: v,
            layer: Layer::Output,
        });
    }

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V) {
        let mut nets = nets;
        let mut input = Rename {
            inner: &mut *v,
            layer: Layer::Input,
        };
        P::visit_zip(nets.each_mut().map(|n| &mut n.input), &mut input);
        ResNet::visit_zip(nets.each_mut().map(|n| &mut n.blocks), v);
        let mut output = Rename {
            inner: v,
            layer: Layer::Output,
        };
        Q::visit_zip(nets.each_mut().map(|n| &mut n.output), &mut output);
    }
}

impl<T, const I: usize, const D: usize, const H: usize, const M: usize, const O: usize, S, P, Q>
    Model<T, I, O> for Net<T, I, D, H, M, O, S, P, Q>
where
    T: Scalar,
    S: Activation,
    P: Model<T, I, D>,
    Q: Model<T, D, O>,
{
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
    ) -> [Vector<T, O>; B] {
        let z = self.input.apply_with::<K, B>(xs);
        let z = self.blocks.apply_with::<K, B>(&z);
        self.output.apply_with::<K, B>(&z)
    }

    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, O>; B] {
        let z = self.input.forward_with::<K, B>(xs, &mut tape.input);
        let z = self.blocks.forward_with::<K, B>(&z, &mut tape.blocks);
        self.output.forward_with::<K, B>(&z, &mut tape.output)
    }

    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, O>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, I>; B] {
        let dz = self.output.backward_with::<K, B>(dys, &mut tape.output);
        let dz = self.blocks.backward_with::<K, B>(&dz, &mut tape.blocks);
        self.input.backward_with::<K, B>(&dz, &mut tape.input)
    }
}
