//! The ahead-of-time overflow guard (docs/THEORY.md section 6.3): for a declared input radius,
//! inputs inside never saturate (checked with the format's saturation counter on random and
//! aligned inputs, with the radius pushed to the largest the guard accepts), inputs outside are
//! refused with `Error::Overflow`. Prints how tight the bound is (largest value seen / bound).

use nearid::fixed::guard::FixedPoint;
use nearid::fixed::{Bounded, FixedLinearResNet, Guarded, Q12, Q16, integer_bits};
use nearid::{Error, LinearResNet, Matrix, Model, ResNet, Rng, Scalar, Trainable, Vector};

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
    ] {
        assert_eq!(integer_bits(bound, 16), bits, "bound {bound}");
    }
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
