//! The ahead-of-time overflow guard (docs/THEORY.md section 6.3): from the weights' norms
//! and a declared input radius, a bound on every value the forward pass computes, hence the
//! integer bits the activations need, checked before the code runs.
//!
//! For inputs with ||x||_2 <= r, a factor x -> x + A x keeps ||x|| <= (1 + ||A||) r, and so do
//! the partial sums x + A P_k x the column-by-column kernel stores (P_k keeps the first k
//! coordinates, ||A P_k|| <= ||A||). A ReLU block x -> x + b2 + W2 s(W1 x + b1) gives
//! ||z|| <= ||W1|| ||x|| + ||b1||, ||s(z)|| <= ||z|| (+ sqrt(H) ln 2 for softplus) and
//! ||y|| <= ||x|| + ||b2|| + ||W2|| ||s(z)||. Each entry is at most the Euclidean norm of its
//! vector. Rounding adds at most half a unit per kernel step (D or H steps per entry), which the
//! bound includes. ||A|| is bounded above without a solver by min(||A||_F, sqrt(||A||_1 ||A||_inf)).
//! The product of the factors (1 + ||A_i||) <= exp(sum_i ||A_i||) is section 6's static bound.
//!
//! [`Guarded`] wraps a network checked this way: its forward pass refuses inputs outside the
//! radius with [`Error::Overflow`], and never saturates on inputs inside it (the host tests check
//! this with the saturation counter). It bounds inference only: training changes the weights.

use crate::fixed::{FixedLinearResNet, Q16};
use crate::{
    Activation, Error, Identity, LinearResNet, Matrix, Model, Relu, ResNet, Result, Scalar,
    Softplus, Tanh, Vector,
};

/// Constants of a fixed-point format the guard needs.
pub trait FixedPoint: Scalar {
    /// Fractional bits F (one unit in the last place is 2^-F).
    const FRAC_BITS: u32;
    /// Integer bits including the sign: values lie in [-2^(INT-1), 2^(INT-1) - 2^-F].
    const INT_BITS: u32;
}

/// Activations with |s(z)| <= |z| + OFFSET entrywise (all of them are 1-Lipschitz).
pub trait BoundedActivation: Activation {
    /// The offset: ln 2 for softplus, 0 for the others.
    const OFFSET: f64;
}
impl BoundedActivation for Relu {
    const OFFSET: f64 = 0.0;
}
impl BoundedActivation for Tanh {
    const OFFSET: f64 = 0.0;
}
impl BoundedActivation for Identity {
    const OFFSET: f64 = 0.0;
}
impl BoundedActivation for Softplus {
    const OFFSET: f64 = core::f64::consts::LN_2;
}

/// The smallest number of integer bits I (sign included) such that every value of magnitude at
/// most `bound` fits a format with I integer and `frac` fractional bits:
/// bound <= 2^(I-1) - 2^-frac. Saturates at 128, which is also the answer for a NaN bound (no
/// finite number of bits is known to suffice).
///
/// ```
/// use nearid::fixed::integer_bits;
/// const BITS: u32 = integer_bits(5.3, 16); // |v| <= 5.3 needs [-8, 8): 4 bits with the sign
/// assert_eq!(BITS, 4);
/// assert_eq!(integer_bits(8.0, 16), 5);
/// ```
pub const fn integer_bits(bound: f64, frac: u32) -> u32 {
    if bound.is_nan() {
        return 128;
    }
    let ulp = 1.0 / (1u128 << (if frac > 126 { 126 } else { frac })) as f64;
    let mut bits = 1u32;
    let mut top = 1.0f64; // 2^(bits - 1)
    while bits < 128 && !fits(bound, top, ulp) {
        bits += 1;
        top *= 2.0;
    }
    bits
}

/// bound <= top - ulp, exactly, for powers of two top and ulp: where ulp is below half of
/// top's spacing, top - ulp rounds to top in f64, and then every f64 below top fits (it is at
/// most top - 2 ulp).
const fn fits(bound: f64, top: f64, ulp: f64) -> bool {
    let limit = top - ulp;
    if limit == top {
        bound < top
    } else {
        bound <= limit
    }
}

/// A network whose forward values can be bounded from its weights.
pub trait Bounded<T: Scalar, const D: usize> {
    /// An upper bound on the magnitude of every value the forward pass computes (inputs,
    /// hidden activations, partial sums, outputs) for inputs with ||x||_2 <= `radius`, in a
    /// format whose rounding step is `ulp` (round to nearest).
    fn value_bound(&self, radius: f64, ulp: f64) -> f64;

    /// The forward pass the bound is about.
    fn eval(&self, x: &Vector<T, D>) -> Vector<T, D>;
}

/// Relative slack for the f64 arithmetic of the bounds themselves.
const SLACK: f64 = 1.0 + 1e-9;

/// An upper bound on the spectral norm: min(||A||_F, sqrt(||A||_1 ||A||_inf)), NaN when an
/// entry is NaN or infinite (no finite number bounds it; the guard then refuses the network
/// with [`Error::NonFinite`]) and +inf when the bound exceeds f64::MAX. The entries are scaled by
/// a power of two before they are squared, so entries of 1e-200 do not square to 0.
pub fn spectral_upper<T: Scalar, const R: usize, const C: usize>(a: &Matrix<T, R, C>) -> f64 {
    if !a.iter().all(|v| v.is_finite()) {
        return f64::NAN;
    }
    let e = crate::upper::exponent_of(a.iter().copied());
    let mut frob = 0.0;
    let mut cols = 0.0f64;
    let mut rows = [0.0f64; R];
    for column in a.as_slice().chunks_exact(R.max(1)).take(C) {
        let mut c = 0.0;
        for (j, v) in column.iter().enumerate() {
            let v = libm::fabs(libm::ldexp(v.to_f64(), -e));
            frob += v * v;
            c += v;
            if let Some(r) = rows.get_mut(j) {
                *r += v;
            }
        }
        cols = cols.max(c);
    }
    let rows = rows.iter().fold(0.0f64, |m, &r| m.max(r));
    libm::ldexp(libm::sqrt(frob).min(libm::sqrt(cols * rows)) * SLACK, e)
}

/// ||v||_2 (scaled before squaring, rounded up), NaN for a non-finite entry.
fn vector_norm<T: Scalar, const N: usize>(v: &Vector<T, N>) -> f64 {
    spectral_upper(v)
}

/// a b for bounds a, b >= 0, with 0 inf = 0 (a zero matrix bounds its product with anything
/// by 0): NaN only comes from a NaN weight.
fn mul_bound(a: f64, b: f64) -> f64 {
    if a == 0.0 || b == 0.0 { 0.0 } else { a * b }
}

/// max(a, b) that keeps a NaN (f64::max drops it).
fn max_nan(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        f64::NAN
    } else {
        a.max(b)
    }
}

/// sqrt(n) * steps / 2 units: the Euclidean norm of n entries each rounded `steps` times.
fn rounding(n: usize, steps: usize, ulp: f64) -> f64 {
    libm::sqrt(n as f64) * steps as f64 * 0.5 * ulp
}

impl<T: Scalar, const D: usize, const M: usize> Bounded<T, D> for LinearResNet<T, D, M> {
    fn value_bound(&self, radius: f64, ulp: f64) -> f64 {
        let mut b = radius * SLACK;
        let mut worst = b;
        for a in self.factors.iter() {
            b = (mul_bound(1.0 + spectral_upper(a), b) + rounding(D, D, ulp)) * SLACK;
            worst = max_nan(worst, b);
        }
        worst
    }

    fn eval(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.apply(x)
    }
}

impl<T: Scalar, const D: usize, const H: usize, const M: usize, S: BoundedActivation> Bounded<T, D>
    for ResNet<T, D, H, M, S>
{
    fn value_bound(&self, radius: f64, ulp: f64) -> f64 {
        let mut b = radius * SLACK;
        let mut worst = b;
        for blk in self.blocks.iter() {
            // z = b1 + W1 x, column by column: (H)
            let z = (vector_norm(&blk.b1)
                + mul_bound(spectral_upper(&blk.w1), b)
                + rounding(H, D, ulp))
                * SLACK;
            // a = s(z), rounded once: (H)
            let a = (z + libm::sqrt(H as f64) * (S::OFFSET + ulp)) * SLACK;
            // y = x + b2, then + W2 a column by column: (D)
            let y = (b
                + vector_norm(&blk.b2)
                + mul_bound(spectral_upper(&blk.w2), a)
                + rounding(D, H, ulp))
                * SLACK;
            worst = max_nan(max_nan(max_nan(worst, z), a), y);
            b = y;
        }
        worst
    }

    fn eval(&self, x: &Vector<T, D>) -> Vector<T, D> {
        self.apply(x)
    }
}

impl<const D: usize, const M: usize> Bounded<Q16, D> for FixedLinearResNet<D, M> {
    fn value_bound(&self, radius: f64, ulp: f64) -> f64 {
        let mut b = radius * SLACK;
        let mut worst = b;
        for f in self.factors.iter() {
            b = (mul_bound(1.0 + spectral_upper(&f.to_f64()), b) + rounding(D, 1, ulp)) * SLACK;
            worst = max_nan(worst, b);
        }
        worst
    }

    fn eval(&self, x: &Vector<Q16, D>) -> Vector<Q16, D> {
        self.apply(x)
    }
}

/// A network checked against overflow for inputs with ||x||_2 <= radius.
///
/// ```
/// use nearid::fixed::{Guarded, Q16};
/// use nearid::{Error, Model, ResNet, Rng, Scalar, Vector};
/// let net = ResNet::<Q16, 2, 4, 3>::random(&mut Rng::new(1), 0.3);
/// let guarded = Guarded::new(&net, 10.0).unwrap();
/// assert!(guarded.integer_bits() <= Q16::INT);
/// let x = Vector::<Q16, 2>::new(Q16::from_f64(3.0), Q16::from_f64(-4.0));
/// assert!(guarded.forward(&x).is_ok());
/// let far = Vector::<Q16, 2>::new(Q16::from_f64(30.0), Q16::ZERO);
/// assert_eq!(guarded.forward(&far), Err(Error::Overflow));
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Guarded<'a, N, T, const D: usize> {
    net: &'a N,
    radius: f64,
    bound: f64,
    _format: core::marker::PhantomData<T>,
}

impl<'a, N: Bounded<T, D>, T: FixedPoint, const D: usize> Guarded<'a, N, T, D> {
    /// Checks `net` for inputs with ||x||_2 <= radius: [`Error::OutOfRange`] for a negative or
    /// non-finite radius, [`Error::NonFinite`] for a NaN or infinite weight (the bound is then
    /// NaN), [`Error::Overflow`] when the bound on the forward values exceeds the format's
    /// largest value (then [`Guarded::required_bits`] says how many integer bits would do).
    pub fn new(net: &'a N, radius: f64) -> Result<Self> {
        if !(radius.is_finite() && radius >= 0.0) {
            return Err(Error::OutOfRange);
        }
        let bound = net.value_bound(radius, ulp::<T>());
        if bound.is_nan() {
            return Err(Error::NonFinite);
        }
        if !(bound.is_finite() && bound <= T::MAX.to_f64()) {
            return Err(Error::Overflow);
        }
        Ok(Self {
            net,
            radius,
            bound,
            _format: core::marker::PhantomData,
        })
    }

    /// The integer bits (sign included) `net` needs for inputs within `radius` in format T's
    /// fractional precision, without building a guard.
    pub fn required_bits(net: &N, radius: f64) -> u32 {
        integer_bits(net.value_bound(radius, ulp::<T>()), T::FRAC_BITS)
    }

    /// The bound on every forward value.
    pub fn bound(&self) -> f64 {
        self.bound
    }

    /// The integer bits the bound needs (at most the format's).
    pub fn integer_bits(&self) -> u32 {
        integer_bits(self.bound, T::FRAC_BITS)
    }

    /// The declared input radius.
    pub fn radius(&self) -> f64 {
        self.radius
    }

    /// The network's output; [`Error::Overflow`] when ||x||_2 > radius. Inside the radius no
    /// value of the pass saturates.
    pub fn forward(&self, x: &Vector<T, D>) -> Result<Vector<T, D>> {
        let norm_sq: f64 = x.iter().map(|v| v.to_f64() * v.to_f64()).sum();
        if norm_sq > self.radius * self.radius {
            return Err(Error::Overflow);
        }
        Ok(self.net.eval(x))
    }
}

fn ulp<T: FixedPoint>() -> f64 {
    libm::ldexp(1.0, -(T::FRAC_BITS as i32))
}
