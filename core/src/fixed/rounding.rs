//! Rounding and saturation of wide integers back to a format, written once for every
//! [`Fixed`] format. Each helper has a table of test vectors below.
//!
//! A wide value with 2F fractional bits (a product of two raw values, or a sum of them) is
//! rounded to F bits; a wide value with F fractional bits is saturated to the raw range.
//! Rounding is to nearest with ties up, floor((w + 2^(F-1)) / 2^F), in one of two forms that
//! give the same value where both are defined.

use super::format::{Fixed, Int};
use super::saturation;

/// w / 2^F rounded to nearest (ties up), as (w + 2^(F-1)) >> F with a wrapping add: for a wide
/// value formed from at most one product of raw values plus a raw value shifted by F,
/// |w| <= 2^(2 bits - 2) + 2^(bits + F - 1), so adding the half cannot overflow.
#[inline(always)]
pub(crate) fn round_half_up<F: Fixed>(w: F::Wide) -> F::Wide {
    w.wrapping_add(F::Wide::ONE << (F::FRAC - 1)) >> F::FRAC
}

/// w / 2^F rounded to nearest (ties up) for every wide w, without overflow:
/// (w + 2^(F-1)) >> F written as ((w >> (F - 1)) + 1) >> 1 (equal: the floor of a floor),
/// which on a Cortex-M0 needs no constant in a register.
#[inline(always)]
pub(crate) fn round_any<F: Fixed>(w: F::Wide) -> F::Wide {
    ((w >> (F::FRAC - 1)) + F::Wide::ONE) >> 1
}

/// A wider value with 2F fractional bits rounded to F (nearest, ties up, the half added with
/// saturation), not yet saturated to the format.
#[inline(always)]
pub(crate) fn round_wider<F: Fixed>(w: F::Wider) -> F::Wider {
    w.saturating_add(F::Wider::ONE << (F::FRAC - 1)) >> F::FRAC
}

/// True when the wide value fits the raw type: it survives the round trip through it (on a
/// Cortex-M0 a sign extension and a compare).
#[inline(always)]
pub(crate) fn fits<F: Fixed>(w: F::Wide) -> bool {
    F::Wide::cast(F::Raw::cast(w)) == w
}

/// The same test as [`fits`] written as w >> (raw bits - 1) == w >> (wide bits - 1) (the bits
/// above the raw sign bit all copy the sign): two shifts and a compare, no constant. LLVM
/// rewrites [`fits`] as w + 2^(bits-1) <u 2^bits, two constants that a Cortex-M0 keeps in
/// registers or reloads: that form is the cheaper one where registers are free, this one in
/// the update loop, which needs every register.
#[inline(always)]
pub(crate) fn fits_by_shifts<F: Fixed>(w: F::Wide) -> bool {
    (w >> (F::Raw::BITS - 1)) == (w >> (F::Wide::BITS - 1))
}

/// A wide value with F fractional bits as the format, clamped to its range and counted when
/// outside (one test on the common path).
#[inline(always)]
pub(crate) fn saturate<F: Fixed>(w: F::Wide) -> F {
    if fits::<F>(w) {
        F::from_wide(w)
    } else {
        saturate_out_of_range(w)
    }
}

/// The rare branch of [`saturate`]: clamp and count.
#[cold]
#[inline(never)]
fn saturate_out_of_range<F: Fixed>(w: F::Wide) -> F {
    saturation::record(F::COUNTER);
    F::from_bits(if w < F::Wide::ZERO {
        F::Raw::MIN
    } else {
        F::Raw::MAX
    })
}

/// A wider value with F fractional bits saturated to the format (counted).
#[inline]
pub(crate) fn saturate_wider<F: Fixed>(w: F::Wider) -> F {
    if w > F::Wider::cast(F::Raw::MAX) {
        saturate(F::Wide::MAX)
    } else if w < F::Wider::cast(F::Raw::MIN) {
        saturate(F::Wide::MIN)
    } else {
        F::from_bits(F::Raw::cast(w))
    }
}

/// x clamped to the raw range, adding one to `clamped` when it was outside ([`fits`]); the
/// caller records the count once.
#[inline(always)]
pub(crate) fn clamp_counted<F: Fixed>(x: F::Wide, clamped: &mut u32) -> F::Wide {
    if fits::<F>(x) {
        x
    } else {
        clamp_out_of_range::<F>(x, clamped)
    }
}

/// [`clamp_counted`] with the range test of [`fits_by_shifts`].
#[inline(always)]
pub(crate) fn clamp_counted_by_shifts<F: Fixed>(x: F::Wide, clamped: &mut u32) -> F::Wide {
    if fits_by_shifts::<F>(x) {
        x
    } else {
        clamp_out_of_range::<F>(x, clamped)
    }
}

/// The rare branch of the clamps, out of line so the compiler keeps the test a branch (it
/// turned it into selects, which on a Cortex-M0 cost more registers than there are).
#[cold]
#[inline(never)]
fn clamp_out_of_range<F: Fixed>(x: F::Wide, clamped: &mut u32) -> F::Wide {
    *clamped = clamped.saturating_add(1);
    F::Wide::cast(if x < F::Wide::ZERO {
        F::Raw::MIN
    } else {
        F::Raw::MAX
    })
}

/// Records `n` saturations of the format.
#[inline]
pub(crate) fn record<F: Fixed>(n: u32) {
    for _ in 0..n {
        saturation::record(F::COUNTER);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixed::{Q12, Q16};

    /// (wide value with 2F fractional bits, rounded) for Q4.12 (F = 12, half = 2048): ties go
    /// up, negative values round toward +inf at the tie.
    const Q12_ROUNDING: [(i32, i32); 10] = [
        (0, 0),
        (2047, 0),
        (2048, 1),
        (4095, 1),
        (4096, 1),
        (6144, 2),
        (-2048, 0),
        (-2049, -1),
        (-6144, -1),
        (-6145, -2),
    ];

    #[test]
    fn both_roundings_match_the_table() {
        for (w, rounded) in Q12_ROUNDING {
            assert_eq!(round_half_up::<Q12>(w), rounded, "round_half_up({w})");
            assert_eq!(round_any::<Q12>(w), rounded, "round_any({w})");
            assert_eq!(round_wider::<Q12>(i64::from(w)), i64::from(rounded), "{w}");
        }
    }

    /// `round_any` is (w + 2^(F-1)) >> F computed without overflow, at the ends of the wide
    /// range too (where the plain sum would wrap), and `round_wider` saturates its half.
    #[test]
    fn round_any_is_the_rounding_to_nearest_at_the_ends_of_the_range() {
        let mut rng = crate::Rng::new(5);
        let ends = [
            i32::MIN,
            i32::MIN + 1,
            -2049,
            -2048,
            -2047,
            -1,
            0,
            1,
            2047,
            2048,
            i32::MAX,
        ];
        let random = (0..2000).map(|_| (rng.uniform() * 2.0 - 1.0) * 2f64.powi(31));
        for w in ends.into_iter().chain(random.map(|x| x as i32)) {
            assert_eq!(round_any::<Q12>(w) as i64, (w as i64 + 2048) >> 12, "{w}");
        }
        for w in [i64::MIN, -32769, -32768, -1, 0, 32767, 32768, i64::MAX] {
            assert_eq!(
                round_any::<Q16>(w) as i128,
                (w as i128 + 32768) >> 16,
                "{w}"
            );
        }
        assert_eq!(round_wider::<Q12>(i64::MAX), i64::MAX >> 12);
    }

    /// (wide value, fits the raw type) at the edges of Q4.12's i16 and Q16.16's i32.
    #[test]
    fn range_tests_match_the_table() {
        let q12 = [
            (0, true),
            (32767, true),
            (32768, false),
            (-32768, true),
            (-32769, false),
            (i32::MAX, false),
            (i32::MIN, false),
        ];
        for (w, fit) in q12 {
            assert_eq!(fits::<Q12>(w), fit, "{w}");
            assert_eq!(fits_by_shifts::<Q12>(w), fit, "{w}");
        }
        let q16 = [
            (i64::from(i32::MAX), true),
            (i64::from(i32::MAX) + 1, false),
            (i64::from(i32::MIN), true),
            (i64::from(i32::MIN) - 1, false),
        ];
        for (w, fit) in q16 {
            assert_eq!(fits::<Q16>(w), fit, "{w}");
            assert_eq!(fits_by_shifts::<Q16>(w), fit, "{w}");
        }
    }

    /// (wide value, saturated raw value, counted) for Q4.12.
    #[test]
    fn saturation_clamps_and_counts() {
        let table = [
            (5, 5, 0),
            (32767, 32767, 0),
            (32768, 32767, 1),
            (-40000, -32768, 1),
        ];
        for (w, raw, counted) in table {
            let before = saturation::count(saturation::Format::Q12);
            assert_eq!(saturate::<Q12>(w).to_bits(), raw, "{w}");
            assert_eq!(saturation::count(saturation::Format::Q12) - before, counted);
            let mut clamped = 0;
            assert_eq!(clamp_counted::<Q12>(w, &mut clamped), i32::from(raw));
            assert_eq!(clamp_counted_by_shifts::<Q12>(w, &mut 0), i32::from(raw));
            assert_eq!(clamped, counted);
        }
        for (w, raw) in [(1i64 << 40, i16::MAX), (-(1i64 << 40), i16::MIN), (-7, -7)] {
            assert_eq!(saturate_wider::<Q12>(w).to_bits(), raw, "{w}");
        }
    }

    /// `saturate_wider::<F>` on each `(wide value, raw result, saturations counted)`.
    fn check_saturate_wider<F: Fixed>(cases: &[(i128, i128, u32)]) {
        for &(w, raw, counted) in cases {
            let before = F::saturations();
            let got = saturate_wider::<F>(F::Wider::from_i128(w));
            assert_eq!(got.to_bits().to_i128(), raw, "{w}");
            assert_eq!(F::saturations() - before, counted, "{w}");
        }
    }

    /// `saturate_wider` at its boundaries: MIN and MAX themselves pass uncounted, one past them
    /// clamps and counts once, in both formats (a count at MIN or MAX would report saturation
    /// where none happened).
    #[test]
    fn saturate_wider_counts_only_past_the_ends() {
        let (max, min) = (i128::from(i16::MAX), i128::from(i16::MIN));
        check_saturate_wider::<Q12>(&[
            (max, max, 0),
            (max + 1, max, 1),
            (min, min, 0),
            (min - 1, min, 1),
            (i64::MAX.into(), max, 1),
            (i64::MIN.into(), min, 1),
            (0, 0, 0),
        ]);
        let (max, min) = (i128::from(i32::MAX), i128::from(i32::MIN));
        check_saturate_wider::<Q16>(&[
            (max, max, 0),
            (max + 1, max, 1),
            (min, min, 0),
            (min - 1, min, 1),
            (i128::MAX, max, 1),
            (i128::MIN, min, 1),
        ]);
    }

    /// `saturate` and both clamps at the ends of the raw range and one past, in Q16.16 too:
    /// in range nothing changes or counts, out of range the nearer end is taken.
    #[test]
    fn saturate_and_clamps_at_the_ends_of_the_range() {
        let (max, min) = (i64::from(i32::MAX), i64::from(i32::MIN));
        let q16 = [
            (max, i32::MAX, 0),
            (max + 1, i32::MAX, 1),
            (min, i32::MIN, 0),
            (min - 1, i32::MIN, 1),
            (i64::MAX, i32::MAX, 1),
            (i64::MIN, i32::MIN, 1),
            (0, 0, 0),
            (-1, -1, 0),
        ];
        for (w, raw, counted) in q16 {
            let before = saturation::count(saturation::Format::Q16);
            assert_eq!(saturate::<Q16>(w).to_bits(), raw, "{w}");
            assert_eq!(
                saturation::count(saturation::Format::Q16) - before,
                counted,
                "{w}"
            );
            let (mut a, mut b) = (0, 0);
            assert_eq!(clamp_counted::<Q16>(w, &mut a), i64::from(raw), "{w}");
            assert_eq!(
                clamp_counted_by_shifts::<Q16>(w, &mut b),
                i64::from(raw),
                "{w}"
            );
            assert_eq!((a, b), (counted, counted), "{w}");
        }
    }
}
