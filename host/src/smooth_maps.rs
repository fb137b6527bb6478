//! The smooth test maps of issue 4 (docs/THEORY.md section 4), each with its domain: the ball of
//! radius R about a base point.

use nearid::{Matrix, ResNet, Rng, SmoothMap, Tanh, Vector};

/// The composition of two shears of the plane, h = s2 o s1 with s1(x, y) = (x + k1 y^2, y) and
/// s2(u, v) = (u, v + k2 u^2), on the unit disc. h(0) = 0, Dh(0) = I; invertible everywhere
/// (each shear is).
#[derive(Clone, Copy, Debug)]
pub struct TwoShears {
    /// k1.
    pub k1: f64,
    /// k2.
    pub k2: f64,
}

impl TwoShears {
    /// k1 = k2 = 1/2, the disc map of the tests and the report.
    pub const DISC: Self = Self { k1: 0.5, k2: 0.5 };
}

impl SmoothMap<f64, 2> for TwoShears {
    fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
        let u = x[0] + self.k1 * x[1] * x[1];
        Vector::<f64, 2>::new(u, x[1] + self.k2 * u * u)
    }
    fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        let u = x[0] + self.k1 * x[1] * x[1];
        // D s1 = [1, 2 k1 y; 0, 1], D s2 at s1(x) = [1, 0; 2 k2 u, 1].
        let ds1 = Matrix::<f64, 2, 2>::new(1.0, 2.0 * self.k1 * x[1], 0.0, 1.0);
        let ds2 = Matrix::<f64, 2, 2>::new(1.0, 0.0, 2.0 * self.k2 * u, 1.0);
        ds2 * ds1
    }
}

/// A smooth radial map of R^3, h(x) = x (1 + beta tanh(|x|^2)), on the unit ball: it stretches
/// each sphere |x| = r to radius r (1 + beta tanh r^2), increasing in r, so h is invertible;
/// h(0) = 0, Dh(0) = I.
#[derive(Clone, Copy, Debug)]
pub struct Radial {
    /// beta > 0.
    pub beta: f64,
}

impl Radial {
    /// beta = 0.6.
    pub const BALL: Self = Self { beta: 0.6 };
}

impl SmoothMap<f64, 3> for Radial {
    fn value(&self, x: &Vector<f64, 3>) -> Vector<f64, 3> {
        x * (1.0 + self.beta * x.norm_squared().tanh())
    }
    fn jacobian(&self, x: &Vector<f64, 3>) -> Matrix<f64, 3, 3> {
        // D[x phi(|x|^2)] = phi I + 2 phi'(|x|^2) x x^T, phi(s) = 1 + beta tanh s.
        let t = x.norm_squared().tanh();
        let phi = 1.0 + self.beta * t;
        let dphi = self.beta * (1.0 - t * t);
        Matrix::<f64, 3, 3>::identity() * phi + x * x.transpose() * (2.0 * dphi)
    }
}

/// A random small tanh residual network of R^4 (3 blocks of width 8, weights N(0, 0.18^2),
/// random biases), so h(0) != 0 and Dh(0) != I: it is normalised before decomposing. Each
/// block's residual has a Lipschitz upper bound below 1, so every block (and h) is invertible.
pub fn random_tanh_net(seed: u64) -> ResNet<f64, 4, 8, 3, Tanh> {
    let mut rng = Rng::new(seed);
    let mut net = ResNet::<f64, 4, 8, 3, Tanh>::random(&mut rng, 0.18);
    for b in net.blocks.iter_mut() {
        b.b1.iter_mut()
            .chain(b.b2.iter_mut())
            .for_each(|v| *v = 0.3 * rng.normal());
    }
    net
}

/// A map of the plane whose Jacobian at its base point x0 = (0.2, 0.1) has two negative
/// eigenvalues (det > 0): h = B o s, B = [-2, 0.3; 0, -0.5] (eigenvalues -2 and -1/2),
/// s(x, y) = (x + 0.4 y^2, y + 0.3 sin x). The raw scaling decomposition of h cannot approach
/// the identity (Dh(0) is far from I); after normalisation it can.
#[derive(Clone, Copy, Debug)]
pub struct Flip;

impl Flip {
    /// The base point x0.
    pub fn base_point() -> Vector<f64, 2> {
        Vector::<f64, 2>::new(0.2, 0.1)
    }
    fn b() -> Matrix<f64, 2, 2> {
        Matrix::<f64, 2, 2>::new(-2.0, 0.3, 0.0, -0.5)
    }
}

impl SmoothMap<f64, 2> for Flip {
    fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
        Self::b() * Vector::<f64, 2>::new(x[0] + 0.4 * x[1] * x[1], x[1] + 0.3 * x[0].sin())
    }
    fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
        Self::b() * Matrix::<f64, 2, 2>::new(1.0, 0.8 * x[1], 0.3 * x[0].cos(), 1.0)
    }
}
