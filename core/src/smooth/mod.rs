//! Smooth invertible maps as compositions of near-identity maps (BEL; docs/THEORY.md sections 4-5).
//!
//! - [`SmoothMap`] (map.rs): a map R^D -> R^D with its Jacobian; the core's [`crate::ResNet`]
//!   and [`crate::ResidualBlock`] with a [`SmoothActivation`] (tanh, softplus) implement it.
//! - [`Newton`] (newton.rs): damped Newton inverse at a point; non-convergence is an error.
//! - [`Schedule`], [`Scales`] (schedule.rs): uniform a_i = i/m and geometric a_i = (1-c)^(m-i).
//! - [`ScalingDecomposition`] (scaling.rs): h_i = g_{a_i} o g_{a_{i-1}}^-1, g_a(x) = h(a x)/a.
//! - [`Normalised`] (normalise.rs): h~(x) = A^-1 (h(x + x0) - h(x0)), A = Dh(x0), det A > 0.
//! - [`distill`] (distill.rs): train block i of a network on h_i, then fine-tune on h.
//! - Lipschitz upper bounds of blocks (lipschitz.rs) and small solves (solve.rs).

mod distill;
mod lipschitz;
mod map;
mod newton;
mod normalise;
mod scaling;
mod schedule;
mod solve;

pub use distill::{Distill, Distilled, distill};
pub use map::{SmoothActivation, SmoothMap};
pub use newton::Newton;
pub use normalise::Normalised;
pub use scaling::{Scaled, ScalingDecomposition};
pub use schedule::{Scales, Schedule};
pub use solve::{determinant, inverse, solve, spectral_norm_upper};

/// x in the float type T (`Scalar::from_f64`, named apart from num-traits' `from_f64`).
#[inline]
pub(crate) fn real<T: crate::Real>(x: f64) -> T {
    <T as crate::Scalar>::from_f64(x)
}
