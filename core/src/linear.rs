//! Linear residual networks Pi(A) = (I + A_M) ... (I + A_1) (HM, docs/THEORY.md sections 1-3).

use crate::kernels::Kernels;
use crate::model::{GradientVisitor, Layer, Name, Tensor, Trainable, Visitor, ZipVisitor};
use crate::{Matrix, Model, Rng, Scalar, Vector, zeros};

/// x -> (I + A_M) ... (I + A_1) x, with D x D perturbations A_i; `factors[0]` is A_1, applied
/// first. All-zero factors give the identity.
///
/// ```
/// use nearid::{LinearResNet, Model, Matrix, Vector};
/// let mut net = LinearResNet::<f64, 2, 2>::identity();
/// net.factors[0] = Matrix::<f64, 2, 2>::new(0.0, -0.5, 0.5, 0.0); // a small rotation-like step
/// let y = net.forward(&Vector::<f64, 2>::new(1.0, 0.0)).unwrap();
/// assert!((y - net.product() * Vector::<f64, 2>::new(1.0, 0.0)).norm() < 1e-15);
/// ```
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearResNet<T: Scalar, const D: usize, const M: usize> {
    /// A_1 .. A_M, each (D, D).
    pub factors: [Matrix<T, D, D>; M],
}

/// What one factor records for one sample: its input x_i and the signal dL/dy_i at its output.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinearTape<T: Scalar, const D: usize> {
    /// x_i: (D)
    pub x: Vector<T, D>,
    /// dL/dy_i: (D)
    pub dy: Vector<T, D>,
}

impl<T: Scalar, const D: usize, const M: usize> LinearResNet<T, D, M> {
    /// Bytes of parameters: M D^2 scalars.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();
    /// Bytes of one sample's tape: 2 M D scalars.
    pub const TAPE_BYTES: usize = core::mem::size_of::<[LinearTape<T, D>; M]>();

    /// The identity: every A_i = 0.
    pub fn identity() -> Self {
        Self {
            factors: [zeros(); M],
        }
    }

    /// A network from its factors, A_1 first.
    pub fn from_factors(factors: [Matrix<T, D, D>; M]) -> Self {
        Self { factors }
    }

    /// Entries of each A_i drawn from N(0, scale^2) by the seeded generator.
    pub fn random(rng: &mut Rng, scale: f64) -> Self {
        let mut net = Self::identity();
        for a in net.factors.iter_mut() {
            a.iter_mut()
                .for_each(|v| *v = T::from_f64(scale * rng.normal()));
        }
        net
    }

    /// The same network in another number type, every entry converted through f64
    /// ([`Scalar::from_f64`]).
    pub fn cast<U: Scalar>(&self) -> LinearResNet<U, D, M> {
        LinearResNet {
            factors: self
                .factors
                .each_ref()
                .map(|a| a.map(|x| U::from_f64(x.to_f64()))),
        }
    }

    /// The product Pi(A) = (I + A_M) ... (I + A_1): (D, D).
    pub fn product(&self) -> Matrix<T, D, D> {
        // Column j of Pi(A) is Pi(A) e_j: the network applied to each basis vector.
        Matrix::from_columns(&core::array::from_fn::<_, D, _>(|j| {
            self.apply(&Vector::from_fn(
                |i, _| if i == j { T::ONE } else { T::ZERO },
            ))
        }))
    }
}

/// The D x D identity matrix.
pub fn identity_matrix<T: Scalar, const D: usize>() -> Matrix<T, D, D> {
    Matrix::from_fn(|i, j| if i == j { T::ONE } else { T::ZERO })
}

impl<T: Scalar, const D: usize, const M: usize> Trainable<T> for LinearResNet<T, D, M> {
    /// Per factor, one [`LinearTape`] per sample: (M, B) x (2 D).
    type Tape<const B: usize> = [[LinearTape<T, D>; B]; M];
    const PARAMS: usize = M * D * D;

    fn zeros() -> Self {
        Self::identity()
    }

    fn new_tape<const B: usize>() -> Self::Tape<B> {
        [[LinearTape {
            x: zeros(),
            dy: zeros(),
        }; B]; M]
    }

    /// Factor by factor: A_i <- A_i - eta sum_b dy_i,b x_i,b^T ([`Kernels::update`]).
    #[inline]
    fn update_with<K: Kernels<T>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        for (a, t) in self.factors.iter_mut().zip(tape) {
            let (dy, x) = (t.each_ref().map(|t| &t.dy), t.each_ref().map(|t| &t.x));
            K::update(a, None, dy, x, eta, rounding);
        }
    }

    /// dL/dA_i = sum_b dy_i,b x_i,b^T, for each factor in order.
    #[inline]
    fn visit_gradients<V: GradientVisitor<T, B>, const B: usize>(
        &mut self,
        tape: &Self::Tape<B>,
        v: &mut V,
    ) {
        for (a, t) in self.factors.iter_mut().zip(tape) {
            let (dy, x) = (t.each_ref().map(|t| &t.dy), t.each_ref().map(|t| &t.x));
            v.affine(a, None, dy, x);
        }
    }

    fn visit<V: Visitor<T>>(&self, v: &mut V) {
        for (i, a) in self.factors.iter().enumerate() {
            v.tensor(factor_name(i), a);
        }
    }

    fn visit_zip<V: ZipVisitor<T, K>, const K: usize>(nets: [&mut Self; K], v: &mut V) {
        let mut nets = nets;
        for i in 0..M {
            v.tensors(factor_name(i), nets.each_mut().map(|n| &mut n.factors[i]));
        }
    }
}

/// The name of A_(i+1).
fn factor_name(i: usize) -> Name {
    Name {
        layer: Layer::Factor(i),
        tensor: Tensor::Weight,
    }
}

impl<T: Scalar, const D: usize, const M: usize> Model<T, D> for LinearResNet<T, D, M> {
    fn apply_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
    ) -> [Vector<T, D>; B] {
        self.factors.iter().fold(*xs, |xs, a| {
            // y = x + A x
            let mut ys = xs;
            K::mat_vec(a, xs.each_ref(), &mut ys);
            ys
        })
    }

    #[inline]
    fn forward_with<K: Kernels<T>, const B: usize>(
        &self,
        xs: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        let mut xs = *xs;
        for (a, t) in self.factors.iter().zip(tape.iter_mut()) {
            for (t, x) in t.iter_mut().zip(&xs) {
                t.x = *x;
            }
            let mut ys = xs;
            K::mat_vec(a, xs.each_ref(), &mut ys);
            xs = ys;
        }
        xs
    }

    #[inline]
    fn backward_with<K: Kernels<T>, const B: usize>(
        &self,
        dys: &[Vector<T, D>; B],
        tape: &mut Self::Tape<B>,
    ) -> [Vector<T, D>; B] {
        let mut gs = *dys;
        for (a, t) in self.factors.iter().zip(tape.iter_mut()).rev() {
            for (t, g) in t.iter_mut().zip(&gs) {
                t.dy = *g;
            }
            // dx = (I + A)^T dy
            let mut dxs = gs;
            K::mat_t_vec(a, gs.each_ref(), &mut dxs);
            gs = dxs;
        }
        gs
    }
}
