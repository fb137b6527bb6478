//! Guaranteed upper bounds on ||f_i - Id||_L of residual blocks: eps of docs/THEORY.md section 5
//! (the stationary-point bound is only sound with an upper estimate of eps) and the growth
//! factor of section 6.

use super::{SmoothActivation, spectral_norm_upper};
use crate::{Real, ResNet, ResidualBlock, Scalar};

impl<T: Real, const D: usize, const H: usize, S: SmoothActivation> ResidualBlock<T, D, H, S> {
    /// An upper bound on the Lipschitz seminorm of the residual x -> W2 s(W1 x + b1) + b2 over
    /// all of R^D: sup |s'| ||W2|| ||W1||, since its Jacobian W2 diag(s') W1 has at most that
    /// norm everywhere. Each spectral norm is bounded above by [`spectral_norm_upper`] and the
    /// product is rounded up, so the result is never below the true seminorm (NaN for a
    /// non-finite weight).
    ///
    /// ```
    /// use nearid::{ResidualBlock, Rng, SmoothMap, Tanh, Vector};
    /// let b = ResidualBlock::<f64, 2, 4, Tanh>::random(&mut Rng::new(1), 0.3);
    /// let j = b.residual_jacobian(&Vector::<f64, 2>::new(0.1, 0.2));
    /// assert!(j.norm() / 2f64.sqrt() <= b.residual_lipschitz_upper()); // ||J||_2 >= ||J||_F / sqrt 2
    /// ```
    pub fn residual_lipschitz_upper(&self) -> T {
        // The product rounded up (in f64, then into T), so it stays above the seminorm even
        // where it is subnormal.
        use crate::upper::{mul_up, round_up};
        let (w2, w1) = (spectral_norm_upper(&self.w2), spectral_norm_upper(&self.w1));
        let norms = mul_up(Scalar::to_f64(w2), Scalar::to_f64(w1));
        round_up(mul_up(S::DERIVATIVE_SUP, norms))
    }
}

impl<T: Real, const D: usize, const H: usize, const M: usize, S: SmoothActivation>
    ResNet<T, D, H, M, S>
{
    /// [`ResidualBlock::residual_lipschitz_upper`] of every block, `blocks[0]` first.
    pub fn residual_lipschitz_uppers(&self) -> [T; M] {
        core::array::from_fn(|i| self.blocks[i].residual_lipschitz_upper())
    }
}
