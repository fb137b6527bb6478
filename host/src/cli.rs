//! The `nearid` command-line tool. Subcommands are an enum each; `verify` has one variant per
//! report (`linear`, `smooth`).

use crate::dispatch::{DispatchError, MAX_DIM, factorize_f32, factorize_f64};
use crate::{linear_report, npy, smooth_report};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// nearid: near-identity factorisations and verification reports.
#[derive(Debug, Parser)]
#[command(name = "nearid", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Factorise R (det R > 0) as (I + A_M) ... (I + A_1) with small A_i (HM Theorem 2.1).
    Decompose(DecomposeArgs),
    /// Run a verification sweep and write its report.
    Verify {
        /// Which report.
        #[command(subcommand)]
        what: Verify,
    },
}

/// `nearid verify ...`.
#[derive(Debug, Subcommand)]
pub enum Verify {
    /// THEORY.md sections 1-2: factor norms against the HM bound, gradient bound, certificate.
    Linear(VerifyArgs),
    /// THEORY.md sections 4-5: smooth maps as compositions of near-identity maps (both scale
    /// schedules), distillation into residual blocks, Theorem 3 per layer.
    Smooth(VerifyArgs),
}

/// Options of every `verify` report.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Directory for the markdown report and the SVG plots.
    #[arg(long, default_value = "docs")]
    pub out: PathBuf,
}

/// Arithmetic of the factorisation.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Precision {
    /// f64 (host reference).
    F64,
    /// f32 (what a microcontroller runs).
    F32,
}

/// `nearid decompose MATRIX --depth M --out FACTORS.npy`.
#[derive(Debug, Args)]
pub struct DecomposeArgs {
    /// The D x D matrix (D from 1 to 16): a .npy file (2-D, float or int) or CSV text.
    pub matrix: PathBuf,
    /// Number of factors M.
    #[arg(long, short = 'm')]
    pub depth: usize,
    /// Write A_1 .. A_M here as one (M, D, D) float64 .npy array, A_1 first (applied first).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Arithmetic of the factorisation.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
}

/// Run the tool; the error is the message to print (it names the file and the problem).
pub fn run(cli: Cli) -> Result<(), String> {
    match cli.command {
        Command::Decompose(args) => decompose(&args),
        Command::Verify {
            what: Verify::Linear(args),
        } => verify_linear(&args),
        Command::Verify {
            what: Verify::Smooth(args),
        } => verify_smooth(&args),
    }
}

fn decompose(args: &DecomposeArgs) -> Result<(), String> {
    let r = npy::read_matrix(&args.matrix).map_err(|e| e.to_string())?;
    let name = args.matrix.display();
    if r.nrows() != r.ncols() {
        return Err(format!(
            "{name}: the matrix is {} x {}, but must be square",
            r.nrows(),
            r.ncols()
        ));
    }
    if args.depth == 0 {
        return Err("--depth must be at least 1".into());
    }
    let f = match args.precision {
        Precision::F64 => factorize_f64(&r, args.depth),
        Precision::F32 => factorize_f32(&r, args.depth),
    }
    .map_err(|e| match e {
        DispatchError::Shape => format!("{name}: D = {} is outside 1..={MAX_DIM}", r.nrows()),
        DispatchError::Core(nearid::Error::OutOfRange) => format!(
            "{name}: --depth {} is too small for factors I + A_i to carry R at this precision \
             (their rounding would be as large as R); use more factors",
            args.depth
        ),
        DispatchError::Core(e) => format!("{name}: {e}"),
    })?;
    let report = &f.report;
    let d = r.nrows();
    println!("{name}: D = {d}, M = {}", args.depth);
    println!(
        "  sigma_min = {:.6e}, sigma_max = {:.6e}, gamma = {:.6}, largest rotation angle = {:.6}",
        report.sigma_min, report.sigma_max, report.gamma, report.max_angle
    );
    println!(
        "  split: p = {} factors of P^(1/p) first, then q = {} factors of Q^(1/q)",
        report.p, report.q
    );
    println!(
        "  ||Pi(A) - R||_F / ||R||_F <= {:.2e} (the factors as written)",
        report.error_bound
    );
    println!(
        "  {:>12} {:>14} {:>14} {:>8}",
        "factors", "||A_i||", "HM bound", "ratio"
    );
    let bound = report.bound;
    let mut rows: Vec<(String, &nalgebra::DMatrix<f64>)> = Vec::new();
    let mut start = 0;
    for i in 1..=f.factors.len() {
        if i == f.factors.len() || f.factors[i] != f.factors[start] {
            rows.push((format!("A_{}..A_{}", start + 1, i), &f.factors[start]));
            start = i;
        }
    }
    for (label, a) in rows {
        let norm = crate::sample::spectral_norm(a);
        match bound {
            Some(b) => println!("  {label:>12} {norm:>14.6e} {b:>14.6e} {:>8.4}", norm / b),
            None => println!("  {label:>12} {norm:>14.6e} {:>14} {:>8}", "n/a", "-"),
        }
    }
    if bound.is_none() {
        println!(
            "  (the HM bound applies for M >= 3 gamma = {:.2}; the factorisation is exact anyway)",
            3.0 * report.gamma
        );
    }
    let err = (f.product() - &r).norm() / r.norm();
    println!("  ||Pi(A) - R||_F / ||R||_F = {err:.3e}");
    if let Some(out) = &args.out {
        std::fs::write(out, npy::npy_bytes(&f.factors, d))
            .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
        println!(
            "  wrote {} (shape ({}, {d}, {d}), A_1 first)",
            out.display(),
            args.depth
        );
    }
    Ok(())
}

fn verify_linear(args: &VerifyArgs) -> Result<(), String> {
    let bar = indicatif::ProgressBar::new(linear_report::job_count() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar.set_message("verify linear");
    let sweep = linear_report::run(|| bar.inc(1))?;
    bar.finish_and_clear();
    sweep.write(&args.out)?;
    println!("{}", sweep.table());
    println!("wrote {}", args.out.join("linear-report.md").display());
    if sweep.all_hold() {
        Ok(())
    } else {
        Err("a bound failed: see the report".into())
    }
}

fn verify_smooth(args: &VerifyArgs) -> Result<(), String> {
    let s = smooth_report::write_smooth_report(&args.out)?;
    for m in &s.maps {
        let last = |rows: &[crate::smooth_check::SweepRow]| rows.last().map_or(0.0, |r| r.constant);
        println!(
            "{:>9}: m max_i Lip (uniform, m = 1024) = {:.4}, (m/ln m) max_i Lip (geometric) = {:.4}, alpha R M = {:.4}",
            m.name,
            last(&m.uniform),
            last(&m.geometric),
            m.constants.product()
        );
    }
    println!("worst theorem-3 ratio: {:.3}", s.worst_theorem3());
    println!("wrote {}", args.out.join("smooth-report.md").display());
    if s.all_hold() {
        Ok(())
    } else {
        Err("a bound failed: see the report".into())
    }
}
