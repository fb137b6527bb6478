//! The `nearid` command-line tool. Subcommands are an enum each; `verify` has one variant per
//! report (`linear`, `smooth`).
//!
//! Results go to stdout, progress bars (indicatif) and errors to stderr. Every error is one line
//! naming the file and the problem; `--quiet` leaves only the errors. Progress bars show only
//! when stderr is a terminal (indicatif hides them otherwise), so logs and pipes stay clean.

use crate::dispatch::{DispatchError, MAX_DEPTH, MAX_DIM, factorize_f32, factorize_f64};
use crate::network::{ActivationName, ScalarName};
use crate::{growth_report, linear_report, matrix_file, model_commands, npy, smooth_report};
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use std::fmt::Write as _;
use std::path::PathBuf;

/// nearid: train residual networks on your own data for microcontrollers; near-identity
/// factorisations and verification reports.
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
    /// Train a network on a CSV, .npy or .npz data file and save it as MODEL.npz.
    Train(TrainArgs),
    /// Loss (and accuracy) of a model on a data file.
    Eval(EvalArgs),
    /// A model's predictions for a data file, as CSV or .npy.
    Predict(PredictArgs),
    /// Convert MODEL.npz into the device's model file (.nid) in f32, Q16.16 or Q4.12.
    Export(ExportArgs),
    /// Convert a .nid model file (e.g. dumped from a device) into MODEL.npz.
    Import(ImportArgs),
}

const SHAPES: &str = "Compiled shapes: up to 16 inputs, blocks of width D = 16, up to 8 outputs \
(or 2 to 8 classes); hidden width H = 16, 32 or 64; depth M = 1, 2, 4, 8, 16 or 32; batch B = 1, \
8 or 32; f32, q16 (Q16.16) or q12 (Q4.12) arithmetic; relu, tanh or softplus.";

/// `nearid train DATA --inputs COLS --targets COLS ... --out MODEL.npz`.
#[derive(Debug, Args)]
#[command(after_help = SHAPES)]
pub struct TrainArgs {
    /// The data: CSV with a header row, a 2-D .npy array, or .npz with arrays x and y.
    pub data: PathBuf,
    /// Input columns: names or 0-based indices, comma separated, ranges such as 0-4 (default:
    /// the --init model's, or all of x in a .npz).
    #[arg(long, value_name = "COLS")]
    pub inputs: Option<String>,
    /// Target columns (the label column with --classify), as --inputs.
    #[arg(long, value_name = "COLS")]
    pub targets: Option<String>,
    /// Classification: the target column holds class labels (2 to 8 distinct values);
    /// softmax cross-entropy instead of the quadratic loss.
    #[arg(long)]
    pub classify: bool,
    /// Hidden width H of each block: 16, 32 or 64 [default: 32, or the --init model's].
    #[arg(long, value_name = "H", value_parser = parse_hidden)]
    pub hidden: Option<usize>,
    /// Number of residual blocks M: 1, 2, 4, 8, 16 or 32 [default: 4, or the --init model's].
    #[arg(long, value_name = "M", value_parser = parse_blocks)]
    pub depth: Option<usize>,
    /// The blocks' activation [default: relu, or the --init model's].
    #[arg(long, value_enum)]
    pub activation: Option<ActivationName>,
    /// The arithmetic of training: f32, or the microcontrollers' fixed point (q16 = Q16.16,
    /// q12 = Q4.12), bit for bit what the chip computes [default: f32, or the --init model's].
    #[arg(long, value_enum)]
    pub scalar: Option<ScalarName>,
    /// Passes over the training rows.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub epochs: u32,
    /// Samples per SGD step: 1 (as the chips train), 8 or 32.
    #[arg(long, value_name = "B", default_value_t = 1, value_parser = parse_batch)]
    pub batch: usize,
    /// Learning rate eta of plain SGD on the mean loss of a batch.
    #[arg(long, value_name = "X", default_value_t = 0.01)]
    pub lr: f64,
    /// The fraction of rows held out for validation (the best epoch is chosen on them).
    #[arg(long, value_name = "FRACTION", default_value_t = 0.2)]
    pub val: f64,
    /// Seeds the split, the shuffles, the initialisation and the fixed-point rounding.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Start from this model (fine-tuning): its shape, activation, columns and classes.
    #[arg(long, value_name = "MODEL.npz")]
    pub init: Option<PathBuf>,
    /// Grow depth while training: start with START blocks in use (1 ..= M, M = --depth, the
    /// capacity) and insert a block that leaves the network's function unchanged (W2 = 0,
    /// b2 = 0, W1 ~ N(0, 1/16)) whenever the training loss stalls, until m = M. The saved
    /// model keeps m. See docs/GROWTH.md.
    #[arg(long, value_name = "START", value_parser = parse_start)]
    pub grow: Option<usize>,
    /// With --grow: the stall rule's window. After each window of STEPS steps the mean
    /// training loss is compared with the previous window's; a relative improvement below
    /// --stall-threshold is a stall, and one block is inserted (the first window after a
    /// growth only sets the reference, so each depth trains at least two windows).
    #[arg(long, value_name = "STEPS", default_value_t = 500, requires = "grow",
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub stall_window: u32,
    /// With --grow: the relative improvement of the window mean below which the loss has
    /// stalled (0.01 = less than 1% better than the window before). The measured
    /// improvement is noisy, with a standard deviation of about s sqrt(2 / (STEPS B)) for
    /// per-sample losses of relative spread s and batch B: where that exceeds the true
    /// improvement a growth can come early; a longer window makes it rarer.
    #[arg(long, value_name = "R", default_value_t = 0.01, requires = "grow",
          value_parser = parse_threshold)]
    pub stall_threshold: f32,
    /// With --grow: where the new block goes: after the block whose gradient (over the
    /// stalled step's batch) is largest, or after the last block.
    #[arg(long, value_enum, default_value_t = GrowAt::Largest, requires = "grow")]
    pub grow_at: GrowAt,
    /// Where to write the trained model.
    #[arg(long, value_name = "MODEL.npz")]
    pub out: PathBuf,
}

/// Where `nearid train --grow` inserts a block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GrowAt {
    /// After the block with the largest gradient norm (ties: the first).
    Largest,
    /// After the last block in use.
    End,
}

/// `nearid eval MODEL.npz DATA`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The model: .npz, or a .nid file (its columns are then x0.., y0..: name them with
    /// --inputs and --targets).
    pub model: PathBuf,
    /// The data (as for train).
    pub data: PathBuf,
    /// Input columns (default: the model's names).
    #[arg(long, value_name = "COLS")]
    pub inputs: Option<String>,
    /// Target columns (default: the model's names).
    #[arg(long, value_name = "COLS")]
    pub targets: Option<String>,
    /// Run in this arithmetic instead of the model's own.
    #[arg(long, value_enum)]
    pub scalar: Option<ScalarName>,
}

/// `nearid predict MODEL.npz DATA --out PRED.csv`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// The model: .npz, or a .nid file (its input columns are then x0..: name them with
    /// --inputs).
    pub model: PathBuf,
    /// The data (as for train; target columns are not needed).
    pub data: PathBuf,
    /// Input columns (default: the model's names).
    #[arg(long, value_name = "COLS")]
    pub inputs: Option<String>,
    /// Run in this arithmetic instead of the model's own.
    #[arg(long, value_enum)]
    pub scalar: Option<ScalarName>,
    /// PRED.csv (a header, one row per sample; a classifier's predicted class first) or
    /// PRED.npy (float64, (N, D_out)).
    #[arg(long, value_name = "PRED.csv|PRED.npy")]
    pub out: PathBuf,
}

/// `nearid export MODEL.npz --scalar q12 --out MODEL.nid`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The model.
    pub model: PathBuf,
    /// The number format of the file (default: the model's own).
    #[arg(long, value_enum)]
    pub scalar: Option<ScalarName>,
    /// Where to write the .nid file.
    #[arg(long, value_name = "MODEL.nid")]
    pub out: PathBuf,
}

/// `nearid import MODEL.nid --out MODEL.npz`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The .nid file.
    pub model: PathBuf,
    /// Take the column and class names from this model (the one the device started from);
    /// without it they are x0.., y0.. and 0...
    #[arg(long, value_name = "MODEL.npz")]
    pub names_from: Option<PathBuf>,
    /// Where to write the .npz file.
    #[arg(long, value_name = "MODEL.npz")]
    pub out: PathBuf,
}

fn parse_choice(text: &str, choices: &[usize], what: &str) -> Result<usize, String> {
    let list: Vec<String> = choices.iter().map(usize::to_string).collect();
    match text.parse::<usize>() {
        Ok(v) if choices.contains(&v) => Ok(v),
        _ => Err(format!(
            "the tool is compiled for {what} {} (see --help)",
            list.join(", ")
        )),
    }
}

fn parse_hidden(text: &str) -> Result<usize, String> {
    parse_choice(text, &crate::compiled::HIDDEN, "H =")
}

fn parse_blocks(text: &str) -> Result<usize, String> {
    parse_choice(text, &crate::compiled::DEPTHS, "M =")
}

fn parse_batch(text: &str) -> Result<usize, String> {
    parse_choice(text, &crate::train::BATCHES, "B =")
}

/// `--grow START`: 1 ..= the largest compiled depth (the check against --depth is
/// [`Cli::check`]'s).
fn parse_start(text: &str) -> Result<usize, String> {
    let largest = crate::compiled::DEPTHS[crate::compiled::DEPTHS.len() - 1];
    match text.parse::<usize>() {
        Ok(0) => Err("the start depth must be at least 1 (a block to train)".into()),
        Ok(m) if m <= largest => Ok(m),
        Ok(_) => Err(format!(
            "more than the largest compiled depth M = {largest}"
        )),
        Err(_) => Err("not a whole number (the blocks to start with, e.g. 1)".into()),
    }
}

/// `--stall-threshold`: a finite number.
fn parse_threshold(text: &str) -> Result<f32, String> {
    match text.parse::<f32>() {
        Ok(r) if r.is_finite() => Ok(r),
        _ => Err("not a finite number (a relative improvement, e.g. 0.01)".into()),
    }
}

/// `nearid verify ...`.
#[derive(Debug, Subcommand)]
pub enum Verify {
    /// docs/THEORY.md sections 1-2: factor norms against the HM bound, gradient bound, certificate.
    Linear(VerifyArgs),
    /// docs/THEORY.md sections 4-5: smooth maps as compositions of near-identity maps (both scale
    /// schedules), distillation into residual blocks, Theorem 3 per layer.
    Smooth(VerifyArgs),
    /// Growing depth when training stalls (docs/GROWTH.md): fixed shallow, fixed full depth,
    /// grown with identity insertion and grown with random insertion, on three tasks, at the
    /// same steps and at the same compute.
    Growth(VerifyArgs),
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
pub struct Console {
    quiet: bool,
}

impl Console {
    /// Print a result (a line or a block of lines) unless quiet.
    pub fn say(self, text: &str) {
        if !self.quiet {
            println!("{}", text.trim_end_matches('\n'));
        }
    }

    /// A bar of `len` steps labelled `message` (hidden when quiet; indicatif also hides it
    /// when stderr is not a terminal).
    pub fn bar(self, len: usize, message: &'static str) -> ProgressBar {
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

impl Cli {
    /// The checks between arguments that clap's parsers cannot make alone, as a clap error
    /// (printed as one `error:` line, exit status 2): `--grow START` above `--depth M`.
    pub fn check(&self) -> Result<(), clap::Error> {
        use clap::CommandFactory;
        if let Command::Train(t) = &self.command
            && let Some(start) = t.grow
        {
            // Without --depth the capacity is the --init model's (checked when it is read) or
            // the default 4.
            let capacity = t.depth.or(t.init.is_none().then_some(4));
            if let Some(m) = capacity.filter(|&m| start > m) {
                return Err(Cli::command().error(
                    clap::error::ErrorKind::ArgumentConflict,
                    format!(
                        "--grow {start} is more than the capacity --depth {m}{}: the network \
                         starts with START <= M blocks in use",
                        if t.depth.is_none() {
                            " (the default)"
                        } else {
                            ""
                        }
                    ),
                ));
            }
        }
        Ok(())
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
        Command::Verify {
            what: Verify::Growth(args),
        } => verify_growth(&args, console),
        Command::Train(args) => model_commands::train(&args, console),
        Command::Eval(args) => model_commands::eval(&args, console),
        Command::Predict(args) => model_commands::predict(&args, console),
        Command::Export(args) => model_commands::export(&args, console),
        Command::Import(args) => model_commands::import(&args, console),
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

fn verify_growth(args: &VerifyArgs, console: Console) -> Result<(), String> {
    let bar = console.bar(growth_report::TASKS * 4, "verify growth");
    let report = growth_report::write_growth_report(&args.out, |what| {
        bar.set_message(what.to_owned());
        bar.inc(1);
    })?;
    bar.finish_and_clear();
    console.say(&growth_report::table(&report));
    console.say(&format!("wrote {}", args.out.join("GROWTH.md").display()));
    Ok(())
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
