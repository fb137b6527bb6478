//! Bounds computed in f64 and handed out in a float type T, rounded upward so they stay
//! bounds, and the power-of-two scaling that keeps sums of squares from overflowing or
//! underflowing.

use crate::{Real, Scalar};

/// The smallest value of T at or above x (x itself when T holds it): NaN stays NaN, a value
/// above T::MAX becomes +inf. For the bounds of docs/THEORY.md sections 2, 5 and 6, which must not
/// round below what they bound.
pub(crate) fn round_up<T: Real>(x: f64) -> T {
    let t = <T as Scalar>::from_f64(x);
    if x.is_nan() || Scalar::to_f64(t) >= x {
        return t;
    }
    // from_f64 rounded down by at most half an ulp of T: one ulp up (relative for normal
    // values, T's smallest subnormal near zero).
    let eps = Scalar::to_f64(T::default_epsilon());
    let up = <T as Scalar>::from_f64(x + libm::fabs(x) * eps);
    if Scalar::to_f64(up) >= x {
        up
    } else {
        // T's smallest subnormal: 2^-149 for f32, 2^-1074 for f64.
        let single = eps > 1e-10;
        t + <T as Scalar>::from_f64(libm::ldexp(1.0, if single { -149 } else { -1074 }))
    }
}

/// T's smallest normal value (f32::MIN_POSITIVE or f64::MIN_POSITIVE): below it values lose
/// relative precision.
pub(crate) fn min_normal<T: Real>() -> T {
    let single = Scalar::to_f64(T::default_epsilon()) > 1e-10;
    <T as Scalar>::from_f64(if single {
        f32::MIN_POSITIVE as f64
    } else {
        f64::MIN_POSITIVE
    })
}

/// a b for a, b >= 0, rounded up: never below the exact product (a subnormal or zero product of
/// positive factors moves up an ulp).
pub(crate) fn mul_up(a: f64, b: f64) -> f64 {
    let p = a * b;
    if !(p.is_finite()) || a == 0.0 || b == 0.0 {
        p
    } else if p < f64::MIN_POSITIVE {
        p.next_up()
    } else {
        p * (1.0 + f64::EPSILON)
    }
}

/// e with max_i |x_i| in [2^(e-1), 2^e), 0 when every x_i is 0: dividing by 2^e (exactly, with
/// ldexp) brings the largest entry into [1/2, 1).
pub(crate) fn exponent_of<T: Scalar>(xs: impl IntoIterator<Item = T>) -> i32 {
    let largest = xs
        .into_iter()
        .fold(0.0f64, |m, v| m.max(libm::fabs(v.to_f64())));
    if largest > 0.0 && largest.is_finite() {
        libm::frexp(largest).1
    } else {
        0
    }
}

/// ||x||_F of f64 values, scaled by a power of two before squaring (entries of 1e-300 square
/// to 0, of 1e200 to inf).
pub(crate) fn frobenius(xs: impl IntoIterator<Item = f64> + Clone) -> f64 {
    let e = exponent_of(xs.clone());
    let sum: f64 = xs
        .into_iter()
        .map(|x| libm::ldexp(x, -e))
        .map(|x| x * x)
        .sum();
    libm::ldexp(libm::sqrt(sum), e)
}

/// x 2^-e, exactly (entry by entry, in f64: 2^-e itself need not be representable in T).
pub(crate) fn scaled<T: Scalar>(x: T, e: i32) -> T {
    T::from_f64(libm::ldexp(x.to_f64(), -e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_up_never_goes_below() {
        for x in [
            1.0 / 3.0,
            1e-40,
            1e-46,
            3.4e38,
            5e-324,
            0.0,
            -1.0 / 3.0,
            1e300,
        ] {
            let r: f32 = round_up(x);
            assert!(r as f64 >= x, "{x:e} -> {r:e}");
            let r: f64 = round_up(x);
            assert!(r >= x);
        }
        assert!(round_up::<f32>(1e39).is_infinite());
        assert!(round_up::<f64>(f64::NAN).is_nan());
    }
}
