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
    use core::fmt::Debug;

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

    /// Q4.12 a / b from its definition: the exact quotient a 2^12 / b rounded to nearest, ties
    /// up, saturated. In f64 the quotient (|.| <= 2^27, divisor <= 2^15) is within 2^-26 of
    /// the truth while a non-tie is at least 2^-16 from k + 1/2, and a tie is exact, so the
    /// float floor is the exact one.
    fn div_reference_q12(a: i16, b: i16) -> i16 {
        if b == 0 {
            return [i16::MIN, 0, i16::MAX][(a.signum() + 1) as usize];
        }
        let q = libm::floor(f64::from(a) * 4096.0 / f64::from(b) + 0.5);
        q.clamp(-32768.0, 32767.0) as i16
    }

    /// Every sign of divisor, around zero exhaustively and each end of the range against every
    /// divisor (and back): negative divisors, MIN / -1, and ties in both directions.
    #[test]
    fn q12_division_is_the_exact_quotient_rounded_half_up() {
        let ends = [
            i16::MIN,
            i16::MIN + 1,
            -4096,
            -2,
            -1,
            0,
            1,
            2,
            4096,
            i16::MAX - 1,
            i16::MAX,
        ];
        let small = -300i16..=300;
        let pairs = small
            .clone()
            .flat_map(|a| small.clone().map(move |b| (a, b)))
            .chain(
                ends.iter()
                    .flat_map(|&e| (i16::MIN..=i16::MAX).flat_map(move |v| [(e, v), (v, e)])),
            );
        for (a, b) in pairs {
            let got = (Q12::from_bits(a) / Q12::from_bits(b)).to_bits();
            assert_eq!(got, div_reference_q12(a, b), "{a} / {b}");
        }
    }

    /// Q16.16 a / b checked against the definition of rounding to nearest (ties up) in exact
    /// i128: the raw result r satisfies r - 1/2 <= a 2^16 / b < r + 1/2, or it is MAX (MIN)
    /// and the quotient rounds to MAX or above (MIN or below).
    #[test]
    fn q16_division_is_the_exact_quotient_rounded_half_up() {
        let mut rng = crate::Rng::new(21);
        let ends = [
            i32::MIN,
            i32::MIN + 1,
            -65536,
            -65535,
            -3,
            -2,
            -1,
            1,
            2,
            3,
            65535,
            65536,
            i32::MAX - 1,
            i32::MAX,
        ];
        let random = (0..20_000).map(|_| {
            let r = rng.next_u64();
            ((r as i32) >> ((r >> 32) % 32), (r >> 32) as i32 >> (r % 32))
        });
        let grid = (-40i32..=40).flat_map(|a| (-40i32..=40).map(move |b| (a, b)));
        let edge = ends.iter().flat_map(|&a| ends.iter().map(move |&b| (a, b)));
        for (a, b) in grid.chain(edge).chain(random) {
            let r = (Q16::from_bits(a) / Q16::from_bits(b)).to_bits();
            if b == 0 {
                assert_eq!(
                    r,
                    [i32::MIN, 0, i32::MAX][(a.signum() + 1) as usize],
                    "{a} / 0"
                );
                continue;
            }
            // r - 1/2 <= n / d < r + 1/2, times 2 |d|.
            let (n2, d) = (
                2 * (i128::from(a) << 16) * i128::from(b.signum()),
                i128::from(b).abs(),
            );
            let r128 = i128::from(r);
            let above_low = (2 * r128 - 1) * d <= n2;
            let below_high = n2 < (2 * r128 + 1) * d;
            let ok = match r {
                i32::MAX => above_low,
                i32::MIN => below_high,
                _ => above_low && below_high,
            };
            assert!(ok, "{a} / {b} gave {r}");
        }
    }

    /// True when q is the nearest integer to sqrt(n): (q - 1/2)^2 <= n < (q + 1/2)^2, times 4
    /// (4n is even and (2q +- 1)^2 odd, so there are no ties).
    fn is_rounded_sqrt(q: i128, n: i128) -> bool {
        (2 * q - 1) * (2 * q - 1) <= 4 * n && 4 * n < (2 * q + 1) * (2 * q + 1)
    }

    /// Every Q4.12 value: sqrt is the exact square root rounded to nearest (raw 4095 and 4097
    /// sit just below a half, raw n 2^12 = s (s + 1)), zero for zero and negative input.
    #[test]
    fn q12_sqrt_is_the_exact_root_rounded_to_nearest() {
        for r in i16::MIN..=i16::MAX {
            let got = Q12::from_bits(r).sqrt().to_bits();
            if r <= 0 {
                assert_eq!(got, 0, "sqrt({r})");
            } else {
                assert!(
                    is_rounded_sqrt(i128::from(got), i128::from(r) << 12),
                    "sqrt({r}) = {got}"
                );
            }
        }
        assert_eq!(Q12::from_f64(4.0).sqrt(), Q12::from_f64(2.0));
        assert_eq!(Q12::from_bits(4095).sqrt().to_bits(), 4095);
    }

    /// Q16.16 sqrt from its definition: small values, the top of the range, random values, and
    /// every raw r with r 2^16 = s (s + 1) (the root is then just below s + 1/2: round down).
    #[test]
    fn q16_sqrt_is_the_exact_root_rounded_to_nearest() {
        let mut rng = crate::Rng::new(8);
        let products = (1i64..=182).flat_map(|k| [k * ((k << 16) - 1), k * ((k << 16) + 1)]);
        let products = products
            .filter(|&r| r <= i64::from(i32::MAX))
            .map(|r| r as i32);
        let random = (0..20_000).map(|_| (rng.next_u32() >> (rng.next_u32() % 32)) as i32);
        let rs = (-100..100_000)
            .chain(i32::MAX - 100_000..=i32::MAX)
            .chain([i32::MIN]);
        for r in rs.chain(products).chain(random) {
            let got = Q16::from_bits(r).sqrt().to_bits();
            if r <= 0 {
                assert_eq!(got, 0, "sqrt({r})");
            } else {
                assert!(
                    is_rounded_sqrt(i128::from(got), i128::from(r) << 16),
                    "sqrt({r}) = {got}"
                );
            }
        }
        // 65535 2^16 = 65535 * 65536: root 65535.4999..., rounds down.
        assert_eq!(Q16::from_bits(65535).sqrt().to_bits(), 65535);
        assert_eq!(Q16::from_f64(2.25).sqrt(), Q16::from_f64(1.5));
    }

    /// isqrt at every power of four and its neighbours, up to 2^62 (where the search for the
    /// starting bit begins), and at the squares just below 2^64.
    #[test]
    fn isqrt_at_powers_of_four() {
        for k in 0..32u32 {
            let n = 1u64 << (2 * k);
            assert_eq!(isqrt(n), 1 << k, "4^{k}");
            assert_eq!(isqrt(n + 1), 1 << k, "4^{k} + 1");
            assert_eq!(isqrt(n - 1), (1 << k) - 1, "4^{k} - 1");
            assert_eq!(
                isqrt(2 * n),
                libm::floor(libm::sqrt(2.0) * (1u64 << k) as f64) as u64
            );
        }
        let m = u64::from(u32::MAX);
        assert_eq!(isqrt(m * m), m);
        assert_eq!(isqrt(m * m - 1), m - 1);
        assert_eq!(isqrt(u64::MAX), m);
    }

    fn raw<F: Fixed>(x: F) -> i128 {
        x.to_bits().to_i128()
    }

    /// floor(v / 2^F + 1/2) exactly: rounding to nearest, ties up.
    fn round_reference<F: Fixed>(v: i128) -> i128 {
        (2 * v + (1 << F::FRAC)).div_euclid(1 << (F::FRAC + 1))
    }

    /// v saturated to the format, and whether that clamped.
    fn saturate_reference<F: Fixed>(v: i128) -> (F, bool) {
        let (lo, hi) = (F::Raw::MIN.to_i128(), F::Raw::MAX.to_i128());
        (
            F::from_bits(F::Raw::from_i128(v.clamp(lo, hi))),
            v < lo || v > hi,
        )
    }

    fn exact_dot<F: Fixed>(a: &[F], b: &[F]) -> i128 {
        a.iter().zip(b).map(|(&x, &y)| raw(x) * raw(y)).sum()
    }

    /// A vector of up to 12 entries, most at the ends of the range (so the partial sums
    /// overflow the wide type in both directions and come back), the rest random or small.
    fn extreme_vector<F: Fixed>(rng: &mut crate::Rng) -> ([F; 12], usize) {
        let len = (rng.next_u32() % 13) as usize;
        let v = core::array::from_fn(|_| {
            let r = rng.next_u64();
            let bits = match r % 8 {
                0 | 1 => F::Raw::MIN.to_i128(),
                2 | 3 => F::Raw::MAX.to_i128(),
                4 => F::Raw::MIN.to_i128() + 1,
                5 => i128::from((r >> 8) as i8),
                _ => i128::from(r >> 3),
            };
            F::from_bits(F::Raw::from_i128(bits))
        });
        (v, len)
    }

    /// `op()` against `exact` (a product of raw values, in units of 2^(-2 FRAC)) rounded once and saturated, with one
    /// saturation counted exactly when the rounded value is outside the range.
    fn assert_rounded_once<F: Fixed>(op: impl FnOnce() -> F, exact: i128, case: impl Debug) {
        let (want, clamped) = saturate_reference::<F>(round_reference::<F>(exact));
        let before = F::saturations();
        assert_eq!(op(), want, "{case:?}");
        assert_eq!(F::saturations() - before, u32::from(clamped), "{case:?}");
    }

    /// dot against the exact sum in i128, rounded once and saturated, counted exactly when the
    /// rounded sum is outside the range; random sums whose partial sums overflow.
    fn check_dot<F: Fixed>(seed: u64) {
        let mut rng = crate::Rng::new(seed);
        for _ in 0..20_000 {
            let (a, n) = extreme_vector::<F>(&mut rng);
            let (b, _) = extreme_vector::<F>(&mut rng);
            let (a, b) = (&a[..n], &b[..n]);
            assert_rounded_once(|| F::dot(a, b), exact_dot(a, b), (a, b));
        }
    }

    /// Both summation strategies (Q4.12 in i64, Q16.16 with carries) against the reference.
    #[test]
    fn dot_matches_the_exact_reference_in_both_formats() {
        check_dot::<Q12>(1);
        check_dot::<Q16>(2);
    }

    /// Sums that leave the wide type and stay out (net carries, up or down): saturation toward
    /// the sum's sign, in both formats; 4 MIN^2 is exactly 2^(wide bits), 0 in the wide type.
    #[test]
    fn dot_saturates_sums_that_leave_the_wide_type() {
        let (m12, p12) = (Q12::from_bits(i16::MIN), Q12::from_bits(i16::MAX));
        assert_eq!(Q12::dot(&[m12; 4], &[m12; 4]), Q12::MAX);
        assert_eq!(Q12::dot(&[m12; 4], &[p12; 4]), Q12::MIN);
        let (m16, p16) = (Q16::from_bits(i32::MIN), Q16::from_bits(i32::MAX));
        assert_eq!(Q16::dot(&[m16; 4], &[m16; 4]), Q16::MAX);
        assert_eq!(Q16::dot(&[m16; 4], &[p16; 4]), Q16::MIN);
        // Up twice, down once: one net carry up.
        let a = [m16, m16, m16, m16, m16, m16];
        let b = [m16, m16, p16, p16, m16, m16];
        assert_eq!(Q16::dot(&a, &b), Q16::MAX);
        assert_eq!(Q16::dot(&a, &b.map(|x| -x)), Q16::MIN);
    }

    /// dot_times_dot against its definition in i128: x = round(a . b), y = round(c . d), both
    /// unsaturated, then round(x y) saturated, counted exactly when out of range.
    fn check_dot_times_dot<F: Fixed>(seed: u64) {
        let mut rng = crate::Rng::new(seed);
        for i in 0..20_000 {
            let (a, n) = extreme_vector::<F>(&mut rng);
            let (b, _) = extreme_vector::<F>(&mut rng);
            let (mut c, k) = extreme_vector::<F>(&mut rng);
            let (d, _) = extreme_vector::<F>(&mut rng);
            if i % 2 == 0 {
                // Small second factors, so that large first factors give in-range results.
                for ci in c.iter_mut() {
                    *ci = F::from_bits(F::Raw::from_i128(raw(*ci) >> (F::FRAC + 4)));
                }
            }
            let (a, b, c, d) = (&a[..n], &b[..n], &c[..k], &d[..k]);
            let x = round_reference::<F>(exact_dot(a, b));
            let y = round_reference::<F>(exact_dot(c, d));
            assert_rounded_once(|| F::dot_times_dot(a, b, c, d), x * y, (a, b, c, d));
        }
    }

    /// The fast path and the clamped wider path, in both formats, against the reference.
    #[test]
    fn dot_times_dot_matches_the_exact_reference_in_both_formats() {
        check_dot_times_dot::<Q12>(3);
        check_dot_times_dot::<Q16>(4);
    }

    /// The slow path: one dot product out of the format's range, the other small, so the
    /// product is in range (Q4.12: 10 x 0.5 = 5; 256 x 2^-12); and exactly at MIN from a
    /// Q16.16 dot product just past the wide type (2^63 + 1 and -2^63 - 1 at 32 fractional
    /// bits, times -/+ 2^-16), where nothing may be counted.
    #[test]
    fn dot_times_dot_beyond_the_range_of_one_factor() {
        let q = Q12::from_f64;
        let before = Q12::saturations();
        assert_eq!(
            Q12::dot_times_dot(&[q(4.0)], &[q(2.5)], &[q(0.5)], &[Q12::ONE]),
            q(5.0)
        );
        assert_eq!(
            Q12::dot_times_dot(&[q(0.5)], &[Q12::ONE], &[q(-4.0)], &[q(2.5)]),
            q(-5.0)
        );
        let m12 = [Q12::MIN; 4];
        let tiny = [Q12::EPSILON];
        assert_eq!(
            Q12::dot_times_dot(&m12, &m12, &tiny, &[Q12::ONE]).to_bits(),
            256
        );
        assert_eq!(
            Q12::dot_times_dot(&tiny, &[-Q12::ONE], &m12, &m12).to_bits(),
            -256
        );
        assert_eq!(Q12::saturations(), before);
        assert_eq!(
            Q12::dot_times_dot(&m12, &m12, &[Q12::ZERO], &[Q12::ONE]),
            Q12::ZERO
        );

        let (m, e) = (Q16::MIN, Q16::EPSILON);
        let before = Q16::saturations();
        let up = Q16::dot_times_dot(&[m, m, e], &[m, m, e], &[-e], &[Q16::ONE]);
        let (p, k1, k2) = (Q16::MAX, Q16::from_bits(-641), Q16::from_bits(6_700_417));
        // 2 (-2^31 (2^31 - 1)) - 641 * 6700417 = -2^63 + 2^32 - (2^32 + 1).
        let down = Q16::dot_times_dot(&[m, m, k1], &[p, p, k2], &[e], &[Q16::ONE]);
        assert_eq!((up, down, Q16::saturations()), (Q16::MIN, Q16::MIN, before));
        // 2^64 at 32 fractional bits times 2^-16: 2^32, out of range, counted once.
        let m4 = [m; 4];
        assert_eq!(Q16::dot_times_dot(&m4, &m4, &[e], &[Q16::ONE]), Q16::MAX);
        assert_eq!(Q16::saturations(), before + 1);
    }

    /// Factors so large that their product would overflow the wider type unless clamped:
    /// 2^14 (Q4.12) and 2^18 (Q16.16) products of MIN^2 each, squared, saturate to MAX.
    #[test]
    fn dot_times_dot_of_huge_factors_saturates() {
        let a = std::vec![Q12::MIN; 1 << 14];
        assert_eq!(Q12::dot_times_dot(&a, &a, &a, &a), Q12::MAX);
        let b: std::vec::Vec<Q12> = a.iter().map(|&x| -x).collect();
        assert_eq!(Q12::dot_times_dot(&a, &b, &a, &a), Q12::MIN);
        let a = std::vec![Q16::MIN; 1 << 18];
        assert_eq!(Q16::dot_times_dot(&a, &a, &a, &a), Q16::MAX);
        assert_eq!(
            Q16::dot_times_dot(&a, &a, &a, &[Q16::ZERO; 1 << 10]),
            Q16::ZERO
        );
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
