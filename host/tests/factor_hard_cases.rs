//! Issue 12, defects 2 and 3: matrices the factorisation refused or got wrong, each judged by
//! the property suite's check (`nearid_host::fuzz_targets::judge_factorisation`: nalgebra's
//! SVD in f64 as the reference, reconstruction within the report's stated error bound plus the
//! check's own rounding, the HM bound against the measured norms), and sweeps over the
//! families where a Schur iteration depends on luck: clustered and repeated angles, rotations
//! by exactly pi, permutations, near-identity matrices, 16 x 16.

use nalgebra::DMatrix;
use nearid::{Error, Matrix, Rng};
use nearid_host::dispatch::{DispatchError, factorize_f32, factorize_f64};
use nearid_host::fuzz_targets::{Precision, judge_factorisation};
use nearid_host::hostile::{Verdict, clustered_rotation, permutation};
use nearid_host::sample;

const DEPTHS: [usize; 5] = [1, 2, 7, 64, 512];

/// Every depth, both precisions: the factorisation is Ok and right.
fn factors_everywhere(r: &DMatrix<f64>, what: &str) {
    for precision in [Precision::F64, Precision::F32] {
        for depth in DEPTHS {
            let verdict = judge_factorisation(r, depth, precision);
            assert_eq!(verdict, Verdict::Ok, "{what}, {precision:?}, M = {depth}");
            let f = match precision {
                Precision::F64 => factorize_f64(r, depth),
                Precision::F32 => factorize_f32(r, depth),
            };
            assert!(f.is_ok(), "{what}, {precision:?}, M = {depth}: {f:?}");
        }
    }
}

#[test]
fn identity_plus_1e_12_noise_factors() {
    let mut rng = Rng::new(12);
    for _ in 0..20 {
        let r = DMatrix::identity(3, 3) + sample::gaussian(3, &mut rng) * 1e-12;
        factors_everywhere(&r, "I + 1e-12 noise");
    }
}

#[test]
fn two_i_plus_k_mod_7_factors_in_16_dimensions() {
    // Singular values 1.84 .. 2.45; k the row-major index.
    let r = DMatrix::from_fn(16, 16, |i, j| {
        2.0 * f64::from(u8::from(i == j)) + 0.01 * ((16 * i + j) % 7) as f64
    });
    factors_everywhere(&r, "2I + 0.01 (k mod 7)");
    // And through the const-generic API, D = 16, M = 64.
    let s = Matrix::<f64, 16, 16>::from_fn(|i, j| r[(i, j)]);
    let (net, report) = nearid::factorize::<f64, 16, 64>(&s).unwrap();
    assert!((net.product() - s).norm() / s.norm() <= report.error_bound + 1e-13);
}

#[test]
fn minus_identity_and_turns_by_pi_in_random_bases_factor() {
    let mut rng = Rng::new(3);
    for d in 2..=16 {
        let basis = sample::rotation(d, &mut rng);
        let one_plane = sample::plane_rotation(&basis, std::f64::consts::PI);
        factors_everywhere(&one_plane, &format!("turn by pi, D = {d}"));
        if d % 2 == 0 {
            let minus = -(&basis * basis.transpose());
            factors_everywhere(&minus, &format!("-I, D = {d}"));
        }
        if d >= 4 {
            let mut other = basis.clone();
            other.columns_mut(0, 2).copy_from(&basis.columns(2, 2));
            other.columns_mut(2, 2).copy_from(&basis.columns(0, 2));
            let two = sample::plane_rotation(&basis, std::f64::consts::PI)
                * sample::plane_rotation(&other, std::f64::consts::PI);
            factors_everywhere(&two, &format!("two turns by pi, D = {d}"));
        }
    }
}

#[test]
fn permutations_with_det_plus_one_factor() {
    let mut rng = Rng::new(4);
    let mut checked = 0;
    for d in [2, 3, 4, 5, 8, 16] {
        for _ in 0..12 {
            let p = permutation(d, &mut rng);
            if p.determinant() > 0.0 {
                factors_everywhere(&p, &format!("permutation, D = {d}"));
                checked += 1;
            } else {
                assert_eq!(
                    factorize_f64(&p, 8).err(),
                    Some(DispatchError::Core(Error::NonPositiveDeterminant))
                );
            }
        }
    }
    assert!(checked > 20, "only {checked} even permutations drawn");
}

/// Angles repeated, nudged by 1e-16 .. 1e-6, or drawn from 0, tiny, pi/2 +- tiny, pi - tiny,
/// exactly pi: 300 rotations in random bases, D = 2 .. 16.
#[test]
fn clustered_and_repeated_angles_factor() {
    let mut rng = Rng::new(5);
    for k in 0..300 {
        let d = 2 + k % 15;
        let r = clustered_rotation(d, &mut rng);
        for precision in [Precision::F64, Precision::F32] {
            for depth in [1, 16] {
                let verdict = judge_factorisation(&r, depth, precision);
                assert_eq!(
                    verdict,
                    Verdict::Ok,
                    "rotation {k}, D = {d}, {precision:?}, M = {depth}"
                );
            }
        }
    }
}

#[test]
fn an_exactly_singular_matrix_is_singular() {
    let r = DMatrix::from_row_slice(3, 3, &[1.0, 2.0, 3.0, 2.0, 4.0, 6.0, 1.0, 0.0, 1.0]);
    for f in [factorize_f64, factorize_f32] {
        assert_eq!(f(&r, 4).err(), Some(DispatchError::Core(Error::Singular)));
    }
}

#[test]
fn tiny_and_huge_finite_matrices_factor() {
    // 1e-310 I (subnormal, f64) and [[3e38]] (f32, next to f32::MAX): the power-of-two
    // scaling overflowed and gave NonFinite.
    let tiny = DMatrix::<f64>::identity(3, 3) * 1e-310;
    for depth in [64, 2200] {
        assert_eq!(
            judge_factorisation(&tiny, depth, Precision::F64),
            Verdict::Ok
        );
        assert!(factorize_f64(&tiny, depth).is_ok(), "1e-310 I, M = {depth}");
    }
    let huge = DMatrix::from_element(1, 1, 3e38);
    for depth in [1, 2, 64] {
        assert_eq!(
            judge_factorisation(&huge, depth, Precision::F32),
            Verdict::Ok
        );
        assert!(
            factorize_f32(&huge, depth).is_ok(),
            "[[3e38]] f32, M = {depth}"
        );
    }
}

#[test]
fn factors_that_cannot_carry_r_are_refused_not_returned() {
    // [[1e-300]] with M = 2: I + A_i = 1e-150 would be stored as 1 + (-1) = 0, and the product
    // was 0. Refused with OutOfRange; with enough factors each is representable.
    let r = DMatrix::from_element(1, 1, 1e-300);
    assert_eq!(
        factorize_f64(&r, 2).err(),
        Some(DispatchError::Core(Error::OutOfRange))
    );
    let f = factorize_f64(&r, 2000).unwrap();
    let err = (f.product()[(0, 0)] - 1e-300).abs() / 1e-300;
    assert!(
        err <= f.report.error_bound,
        "{err:e} > {:e}",
        f.report.error_bound
    );
    assert_eq!(judge_factorisation(&r, 2000, Precision::F64), Verdict::Ok);
}

#[test]
fn the_cli_decomposes_a_valid_16x16() {
    let r = DMatrix::from_fn(16, 16, |i, j| {
        2.0 * f64::from(u8::from(i == j)) + 0.01 * ((16 * i + j) % 7) as f64
    });
    let dir = std::env::temp_dir().join(format!("nearid-hard-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let csv = dir.join("r16.csv");
    let text: String = (0..16)
        .map(|i| {
            let row: Vec<String> = (0..16).map(|j| format!("{:e}", r[(i, j)])).collect();
            row.join(", ") + "\n"
        })
        .collect();
    std::fs::write(&csv, text).unwrap();
    let out = dir.join("f16.npy");
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_nearid"))
        .args(["decompose", csv.to_str().unwrap(), "--depth", "64"])
        .args(["--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(out.exists());
}

/// A rank-1 3 x 3 at 1e-310 (the fuzz suite's seed 1, call 128701 of "factorize_into f64"):
/// rounded to subnormals its other singular values are 2e-14 of the largest, above the
/// Singular threshold, and the SVD's floor let their left singular vectors drift 1e-4 from
/// orthogonal; Q = U V^T was then refused by the Schur form (NoConvergence). nalgebra's SVD
/// fails here too, so the judge checks finiteness and reconstruction.
#[test]
fn a_rank_deficient_matrix_rounded_to_subnormals_is_not_a_convergence_failure() {
    let r = nearid_host::hostile::HostileMatrix {
        d: 3,
        kind: 2,
        seed: 17_439_071_330_106_743_744,
        scale: 1e-310,
        poison: None,
    }
    .build();
    for depth in [1, 2, 64, 512] {
        let verdict = judge_factorisation(&r, depth, Precision::F64);
        assert!(
            matches!(verdict, Verdict::Ok | Verdict::Err),
            "M = {depth}: {verdict:?}"
        );
        assert_ne!(
            factorize_f64(&r, depth).err(),
            Some(DispatchError::Core(Error::NoConvergence)),
            "M = {depth}"
        );
    }
    // Deep enough, the factors carry it.
    assert_eq!(judge_factorisation(&r, 512, Precision::F64), Verdict::Ok);
}
