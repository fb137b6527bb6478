//! Helpers the integration tests share: a network's parameters as one flat list, and the
//! gradient factors of each of its affine maps, both through the core's typed visitors.

#![allow(dead_code)]

use nearid::model::GradientVisitor;
use nearid::{Matrix, Rng, Scalar, Trainable, Vector};

/// Every parameter, in the network's order ([`Trainable::write_params`]).
pub fn params<T: Scalar, N: Trainable<T>>(net: &N) -> Vec<T> {
    let mut out = vec![T::ZERO; N::PARAMS];
    net.write_params(&mut out).expect("PARAMS values");
    out
}

/// `net` with its parameters replaced by `values` (in the order of [`params`]).
pub fn with_params<T: Scalar, N: Trainable<T>>(net: &N, values: &[T]) -> N {
    let mut out = net.clone();
    out.read_params(values)
        .expect("finite values, PARAMS of them");
    out
}

/// `net` with every parameter drawn from N(0, scale^2).
pub fn randomised<T: Scalar, N: Trainable<T>>(net: &N, rng: &mut Rng, scale: f64) -> N {
    let values: Vec<T> = (0..N::PARAMS)
        .map(|_| T::from_f64(scale * rng.normal()))
        .collect();
    with_params(net, &values)
}

/// Equality of every parameter's bits (floats: NaN == NaN and -0 != +0).
pub fn same_bits<T: Scalar, N: Trainable<T>>(a: &N, b: &N) -> bool {
    let (a, b) = (params(a), params(b));
    a.iter()
        .zip(&b)
        .all(|(x, y)| format!("{x:?}") == format!("{y:?}"))
}

/// One affine map y = W v (+ c) of a network with its gradient factors on each sample:
/// dL/dW = sum_b u_b v_b^T, dL/dc = sum_b u_b. Its W's R C entries (column-major), then its bias's
/// R, are consecutive in [`params`].
#[derive(Clone, Debug)]
pub struct Affine<T> {
    /// R.
    pub rows: usize,
    /// C.
    pub cols: usize,
    /// u_b, each (R).
    pub us: Vec<Vec<T>>,
    /// v_b, each (C).
    pub vs: Vec<Vec<T>>,
    /// Whether a bias follows W.
    pub bias: bool,
}

impl<T: Scalar> Affine<T> {
    /// The parameters this map covers.
    pub fn len(&self) -> usize {
        self.rows * self.cols + if self.bias { self.rows } else { 0 }
    }

    /// (u factors, v factor for each sample) of parameter `e` of this map: entry (j, k) of W
    /// for e < R C (column-major), bias entry j after (v = 1).
    pub fn factors_of(&self, e: usize) -> (Vec<T>, Vec<T>) {
        let w = self.rows * self.cols;
        let (j, v): (usize, Vec<T>) = if e < w {
            (
                e % self.rows,
                self.vs.iter().map(|v| v[e / self.rows]).collect(),
            )
        } else {
            (e - w, vec![T::ONE; self.us.len()])
        };
        (self.us.iter().map(|u| u[j]).collect(), v)
    }
}

/// Every affine map of `net` with its factors from the tape of a batch of B.
pub fn affines<T: Scalar, N: Trainable<T>, const B: usize>(
    net: &N,
    tape: &N::Tape<B>,
) -> Vec<Affine<T>> {
    struct Collect<T>(Vec<Affine<T>>);
    impl<T: Scalar, const B: usize> GradientVisitor<T, B> for Collect<T> {
        fn affine<const R: usize, const C: usize>(
            &mut self,
            _: &mut Matrix<T, R, C>,
            bias: Option<&mut Vector<T, R>>,
            us: [&Vector<T, R>; B],
            vs: [&Vector<T, C>; B],
        ) {
            self.0.push(Affine {
                rows: R,
                cols: C,
                us: us.iter().map(|u| u.as_slice().to_vec()).collect(),
                vs: vs.iter().map(|v| v.as_slice().to_vec()).collect(),
                bias: bias.is_some(),
            });
        }
    }
    let mut collect = Collect(Vec::new());
    net.clone().visit_gradients(tape, &mut collect);
    collect.0
}

/// A batch of B vectors with N(0, 1) entries.
pub fn batch_of<T: Scalar, const D: usize, const B: usize>(rng: &mut Rng) -> [Vector<T, D>; B] {
    core::array::from_fn(|_| Vector::from_fn(|_, _| T::from_f64(rng.normal())))
}

/// An R x C matrix with N(0, scale^2) entries.
pub fn matrix<T: Scalar, const R: usize, const C: usize>(
    rng: &mut Rng,
    scale: f64,
) -> Matrix<T, R, C> {
    Matrix::from_fn(|_, _| T::from_f64(scale * rng.normal()))
}

/// A value's every bit as text: Debug prints every bit of a float (shortest round-trip form)
/// and the raw value of fixed point; NaN and -0 stay distinct.
pub fn bits<T: core::fmt::Debug>(x: &T) -> String {
    format!("{x:?}")
}
