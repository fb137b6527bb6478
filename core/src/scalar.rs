//! The number types a network computes in.
//!
//! [`Scalar`] is everything the networks, losses and SGD need: ring arithmetic, conversion to and
//! from f64 (for initialisation and reports), a finiteness test, the few functions the activations
//! use, and the two kernels every layer is made of ([`Scalar::dot`] and [`Scalar::axpy`]). Float
//! types implement them plainly; fixed-point types override the kernels to accumulate wide and
//! round once.
//!
//! [`Real`] adds what the decompositions need (nalgebra's `RealField`: SVD, Schur, eigen): f32 and
//! f64 only. Fixed-point factors are converted from a float factorisation.

use core::fmt::Debug;

use crate::fixed::Dither;
use core::ops::{Add, AddAssign, Div, Mul, Neg, Sub, SubAssign};

/// A number type networks compute in: f32, f64, or a fixed-point format.
pub trait Scalar:
    nalgebra::Scalar
    + Copy
    + Default
    + PartialOrd
    + Debug
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + AddAssign
    + SubAssign
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Largest finite value.
    const MAX: Self;

    /// Nearest representable value (fixed point saturates; NaN becomes zero there).
    fn from_f64(x: f64) -> Self;
    /// The value as f64 (exact for f32, f64 and the fixed-point formats).
    fn to_f64(self) -> f64;
    /// False for NaN and infinities. Fixed-point values are always finite.
    fn is_finite(self) -> bool;
    /// |x|.
    fn abs(self) -> Self;
    /// Square root of a non-negative value.
    fn sqrt(self) -> Self;
    /// A square root that may be approximate, for thresholds such as gradient clipping where a few
    /// percent do not matter (f32 uses micromath's bit-trick, average deviation about 5%).
    fn approx_sqrt(self) -> Self {
        self.sqrt()
    }
    /// e^x.
    fn exp(self) -> Self;
    /// ln(1 + x).
    fn ln_1p(self) -> Self;
    /// tanh x.
    fn tanh(self) -> Self;

    /// The larger of two values (NaN-blind: returns `self` when they are unordered).
    fn max(self, other: Self) -> Self {
        if other > self { other } else { self }
    }
    /// The smaller of two values.
    fn min(self, other: Self) -> Self {
        if other < self { other } else { self }
    }

    /// How many results of this type were clamped to its range so far (fixed point counts them,
    /// see [`crate::fixed::saturation`]); always 0 for floats, which overflow to infinity
    /// instead and are caught by [`Scalar::is_finite`].
    fn saturations() -> u32 {
        0
    }

    /// self - a b, the SGD update w - eta d. Fixed point forms a b exactly and rounds it as the
    /// [`Dither`] says (stochastically, so that updates smaller than the format's step survive in
    /// expectation; [`crate::fixed::stochastic`]). Floats ignore the dither: this is exactly
    /// `self - a * b`.
    #[inline(always)]
    fn sub_mul_rounded(self, a: Self, b: Self, dither: &mut Dither) -> Self {
        let _ = dither;
        self - a * b
    }

    /// sum_i a_i b_i over the common length. Fixed point accumulates wide and rounds once.
    ///
    /// On targets with f32 vector units ([`VECTOR_UNITS`]) the default keeps 8 partial sums
    /// (lanes i mod 8, added pairwise at the end) so the compiler can vectorise the loop, which a
    /// single running sum forbids for floats; on microcontrollers, where the lanes only cost
    /// instructions, it sums in order.
    #[inline]
    fn dot(a: &[Self], b: &[Self]) -> Self {
        let n = a.len().min(b.len());
        let (a, b) = (&a[..n], &b[..n]);
        if !VECTOR_UNITS {
            return a.iter().zip(b).fold(Self::ZERO, |s, (&x, &y)| s + x * y);
        }
        let mut lanes = [Self::ZERO; 8];
        let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
        let (a_rest, b_rest) = (a8.remainder(), b8.remainder());
        for (x, y) in a8.zip(b8) {
            for l in 0..8 {
                lanes[l] += x[l] * y[l];
            }
        }
        for (l, (&x, &y)) in a_rest.iter().zip(b_rest).enumerate() {
            lanes[l] += x * y;
        }
        reduce8(&lanes)
    }

    /// (a . b) (c . d): fixed point keeps both dot products wide, so the product saturates
    /// only when it is itself out of range (used for the gradient norm).
    #[inline]
    fn dot_times_dot(a: &[Self], b: &[Self], c: &[Self], d: &[Self]) -> Self {
        Self::dot(a, b) * Self::dot(c, d)
    }

    /// One column of the fused SGD update W <- W - eta sum_b u_b v_b^T: w_j <- w_j - eta
    /// `sum_b vs[b] us[b][j]` for every row j of `column` (`vs[b] = v_b[k]` for column k, 1 for a
    /// bias). Every `us[b]` must be at least as long as `column`; extra entries are ignored.
    ///
    /// Floats fold eta into each sample's column factor, a_b = eta v_b, and sum the scaled
    /// columns (8 rows at a time on [`VECTOR_UNITS`] targets, one row at a time elsewhere)
    /// before subtracting, so each weight is loaded and stored once and
    /// the inner loop is one multiply-add per weight and sample. Fixed point sums the gradient entry first and
    /// rounds eta g once as the dither says ([`Scalar::sub_mul_rounded`]).
    ///
    /// Always inlined on [`VECTOR_UNITS`] targets: the compiler kept it out of line, called once
    /// per column with the row count a run-time value (38% of a (16, 32, 32, 1) f32 training
    /// step in the profile); inlined into the per-block update the lengths are the types'.
    #[cfg_attr(vector_units, inline(always))]
    #[cfg_attr(not(vector_units), inline)]
    fn sgd_column<const B: usize>(
        column: &mut [Self],
        us: &[&[Self]; B],
        vs: &[Self; B],
        eta: Self,
        dither: &mut Dither,
    ) {
        let _ = dither;
        if us.iter().any(|u| u.len() < column.len()) {
            return;
        }
        let a: [Self; B] = core::array::from_fn(|b| eta * vs[b]);
        // The step sum_b a_b u_b is summed apart from w (whose rounding is coarser) and
        // subtracted once; it starts from the first product, not from 0 + (which the compiler
        // may not drop: 0 + -0 is +0).
        let ([u0, rest_u @ ..], [a0, rest_a @ ..]) = (us.as_slice(), a.as_slice()) else {
            return;
        };
        if !VECTOR_UNITS {
            // Microcontrollers: one row at a time, so that for B = 1 each weight is a load, a
            // multiply-subtract and a store.
            for (j, (w, &u)) in column.iter_mut().zip(*u0).enumerate() {
                let step = rest_u
                    .iter()
                    .zip(rest_a)
                    .fold(*a0 * u, |s, (u, &a)| s + a * u[j]);
                *w -= step;
            }
            return;
        }
        let done = column.len() / 8 * 8;
        let mut rows = column.chunks_exact_mut(8);
        for (c, ws) in (&mut rows).enumerate() {
            let r = 8 * c..8 * c + 8;
            let mut step = [Self::ZERO; 8];
            for (s, &u) in step.iter_mut().zip(&u0[r.clone()]) {
                *s = *a0 * u;
            }
            for (u, &a) in rest_u.iter().zip(rest_a) {
                for (s, &u) in step.iter_mut().zip(&u[r.clone()]) {
                    *s += a * u;
                }
            }
            for (w, s) in ws.iter_mut().zip(step) {
                *w -= s;
            }
        }
        for (j, w) in rows.into_remainder().iter_mut().enumerate() {
            let i = done + j;
            let step = rest_u
                .iter()
                .zip(rest_a)
                .fold(*a0 * u0[i], |s, (u, &a)| s + a * u[i]);
            *w -= step;
        }
    }

    /// The plain SGD update of a column-major matrix, W <- W - eta sum_b u_b v_b^T with
    /// W: (R, C), R the length of the `us[b]` and C of the `vs[b]`: [`Scalar::sgd_column`] on
    /// column k with the factors `v_b[k]`, in order. Factors that do not fit W leave it alone.
    /// Fixed point overrides it to walk the whole matrix in one call (on a Cortex-M0 a call per
    /// column of 3 rows cost more than the column). Always inlined on [`VECTOR_UNITS`] targets,
    /// as [`Scalar::sgd_column`] and for the same reason.
    #[cfg_attr(vector_units, inline(always))]
    #[cfg_attr(not(vector_units), inline)]
    fn sgd_outer<const B: usize>(
        w: &mut [Self],
        us: &[&[Self]; B],
        vs: &[&[Self]; B],
        eta: Self,
        dither: &mut Dither,
    ) {
        let Some((rows, cols)) = outer_shape(w, us, vs) else {
            return;
        };
        for (k, column) in w.chunks_exact_mut(rows).enumerate().take(cols) {
            let v: [Self; B] = core::array::from_fn(|b| vs[b][k]);
            Self::sgd_column(column, us, &v, eta, dither);
        }
    }

    /// self + a b, rounded as one entry of [`Scalar::axpy`] (y + alpha x): floats exactly
    /// that expression, fixed point with the product kept wide and rounded once.
    #[inline]
    fn add_product(self, a: Self, b: Self) -> Self {
        self + a * b
    }

    /// y += alpha x over the common length.
    #[inline]
    fn axpy(alpha: Self, x: &[Self], y: &mut [Self]) {
        for (yi, &xi) in y.iter_mut().zip(x) {
            *yi += alpha * xi;
        }
    }
}

/// acc[l] += a[l] b[l] for the 8 lanes of [`Scalar::dot`] (the register-tiled kernels'
/// step).
#[inline(always)]
pub(crate) fn mul_add8<T: Scalar>(mut acc: [T; 8], a: &[T; 8], b: &[T; 8]) -> [T; 8] {
    for l in 0..8 {
        acc[l] += a[l] * b[l];
    }
    acc
}

/// The pairwise sum of 8 lanes in [`Scalar::dot`]'s order.
#[inline(always)]
pub(crate) fn reduce8<T: Scalar>(lanes: &[T; 8]) -> T {
    let [l0, l1, l2, l3, l4, l5, l6, l7] = *lanes;
    ((l0 + l4) + (l1 + l5)) + ((l2 + l6) + (l3 + l7))
}

/// True for the float types, f32 and f64, whose `dot` and `axpy` are the plain folds of `+`
/// and `*` (fixed point accumulates wide): kernels that reorder those folds' work without
/// changing their sums are chosen by it.
#[inline(always)]
pub(crate) fn is_float<T: Scalar>() -> bool {
    use core::any::TypeId;
    TypeId::of::<T>() == TypeId::of::<f32>() || TypeId::of::<T>() == TypeId::of::<f64>()
}

/// (R, C) of a column-major matrix W whose update is sum_b u_b v_b^T, or `None` when the
/// factors do not fit it: every u_b of length R > 0, every v_b of length C, W of R C entries.
#[inline]
pub(crate) fn outer_shape<T, const B: usize>(
    w: &[T],
    us: &[&[T]; B],
    vs: &[&[T]; B],
) -> Option<(usize, usize)> {
    let rows = us.first().map(|u| u.len()).filter(|&r| r > 0)?;
    let cols = w.len() / rows;
    let fits = w.len() == rows * cols
        && us.iter().all(|u| u.len() == rows)
        && vs.iter().all(|v| v.len() == cols);
    fits.then_some((rows, cols))
}

/// True on targets whose f32 arithmetic runs on vector units (x86, 64-bit Arm, wasm with
/// simd128): kernels then keep independent lanes for the compiler to vectorise. Microcontrollers
/// compute one value per instruction, where extra lanes are only extra instructions.
/// (`cfg(vector_units)`, set by the crate's build script.)
pub const VECTOR_UNITS: bool = cfg!(vector_units);

/// A float type the decompositions run in (nalgebra's `RealField`: f32 and f64).
pub trait Real: Scalar + nalgebra::RealField + Copy {}
impl Real for f32 {}
impl Real for f64 {}

impl Scalar for f64 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = f64::MAX;
    #[inline]
    fn from_f64(x: f64) -> Self {
        x
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self
    }
    #[inline]
    fn is_finite(self) -> bool {
        f64::is_finite(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabs(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrt(self)
    }
    #[inline]
    fn exp(self) -> Self {
        libm::exp(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1p(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        libm::tanh(self)
    }
}

impl Scalar for f32 {
    const ZERO: Self = 0.0;
    const ONE: Self = 1.0;
    const MAX: Self = f32::MAX;
    #[inline]
    fn from_f64(x: f64) -> Self {
        x as f32
    }
    #[inline]
    fn to_f64(self) -> f64 {
        self as f64
    }
    #[inline]
    fn is_finite(self) -> bool {
        f32::is_finite(self)
    }
    #[inline]
    fn abs(self) -> Self {
        libm::fabsf(self)
    }
    #[inline]
    fn sqrt(self) -> Self {
        libm::sqrtf(self)
    }
    /// micromath's `sqrt`: one integer add and shift, average deviation about 5%.
    #[inline]
    fn approx_sqrt(self) -> Self {
        micromath::F32Ext::sqrt(self)
    }
    #[inline]
    fn exp(self) -> Self {
        libm::expf(self)
    }
    #[inline]
    fn ln_1p(self) -> Self {
        libm::log1pf(self)
    }
    #[inline]
    fn tanh(self) -> Self {
        libm::tanhf(self)
    }
}

/// True when every entry of the slice is finite.
///
/// A branch-free fold rather than `all`: it has no early exit, so the compiler vectorises it (the
/// early-exit loop was 10% of a (16, 32, 32, 1) f32 training step in the profile, the fold 5%);
/// the common case, all finite, reads every entry anyway.
#[inline]
pub fn all_finite<T: Scalar>(xs: &[T]) -> bool {
    xs.iter().fold(true, |ok, x| ok & x.is_finite())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approx_sqrt_is_within_its_documented_error() {
        for &x in &[0.01f32, 0.5, 1.0, 2.0, 10.0, 1234.5, 1e6] {
            let rel = (Scalar::approx_sqrt(x) - libm::sqrtf(x)).abs() / libm::sqrtf(x);
            assert!(rel < 0.07, "x = {x}: relative error {rel}");
        }
    }

    #[test]
    fn dot_and_axpy_match_the_definition() {
        let a = [1.0f64, -2.0, 3.5];
        let b = [0.5f64, 4.0, -1.0];
        assert_eq!(f64::dot(&a, &b), 0.5 - 8.0 - 3.5);
        let mut y = [1.0f64, 1.0, 1.0];
        f64::axpy(2.0, &a, &mut y);
        assert_eq!(y, [3.0, -3.0, 8.0]);
    }
}
