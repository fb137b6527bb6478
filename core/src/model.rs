//! The interfaces every network implements, and the visitors that see its tensors with their
//! static shapes.
//!
//! - [`Trainable`]: what an optimiser needs, whatever the network's input and output widths:
//!   the tape type, the parameter count, the plain SGD update, and visits of every tensor.
//! - [`Model<T, I, O>`](Model): a trainable map R^I -> R^O: forward with a tape, backward into
//!   the tape, for a batch of B samples with the kernels K ([`crate::kernels`]), and the
//!   one-sample forms with the number type's own kernels.
//!
//! Every parameter is part of an affine map y = W v (+ c), and its gradient on one sample is an
//! outer product u v^T (the bias: u) of vectors the tape already holds, u = dL/dy. So the
//! gradient of a mini-batch never has to be stored to be applied: a network hands each affine
//! map to a [`GradientVisitor`] with its factors (u_b, v_b), typed by the map's shape, and the
//! optimisers update, clip or measure from them. Nothing is matched at run time.

use crate::kernels::Kernels;
use crate::{Error, Matrix, Result, Scalar, Vector, scalar::all_finite};

/// Where a tensor sits in a network: the layer and which of its tensors. The order in which a
/// network visits its tensors is documented on the network and is the order of its files.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Name {
    /// The layer.
    pub layer: Layer,
    /// The tensor within the layer.
    pub tensor: Tensor,
}

/// A layer of a network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layer {
    /// The input layer of a [`crate::Net`].
    Input,
    /// Residual block i (0 first, applied first).
    Block(usize),
    /// Factor A_(i+1) of a linear residual network (0 is A_1, applied first).
    Factor(usize),
    /// The output layer of a [`crate::Net`].
    Output,
}

/// A tensor of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tensor {
    /// W1 of a residual block: (H, D).
    W1,
    /// b1 of a residual block: (H).
    B1,
    /// W2 of a residual block: (D, H).
    W2,
    /// b2 of a residual block: (D).
    B2,
    /// The matrix of a linear layer or factor.
    Weight,
    /// The bias of a linear layer.
    Bias,
}

/// Sees every parameter tensor of a network, in order, with its shape in the type. A bias is
/// an (R, 1) matrix.
pub trait Visitor<T: Scalar> {
    /// One tensor.
    fn tensor<const R: usize, const C: usize>(&mut self, name: Name, t: &Matrix<T, R, C>);
}

/// Sees the same tensor of K networks of one type at once (the weights and an optimiser's
/// buffers shaped like them, or a network and the values to load into it).
pub trait ZipVisitor<T: Scalar, const K: usize> {
    /// Tensor `name` of each of the K networks.
    fn tensors<const R: usize, const C: usize>(
        &mut self,
        name: Name,
        ts: [&mut Matrix<T, R, C>; K],
    );
}

/// A visitor that hands everything on to `inner` with the layer of every name replaced by
/// `layer` (a network naming its parts).
#[derive(Debug)]
pub struct Rename<'a, V> {
    /// The visitor that sees the renamed tensors.
    pub inner: &'a mut V,
    /// The layer every name is given.
    pub layer: Layer,
}

impl<T: Scalar, V: Visitor<T>> Visitor<T> for Rename<'_, V> {
    fn tensor<const R: usize, const C: usize>(&mut self, name: Name, t: &Matrix<T, R, C>) {
        let layer = self.layer;
        self.inner.tensor(Name { layer, ..name }, t);
    }
}

impl<T: Scalar, V: ZipVisitor<T, K>, const K: usize> ZipVisitor<T, K> for Rename<'_, V> {
    fn tensors<const R: usize, const C: usize>(
        &mut self,
        name: Name,
        ts: [&mut Matrix<T, R, C>; K],
    ) {
        let layer = self.layer;
        self.inner.tensors(Name { layer, ..name }, ts);
    }
}

/// Sees every affine map y = W v (+ c) of a network with the factors of its gradient on each
/// sample of a batch: dL/dW = sum_b u_b v_b^T and dL/dc = sum_b u_b, u_b = dL/dy, in the order
/// of [`Trainable::visit`].
pub trait GradientVisitor<T: Scalar, const B: usize> {
    /// One affine map: W: (R, C), its bias (R) if it has one, u_b: (R), v_b: (C).
    fn affine<const R: usize, const C: usize>(
        &mut self,
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
    );
}

/// What an optimiser needs of a network, whatever its input and output widths.
pub trait Trainable<T: Scalar>: Clone {
    /// What the forward pass of a batch of B samples records and its backward pass fills in,
    /// layer by layer (each layer's B records side by side, as its kernels read them).
    type Tape<const B: usize>: Copy + core::fmt::Debug;

    /// Number of scalar parameters.
    const PARAMS: usize;

    /// The same shape with every parameter zero. For residual networks this is the identity
    /// map; the optimisers also use it as a gradient or momentum buffer.
    fn zeros() -> Self;

    /// A tape of zeros for B samples.
    fn new_tape<const B: usize>() -> Self::Tape<B>;

    /// Plain SGD from the tapes of a batch (after [`Model::backward_with`]):
    /// W <- W - eta sum_b u_b v_b^T for every affine map, with the kernels K.
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tapes: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    );

    /// Hands every affine map, with its gradient factors from the tapes, to `v`.
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tapes: &Self::Tape<B>,
        v: &mut V,
    );

    /// Hands every parameter tensor to `v`, in the network's documented order.
    fn visit<V: Visitor<T>>(&self, v: &mut V);

    /// Hands each tensor of K networks of this type to `v` together, in the same order.
    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V);

    /// ||grad L||_F^2 of the batch recorded in the tapes, from the factors alone (each affine
    /// map's [`Kernels::add_norm_sq`], in order).
    fn grad_norm_sq_with<K: Kernels<T>, const B: usize>(&mut self, tapes: &Self::Tape<B>) -> T {
        struct Norm<T, K>(T, core::marker::PhantomData<K>);
        impl<T: Scalar, K: Kernels<T>, const B: usize> GradientVisitor<T, B> for Norm<T, K> {
            #[inline(always)]
            fn affine<const R: usize, const C: usize>(
                &mut self,
                _: &mut Matrix<T, R, C>,
                bias: Option<&mut Vector<T, R>>,
                us: [&Vector<T, R>; B],
                vs: [&Vector<T, C>; B],
            ) {
                K::add_norm_sq(&mut self.0, us, vs, bias.is_some());
            }
        }
        let mut norm = Norm::<T, K>(T::ZERO, core::marker::PhantomData);
        self.visit_gradients(tapes, &mut norm);
        norm.0
    }

    /// True when every parameter is finite.
    fn is_finite(&self) -> bool {
        struct Finite(bool);
        impl<T: Scalar> Visitor<T> for Finite {
            fn tensor<const R: usize, const C: usize>(&mut self, _: Name, t: &Matrix<T, R, C>) {
                self.0 &= all_finite(t.as_slice());
            }
        }
        let mut finite = Finite(true);
        self.visit(&mut finite);
        finite.0
    }

    /// Writes every parameter into `out`, tensor by tensor in the order of
    /// [`Trainable::visit`], each column-major; [`Error::OutOfRange`] unless `out` holds
    /// exactly [`Trainable::PARAMS`] values.
    fn write_params(&self, out: &mut [T]) -> Result<()> {
        struct Write<'a, T>(&'a mut [T]);
        impl<T: Scalar> Visitor<T> for Write<'_, T> {
            fn tensor<const R: usize, const C: usize>(&mut self, _: Name, t: &Matrix<T, R, C>) {
                // PARAMS is the sum of the tensors' sizes, so the split always succeeds.
                if let Some((head, rest)) = core::mem::take(&mut self.0).split_at_mut_checked(R * C)
                {
                    head.copy_from_slice(t.as_slice());
                    self.0 = rest;
                }
            }
        }
        if out.len() != Self::PARAMS {
            return Err(Error::OutOfRange);
        }
        self.visit(&mut Write(out));
        Ok(())
    }

    /// Sets every parameter from `values`, in the order of [`Trainable::write_params`];
    /// [`Error::OutOfRange`] unless it holds exactly [`Trainable::PARAMS`] values and
    /// [`Error::NonFinite`] if one is not finite, both before anything is written.
    fn read_params(&mut self, values: &[T]) -> Result<()> {
        struct Read<'a, T>(&'a [T]);
        impl<T: Scalar> ZipVisitor<T, 1> for Read<'_, T> {
            fn tensors<const R: usize, const C: usize>(
                &mut self,
                _: Name,
                [t]: [&mut Matrix<T, R, C>; 1],
            ) {
                if let Some((head, rest)) = self.0.split_at_checked(R * C) {
                    t.as_mut_slice().copy_from_slice(head);
                    self.0 = rest;
                }
            }
        }
        if values.len() != Self::PARAMS {
            return Err(Error::OutOfRange);
        }
        if !all_finite(values) {
            return Err(Error::NonFinite);
        }
        Self::visit_zip([self], &mut Read(values));
        Ok(())
    }
}

/// A trainable map R^I -> R^O (O = I for residual networks, which keep their width).
///
/// The batch methods take the kernels K explicitly ([`crate::kernels`]); the one-sample and
/// batch forms without `_with` use the number type's own, [`Scalar::Kernels`].
pub trait Model<T: Scalar, const I: usize, const O: usize = I>: Trainable<T> {
    /// The outputs for a batch, without checks or a tape: NaN in, NaN out.
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
    ) -> [Vector<T, O>; B];

    /// The outputs for a batch, recording in `tape` what the backward pass needs.
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, O>; B];

    /// Given dL/dy for each sample recorded in `tape`, fills the tape with the backward
    /// signals (the vector-Jacobian products every parameter gradient is built from) and
    /// returns each dL/dx.
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, O>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, I>; B];

    /// The network's output, without checks: NaN in, NaN out.
    #[inline]
    fn apply(&self, x: &Vector<T, I>) -> Vector<T, O> {
        let [y] = self.apply_with::<T::Kernels, 1>(core::array::from_ref(x));
        y
    }

    /// [`Model::apply`] for every sample of a batch.
    #[inline]
    fn apply_batch<const B: usize>(&self, xs: &[Vector<T, I>; B]) -> [Vector<T, O>; B] {
        self.apply_with::<T::Kernels, B>(xs)
    }

    /// Like [`Model::apply`], recording what [`Model::backward`] needs.
    #[inline]
    fn forward_tape(&self, x: &Vector<T, I>, tape: &mut Self::Tape<1>) -> Vector<T, O> {
        let [y] = self.forward_with::<T::Kernels, 1>(core::array::from_ref(x), tape);
        y
    }

    /// Given dL/dy for the sample recorded in `tape`, fills the tape with the backward signals
    /// and returns dL/dx.
    #[inline]
    fn backward(&self, dy: &Vector<T, O>, tape: &mut Self::Tape<1>) -> Vector<T, I> {
        let [dx] = self.backward_with::<T::Kernels, 1>(core::array::from_ref(dy), tape);
        dx
    }

    /// Inference: the output for `x`, or [`Error::NonFinite`] when `x` or the output is not
    /// finite.
    fn forward(&self, x: &Vector<T, I>) -> Result<Vector<T, O>> {
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
}

/// The bytes a model's training state occupies, known at compile time: the parameters, the
/// tape of a batch of B, and the optimiser's buffers (`buffers` extra copies of the parameters:
/// 0 for fused SGD, 2 for SGD with a gradient buffer and momentum).
pub const fn training_bytes<T: Scalar, N: Trainable<T>, const B: usize>(buffers: usize) -> usize {
    (1 + buffers) * core::mem::size_of::<N>() + core::mem::size_of::<N::Tape<B>>()
}
