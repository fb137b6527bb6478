//! The ahead-of-time overflow guard (docs/THEORY.md section 6.3): for a declared input radius,
//! inputs inside never saturate (checked with the format's saturation counter on random and
//! aligned inputs, with the radius pushed to the largest the guard accepts), inputs outside are
//! refused with `Error::Overflow`. Prints how tight the bound is (largest value seen / bound).
//! The bound itself is held to the recursion of core/src/fixed/guard.rs's module docs, written
//! out again here from plain norms, so a bound made looser (or tighter) fails too.

use nearid::fixed::guard::{BoundedActivation, FixedPoint, spectral_upper};
use nearid::fixed::{Bounded, FixedLinearResNet, Guarded, Q12, Q16, integer_bits};
use nearid::{
    Error, LinearResNet, Matrix, Model, Relu, ResNet, Rng, Scalar, Softplus, Trainable, Vector,
};

/// The largest radius (to 1%) the guard accepts for `net` in format T.
fn largest_radius<T: FixedPoint, N: Bounded<T, D>, const D: usize>(net: &N) -> f64 {
    let (mut lo, mut hi) = (0.0, 1e6);
    assert!(
        Guarded::<N, T, D>::new(net, lo).is_ok(),
        "radius 0 must be accepted"
    );
    while hi / lo.max(1e-9) > 1.01 {
        let mid = if lo == 0.0 {
            hi / 1024.0
        } else {
            (lo + hi) / 2.0
        };
        if Guarded::<N, T, D>::new(net, mid).is_ok() {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// An input of norm at most `r` (entries rounded toward zero, so the norm cannot grow).
fn inside<T: FixedPoint, const D: usize>(dir: &Vector<f64, D>, r: f64) -> Vector<T, D> {
    let scale = r / dir.norm();
    let ulp = 2f64.powi(-(T::FRAC_BITS as i32));
    dir.map(|d| {
        let exact = d * scale;
        let v = T::from_f64(exact);
        // One step back toward zero if rounding moved the entry outward.
        if v.to_f64().abs() > exact.abs() {
            T::from_f64(v.to_f64() - ulp * exact.signum())
        } else {
            v
        }
    })
}

/// Random and axis/diagonal directions.
fn directions<const D: usize>(rng: &mut Rng, n: usize) -> Vec<Vector<f64, D>> {
    let mut out: Vec<Vector<f64, D>> = (0..D)
        .flat_map(|i| {
            let e = Vector::<f64, D>::from_fn(|j, _| if i == j { 1.0 } else { 0.0 });
            [e, -e]
        })
        .collect();
    out.push(Vector::from_element(1.0));
    out.push(Vector::from_element(-1.0));
    out.extend((0..n).map(|_| Vector::from_fn(|_, _| rng.normal())));
    out
}

/// For `net` at the largest accepted radius: every input inside runs without a single
/// saturation (and outputs match `eval`), every input outside is refused.
fn check<T: FixedPoint, N: Bounded<T, D>, const D: usize>(
    name: &str,
    net: &N,
    tape_max: impl Fn(&N, &Vector<T, D>) -> f64,
) {
    let r = largest_radius::<T, N, D>(net);
    let guarded = Guarded::<N, T, D>::new(net, r).unwrap();
    let mut rng = Rng::new(99);
    let mut seen = 0.0f64;
    let dirs = directions::<D>(&mut rng, 400);
    for dir in &dirs {
        for frac in [1.0, 0.999, 0.5, rng.uniform()] {
            let x: Vector<T, D> = inside(dir, r * frac);
            let before = T::saturations();
            let y = guarded.forward(&x).expect("inside the radius");
            seen = seen.max(tape_max(net, &x));
            assert_eq!(
                T::saturations(),
                before,
                "{name}: saturated inside the radius at {x:?}"
            );
            assert_eq!(y, net.eval(&x));
        }
        let out: Vector<T, D> = dir.map(|d| T::from_f64(d / dir.norm() * r * 1.05));
        if out.iter().map(|v| v.to_f64().powi(2)).sum::<f64>().sqrt() > r {
            assert_eq!(
                guarded.forward(&out),
                Err(Error::Overflow),
                "{name}: outside accepted"
            );
        }
    }
    println!(
        "{name}: largest radius {r:.4}, bound {:.3} ({} integer bits of {}), largest value seen {seen:.3}, seen/bound {:.3}",
        guarded.bound(),
        guarded.integer_bits(),
        T::INT_BITS,
        seen / guarded.bound()
    );
    assert!(guarded.integer_bits() <= T::INT_BITS);
    assert!(seen <= guarded.bound());
    // Past the largest radius the guard refuses the network itself.
    assert_eq!(
        Guarded::<N, T, D>::new(net, r * 1.05).err(),
        Some(Error::Overflow)
    );
    assert!(Guarded::<N, T, D>::required_bits(net, r * 1.05) > T::INT_BITS - 1);
}

fn resnet_tape_max<T: Scalar, const D: usize, const H: usize, const M: usize>(
    net: &ResNet<T, D, H, M>,
    x: &Vector<T, D>,
) -> f64 {
    let mut tape = <ResNet<T, D, H, M> as Trainable<T>>::new_tape::<1>();
    let y = net.forward_tape(x, &mut tape);
    tape.active()
        .iter()
        .flat_map(|[t]| t.x.iter().chain(t.a.iter()))
        .chain(y.iter())
        .map(|v| v.to_f64().abs())
        .fold(0.0, f64::max)
}

fn linear_tape_max<T: Scalar, const D: usize, const M: usize>(
    net: &LinearResNet<T, D, M>,
    x: &Vector<T, D>,
) -> f64 {
    let mut tape = <LinearResNet<T, D, M> as Trainable<T>>::new_tape::<1>();
    let y = net.forward_tape(x, &mut tape);
    tape.iter()
        .flat_map(|[t]| t.x.iter())
        .chain(y.iter())
        .map(|v| v.to_f64().abs())
        .fold(0.0, f64::max)
}

#[test]
fn resnet_q16_never_saturates_inside_the_radius() {
    // Near-identity blocks (the setting of section 6), and one far from it, where the bound
    // by products of norms is rigorous but loose.
    let net = ResNet::<Q16, 4, 8, 6>::random(&mut Rng::new(1), 0.1);
    check::<Q16, _, 4>("ResNet<Q16, 4, 8, 6> scale 0.1", &net, resnet_tape_max);
    let net = ResNet::<Q16, 4, 8, 6>::random(&mut Rng::new(1), 0.4);
    check::<Q16, _, 4>("ResNet<Q16, 4, 8, 6> scale 0.4", &net, resnet_tape_max);
}

#[test]
fn resnet_q12_never_saturates_inside_the_radius() {
    let mut net = ResNet::<Q12, 3, 8, 4>::random(&mut Rng::new(2), 0.1);
    for b in net.blocks.iter_mut() {
        b.b1 = b.b1.map(|_| Q12::from_f64(0.1));
        b.b2 = b.b2.map(|_| Q12::from_f64(-0.05));
    }
    check::<Q12, _, 3>("ResNet<Q12, 3, 8, 4>", &net, resnet_tape_max);
}

#[test]
fn linear_resnets_never_saturate_inside_the_radius() {
    let net = LinearResNet::<Q16, 4, 16>::random(&mut Rng::new(3), 0.08);
    check::<Q16, _, 4>("LinearResNet<Q16, 4, 16>", &net, linear_tape_max);
    let net = LinearResNet::<Q12, 4, 8>::random(&mut Rng::new(4), 0.1);
    check::<Q12, _, 4>("LinearResNet<Q12, 4, 8>", &net, linear_tape_max);
    let float = LinearResNet::<f64, 4, 32>::random(&mut Rng::new(5), 0.05);
    let fixed = FixedLinearResNet::from_linear(&float).unwrap();
    check::<Q16, _, 4>("FixedLinearResNet<4, 32>", &fixed, |n, x| {
        // The running activations, factor by factor.
        let mut v = *x;
        let mut m = v.iter().map(|q| q.to_f64().abs()).fold(0.0, f64::max);
        for f in n.factors.iter() {
            v = f.apply(&v);
            m = v.iter().map(|q| q.to_f64().abs()).fold(m, f64::max);
        }
        m
    });
}

#[test]
fn integer_bits_is_the_smallest_sufficient_width() {
    let ulp = 2f64.powi(-16);
    for (bound, bits) in [
        (0.0, 1),
        (0.5, 1),
        (1.0 - ulp, 1),
        (1.0, 2),
        (3.9, 3),
        (4.0, 4),
        (32767.0, 16),
        (32768.0, 17),
        (1e300, 128),
        (f64::INFINITY, 128),
        (f64::NAN, 128),
    ] {
        assert_eq!(integer_bits(bound, 16), bits, "bound {bound}");
    }
    // Past 53 fractional bits, 1 - 2^-frac rounds to 1 in f64: 1.0 itself still needs a
    // second integer bit, the largest f64 below it does not.
    for frac in [54, 60, 126, 127, 200] {
        assert_eq!(
            integer_bits(1.0, frac),
            2,
            "1.0 with {frac} fractional bits"
        );
        assert_eq!(
            integer_bits(1.0 - f64::EPSILON / 2.0, frac),
            1,
            "frac {frac}"
        );
        assert_eq!(
            integer_bits(4.0, frac),
            4,
            "4.0 with {frac} fractional bits"
        );
    }
    assert_eq!(integer_bits(1.0 - 2f64.powi(-52), 52), 1);
    assert_eq!(integer_bits(1.0 - 2f64.powi(-53), 52), 2);
    // The format's own maximum needs exactly its integer bits.
    assert_eq!(integer_bits(Q16::MAX.to_f64(), 16), Q16::INT_BITS);
    assert_eq!(integer_bits(Q12::MAX.to_f64(), 12), Q12::INT_BITS);
    // Bad radii are refused.
    let net = LinearResNet::<Q16, 2, 2>::identity();
    assert_eq!(
        Guarded::<_, Q16, 2>::new(&net, -1.0).err(),
        Some(Error::OutOfRange)
    );
    assert_eq!(
        Guarded::<_, Q16, 2>::new(&net, f64::NAN).err(),
        Some(Error::OutOfRange)
    );
    let _ = Matrix::<f64, 1, 1>::zeros();
}

/// (1 + 1e-9): the guard's relative slack for its own f64 arithmetic, as documented.
const SLACK: f64 = 1.0 + 1e-9;

/// The recomputed bounds and the guard's are the same f64 expressions summed in other orders:
/// a few roundings of 2^-53 per operation over fewer than 100 operations, so they agree to
/// 1e-13; a changed term (the slack 1 - 1e-9, a rounding step more or less) moves them by
/// more than 1e-9.
const AGREE: f64 = 1e-12;

fn assert_close(what: &str, got: f64, want: f64) {
    assert!(
        (got - want).abs() <= AGREE * want.abs(),
        "{what}: {got:e}, the documented recursion gives {want:e}"
    );
}

/// ||A||_F, max column sum ||A||_1 and max row sum ||A||_inf, plainly (no scaling).
fn plain_norms<T: Scalar, const R: usize, const C: usize>(a: &Matrix<T, R, C>) -> [f64; 3] {
    let frob = a.iter().map(|v| v.to_f64().powi(2)).sum::<f64>().sqrt();
    let col = (0..C)
        .map(|j| (0..R).map(|i| a[(i, j)].to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let row = (0..R)
        .map(|i| (0..C).map(|j| a[(i, j)].to_f64().abs()).sum::<f64>())
        .fold(0.0, f64::max);
    [frob, col, row]
}

/// min(||A||_F, sqrt(||A||_1 ||A||_inf)) with the slack: the module's bound on ||A||_2.
fn norm_bound<T: Scalar, const R: usize, const C: usize>(a: &Matrix<T, R, C>) -> f64 {
    let [frob, col, row] = plain_norms(a);
    frob.min((col * row).sqrt()) * SLACK
}

/// ||A||_2 by power iteration on A^T A (a lower estimate that converges from below).
fn spectral_estimate<const R: usize, const C: usize>(a: &Matrix<f64, R, C>) -> f64 {
    let mut v = Vector::<f64, C>::from_element(1.0);
    for _ in 0..500 {
        let w = a.transpose() * (a * v);
        if w.norm() == 0.0 {
            return 0.0;
        }
        v = w / w.norm();
    }
    (a * v).norm()
}

/// sqrt(n) steps ulp / 2: n entries each rounded `steps` times.
fn rounding(n: usize, steps: usize, ulp: f64) -> f64 {
    (n as f64).sqrt() * steps as f64 * ulp / 2.0
}

/// The module's recursion for a linear residual network: each factor multiplies the running
/// bound by (1 + ||A||) and adds its rounding (`steps` roundings per entry).
fn linear_recursion<'a>(
    norms: impl Iterator<Item = f64> + 'a,
    d: usize,
    steps: usize,
    radius: f64,
    ulp: f64,
) -> f64 {
    let mut b = radius * SLACK;
    let mut worst = b;
    for n in norms {
        b = ((1.0 + n) * b + rounding(d, steps, ulp)) * SLACK;
        worst = worst.max(b);
    }
    worst
}

/// The module's recursion for a residual network, block by block: z, s(z), then y.
fn resnet_recursion<T: Scalar, const D: usize, const H: usize, const M: usize, S>(
    net: &ResNet<T, D, H, M, S>,
    radius: f64,
    ulp: f64,
) -> f64
where
    S: BoundedActivation,
{
    let mut b = radius * SLACK;
    let mut worst = b;
    for blk in net.blocks.iter() {
        let z = (plain_norms(&blk.b1)[0] * SLACK + norm_bound(&blk.w1) * b + rounding(H, D, ulp))
            * SLACK;
        let a = (z + (H as f64).sqrt() * (S::OFFSET + ulp)) * SLACK;
        let y =
            (b + plain_norms(&blk.b2)[0] * SLACK + norm_bound(&blk.w2) * a + rounding(D, H, ulp))
                * SLACK;
        worst = worst.max(z).max(a).max(y);
        b = y;
    }
    worst
}

#[test]
fn spectral_upper_is_the_smaller_of_the_two_norm_bounds_and_above_the_norm() {
    let mut rng = Rng::new(7);
    let random = Matrix::<f64, 3, 5>::from_fn(|_, _| rng.normal());
    let diagonal = Matrix::<f64, 2, 2>::new(3.0, 0.0, 0.0, -4.0);
    // Diagonally dominant: sqrt(||A||_1 ||A||_inf) is the smaller bound here, not ||A||_F.
    let column = Matrix::<f64, 3, 3>::from_fn(|i, j| if i == j { 3.0 - i as f64 } else { 0.01 });
    for (name, got, want, norm) in [
        (
            "random",
            spectral_upper(&random),
            norm_bound(&random),
            spectral_estimate(&random),
        ),
        ("diagonal", spectral_upper(&diagonal), 4.0 * SLACK, 4.0),
        (
            "column",
            spectral_upper(&column),
            norm_bound(&column),
            spectral_estimate(&column),
        ),
    ] {
        assert_close(name, got, want);
        assert!(got >= norm, "{name}: {got} below ||A||_2 = {norm}");
    }
    let [frob, col, row] = plain_norms(&column);
    assert!(
        (col * row).sqrt() < frob,
        "the column case must exercise the other bound"
    );
    // Entries scaled by 2^-1000 (whose squares are 0 in f64) or 2^1000 (whose squares are
    // infinite) give the same bound, scaled: the guard scales before squaring.
    for e in [-1000, -700, 600, 1000] {
        let scaled = random.map(|v| v * 2f64.powi(e));
        assert_close(
            &format!("random 2^{e}"),
            spectral_upper(&scaled) / 2f64.powi(e),
            norm_bound(&random),
        );
    }
    assert_eq!(spectral_upper(&Matrix::<f64, 2, 3>::zeros()), 0.0);
    let q16 = Matrix::<Q16, 2, 2>::from_fn(|i, j| Q16::from_f64([[0.5, -0.25], [1.0, 2.0]][i][j]));
    assert_close("Q16", spectral_upper(&q16), norm_bound(&q16));
}

#[test]
fn the_bound_is_the_documented_recursion() {
    let ulp16 = 2f64.powi(-16);
    let ulp12 = 2f64.powi(-12);
    let radius = 3.0;

    let linear = LinearResNet::<f64, 3, 4>::random(&mut Rng::new(11), 0.3);
    let want = linear_recursion(linear.factors.iter().map(norm_bound), 3, 3, radius, ulp16);
    assert_close("LinearResNet", linear.value_bound(radius, ulp16), want);

    // Q4.12 holds [-8, 8): a smaller radius.
    let q12 = LinearResNet::<Q12, 3, 4>::random(&mut Rng::new(12), 0.1);
    let guarded = Guarded::<_, Q12, 3>::new(&q12, 2.0).unwrap();
    let want = linear_recursion(q12.factors.iter().map(norm_bound), 3, 3, 2.0, ulp12);
    assert_close("Guarded LinearResNet<Q12>", guarded.bound(), want);
    assert_eq!(guarded.radius(), 2.0);
    assert_eq!(guarded.integer_bits(), integer_bits(want, 12));
    assert!(
        guarded.integer_bits() >= 3,
        "radius 2 needs 3 bits at least"
    );
    assert_eq!(
        Guarded::<_, Q12, 3>::required_bits(&q12, 2.0),
        integer_bits(want, 12)
    );

    // Each rounds once per entry, so its rounding is one half unit per entry.
    let fixed = FixedLinearResNet::from_linear(&linear).unwrap();
    let want = linear_recursion(
        fixed.factors.iter().map(|f| norm_bound(&f.to_f64())),
        3,
        1,
        radius,
        ulp16,
    );
    let guarded = Guarded::<_, Q16, 3>::new(&fixed, radius).unwrap();
    assert_close("Guarded FixedLinearResNet", guarded.bound(), want);
    assert_eq!(guarded.integer_bits(), integer_bits(want, 16));

    let mut relu = ResNet::<Q16, 3, 5, 3>::random(&mut Rng::new(13), 0.3);
    let mut softplus = ResNet::<Q16, 3, 5, 3, Softplus>::random(&mut Rng::new(14), 0.3);
    for (i, b) in relu.blocks.iter_mut().enumerate() {
        b.b1 = b.b1.map(|_| Q16::from_f64(0.1 * i as f64 + 0.05));
        b.b2 = b.b2.map(|_| Q16::from_f64(-0.2));
    }
    for b in softplus.blocks.iter_mut() {
        b.b1 = b.b1.map(|_| Q16::from_f64(-0.3));
        b.b2 = b.b2.map(|_| Q16::from_f64(0.125));
    }
    let guarded = Guarded::<_, Q16, 3>::new(&relu, radius).unwrap();
    assert_close(
        "Guarded ResNet<Relu>",
        guarded.bound(),
        resnet_recursion::<_, 3, 5, 3, Relu>(&relu, radius, ulp16),
    );
    let guarded = Guarded::<_, Q16, 3>::new(&softplus, radius).unwrap();
    assert_close(
        "Guarded ResNet<Softplus>",
        guarded.bound(),
        resnet_recursion(&softplus, radius, ulp16),
    );
}

#[test]
fn inputs_exactly_on_the_radius_are_accepted() {
    let net = ResNet::<Q16, 2, 4, 2>::random(&mut Rng::new(1), 0.1);
    let guarded = Guarded::<_, Q16, 2>::new(&net, 5.0).unwrap();
    let on = Vector::<Q16, 2>::new(Q16::from_f64(3.0), Q16::from_f64(-4.0));
    assert_eq!(guarded.forward(&on), Ok(net.eval(&on)));
    let past = Vector::<Q16, 2>::new(Q16::from_f64(3.0), Q16::from_f64(-4.0 - 2f64.powi(-16)));
    assert_eq!(guarded.forward(&past), Err(Error::Overflow));
}

#[test]
fn a_zero_matrix_times_an_infinite_bound_is_zero_not_nan() {
    // Block 0's W2 has entries near f64::MAX: its norm bound, hence y, is +inf. Block 1 is all
    // zeros: ||W1|| ||y|| = 0 inf, which the guard takes as 0 (a zero matrix maps everything
    // to 0), so the bound is +inf (Overflow), not NaN (a non-finite weight).
    let mut net = ResNet::<f64, 2, 2, 2>::identity();
    net.blocks[0].w1 = Matrix::from_element(1.0);
    net.blocks[0].w2 = Matrix::from_element(1e308);
    assert_eq!(net.value_bound(1.0, 0.0), f64::INFINITY);
    let linear = LinearResNet::<f64, 2, 2> {
        factors: [Matrix::from_element(1e308), Matrix::zeros()],
    };
    assert_eq!(linear.value_bound(1.0, 0.0), f64::INFINITY);
    // At radius 0 (no rounding, no bias) every value is 0: ||W2|| ||s(z)|| = inf 0 = 0.
    assert_eq!(net.value_bound(0.0, 0.0), 0.0);
}
