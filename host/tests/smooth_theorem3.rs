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
//!
//! eps itself is checked on every network, block by block, by two methods independent of the
//! core's `residual_lipschitz_upper` (core/src/smooth/lipschitz.rs):
//!
//! - a second formula: sup|s'| ||W2|| ||W1|| with both spectral norms from nalgebra's SVD, which
//!   the core's value must not be below (less 8 H eps for the SVD's own rounding) nor above by
//!   more than its documented slack (`spectral_norm_upper` is at most n^(1/2048) times each norm,
//!   n = min(rows, cols));
//! - a dense grid: the largest ||W2 diag(1 - tanh^2(W1 z + b1)) W1|| (the residual's Jacobian,
//!   written here, its norm by nalgebra's SVD) over a grid covering every point the block sees on
//!   the sample, with a margin; a maximum over points is a lower estimate of the seminorm, so eps
//!   must be at least it. On a block built to attain the bound (W1 = a I, W2 = b I, b1 = 0: the
//!   Jacobian at 0 is a b I) the grid meets eps, so an eps below the truth cannot pass.

use nearid::smooth::SmoothActivation;
use nearid::{Matrix, ResNet, ResidualBlock, Rng, SmoothMap, Tanh, Vector};
use nearid_host::smooth_check::*;
use nearid_host::smooth_maps::*;

/// sup|s'| ||W2|| ||W1|| for tanh (sup|s'| = 1), spectral norms by nalgebra's SVD.
fn formula<const D: usize, const H: usize>(b: &ResidualBlock<f64, D, H, Tanh>) -> f64 {
    let norm = |s: nalgebra::DVector<f64>| s.max();
    let w1 = nalgebra::DMatrix::from_column_slice(H, D, b.w1.as_slice());
    let w2 = nalgebra::DMatrix::from_column_slice(D, H, b.w2.as_slice());
    Tanh::DERIVATIVE_SUP * norm(w2.singular_values()) * norm(w1.singular_values())
}

/// ||J(z)|| of the block's residual at z: J = W2 diag(1 - tanh^2(W1 z + b1)) W1.
fn residual_jacobian_norm<const D: usize, const H: usize>(
    b: &ResidualBlock<f64, D, H, Tanh>,
    z: &Vector<f64, D>,
) -> f64 {
    let pre = b.w1 * z + b.b1;
    let slope = Matrix::<f64, H, H>::from_diagonal(&pre.map(|p| 1.0 - p.tanh().powi(2)));
    let j: Matrix<f64, D, D> = b.w2 * slope * b.w1;
    nalgebra::DMatrix::from_column_slice(D, D, j.as_slice())
        .singular_values()
        .max()
}

/// The grid: `per_axis` points per coordinate over the box [lo - 0.25, hi + 0.25] around the
/// points.
fn grid<const D: usize>(points: &[Vector<f64, D>], per_axis: usize) -> Vec<Vector<f64, D>> {
    let lo = Vector::<f64, D>::from_fn(|k, _| {
        points.iter().map(|p| p[k]).fold(f64::INFINITY, f64::min) - 0.25
    });
    let hi = Vector::<f64, D>::from_fn(|k, _| {
        points
            .iter()
            .map(|p| p[k])
            .fold(f64::NEG_INFINITY, f64::max)
            + 0.25
    });
    let total = per_axis.pow(D as u32);
    (0..total)
        .map(|mut n| {
            Vector::<f64, D>::from_fn(|k, _| {
                let i = n % per_axis;
                n /= per_axis;
                lo[k] + (hi[k] - lo[k]) * i as f64 / (per_axis - 1) as f64
            })
        })
        .collect()
}

/// Checks the core's eps of one block against the formula and the grid; returns the grid's
/// maximum over eps (at most 1; near 1 where the bound is attained).
fn check_block_eps<const D: usize, const H: usize>(
    name: &str,
    i: usize,
    b: &ResidualBlock<f64, D, H, Tanh>,
    cover: &[Vector<f64, D>],
) -> f64 {
    let eps = b.residual_lipschitz_upper();
    let exact = formula(b);
    let n1 = H.min(D) as f64;
    let slack = n1.powf(2.0 / 2048.0) * (1.0 + 1e-12);
    assert!(
        eps >= exact * (1.0 - 8.0 * H as f64 * f64::EPSILON),
        "{name}, block {i}: eps {eps} below sup|s'| ||W2|| ||W1|| = {exact}"
    );
    assert!(
        eps <= exact * slack,
        "{name}, block {i}: eps {eps} above the formula {exact} by more than its slack {slack}"
    );
    let seen = cover
        .iter()
        .map(|z| residual_jacobian_norm(b, z))
        .fold(0.0, f64::max);
    assert!(
        seen <= eps,
        "{name}, block {i}: ||J|| = {seen} on the grid exceeds the upper bound eps = {eps}"
    );
    seen / eps
}

/// Every block's eps against the formula and a grid covering the inputs the block sees on `xs`.
fn check_eps<const D: usize, const H: usize, const M: usize>(
    name: &str,
    net: &ResNet<f64, D, H, M, Tanh>,
    xs: &[Vector<f64, D>],
    per_axis: usize,
) {
    let mut zs = xs.to_vec();
    let mut tightest = 0.0f64;
    for (i, b) in net.blocks.iter().enumerate() {
        tightest = tightest.max(check_block_eps(name, i, b, &grid(&zs, per_axis)));
        zs.iter_mut()
            .for_each(|z| *z += b.w2 * (b.w1 * *z + b.b1).map(f64::tanh) + b.b2);
    }
    println!(
        "{name}: every eps_i >= the grid's max ||J_i||; tightest grid max / eps_i = {tightest:.3}"
    );
}

#[test]
fn eps_is_attained_by_a_block_built_to_attain_it() {
    let (a, b) = (0.6, 0.5);
    let block = ResidualBlock::<f64, 3, 3, Tanh>::new(
        Matrix::identity() * a,
        Vector::zeros(),
        Matrix::identity() * b,
        Vector::zeros(),
    );
    let cover = grid(&[Vector::zeros()], 5); // includes 0, where ||J|| = a b
    let tight = check_block_eps("W1 = 0.6 I, W2 = 0.5 I", 0, &block, &cover);
    println!("attained block: grid max / eps = {tight:.6}");
    // spectral_norm_upper's slack for n = 3: at most 3^(2/2048) - 1 = 0.11%.
    assert!(
        tight >= 1.0 / 3f64.powf(2.0 / 2048.0),
        "the grid must meet eps here: {tight}"
    );
}

/// Checks every layer; returns the worst ratio.
fn check<T: SmoothMap<f64, D>, const D: usize, const H: usize, const M: usize>(
    name: &str,
    net: &ResNet<f64, D, H, M, Tanh>,
    target: &T,
    xs: &[Vector<f64, D>],
) -> f64 {
    let (eps, rows) = theorem3(net, target, xs).expect("eps < 1 and h != h*");
    check_eps(name, net, xs, if D == 2 { 40 } else { 16 });
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
