//! Measurements of docs/THEORY.md sections 4-5 on the core's own numbers (its scaling
//! decomposition, Newton inverse, Jacobians and spectral-norm bounds), shared by the tests in
//! host/tests/smooth_*.rs and the report (`nearid verify smooth`).

use nearid::smooth::{
    Distill, Scales, ScalingDecomposition, Schedule, SmoothActivation, distill, inverse,
    spectral_norm_upper,
};
use nearid::{Matrix, Model, ResNet, Rng, Sgd, SmoothMap, Trainable, Vector};

/// The dense sample on which ||h_i - Id||_L is estimated: points uniform in the ball and on its
/// sphere (tests and report use the same sizes).
pub const DENSE: (usize, usize) = (150, 100);

/// The dense sample of the ball (seed + 1) and the constants alpha, M estimated on another
/// sample (seed + 2): what the report and the tests measure every map with.
pub fn dense_sample_and_constants<F: SmoothMap<f64, D>, const D: usize>(
    h: &F,
    radius: f64,
    seed: u64,
) -> (Vec<Vector<f64, D>>, Constants) {
    let dense = ball_sample::<D>(radius, DENSE.0, DENSE.1, seed + 1);
    let constants = estimate_constants(
        h,
        &ball_sample::<D>(radius, 600, 200, seed + 2),
        radius,
        seed,
    );
    (dense, constants)
}

/// Points of the ball B_R(0) in R^D: `interior` uniform in the ball and `boundary` uniform on
/// its sphere (the suprema of the maps here sit at the boundary, where |y| = R).
pub fn ball_sample<const D: usize>(
    radius: f64,
    interior: usize,
    boundary: usize,
    seed: u64,
) -> Vec<Vector<f64, D>> {
    let mut rng = Rng::new(seed);
    let direction = |rng: &mut Rng| loop {
        let v = Vector::<f64, D>::from_fn(|_, _| rng.normal());
        if v.norm() > 1e-9 {
            return v / v.norm();
        }
    };
    let mut points = Vec::with_capacity(interior + boundary);
    for k in 0..interior + boundary {
        let r = if k < interior {
            radius * rng.uniform().powf(1.0 / D as f64)
        } else {
            radius
        };
        points.push(direction(&mut rng) * r);
    }
    points
}

/// ||A|| for a D x D matrix, by the core's guaranteed upper bound (at most 0.07% above).
pub fn norm<const D: usize>(a: &Matrix<f64, D, D>) -> f64 {
    spectral_norm_upper(a)
}

/// The constants of the bound ||h_i - Id||_L <= alpha R M (a_i - a_{i-1}), estimated on a
/// sample of X = B_R(0). alpha and M are maxima over finitely many points, so they are lower
/// estimates of the suprema they stand for; R is exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Constants {
    /// Lipschitz constant of Dh: max ||Dh(p) - Dh(q)|| / |p - q| over the pairs tried.
    pub alpha: f64,
    /// Radius of the domain.
    pub radius: f64,
    /// ||h^-1||_L = sup ||Dh^-1||: the maximum over the sample.
    pub inverse_lipschitz: f64,
}

impl Constants {
    /// alpha R M.
    pub fn product(&self) -> f64 {
        self.alpha * self.radius * self.inverse_lipschitz
    }
}

/// Estimates alpha from pairs (p, p + delta u) for every sample point p, u a random unit vector
/// and the radial one -p/|p| (the proof of the bound compares Dh at a y and a' y), delta in
/// {R/4, R/20, R/100} (kept inside the ball), and M from Dh^-1 at the points.
pub fn estimate_constants<F: SmoothMap<f64, D>, const D: usize>(
    h: &F,
    points: &[Vector<f64, D>],
    radius: f64,
    seed: u64,
) -> Constants {
    let mut rng = Rng::new(seed);
    let mut alpha = 0.0f64;
    let mut inverse_lipschitz = 0.0f64;
    for p in points {
        let jp = h.jacobian(p);
        if let Ok(inv) = inverse(&jp) {
            inverse_lipschitz = inverse_lipschitz.max(norm(&inv));
        }
        for delta in [radius / 4.0, radius / 20.0, radius / 100.0] {
            // A random direction, and the radial one (the proof compares Dh at a y and a' y).
            let u = Vector::<f64, D>::from_fn(|_, _| rng.normal());
            let mut pairs = vec![p + u * (delta / u.norm())];
            if p.norm() > delta {
                pairs.push(p * (1.0 - delta / p.norm()));
            }
            for mut q in pairs {
                if q.norm() > radius {
                    q *= radius / q.norm();
                }
                let d = (q - p).norm();
                if d > 0.0 {
                    alpha = alpha.max(norm(&(h.jacobian(&q) - jp)) / d);
                }
            }
        }
    }
    Constants {
        alpha,
        radius,
        inverse_lipschitz,
    }
}

/// Per layer i = 1..m: max over the sample y of ||D(h_i - Id)(g_{a_{i-1}}(y))||, the estimate of
/// ||h_i - Id||_L on g_{a_{i-1}}(X). The Jacobian norm's supremum over a convex set is the
/// Lipschitz seminorm there (and it is what the bound's derivation controls); a maximum over
/// finitely many points is a lower estimate of that supremum.
pub fn layer_lipschitz<F: SmoothMap<f64, D>, const D: usize>(
    dec: &ScalingDecomposition<f64, F>,
    points: &[Vector<f64, D>],
) -> nearid::Result<Vec<f64>> {
    let id = Matrix::<f64, D, D>::identity();
    (1..=dec.layers())
        .map(|i| {
            points.iter().try_fold(0.0f64, |m, y| {
                Ok(m.max(norm(&(dec.layer_jacobian_at_preimage(i, y)? - id))))
            })
        })
        .collect()
}

/// One row of the schedule sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SweepRow {
    /// Layers m.
    pub m: usize,
    /// max_i ||h_i - Id||_L (sample estimate).
    pub max_lip: f64,
    /// m max_i (uniform) or (m / ln m) max_i (geometric).
    pub constant: f64,
    /// max_i of ||h_i - Id||_L / (alpha R M (a_i - a_{i-1})): at most 1 if the bound holds.
    pub worst_bound_ratio: f64,
}

/// The name of a schedule in reports.
pub fn schedule_name(s: Schedule<f64>) -> &'static str {
    match s {
        Schedule::Uniform => "uniform",
        Schedule::Geometric(_) => "geometric",
    }
}

/// The normalising factor of a schedule: m for uniform, m / ln m for geometric.
pub fn rate(schedule: Schedule<f64>, m: usize) -> f64 {
    match schedule {
        Schedule::Uniform => m as f64,
        Schedule::Geometric(_) => m as f64 / (m as f64).ln(),
    }
}

/// The sweep over m of max_i ||h_i - Id||_L for one schedule.
pub fn sweep<F: SmoothMap<f64, D> + Copy, const D: usize>(
    h: F,
    schedule: Schedule<f64>,
    ms: &[usize],
    points: &[Vector<f64, D>],
    constants: &Constants,
) -> nearid::Result<Vec<SweepRow>> {
    ms.iter()
        .map(|&m| {
            let scales = Scales::new(schedule, m)?;
            let dec = ScalingDecomposition::new(h, scales);
            let lips = layer_lipschitz(&dec, points)?;
            let max_lip = lips.iter().copied().fold(0.0, f64::max);
            let mut worst = 0.0f64;
            for (k, l) in lips.iter().enumerate() {
                worst = worst.max(l / (constants.product() * scales.step(k + 1)?));
            }
            Ok(SweepRow {
                m,
                max_lip,
                constant: rate(schedule, m) * max_lip,
                worst_bound_ratio: worst,
            })
        })
        .collect()
}

/// Least-squares slope of ln y against ln x.
pub fn log_slope(xs: &[f64], ys: &[f64]) -> f64 {
    let lx: Vec<f64> = xs.iter().map(|x| x.ln()).collect();
    let ly: Vec<f64> = ys.iter().map(|y| y.ln()).collect();
    let n = lx.len() as f64;
    let (mx, my) = (lx.iter().sum::<f64>() / n, ly.iter().sum::<f64>() / n);
    let sxy: f64 = lx.iter().zip(&ly).map(|(x, y)| (x - mx) * (y - my)).sum();
    let sxx: f64 = lx.iter().map(|x| (x - mx) * (x - mx)).sum();
    sxy / sxx
}

/// Slope of ln max_i Lip against ln(ln m / m).
pub fn geometric_rate_slope(rows: &[SweepRow]) -> f64 {
    log_slope(
        &rows
            .iter()
            .map(|r| (r.m as f64).ln() / r.m as f64)
            .collect::<Vec<_>>(),
        &rows.iter().map(|r| r.max_lip).collect::<Vec<_>>(),
    )
}

/// max over the points of |h_m o ... o h_1 (x) - h(x)|, each layer through its Newton solve.
pub fn exactness<F: SmoothMap<f64, D> + Copy, const D: usize>(
    h: F,
    schedule: Schedule<f64>,
    m: usize,
    points: &[Vector<f64, D>],
) -> nearid::Result<f64> {
    let dec = ScalingDecomposition::new(h, Scales::new(schedule, m)?);
    points.iter().try_fold(0.0f64, |worst, x| {
        Ok(worst.max((dec.compose(x)? - h.value(x)).norm()))
    })
}

/// Theorem 3 (docs/THEORY.md section 5) in its sample form for one layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Theorem3Row {
    /// Layer i (1-based).
    pub layer: usize,
    /// ||D_{h_i} Q|| = sqrt(mean_j ||J_{>i}(z_j)^T r_j||^2).
    pub gradient: f64,
    /// (1 - eps)^(m-1) (Q(h) - Q(h*)) / ||h - h*||.
    pub bound: f64,
}

impl Theorem3Row {
    /// gradient / bound: at least 1 by the theorem, at least 2 by its proof (noise-free data).
    pub fn ratio(&self) -> f64 {
        self.gradient / self.bound
    }
}

/// Theorem 3 checked on the network h = f_m o ... o f_1 against the target h* at the points
/// (noise-free y_j = h*(x_j), so Q(h*) = 0). eps is the largest of the core's guaranteed upper
/// bounds sup|s'| ||W2|| ||W1|| on the blocks' residuals: an upper estimate, which is what makes
/// the check sound. Returns eps and one row per layer; `None` when eps >= 1 or h = h* on the
/// sample (the theorem then says nothing).
pub fn theorem3<
    S: SmoothActivation,
    T: SmoothMap<f64, D>,
    const D: usize,
    const H: usize,
    const M: usize,
>(
    net: &ResNet<f64, D, H, M, S>,
    target: &T,
    xs: &[Vector<f64, D>],
) -> Option<(f64, Vec<Theorem3Row>)> {
    let eps = net
        .residual_lipschitz_uppers()
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let n = xs.len() as f64;
    let residuals: Vec<Vector<f64, D>> =
        xs.iter().map(|x| net.value(x) - target.value(x)).collect();
    let distance = (residuals.iter().map(|r| r.norm_squared()).sum::<f64>() / n).sqrt();
    if eps >= 1.0 || distance == 0.0 {
        return None;
    }
    let q = 0.5 * distance * distance;
    let bound = (1.0 - eps).powi(M as i32 - 1) * q / distance;
    // J_{>i}(z_j)^T r_j is the signal dL/dy at block i's output when the network's backward
    // pass is fed dL/dh = r_j: the core's backward gives all layers in one pass.
    let mut totals = [0.0f64; M];
    let mut tape = ResNet::<f64, D, H, M, S>::new_tape::<1>();
    for (x, r) in xs.iter().zip(&residuals) {
        net.forward_tape(x, &mut tape);
        net.backward(r, &mut tape);
        for (t, [block]) in totals.iter_mut().zip(tape.active()) {
            *t += block.dy.norm_squared();
        }
    }
    let rows = totals
        .iter()
        .enumerate()
        .map(|(k, t)| Theorem3Row {
            layer: k + 1,
            gradient: (t / n).sqrt(),
            bound,
        })
        .collect();
    Some((eps, rows))
}

/// The distillation settings of the disc experiment (f64, batches of 8).
///
/// Every block learns the normalised residual (h_i - Id) / (a_i - a_{i-1}), which is O(1) for
/// every m, so one learning rate serves all depths. The block budget is 24000 steps per network
/// (6000 per block at m = 4, 375 at m = 64): blocks after the first start from their trained
/// neighbour, which is already within O(1/m) of their target. Fine-tuning uses a step scaled by
/// 1/sqrt(m) (the network's gradient grows with its depth).
pub fn disc_distill_config(m: usize) -> Distill<f64> {
    Distill {
        block_steps: 24000 / m.max(1),
        block_sgd: Sgd::new(0.1).with_momentum(0.9),
        fine_tune_steps: 1000,
        fine_tune_sgd: Sgd::new(0.01 / (m as f64).sqrt()).with_momentum(0.9),
        init: 1.0,
        seed: 17 + m as u64,
    }
}

/// What the distillation of the disc map into M blocks measured.
#[derive(Clone, Debug, PartialEq)]
pub struct DistillRow {
    /// Blocks M.
    pub m: usize,
    /// Per block, the upper bound sup|s'| ||W2|| ||W1|| on ||f_i - Id||_L.
    pub block_upper: Vec<f64>,
    /// Per block, the sample estimate max ||Df_i - I|| over the block's inputs (lower).
    pub block_sample: Vec<f64>,
    /// Per layer, ||h_i - Id||_L of the exact uniform decomposition (sample estimate).
    pub target_lip: Vec<f64>,
    /// RMS of net(x) - h(x) on held-out points.
    pub held_out_rms: f64,
    /// RMS of x - h(x) on the same points (the identity network's error).
    pub identity_rms: f64,
    /// Mean training loss 1/2||f(x) - h(x)||^2 at the end of fine-tuning.
    pub train_loss: f64,
}

/// Distils the disc map into `ResNet<f64, 2, 16, M, Tanh>` on the uniform schedule and measures it.
pub fn distill_disc<const M: usize>(
    held_out: &[Vector<f64, 2>],
    config: &Distill<f64>,
) -> nearid::Result<(ResNet<f64, 2, 16, M, nearid::Tanh>, DistillRow)> {
    let h = crate::smooth_maps::TwoShears::DISC;
    let dec = ScalingDecomposition::new(h, Scales::new(Schedule::Uniform, M)?);
    let mut net = ResNet::<f64, 2, 16, M, nearid::Tanh>::identity();
    let sample = |rng: &mut Rng| {
        // Uniform in the unit disc.
        let r = rng.uniform().sqrt();
        let t = std::f64::consts::TAU * rng.uniform();
        Vector::<f64, 2>::new(r * t.cos(), r * t.sin())
    };
    let report = distill::<_, _, _, _, 2, 16, M, 8>(&mut net, &dec, sample, config)?;
    let id = Matrix::<f64, 2, 2>::identity();
    let mut block_sample = vec![0.0f64; M];
    let (mut err, mut base) = (0.0, 0.0);
    for x in held_out {
        let mut z = *x;
        for (k, b) in net.blocks.iter().enumerate() {
            block_sample[k] = block_sample[k].max(norm(&(b.jacobian(&z) - id)));
            z = b.value(&z);
        }
        err += (z - h.value(x)).norm_squared();
        base += (x - h.value(x)).norm_squared();
    }
    let n = held_out.len() as f64;
    let row = DistillRow {
        m: M,
        block_upper: net.residual_lipschitz_uppers().to_vec(),
        block_sample,
        target_lip: layer_lipschitz(&dec, held_out)?,
        held_out_rms: (err / n).sqrt(),
        identity_rms: (base / n).sqrt(),
        train_loss: report.loss,
    };
    Ok((net, row))
}
