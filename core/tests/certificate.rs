//! The HM suboptimality certificate (docs/THEORY.md section 2) held to its formula,
//! L - L_opt <= ||grad L||_F^2 / (2 M (1 - tau)^(2M - 2) sigma_min), computed directly here:
//! the bound is never below it and above it only by the documented rounding margins. The host
//! tests (host/tests/linear_gradient.rs) check it against trained networks; these hold the
//! arithmetic, so that cargo-mutants' runs of core's tests see it.

use nearid::{Error, LinearResNet, Matrix, certify_frobenius, excess_loss_bound};

/// The formula, in f64, evaluated directly (within a few ulps of the exact value).
fn direct(m: usize, tau: f64, grad: f64, sigma: f64) -> f64 {
    grad / (2.0 * m as f64 * (1.0 - tau).powi(2 * m as i32 - 2) * sigma)
}

#[test]
fn the_bound_is_the_formula_rounded_up() {
    // M = 1, tau = 0, grad = 1, sigma = 1/2: exactly 1, and the log terms 0, -ln 2, 0, +ln 2
    // sum to 0 exactly, so only the margins (at most 8 eps (2 ln 2) + 2 eps, 13.1 eps) lift it.
    let one = excess_loss_bound::<f64>(1, 0.0, 1.0, 0.5).unwrap();
    assert!(
        (1.0..=1.0 + 14.0 * f64::EPSILON).contains(&one),
        "{one:e} is not 1 rounded up by its margins"
    );
    // Elsewhere: the direct formula's own error is a few ulps (<= 2M + 4 roundings, M <= 40:
    // 1e-14), and the bound's margin 8 eps sum |log terms| (< 1e-13 for these): within 1e-12.
    for (m, tau, grad, sigma) in [
        (8, 0.1, 8.0 * 3.0 * 0.9f64.powi(30), 1.0),
        (3, 0.0, 3.8e9, 3.4e38),
        (40, 0.02, 1e-6, 0.25),
        (2, 0.9, 7.5, 3.0),
        (17, 0.3, 1e-30, 1e-5),
    ] {
        let want = direct(m, tau, grad, sigma);
        let got = excess_loss_bound::<f64>(m, tau, grad, sigma).unwrap();
        assert!(
            got >= want * (1.0 - 1e-14) && got <= want * (1.0 + 1e-12),
            "M={m} tau={tau} grad={grad:e} sigma={sigma:e}: {got:e}, the formula gives {want:e}"
        );
        // In f32 the f64 bound is rounded up into f32: within one f32 ulp above it.
        let got32 = excess_loss_bound::<f32>(m, tau as f32, grad as f32, sigma as f32).unwrap();
        let want32 = direct(
            m,
            tau as f32 as f64,
            grad as f32 as f64,
            sigma as f32 as f64,
        );
        assert!(
            got32 as f64 >= want32 * (1.0 - 1e-14)
                && (got32 as f64) <= want32 * (1.0 + 1.2e-7 + 1e-12),
            "f32 M={m}: {got32:e}, the formula gives {want32:e}"
        );
    }
}

#[test]
fn large_log_terms_keep_the_bound_above_the_exact_value() {
    // grad = 2^k, sigma = 2^(k-1), tau = 0: exactly 2 / (2M), while the log terms are near
    // +-k ln 2, about 700 for k = 1000. Each of their roundings is then up to 2^-44 (ulp 2^-43
    // at 512..1024), and they no longer cancel exactly as in the small case above: the bound
    // stays above the exact value only by the margin 8 eps sum |log terms|, which grows with
    // the terms (2.5e-12 here). A fixed few-eps margin falls below the exact value at some of
    // these k (at M = 4, k = 900 first).
    for m in [1usize, 4] {
        let exact = 1.0 / m as f64;
        for k in 900..=1020 {
            let (grad, sigma) = (2f64.powi(k), 2f64.powi(k - 1));
            let got = excess_loss_bound::<f64>(m, 0.0, grad, sigma).unwrap();
            // sum |log terms| = (k + log2(2M) + k - 1) ln 2; above exact + margin only by
            // the logs' own roundings (< 2e-13 at these sizes).
            let sum_terms = (2.0 * k as f64 - 1.0 + (2.0 * m as f64).log2()) * 2f64.ln();
            let margin = 8.0 * f64::EPSILON * sum_terms;
            assert!(
                got >= exact && got <= exact * (1.0 + margin + 2e-13),
                "M={m} k={k}: {got:e} is not {exact:e} rounded up by its margin {margin:e}"
            );
        }
    }
}

#[test]
fn each_argument_out_of_range_is_refused_alone() {
    let (m, tau, grad, sigma) = (4, 0.2f64, 0.5, 1.0);
    assert!(excess_loss_bound(m, tau, grad, sigma).is_ok());
    for (what, r) in [
        ("M = 0", excess_loss_bound(0, tau, grad, sigma)),
        ("tau < 0", excess_loss_bound(m, -1e-3, grad, sigma)),
        ("tau = 1", excess_loss_bound(m, 1.0, grad, sigma)),
        ("sigma_min = 0", excess_loss_bound(m, tau, grad, 0.0)),
        ("sigma_min < 0", excess_loss_bound(m, tau, grad, -1.0)),
        ("grad < 0", excess_loss_bound(m, tau, -1e-9, sigma)),
    ] {
        assert_eq!(r, Err(Error::OutOfRange), "{what}");
    }
    assert_eq!(
        excess_loss_bound(m, f64::NAN, grad, sigma),
        Err(Error::NonFinite)
    );
}

#[test]
fn the_frobenius_tau_is_the_largest_norm_times_its_slack() {
    // ||diag(3/8, 1/2)||_F = 5/8 exactly (9/64 + 16/64 = 25/64): tau is 5/8 times the norm's
    // slack 1 + (D^2 + 2) eps, then the certificate's 1 + 8 D eps rounded up (times 1 + eps),
    // no less (it bounds the norm) and no more.
    let net = LinearResNet::<f64, 2, 2> {
        factors: [
            Matrix::<f64, 2, 2>::new(0.375, 0.0, 0.0, -0.5),
            Matrix::from_element(0.1),
        ],
    };
    let tau = |norm: f64| {
        norm * (1.0 + 6.0 * f64::EPSILON) * (1.0 + 16.0 * f64::EPSILON) * (1.0 + f64::EPSILON)
    };
    let c = certify_frobenius(&net, 1.0, 1.0).unwrap();
    assert_eq!(c.tau, tau(0.625));
    assert_eq!(
        c.excess_loss_bound,
        excess_loss_bound(2, c.tau, 1.0, 1.0).unwrap()
    );
    // D = 3 (where D^2 and 2 D differ): slack 1 + 11 eps, then 1 + 24 eps.
    let three = LinearResNet::<f64, 3, 1> {
        factors: [Matrix::<f64, 3, 3>::from_diagonal(
            &nearid::Vector::<f64, 3>::new(0.375, 0.0, 0.5),
        )],
    };
    let c = certify_frobenius(&three, 1.0, 1.0).unwrap();
    assert_eq!(
        c.tau,
        0.625 * (1.0 + 11.0 * f64::EPSILON) * (1.0 + 24.0 * f64::EPSILON) * (1.0 + f64::EPSILON)
    );
    // The same norm at another scale (entries times 2^-600, whose squares underflow).
    let tiny = LinearResNet::<f64, 2, 1> {
        factors: [net.factors[0] * 2f64.powi(-600)],
    };
    let c = certify_frobenius(&tiny, 1.0, 1.0).unwrap();
    assert_eq!(c.tau, tau(0.625 * 2f64.powi(-600)));
}
