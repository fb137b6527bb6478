//! Seeded synthetic data streams (no_std): the tasks the tests, benchmarks and firmware train on.
//!
//! - [`LinearTask`]: x ~ N(0, I), y = A x + noise N(0, sigma^2 I) (docs/THEORY.md section 2).
//! - [`SmoothTask`]: x uniform in [-r, r]^D, y = h(x) for a smooth invertible h (section 4).

use crate::{Matrix, Rng, Scalar, Vector};

/// x ~ N(0, I_D), y = A x + sigma * N(0, I_D).
#[derive(Clone, Copy, Debug)]
pub struct LinearTask<T: Scalar, const D: usize> {
    /// The target map A: (D, D).
    pub a: Matrix<T, D, D>,
    /// Standard deviation of the label noise.
    pub noise: f64,
    rng: Rng,
}

impl<T: Scalar, const D: usize> LinearTask<T, D> {
    /// A stream for y = A x + noise, seeded.
    pub fn new(a: Matrix<T, D, D>, noise: f64, seed: u64) -> Self {
        Self {
            a,
            noise,
            rng: Rng::new(seed),
        }
    }

    /// A random symmetric positive definite A = I + S with ||S|| small, built as
    /// Q diag(lambda) Q^T with eigenvalues lambda uniform in [lo, hi] (lo > 0) and Q a product of
    /// random Givens rotations.
    pub fn random_spd(lo: f64, hi: f64, seed: u64) -> Matrix<T, D, D> {
        let mut rng = Rng::new(seed ^ 0x5EED);
        let lambda: [f64; D] = core::array::from_fn(|_| rng.uniform_in(lo, hi));
        let mut q: Matrix<f64, D, D> = Matrix::from_fn(|i, j| if i == j { 1.0 } else { 0.0 });
        for _ in 0..3 * D * D {
            let (i, j) = ((rng.next_u32() as usize) % D, (rng.next_u32() as usize) % D);
            if i == j {
                continue;
            }
            let t = rng.uniform_in(0.0, core::f64::consts::TAU);
            let (c, s) = (libm::cos(t), libm::sin(t));
            for k in 0..D {
                let (qi, qj) = (q[(k, i)], q[(k, j)]);
                q[(k, i)] = c * qi - s * qj;
                q[(k, j)] = s * qi + c * qj;
            }
        }
        Matrix::from_fn(|i, j| T::from_f64((0..D).map(|k| q[(i, k)] * lambda[k] * q[(j, k)]).sum()))
    }

    /// The next sample (x, y).
    pub fn sample(&mut self) -> (Vector<T, D>, Vector<T, D>) {
        let x: Vector<T, D> = Vector::from_fn(|_, _| T::from_f64(self.rng.normal()));
        let mut y = [crate::zeros()];
        <crate::kernels::Reference as crate::kernels::Kernels<T>>::mat_vec(&self.a, [&x], &mut y);
        let [mut y] = y;
        for v in y.iter_mut() {
            *v += T::from_f64(self.noise * self.rng.normal());
        }
        (x, y)
    }

    /// The next B samples.
    pub fn batch<const B: usize>(&mut self) -> ([Vector<T, D>; B], [Vector<T, D>; B]) {
        batch_of(|| self.sample())
    }
}

/// x uniform in [-radius, radius]^D, y = h(x).
#[derive(Clone, Copy, Debug)]
pub struct SmoothTask<F, const D: usize> {
    /// The target map.
    pub h: F,
    /// Half-width of the input cube.
    pub radius: f64,
    rng: Rng,
}

impl<F, const D: usize> SmoothTask<F, D> {
    /// A stream for y = h(x), seeded.
    pub fn new(h: F, radius: f64, seed: u64) -> Self {
        Self {
            h,
            radius,
            rng: Rng::new(seed),
        }
    }

    /// The next sample (x, h(x)).
    pub fn sample<T: Scalar>(&mut self) -> (Vector<T, D>, Vector<T, D>)
    where
        F: FnMut(&Vector<T, D>) -> Vector<T, D>,
    {
        let r = self.radius;
        let x: Vector<T, D> = Vector::from_fn(|_, _| T::from_f64(self.rng.uniform_in(-r, r)));
        let y = (self.h)(&x);
        (x, y)
    }

    /// The next B samples.
    pub fn batch<T: Scalar, const B: usize>(&mut self) -> ([Vector<T, D>; B], [Vector<T, D>; B])
    where
        F: FnMut(&Vector<T, D>) -> Vector<T, D>,
    {
        batch_of(|| self.sample())
    }
}

fn batch_of<T: Scalar, const D: usize, const B: usize>(
    mut next: impl FnMut() -> (Vector<T, D>, Vector<T, D>),
) -> ([Vector<T, D>; B], [Vector<T, D>; B]) {
    let mut xs = [crate::zeros(); B];
    let mut ys = [crate::zeros(); B];
    for b in 0..B {
        (xs[b], ys[b]) = next();
    }
    (xs, ys)
}
