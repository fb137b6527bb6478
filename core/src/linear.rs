//! Linear residual networks Pi(A) = (I + A_M) ... (I + A_1) (HM, docs/THEORY.md sections 1-3).

use crate::kernels::{base_plus_mat_t_vec, mat_vec_add};
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

impl<T: Scalar, const D: usize, const M: usize> Model<T, D> for LinearResNet<T, D, M> {
    /// One [`LinearTape`] per factor: (M) x (2 D).
    type Tape = [LinearTape<T, D>; M];
    const TENSORS: usize = M;

    fn new_tape() -> Self::Tape {
        [LinearTape {
            x: zeros(),
            dy: zeros(),
        }; M]
    }

    fn zeros() -> Self {
        Self::identity()
    }

    fn tensor(&self, i: usize) -> &[T] {
        self.factors.get(i).map_or(&[], |a| a.as_slice())
    }

    fn tensor_mut(&mut self, i: usize) -> &mut [T] {
        self.factors
            .get_mut(i)
            .map_or(&mut [], |a| a.as_mut_slice())
    }

    fn grad_factors(tape: &Self::Tape, i: usize) -> (&[T], Option<&[T]>) {
        // dL/dA_i = dy_i x_i^T
        tape.get(i)
            .map_or((&[], None), |t| (t.dy.as_slice(), Some(t.x.as_slice())))
    }

    fn apply(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.factors.iter().fold(*x, |x, a| {
            let mut y = x;
            mat_vec_add(a, &x, &mut y);
            y
        })
    }

    fn forward_tape(&self, x: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        self.factors
            .iter()
            .zip(tape.iter_mut())
            .fold(*x, |x, (a, t)| {
                t.x = x;
                let mut y = x;
                mat_vec_add(a, &x, &mut y);
                y
            })
    }

    fn backward(&self, dy: &Vector<T, D>, tape: &mut Self::Tape) -> Vector<T, D> {
        self.factors
            .iter()
            .zip(tape.iter_mut())
            .rev()
            .fold(*dy, |g, (a, t)| {
                t.dy = g;
                // dx = (I + A)^T dy
                base_plus_mat_t_vec(a, &g, &g)
            })
    }
}
