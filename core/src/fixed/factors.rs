//! Fixed-point near-identity factors (docs/THEORY.md section 6.1): each factor of
//! Pi(A) = (I + A_M) ... (I + A_1) stores A_i alone, as 16-bit mantissas with its own
//! power-of-two scale, and is applied to Q16.16 activations as x + A_i x.
//!
//! - The identity path is exact: x is added back unrounded; only A_i x is rounded (once per
//!   entry, from an exact i64 accumulator).
//! - A factor with ||A_i|| ~ 1/M still uses all 16 bits: its scale 2^-s_i is chosen so its
//!   largest entry fills the mantissa range, so the quantisation error is relative,
//!   delta_i = ||A^_i - A_i|| <= sqrt(D) D max|A_i| 2^-16 (half a mantissa step per entry, spectral
//!   norm at most the Frobenius norm; the step is max|A_i| / 2^15 up to a factor 2).
//! - Section 6's bound: ||Pi(A^) - Pi(A)|| <= exp(sum_i (||A_i|| + delta_i)) sum_i delta_i, and
//!   sum_i ||A_i|| = O(1) for a near-identity factorisation, so the error does not grow with M.

use crate::fixed::Q16;
use crate::{Error, LinearResNet, Matrix, Result, Scalar, Vector};

/// Largest mantissa magnitude.
const MANTISSA_MAX: f64 = i16::MAX as f64;
/// Largest shift: 2^-62 is far below anything a Q16.16 activation can resolve.
const MAX_SHIFT: u8 = 62;

/// A ~ m 2^-s: D x D mantissas m (column-major, 16-bit) and the factor's shift s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaledFactor<const D: usize> {
    /// m: (D, D)
    pub mantissa: Matrix<i16, D, D>,
    /// s in [0, 62]: the factor is m 2^-s.
    pub shift: u8,
}

impl<const D: usize> ScaledFactor<D> {
    /// The zero factor (the identity step).
    pub fn zero() -> Self {
        Self {
            mantissa: Matrix::from_element(0),
            shift: 0,
        }
    }

    /// Quantises A: the largest shift s with max_jk |A_jk| 2^s < 32767.5, then m = round(A 2^s)
    /// (so |A^_jk - A_jk| <= 2^-(s+1)). [`Error::NonFinite`] for NaN or infinite entries,
    /// [`Error::Overflow`] when an entry is 32767.5 or more.
    pub fn quantize<T: Scalar>(a: &Matrix<T, D, D>) -> Result<Self> {
        let mut largest = 0.0f64;
        for v in a.iter() {
            let v = v.to_f64();
            if !v.is_finite() {
                return Err(Error::NonFinite);
            }
            largest = largest.max(libm::fabs(v));
        }
        if largest >= MANTISSA_MAX + 0.5 {
            return Err(Error::Overflow);
        }
        let mut shift = 0u8;
        let mut scale = 1.0f64;
        while shift < MAX_SHIFT && largest * scale * 2.0 < MANTISSA_MAX + 0.5 {
            shift += 1;
            scale *= 2.0;
        }
        let mantissa = Matrix::from_fn(|j, k| {
            let m = libm::round(a[(j, k)].to_f64() * scale);
            m.clamp(-MANTISSA_MAX, MANTISSA_MAX) as i16
        });
        Ok(Self { mantissa, shift })
    }

    /// The factor this represents, m 2^-s, in f64 (exact).
    pub fn to_f64(&self) -> Matrix<f64, D, D> {
        let scale = libm::ldexp(1.0, -(self.shift as i32));
        self.mantissa.map(|m| m as f64 * scale)
    }

    /// y = x + A^ x on Q16.16 activations: x: (D), y: (D). Each (A^ x)_j is accumulated
    /// exactly in i64 and rounded once to nearest; the addition saturates (counted).
    #[inline]
    pub fn apply(&self, x: &Vector<Q16, D>) -> Vector<Q16, D> {
        let s = self.shift.min(MAX_SHIFT) as u32;
        let half = if s == 0 { 0 } else { 1i64 << (s - 1) };
        let mut y = *x;
        for (j, yj) in y.iter_mut().enumerate() {
            let mut acc = 0i64;
            for (k, xk) in x.iter().enumerate() {
                let m = self.mantissa.get((j, k)).copied().unwrap_or(0);
                acc = acc.saturating_add(m as i64 * xk.to_bits() as i64);
            }
            let ax = acc.saturating_add(half) >> s;
            *yj = crate::fixed::rounding::saturate::<Q16>((yj.to_bits() as i64).saturating_add(ax));
        }
        y
    }
}

/// A linear residual network in fixed point for inference: x -> (I + A^_M) ... (I + A^_1) x on
/// Q16.16 activations, each A^_i a [`ScaledFactor`] (16-bit mantissas, own scale).
///
/// ```
/// use nearid::fixed::{FixedLinearResNet, Q16};
/// use nearid::{LinearResNet, Matrix, Scalar, Vector};
/// let mut net = LinearResNet::<f64, 2, 3>::identity();
/// for a in net.factors.iter_mut() {
///     *a = Matrix::<f64, 2, 2>::new(0.0, -0.01, 0.01, 0.002);
/// }
/// let q = FixedLinearResNet::from_linear(&net).unwrap();
/// let err = (q.product_f64() - net.product()).norm();
/// assert!(err < 1e-5); // three factors, each entry within half a step 2^-22
/// let y = q.apply(&Vector::<Q16, 2>::new(Q16::ONE, Q16::ZERO));
/// assert!((y[1].to_f64() - net.product()[(1, 0)]).abs() < 1e-4);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FixedLinearResNet<const D: usize, const M: usize> {
    /// A^_1 .. A^_M, A^_1 applied first.
    pub factors: [ScaledFactor<D>; M],
}

impl<const D: usize, const M: usize> FixedLinearResNet<D, M> {
    /// Bytes of parameters: M (2 D^2 + 1) bytes, padded.
    pub const PARAM_BYTES: usize = core::mem::size_of::<Self>();

    /// The identity.
    pub fn identity() -> Self {
        Self {
            factors: [ScaledFactor::zero(); M],
        }
    }

    /// Quantises every factor of a float (or fixed) linear residual network, each with its own
    /// scale ([`ScaledFactor::quantize`]); the first error is returned.
    pub fn from_linear<T: Scalar>(net: &LinearResNet<T, D, M>) -> Result<Self> {
        let mut out = Self::identity();
        for (q, a) in out.factors.iter_mut().zip(net.factors.iter()) {
            *q = ScaledFactor::quantize(a)?;
        }
        Ok(out)
    }

    /// x -> Pi(A^) x in Q16.16 (saturation counted, see [`crate::fixed::guard`] to rule it out).
    pub fn apply(&self, x: &Vector<Q16, D>) -> Vector<Q16, D> {
        self.factors.iter().fold(*x, |x, f| f.apply(&x))
    }

    /// Pi(A^) = (I + A^_M) ... (I + A^_1), the product the quantised factors represent, in f64.
    pub fn product_f64(&self) -> Matrix<f64, D, D> {
        let mut p: Matrix<f64, D, D> = crate::identity_matrix();
        for f in self.factors.iter() {
            p += f.to_f64() * p;
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantisation_uses_the_whole_mantissa_and_is_within_half_a_step() {
        let a = Matrix::<f64, 2, 2>::new(0.001, -0.0003, 0.0007, 0.00001);
        let q = ScaledFactor::quantize(&a).unwrap();
        let largest = q.mantissa.iter().map(|m| m.unsigned_abs()).max().unwrap();
        assert!(
            largest > 16384,
            "mantissa {largest} does not use the top bit"
        );
        let step = libm::ldexp(1.0, -(q.shift as i32));
        assert!((q.to_f64() - a).iter().all(|e| e.abs() <= step / 2.0));
    }

    #[test]
    fn rejects_non_finite_and_huge_factors() {
        let nan = Matrix::<f64, 1, 1>::new(f64::NAN);
        assert_eq!(ScaledFactor::quantize(&nan), Err(Error::NonFinite));
        let huge = Matrix::<f64, 1, 1>::new(40000.0);
        assert_eq!(ScaledFactor::quantize(&huge), Err(Error::Overflow));
        assert_eq!(
            ScaledFactor::quantize(&Matrix::<f64, 1, 1>::new(0.0)),
            Ok(ScaledFactor {
                mantissa: Matrix::from_element(0),
                shift: MAX_SHIFT
            })
        );
    }

    /// The largest entry at the thresholds of the documented rule, exactly: 32767.5 and above
    /// overflow, just below it fits with shift 0; the shift stops where |A| 2^(s+1) reaches
    /// 32767.5 (16383.75 keeps s = 0, 16383.5 takes s = 1), at every scale and sign.
    #[test]
    fn quantisation_thresholds_are_exact() {
        let one = |v: f64| ScaledFactor::quantize(&Matrix::<f64, 1, 1>::new(v));
        let q = |m: i16, shift: u8| {
            Ok(ScaledFactor {
                mantissa: Matrix::<i16, 1, 1>::new(m),
                shift,
            })
        };
        assert_eq!(one(32767.5), Err(Error::Overflow));
        assert_eq!(one(-32767.5), Err(Error::Overflow));
        assert_eq!(one(32767.0), q(32767, 0));
        assert_eq!(one(-32767.0), q(-32767, 0));
        assert_eq!(one(32767.499), q(32767, 0));
        assert_eq!(one(16384.0), q(16384, 0));
        for k in [0, 1, 10, 40] {
            let scale = libm::ldexp(1.0, -k);
            assert_eq!(one(16383.75 * scale), q(16384, k as u8), "2^-{k}");
            assert_eq!(one(-16383.75 * scale), q(-16384, k as u8), "2^-{k}");
            assert_eq!(one(16383.5 * scale), q(32767, k as u8 + 1), "2^-{k}");
            assert_eq!(one(-16383.5 * scale), q(-32767, k as u8 + 1), "2^-{k}");
        }
        // Tiny factors stop at the largest shift.
        assert_eq!(one(1e-300), q(0, MAX_SHIFT));
        assert_eq!(one(libm::ldexp(3.0, -62)), q(3, MAX_SHIFT));
    }

    /// Pi(A^) = (I + A^_3)(I + A^_2)(I + A^_1) against the float network of the same
    /// dequantised factors applied to each basis vector (a second route, [`LinearResNet::product`]);
    /// the factors do not commute, so the order shows too. The two round differently only in
    /// the order of each D-term sum: within 4 M D eps of the largest entry, eps = 2^-53.
    #[test]
    fn product_is_the_factors_applied_in_order() {
        let mut rng = crate::Rng::new(3);
        let mut float = LinearResNet::<f64, 3, 3>::identity();
        for a in float.factors.iter_mut() {
            *a = Matrix::from_fn(|_, _| rng.uniform() - 0.5);
        }
        let fixed = FixedLinearResNet::from_linear(&float).unwrap();
        for (f, q) in float.factors.iter_mut().zip(&fixed.factors) {
            *f = q.to_f64();
        }
        let (ours, theirs) = (fixed.product_f64(), float.product());
        let largest = theirs.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let bound = 4.0 * 3.0 * 3.0 * f64::EPSILON / 2.0 * largest;
        assert!(
            (ours - theirs).iter().all(|e| e.abs() <= bound),
            "{ours} against {theirs}"
        );
        // And the order matters for these factors (so a reversed product would be seen).
        let mut reversed = float;
        reversed.factors.reverse();
        assert!((reversed.product() - theirs).amax() > 1e-3);
    }

    /// Random factors against the rule written out: s is the largest shift in [0, 62] with
    /// max |A| 2^s < 32767.5, and every mantissa is round(A 2^s).
    #[test]
    fn quantisation_follows_its_definition() {
        let mut rng = crate::Rng::new(11);
        for _ in 0..2000 {
            let magnitude = libm::ldexp(1.0, (rng.uniform() * 70.0) as i32 - 60);
            let a = Matrix::<f64, 3, 3>::from_fn(|_, _| (rng.uniform() * 2.0 - 1.0) * magnitude);
            let q = ScaledFactor::quantize(&a).unwrap();
            let largest = a.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let scaled = |s: u8| largest * libm::ldexp(1.0, s as i32);
            assert!(q.shift <= MAX_SHIFT && scaled(q.shift) < 32767.5, "{a}");
            assert!(
                q.shift == MAX_SHIFT || scaled(q.shift + 1) >= 32767.5,
                "{a}"
            );
            let scale = libm::ldexp(1.0, q.shift as i32);
            for (m, v) in q.mantissa.iter().zip(a.iter()) {
                assert_eq!(f64::from(*m), libm::round(v * scale), "{a}");
            }
        }
    }

    /// x + round(m x / 2^s) per entry with the exact sum in i128, rounded to nearest with
    /// ties up (floor((2 acc + 2^s) / 2^(s+1))), saturated to i32.
    fn apply_reference<const D: usize>(f: &ScaledFactor<D>, x: &Vector<Q16, D>) -> [i32; D] {
        let s = f.shift as u32;
        core::array::from_fn(|j| {
            let acc: i128 = (0..D)
                .map(|k| i128::from(f.mantissa[(j, k)]) * i128::from(x[k].to_bits()))
                .sum();
            let ax = (2 * acc + (1i128 << s)).div_euclid(1i128 << (s + 1));
            let y = i128::from(x[j].to_bits()) + ax;
            y.clamp(i128::from(i32::MIN), i128::from(i32::MAX)) as i32
        })
    }

    /// Ties at every shift they can occur at: m x = k 2^(s-1) for k in -3..=3 rounds half
    /// up (k = 1 to 1, k = -1 to 0, k = -3 to -1), and shift 0 adds m x exactly.
    #[test]
    fn apply_rounds_ties_up_at_every_shift() {
        for s in 0u8..=44 {
            for k in -3i32..=3 {
                // m x = k 2^(s-1), the power split between m (at most 2^14) and x.
                let e = u32::from(s.max(1) - 1);
                let (ex, em) = (e.min(29), e - e.min(29));
                let (m, x0) = if s == 0 {
                    (k as i16, 1)
                } else {
                    (1i16 << em, k << ex)
                };
                let f = ScaledFactor::<2> {
                    mantissa: Matrix::<i16, 2, 2>::new(0, 0, m, 0),
                    shift: s,
                };
                let x = Vector::<Q16, 2>::new(Q16::from_bits(x0), Q16::ZERO);
                let got = f.apply(&x);
                let want = apply_reference(&f, &x);
                assert_eq!([got[0].to_bits(), got[1].to_bits()], want, "s {s} k {k}");
                let tie_up = [-1, -1, 0, 0, 1, 1, 2][(k + 3) as usize];
                if s > 0 {
                    assert_eq!(got[1].to_bits(), tie_up, "s {s} k {k}");
                }
            }
        }
        // s = 2: acc / 4 for acc = 2, 1, -2, -3, 6, -6 is 1, 0, 0, -1, 2, -1.
        let f = ScaledFactor::<2> {
            mantissa: Matrix::<i16, 2, 2>::new(0, 0, 1, 0),
            shift: 2,
        };
        for (acc, want) in [(2, 1), (1, 0), (-2, 0), (-3, -1), (6, 2), (-6, -1)] {
            let x = Vector::<Q16, 2>::new(Q16::from_bits(acc), Q16::ZERO);
            assert_eq!(f.apply(&x)[1].to_bits(), want, "{acc}");
        }
    }

    /// Random factors and activations, including the ends of Q16.16 (saturation), against the
    /// exact reference.
    #[test]
    fn apply_matches_the_exact_reference() {
        let mut rng = crate::Rng::new(3);
        let ends = [i32::MIN, i32::MIN + 1, -1, 0, 1, i32::MAX];
        for i in 0..3000 {
            let shift = if i % 10 == 0 {
                MAX_SHIFT
            } else {
                (rng.next_u32() % 40) as u8
            };
            let f = ScaledFactor::<3> {
                mantissa: Matrix::from_fn(|_, _| rng.next_u32() as i16),
                shift,
            };
            let x = Vector::<Q16, 3>::from_fn(|_, _| {
                let r = rng.next_u32();
                if r.is_multiple_of(4) {
                    Q16::from_bits(ends[(r as usize / 4) % ends.len()])
                } else {
                    Q16::from_bits((rng.next_u32() as i32) >> (r % 31))
                }
            });
            let got = f.apply(&x);
            let want = apply_reference(&f, &x);
            assert_eq!(
                [got[0].to_bits(), got[1].to_bits(), got[2].to_bits()],
                want,
                "{f:?} {x:?}"
            );
        }
    }
}
