//! Distillation of the disc map (two shears, docs/THEORY.md section 4) into tanh residual
//! networks of M = 4, 16, 64 blocks with the core's `distill`: block i learns layer h_i of the uniform
//! scaling decomposition, then the network is fine-tuned on (x, h(x)).
//!
//! - Each block's ||f_i - Id||_L falls like 1/M: checked on the core's guaranteed upper bound
//!   sup|s'| ||W2|| ||W1|| and on the sample estimate max ||Df_i - I|| over the block's inputs
//!   (a lower estimate); the fitted slope of ln max_i against ln M must lie in [-1.25, -0.75]
//!   (three depths, so the slope has little averaging; the exact layers' own slope is printed
//!   alongside for comparison).
//! - Held-out error: RMS of net(x) - h(x) on 400 fresh points uniform in the disc. Tolerance:
//!   a tenth of the identity network's RMS error ||x - h(x)|| (0.26): the network must remove 90%
//!   of the map's deviation from the identity; and at most twice the training RMS
//!   sqrt(2 x final loss), so the fit is not confined to the training draws. (The 400-point RMS
//!   has a relative standard error of a few percent, far inside both margins.)

use nearid_host::smooth_check::*;

fn max(v: &[f64]) -> f64 {
    v.iter().copied().fold(0.0, f64::max)
}

#[test]
fn distilled_blocks_flatten_as_one_over_m_and_compose_to_h() {
    let held_out = ball_sample::<2>(1.0, 400, 0, 99);
    let rows = vec![
        distill_disc::<4>(&held_out, &disc_distill_config(4))
            .unwrap()
            .1,
        distill_disc::<16>(&held_out, &disc_distill_config(16))
            .unwrap()
            .1,
        distill_disc::<64>(&held_out, &disc_distill_config(64))
            .unwrap()
            .1,
    ];
    for r in &rows {
        let (up, sa, ta) = (
            max(&r.block_upper),
            max(&r.block_sample),
            max(&r.target_lip),
        );
        println!(
            "M={:>2}: max_i ||f_i - Id||_L: upper {up:.4} (M x {:.3}), sample {sa:.4} (M x {:.3}); exact layers {ta:.4}; held-out RMS {:.3e} (identity {:.3e}, ratio {:.3}); train RMS {:.3e}",
            r.m,
            up * r.m as f64,
            sa * r.m as f64,
            r.held_out_rms,
            r.identity_rms,
            r.held_out_rms / r.identity_rms,
            (2.0 * r.train_loss).sqrt()
        );
        assert!(r.held_out_rms <= 0.1 * r.identity_rms, "M={}: {r:?}", r.m);
        assert!(
            r.held_out_rms <= 2.0 * (2.0 * r.train_loss).sqrt(),
            "M={}: {r:?}",
            r.m
        );
    }
    let ms: Vec<f64> = rows.iter().map(|r| r.m as f64).collect();
    let upper = log_slope(
        &ms,
        &rows.iter().map(|r| max(&r.block_upper)).collect::<Vec<_>>(),
    );
    let sample = log_slope(
        &ms,
        &rows
            .iter()
            .map(|r| max(&r.block_sample))
            .collect::<Vec<_>>(),
    );
    let exact = log_slope(
        &ms,
        &rows.iter().map(|r| max(&r.target_lip)).collect::<Vec<_>>(),
    );
    println!(
        "fitted slopes of ln max_i ||f_i - Id||_L against ln M: upper bound {upper:.3}, sample {sample:.3}, exact layers {exact:.3}"
    );
    for s in [upper, sample] {
        assert!((-1.25..=-0.75).contains(&s), "slope {s}");
    }
}
