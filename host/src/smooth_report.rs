//! The smooth-map verification report (`nearid verify smooth`): runs the measurements of
//! docs/THEORY.md sections 4-5 on the test maps (the same functions the host tests assert on) and
//! writes `smooth-report.md` with SVG plots into a docs directory.

use std::fmt::Write as _;
use std::path::Path;

use nearid::smooth::{Normalised, Schedule};
use nearid::{ResNet, Rng, SmoothMap, Tanh, Vector};
use plotters::prelude::*;

use crate::smooth_check::*;
use crate::smooth_maps::*;

/// The depths of the schedule sweeps.
pub const SWEEP_MS: [usize; 5] = [4, 16, 64, 256, 1024];

/// Everything measured on one test map.
#[derive(Clone, Debug)]
pub struct MapSummary {
    /// Short name.
    pub name: &'static str,
    /// What the map is.
    pub description: &'static str,
    /// alpha, R, M estimates.
    pub constants: Constants,
    /// Worst |h_m o ... o h_1 (x) - h(x)| at m = 1024 over both schedules.
    pub exactness: f64,
    /// The uniform sweep.
    pub uniform: Vec<SweepRow>,
    /// The geometric sweep.
    pub geometric: Vec<SweepRow>,
}

/// Theorem-3 ratios of one network, per layer.
#[derive(Clone, Debug)]
pub struct Theorem3Series {
    /// Which network.
    pub name: String,
    /// The upper estimate of eps.
    pub eps: f64,
    /// ||D_{h_i} Q|| / bound, layer 1 first.
    pub ratios: Vec<f64>,
}

/// The report's figures.
#[derive(Clone, Debug)]
pub struct SmoothSummary {
    /// Per test map.
    pub maps: Vec<MapSummary>,
    /// The disc distillation at M = 4, 16, 64.
    pub distill: Vec<DistillRow>,
    /// Theorem 3 per network.
    pub theorem3: Vec<Theorem3Series>,
    /// The linear parts A = Dh(x0) of the normalised maps in 16 near-identity factors:
    /// (map, max ||A_i||, HM bound, ||A - I||).
    pub linear_parts: Vec<(&'static str, f64, f64, f64)>,
    /// Networks where the theorem does not apply (eps upper bound >= 1), with that bound.
    pub theorem3_skipped: Vec<(String, f64)>,
}

impl SmoothSummary {
    /// True when every checked bound holds: exactness below 1e-9, every layer below alpha R M
    /// (a_i - a_{i-1}) (estimates), the linear factors within the HM bound, theorem 3 >= 1.
    pub fn all_hold(&self) -> bool {
        let maps = self.maps.iter().all(|m| {
            m.exactness < 1e-9
                && m.uniform
                    .iter()
                    .chain(&m.geometric)
                    .all(|r| r.worst_bound_ratio <= 1.0)
        });
        let linear = self.linear_parts.iter().all(|&(_, n, b, _)| n <= b);
        maps && linear && self.worst_theorem3() >= 1.0
    }

    /// The smallest theorem-3 ratio over all networks and layers.
    pub fn worst_theorem3(&self) -> f64 {
        self.theorem3
            .iter()
            .flat_map(|s| s.ratios.iter().copied())
            .fold(f64::INFINITY, f64::min)
    }
}

fn map_summary<F: SmoothMap<f64, D> + Copy, const D: usize>(
    name: &'static str,
    description: &'static str,
    h: F,
    radius: f64,
    seed: u64,
) -> nearid::Result<MapSummary> {
    let points = ball_sample::<D>(radius, 30, 10, seed);
    let mut worst = 0.0f64;
    for schedule in [Schedule::Uniform, Schedule::Geometric(None)] {
        worst = worst.max(exactness(h, schedule, 1024, &points)?);
    }
    let (dense, constants) = dense_sample_and_constants(&h, radius, seed);
    Ok(MapSummary {
        name,
        description,
        constants,
        exactness: worst,
        uniform: sweep(h, Schedule::Uniform, &SWEEP_MS, &dense, &constants)?,
        geometric: sweep(h, Schedule::Geometric(None), &SWEEP_MS, &dense, &constants)?,
    })
}

/// The number of parts [`measure_with`] reports.
pub const MEASURE_STEPS: usize = 13;

/// Runs every measurement (a few seconds in a release build).
pub fn measure() -> nearid::Result<SmoothSummary> {
    measure_with(|_| ())
}

/// [`measure`], calling `starting(what)` before each of its [`MEASURE_STEPS`] parts (for a
/// progress bar).
pub fn measure_with(mut starting: impl FnMut(&str)) -> nearid::Result<SmoothSummary> {
    starting("linear parts");
    let tanh_net = Normalised::new(random_tanh_net(4), Vector::<f64, 4>::zeros())?;
    let flip = Normalised::new(Flip, Flip::base_point())?;
    let (_, lt) = tanh_net.factor_linear_part::<16>()?;
    let (_, lf) = flip.factor_linear_part::<16>()?;
    let eye4 = nearid::Matrix::<f64, 4, 4>::identity();
    let eye2 = nearid::Matrix::<f64, 2, 2>::identity();
    let linear_parts = vec![
        (
            "tanh-net",
            lt.max_norm,
            lt.bound.unwrap_or(f64::NAN),
            norm(&(tanh_net.linear_part() - eye4)),
        ),
        (
            "flip",
            lf.max_norm,
            lf.bound.unwrap_or(f64::NAN),
            norm(&(flip.linear_part() - eye2)),
        ),
    ];
    starting("map disc");
    let mut maps = Vec::new();
    maps.push(map_summary(
        "disc",
        "two shears (x + y^2/2, then y + u^2/2) on the unit disc, D = 2",
        TwoShears::DISC,
        1.0,
        1,
    )?);
    starting("map ball");
    maps.push(map_summary(
        "ball",
        "radial x (1 + 0.6 tanh r^2), r = norm of x, on the unit ball, D = 3",
        Radial::BALL,
        1.0,
        2,
    )?);
    starting("map tanh-net");
    maps.push(map_summary(
        "tanh-net",
        "random 3-block tanh network, normalised at 0, unit ball, D = 4",
        tanh_net,
        1.0,
        3,
    )?);
    starting("map flip");
    maps.push(map_summary(
        "flip",
        "B o shear with Dh(x0) eigenvalues -1.90, -0.51, normalised at x0, ball R = 0.5, D = 2",
        flip,
        0.5,
        5,
    )?);
    starting("distil M = 4");
    let held_out = ball_sample::<2>(1.0, 400, 0, 99);
    let (n4, r4) = distill_disc::<4>(&held_out, &disc_distill_config(4))?;
    starting("distil M = 16");
    let (n16, r16) = distill_disc::<16>(&held_out, &disc_distill_config(16))?;
    starting("distil M = 64");
    let (n64, r64) = distill_disc::<64>(&held_out, &disc_distill_config(64))?;
    starting("theorem 3, M = 4");
    let xs = ball_sample::<2>(1.0, 300, 0, 7);
    let disc = TwoShears::DISC;
    let mut theorem3_series = Vec::new();
    let mut push = |name: String, result: Option<(f64, Vec<Theorem3Row>)>| {
        if let Some((eps, rows)) = result {
            theorem3_series.push(Theorem3Series {
                name,
                eps,
                ratios: rows.iter().map(|r| r.ratio()).collect(),
            });
        }
    };
    let eps4 = n4
        .residual_lipschitz_uppers()
        .iter()
        .copied()
        .fold(0.0, f64::max);
    let mut skipped = Vec::new();
    match theorem3(&n4, &disc, &xs) {
        Some(r) => push("distilled disc M=4".into(), Some(r)),
        None => skipped.push(("distilled disc M=4".to_string(), eps4)),
    }
    starting("theorem 3, M = 16");
    push("distilled disc M=16".into(), theorem3(&n16, &disc, &xs));
    starting("theorem 3, M = 64");
    push("distilled disc M=64".into(), theorem3(&n64, &disc, &xs));
    let ball = ball_sample::<3>(1.0, 300, 0, 8);
    for (seed, scale) in [(1u64, 0.12), (4, 0.01)] {
        starting(&format!("theorem 3, random depth 8, scale {scale}"));
        let net = ResNet::<f64, 3, 6, 8, Tanh>::random(&mut Rng::new(seed), scale);
        push(
            format!("random depth 8 (scale {scale}) vs ball"),
            theorem3(&net, &Radial::BALL, &ball),
        );
    }
    Ok(SmoothSummary {
        maps,
        distill: vec![r4, r16, r64],
        theorem3: theorem3_series,
        theorem3_skipped: skipped,
        linear_parts,
    })
}

fn slope_of(rows: &[SweepRow]) -> f64 {
    log_slope(
        &rows.iter().map(|r| r.m as f64).collect::<Vec<_>>(),
        &rows.iter().map(|r| r.max_lip).collect::<Vec<_>>(),
    )
}

/// The one-line error of a plot that could not be drawn (the reports of growth_report.rs too).
pub(crate) fn plot_error(file: &Path, e: impl std::fmt::Display) -> String {
    format!("{}: cannot draw the plot: {e}", file.display())
}

/// max_i ||h_i - Id||_L against m, log-log, both schedules, with fitted slopes.
fn plot_sweep(file: &Path, map: &MapSummary) -> Result<(), String> {
    let root = SVGBackend::new(file, (640, 440)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(file, e))?;
    let all = map.uniform.iter().chain(&map.geometric);
    let lo = all.clone().map(|r| r.max_lip).fold(f64::INFINITY, f64::min) / 2.0;
    let hi = all.map(|r| r.max_lip).fold(0.0, f64::max) * 2.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: max_i ||h_i - Id||_L against m", map.name),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d((3.0f64..1400.0).log_scale(), (lo..hi).log_scale())
        .map_err(|e| plot_error(file, e))?;
    chart
        .configure_mesh()
        .x_desc("m (layers)")
        .y_desc("max_i ||h_i - Id||_L")
        .draw()
        .map_err(|e| plot_error(file, e))?;
    for (rows, colour, label) in [
        (&map.uniform, BLUE, "uniform"),
        (&map.geometric, RED, "geometric"),
    ] {
        let pts: Vec<(f64, f64)> = rows.iter().map(|r| (r.m as f64, r.max_lip)).collect();
        let last = rows.last().map_or(0.0, |r| r.constant);
        let text = format!(
            "{label}: slope {:.3}, {} max -> {last:.3}",
            slope_of(rows),
            if label == "uniform" { "m" } else { "(m/ln m)" }
        );
        chart
            .draw_series(LineSeries::new(pts.clone(), colour.stroke_width(2)))
            .map_err(|e| plot_error(file, e))?
            .label(text)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
        chart
            .draw_series(pts.iter().map(|&p| Circle::new(p, 4, colour.filled())))
            .map_err(|e| plot_error(file, e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerLeft)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(file, e))?;
    root.present().map_err(|e| plot_error(file, e))
}

/// Theorem-3 ratio per layer (x: layer / m), log scale, with the theorem's 1 and the proof's 2.
fn plot_theorem3(file: &Path, series: &[Theorem3Series]) -> Result<(), String> {
    let root = SVGBackend::new(file, (720, 460)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(file, e))?;
    let hi = series
        .iter()
        .flat_map(|s| s.ratios.iter().copied())
        .fold(2.0, f64::max)
        * 3.0;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            "Theorem 3: ||D_hi Q|| / ((1-eps)^(m-1) Q / ||h - h*||) per layer",
            ("sans-serif", 16),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0f64..1.05, (0.5f64..hi).log_scale())
        .map_err(|e| plot_error(file, e))?;
    chart
        .configure_mesh()
        .x_desc("layer i / m")
        .y_desc("ratio (theorem: >= 1)")
        .draw()
        .map_err(|e| plot_error(file, e))?;
    for (level, colour, label) in [
        (1.0, BLACK, "theorem: 1"),
        (2.0, RGBColor(120, 120, 120), "proof: 2"),
    ] {
        chart
            .draw_series(LineSeries::new(vec![(0.0, level), (1.05, level)], colour))
            .map_err(|e| plot_error(file, e))?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    for (k, s) in series.iter().enumerate() {
        let colour = Palette99::pick(k).to_rgba();
        let m = s.ratios.len() as f64;
        let pts: Vec<(f64, f64)> = s
            .ratios
            .iter()
            .enumerate()
            .map(|(i, &r)| ((i + 1) as f64 / m, r))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, colour.stroke_width(2)))
            .map_err(|e| plot_error(file, e))?
            .label(format!("{} (eps <= {:.3})", s.name, s.eps))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::MiddleRight)
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| plot_error(file, e))?;
    root.present().map_err(|e| plot_error(file, e))
}

/// The markdown of the report for measured figures (plots referenced by file name).
pub fn markdown(s: &SmoothSummary) -> String {
    let mut md = String::new();
    let w = &mut md;
    let _ = writeln!(
        w,
        "# Smooth maps as compositions of near-identity maps: verification report\n"
    );
    let _ = writeln!(
        w,
        "Generated by `cargo run -p nearid-host --release --bin nearid -- verify smooth` (docs/THEORY.md sections 4-5). The same\n\
         measurements are asserted by `cargo test -p nearid-host --test smooth_decomposition --test smooth_distill\n\
         --test smooth_theorem3 -- --nocapture`. All figures are f64 and come from the core (`nearid::smooth`):\n\
         its scaling decomposition, damped Newton inverse, Jacobians, backward pass and spectral-norm bounds.\n"
    );
    let _ = writeln!(
        w,
        "## Scaling decomposition h = h_m o ... o h_1, h_i = g_(a_i) o g_(a_(i-1))^-1\n"
    );
    let _ = writeln!(
        w,
        "||h_i - Id||_L is estimated as the maximum of ||D(h_i - Id)|| over the images g_(a_(i-1))(y) of 250 points y of\n\
         X (150 uniform in the ball, 100 on its sphere): a lower estimate of the supremum (finitely many points;\n\
         sparser in D = 4 than in D = 2).\n\
         alpha (Lipschitz constant of Dh) and M = ||h^-1||_L are sample maxima too (lower estimates); R is exact.\n\
         The fitted constants are m max_i (uniform) and (m / ln m) max_i (geometric, c = ln m / m, a_0 = 0);\n\
         \"bound ratio\" is max_i ||h_i - Id||_L / (alpha R M (a_i - a_(i-1))), which the derivation puts at <= 1.\n"
    );
    let _ = writeln!(
        w,
        "| map | alpha | R | M | alpha R M | exactness (m = 1024) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for m in &s.maps {
        let c = &m.constants;
        let _ = writeln!(
            w,
            "| {} ({}) | {:.4} | {} | {:.4} | {:.4} | {:.1e} |",
            m.name,
            m.description,
            c.alpha,
            c.radius,
            c.inverse_lipschitz,
            c.product(),
            m.exactness
        );
    }
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "| map | schedule | m | max_i Lip | fitted constant | bound ratio |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for m in &s.maps {
        for (name, rows) in [("uniform", &m.uniform), ("geometric", &m.geometric)] {
            for r in rows.iter() {
                let _ = writeln!(
                    w,
                    "| {} | {name} | {} | {:.3e} | {:.4} | {:.3} |",
                    m.name, r.m, r.max_lip, r.constant, r.worst_bound_ratio
                );
            }
        }
    }
    let _ = writeln!(
        w,
        "\nFitted slopes of ln max_i ||h_i - Id||_L against ln m (uniform: -1 for O(1/m); geometric: flatter, the\n\
         log factor), and for the geometric schedule also against ln(ln m / m) (1 for O(log m / m)):\n"
    );
    let _ = writeln!(
        w,
        "| map | uniform slope | m max_i (m = 1024) | geometric slope | slope vs ln(ln m / m) | (m / ln m) max_i (m = 1024) |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|");
    for m in &s.maps {
        let last = |rows: &[SweepRow]| rows.last().map_or(0.0, |r| r.constant);
        let _ = writeln!(
            w,
            "| {} | {:.3} | {:.4} | {:.3} | {:.3} | {:.4} |",
            m.name,
            slope_of(&m.uniform),
            last(&m.uniform),
            slope_of(&m.geometric),
            geometric_rate_slope(&m.geometric),
            last(&m.geometric)
        );
    }
    let _ = writeln!(w);
    for m in &s.maps {
        let _ = writeln!(w, "![{0}](smooth-lipschitz-{0}.svg)", m.name);
    }
    let _ = writeln!(
        w,
        "\nThe linear part A = Dh(x0) of the normalised maps, factored by the core's HM factorisation (docs/THEORY.md\n\
         section 1) into 16 near-identity factors, so h(x) = (I + A_16)...(I + A_1) h_m o ... o h_1 (x - x0) + h(x0)\n\
         (checked to 1e-9 in `smooth_decomposition`):\n"
    );
    let _ = writeln!(
        w,
        "| map | norm of A - I | max_i norm of A_i (L = 16) | HM bound |"
    );
    let _ = writeln!(w, "|---|---|---|---|");
    for (name, max_norm, bound, dist) in &s.linear_parts {
        let _ = writeln!(w, "| {name} | {dist:.4} | {max_norm:.4} | {bound:.4} |");
    }
    let _ = writeln!(
        w,
        "\n## Distillation of the disc map into tanh residual networks (H = 16)\n"
    );
    let _ = writeln!(
        w,
        "Block i learns (h_i - Id) / (a_i - a_(i-1)) on samples of g_(a_(i-1))(X) (uniform scales; warm start from\n\
         block i-1), its output layer is scaled back, then the network is fine-tuned on (x, h(x)). \"upper\" is the\n\
         core's guaranteed bound sup|s'| ||W2|| ||W1||, \"sample\" the maximum of ||Df_i - I|| over held-out block\n\
         inputs (lower). Held-out: 400 points uniform in the disc; the identity network's RMS error is the scale.\n"
    );
    let _ = writeln!(
        w,
        "| M | max_i upper | M x upper | max_i sample | M x sample | exact layers max_i | held-out RMS | identity RMS | train RMS |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|---|---|---|---|");
    let max = |v: &[f64]| v.iter().copied().fold(0.0, f64::max);
    for r in &s.distill {
        let (up, sa) = (max(&r.block_upper), max(&r.block_sample));
        let _ = writeln!(
            w,
            "| {} | {:.4} | {:.3} | {:.4} | {:.3} | {:.4} | {:.2e} | {:.3} | {:.2e} |",
            r.m,
            up,
            up * r.m as f64,
            sa,
            sa * r.m as f64,
            max(&r.target_lip),
            r.held_out_rms,
            r.identity_rms,
            (2.0 * r.train_loss).sqrt()
        );
    }
    let ms: Vec<f64> = s.distill.iter().map(|r| r.m as f64).collect();
    let slope = |f: &dyn Fn(&DistillRow) -> f64| {
        log_slope(&ms, &s.distill.iter().map(f).collect::<Vec<_>>())
    };
    let _ = writeln!(
        w,
        "\nFitted slopes against ln M: upper {:.3}, sample {:.3}, exact layers {:.3}.\n",
        slope(&|r| max(&r.block_upper)),
        slope(&|r| max(&r.block_sample)),
        slope(&|r| max(&r.target_lip))
    );
    let _ = writeln!(
        w,
        "## Theorem 3 (stationary points), sample form, every layer\n"
    );
    let _ = writeln!(
        w,
        "Ratio ||D_(h_i) Q|| / ((1 - eps)^(m-1) Q(h) / ||h - h*||) on 300 points, noise-free targets, with eps the\n\
         largest guaranteed upper bound on ||f_i - Id||_L (sound). The theorem says >= 1, its proof >= 2.\n\
         A ratio far above 2 means the bound is far below the measured gradient: the check holds but is vacuous\n\
         there (it would pass a gradient off by that factor); a ratio near 2 is the case with teeth.\n"
    );
    let _ = writeln!(
        w,
        "| network | eps (upper) | worst ratio | at layer | what the check shows |"
    );
    let _ = writeln!(w, "|---|---|---|---|---|");
    for t in &s.theorem3 {
        let (at, worst) =
            t.ratios
                .iter()
                .enumerate()
                .fold(
                    (0, f64::INFINITY),
                    |(a, b), (i, &r)| if r < b { (i + 1, r) } else { (a, b) },
                );
        // Within a factor 2 of the proof's 2: a gradient or a bound off by 2 would show.
        let teeth = if worst <= 4.0 {
            "has teeth (near the proof's 2)".to_string()
        } else {
            format!("vacuous: the bound is 1/{worst:.0} of the measured gradient")
        };
        let _ = writeln!(
            w,
            "| {} | {:.4} | {:.3} | {} of {} | {teeth} |",
            t.name,
            t.eps,
            worst,
            at,
            t.ratios.len()
        );
    }
    for (name, eps) in &s.theorem3_skipped {
        let _ = writeln!(
            w,
            "| {name} | {eps:.4} | not applicable: the eps bound is >= 1 | | |"
        );
    }
    let _ = writeln!(
        w,
        "\nWorst ratio over all networks and layers: {:.3}.\n",
        s.worst_theorem3()
    );
    let _ = writeln!(w, "![theorem 3](smooth-theorem3.svg)");
    md
}

/// Measures, then writes `smooth-report.md`, `smooth-lipschitz-<map>.svg` and
/// `smooth-theorem3.svg` into `docs` (created if missing). Errors name the file. `done` is
/// called as in [`measure_with`].
pub fn write_smooth_report(
    docs: &Path,
    starting: impl FnMut(&str),
) -> Result<SmoothSummary, String> {
    std::fs::create_dir_all(docs)
        .map_err(|e| format!("{}: cannot create the directory: {e}", docs.display()))?;
    let summary =
        measure_with(starting).map_err(|e| format!("smooth-map measurements failed: {e}"))?;
    for m in &summary.maps {
        plot_sweep(&docs.join(format!("smooth-lipschitz-{}.svg", m.name)), m)?;
    }
    plot_theorem3(&docs.join("smooth-theorem3.svg"), &summary.theorem3)?;
    let file = docs.join("smooth-report.md");
    std::fs::write(&file, markdown(&summary))
        .map_err(|e| format!("{}: cannot write: {e}", file.display()))?;
    Ok(summary)
}
