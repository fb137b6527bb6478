//! Smooth maps R^D -> R^D with their Jacobians (docs/THEORY.md section 4: h differentiable, Dh
//! Lipschitz), and the core's own residual networks as such maps.

use crate::{
    Activation, Identity, Matrix, Model, Real, ResNet, ResidualBlock, Softplus, Tanh, Vector,
};

/// A differentiable map h: R^D -> R^D, given by its value and its Jacobian Dh(x): (D, D), where
/// Dh(x)[(r, c)] = d h_r / d x_c.
///
/// Users implement it for the maps they want to decompose; [`ResidualBlock`] and [`ResNet`] with
/// a smooth activation ([`SmoothActivation`]) implement it, so a trained network can be checked
/// against the theory with the same code as a formula.
///
/// ```
/// use nearid::{Matrix, SmoothMap, Vector};
/// /// A shear (x, y) -> (x + y^2 / 2, y).
/// struct Shear;
/// impl SmoothMap<f64, 2> for Shear {
///     fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
///         Vector::<f64, 2>::new(x[0] + 0.5 * x[1] * x[1], x[1])
///     }
///     fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
///         Matrix::<f64, 2, 2>::new(1.0, x[1], 0.0, 1.0)
///     }
/// }
/// assert_eq!(Shear.value(&Vector::<f64, 2>::new(1.0, 2.0)), Vector::<f64, 2>::new(3.0, 2.0));
/// ```
pub trait SmoothMap<T: Real, const D: usize> {
    /// h(x): (D).
    fn value(&self, x: &Vector<T, D>) -> Vector<T, D>;

    /// Dh(x): (D, D).
    fn jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D>;

    /// (h(x), Dh(x)); override when both share work.
    fn value_and_jacobian(&self, x: &Vector<T, D>) -> (Vector<T, D>, Matrix<T, D, D>) {
        (self.value(x), self.jacobian(x))
    }
}

impl<T: Real, const D: usize, F: SmoothMap<T, D> + ?Sized> SmoothMap<T, D> for &F {
    fn value(&self, x: &Vector<T, D>) -> Vector<T, D> {
        (**self).value(x)
    }
    fn jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D> {
        (**self).jacobian(x)
    }
    fn value_and_jacobian(&self, x: &Vector<T, D>) -> (Vector<T, D>, Matrix<T, D, D>) {
        (**self).value_and_jacobian(x)
    }
}

/// A continuously differentiable activation with bounded derivative, so a residual block with it
/// is a smooth map whose Jacobian is Lipschitz.
pub trait SmoothActivation: Activation {
    /// sup_z |s'(z)|: 1 for tanh, softplus and the identity.
    const DERIVATIVE_SUP: f64;
    /// sup_z |s''(z)|: 4 / (3 sqrt 3) = 0.770 for tanh, 1/4 for softplus, 0 for the identity.
    const SECOND_DERIVATIVE_SUP: f64;
}

impl SmoothActivation for Tanh {
    const DERIVATIVE_SUP: f64 = 1.0;
    // s'' = -2 tanh (1 - tanh^2), extreme at tanh^2 = 1/3.
    const SECOND_DERIVATIVE_SUP: f64 = 0.769_800_358_919_501_4;
}

impl SmoothActivation for Softplus {
    const DERIVATIVE_SUP: f64 = 1.0;
    // s'' = sigma (1 - sigma) <= 1/4.
    const SECOND_DERIVATIVE_SUP: f64 = 0.25;
}

impl SmoothActivation for Identity {
    const DERIVATIVE_SUP: f64 = 1.0;
    const SECOND_DERIVATIVE_SUP: f64 = 0.0;
}

impl<T: Real, const D: usize, const H: usize, S: SmoothActivation> ResidualBlock<T, D, H, S> {
    /// The Jacobian of the residual part r(x) = W2 s(W1 x + b1) + b2: W2 diag(s'(z)) W1, (D, D),
    /// so the block's Jacobian is I + this.
    pub fn residual_jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D> {
        // z = W1 x + b1, s'(z) from a = s(z): (H)
        let z = self.w1 * x + self.b1;
        let ds = z.map(|z| S::derivative_from_output(S::apply(z)));
        // W2 diag(s'(z)): (D, H), then times W1: (D, D)
        let mut w2s = self.w2;
        for (mut column, &d) in w2s.column_iter_mut().zip(ds.iter()) {
            column *= d;
        }
        w2s * self.w1
    }
}

impl<T: Real, const D: usize, const H: usize, S: SmoothActivation> SmoothMap<T, D>
    for ResidualBlock<T, D, H, S>
{
    fn value(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.apply(x)
    }

    /// I + W2 diag(s'(W1 x + b1)) W1.
    fn jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D> {
        self.residual_jacobian(x) + Matrix::<T, D, D>::identity()
    }
}

impl<T: Real, const D: usize, const H: usize, const M: usize, S: SmoothActivation> SmoothMap<T, D>
    for ResNet<T, D, H, M, S>
{
    fn value(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.apply(x)
    }

    fn jacobian(&self, x: &Vector<T, D>) -> Matrix<T, D, D> {
        self.value_and_jacobian(x).1
    }

    /// The chain rule through the blocks: J = J_M ... J_1, each J_i taken at block i's input.
    fn value_and_jacobian(&self, x: &Vector<T, D>) -> (Vector<T, D>, Matrix<T, D, D>) {
        let mut j = Matrix::<T, D, D>::identity();
        let mut y = *x;
        for block in &self.blocks {
            j = block.jacobian(&y) * j;
            y = block.apply(&y);
        }
        (y, j)
    }
}

impl<T: Real, const D: usize, const H: usize, const M: usize, S: SmoothActivation>
    ResNet<T, D, H, M, S>
{
    /// The blocks `range` (0-based, `blocks[k]` first) as one map: the value and Jacobian of
    /// f_{end-1} o ... o f_start at x. An empty or out-of-range part of the range is skipped, so
    /// `0..0` is the identity.
    pub fn part_value_and_jacobian(
        &self,
        range: core::ops::Range<usize>,
        x: &Vector<T, D>,
    ) -> (Vector<T, D>, Matrix<T, D, D>) {
        let mut j = Matrix::<T, D, D>::identity();
        let mut y = *x;
        for block in self.blocks.get(range).unwrap_or(&[]) {
            j = block.jacobian(&y) * j;
            y = block.apply(&y);
        }
        (y, j)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Rng;

    /// The Jacobian of a random tanh / softplus network against central differences.
    fn check<S: SmoothActivation>() {
        let net = ResNet::<f64, 3, 5, 4, S>::random(&mut Rng::new(11), 0.6);
        let x = Vector::<f64, 3>::new(0.3, -0.7, 0.2);
        let j = net.jacobian(&x);
        let h = 1e-6;
        for c in 0..3 {
            let mut e = Vector::<f64, 3>::zeros();
            e[c] = h;
            let fd = (net.value(&(x + e)) - net.value(&(x - e))) / (2.0 * h);
            for r in 0..3 {
                assert!(
                    (fd[r] - j[(r, c)]).abs() < 1e-8,
                    "{r},{c}: {} vs {}",
                    j[(r, c)],
                    fd[r]
                );
            }
        }
    }

    #[test]
    fn network_jacobians_match_finite_differences() {
        check::<Tanh>();
        check::<Softplus>();
    }

    #[test]
    fn part_of_a_network_composes() {
        let net = ResNet::<f64, 2, 4, 5, Tanh>::random(&mut Rng::new(3), 0.5);
        let x = Vector::<f64, 2>::new(0.1, 0.4);
        let (y1, j1) = net.part_value_and_jacobian(0..2, &x);
        let (y2, j2) = net.part_value_and_jacobian(2..5, &y1);
        let (y, j) = net.value_and_jacobian(&x);
        assert!((y2 - y).norm() < 1e-15 && (j2 * j1 - j).norm() < 1e-14);
        assert_eq!(net.part_value_and_jacobian(3..3, &x).0, x);
    }
}
