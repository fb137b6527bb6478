//! docs/THEORY.md section 4 on the test maps: the scaling decomposition composes back to h
//! (through the core's Newton inverse), and ||h_i - Id||_L falls as 1/m (uniform scales) and
//! log m / m (geometric), below alpha R M (a_i - a_{i-1}).
//!
//! How ||h_i - Id||_L is estimated: the maximum of ||D(h_i - Id)|| (spectral norm, the core's
//! upper bound on it, at most 0.07% high) at the images g_{a_{i-1}}(y) of a sample y of X (random
//! interior points plus points on the boundary sphere). The supremum of the Jacobian norm over
//! the set is what the bound's derivation controls (and it equals the Lipschitz seminorm where
//! the set is convex); a maximum over finitely many points can only miss the supremum, so the
//! estimate is a lower one. alpha and M (||h^-1||_L) are also maxima over samples (lower
//! estimates); R is exact. Where a measured/bound ratio is reported it is of such estimates.

use nearid::smooth::{Normalised, Scales, ScalingDecomposition, Schedule};
use nearid::{Error, Matrix, SmoothMap, Vector};
use nearid_host::smooth_check::*;
use nearid_host::smooth_maps::*;

const MS: [usize; 5] = [4, 16, 64, 256, 1024];
const SCHEDULES: [Schedule<f64>; 2] = [Schedule::Uniform, Schedule::Geometric(None)];

/// Exactness, the two sweeps and their bounds for one normalised map on B_R(0).
fn check_map<F: SmoothMap<f64, D> + Copy, const D: usize>(
    name: &str,
    h: F,
    radius: f64,
    seed: u64,
) {
    // Exactness on 40 points (the composition of up to 1024 Newton-inverted layers).
    let points = ball_sample::<D>(radius, 30, 10, seed);
    for schedule in SCHEDULES {
        for m in [4, 64, 1024] {
            let err = exactness(h, schedule, m, &points).unwrap();
            println!(
                "{name} {} m={m}: max |h_m..h_1(x) - h(x)| = {err:.2e}",
                schedule_name(schedule)
            );
            assert!(err < 1e-9, "{name}: {err}");
        }
    }
    let (dense, constants) = dense_sample_and_constants(&h, radius, seed);
    println!(
        "{name}: alpha = {:.4}, R = {radius}, M = {:.4}, alpha R M = {:.4}",
        constants.alpha,
        constants.inverse_lipschitz,
        constants.product()
    );
    for schedule in SCHEDULES {
        let rows = sweep(h, schedule, &MS, &dense, &constants).unwrap();
        for r in &rows {
            println!(
                "{name} {:>9} m={:>4}: max_i Lip = {:.5}  constant = {:.4}  worst Lip_i / bound_i = {:.3}",
                schedule_name(schedule),
                r.m,
                r.max_lip,
                r.constant,
                r.worst_bound_ratio
            );
            // The derived bound, layer by layer.
            assert!(r.worst_bound_ratio <= 1.0, "{name}: {r:?}");
        }
        // Bounded: m max_i (uniform) and (m / ln m) max_i (geometric) never exceed the bound's
        // constant alpha R M (for geometric scales the largest step is c = ln m / m).
        let constants_seen: Vec<f64> = rows.iter().map(|r| r.constant).collect();
        let largest = constants_seen.iter().copied().fold(0.0, f64::max);
        assert!(largest <= constants.product(), "{name}: {constants_seen:?}");
        // The rate: ln max_i against ln m has slope -1 for uniform scales; for geometric ones
        // it is against ln(ln m / m) that the slope is 1 (O(log m / m)).
        let ms: Vec<f64> = rows.iter().map(|r| r.m as f64).collect();
        let lips: Vec<f64> = rows.iter().map(|r| r.max_lip).collect();
        let slope = log_slope(&ms, &lips);
        let rate_slope = geometric_rate_slope(&rows);
        println!(
            "{name} {}: fitted slope of ln max_i Lip against ln m = {slope:.3}, against ln(ln m / m) = {rate_slope:.3}",
            schedule_name(schedule)
        );
        match schedule {
            Schedule::Uniform => assert!((-1.1..=-0.9).contains(&slope), "{name}: {slope}"),
            Schedule::Geometric(_) => {
                assert!((0.9..=1.1).contains(&rate_slope), "{name}: {rate_slope}")
            }
        }
    }
}

#[test]
fn two_shears_on_the_disc() {
    check_map("disc", TwoShears::DISC, 1.0, 1);
}

#[test]
fn radial_map_on_the_ball() {
    check_map("ball", Radial::BALL, 1.0, 2);
}

#[test]
fn random_tanh_network_normalised() {
    let net = random_tanh_net(4);
    for u in net.residual_lipschitz_uppers() {
        assert!(u < 1.0, "block not provably invertible: {u}");
    }
    let n = Normalised::new(net, Vector::<f64, 4>::zeros()).unwrap();
    check_map("tanh-net", n, 1.0, 3);
}

#[test]
fn negative_eigenvalues_need_normalisation() {
    let x0 = Flip::base_point();
    let a = Flip.jacobian(&x0);
    // Both eigenvalues of Dh(x0) are real and negative, det > 0.
    let (tr, det) = (a.trace(), a.determinant());
    let disc = tr * tr - 4.0 * det;
    assert!(det > 0.0 && tr < 0.0 && disc > 0.0, "{a}");
    println!(
        "flip: eigenvalues of Dh(x0): {:.4}, {:.4}",
        (tr - disc.sqrt()) / 2.0,
        (tr + disc.sqrt()) / 2.0
    );
    let n = Normalised::new(Flip, x0).unwrap();
    check_map("flip", n, 0.5, 5);
    // Exactness through the normalisation: h(x) = A h~(x - x0) + h(x0).
    let dec = ScalingDecomposition::new(n, Scales::new(Schedule::Uniform, 64).unwrap());
    for p in ball_sample::<2>(0.5, 20, 5, 9) {
        let x = p + x0;
        let back = n.denormalise(&dec.compose(&n.normalise_input(&x)).unwrap());
        assert!((back - Flip.value(&x)).norm() < 1e-9);
    }
    // Without normalisation the layers cannot approach the identity: g_a -> Dh(0) != I as a -> 0,
    // so h_1 = g_{a_1} stays about ||Dh(0) - I|| >= 1.5 from the identity at every depth.
    let raw = ScalingDecomposition::new(Flip, Scales::new(Schedule::Uniform, 1024).unwrap());
    let first = layer_lipschitz(&raw, &ball_sample::<2>(0.5, 20, 5, 9)).unwrap()[0];
    println!("flip without normalisation: ||h_1 - Id||_L at m = 1024: {first:.3}");
    assert!(first > 1.5);
}

#[test]
fn a_map_with_negative_determinant_is_refused() {
    /// (x, y) -> (-x + y^2, y): det Dh = -1.
    #[derive(Clone, Copy)]
    struct Reflect;
    impl SmoothMap<f64, 2> for Reflect {
        fn value(&self, x: &Vector<f64, 2>) -> Vector<f64, 2> {
            Vector::<f64, 2>::new(-x[0] + x[1] * x[1], x[1])
        }
        fn jacobian(&self, x: &Vector<f64, 2>) -> Matrix<f64, 2, 2> {
            Matrix::<f64, 2, 2>::new(-1.0, 2.0 * x[1], 0.0, 1.0)
        }
    }
    let err = Normalised::new(Reflect, Vector::<f64, 2>::new(0.1, 0.3)).err();
    assert_eq!(err, Some(Error::NonPositiveDeterminant));
}

/// The whole chain for a general h, h(x) = (I + A_L) ... (I + A_1) h_m o ... o h_1 (x - x0) plus
/// h(x0), with the linear part factored by the core's HM factorisation (docs/THEORY.md section 1):
/// every factor, linear or not, is near the identity, and the chain reproduces h.
fn check_full_chain<F: SmoothMap<f64, 2> + Copy>(
    name: &str,
    h: F,
    x0: Vector<f64, 2>,
    radius: f64,
) {
    use nearid::Model;
    let n = Normalised::new(h, x0).unwrap();
    let (linear, report) = n.factor_linear_part::<16>().unwrap();
    let bound = report.bound.expect("L = 16 >= 3 gamma");
    println!(
        "{name}: A = Dh(x0) in 16 factors: max ||A_i|| = {:.4} (HM bound {bound:.4}, p = {}, q = {}, largest angle {:.3})",
        report.max_norm, report.p, report.q, report.max_angle
    );
    assert!(report.max_norm <= bound);
    let dec = ScalingDecomposition::new(n, Scales::new(Schedule::Uniform, 64).unwrap());
    let mut worst = 0.0f64;
    for p in ball_sample::<2>(radius, 20, 5, 11) {
        let x = p + x0;
        let z = dec.compose(&n.normalise_input(&x)).unwrap();
        let y = linear.forward(&z).unwrap() + n.base_value();
        worst = worst.max((y - h.value(&x)).norm());
    }
    println!("{name}: max |linear(h_64 o ... o h_1 (x - x0)) + h(x0) - h(x)| = {worst:.2e}");
    assert!(worst < 1e-9, "{name}: {worst}");
}

#[test]
fn linear_part_factored_and_chain_reproduces_h() {
    check_full_chain("flip", Flip, Flip::base_point(), 0.5);
    check_full_chain(
        "disc at (0.3, -0.2)",
        TwoShears::DISC,
        Vector::<f64, 2>::new(0.3, -0.2),
        0.5,
    );
}
