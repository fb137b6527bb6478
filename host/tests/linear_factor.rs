//! HM Theorem 2.1 (docs/THEORY.md section 1) against the core's factorisation: reconstruction,
//! the bound on max ||A_i|| for M >= 3 gamma, M max ||A_i|| bounded as M grows, and the errors.
//!
//! The factors are the core's (`nearid::factorize_into`, through the run-time dispatch); the
//! product and the spectral norms are recomputed here in f64 with nalgebra's dynamic matrices,
//! and so are gamma and the HM bound (from nalgebra's SVD of R, not the core's report or
//! `hm_bound`): the core's report must agree with them and the factors must meet them.

use nalgebra::DMatrix;
use nearid::Rng;
use nearid_host::dispatch::{DispatchError, Factorisation, factorize_f32, factorize_f64};
use nearid_host::sample;

const TOL_F64: f64 = 1e-10;
const TOL_F32: f64 = 1e-4;

fn relative_error(f: &Factorisation, r: &DMatrix<f64>) -> f64 {
    (f.product() - r).norm() / r.norm()
}

/// max_i ||A_i|| recomputed in f64 from the factors themselves (not the core's report).
fn max_norm(f: &Factorisation) -> f64 {
    // The factors are p copies of one matrix, then q of another: SVD each distinct one once.
    let mut distinct: Vec<&DMatrix<f64>> = Vec::new();
    for a in &f.factors {
        if distinct.last().is_none_or(|b| *b != a) {
            distinct.push(a);
        }
    }
    distinct
        .iter()
        .map(|a| sample::spectral_norm(a))
        .fold(0.0, f64::max)
}

/// gamma = max(|ln sigma_max(R)|, |ln sigma_min(R)|) from nalgebra's SVD of R, and how far the
/// core's gamma may lie from it: both SVDs are backward stable, each singular value within
/// about D eps ||R|| of the exact one (a factor 4 of margin for the two of them and the
/// logarithm's rounding), so |d ln sigma| <= 4 D eps ||R|| / sigma_min = 4 D eps kappa.
fn host_gamma(r: &DMatrix<f64>, eps: f64) -> (f64, f64) {
    let s = r.singular_values();
    let (max, min) = (s.max(), s.min());
    let gamma = max.ln().abs().max(min.ln().abs());
    (gamma, 4.0 * r.nrows() as f64 * eps * max / min)
}

/// The HM bound 2 (sqrt(pi) + sqrt(3 gamma))^2 / M, written from docs/THEORY.md section 1.
fn hm_formula(gamma: f64, depth: usize) -> f64 {
    2.0 * (std::f64::consts::PI.sqrt() + (3.0 * gamma).sqrt()).powi(2) / depth as f64
}

/// The HM bound the factors of `f` must meet, recomputed here: checks the core's gamma against
/// nalgebra's, and the core's bound against the formula over gamma's tolerance interval (the
/// formula increases with gamma; 8 eps relative for the formula's own rounding in the core's
/// precision). Returns the bound at the interval's low end (the strictest the data allow), or
/// `None` where the theorem does not apply (M < 3 gamma). Near M = 3 gamma, within the
/// tolerance, either answer of the core is accepted.
fn host_bound(
    f: &Factorisation,
    r: &DMatrix<f64>,
    depth: usize,
    eps: f64,
    what: &str,
) -> Option<f64> {
    let (gamma, tol) = host_gamma(r, eps);
    assert!(
        (f.report.gamma - gamma).abs() <= tol,
        "{what}, M = {depth}: core gamma {} vs nalgebra's {gamma} (tolerance {tol:.2e})",
        f.report.gamma
    );
    let (low, high) = ((gamma - tol).max(0.0), gamma + tol);
    let m = depth as f64;
    let applies = m >= 3.0 * high;
    let undecided = !applies && m >= 3.0 * low;
    match f.report.bound {
        Some(bound) => {
            assert!(
                applies || undecided,
                "{what}: bound given for M = {depth} < 3 gamma = {}",
                3.0 * gamma
            );
            let (lo, hi) = (hm_formula(low, depth), hm_formula(high, depth));
            assert!(
                bound >= lo * (1.0 - 8.0 * eps) && bound <= hi * (1.0 + 8.0 * eps),
                "{what}, M = {depth}: core HM bound {bound} outside [{lo}, {hi}], the formula at \
                 nalgebra's gamma {gamma} +- {tol:.2e}"
            );
            Some(lo)
        }
        None => {
            assert!(
                !applies,
                "{what}: bound missing for M = {depth} >= 3 gamma = {}",
                3.0 * gamma
            );
            None
        }
    }
}

#[derive(Default)]
struct Worst {
    err64: f64,
    err32: f64,
    ratio: f64,
    checked: usize,
}

/// Factorise in f64 and f32; check reconstruction and, when M >= 3 gamma, the HM bound.
fn check(r: &DMatrix<f64>, depth: usize, what: &str, worst: &mut Worst) {
    let f = factorize_f64(r, depth).unwrap_or_else(|e| panic!("{what}, M = {depth}: {e}"));
    assert_eq!(f.factors.len(), depth);
    let err = relative_error(&f, r);
    assert!(
        err < TOL_F64,
        "{what}, M = {depth}: f64 relative error {err:e}"
    );
    worst.err64 = worst.err64.max(err);
    let measured = max_norm(&f);
    // The core's report must agree with the norms of what it wrote.
    assert!(
        (measured - f.report.max_norm).abs() <= 1e-12 * (1.0 + measured),
        "{what}, M = {depth}: report {} vs measured {measured}, p {} q {}",
        f.report.max_norm,
        f.report.p,
        f.report.q
    );
    if let Some(bound) = host_bound(&f, r, depth, f64::EPSILON, what) {
        assert!(
            measured <= bound,
            "{what}, M = {depth}: max ||A_i|| = {measured} > HM bound {bound}"
        );
        worst.ratio = worst.ratio.max(measured / bound);
        worst.checked += 1;
    }
    let f32 = factorize_f32(r, depth).unwrap_or_else(|e| panic!("{what} (f32), M = {depth}: {e}"));
    // The f32 factorisation's report: the same gamma and bound to f32's precision.
    host_bound(
        &f32,
        r,
        depth,
        f64::from(f32::EPSILON),
        &format!("{what} (f32)"),
    );
    let err = relative_error(&f32, r);
    assert!(
        err < TOL_F32,
        "{what}, M = {depth}: f32 relative error {err:e}"
    );
    worst.err32 = worst.err32.max(err);
}

#[test]
fn random_matrices_reconstruct_and_meet_the_hm_bound() {
    let mut rng = Rng::new(2017);
    let mut worst = Worst::default();
    let mut cases = 0;
    for d in 1..=16 {
        for _ in 0..12 {
            let r = sample::det_positive(d, 2.0, &mut rng);
            // Depths log-uniform in 1..=512, plus the extremes.
            let random_depth = (rng.uniform_in(0.0, 512f64.ln()).exp() as usize).clamp(1, 512);
            for depth in [1, random_depth, 512] {
                check(&r, depth, &format!("random D = {d}"), &mut worst);
                cases += 1;
            }
        }
    }
    println!(
        "random sweep: {cases} cases, worst relative error f64 {:.2e} (tol {TOL_F64:e}), \
         f32 {:.2e} (tol {TOL_F32:e}); HM bound checked {} times, worst max||A_i|| / bound = {:.4}",
        worst.err64, worst.err32, worst.checked, worst.ratio
    );
    assert!(worst.checked > 0);
}

/// f64 only, for the named cases whose conditioning f32 cannot represent.
fn check_f64(r: &DMatrix<f64>, depth: usize, what: &str, worst: &mut Worst) -> Factorisation {
    let f = factorize_f64(r, depth).unwrap_or_else(|e| panic!("{what}, M = {depth}: {e}"));
    let err = relative_error(&f, r);
    assert!(
        err < TOL_F64,
        "{what}, M = {depth}: f64 relative error {err:e}"
    );
    worst.err64 = worst.err64.max(err);
    let measured = max_norm(&f);
    if let Some(bound) = host_bound(&f, r, depth, f64::EPSILON, what) {
        assert!(
            measured <= bound,
            "{what}, M = {depth}: {measured} > {bound}"
        );
        worst.ratio = worst.ratio.max(measured / bound);
        worst.checked += 1;
    }
    f
}

fn diag(values: &[f64]) -> DMatrix<f64> {
    DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(values))
}

fn minus_identity_plus_one(d: usize, minus: usize) -> DMatrix<f64> {
    let v: Vec<f64> = (0..d).map(|i| if i < minus { -1.0 } else { 1.0 }).collect();
    diag(&v)
}

const DEPTHS: [usize; 10] = [1, 2, 3, 4, 7, 16, 32, 100, 256, 512];

#[test]
fn named_hard_cases() {
    let mut rng = Rng::new(11);
    let mut worst = Worst::default();
    let mut named: Vec<(String, DMatrix<f64>)> = vec![
        ("-I_4".into(), -DMatrix::<f64>::identity(4, 4)),
        ("-I_2".into(), -DMatrix::<f64>::identity(2, 2)),
        ("-I_2 (+) 1".into(), minus_identity_plus_one(3, 2)),
        ("-I_4 (+) 1".into(), minus_identity_plus_one(5, 4)),
        ("-I_2 (+) I_14".into(), minus_identity_plus_one(16, 2)),
        ("diag(-2, -0.5, 3, 1)".into(), diag(&[-2.0, -0.5, 3.0, 1.0])),
        ("I_16".into(), DMatrix::identity(16, 16)),
        ("I_1 * 5".into(), diag(&[5.0])),
    ];
    // Rotations by angles at and near pi, in random planes of odd and even D; two planes
    // turned by different angles that both round to cos = -1.
    for d in [3, 6] {
        let basis = sample::rotation(d, &mut rng);
        for k in 0..=15 {
            let angle = std::f64::consts::PI - if k == 0 { 0.0 } else { 10f64.powi(-k) };
            named.push((
                format!(
                    "rotation by pi - {:.0e} (D = {d})",
                    std::f64::consts::PI - angle
                ),
                sample::plane_rotation(&basis, angle),
            ));
        }
    }
    // Two planes turned by pi - 1e-9 and pi - 3e-9: their cosines agree to 4e-18, a cluster
    // on which nalgebra's Schur iteration stagnates in about a quarter of random bases (the
    // core retries on orthogonal similarities). 100 random bases.
    for k in 0..100 {
        let basis = sample::rotation(4, &mut rng);
        let mut other = basis.clone();
        other.columns_mut(0, 2).copy_from(&basis.columns(2, 2));
        other.columns_mut(2, 2).copy_from(&basis.columns(0, 2));
        let r = sample::plane_rotation(&basis, std::f64::consts::PI - 1e-9)
            * sample::plane_rotation(&other, std::f64::consts::PI - 3e-9);
        for depth in [1, 7, 512] {
            check(
                &r,
                depth,
                &format!("planes turned by pi - 1e-9, pi - 3e-9 (basis {k})"),
                &mut worst,
            );
        }
    }
    for (what, r) in &named {
        for depth in DEPTHS {
            check(r, depth, what, &mut worst);
        }
    }
    // Condition numbers up to 1e6: f64 in every D; f32 where sigma_min > D eps_32 sigma_max
    // (the core's threshold for numerically singular), i.e. D <= 8 at 1e6.
    for d in [2, 4, 8, 16] {
        for exp in 1..=6 {
            let s: Vec<f64> = (0..d)
                .map(|i| 10f64.powf(-(exp as f64) * i as f64 / (d - 1) as f64))
                .collect();
            let r = sample::with_singular_values(&s, &mut rng);
            let what = format!("condition 1e{exp}, D = {d}");
            for depth in DEPTHS {
                if (10f64.powi(exp) as f32) < 1.0 / (d as f32 * f32::EPSILON) {
                    check(&r, depth, &what, &mut worst);
                } else {
                    check_f64(&r, depth, &what, &mut worst);
                    assert_eq!(
                        factorize_f32(&r, depth).err(),
                        Some(DispatchError::Core(nearid::Error::Singular)),
                        "{what}: f32 should call this numerically singular"
                    );
                }
            }
        }
    }
    // det near zero, still regular in f64: sigma_min = 1e-12 (and a scaled-down R, whose
    // singular values are all small: that is not near-singular, only far from I).
    for d in [3, 8] {
        let mut s = vec![1.0; d];
        s[d - 1] = 1e-12;
        let r = sample::with_singular_values(&s, &mut rng);
        for depth in DEPTHS {
            check_f64(
                &r,
                depth,
                &format!("sigma_min = 1e-12, D = {d}"),
                &mut worst,
            );
        }
        // 1e-8 R': det near zero through scale alone. I + A_i cannot carry R to relative
        // precision when ||R|| << 1: A_i is computed and stored with rounding about
        // eps (1 + ||A_i||), which the product carries as ||Pi_{>i}|| eps (1 + ||A_i||) ||Pi_{<i}||
        // (first order).
        // Where the HM bound does not apply (M < 3 gamma, gamma = 18.4 here: few, large
        // factors) this case gets that derived tolerance, relative to ||R||; otherwise 1e-10.
        let small = sample::det_positive(d, 1.0, &mut rng) * 1e-8;
        for depth in DEPTHS {
            let f = factorize_f64(&small, depth).unwrap();
            let derived = if f.report.bound.is_none() {
                let id = DMatrix::<f64>::identity(d, d);
                let mut prefix = vec![id.clone()]; // Pi_{<i}
                for a in &f.factors {
                    let next = (&id + a) * prefix.last().unwrap();
                    prefix.push(next);
                }
                let mut suffix = id.clone(); // Pi_{>i}
                let mut sum = 0.0;
                for (i, a) in f.factors.iter().enumerate().rev() {
                    let fi = &id + a;
                    sum += sample::spectral_norm(&suffix)
                        * (1.0 + sample::spectral_norm(a))
                        * sample::spectral_norm(&prefix[i]);
                    suffix = &suffix * fi;
                }
                4.0 * f64::EPSILON * (d as f64).sqrt() * sum / sample::spectral_norm(&small)
            } else {
                TOL_F64
            };
            let err = relative_error(&f, &small);
            println!(
                "1e-8 * random, D = {d}, M = {depth}: error {err:.2e}, derived tolerance {derived:.2e}"
            );
            assert!(
                err < TOL_F64.max(derived),
                "1e-8 * random, D = {d}, M = {depth}: {err:e}"
            );
            if let Some(bound) = host_bound(&f, &small, depth, f64::EPSILON, "1e-8 * random") {
                assert!(max_norm(&f) <= bound);
            }
        }
    }
    println!(
        "named cases: worst relative error f64 {:.2e}, f32 {:.2e}; HM bound checked {} times, \
         worst ratio {:.4}",
        worst.err64, worst.err32, worst.checked, worst.ratio
    );
    // docs/THEORY.md section 1: the polar route meets the bound for -I_4 at l = 32, where the
    // SVD route gives 0.2091 against 0.1963.
    let f = factorize_f64(&-DMatrix::<f64>::identity(4, 4), 32).unwrap();
    let bound = f.report.bound.unwrap();
    println!(
        "-I_4, M = 32: max ||A_i|| = {:.4}, bound {bound:.4}",
        f.report.max_norm
    );
    assert!((bound - 2.0 * std::f64::consts::PI / 32.0).abs() < 1e-15);
    assert!((f.report.max_norm - 2.0 * (std::f64::consts::PI / 64.0).sin()).abs() < 1e-14);
}

#[test]
fn m_times_max_norm_stays_bounded_up_to_4096() {
    let mut rng = Rng::new(4096);
    let mut cases: Vec<(String, DMatrix<f64>)> = vec![
        ("-I_4".into(), -DMatrix::<f64>::identity(4, 4)),
        ("diag(-2, -0.5, 3, 1)".into(), diag(&[-2.0, -0.5, 3.0, 1.0])),
    ];
    for d in [2, 5, 16] {
        cases.push((
            format!("random D = {d}"),
            sample::det_positive(d, 2.0, &mut rng),
        ));
    }
    let mut worst_limit = 0.0f64;
    for (what, r) in &cases {
        let mut line = format!("{what}: M max||A_i|| =");
        let mut last = None;
        for k in 0..=12 {
            let depth = 1usize << k;
            let f = factorize_f64(r, depth).unwrap();
            let scaled = depth as f64 * f.report.max_norm;
            line += &format!(" {scaled:.4}");
            let constant =
                2.0 * (std::f64::consts::PI.sqrt() + (3.0 * f.report.gamma).sqrt()).powi(2);
            if depth as f64 >= 3.0 * f.report.gamma {
                assert!(
                    scaled <= constant,
                    "{what}, M = {depth}: {scaled} > {constant}"
                );
            }
            last = Some((scaled, f.report));
        }
        // As M grows the split balances gamma / p = theta_max / q, so M max ||A_i|| tends to
        // gamma + theta_max (max |ln k_i| for P, the largest angle for Q).
        let (scaled, report) = last.unwrap();
        let (gamma, theta) = (report.gamma, report.max_angle);
        let limit = gamma + theta;
        let rel = (scaled - limit).abs() / limit;
        worst_limit = worst_limit.max(rel);
        // How far M = 4096 is from the limit, from the factor norms: the P factors have norm
        // e^(gamma/p) - 1 (or 1 - e^(-gamma/p)), within a relative gamma / p of gamma / p; the
        // Q factors 2 sin(theta / 2q), within theta^2 / (24 q^2) of theta / q; and the integer
        // split moves p and q by at most 1 from the balanced p* = M gamma / (gamma + theta),
        // q* = M theta / (gamma + theta), a relative 1 / min(p*, q*). A part that is the
        // identity to working precision (gamma or theta below 1e-12) takes no factors. A
        // factor 2 of margin for the second-order terms left out.
        let m = 4096.0;
        let tolerance = if gamma < 1e-12 || theta < 1e-12 {
            2.0 * (gamma / m + theta * theta / (24.0 * m * m)) + 1e-12
        } else {
            let (p, q) = (m * gamma / limit, m * theta / limit);
            2.0 * (1.0 / p.min(q) + gamma / p + theta * theta / (24.0 * q * q))
        };
        println!(
            "{line}  (limit gamma + theta_max = {limit:.4}, gap {rel:.2e}, tolerance {tolerance:.2e})"
        );
        assert!(
            rel <= tolerance,
            "{what}: M max ||A_i|| = {scaled} at M = 4096, limit {limit}: relative gap {rel:.2e} \
             above the derived {tolerance:.2e}"
        );
    }
    println!(
        "worst |4096 max||A_i|| - (gamma + theta_max)| / (gamma + theta_max) = {worst_limit:.2e}"
    );
}

#[test]
fn bad_inputs_give_the_documented_errors() {
    use nearid::Error;
    let core = |e| Some(DispatchError::Core(e));
    let mut rng = Rng::new(3);
    for d in 1..=16 {
        let mut r = sample::det_positive(d, 1.0, &mut rng);
        r.row_mut(0).neg_mut(); // det < 0
        for f in [factorize_f64, factorize_f32] {
            assert_eq!(
                f(&r, 8).err(),
                core(Error::NonPositiveDeterminant),
                "D = {d}"
            );
            let mut nan = DMatrix::<f64>::identity(d, d);
            nan[(d - 1, 0)] = f64::NAN;
            assert_eq!(f(&nan, 8).err(), core(Error::NonFinite));
            nan[(d - 1, 0)] = f64::INFINITY;
            assert_eq!(f(&nan, 8).err(), core(Error::NonFinite));
            assert_eq!(f(&DMatrix::zeros(d, d), 8).err(), core(Error::Singular));
            assert_eq!(
                f(&DMatrix::identity(d, d), 0).err(),
                core(Error::OutOfRange)
            );
        }
    }
    assert_eq!(
        factorize_f64(&diag(&[-1.0, 1.0, 1.0]), 4).err(),
        core(Error::NonPositiveDeterminant)
    );
    // Rank-deficient and numerically singular (sigma_min / sigma_max = 1e-17 < 3 eps).
    let rank_one = DMatrix::from_row_slice(3, 3, &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, -1.0, -2.0, -3.0]);
    assert_eq!(factorize_f64(&rank_one, 4).err(), core(Error::Singular));
    let nearly = sample::with_singular_values(&[1.0, 1.0, 1e-17], &mut rng);
    assert_eq!(factorize_f64(&nearly, 4).err(), core(Error::Singular));
    // Not square, too large.
    assert_eq!(
        factorize_f64(&DMatrix::zeros(2, 3), 4).err(),
        Some(DispatchError::Shape)
    );
    assert_eq!(
        factorize_f64(&DMatrix::identity(17, 17), 4).err(),
        Some(DispatchError::Shape)
    );
}

#[test]
fn const_generic_factorisation_reconstructs_with_the_cores_own_product() {
    // The LinearResNet the core returns, multiplied out by its own forward pass.
    let r =
        nearid::Matrix::<f64, 4, 4>::from_diagonal(&nalgebra::Vector4::new(-2.0, -0.5, 3.0, 1.0));
    let (net, report) = nearid::factorize::<f64, 4, 64>(&r).unwrap();
    let err = (net.product() - r).norm() / r.norm();
    println!(
        "diag(-2, -0.5, 3, 1), M = 64: core product error {err:.2e}, max ||A_i|| {:.4} <= {:.4}",
        report.max_norm,
        report.bound.unwrap()
    );
    assert!(err < TOL_F64);
    assert!(report.max_norm <= report.bound.unwrap());
    let r32 = r.map(|v| v as f32);
    let (net, _) = nearid::factorize::<f32, 4, 64>(&r32).unwrap();
    let err = (net.product() - r32).norm() / r32.norm();
    println!("f32: core product error {err:.2e}");
    assert!((err as f64) < TOL_F32);
}

#[test]
fn hm_bound_for_every_depth_from_3_gamma_to_512() {
    // Every M, not a sample: the split is an integer choice, so a bound met at powers of two
    // could still fail in between.
    let mut rng = Rng::new(512);
    let cases = [
        ("-I_4", -DMatrix::<f64>::identity(4, 4)),
        ("diag(-2, -0.5, 3, 1)", diag(&[-2.0, -0.5, 3.0, 1.0])),
        ("random D = 8", sample::det_positive(8, 2.0, &mut rng)),
    ];
    let mut worst = Worst::default();
    for (what, r) in &cases {
        for depth in 1..=512 {
            check_f64(r, depth, what, &mut worst);
        }
    }
    println!(
        "every M in 1..=512: HM bound checked {} times, worst ratio {:.4}, worst error {:.2e}",
        worst.checked, worst.ratio, worst.err64
    );
    assert!(worst.checked > 1400);
}
