//! Fixed-point formats for chips without an FPU (docs/THEORY.md section 6).
//!
//! - [`Q16`] (Q16.16 in 32 bits, [`q16`]) and [`Q12`] (Q4.12 in 16 bits, [`q12`]) implement
//!   [`Scalar`](crate::Scalar), so every network trains in them unchanged:
//!   `ResNet<Q16, D, H, M>`, `LinearResNet<Q12, D, M>`, `FusedSgd<Q16, ..>`. Their arithmetic
//!   ([`format`]: what a format is; written once for both in `arith.rs` and `rounding.rs`)
//!   saturates and never wraps; every saturation is counted ([`saturation`]), and each training
//!   step reports its count in [`crate::Step::saturations`]. Their training kernels are
//!   [`crate::kernels::FixedKernels`].
//! - SGD updates are rounded stochastically ([`stochastic`]): the default of
//!   [`crate::Sgd::new`], switched off with `.with_rounding(Rounding::Nearest)`.
//! - [`FixedLinearResNet`] ([`factors`]) stores each near-identity factor A_i alone, as 16-bit
//!   mantissas with its own power-of-two scale, and applies x + A_i x to Q16.16 activations: the
//!   identity path is exact, only the small perturbation is quantised.
//! - [`guard`]: from the weights' norms and a declared input radius, the integer bits the
//!   activations need, and a forward pass that refuses ([`crate::Error::Overflow`]) inputs
//!   outside the radius, so saturation is ruled out before the code runs.
//!
//! ## Which format each buffer uses
//!
//! | buffer | `T = Q16` | `T = Q12` | [`FixedLinearResNet`] |
//! |---|---|---|---|
//! | weights, biases | Q16.16 | Q4.12 | i16 mantissa, 2^-s per factor |
//! | tape activations (x, a) | Q16.16 | Q4.12 | Q16.16 (inference only) |
//! | backward signals (dy, dz) | Q16.16 | Q4.12 | — |
//! | dot accumulators | i64 with carries counted, 32 fractional bits | i64, 24 fractional bits | i64 |
//! | axpy, one product | i64, 32 fractional bits | i32, 24 fractional bits | i64 |
//! | update eta d before rounding | i64, 32 fractional bits | i32, 24 fractional bits | — |
//! | gradient entry u_j v_k (summed over the batch) | Q16.16 | Q4.12 | — |
//! | loss, squared gradient norm | Q16.16 | Q4.12: saturates (counted) when a sample's loss or ||grad||^2 reaches 8, as early in training; both are only reported and used for clipping | — |
//!
//! ## Example: train in Q16.16
//! ```
//! use nearid::fixed::Q16;
//! use nearid::{FusedSgd, LinearResNet, LinearTask, Model, Scalar, Sgd};
//! let mut net = LinearResNet::<Q16, 3, 4>::identity();
//! let mut sgd = FusedSgd::<Q16, _, 1>::new(Sgd::new(Q16::from_f64(0.02))).unwrap();
//! let mut task = LinearTask::<Q16, 3>::new(LinearTask::random_spd(0.6, 1.4, 3), 0.0, 1);
//! let mut last = 0.0;
//! for _ in 0..2000 {
//!     let (x, y) = task.batch::<1>();
//!     let step = sgd.step(&mut net, &x, &y).unwrap();
//!     last = step.loss.to_f64();
//! }
//! assert!(last < 0.01);
//! ```

pub(crate) mod arith;
pub mod factors;
pub mod format;
pub mod guard;
pub mod q12;
pub mod q16;
pub(crate) mod rounding;
pub mod saturation;
pub mod stochastic;

pub use factors::{FixedLinearResNet, ScaledFactor};
pub use format::{Fixed, Int};
pub use guard::{Bounded, Guarded, integer_bits};
pub use q12::Q12;
pub use q16::Q16;
pub use stochastic::{Dither, Rounding};
