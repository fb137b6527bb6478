//! The fixed-point kernels against f64 references on tables of cases, saturation at the limits
//! included. The reference is the exact real result (exact in f64 for these operands), rounded
//! to the format by the definition: nearest, clamped to [MIN, MAX]. Agreement is bit-exact.

use nearid::Scalar;
use nearid::fixed::{Dither, Q12, Q16};

/// The exact real value `v` in a format with `frac` fractional bits and raw range [lo, hi]:
/// round to nearest (ties up), then clamp. Returns (raw, saturated).
fn reference(v: f64, frac: u32, lo: i64, hi: i64) -> (i64, bool) {
    let r = (v * (1u64 << frac) as f64 + 0.5).floor();
    if r > hi as f64 {
        (hi, true)
    } else if r < lo as f64 {
        (lo, true)
    } else {
        (r as i64, false)
    }
}

macro_rules! kernel_tests {
    ($name:ident, $t:ty, $raw:ty) => {
        mod $name {
            use super::*;
            type T = $t;
            const FRAC: u32 = <$t>::FRAC;
            const LO: i64 = <$raw>::MIN as i64;
            const HI: i64 = <$raw>::MAX as i64;

            fn v(x: f64) -> T {
                T::from_f64(x)
            }

            /// Checks `got` against the exact value `exact`: same raw bits as the reference,
            /// and the saturation counter moved exactly when the reference saturates.
            fn check(what: &str, got: T, exact: f64, sat_before: u32) {
                let (want, saturated) = reference(exact, FRAC, LO, HI);
                let counted = T::saturations() - sat_before;
                assert_eq!(
                    got.to_bits() as i64,
                    want,
                    "{what}: got {} want {} (exact {exact})",
                    got.to_f64(),
                    want as f64 / (1u64 << FRAC) as f64
                );
                assert_eq!(
                    counted > 0,
                    saturated,
                    "{what}: saturation counted {counted}"
                );
            }

            /// Operand pairs: ordinary values, values one step apart, and the format's limits.
            fn pairs() -> Vec<(T, T)> {
                let (max, min, eps) = (T::MAX, T::MIN, T::EPSILON);
                let mut values = vec![
                    v(0.0),
                    v(1.0),
                    v(-1.0),
                    v(0.5),
                    v(-0.75),
                    v(1.25),
                    v(-2.5),
                    v(3.0),
                    v(0.013671875),
                    v(-0.3330078125),
                    eps,
                    -eps,
                    max,
                    min,
                    max - eps,
                    min + eps,
                    v(7.5),
                    v(-7.0),
                ];
                values.dedup();
                let mut out = vec![];
                for &a in &values {
                    for &b in &values {
                        out.push((a, b));
                    }
                }
                out
            }

            #[test]
            fn add_sub_neg_mul_div_match_the_rounded_exact_result() {
                let mut checked = 0;
                for (a, b) in pairs() {
                    let (x, y) = (a.to_f64(), b.to_f64());
                    let s = T::saturations();
                    check("a + b", a + b, x + y, s);
                    let s = T::saturations();
                    check("a - b", a - b, x - y, s);
                    let s = T::saturations();
                    check("-a", -a, -x, s);
                    let s = T::saturations();
                    check("|a|", a.abs(), x.abs(), s);
                    // Products of raw values below 2^31 in magnitude are exact in f64 only up
                    // to 2^53: the Q16.16 table's largest products need the integer check.
                    let p = a.to_bits() as i128 * b.to_bits() as i128;
                    if p.unsigned_abs() < 1 << 53 {
                        let s = T::saturations();
                        check("a * b", a * b, x * y, s);
                    }
                    if y != 0.0 && (x / y).abs() < 1e9 {
                        let s = T::saturations();
                        check("a / b", a / b, x / y, s);
                    }
                    checked += 1;
                }
                println!("{}: {checked} operand pairs bit-exact", stringify!($name));
            }

            #[test]
            fn large_products_round_once_and_saturate() {
                let s = T::saturations();
                assert_eq!(T::MAX * T::MAX, T::MAX);
                assert_eq!(T::MIN * T::MAX, T::MIN);
                assert_eq!(T::MIN * T::MIN, T::MAX);
                assert_eq!(T::MAX * T::ONE, T::MAX);
                assert_eq!(T::MIN * T::ONE, T::MIN);
                assert_eq!(T::ONE / T::ZERO, T::MAX);
                assert_eq!(-T::ONE / T::ZERO, T::MIN);
                assert_eq!(T::ZERO / T::ZERO, T::ZERO);
                assert_eq!(T::saturations() - s, 5); // all but 0 / 0
                // Half a step rounds up, just below half rounds down.
                let half = T::from_bits(1 << (FRAC / 2)) * T::from_bits(1 << (FRAC / 2 - 1));
                assert_eq!(half.to_bits(), 1);
            }

            #[test]
            fn conversions_round_to_nearest_and_saturate() {
                let ulp = 1.0 / (1u64 << FRAC) as f64;
                let max = T::MAX.to_f64();
                let table = [
                    (0.0, 0.0),
                    (1.0, 1.0),
                    (-1.0, -1.0),
                    (0.3 * ulp, 0.0),
                    (0.7 * ulp, ulp),
                    (-0.7 * ulp, -ulp),
                    (max, max),
                    (max + 0.4 * ulp, max),
                    (1e12, max),
                    (-1e12, T::MIN.to_f64()),
                    (f64::INFINITY, max),
                    (f64::NEG_INFINITY, T::MIN.to_f64()),
                ];
                for (x, want) in table {
                    assert_eq!(T::from_f64(x).to_f64(), want, "from_f64({x})");
                }
                let s = T::saturations();
                assert_eq!(T::from_f64(f64::NAN), T::ZERO);
                assert_eq!(T::from_f64(1e12), T::MAX);
                assert_eq!(T::saturations() - s, 2);
            }

            #[test]
            fn dot_rounds_once_and_is_exact_through_accumulator_overflow() {
                // 64 products of 0.4 ulp each: rounding each product would give 0, the exact
                // sum is 25.6 ulp, so a single final rounding gives 26.
                let a = vec![T::from_bits(1 << (FRAC / 2)); 64];
                let b = vec![T::from_bits((0.4 * (1u64 << (FRAC / 2)) as f64) as $raw); 64];
                let exact: f64 = a.iter().zip(&b).map(|(x, y)| x.to_f64() * y.to_f64()).sum();
                let s = T::saturations();
                check("dot of small products", T::dot(&a, &b), exact, s);
                let per_product: f64 = a.iter().zip(&b).map(|(&x, &y)| (x * y).to_f64()).sum();
                println!(
                    "{}: dot {} ulp, per-product rounding would give {} ulp",
                    stringify!($name),
                    T::dot(&a, &b).to_bits(),
                    per_product * (1u64 << FRAC) as f64
                );
                // Partial sums of MAX^2 leave the wide accumulator; the exact total is 0.
                let big = vec![T::MAX; 8];
                let signs: Vec<T> = (0..8)
                    .map(|i| if i < 4 { T::MAX } else { -T::MAX })
                    .collect();
                let s = T::saturations();
                assert_eq!(T::dot(&big, &signs), T::ZERO);
                assert_eq!(T::saturations(), s, "no saturation when the exact sum fits");
                // ... and a total that does not fit saturates, counted.
                assert_eq!(T::dot(&big, &big), T::MAX);
                assert_eq!(T::saturations() - s, 1);
                // A table of ordinary dot products, bit-exact against the rounded exact sum.
                let rows: [(&[f64], &[f64]); 4] = [
                    (&[0.5, -1.25, 2.0], &[1.5, 0.75, -0.125]),
                    (&[3.0, 3.0, 3.0, -3.0], &[2.0, 2.0, -2.0, 2.0]),
                    (&[0.0009765625; 5], &[0.0234375; 5]),
                    (&[-7.0, 0.25], &[1.0, -0.5]),
                ];
                for (x, y) in rows {
                    let (x, y): (Vec<T>, Vec<T>) = (
                        x.iter().map(|&u| v(u)).collect(),
                        y.iter().map(|&u| v(u)).collect(),
                    );
                    let exact: f64 = x.iter().zip(&y).map(|(p, q)| p.to_f64() * q.to_f64()).sum();
                    let s = T::saturations();
                    check("dot", T::dot(&x, &y), exact, s);
                }
            }

            #[test]
            fn axpy_forms_each_entry_exactly_and_rounds_once() {
                let x = [v(0.5), v(-1.5), T::EPSILON, T::MAX, v(2.0)];
                for alpha in [v(0.375), v(-0.0625), T::EPSILON, v(1.0), v(3.0)] {
                    let y0 = [v(1.0), v(0.25), v(-0.5), v(1.0), T::MIN + v(1.0)];
                    let mut y = y0;
                    let s = T::saturations();
                    T::axpy(alpha, &x, &mut y);
                    let mut saturated = 0;
                    for i in 0..5 {
                        let exact = y0[i].to_f64() + alpha.to_f64() * x[i].to_f64();
                        let (want, sat) = reference(exact, FRAC, LO, HI);
                        assert_eq!(y[i].to_bits() as i64, want, "alpha {alpha} entry {i}");
                        saturated += u32::from(sat);
                    }
                    assert_eq!(T::saturations() - s, saturated);
                }
            }

            #[test]
            fn sqrt_is_the_rounded_exact_root() {
                for x in [0.0, 1.0, 2.0, 0.25, 3.0, 7.9, 1e-3] {
                    let q = v(x);
                    let s = T::saturations();
                    check("sqrt", q.sqrt(), q.to_f64().sqrt(), s);
                }
                assert_eq!(v(-1.0).sqrt(), T::ZERO);
                let s = T::saturations();
                check("sqrt(MAX)", T::MAX.sqrt(), T::MAX.to_f64().sqrt(), s);
            }

            #[test]
            fn updates_round_stochastically_without_bias() {
                // w - eta d with eta d = 0.3 ulp: nearest never moves w, stochastic rounding
                // moves it by one step 30% of the time, so the mean change is -0.3 ulp.
                let eta = T::from_bits(1 << (FRAC / 2));
                let d = T::from_bits((0.3 * (1u64 << (FRAC / 2)) as f64) as $raw);
                let exact_ulps = eta.to_f64() * d.to_f64() * (1u64 << FRAC) as f64;
                let w = v(1.0);
                let mut nearest = Dither::nearest();
                assert_eq!(w.sub_mul_rounded(eta, d, &mut nearest), w);
                let mut dither = Dither::stochastic(17);
                let n = 20_000;
                let total: i64 = (0..n)
                    .map(|_| {
                        (w.sub_mul_rounded(eta, d, &mut dither).to_bits() - w.to_bits()) as i64
                    })
                    .sum();
                let mean = total as f64 / n as f64;
                // Bernoulli(p) mean: standard error sqrt(p (1 - p) / n) = 0.0032.
                println!(
                    "{}: mean update {mean:.4} ulp, exact {:.4}",
                    stringify!($name),
                    -exact_ulps
                );
                assert!((mean + exact_ulps).abs() < 0.016, "mean {mean}");
            }

            #[test]
            fn smooth_functions_through_f32_are_within_a_step() {
                let ulp = T::EPSILON.to_f64();
                for x in [-3.0, -1.0, -0.1, 0.0, 0.2, 1.0, 2.0] {
                    let q = v(x);
                    let x = q.to_f64();
                    // f32 carries 24 bits, so its rounding is far below half a step here.
                    assert!(
                        (q.tanh().to_f64() - x.tanh()).abs() <= 0.5 * ulp + 1e-6,
                        "tanh {x}"
                    );
                    assert!(
                        (q.exp().to_f64() - x.exp()).abs() <= 0.5 * ulp + 1e-6 * x.exp(),
                        "exp {x}"
                    );
                    if x > -0.9 {
                        assert!(
                            (q.ln_1p().to_f64() - x.ln_1p()).abs() <= 0.5 * ulp + 1e-6,
                            "ln_1p {x}"
                        );
                    }
                }
            }
        }
    };
}

kernel_tests!(q16, Q16, i32);
kernel_tests!(q12, Q12, i16);

/// Fixed-point factors applied to Q16.16 activations against the f64 product of the same
/// quantised factors: each factor rounds each entry once (<= 1/2 ulp, the identity path adds
/// nothing), and the errors propagate through the later factors, so
/// ||y - Pi(A^) x|| <= sum_i prod_{k > i} (1 + ||A^_k||_F) sqrt(D) ulp / 2.
#[test]
fn fixed_factors_apply_within_their_rounding_bound() {
    use nearid::fixed::FixedLinearResNet;
    use nearid::{LinearResNet, Rng, Vector};
    const D: usize = 4;
    const M: usize = 16;
    let float = LinearResNet::<f64, D, M>::random(&mut Rng::new(8), 0.05);
    let q = FixedLinearResNet::<D, M>::from_linear(&float).unwrap();
    let ulp = Q16::EPSILON.to_f64();
    let mut bound = 0.0;
    for f in q.factors.iter() {
        bound = bound * (1.0 + f.to_f64().norm()) + (D as f64).sqrt() * 0.5 * ulp;
    }
    let p = q.product_f64();
    let mut rng = Rng::new(9);
    let mut worst = 0.0f64;
    for _ in 0..200 {
        let x = Vector::<Q16, D>::from_fn(|_, _| Q16::from_f64(3.0 * rng.normal()));
        let s = Q16::saturations();
        let y = q.apply(&x).map(|v| v.to_f64());
        assert_eq!(Q16::saturations(), s);
        let exact = p * x.map(|v| v.to_f64());
        worst = worst.max((y - exact).norm());
    }
    println!(
        "fixed factors: worst ||y - Pi(A^) x|| = {worst:.3e}, bound {bound:.3e}, ratio {:.3}",
        worst / bound
    );
    assert!(worst <= bound);
}
