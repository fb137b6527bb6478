//! The layers around the residual blocks: [`Dense`], y = W x + b, which maps the input width to
//! the blocks' width (the input layer) and the blocks' width to the output width (the output
//! layer); and [`Skip`], the exact identity without parameters, for a network whose input or
//! output width is the blocks' own.

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Layer, Name, Tensor, Trainable, Visitor, ZipVisitor};
use crate::{Matrix, Model, Rng, Scalar, Vector, zeros};

/// y = W x + b with x: (I), y: (O), W: (O, I), b: (O). Its tensors, in order: W, b (named as
/// the input layer's; a [`crate::Net`] names its output layer's).
///
/// ```
/// use nearid::{Dense, Model, vector};
/// let mut layer = Dense::<f64, 2, 3>::zeros_layer();
/// layer.w[(0, 0)] = 2.0;
/// layer.b[2] = 1.0;
/// assert_eq!(layer.forward(&vector![1.0, 5.0]), Ok(vector![2.0, 0.0, 1.0]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Dense<T: Scalar, const I: usize, const O: usize> {
    /// (O, I)
    pub w: Matrix<T, O, I>,
    /// (O)
    pub b: Vector<T, O>,
}

/// What a [`Dense`] layer records for one sample: its input (forward) and dL/dy (backward).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DenseTape<T: Scalar, const I: usize, const O: usize> {
    /// x: (I)
    pub x: Vector<T, I>,
    /// dL/dy: (O)
    pub dy: Vector<T, O>,
}

impl<T: Scalar, const I: usize, const O: usize> Dense<T, I, O> {
    /// Bytes of parameters: (O I + O) scalars.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();

    /// A layer from its parameters.
    pub fn new(w: Matrix<T, O, I>, b: Vector<T, O>) -> Self {
        Self { w, b }
    }

    /// Every parameter zero: y = 0.
    pub fn zeros_layer() -> Self {
        Self::new(zeros(), zeros())
    }

    /// The identity where it can be: W = [I 0] or [I; 0] (the first min(I, O) inputs pass
    /// through to the first outputs), b = 0. For I = O exactly the identity map.
    pub fn identity() -> Self {
        Self::new(
            Matrix::from_fn(|r, c| if r == c { T::ONE } else { T::ZERO }),
            zeros(),
        )
    }

    /// W ~ N(0, scale^2 / I) (variance preserving for unit inputs), b = 0.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        let s = scale / (I.max(1) as f64).sqrt();
        Self::new(
            Matrix::from_fn(|_, _| T::from_f64(s * rng.normal())),
            zeros(),
        )
    }

    /// The same layer in another number type, every entry converted through f64.
    pub fn cast<U: Scalar>(&self) -> Dense<U, I, O> {
        let c = |x: T| U::from_f64(x.to_f64());
        Dense::new(self.w.map(c), self.b.map(c))
    }
}

fn name(tensor: Tensor) -> Name {
    Name {
        layer: Layer::Input,
        tensor,
    }
}

impl<T: Scalar, const I: usize, const O: usize> Trainable<T> for Dense<T, I, O> {
    /// One [`DenseTape`] per sample.
    type Tape<const B: usize> = [DenseTape<T, I, O>; B];
    const PARAMS: usize = O * I + O;

    fn zeros() -> Self {
        Self::zeros_layer()
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        [DenseTape {
            x: zeros(),
            dy: zeros(),
        }; B]
    }

    /// W <- W - eta sum_b dy_b x_b^T, b <- b - eta sum_b dy_b.
    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        let (dy, x) = (
            tape.each_ref().map(|t| &t.dy),
            tape.each_ref().map(|t| &t.x),
        );
        K::update(&mut self.w, Some(&mut self.b), dy, x, eta, rounding);
    }

    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        v: &mut V,
    ) {
        let (dy, x) = (
            tape.each_ref().map(|t| &t.dy),
            tape.each_ref().map(|t| &t.x),
        );
        v.affine(&mut self.w, Some(&mut self.b), dy, x);
    }

    fn visit<V: Visitor<T>>(&self, v: &mut V) {
        v.tensor(name(Tensor::Weight), &self.w);
        v.tensor(name(Tensor::Bias), &self.b);
    }

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V) {
        let mut nets = nets;
        v.tensors(name(Tensor::Weight), nets.each_mut().map(|n| &mut n.w));
        v.tensors(name(Tensor::Bias), nets.each_mut().map(|n| &mut n.b));
    }
}

impl<T: Scalar, const I: usize, const O: usize> Model<T, I, O> for Dense<T, I, O> {
    #[inline]
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
    ) -> [Vector<T, O>; B] {
        let mut ys = [self.b; B];
        K::mat_vec(&self.w, xs.each_ref(), &mut ys);
        ys
    }

    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, I>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, O>; B] {
        for (t, x) in tape.iter_mut().zip(xs) {
            t.x = *x;
        }
        self.apply_with::<K, B>(xs)
    }

    /// dL/dx = W^T dy.
    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, O>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, I>; B] {
        for (t, dy) in tape.iter_mut().zip(dys) {
            t.dy = *dy;
        }
        let mut dxs = [zeros(); B];
        K::mat_t_vec(&self.w, dys.each_ref(), &mut dxs);
        dxs
    }
}

/// The exact identity, with no parameters and nothing on the tape: the input or output layer
/// of a network whose input or output width is the blocks' own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Skip;

impl<T: Scalar> Trainable<T> for Skip {
    type Tape<const B: usize> = ();
    const PARAMS: usize = 0;

    fn zeros() -> Self {
        Skip
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {}

    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(&mut self, _: &(), _: T, _: &mut T::Rounding) {}

    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(&mut self, _: &(), _: &mut V) {}

    fn visit<V: Visitor<T>>(&self, _: &mut V) {}

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(_: [&mut Self; K], _: &mut V) {}
}

impl<T: Scalar, const D: usize> Model<T, D> for Skip {
    #[inline]
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
    ) -> [Vector<T, D>; B] {
        *xs
    }

    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        _: &mut (),
    ) -> [Vector<T, D>; B] {
        *xs
    }

    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        _: &mut (),
    ) -> [Vector<T, D>; B] {
        *dys
    }
}
