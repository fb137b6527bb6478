//! The kernels every layer is computed with, behind one trait, and the one place each number
//! type's kernels are chosen.
//!
//! A network's passes are written once, in [`crate::block`], [`crate::linear`] and
//! [`crate::model`], against [`Kernels`]: matrix-vector products for a batch of B samples, the
//! plain SGD update of an affine map and its part of the gradient norm, and a residual block's
//! three passes (whose defaults compose the matrix kernels). The implementations:
//!
//! | kernels | for | what they do |
//! |---|---|---|
//! | [`Reference`] | every [`Scalar`] | plain in-order loops: the specification the others are tested against |
//! | [`ByUnit`] | floats on targets without vector units (Cortex-M4F) | a block one hidden unit at a time; updates one row at a time, eta folded into each column |
//! | [`Lanes`] | floats on targets with vector units (desktop) | 8 partial sums per dot product, 4-column tiles, register-blocked batch kernels |
//! | [`FixedKernels`] | the fixed-point formats | the by-unit forward pass, and the SGD update as one exact integer loop per matrix |
//!
//! Each number type names its kernels in [`Scalar::Kernels`]; for floats that is [`Float`],
//! the one `cfg` in the crate that looks at the target. Every kernel can also be named by type
//! (`FusedSgd<f32, N, 1, Quadratic, ByUnit>`), so host tests run the microcontroller kernels
//! against [`Reference`] on a table of shapes, batch sizes and formats (core/tests/kernels.rs,
//! core/tests/float_kernels/): bit for bit where the order of operations is the same, within
//! a stated rounding bound where it is not.
//!
//! Shapes are const generics throughout: W: (R, C) maps a (C) vector to an (R) one, and a batch
//! is an array of B samples. Nothing is checked at run time because nothing can mismatch.

use crate::activation::Activation;
use crate::block::{BlockTape, ResidualBlock};
use crate::{Matrix, Scalar, Vector};

mod by_unit;
mod fixed;
mod lanes;
mod reference;
mod tiles;

pub use by_unit::ByUnit;
pub use fixed::FixedKernels;
pub use lanes::Lanes;
pub use reference::Reference;

/// The kernels f32 and f64 use on this target: [`Lanes`] where f32 arithmetic runs on vector
/// units (x86, 64-bit Arm, wasm with simd128: `cfg(vector_units)`, set by core/build.rs), where
/// independent partial sums are free and let the compiler vectorise; [`ByUnit`] elsewhere
/// (microcontrollers compute one value per instruction, where extra lanes are only extra
/// instructions).
#[cfg(vector_units)]
pub type Float = Lanes;
/// The kernels f32 and f64 use on this target (see the other definition).
#[cfg(not(vector_units))]
pub type Float = ByUnit;

/// How a network's arithmetic is carried out. Implemented by zero-sized types; every method is
/// an associated function with the shapes in its type.
///
/// The results of every kernel are those of [`Reference`] up to the order of additions: each
/// implementation documents where its order differs.
pub trait Kernels<T: Scalar>: Copy + core::fmt::Debug + 'static {
    /// `ys[b] += W xs[b]` for every sample: W: (R, C), `xs[b]`: (C), `ys[b]`: (R).
    fn mat_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        xs: [&Vector<T, C>; B],
        ys: &mut [Vector<T, R>; B],
    );

    /// `outs[b] += W^T gs[b]` for every sample: W: (R, C), `gs[b]`: (R), `outs[b]`: (C).
    fn mat_t_vec<const R: usize, const C: usize, const B: usize>(
        w: &Matrix<T, R, C>,
        gs: [&Vector<T, R>; B],
        outs: &mut [Vector<T, C>; B],
    );

    /// Plain SGD on an affine map y = W v (+ c): W <- W - eta sum_b u_b v_b^T and, with a bias,
    /// c <- c - eta sum_b u_b (u_b = dL/dy of sample b). W: (R, C), u_b: (R), v_b: (C).
    /// `rounding` is the fixed-point formats' dither (`()` for floats).
    fn update<const R: usize, const C: usize, const B: usize>(
        w: &mut Matrix<T, R, C>,
        bias: Option<&mut Vector<T, R>>,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        eta: T,
        rounding: &mut T::Rounding,
    );

    /// `total += ||sum_b u_b v_b^T||_F^2` (plus `||sum_b u_b||^2` with a bias): the affine map's
    /// part of ||grad L||_F^2, from the factors alone, as sum_{b,c} (u_b . u_c)(v_b . v_c).
    fn add_norm_sq<const R: usize, const C: usize, const B: usize>(
        total: &mut T,
        us: [&Vector<T, R>; B],
        vs: [&Vector<T, C>; B],
        bias: bool,
    );

    /// A residual block's forward pass for a batch, recording sample b in `tapes[b]`: y = x + W2 s(W1 x + b1)
    /// + b2. The default composes [`Kernels::mat_vec`].
    #[inline]
    fn block_forward<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &ResidualBlock<T, D, H, S>,
        xs: &[Vector<T, D>; B],
        tapes: &mut [BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        reference::block_forward::<Self, T, D, H, S, B>(block, xs, tapes)
    }

    /// A residual block's backward pass for a batch: given dL/dy of each sample, records dy and
    /// dz = dL/d(W1 x + b1) in `tapes[b]` and returns dL/dx = dy + W1^T dz. The default composes
    /// [`Kernels::mat_t_vec`].
    #[inline]
    fn block_backward<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &ResidualBlock<T, D, H, S>,
        dys: &[Vector<T, D>; B],
        tapes: &mut [BlockTape<T, D, H>; B],
    ) -> [Vector<T, D>; B] {
        reference::block_backward::<Self, T, D, H, S, B>(block, dys, tapes)
    }

    /// Plain SGD on a block from its tapes: (W1, b1) with factors (dz, x), then (W2, b2) with
    /// (dy, a). The default is two [`Kernels::update`]s.
    #[inline]
    fn block_update<const D: usize, const H: usize, S: Activation, const B: usize>(
        block: &mut ResidualBlock<T, D, H, S>,
        tapes: &[BlockTape<T, D, H>; B],
        eta: T,
        rounding: &mut T::Rounding,
    ) {
        reference::block_update::<Self, T, D, H, S, B>(block, tapes, eta, rounding)
    }
}
