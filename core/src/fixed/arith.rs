//! The fixed-point formats' operators and accumulation rule, written once for every [`Fixed`]
//! format (the rules are listed in [`super::format`]).

use super::format::{Fixed, Int};
use super::rounding::{
    clamp_counted, record, round_any, round_half_up, round_wider, saturate, saturate_wider,
};
use crate::fixed::Dither;

/// a + b, saturated.
#[inline(always)]
pub(crate) fn add<F: Fixed>(a: F, b: F) -> F {
    saturate(a.wide() + b.wide())
}

/// a - b, saturated.
#[inline(always)]
pub(crate) fn sub<F: Fixed>(a: F, b: F) -> F {
    saturate(a.wide() - b.wide())
}

/// -a, saturated (-MIN is MAX).
#[inline(always)]
pub(crate) fn neg<F: Fixed>(a: F) -> F {
    saturate(-a.wide())
}

/// a b: the exact product rounded once to nearest (ties up), saturated.
#[inline(always)]
pub(crate) fn mul<F: Fixed>(a: F, b: F) -> F {
    saturate(round_half_up::<F>(a.wide() * b.wide()))
}

/// a / b rounded to nearest (ties up); b = 0 saturates toward the sign of a (0 / 0 = 0).
pub(crate) fn div<F: Fixed>(a: F, b: F) -> F {
    let n = a.wide() << F::FRAC;
    let d = b.wide();
    let zero = F::Wide::ZERO;
    if d == zero {
        return match n.cmp(&zero) {
            core::cmp::Ordering::Equal => F::from_wide(zero),
            core::cmp::Ordering::Greater => saturate(F::Wide::MAX),
            core::cmp::Ordering::Less => saturate(-F::Wide::MAX),
        };
    }
    // Round to nearest, ties up like `*`: floor(n / d + 1/2) = floor((2n + d) / 2d) with
    // d > 0. |n| <= 2^(bits + F - 1) and |d| <= 2^(bits - 1) leave room for the doubling in
    // the wide type.
    let (n, d) = if d < zero { (-n, -d) } else { (n, d) };
    let two = F::Wide::ONE + F::Wide::ONE;
    saturate((two * n + d).div_euclid(two * d))
}

/// The exact square root rounded to nearest, by integer square root of raw 2^F; zero for
/// negative input.
pub(crate) fn sqrt<F: Fixed>(a: F) -> F {
    let r = a.to_bits().to_i128();
    if r <= 0 {
        return F::from_wide(F::Wide::ZERO);
    }
    let n = (r as u64) << F::FRAC;
    let s = isqrt(n);
    // Round to nearest: s + 1/2 <= sqrt(n) exactly when n - s^2 > s.
    let s = if n - s * s > s { s + 1 } else { s };
    saturate(F::Wide::from_i128(s as i128))
}

/// floor(sqrt(n)), bit by bit (no division, no float).
pub(crate) fn isqrt(n: u64) -> u64 {
    let mut rem = n;
    let mut root = 0u64;
    let mut bit = 1u64 << 62;
    while bit > n {
        bit >>= 2;
    }
    while bit != 0 {
        if rem >= root + bit {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    root
}

/// w - a b with the exact product rounded by the dither (stochastic, or to nearest), then
/// saturated: the SGD update w - eta d ([`crate::Scalar::sub_mul_rounded`]).
#[inline]
pub(crate) fn sub_mul_rounded<F: Fixed>(w: F, a: F, b: F, dither: &mut Dither) -> F {
    let p = a.wide() * b.wide();
    let r = F::Wide::from_i128(i128::from(dither.offset(F::FRAC)));
    let step = p.saturating_add(r) >> F::FRAC;
    saturate(w.wide().saturating_sub(step))
}

/// One entry of [`axpy`]: self 2^F + a b exact in the wide type, rounded to nearest once,
/// saturated and counted. Written as self + round(a b / 2^F), the same value (self 2^F is a
/// multiple of 2^F), rounded by [`round_any`] (free of constants), as in [`axpy`].
#[inline]
pub(crate) fn add_product<F: Fixed>(y: F, a: F, b: F) -> F {
    let p = a.wide() * b.wide();
    saturate(y.wide().wrapping_add(round_any::<F>(p)))
}

/// y += alpha x, each entry as [`add_product`]; alpha = 0 returns at once ((y 2^F + 0)
/// rounded is y, no clamp: a dead ReLU unit's column in the forward pass).
#[inline]
pub(crate) fn axpy<F: Fixed>(alpha: F, x: &[F], y: &mut [F]) {
    let a = alpha.wide();
    if a == F::Wide::ZERO {
        return;
    }
    let mut saturated = 0u32;
    for (yi, &xi) in y.iter_mut().zip(x) {
        // |alpha x| <= 2^(2 bits - 2) and |y| < 2^(bits - 1) cannot overflow.
        let r = yi.wide().wrapping_add(round_any::<F>(a * xi.wide()));
        *yi = F::from_wide(clamp_counted::<F>(r, &mut saturated));
    }
    record::<F>(saturated);
}

/// sum_i a_i b_i exactly (2F fractional bits) in the wider type.
///
/// Where the wide type is 32 bits (Q4.12) the products are summed in the 64-bit wider type
/// directly (on a Cortex-M0 a sign, an add and an add with carry per product):
/// |a_i b_i| <= 2^(2 bits - 2), so the sum is exact for fewer than 2^33 products, more than
/// memory holds; past that it wraps, never panics. Otherwise (Q16.16, whose wider type is
/// i128) the products are summed in the wide type and each overflow of a partial sum is
/// counted as a carry, so the sum is exact in any order and needs the wider type only at the
/// end, when there were carries.
#[inline(always)]
fn dot_exact<F: Fixed>(a: &[F], b: &[F]) -> (F::Wider, bool) {
    if F::Wide::BITS == 32 {
        let mut acc = F::Wider::ZERO;
        for (&x, &y) in a.iter().zip(b) {
            acc = acc.wrapping_add(F::Wider::cast(x.wide() * y.wide()));
        }
        let fits_wide = F::Wider::cast(F::Wide::cast(acc)) == acc;
        return (acc, fits_wide);
    }
    let mut acc = F::Wide::ZERO;
    let mut carries: i32 = 0;
    for (&x, &y) in a.iter().zip(b) {
        let p = x.wide() * y.wide();
        let (s, overflow) = acc.overflowing_add(p);
        if overflow {
            // The true sum left the wide range in the direction of p's sign (saturating: more
            // than 2^31 overflows would need a longer slice than memory holds).
            carries = carries.saturating_add(if p > F::Wide::ZERO { 1 } else { -1 });
        }
        acc = s;
    }
    if carries == 0 {
        return (F::Wider::cast(acc), true);
    }
    let wider = (F::Wider::cast(carries) << F::Wide::BITS) + F::Wider::cast(acc);
    (wider, false)
}

/// sum_i a_i b_i: exact, rounded once, saturated. When the exact sum fits the wide type (the
/// common case) the rounding ([`round_any`], which cannot overflow) and the saturation run in
/// the wide type, with the same result as in the wider one (on a Cortex-M0 the wider type is
/// two registers and a carry chain).
#[inline]
pub(crate) fn dot<F: Fixed>(a: &[F], b: &[F]) -> F {
    let (acc, fits_wide) = dot_exact(a, b);
    if fits_wide {
        return saturate(round_any::<F>(F::Wide::cast(acc)));
    }
    saturate_wider(round_wider::<F>(acc))
}

/// (a . b)(c . d): both dot products rounded once to F fractional bits but kept unsaturated,
/// multiplied and rounded again, so the result saturates only when it is itself out of range.
pub(crate) fn dot_times_dot<F: Fixed>(a: &[F], b: &[F], c: &[F], d: &[F]) -> F {
    // Fast path, the same value: both dot products in the format's range after rounding, so
    // their product and its rounding fit the wide type (|x y| <= 2^(2 bits - 2)); on a
    // Cortex-M0 this avoids two wider sums and a wider multiply per tensor.
    let in_wide = |a: &[F], b: &[F]| -> Option<F::Wide> {
        let (acc, fits_wide) = dot_exact(a, b);
        let x = round_any::<F>(F::Wide::cast(acc));
        (fits_wide && super::rounding::fits::<F>(x)).then_some(x)
    };
    if let (Some(x), Some(y)) = (in_wide(a, b), in_wide(c, d)) {
        return saturate(round_any::<F>(x * y));
    }
    // Clamp each factor to half the wider type's bits so their product fits; a factor that
    // large makes the product saturate anyway (unless the other is 0).
    let lim = F::Wider::ONE << (F::Wider::BITS / 2 - 2);
    let x = round_wider::<F>(dot_exact(a, b).0).clamp(-lim, lim);
    let y = round_wider::<F>(dot_exact(c, d).0).clamp(-lim, lim);
    saturate_wider(round_wider::<F>(x * y))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scalar;
    use crate::fixed::{Q12, Q16};

    #[test]
    fn dot_is_the_exact_sum_rounded_once() {
        // Short sums, and sums whose partial sums overflow i32 (Q4.12's wide type).
        let big = Q12::from_bits(i16::MIN);
        let a = [big; 5];
        assert_eq!(Q12::dot(&a, &a), Q12::MAX);
        let x = [Q12::from_f64(0.5), Q12::from_f64(-1.25), Q12::from_f64(2.0)];
        let y = [Q12::from_f64(1.5), Q12::from_f64(0.75), Q12::from_f64(-0.5)];
        assert_eq!(Q12::dot(&x, &y).to_f64(), 0.75 - 0.9375 - 1.0);
        let mut c = [big, big, Q12::from_bits(i16::MAX), Q12::from_bits(i16::MAX)];
        let d = [big, big, big, big];
        // 2 * 2^30 - 2 * (2^15 - 1) 2^15 = 2^16: a partial sum overflows, the total does not.
        assert_eq!(Q12::dot(&c, &d).to_bits(), 16);
        c[3] = Q12::ZERO;
        assert_eq!(Q12::dot(&c, &d), Q12::MAX);
        // Q16.16: partial sums that overflow i64 are carried.
        let m = Q16::from_bits(i32::MIN);
        let p = Q16::from_bits(i32::MAX);
        // 2 * 2^62 - 2 * (2^62 - 2^31) = 2^32 with 32 fractional bits: 1.0.
        assert_eq!(Q16::dot(&[m, m, p, p], &[m, m, m, m]).to_bits(), 1 << 16);
    }

    /// axpy's early return for alpha = 0 is what the arithmetic gives: y unchanged, nothing
    /// counted, at the ends of the range too.
    #[test]
    fn axpy_with_zero_alpha_leaves_y() {
        let y0 = [Q12::MIN, Q12::MAX, Q12::from_f64(-0.3), Q12::EPSILON];
        let mut y = y0;
        let before = Q12::saturations();
        Q12::axpy(Q12::ZERO, &[Q12::MAX; 4], &mut y);
        assert_eq!((y, Q12::saturations()), (y0, before));
        let y0 = [Q16::MIN, Q16::MAX, Q16::from_f64(-0.3), Q16::EPSILON];
        let mut y = y0;
        let before = Q16::saturations();
        Q16::axpy(Q16::ZERO, &[Q16::MIN; 4], &mut y);
        assert_eq!((y, Q16::saturations()), (y0, before));
    }

    /// (a, b, a / b) in Q4.12 raw units: rounding ties up, and division by zero saturates
    /// toward the sign of a.
    #[test]
    fn division_matches_the_table() {
        let table: [(i16, i16, i16); 6] = [
            (4096, 8192, 2048),
            (1, 8192, 1),
            (-1, 8192, 0),
            (4096, 0, i16::MAX),
            (-4096, 0, i16::MIN),
            (0, 0, 0),
        ];
        for (a, b, q) in table {
            let got = Q12::from_bits(a) / Q12::from_bits(b);
            assert_eq!(got.to_bits(), q, "{a} / {b}");
        }
    }

    #[test]
    fn isqrt_is_the_floor_of_the_square_root() {
        for n in (0u64..5000).chain([u64::MAX, (1 << 47) - 1, 1 << 47, 999_999_999_999]) {
            let s = isqrt(n);
            assert!(s * s <= n, "{n}");
            assert!((s + 1).checked_mul(s + 1).is_none_or(|q| q > n), "{n}");
        }
    }
}
