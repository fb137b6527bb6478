//! The `nearid` command-line tool. Subcommands are an enum each; `verify` has one variant per
//! report (`linear`, `smooth`).
//!
//! Results go to stdout, progress bars (indicatif) and errors to stderr. Every error is one line
//! naming the file and the problem; `--quiet` leaves only the errors. Progress bars show only
//! when stderr is a terminal (indicatif hides them otherwise), so logs and pipes stay clean.

use crate::dispatch::{DispatchError, MAX_DEPTH, MAX_DIM, factorize_f32, factorize_f64};
use crate::{linear_report, matrix_file, npy, smooth_report};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::path::PathBuf;

/// nearid: near-identity factorisations and verification reports.
#[derive(Debug, Parser)]
#[command(name = "nearid", version, about)]
pub struct Cli {
    /// No progress bars and nothing on stdout, for scripts: only errors are printed (stderr),
    /// and the exit status says whether the command succeeded.
    #[arg(long, short = 'q', global = true)]
    pub quiet: bool,
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
    /// docs/THEORY.md sections 1-2: factor norms against the HM bound, gradient bound, certificate.
    Linear(VerifyArgs),
    /// docs/THEORY.md sections 4-5: smooth maps as compositions of near-identity maps (both scale
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
    /// Number of factors M, from 1 to 4096 (the HM bound applies from M >= 3 gamma, and
    /// 3 gamma < 2234 for every finite float64 matrix).
    #[arg(long, short = 'm', value_name = "M", value_parser = parse_depth)]
    pub depth: usize,
    /// Write A_1 .. A_M here as one (M, D, D) float64 .npy array, A_1 first (applied first).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Arithmetic of the factorisation.
    #[arg(long, value_enum, default_value = "f64")]
    pub precision: Precision,
}

/// `--depth`: a whole number from 1 to [`MAX_DEPTH`] (the message is clap's "invalid value"
/// line).
fn parse_depth(text: &str) -> Result<usize, String> {
    use std::num::IntErrorKind;
    match text.parse::<usize>() {
        Ok(0) => Err("the depth must be at least 1".into()),
        Ok(m) if m <= MAX_DEPTH => Ok(m),
        Err(e) if *e.kind() != IntErrorKind::PosOverflow => {
            Err("not a whole number (write the depth in digits, e.g. 64)".into())
        }
        _ => Err(format!(
            "above the maximum depth {MAX_DEPTH} (the HM bound applies from M >= 3 gamma, \
             and 3 gamma < 2234 for every finite float64 matrix)"
        )),
    }
}

/// Where the tool talks: results to stdout and progress bars to stderr, both silenced by
/// `--quiet`. Errors are not its business: they go back to `main` as the `Err` of [`run`].
#[derive(Clone, Copy, Debug)]
struct Console {
    quiet: bool,
}

impl Console {
    /// Print a result (a line or a block of lines) unless quiet.
    fn say(self, text: &str) {
        if !self.quiet {
            println!("{}", text.trim_end_matches('\n'));
        }
    }

    /// A bar of `len` steps labelled `message` (hidden when quiet; indicatif also hides it
    /// when stderr is not a terminal).
    fn bar(self, len: usize, message: &'static str) -> ProgressBar {
        if self.quiet {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(len as u64);
        bar.set_style(
            ProgressStyle::with_template("{prefix} [{bar:40}] {pos}/{len} {msg} ({eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        bar.set_prefix(message);
        bar
    }
}

/// Run the tool; the error is the message to print (one line naming the file and the problem).
pub fn run(cli: Cli) -> Result<(), String> {
    let console = Console { quiet: cli.quiet };
    match cli.command {
        Command::Decompose(args) => decompose(&args, console),
        Command::Verify {
            what: Verify::Linear(args),
        } => verify_linear(&args, console),
        Command::Verify {
            what: Verify::Smooth(args),
        } => verify_smooth(&args, console),
    }
}

fn decompose(args: &DecomposeArgs, console: Console) -> Result<(), String> {
    let r = matrix_file::read_matrix(&args.matrix).map_err(|e| e.to_string())?;
    let name = args.matrix.display();
    if r.nrows() != r.ncols() {
        return Err(format!(
            "{name}: the matrix is {} x {}, but must be square",
            r.nrows(),
            r.ncols()
        ));
    }
    let f = match args.precision {
        Precision::F64 => factorize_f64(&r, args.depth),
        Precision::F32 => factorize_f32(&r, args.depth),
    }
    .map_err(|e| match e {
        DispatchError::Shape => format!("{name}: D = {} is outside 1..={MAX_DIM}", r.nrows()),
        DispatchError::Depth => format!("--depth {}: above the maximum {MAX_DEPTH}", args.depth),
        DispatchError::Core(nearid::Error::OutOfRange) => format!(
            "{name}: --depth {} is too small for factors I + A_i to carry R at this precision \
             (their rounding would be as large as R); use more factors",
            args.depth
        ),
        DispatchError::Core(e) => format!("{name}: {e}"),
    })?;
    let report = &f.report;
    let d = r.nrows();
    let mut text = String::new();
    let _ = writeln!(text, "{name}: D = {d}, M = {}", args.depth);
    let _ = writeln!(
        text,
        "  sigma_min = {:.6e}, sigma_max = {:.6e}, gamma = {:.6}, largest rotation angle = {:.6}",
        report.sigma_min, report.sigma_max, report.gamma, report.max_angle
    );
    let _ = writeln!(
        text,
        "  split: p = {} factors of P^(1/p) first, then q = {} factors of Q^(1/q)",
        report.p, report.q
    );
    let _ = writeln!(
        text,
        "  ||Pi(A) - R||_F / ||R||_F <= {:.2e} (the factors as written)",
        report.error_bound
    );
    let _ = writeln!(
        text,
        "  {:>12} {:>14} {:>14} {:>8}",
        "factors", "||A_i||", "HM bound", "ratio"
    );
    let bound = report.bound;
    let mut start = 0;
    for i in 1..=f.factors.len() {
        if i == f.factors.len() || f.factors[i] != f.factors[start] {
            let label = format!("A_{}..A_{}", start + 1, i);
            let norm = crate::sample::spectral_norm(&f.factors[start]);
            let _ = match bound {
                Some(b) => writeln!(
                    text,
                    "  {label:>12} {norm:>14.6e} {b:>14.6e} {:>8.4}",
                    norm / b
                ),
                None => writeln!(text, "  {label:>12} {norm:>14.6e} {:>14} {:>8}", "n/a", "-"),
            };
            start = i;
        }
    }
    if bound.is_none() {
        let _ = writeln!(
            text,
            "  (the HM bound applies for M >= 3 gamma = {:.2}; the factorisation is exact anyway)",
            3.0 * report.gamma
        );
    }
    let err = (f.product() - &r).norm() / r.norm();
    let _ = writeln!(text, "  ||Pi(A) - R||_F / ||R||_F = {err:.3e}");
    if let Some(out) = &args.out {
        std::fs::write(out, npy::npy_bytes(&f.factors, d))
            .map_err(|e| format!("{}: cannot write: {e}", out.display()))?;
        let _ = writeln!(
            text,
            "  wrote {} (shape ({}, {d}, {d}), A_1 first)",
            out.display(),
            args.depth
        );
    }
    console.say(&text);
    Ok(())
}

fn verify_linear(args: &VerifyArgs, console: Console) -> Result<(), String> {
    let bar = console.bar(linear_report::job_count(), "verify linear");
    let sweep = linear_report::run(|| bar.inc(1))?;
    bar.finish_and_clear();
    sweep.write(&args.out)?;
    console.say(&sweep.table());
    console.say(&format!(
        "wrote {}",
        args.out.join("linear-report.md").display()
    ));
    if sweep.all_hold() {
        Ok(())
    } else {
        Err("a bound failed: see the report".into())
    }
}

fn verify_smooth(args: &VerifyArgs, console: Console) -> Result<(), String> {
    let bar = console.bar(smooth_report::MEASURE_STEPS, "verify smooth");
    let mut parts = 0;
    let s = smooth_report::write_smooth_report(&args.out, |what| {
        bar.set_position(parts);
        bar.set_message(what.to_owned());
        parts += 1;
    })?;
    bar.finish_and_clear();
    let mut text = String::new();
    for m in &s.maps {
        let last = |rows: &[crate::smooth_check::SweepRow]| rows.last().map_or(0.0, |r| r.constant);
        let _ = writeln!(
            text,
            "{:>9}: m max_i Lip (uniform, m = 1024) = {:.4}, (m/ln m) max_i Lip (geometric) = {:.4}, alpha R M = {:.4}",
            m.name,
            last(&m.uniform),
            last(&m.geometric),
            m.constants.product()
        );
    }
    let _ = writeln!(text, "worst theorem-3 ratio: {:.3}", s.worst_theorem3());
    let _ = writeln!(
        text,
        "wrote {}",
        args.out.join("smooth-report.md").display()
    );
    console.say(&text);
    if s.all_hold() {
        Ok(())
    } else {
        Err("a bound failed: see the report".into())
    }
}
