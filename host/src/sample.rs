//! Seeded random matrices for the sweeps (host-side, f64, nalgebra dynamic matrices).

use nalgebra::{DMatrix, DVector};
use nearid::Rng;

/// D x D with independent N(0, 1) entries.
pub fn gaussian(d: usize, rng: &mut Rng) -> DMatrix<f64> {
    DMatrix::from_fn(d, d, |_, _| rng.normal())
}

/// A random orthogonal D x D matrix with det +1 (QR of a Gaussian matrix, signs fixed so the
/// distribution is Haar on SO(D)).
pub fn rotation(d: usize, rng: &mut Rng) -> DMatrix<f64> {
    let qr = gaussian(d, rng).qr();
    let r = qr.r();
    let mut q = qr.q();
    for j in 0..d {
        if r[(j, j)] < 0.0 {
            q.column_mut(j).neg_mut();
        }
    }
    if q.determinant() < 0.0 {
        q.column_mut(0).neg_mut();
    }
    q
}

/// U diag(s) V^T with Haar rotations U, V: det = prod s > 0 when every s_i > 0.
pub fn with_singular_values(s: &[f64], rng: &mut Rng) -> DMatrix<f64> {
    let d = s.len();
    let u = rotation(d, rng);
    let v = rotation(d, rng);
    u * DMatrix::from_diagonal(&DVector::from_column_slice(s)) * v.transpose()
}

/// A random D x D matrix with det > 0: either Gaussian (a row negated if det < 0) or with
/// singular values log-uniform in [e^-spread, e^spread] (half the draws each).
pub fn det_positive(d: usize, spread: f64, rng: &mut Rng) -> DMatrix<f64> {
    if rng.uniform() < 0.5 {
        let mut g = gaussian(d, rng) / (d as f64).sqrt();
        if g.determinant() < 0.0 {
            g.row_mut(0).neg_mut();
        }
        g
    } else {
        let s: Vec<f64> = (0..d)
            .map(|_| rng.uniform_in(-spread, spread).exp())
            .collect();
        with_singular_values(&s, rng)
    }
}

/// The rotation by `angle` in the plane of the first two columns of `basis` (orthogonal).
pub fn plane_rotation(basis: &DMatrix<f64>, angle: f64) -> DMatrix<f64> {
    let d = basis.nrows();
    let mut t = DMatrix::<f64>::identity(d, d);
    let (s, c) = angle.sin_cos();
    t[(0, 0)] = c;
    t[(1, 1)] = c;
    t[(1, 0)] = s;
    t[(0, 1)] = -s;
    basis * t * basis.transpose()
}

/// The spectral norm (largest singular value), by nalgebra's dynamic SVD in f64.
pub fn spectral_norm(a: &DMatrix<f64>) -> f64 {
    a.singular_values().max()
}
