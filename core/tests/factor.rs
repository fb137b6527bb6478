//! The near-identity factorisation (HM Theorem 2.1, docs/THEORY.md section 1) held to its
//! definitions in core's own tests: every field of `FactorReport` against a value computed here
//! from nalgebra's SVD and Schur form in f64 (not from the core's), the factors' product against
//! R within the reported `error_bound`, the split p + q = M against every other split, and
//! `error_bound` against the formula `factorize_into`'s docs state.
//!
//! The cases: R = I, exact rotations (a cyclic permutation, a quarter turn, -I in even D),
//! positive definite R, random rotations, R near I, general R and R far below I, in D = 3
//! and 4, at depths 1 to 64.

use nalgebra::DMatrix;
use nearid::factor::{Polar, Rotation, spectral_norm};
use nearid::{Decompose, Error, FactorReport, Matrix, Real, Rng, Scalar, factorize_into, hm_bound};

type M64<const D: usize> = Matrix<f64, D, D>;

const DEPTHS: [usize; 7] = [1, 2, 3, 5, 8, 32, 64];

/// `check::<D>()` for D = 3, 4, 5 and 8: odd and even D, and from D = 5 on Schur parts of three
/// or more 2 x 2 units, whose Jacobi sweeps visit pairs past the first unit.
macro_rules! in_every_d {
    ($check:ident) => {
        $check::<3>();
        $check::<4>();
        $check::<5>();
        $check::<8>();
    };
}

fn normal_matrix<const D: usize>(rng: &mut Rng) -> M64<D> {
    M64::<D>::from_fn(|_, _| rng.normal())
}

/// A random rotation: the Q of a Gaussian matrix's QR, with det +1.
fn random_rotation<const D: usize>(rng: &mut Rng) -> M64<D>
where
    nalgebra::Const<D>: nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    let mut q = normal_matrix::<D>(rng).qr().q();
    if q.determinant() < 0.0 {
        q.column_mut(0).neg_mut();
    }
    q
}

/// The test matrices, each with det > 0 (named for the failure messages).
fn cases<const D: usize>(rng: &mut Rng) -> Vec<(String, M64<D>)>
where
    nalgebra::Const<D>: nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    let id = M64::<D>::identity();
    // e_i -> e_(i+1): a rotation for odd D (det = (-1)^(D-1)), entries exactly 0 and 1.
    let cyclic = M64::<D>::from_fn(|r, c| f64::from(u8::from(r == (c + 1) % D)));
    let mut quarter = id;
    (
        quarter[(0, 0)],
        quarter[(0, 1)],
        quarter[(1, 0)],
        quarter[(1, 1)],
    ) = (0.0, -1.0, 1.0, 0.0);
    // In f32 a stretch within D eps of I: P is the identity to working precision, left out.
    let mut barely = id;
    barely[(0, 0)] = 1.0 + 2e-7;
    let mut out = vec![
        ("identity".to_string(), id),
        ("quarter turn".to_string(), quarter),
        ("diag(1 + 2e-7, 1, ...)".to_string(), barely),
    ];
    if D % 2 == 1 {
        out.push(("cyclic permutation".to_string(), cyclic));
    } else {
        out.push(("-I".to_string(), -id));
    }
    for i in 0..3 {
        let v = random_rotation::<D>(rng);
        let k = nalgebra::SVector::<f64, D>::from_fn(|_, _| (0.7 * rng.normal()).exp());
        out.push((
            format!("positive definite {i}"),
            v * M64::<D>::from_diagonal(&k) * v.transpose(),
        ));
        out.push((format!("rotation {i}"), random_rotation::<D>(rng)));
        out.push((
            format!("near identity {i}"),
            id + normal_matrix::<D>(rng) * 0.05,
        ));
        let mut general = normal_matrix::<D>(rng);
        if general.determinant() < 0.0 {
            general.row_mut(0).neg_mut();
        }
        out.push((format!("general {i}"), general));
        out.push((format!("far below I {i}"), general * 1e-3));
    }
    out
}

/// sigma(R) by nalgebra's SVD, and the largest rotation angle theta of R's orthogonal polar
/// factor Q by scaled Newton iteration (Higham, *Functions of Matrices*, section 8.6), both in
/// f64: nalgebra's U V^T was seen 2e-12 from Q (Q^T R symmetric only to 2e-12) on a D = 5 R
/// near I, where the iteration is within eps. Q's symmetric part C has the eigenvalues
/// cos(theta_j) (and 1), and on a unit vector v of the plane of theta_j the skew part K has
/// |K v| = |sin(theta_j)|: theta = atan2(|K v|, c) for C's least eigenvalue c and its
/// eigenvector v, accurate to eps at every angle (acos(c) alone is not near 0 and pi).
fn reference_spectrum<const D: usize>(r: &M64<D>) -> (Vec<f64>, f64) {
    let svd = heap(r).svd(false, false);
    let q = newton_polar(&heap(r));
    let eigen = ((&q + q.transpose()) * 0.5).symmetric_eigen();
    let least = eigen.eigenvalues.imin();
    let v = eigen.eigenvectors.column(least);
    let sin = (((&q - q.transpose()) * 0.5) * v).norm();
    let angle = sin.atan2(eigen.eigenvalues[least]);
    (svd.singular_values.iter().copied().collect(), angle)
}

/// The orthogonal polar factor of a non-singular X: X <- (g X + X^-T / g) / 2 with the
/// Frobenius scaling g = sqrt(||X^-1|| / ||X||), until a step changes X by at most 4 eps.
fn newton_polar(x: &DMatrix<f64>) -> DMatrix<f64> {
    let mut x = x.clone();
    for _ in 0..100 {
        let inv_t = x
            .clone()
            .try_inverse()
            .expect("R is non-singular")
            .transpose();
        let g = (inv_t.norm() / x.norm()).sqrt();
        let next = (&x * g + inv_t / g) * 0.5;
        let step = (&next - &x).norm();
        x = next;
        if step <= 4.0 * f64::EPSILON * x.norm() {
            break;
        }
    }
    x
}

fn max_of(values: impl IntoIterator<Item = f64>) -> f64 {
    values.into_iter().fold(0.0, f64::max)
}

/// The larger factor norm of the split (p, m - p), from its definition: the p factors of P
/// have norm max_i |k_i^(1/p) - 1|, the q of Q max_j 2 |sin(theta_j / 2q)| = 2 sin(theta / 2q)
/// for the largest angle theta (theta / 2q <= pi / 2); p = 0 only when `p_is_identity`, q = 0
/// only when `q_is_identity`. `None` for a split that cannot be exact.
fn split_cost(k: &[f64], angle: f64, p: usize, m: usize, identity: (bool, bool)) -> Option<f64> {
    let q = m - p;
    let norm_p = match p {
        0 => identity.0.then_some(0.0)?,
        p => max_of(k.iter().map(|s| (s.ln() / p as f64).exp_m1().abs())),
    };
    let norm_q = match q {
        0 => identity.1.then_some(0.0)?,
        q => 2.0 * (angle / (2 * q) as f64).sin(),
    };
    Some(norm_p.max(norm_q))
}

/// Factorise R in T at depth m; every case here must succeed.
fn run<T: Real, const D: usize>(
    what: &str,
    r: &M64<D>,
    m: usize,
) -> (Matrix<T, D, D>, Vec<Matrix<T, D, D>>, FactorReport<T>)
where
    nalgebra::Const<D>: Decompose<T, D>,
{
    let r_t = r.map(<T as Scalar>::from_f64);
    let mut out = vec![Matrix::<T, D, D>::zeros(); m];
    let report =
        factorize_into(&r_t, &mut out).unwrap_or_else(|e| panic!("{what}, M = {m}: {e:?}"));
    (r_t, out, report)
}

fn to64<T: Real, const D: usize>(a: &Matrix<T, D, D>) -> M64<D> {
    a.map(Scalar::to_f64)
}

/// ||A|| by nalgebra's SVD in f64.
fn norm2<const D: usize>(a: &M64<D>) -> f64 {
    heap(a).singular_values().max()
}

/// The same matrix on the heap, where nalgebra's decompositions take any D.
fn heap<const D: usize>(a: &M64<D>) -> DMatrix<f64> {
    DMatrix::from_iterator(D, D, a.iter().copied())
}

/// sigma_min, sigma_max, gamma, max_angle, max_norm and bound against their definitions
/// computed here, for f32 and f64: relative error within 64 D eps of T (the core's Jacobi SVD
/// and Schur form are backward stable: each value within a few D eps, relative to ||R||, of
/// the exact one; nalgebra's f64 adds D eps_64).
fn fields_match_definitions<T: Real, const D: usize>()
where
    nalgebra::Const<D>:
        Decompose<T, D> + nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    let eps = T::default_epsilon().to_f64();
    let tol = 64.0 * D as f64 * eps;
    for (what, r) in cases::<D>(&mut Rng::new(7)) {
        for m in DEPTHS {
            let (r_t, out, report) = run::<T, D>(&what, &r, m);
            let (k, angle) = reference_spectrum(&to64(&r_t));
            let close = |got: T, want: f64, scale: f64, field: &str| {
                let got = got.to_f64();
                assert!(
                    (got - want).abs() <= tol * scale,
                    "{what}, M = {m}: {field} = {got:e}, from its definition {want:e}"
                );
            };
            let (lo, hi) = (
                k.iter().copied().fold(f64::MAX, f64::min),
                max_of(k.clone()),
            );
            close(report.sigma_min, lo, hi, "sigma_min");
            close(report.sigma_max, hi, hi, "sigma_max");
            let gamma = hi.ln().abs().max(lo.ln().abs());
            // |ln(s (1 + d))| - |ln s| <= |d|: gamma's error is sigma's relative error.
            close(report.gamma, gamma, hi / lo, "gamma");
            close(report.max_angle, angle, 1.0, "max_angle");
            // max_norm: the largest ||A_i|| of the factors as written.
            let max_norm = max_of(out.iter().map(|a| norm2(&to64(a))));
            close(report.max_norm, max_norm, 1.0 + max_norm, "max_norm");
            assert_eq!(report.bound, hm_bound(report.gamma, m), "{what}, M = {m}");
        }
    }
}

#[test]
fn report_fields_match_their_definitions() {
    fields_match_definitions::<f64, 3>();
    fields_match_definitions::<f64, 4>();
    fields_match_definitions::<f32, 3>();
    fields_match_definitions::<f32, 4>();
    // D >= 5: parts of the Schur form with three or more 2 x 2 units, whose Jacobi sweeps
    // visit pairs (ua, ub) with ua >= 1.
    fields_match_definitions::<f64, 5>();
    fields_match_definitions::<f64, 8>();
    fields_match_definitions::<f32, 8>();
}

/// The split p + q = M is the best one: its larger factor norm is the least over every split
/// that can be exact (within 64 D eps of the least, the costs' own error), p = 0 only when P
/// is the identity (and q = 0 only when Q is), ties go to the fewest factors of P (R = I gives
/// p = 0, q = M), and M = 1 with neither part the identity falls back to A_1 = R - I, reported
/// as p = q = 0. "P (Q) is the identity" is the core's working-precision test on its own
/// sigma(R) (max_angle), max |k_i - 1| (max |theta_j|) <= D eps, read off the report, whose
/// fields the test above holds to their definitions: in f64, where it sees little but the
/// exact cases, and R's rounding cannot move it.
fn split_is_the_least<const D: usize>()
where
    nalgebra::Const<D>:
        Decompose<f64, D> + nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    let tiny = D as f64 * f64::EPSILON;
    for (what, r) in cases::<D>(&mut Rng::new(8)) {
        for m in DEPTHS {
            let (_, out, report) = run::<f64, D>(&what, &r, m);
            let (k, angle) = reference_spectrum(&r);
            let p_is_identity = (report.sigma_max - 1.0).max(1.0 - report.sigma_min) <= tiny;
            let identity = (p_is_identity, report.max_angle <= tiny);
            let costs: Vec<Option<f64>> = (0..=m)
                .map(|p| split_cost(&k, angle, p, m, identity))
                .collect();
            let (p, q) = (report.p, report.q);
            let Some(least) = costs.iter().flatten().copied().reduce(f64::min) else {
                assert_eq!(
                    (p, q),
                    (0, 0),
                    "{what}, M = {m}: no exact split, so A_1 = R - I"
                );
                assert_eq!(m, 1, "{what}: a split with p, q >= 1 exists for M >= 2");
                assert!(
                    (out[0] - (r - M64::<D>::identity())).norm() == 0.0,
                    "{what}"
                );
                continue;
            };
            assert_eq!(p + q, m, "{what}, M = {m}");
            let slack = 64.0 * D as f64 * f64::EPSILON * (1.0 + least);
            let chosen = costs[p].unwrap_or_else(|| panic!("{what}, M = {m}: split {p} not exact"));
            assert!(
                chosen <= least + slack,
                "{what}, M = {m}: split ({p}, {q}) costs {chosen:e}, the least is {least:e}"
            );
            // Fewest factors of P among the least: no smaller p is as good.
            let first = costs
                .iter()
                .position(|c| c.is_some_and(|c| c <= least + slack));
            assert_eq!(first, Some(p), "{what}, M = {m}: costs {costs:?}");
        }
    }
}

#[test]
fn the_split_is_the_least_of_all_splits() {
    in_every_d!(split_is_the_least);
    // The exact cases the tie and identity rules decide, spelled out.
    for m in [1, 4, 9] {
        let (_, _, report) = run::<f64, 3>("identity", &M64::<3>::identity(), m);
        assert_eq!(
            (report.p, report.q),
            (0, m),
            "R = I: no factors of P, all of Q"
        );
        let quarter = M64::<3>::new(0.0, -1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 1.0);
        let (_, _, report) = run::<f64, 3>("quarter turn", &quarter, m);
        assert_eq!(
            (report.p, report.q),
            (0, m),
            "a rotation: all factors are Q's"
        );
        let stretch = M64::<3>::from_diagonal(&nalgebra::Vector3::new(2.0, 0.5, 1.0));
        let (_, _, report) = run::<f64, 3>("diag(2, 0.5, 1)", &stretch, m);
        assert_eq!(
            (report.p, report.q),
            (m, 0),
            "positive definite: all factors are P's"
        );
    }
}

/// The product (I + A_M) ... (I + A_1) of the factors as written, in f64 (exact to 1e-16 for
/// f32 factors, far below the f32 bound it is checked against).
fn product<T: Real, const D: usize>(factors: &[Matrix<T, D, D>]) -> M64<D> {
    factors.iter().fold(M64::<D>::identity(), |acc, a| {
        (M64::<D>::identity() + to64(a)) * acc
    })
}

/// error_bound is sound: ||Pi(A) - R||_F / ||R||_F of the f32 factors, measured in f64, is at
/// most the reported bound (which counts every rounding to first order), and below 1.
fn products_within_the_bound<const D: usize>()
where
    nalgebra::Const<D>:
        Decompose<f32, D> + nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    for (what, r) in cases::<D>(&mut Rng::new(9)) {
        for m in DEPTHS {
            let (r_t, out, report) = run::<f32, D>(&what, &r, m);
            let r64 = to64(&r_t);
            let measured = (product(&out) - r64).norm() / r64.norm();
            let bound = f64::from(report.error_bound);
            assert!(
                measured <= bound && bound < 1.0,
                "{what}, M = {m}: ||Pi(A) - R|| / ||R|| = {measured:e}, bound {bound:e}"
            );
        }
    }
}

#[test]
fn products_are_within_the_reported_error_bound() {
    in_every_d!(products_within_the_bound);
}

/// error_bound as factorize_into's docs state it, recomputed in f64 from the core's own polar
/// decomposition and Schur form (their V and S are the ones whose defects it counts) and the
/// factors as written:
///
/// residual ||R - Q P||_F / ||R||_F (Q, P those of the parts used, I for one left out)
///   + 2 (||V^T V - I||_F + ||S^T S - I||_F) + 4 D eps_64
///   + p (2 D (D + 2) eps + ||V^T V - I||_F) ||A_1|| sigma_max^(-1/p) + 2 eps gamma [p > 0]
///   + q (2 D (D + 2) eps + ||S^T S - I||_F) ||A_M||,
///
/// or eps ||R - I||_F / ||R||_F + 4 D eps_64 for the M = 1 fallback; reported times 1 + 1e-6.
fn documented_error_bound<T: Real, const D: usize>(
    r: &Matrix<T, D, D>,
    out: &[Matrix<T, D, D>],
    report: &FactorReport<T>,
) -> f64
where
    nalgebra::Const<D>: Decompose<T, D>,
{
    let (d, eps) = (D as f64, T::default_epsilon().to_f64());
    let id = M64::<D>::identity();
    let r64 = to64(r);
    let last_bits = 4.0 * d * f64::EPSILON;
    let (p, q) = (report.p, report.q);
    if (p, q) == (0, 0) {
        return eps * (r64 - id).norm() / r64.norm() + last_bits;
    }
    let polar = Polar::new(r).unwrap();
    let rotation = Rotation::new(&polar.q).unwrap();
    let (v, s) = (to64(&polar.v), to64(&rotation.s));
    let defect = |m: &M64<D>| (m.transpose() * m - id).norm();
    let (orth_v, orth_s) = (defect(&v), defect(&s));
    let per_entry = 2.0 * d * (d + 2.0) * eps;
    let norm_of = |a: &Matrix<T, D, D>| spectral_norm(a).unwrap().to_f64();
    let sigma_max = report.sigma_max.to_f64();
    let (mut carried, mut q_used, mut p_used) = (0.0, id, id);
    if p > 0 {
        carried +=
            p as f64 * (per_entry + orth_v) * norm_of(&out[0]) * sigma_max.powf(-1.0 / p as f64);
        carried += 2.0 * eps * report.gamma.to_f64();
        p_used = v * M64::<D>::from_diagonal(&polar.k.map(Scalar::to_f64)) * v.transpose();
    }
    if q > 0 {
        carried += q as f64 * (per_entry + orth_s) * norm_of(&out[out.len() - 1]);
        let mut b = id;
        for plane in rotation.planes() {
            let (sin, cos) = plane.angle.to_f64().sin_cos();
            (b[(plane.i, plane.i)], b[(plane.j, plane.j)]) = (cos, cos);
            (b[(plane.j, plane.i)], b[(plane.i, plane.j)]) = (sin, -sin);
        }
        q_used = s * b * s.transpose();
    }
    let residual = (r64 - q_used * p_used).norm() / r64.norm() + 2.0 * (orth_v + orth_s);
    residual + last_bits + carried
}

/// In f32, where every term is of the size of eps_32 and this f64 recomputation differs from
/// the core's by rounding of order 1e-16 relative: the report is the formula times 1 + 1e-6,
/// rounded once to f32 (relative 2^-24), so within 2^-23 relative of it. (In f64 the 4 D eps_64
/// term and the residual's own f64 rounding are of one size, and no recomputation could tell
/// them apart.)
fn error_bound_is_the_formula<const D: usize>()
where
    nalgebra::Const<D>:
        Decompose<f32, D> + nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    for (what, r) in cases::<D>(&mut Rng::new(10)) {
        for m in DEPTHS {
            let (r_t, out, report) = run::<f32, D>(&what, &r, m);
            let want = documented_error_bound(&r_t, &out, &report) * (1.0 + 1e-6);
            let got = f64::from(report.error_bound);
            assert!(
                (got - want).abs() <= want * f64::from(f32::EPSILON),
                "{what}, M = {m}, (p, q) = ({}, {}): error_bound {got:e}, formula {want:e}",
                report.p,
                report.q
            );
        }
    }
}

#[test]
fn error_bound_is_the_documented_formula() {
    in_every_d!(error_bound_is_the_formula);
}

/// hm_bound is 2 (sqrt(pi) + sqrt(3 gamma))^2 / M, from M = 3 gamma on (M = 3 gamma included;
/// gamma = 2, M = 6 is exact in binary), and None below.
#[test]
fn hm_bound_is_the_theorem_from_m_equal_to_three_gamma() {
    for (gamma, m) in [
        (0.0, 1),
        (0.25, 1),
        (0.5, 7),
        (2.0, 6),
        (2.0, 40),
        (10.7, 33),
    ] {
        let root = core::f64::consts::PI.sqrt() + (3.0f64 * gamma).sqrt();
        let want = 2.0 * root * root / m as f64;
        let got = hm_bound(gamma, m).unwrap_or_else(|| panic!("gamma {gamma}, M = {m}: None"));
        // A handful of roundings, each relative eps / 2.
        assert!(
            (got - want).abs() <= 4.0 * f64::EPSILON * want,
            "gamma {gamma}, M = {m}"
        );
    }
    assert_eq!(hm_bound(2.0f64 + 4.0 * f64::EPSILON, 6), None);
    assert_eq!(hm_bound(0.5f64, 1), None);
}

/// det R < 0 is refused as such (not as a failed Schur form), and `out` is left as it was.
#[test]
fn a_negative_determinant_is_named() {
    for r in [
        M64::<3>::from_diagonal(&nalgebra::Vector3::new(-1.0, 1.0, 1.0)),
        -M64::<3>::identity(),
        M64::<3>::new(2.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0),
    ] {
        let mut out = [M64::<3>::identity(); 4];
        assert_eq!(
            factorize_into(&r, &mut out),
            Err(Error::NonPositiveDeterminant)
        );
        assert!(out.iter().all(|a| *a == M64::<3>::identity()));
    }
}

/// Rotation::root(q) is a q-th root of Q: root(q)^q = Q and root(q) = I + root_perturbation(q),
/// on every case's orthogonal polar factor. Each of the q products of orthogonal matrices rounds
/// by about D eps relative, and Q has norm 1: within 8 q D eps.
fn roots_are_qth_roots<const D: usize>()
where
    nalgebra::Const<D>:
        Decompose<f64, D> + nalgebra::DimMin<nalgebra::Const<D>, Output = nalgebra::Const<D>>,
{
    let eps = f64::EPSILON;
    for (what, r) in cases::<D>(&mut Rng::new(11)) {
        let polar = Polar::new(&r).unwrap();
        let rotation = Rotation::new(&polar.q).unwrap();
        for q in [1usize, 2, 3, 7] {
            let root = rotation.root(q);
            let power = (0..q).fold(M64::<D>::identity(), |acc, _| root * acc);
            let tol = 8.0 * (q * D) as f64 * eps;
            assert!(
                (power - polar.q).norm() <= tol,
                "{what}, D = {D}, q = {q}: ||root^q - Q|| = {:e}",
                (power - polar.q).norm()
            );
            let step = rotation.root_perturbation(q) + M64::<D>::identity();
            assert!(
                (root - step).norm() <= tol,
                "{what}, D = {D}, q = {q}: root against I + perturbation"
            );
        }
    }
}

#[test]
fn rotation_roots_are_qth_roots() {
    in_every_d!(roots_are_qth_roots);
}
