//! `nearid verify linear`: a sweep over docs/THEORY.md sections 1-2 with the core's own numbers,
//! written as a markdown report and two SVG plots.
//!
//! - Section 1: random det > 0 matrices (D in {2, 4, 8, 16}) and named ones, depths M = 1 ..
//!   4096 (powers of two): max ||A_i|| against the HM bound, reconstruction error in f64 and f32.
//! - Section 2: random points with tau < 1 (D = 4, M = 8): ||grad f||^2 against
//!   4 M (1 - tau)^(2M - 2) sigma_min(Sigma) (f - C_opt), the tight case, and the certificate
//!   against the true excess loss.
//!
//! The sweep is seeded: the report is the same on every run.

use crate::dispatch::{Factorisation, factorize_f32, factorize_f64};
use crate::sample;
use nalgebra::DMatrix;
use nearid::{FusedSgd, LinearResNet, Matrix, Rng, Sgd, Vector};
use std::fmt::Write as _;
use std::path::Path;

/// Depths of the norm sweep: 1, 2, 4, ..., 4096.
pub const DEPTHS: [usize; 13] = [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096];
/// Random matrices per dimension.
const PER_DIM: usize = 6;
/// Reconstruction tolerances of the tests (f64, f32), relative Frobenius error.
pub const TOLERANCES: (f64, f64) = (1e-10, 1e-4);

/// One factorisation in the sweep.
#[derive(Clone, Debug)]
pub struct NormPoint {
    /// Which matrix.
    pub name: String,
    /// Its dimension.
    pub d: usize,
    /// Depth.
    pub m: usize,
    /// max_i ||A_i|| (f64 factorisation).
    pub max_norm: f64,
    /// HM bound, when M >= 3 gamma.
    pub bound: Option<f64>,
    /// gamma + theta_max, the limit of M max ||A_i||.
    pub limit: f64,
    /// Relative reconstruction error, f64 and f32.
    pub err: (f64, f64),
}

/// One point of the gradient sweep.
#[derive(Clone, Copy, Debug)]
pub struct GradientPoint {
    /// max_i ||A_i||.
    pub tau: f64,
    /// ||grad f||^2 / (4 M (1 - tau)^(2M - 2) sigma_min (f - C_opt)): >= 1 by HM Thm 2.2.
    pub ratio: f64,
    /// The core's certificate divided by the true excess loss: >= 1.
    pub certificate: f64,
}

/// Everything the report shows.
#[derive(Clone, Debug, Default)]
pub struct LinearSweep {
    /// Section 1 points.
    pub norms: Vec<NormPoint>,
    /// Section 2 points.
    pub gradients: Vec<GradientPoint>,
    /// Tight case (Sigma = I, R = 0, A_i = -tau I): max |ratio - 1|.
    pub tight_gap: f64,
    /// Tight case points (tau, ratio).
    pub tight: Vec<(f64, f64)>,
}

/// The matrices of the norm sweep: (name, R).
pub fn sweep_matrices() -> Vec<(String, DMatrix<f64>)> {
    let mut rng = Rng::new(0x4E41_4549);
    let mut out = vec![
        ("-I_4".to_string(), -DMatrix::<f64>::identity(4, 4)),
        (
            "diag(-2, -0.5, 3, 1)".to_string(),
            DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(&[
                -2.0, -0.5, 3.0, 1.0,
            ])),
        ),
    ];
    for d in [2, 4, 8, 16] {
        for k in 0..PER_DIM {
            out.push((
                format!("random D={d} #{k}"),
                sample::det_positive(d, 2.0, &mut rng),
            ));
        }
    }
    out
}

fn rel_err(f: &Factorisation, r: &DMatrix<f64>) -> f64 {
    (f.product() - r).norm() / r.norm()
}

/// Number of jobs [`run`] reports progress for.
pub fn job_count() -> usize {
    sweep_matrices().len() * DEPTHS.len() + GRADIENT_POINTS + 1
}

const GRADIENT_POINTS: usize = 200;

/// Run the sweep; `tick` is called once per job (for a progress bar).
pub fn run(mut tick: impl FnMut()) -> Result<LinearSweep, String> {
    let mut sweep = LinearSweep::default();
    for (name, r) in sweep_matrices() {
        for &m in &DEPTHS {
            let f = factorize_f64(&r, m).map_err(|e| format!("{name}, M = {m}: {e}"))?;
            let f32 = factorize_f32(&r, m).map_err(|e| format!("{name}, M = {m} (f32): {e}"))?;
            sweep.norms.push(NormPoint {
                name: name.clone(),
                d: r.nrows(),
                m,
                max_norm: f.report.max_norm,
                bound: f.report.bound,
                limit: f.report.gamma + f.report.max_angle,
                err: (rel_err(&f, &r), rel_err(&f32, &r)),
            });
            tick();
        }
    }
    let mut rng = Rng::new(0x4752_4144);
    for _ in 0..GRADIENT_POINTS {
        sweep.gradients.push(gradient_point::<4, 8>(&mut rng));
        tick();
    }
    for t in [0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9] {
        let ratio = tight_ratio::<4, 8>(t);
        sweep.tight.push((t, ratio));
        sweep.tight_gap = sweep.tight_gap.max((ratio - 1.0).abs());
    }
    tick();
    Ok(sweep)
}

/// (L - L_opt, ||grad L||^2) of the population loss with covariance `sigma`, target R, from the
/// core's forward and backward pass: the D inputs sqrt(D) Sigma^(1/2) e_b have second moment
/// Sigma, so the batch loss is the population excess 1/2 tr(E Sigma E^T). (The f of docs/THEORY.md
/// section 2 has no 1/2: f - C_opt = 2 (L - L_opt), ||grad f||^2 = 4 ||grad L||^2.)
pub fn population_loss_and_grad<const D: usize, const M: usize>(
    net: &LinearResNet<f64, D, M>,
    sigma: &DMatrix<f64>,
    r: &DMatrix<f64>,
) -> Result<(f64, f64), nearid::Error> {
    let e = sigma.clone().symmetric_eigen();
    let root = &e.eigenvectors
        * DMatrix::from_diagonal(&e.eigenvalues.map(|v| v.max(0.0).sqrt()))
        * e.eigenvectors.transpose()
        * (D as f64).sqrt();
    let xs: [Vector<f64, D>; D] = std::array::from_fn(|b| Vector::from_fn(|i, _| root[(i, b)]));
    let rm: Matrix<f64, D, D> = Matrix::from_fn(|i, j| r[(i, j)]);
    let ys: [Vector<f64, D>; D] = std::array::from_fn(|b| rm * xs[b]);
    let mut copy = *net;
    let mut sgd = FusedSgd::<f64, LinearResNet<f64, D, M>, D>::new(Sgd::new(1e-3))?;
    let step = sgd.step(&mut copy, &xs, &ys)?;
    Ok((step.loss, step.grad_norm_sq))
}

fn gradient_point<const D: usize, const M: usize>(rng: &mut Rng) -> GradientPoint {
    let tau_max = rng.uniform_in(0.01, 0.95);
    let mut net = LinearResNet::<f64, D, M>::identity();
    for a in net.factors.iter_mut() {
        let g = Matrix::<f64, D, D>::from_fn(|_, _| rng.normal());
        let norm = nearid::factor::spectral_norm(&g).unwrap_or(1.0);
        *a = g * (tau_max * rng.uniform_in(0.2, 1.0) / norm);
    }
    let g = sample::gaussian(D, rng);
    let sigma = &g * g.transpose() / D as f64 + DMatrix::identity(D, D) * rng.uniform_in(0.01, 1.0);
    let sigma_min = sigma.symmetric_eigenvalues().min();
    let r = sample::gaussian(D, rng) * rng.uniform_in(0.1, 3.0);
    let (excess, grad_sq) =
        population_loss_and_grad(&net, &sigma, &r).unwrap_or((f64::NAN, f64::NAN));
    let cert = nearid::certify(&net, grad_sq, sigma_min);
    let tau = cert.map_or(f64::NAN, |c| c.tau);
    let bound = 4.0 * M as f64 * (1.0 - tau).powi(2 * M as i32 - 2) * sigma_min * 2.0 * excess;
    GradientPoint {
        tau,
        ratio: 4.0 * grad_sq / bound,
        certificate: cert.map_or(f64::NAN, |c| c.excess_loss_bound / excess),
    }
}

fn tight_ratio<const D: usize, const M: usize>(t: f64) -> f64 {
    let net = LinearResNet::<f64, D, M>::from_factors([Matrix::<f64, D, D>::identity() * -t; M]);
    let (excess, grad_sq) =
        population_loss_and_grad(&net, &DMatrix::identity(D, D), &DMatrix::zeros(D, D))
            .unwrap_or((f64::NAN, f64::NAN));
    let bound = 4.0 * M as f64 * (1.0 - t).powi(2 * M as i32 - 2) * 2.0 * excess;
    4.0 * grad_sq / bound
}

/// The worst case of each bound over the sweep.
#[derive(Clone, Copy, Debug)]
pub struct Worst {
    /// max over M >= 3 gamma of max ||A_i|| / HM bound (<= 1).
    pub hm_ratio: f64,
    /// Number of (matrix, M) pairs with M >= 3 gamma.
    pub hm_count: usize,
    /// max relative reconstruction error f64 / 1e-10 and f32 / 1e-4 (<= 1).
    pub err_ratio: (f64, f64),
    /// max relative reconstruction errors themselves.
    pub err: (f64, f64),
    /// max over matrices of |4096 max ||A_i|| - (gamma + theta)| / (gamma + theta).
    pub limit_gap: f64,
    /// min ||grad f||^2 / bound (>= 1).
    pub gradient_ratio: f64,
    /// min certificate / excess (>= 1).
    pub certificate_ratio: f64,
    /// Tight case max |ratio - 1|.
    pub tight_gap: f64,
}

impl LinearSweep {
    /// The worst case of each bound.
    pub fn worst(&self) -> Worst {
        let hm: Vec<f64> = self
            .norms
            .iter()
            .filter_map(|p| p.bound.map(|b| p.max_norm / b))
            .collect();
        let err = self.norms.iter().fold((0.0f64, 0.0f64), |(a, b), p| {
            (a.max(p.err.0), b.max(p.err.1))
        });
        let limit_gap = self
            .norms
            .iter()
            .filter(|p| p.m == 4096 && p.limit > 0.0)
            .map(|p| (p.m as f64 * p.max_norm - p.limit).abs() / p.limit)
            .fold(0.0, f64::max);
        Worst {
            hm_ratio: hm.iter().copied().fold(0.0, f64::max),
            hm_count: hm.len(),
            err_ratio: (err.0 / TOLERANCES.0, err.1 / TOLERANCES.1),
            err,
            limit_gap,
            gradient_ratio: self
                .gradients
                .iter()
                .map(|g| g.ratio)
                .fold(f64::INFINITY, f64::min),
            certificate_ratio: self
                .gradients
                .iter()
                .map(|g| g.certificate)
                .fold(f64::INFINITY, f64::min),
            tight_gap: self.tight_gap,
        }
    }

    /// True when every bound held.
    pub fn all_hold(&self) -> bool {
        let w = self.worst();
        w.hm_ratio <= 1.0
            && w.err_ratio.0 <= 1.0
            && w.err_ratio.1 <= 1.0
            && w.gradient_ratio >= 1.0
            && w.certificate_ratio >= 1.0
            && w.tight_gap <= 1e-9
    }

    /// The verification table (markdown), for the report and the README.
    pub fn table(&self) -> String {
        let w = self.worst();
        let ok = |b: bool| if b { "holds" } else { "**FAILS**" };
        let mut s = String::new();
        s += "| docs/THEORY.md section | bound | worst measured / bound over the sweep | |\n";
        s += "|---|---|---|---|\n";
        let _ = writeln!(
            s,
            "| 1 | max_i \\|\\|A_i\\|\\| <= 2 (sqrt(pi) + sqrt(3 gamma))^2 / M, M >= 3 gamma ({} cases) | {:.4} (max) | {} |",
            w.hm_count,
            w.hm_ratio,
            ok(w.hm_ratio <= 1.0)
        );
        let _ = writeln!(
            s,
            "| 1 | \\|\\|Pi(A) - R\\|\\|_F / \\|\\|R\\|\\|_F < 1e-10 (f64) | {:.2e} / 1e-10 = {:.2e} (max) | {} |",
            w.err.0,
            w.err_ratio.0,
            ok(w.err_ratio.0 <= 1.0)
        );
        let _ = writeln!(
            s,
            "| 1 | \\|\\|Pi(A) - R\\|\\|_F / \\|\\|R\\|\\|_F < 1e-4 (f32) | {:.2e} / 1e-4 = {:.2e} (max) | {} |",
            w.err.1,
            w.err_ratio.1,
            ok(w.err_ratio.1 <= 1.0)
        );
        let _ = writeln!(
            s,
            "| 1 | M max_i \\|\\|A_i\\|\\| -> gamma + theta_max (M = 4096) | {:.2e} (max relative gap) | bounded |",
            w.limit_gap
        );
        let _ = writeln!(
            s,
            "| 2 | \\|\\|grad f\\|\\|^2 >= 4 M (1-tau)^(2M-2) sigma_min(Sigma) (f - C_opt) ({} points) | {:.4} (min, must be >= 1) | {} |",
            self.gradients.len(),
            w.gradient_ratio,
            ok(w.gradient_ratio >= 1.0)
        );
        let _ = writeln!(
            s,
            "| 2 | equality for Sigma = I, R = 0, A_i = -tau I | \\|ratio - 1\\| = {:.1e} (max, tolerance 1e-9) | {} |",
            w.tight_gap,
            ok(w.tight_gap <= 1e-9)
        );
        let _ = writeln!(
            s,
            "| 2 | certificate >= L - L_opt | {:.4} (min, must be >= 1) | {} |",
            w.certificate_ratio,
            ok(w.certificate_ratio >= 1.0)
        );
        s
    }

    /// The whole markdown report.
    pub fn markdown(&self) -> String {
        let mut s = String::new();
        s += "# Linear residual networks: verification report\n\n";
        s += "Generated by `cargo run --release -p nearid-host --bin nearid -- verify linear --out docs/` \
              (seeded: the same on every run). The statements are docs/THEORY.md sections 1 and 2; \
              every number comes from the core (`nearid::factorize_into`, `LinearResNet::backward` through \
              `FusedSgd::step`, `nearid::certify`); products and norms are recomputed in f64 on the host.\n\n";
        s += "## Worst case of each bound\n\n";
        s += &self.table();
        s += "\n![max factor norm against M](linear-norms.svg)\n\n";
        s += "![gradient ratio against tau](linear-gradient.svg)\n\n";
        s += "## Section 1: max ||A_i|| and reconstruction, per matrix\n\n";
        s += "M max ||A_i|| at M = 4096 against its limit gamma + theta_max (the split balances \
              gamma / p = theta_max / q), the worst ratio to the HM bound over M >= 3 gamma, and the \
              worst reconstruction errors over M = 1 .. 4096.\n\n";
        s += "| matrix | D | gamma + theta_max | 4096 max\\|\\|A_i\\|\\| | worst max\\|\\|A_i\\|\\| / bound | error f64 | error f32 |\n";
        s += "|---|---|---|---|---|---|---|\n";
        let mut names: Vec<&str> = Vec::new();
        for p in &self.norms {
            if !names.contains(&p.name.as_str()) {
                names.push(&p.name);
            }
        }
        for name in names {
            let pts: Vec<&NormPoint> = self.norms.iter().filter(|p| p.name == name).collect();
            let last = pts.iter().find(|p| p.m == 4096);
            let ratio = pts
                .iter()
                .filter_map(|p| p.bound.map(|b| p.max_norm / b))
                .fold(0.0, f64::max);
            let e64 = pts.iter().map(|p| p.err.0).fold(0.0, f64::max);
            let e32 = pts.iter().map(|p| p.err.1).fold(0.0, f64::max);
            let _ = writeln!(
                s,
                "| {name} | {} | {:.4} | {:.4} | {ratio:.4} | {e64:.1e} | {e32:.1e} |",
                pts[0].d,
                pts[0].limit,
                last.map_or(f64::NAN, |p| p.m as f64 * p.max_norm),
            );
        }
        s += "\n## Section 2: gradient ratio against tau (D = 4, M = 8)\n\n";
        s += "| tau | points | min ratio | median ratio | min certificate / excess |\n|---|---|---|---|---|\n";
        for (lo, hi) in [(0.0, 0.2), (0.2, 0.4), (0.4, 0.6), (0.6, 0.8), (0.8, 1.0)] {
            let mut r: Vec<&GradientPoint> = self
                .gradients
                .iter()
                .filter(|g| g.tau >= lo && g.tau < hi)
                .collect();
            if r.is_empty() {
                continue;
            }
            r.sort_by(|a, b| a.ratio.total_cmp(&b.ratio));
            let cert = r
                .iter()
                .map(|g| g.certificate)
                .fold(f64::INFINITY, f64::min);
            let _ = writeln!(
                s,
                "| [{lo:.1}, {hi:.1}) | {} | {:.3} | {:.3} | {cert:.3} |",
                r.len(),
                r[0].ratio,
                r[r.len() / 2].ratio
            );
        }
        s
    }

    /// Write `linear-report.md`, `linear-norms.svg` and `linear-gradient.svg` into `dir`.
    pub fn write(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("{}: cannot create: {e}", dir.display()))?;
        let md = dir.join("linear-report.md");
        std::fs::write(&md, self.markdown()).map_err(|e| format!("{}: {e}", md.display()))?;
        self.plot_norms(&dir.join("linear-norms.svg"))?;
        self.plot_gradient(&dir.join("linear-gradient.svg"))?;
        Ok(())
    }

    fn plot_norms(&self, path: &Path) -> Result<(), String> {
        use plotters::prelude::*;
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "max ||A_i|| against depth M, with the HM bound",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d((1f64..4096f64).log_scale(), (1e-4f64..100f64).log_scale())
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("M")
            .y_desc("norm")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(|e| fail(&e))?;
        let shown = ["-I_4", "diag(-2, -0.5, 3, 1)", "random D=16 #0"];
        for (k, name) in shown.iter().enumerate() {
            let color = Palette99::pick(k).to_rgba();
            let pts: Vec<&NormPoint> = self.norms.iter().filter(|p| p.name == *name).collect();
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|p| (p.m as f64, p.max_norm)),
                    color.stroke_width(2),
                ))
                .map_err(|e| fail(&e))?
                .label(format!("{name}: max ||A_i||"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(
                    pts.iter()
                        .map(|p| Circle::new((p.m as f64, p.max_norm), 3, color.filled())),
                )
                .map_err(|e| fail(&e))?;
            chart
                .draw_series(DashedLineSeries::new(
                    pts.iter().filter_map(|p| p.bound.map(|b| (p.m as f64, b))),
                    6,
                    4,
                    color.stroke_width(1),
                ))
                .map_err(|e| fail(&e))?
                .label(format!("{name}: HM bound"))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(1))
                });
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
        Ok(())
    }

    fn plot_gradient(&self, path: &Path) -> Result<(), String> {
        use plotters::prelude::*;
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let root = SVGBackend::new(path, (800, 520)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| fail(&e))?;
        let top = self
            .gradients
            .iter()
            .map(|g| g.ratio)
            .filter(|r| r.is_finite())
            .fold(10.0, f64::max)
            * 2.0;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "||grad f||^2 / (4 M (1-tau)^(2M-2) sigma_min (f - C_opt)), D = 4, M = 8",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..1f64, (0.5f64..top).log_scale())
            .map_err(|e| fail(&e))?;
        chart
            .configure_mesh()
            .x_desc("tau = max ||A_i||   (blue: random points; red: the tight case A_i = -tau I)")
            .y_desc("ratio (>= 1)")
            .y_label_formatter(&|v| format!("{v:.0e}"))
            .draw()
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(
                self.gradients
                    .iter()
                    .map(|g| Circle::new((g.tau, g.ratio), 3, BLUE.filled())),
            )
            .map_err(|e| fail(&e))?;
        chart
            .draw_series(LineSeries::new(
                [(0.0, 1.0), (1.0, 1.0)],
                RED.stroke_width(2),
            ))
            .map_err(|e| fail(&e))?;
        root.present().map_err(|e| fail(&e))?;
        Ok(())
    }
}
