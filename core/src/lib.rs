//! # nearid: deep residual networks that train on microcontrollers
//!
//! Fixed-size, allocation-free residual networks with forward, backward and SGD, on
//! const-generic matrices, in f32, f64 or fixed point (Q16.16, Q4.12). RAM is known at compile time.
//!
//! ## Map
//! - **Numbers** — [`Scalar`] (f32, f64, fixed point) and [`Real`] (the float types the
//!   decompositions run in), in [`scalar`].
//! - **Networks** — [`ResidualBlock`] x + W2 s(W1 x + b1) + b2 ([`block`]), [`ResNet`] of M
//!   blocks ([`resnet`]), [`Net`]: input layer, blocks, output layer for a task's own widths
//!   ([`net`], with [`Dense`] and [`Skip`] in [`dense`]), [`LinearResNet`] (I + A_M)...(I + A_1)
//!   ([`linear`]), activations
//!   [`Relu`], [`Tanh`], [`Softplus`], [`Identity`] ([`activation`]). They all implement
//!   [`Model`] (forward with a tape, backward into the tape, for a batch) and [`Trainable`]
//!   (the plain SGD update, and visits of every tensor with its static shape), in [`model`].
//! - **Kernels** — how the passes are computed, behind one trait ([`kernels::Kernels`]):
//!   [`kernels::Reference`] (plain loops, the specification), [`kernels::ByUnit`]
//!   (microcontrollers), [`kernels::Lanes`] (desktop), [`kernels::FixedKernels`]; each number
//!   type names its own ([`Scalar::Kernels`]), and any can be chosen by type, in [`kernels`].
//! - **Training** — losses ([`Loss`], [`Quadratic`], [`CrossEntropy`], in [`loss`]), [`FusedSgd`] (no gradient
//!   buffer) and [`BufferedSgd`] (momentum) in [`sgd`]; seeded initialisation ([`Rng`]) and
//!   synthetic tasks [`LinearTask`], [`SmoothTask`] ([`data`]).
//! - **Model files** — [`file::save`] and [`file::load`]: a network's architecture and weights
//!   in one little-endian, checksummed byte layout (`.nid`) that the device and the desktop
//!   read alike, without a heap ([`file`]).
//! - **Growing depth** — [`Grow`] inserts blocks that are exactly the identity when the loss
//!   stalls ([`Stall`]), up to a network's capacity; a [`ResNet`] runs only its first m blocks
//!   ([`grow`]).
//! - **Checkpoints** — [`checkpoint::save`] and [`checkpoint::restore`]: the model file, the
//!   optimiser's state and an application payload in NOR flash (any
//!   `embedded_storage::nor_flash::NorFlash`), in slots that a power cut at any moment leaves
//!   holding the old checkpoint or the new one, without a heap ([`checkpoint`]).
//! - **Near-identity factorisation** — [`factorize`] / [`factorize_into`] write any R with
//!   det R > 0 as (I + A_M)...(I + A_1) with max ||A_i|| within the HM bound ([`factor`]:
//!   polar form, real Schur form of the rotation, roots; docs/THEORY.md section 1).
//! - **Certificates** — [`certify`] turns a gradient norm measured during training into an
//!   upper bound on L - L_opt for a [`LinearResNet`] ([`certificate`], docs/THEORY.md section 2).
//! - **Fixed point** — [`fixed::Q16`] (Q16.16) and [`fixed::Q12`] (Q4.12, 16-bit) scalars that
//!   saturate and count it, stochastic rounding of the SGD updates, near-identity factors with
//!   per-factor power-of-two scales, and the ahead-of-time overflow guard, in [`fixed`].
//! - **Smooth maps** — [`SmoothMap`] (value and Jacobian; tanh/softplus networks are ones), the
//!   scaling decomposition h = h_m o ... o h_1 into near-identity maps with a damped Newton
//!   inverse, normalisation, and distillation into residual blocks, in [`smooth`] (BEL).
//! - **Errors** — every public function that can meet bad input returns [`Result`] with the
//!   small `Copy` [`Error`]; a failed training step leaves the weights as they were.
//! - **RAM** — `PARAM_BYTES`, `TAPE_BYTES` on each network and `STATE_BYTES` on each optimiser
//!   are `const`s; [`training_bytes`] adds them up for a batch size.
//!
//! The theory these types implement and the host crate checks is in docs/THEORY.md (HM: Hardt & Ma
//! 2017; BEL: Bartlett, Evans & Long 2018; BHL: Bartlett, Helmbold & Long 2018).
//!
//! ## Example: learn y = A x from the identity
//! ```
//! use nearid::{FusedSgd, LinearTask, Model, ResNet, Rng, Sgd, vector};
//! // Exactly the identity map (W2 = 0), with random W1 so gradients flow.
//! let mut net = ResNet::<f32, 4, 8, 4>::identity_init(&mut Rng::new(1), 0.5);
//! let x = vector![1.0f32, -2.0, 0.5, 0.0];
//! assert_eq!(net.forward(&x), Ok(x));
//! // One sample per step (B = 1); the loss is 1/2 ||y^ - y||^2 (see `loss`).
//! let mut sgd = FusedSgd::<f32, _, 1>::new(Sgd::new(0.02)).unwrap();
//! let mut task = LinearTask::<f32, 4>::new(LinearTask::random_spd(0.6, 1.4, 7), 0.0, 8);
//! let mut recent = 0.0;
//! for step in 0..3000 {
//!     let (x, y) = task.batch::<1>();
//!     let loss = sgd.step(&mut net, &x, &y).unwrap().loss;
//!     if step >= 2900 { recent += loss / 100.0; }
//! }
//! assert!(recent < 0.05);
//! ```

#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod activation;
pub mod block;
pub mod certificate;
pub mod checkpoint;
pub mod data;
pub mod dense;
pub mod error;
pub mod factor;
pub mod file;
pub mod fixed;
pub mod grow;
pub mod kernels;
pub mod linear;
pub mod loss;
pub mod model;
pub mod net;
pub mod resnet;
pub mod rng;
pub mod scalar;
pub mod sgd;
pub mod smooth;
mod upper;

pub use activation::{Activation, Identity, Relu, Softplus, Tanh};
pub use block::{BlockTape, ResidualBlock};
pub use certificate::{Certificate, certify, certify_frobenius, excess_loss_bound};
pub use data::{LinearTask, SmoothTask};
pub use dense::{Dense, DenseTape, Skip};
pub use error::{Error, FileError, FlashError, Result};
pub use factor::{Decompose, FactorReport, factorize, factorize_into, hm_bound};
pub use grow::{Grow, Stall};
pub use linear::{LinearResNet, LinearTape, identity_matrix};
pub use loss::{CrossEntropy, Loss, Quadratic};
pub use model::{Model, Trainable, training_bytes};
pub use net::{Net, NetTape};
pub use resnet::{ResNet, ResNetTape};
pub use rng::Rng;
pub use scalar::{Real, RoundingState, Scalar};
pub use sgd::{BufferedSgd, FusedSgd, Sgd, SgdState, Step};
pub use smooth::{SmoothActivation, SmoothMap};

/// A statically sized R x C matrix (column-major), nalgebra's `SMatrix`.
pub type Matrix<T, const R: usize, const C: usize> = nalgebra::SMatrix<T, R, C>;
/// A statically sized vector, nalgebra's `SVector`.
pub type Vector<T, const N: usize> = nalgebra::SVector<T, N>;

/// A column vector from its entries: `vector![1.0, 2.0, 3.0]` is a `Vector<_, 3>`. The scalar
/// type comes from the entries or the context (`vector![1.0f32, 2.0]`), which avoids the
/// ambiguity of nalgebra's `Vector::new(a, b)` for generic code.
#[macro_export]
macro_rules! vector {
    ($($x:expr),* $(,)?) => {
        $crate::Vector::from([$($x),*])
    };
}

/// A matrix of zeros (works for every [`Scalar`], which need not implement num-traits).
#[inline]
pub fn zeros<T: Scalar, const R: usize, const C: usize>() -> Matrix<T, R, C> {
    Matrix::from_element(T::ZERO)
}
