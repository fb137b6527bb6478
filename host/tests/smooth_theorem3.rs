//! Theorem 3 of docs/THEORY.md section 5 (BEL), in its sample form, for every layer i:
//!
//!   ||D_{h_i} Q(h)|| >= (1 - eps)^(m-1) (Q(h) - Q(h*)) / ||h - h*||,
//!
//! with h = f_m o ... o f_1 a tanh residual network, noise-free targets y_j = h*(x_j) (so
//! Q(h*) = 0), ||D_{h_i} Q|| = sqrt(mean_j ||J_{>i}(z_j)^T r_j||^2) from the core's Jacobians and
//! ||h - h*|| = sqrt(mean_j ||r_j||^2). eps is the largest of the core's guaranteed upper bounds
//! sup|s'| ||W2|| ||W1|| on ||f_i - Id||_L: an upper estimate, which is what makes the check
//! sound (a sample estimate of eps would be a lower one). The proof leaves a factor 2 of slack in
//! the noise-free case (Q/||h - h*|| = ||h - h*|| / 2), so the ratio is also checked against 2.
//!
//! Networks: the disc map's distilled networks (M = 16, 64), the same with every block's weights
//! perturbed (so h is further from h*), and random small tanh networks of depth 8 against the
//! radial map of the ball (h far from h*; with weights of scale 0.01, eps is near 0 and the
//! ratio near 2, so the check has teeth).

use nearid::smooth::SmoothActivation;
use nearid::{ResNet, Rng, SmoothMap, Tanh, Vector};
use nearid_host::smooth_check::*;
use nearid_host::smooth_maps::*;

/// Checks every layer; returns the worst ratio.
fn check<
    S: SmoothActivation,
    T: SmoothMap<f64, D>,
    const D: usize,
    const H: usize,
    const M: usize,
>(
    name: &str,
    net: &ResNet<f64, D, H, M, S>,
    target: &T,
    xs: &[Vector<f64, D>],
) -> f64 {
    let (eps, rows) = theorem3(net, target, xs).expect("eps < 1 and h != h*");
    let worst = rows.iter().map(|r| r.ratio()).fold(f64::INFINITY, f64::min);
    let at = rows
        .iter()
        .min_by(|a, b| a.ratio().total_cmp(&b.ratio()))
        .map_or(0, |r| r.layer);
    println!(
        "{name}: eps (upper) = {eps:.4}, (1-eps)^(m-1) = {:.3e}, worst ||D_hi Q|| / bound = {worst:.3} at layer {at} of {M}",
        (1.0 - eps).powi(M as i32 - 1)
    );
    for r in &rows {
        assert!(
            r.ratio() >= 1.0,
            "{name}: theorem 3 fails at layer {}: {r:?}",
            r.layer
        );
        assert!(
            r.ratio() >= 2.0,
            "{name}: below the proof's factor 2 at layer {}: {r:?}",
            r.layer
        );
    }
    worst
}

fn perturb<const D: usize, const H: usize, const M: usize>(
    net: &ResNet<f64, D, H, M, Tanh>,
    scale: f64,
    seed: u64,
) -> ResNet<f64, D, H, M, Tanh> {
    let mut rng = Rng::new(seed);
    let mut p = *net;
    for b in p.blocks.iter_mut() {
        b.w2.iter_mut()
            .chain(b.b2.iter_mut())
            .for_each(|w| *w += scale * rng.normal());
    }
    p
}

#[test]
fn theorem3_holds_on_distilled_and_perturbed_networks() {
    let xs = ball_sample::<2>(1.0, 300, 0, 7);
    let disc = TwoShears::DISC;
    let mut worst = f64::INFINITY;
    let (n16, _) = distill_disc::<16>(&xs, &disc_distill_config(16)).unwrap();
    worst = worst.min(check("distilled M=16", &n16, &disc, &xs));
    let (n64, _) = distill_disc::<64>(&xs, &disc_distill_config(64)).unwrap();
    worst = worst.min(check("distilled M=64", &n64, &disc, &xs));
    for seed in 1..=3 {
        let p = perturb(&n16, 0.01, seed);
        worst = worst.min(check(
            &format!("perturbed M=16 seed {seed}"),
            &p,
            &disc,
            &xs,
        ));
        let p = perturb(&n64, 0.003, seed);
        worst = worst.min(check(
            &format!("perturbed M=64 seed {seed}"),
            &p,
            &disc,
            &xs,
        ));
    }
    let ball = ball_sample::<3>(1.0, 300, 0, 8);
    // Scale 0.12, and 0.01 where eps is near 0 and the ratio near the proof's 2 (so the check
    // is not vacuous: a wrong gradient would show).
    for (seed, scale) in [(1, 0.12), (2, 0.12), (3, 0.12), (4, 0.01)] {
        let net = ResNet::<f64, 3, 6, 8, Tanh>::random(&mut Rng::new(seed), scale);
        let name = format!("random depth 8 (scale {scale}) vs radial, seed {seed}");
        worst = worst.min(check(&name, &net, &Radial::BALL, &ball));
    }
    println!("worst theorem-3 ratio over all networks and layers: {worst:.3}");
}
