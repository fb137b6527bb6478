//! `cargo xtask mutants`: mutation testing of the core with cargo-mutants (version 27), the
//! kept tool: each mutant is a small deliberate bug (an operator swapped, a function body
//! replaced by a default) put into `core/`, built, and run against the tests of the core and of
//! the host (`cargo test -p nearid -p nearid-host`). A mutant no test fails on is *missed*:
//! either a test is missing or the mutant is equivalent (it cannot change any result); every
//! missed mutant in the files of [`EXPLAIN_REQUIRED`] is either killed by a test or explained in
//! [`EXPLAINED`].
//!
//! - `cargo xtask mutants [--file PATH]... [--shard K/N] [--timeout S] [--jobs N]
//!   [--core-tests] [--without TEST]... [--missed]`: one run, its results under `target/mutants/<name>/`
//!   with a `run.json` saying what was run and how long it took (`--core-tests`: `cargo test -p
//!   nearid` only, for a first pass on a slow machine; `--without powercut`: also without
//!   core/tests/powercut.rs (6.8 s of the 11 s of tests) and the doctests; the report
//!   says which runs used them; `--missed`: only the mutants the records list as missed, in
//!   their files or the ones named, to see which new tests kill).
//! - `cargo xtask mutants --report`: records each run under `target/mutants/` in
//!   `xtask/mutants-runs/<name>.json` (kept in git: runs outlast the machine that ran them),
//!   then writes docs/MUTANTS.md from every record (a later run's outcome for a mutant
//!   replaces an earlier one's), with the mutants no run tested, per file, from `cargo mutants
//!   --list`.
//! - `cargo xtask mutants --ci`: the bounded set CI runs (from `cargo xtask test`, which
//!   installs cargo-mutants when it is missing): at most [`CI_MUTANTS`] mutants, a shard chosen
//!   by the commit so successive commits cover different ones, of the lines `core/` changed
//!   since main's merge base, or on main of [`CI_FILES`]; fails on a missed mutant that
//!   [`EXPLAINED`] does not list.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use xtask::cmd::{self, root};
use xtask::toolchain;

/// The cargo-mutants release this was written against (its output files and flags).
const VERSION: &str = "27";

/// At most this many mutants in CI: each costs an incremental build of the core's tests and
/// their run (measured in docs/MUTANTS.md), and CI must stay under 25 minutes.
const CI_MUTANTS: usize = 2;

/// The files CI samples on main: those every mutant of which the last run of the file caught
/// or explained (docs/MUTANTS.md), so that they stay that way.
const CI_FILES: [&str; 1] = ["core/src/fixed/*.rs"];

/// The files whose missed mutants must each be killed by a test or explained (training,
/// kernels, factorisation, certificate, fixed point).
pub const EXPLAIN_REQUIRED: [&str; 5] = [
    "core/src/sgd.rs",
    "core/src/kernels/",
    "core/src/factor/",
    "core/src/certificate.rs",
    "core/src/fixed/",
];

/// A missed mutant that is equivalent or out of the tests' reach, and why.
pub struct Explained {
    pub file: &'static str,
    /// cargo-mutants' description without its position.
    pub mutant: &'static str,
    /// The source line the mutant is on, trimmed: matched instead of a line number, so a line
    /// moving keeps its reason and a second mutant with the same description elsewhere in the
    /// function does not share it.
    pub code: &'static str,
    /// Where on that line (1-based, counted from its first non-blank character): two mutants
    /// with one description can share a line (`1.0 + a + b`).
    pub column: u32,
    pub reason: &'static str,
}

/// The explained mutants; in the report, a missed mutant in [`EXPLAIN_REQUIRED`] that none of
/// these matches is UNEXPLAINED.
pub const EXPLAINED: &[Explained] = &[
    Explained {
        file: "core/src/fixed/guard.rs",
        mutant: "replace > with >= in integer_bits",
        code: "let ulp = 1.0 / (1u128 << (if frac > 126 { 126 } else { frac })) as f64;",
        column: 36,
        reason: "equivalent: the two differ only at frac = 126, where both shift by 126",
    },
    Explained {
        file: "core/src/fixed/saturation.rs",
        mutant: "replace imp::add with ()",
        code: "COUNTS.add(f);",
        column: 1,
        reason: SATURATION_STATICS,
    },
    Explained {
        file: "core/src/fixed/saturation.rs",
        mutant: "replace imp::get -> u32 with 0",
        code: "COUNTS.get(f)",
        column: 1,
        reason: SATURATION_STATICS,
    },
    Explained {
        file: "core/src/fixed/saturation.rs",
        mutant: "replace imp::get -> u32 with 1",
        code: "COUNTS.get(f)",
        column: 1,
        reason: SATURATION_STATICS,
    },
    Explained {
        file: "core/src/fixed/saturation.rs",
        mutant: "replace imp::reset with ()",
        code: "COUNTS.reset(f);",
        column: 1,
        reason: SATURATION_STATICS,
    },
    Explained {
        file: "core/src/fixed/arith.rs",
        mutant: "replace < with <= in div",
        code: "let (n, d) = if d < zero { (-n, -d) } else { (n, d) };",
        column: 19,
        reason: "equivalent: d == 0 has returned above, so d < 0 and d <= 0 agree on every \
                 divisor that reaches this line",
    },
    Explained {
        file: "core/src/fixed/arith.rs",
        mutant: "replace == with != in dot_exact",
        code: "if F::Wide::BITS == 32 {",
        column: 18,
        reason: "equivalent below 2^32 products (16 GiB slices): it swaps which exact \
                 summation each format uses (Q4.12 gets the carries over i32, Q16.16 a \
                 wrapping i128 sum); both give the exact sum and whether it fits the wide type, \
                 so dot and dot_times_dot are unchanged (their exact-reference tests pass on it)",
    },
    Explained {
        file: "core/src/fixed/arith.rs",
        mutant: "replace > with >= in dot_exact",
        code: "carries = carries.saturating_add(if p > F::Wide::ZERO { 1 } else { -1 });",
        column: 39,
        reason: "equivalent: the sign test runs only when acc + p overflowed, which needs \
                 p != 0, and p = 0 is the only value where > and >= differ",
    },
    Explained {
        file: "core/src/fixed/rounding.rs",
        mutant: "replace < with <= in saturate_out_of_range",
        code: "F::from_bits(if w < F::Wide::ZERO {",
        column: 19,
        reason: "equivalent: reached only from saturate when the value does not fit, and 0 \
                 always fits, so < 0 and <= 0 agree on every input it sees",
    },
    Explained {
        file: "core/src/fixed/rounding.rs",
        mutant: "replace < with <= in clamp_out_of_range",
        code: "F::Wide::cast(if x < F::Wide::ZERO {",
        column: 20,
        reason: "equivalent: reached only from clamp_counted and clamp_counted_by_shifts when \
                 the value is out of range, and 0 always fits, so < 0 and <= 0 agree on every \
                 input it sees",
    },
    Explained {
        file: "core/src/certificate.rs",
        mutant: "replace + with - in excess_loss_bound",
        code: EXP_MARGIN_LINE,
        column: 60,
        reason: EXP_MARGIN,
    },
    Explained {
        file: "core/src/certificate.rs",
        mutant: "replace + with * in excess_loss_bound",
        code: EXP_MARGIN_LINE,
        column: 60,
        reason: EXP_MARGIN,
    },
    Explained {
        file: "core/src/sgd.rs",
        mutant: "replace > with == in for_each_entry",
        code: "if B > 1 {",
        column: 6,
        reason: BATCH_PATHS,
    },
    Explained {
        file: "core/src/sgd.rs",
        mutant: "replace > with < in for_each_entry",
        code: "if B > 1 {",
        column: 6,
        reason: BATCH_PATHS,
    },
    Explained {
        file: "core/src/sgd.rs",
        mutant: "replace > with >= in for_each_entry",
        code: "if B > 1 {",
        column: 6,
        reason: BATCH_PATHS,
    },
    Explained {
        file: "core/src/kernels/by_unit.rs",
        mutant: "replace * with / in <impl Kernels<T> for ByUnit>::update",
        code: "let a = [eta * T::ONE; B];",
        column: 14,
        reason: "equivalent: eta * 1 and eta / 1 are eta exactly in IEEE arithmetic (NaN and infinities included)",
    },
    Explained {
        file: "core/src/factor/mod.rs",
        mutant: "replace > with >= in factorize_into",
        code: "let a_p = if p > 0 {",
        column: 16,
        reason: UNUSED_ROOT,
    },
    Explained {
        file: "core/src/factor/mod.rs",
        mutant: "replace > with >= in factorize_into",
        code: "let a_q = if q > 0 {",
        column: 16,
        reason: UNUSED_ROOT,
    },
    Explained {
        file: "core/src/factor/mod.rs",
        mutant: "replace > with >= in factorize_into",
        code: "if p > 0 {",
        column: 6,
        reason: ZERO_FACTOR_NORM,
    },
    Explained {
        file: "core/src/factor/mod.rs",
        mutant: "replace > with >= in factorize_into",
        code: "if q > 0 {",
        column: 6,
        reason: ZERO_FACTOR_NORM,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace + with - in widest_gap",
        code: "let (mut width, mut mid) = (-T::ONE, (hi + lo) * half);",
        column: 42,
        reason: FIRST_GAP_REPLACES,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace + with * in widest_gap",
        code: "let (mut width, mut mid) = (-T::ONE, (hi + lo) * half);",
        column: 42,
        reason: FIRST_GAP_REPLACES,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace * with + in widest_gap",
        code: "let (mut width, mut mid) = (-T::ONE, (hi + lo) * half);",
        column: 48,
        reason: FIRST_GAP_REPLACES,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace * with / in widest_gap",
        code: "let (mut width, mut mid) = (-T::ONE, (hi + lo) * half);",
        column: 48,
        reason: FIRST_GAP_REPLACES,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace < with <= in widest_gap",
        code: "let inside = sorted.iter().copied().filter(|&x| x < hi && x > lo);",
        column: 51,
        reason: VALUE_ON_AN_END,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace > with >= in widest_gap",
        code: "let inside = sorted.iter().copied().filter(|&x| x < hi && x > lo);",
        column: 61,
        reason: VALUE_ON_AN_END,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in quaternion_step",
        code: "let g = [ru[0], -ru[1], -ru[2], -ru[3]];",
        column: 17,
        reason: I_PART_ZERO,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in left_matrix",
        code: "[[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]]",
        column: 6,
        reason: I_PART_ZERO,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in left_matrix",
        code: "[[a, -b, -c, -d], [b, a, -d, c], [c, d, a, -b], [d, -c, b, a]]",
        column: 44,
        reason: I_PART_ZERO,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in right_matrix",
        code: "[[a, -b, -c, -d], [b, a, d, -c], [c, -d, a, b], [d, c, -b, a]]",
        column: 6,
        reason: I_PART_ZERO,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in right_matrix",
        code: "[[a, -b, -c, -d], [b, a, d, -c], [c, -d, a, b], [d, c, -b, a]]",
        column: 56,
        reason: I_PART_ZERO,
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace + with - in quaternion_step",
        code: "*x = (0..4).fold(T::ZERO, |acc, k| acc + left[r][k] * right[k][c]);",
        column: 40,
        reason: "equivalent: the step G becomes -G, and (-G)^T M (-G) = G^T M G; S G turns to -S G, whose column pairs (the planes) and angles are the same",
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace < with <= in to_axis",
        code: "let sign = if w[0] < T::ZERO { -T::ONE } else { T::ONE };",
        column: 20,
        reason: "equivalent: at w_1 = 0 the rotation takes w to -|w| i instead of +|w| i, and either makes the 4 x 4 block-diagonal (the docs' +-)",
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "replace < with <= in axis_step",
        code: "let sign = if w[2] < T::ZERO { -T::ONE } else { T::ONE };",
        column: 20,
        reason: "equivalent: at w_3 = 0 the rotation takes -e_3 instead of +e_3 to w / |w|, \
                 and either puts the fixed vector on w's axis (the docs' +-)",
    },
    Explained {
        file: "core/src/factor/rotation.rs",
        mutant: "delete - in axis_step",
        code: "[T::ZERO, -k[2], k[1]],",
        column: 11,
        reason: "equivalent: k = (sign e_3) x (w / |w|) has k_3 = 0 as written, so -k[2] is -0 \
                 or 0 and every product the same",
    },
    Explained {
        file: "core/src/factor/svd.rs",
        mutant: "replace > with >= in reorthogonalise",
        code: "if k[i] > T::ZERO {",
        column: 9,
        reason: "equivalent: the columns are visited in decreasing k, so when a column j with \
                 k_j > 0 is projected, every column i before it has k_i >= k_j > 0",
    },
];

/// The quaternions of quaternion_step: to_axis returns (r_0, 0, r_2, r_3).
const I_PART_ZERO: &str = "equivalent: the sign flipped is that of the quaternion's i part, \
    which to_axis always returns as 0 (the rotation taking w to +-|w| i has no i component), \
    so the entry is -0 or 0 and every product the same";

/// widest_gap's starting midpoint.
const FIRST_GAP_REPLACES: &str = "equivalent: the starting midpoint is never returned, since \
    the first gap, hi - x >= 0 (the c_i are finite: they come from an SVD that succeeded), \
    exceeds the starting width -1 and replaces it";
/// widest_gap's window test.
const VALUE_ON_AN_END: &str = "equivalent: a value equal to an end of the window, taken in, \
    adds a gap of 0 beside that end, which the first positive gap replaces (the gaps sum to \
    hi - lo > 0): the same midpoint";

/// factorize_into's roots at p = 0 (q = 0).
const UNUSED_ROOT: &str = "equivalent: at p = 0 (q = 0) the root is taken at depth max(p, 1) = \
    1, P - I (Q - I), which no slot receives (none has i < p); its finiteness check cannot fail, \
    since p = 0 is chosen only with P within D eps of I (and Q - I has entries of at most 2)";
/// factorize_into's factor norms at p = 0 (q = 0).
const ZERO_FACTOR_NORM: &str = "equivalent: at p = 0 (q = 0) that factor is the zero matrix, \
    whose norm 0 leaves max_norm as it was (and its SVD cannot fail)";

/// The line of the excess-loss bound's margins.
const EXP_MARGIN_LINE: &str =
    "crate::upper::round_up(libm::exp(log_bound) * (1.0 + error + 2.0 * f64::EPSILON));";

/// Why its last margin is out of the tests' reach.
const EXP_MARGIN: &str = "not observable by a test: the mutant drops or shrinks the 2 eps \
     margin for exp's own rounding, which sits beside error = 8 eps sum |log terms| (at least \
     5.5 eps, the 2M term alone is ln 2 or more), a proven bound that real roundings stay far \
     inside; the bound could fall below the exact value only where the logs' roundings use up \
     nearly all of it, and none of the tests' inputs does (core/tests/certificate.rs holds \
     the bound between the formula and 1e-12 above it, and the exact case 1 to 14 eps)";

/// Why the choice of the update's batched path is equivalent.
const BATCH_PATHS: &str = "equivalent: the mutant only changes which batch sizes take \
     for_each_entry_batched; both paths compute every g_jk by the same fold of \
     gradient_entry over b = 0, 1, ... in the same order (for B = 1, 0 + v u rounds as u v \
     does), so every update is the same";

/// Why the firmware's saturation counters are out of cargo-mutants' reach.
const SATURATION_STATICS: &str = "out of reach on the host: this `imp` (the firmware's static \
     counters) is compiled only without std, and core's tests build with std (each test thread \
     counts its own); the `StaticCounts` it delegates to is held by a unit test, and the \
     firmware's golden logs under QEMU (`cargo xtask test`) pin the saturations it counts";

/// The hand-kept part of docs/MUTANTS.md (what was not run, the CI decision, costs).
const NOTES: &str = include_str!("../mutants-notes.md");

const USAGE: &str = "usage: cargo xtask mutants [--file PATH]... [--shard K/N] [--timeout S] \
                     [--jobs N] [--core-tests] [--without TEST]... [--missed] | --report | --ci";

/// Where the runs are kept.
fn runs_dir() -> PathBuf {
    root().join("target").join("mutants")
}

/// `cargo mutants`, checked to be the version this was written for.
fn cargo_mutants() -> Result<Command, String> {
    let install = format!("`cargo install cargo-mutants --version '^{VERSION}' --locked`");
    match toolchain::cargo_mutants_version() {
        None => {
            return Err(format!(
                "cargo-mutants is not installed; install it with {install}"
            ));
        }
        Some(v) if !toolchain::is_major(Some(&v), VERSION) => {
            return Err(format!(
                "cargo-mutants {v} found, {VERSION}.x needed ({install})"
            ));
        }
        Some(_) => {}
    }
    let mut c = cmd::cargo();
    c.args(["mutants", "--package", "nearid", "--no-shuffle"]);
    Ok(c)
}

/// One run's settings.
#[derive(Debug, Default)]
struct Run {
    files: Vec<String>,
    shard: Option<String>,
    timeout: Option<u64>,
    jobs: u32,
    core_tests: bool,
    /// Core integration tests (core/tests/NAME.rs) left out, with the doctests: for long runs,
    /// where one slow test would set the pace (a mutant only it catches shows as missed).
    without: Vec<String>,
    in_diff: Option<PathBuf>,
    /// Only the mutants the records list as missed (`--missed`: after new tests, are they
    /// caught now?), one cargo-mutants `--re` pattern each.
    missed: Vec<String>,
    /// Mutate the source tree itself and build in the workspace's own target directory in the
    /// test profile, with no baseline run (CI, where the tests just passed and were built).
    in_place: bool,
}

impl Run {
    fn name(&self) -> String {
        let mut name = if self.files.is_empty() {
            "all".to_string()
        } else {
            self.files
                .iter()
                .map(|f| {
                    f.trim_start_matches("core/src/")
                        .replace(['/', '.', '*'], "-")
                })
                .collect::<Vec<_>>()
                .join("+")
        };
        if let Some(shard) = &self.shard {
            name += &format!("-shard-{}", shard.replace('/', "-of-"));
        }
        if self.in_diff.is_some() {
            name += "-in-diff";
        }
        if self.core_tests {
            name += "-core-tests";
        }
        for t in &self.without {
            name += &format!("-without-{t}");
        }
        if !self.missed.is_empty() {
            name += "-missed";
        }
        name
    }

    fn command(&self, out: &Path) -> Result<Command, String> {
        let mut c = cargo_mutants()?;
        c.arg("--output").arg(out);
        if self.in_place {
            // One tree, so one job.
            c.args(["--in-place", "--baseline", "skip"]);
        } else {
            c.args(["--jobs", &self.jobs.max(1).to_string()]);
            // The workspace's `mutants` profile: no debug info, nearid at opt-level 1 (Cargo.toml).
            c.args(["--profile", "mutants"]);
        }
        self.select(&mut c);
        if let Some(shard) = &self.shard {
            c.args(["--shard", shard]);
        }
        if let Some(t) = self.timeout {
            c.args(["--timeout", &t.to_string()]);
        }
        c.args(["--test-package", "nearid"]);
        if !self.core_tests {
            c.args(["--test-package", "nearid-host"]);
        }
        for arg in self.test_targets()? {
            c.arg(format!("--cargo-test-arg={arg}"));
        }
        Ok(c)
    }

    /// With `--without`: `--lib` and `--test NAME` for each core integration test kept (naming
    /// them leaves the doctests out too); otherwise nothing, every target.
    fn test_targets(&self) -> Result<Vec<String>, String> {
        if self.without.is_empty() {
            return Ok(Vec::new());
        }
        let dir = root().join("core").join("tests");
        let entries = std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut names: Vec<String> = entries
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".rs").map(str::to_string))
            .collect();
        names.sort();
        for t in &self.without {
            if !names.contains(t) {
                return Err(format!("--without {t}: there is no core/tests/{t}.rs"));
            }
        }
        let mut args = vec!["--lib".to_string()];
        for n in names.iter().filter(|n| !self.without.contains(n)) {
            args.extend(["--test".to_string(), n.clone()]);
        }
        Ok(args)
    }

    /// The test command, as run.json and the report say it.
    fn tests(&self) -> String {
        let mut t = if self.core_tests {
            "cargo test -p nearid".to_string()
        } else {
            "cargo test -p nearid -p nearid-host".to_string()
        };
        if !self.without.is_empty() {
            t += &format!(" without {} and the doctests", self.without.join(", "));
        }
        t
    }

    /// The files or the diff whose mutants this run tests.
    fn select(&self, c: &mut Command) {
        for f in &self.files {
            c.args(["--file", f]);
        }
        if let Some(diff) = &self.in_diff {
            c.arg("--in-diff").arg(diff);
        }
        for re in &self.missed {
            c.arg("--re").arg(re);
        }
    }

    /// How many mutants this run would test (before sharding).
    fn count(&self) -> Result<usize, String> {
        let mut c = cargo_mutants()?;
        c.arg("--list");
        self.select(&mut c);
        Ok(cmd::output(&mut c)?
            .lines()
            .filter(|l| Mutant::parse(l).is_some())
            .count())
    }

    /// Runs cargo-mutants; its exit status says whether mutants were missed, which the report
    /// reads from the outcome files instead. Returns the run's directory.
    fn execute(&self) -> Result<PathBuf, String> {
        let dir = runs_dir().join(self.name());
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let started = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let clock = Instant::now();
        let mut command = self.command(&dir)?;
        println!("\n$ {command:?}");
        let status = command
            .status()
            .map_err(|e| format!("could not start cargo mutants: {e}"))?;
        let seconds = clock.elapsed().as_secs();
        let outcomes = dir.join("mutants.out");
        if !outcomes.join("outcomes.json").exists() {
            return Err(format!(
                "cargo mutants wrote no outcomes ({status}); see {}",
                outcomes.display()
            ));
        }
        let info = serde_json::json!({
            "files": self.files,
            "shard": self.shard,
            "timeout": self.timeout,
            "jobs": self.jobs.max(1),
            "tests": self.tests(),
            "in_diff": self.in_diff.is_some(),
            "started_unix": started,
            "seconds": seconds,
            "status": status.code(),
        });
        std::fs::write(dir.join("run.json"), info.to_string())
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        println!(
            "mutants: {} in {seconds} s ({status}); results in {}",
            self.name(),
            outcomes.display()
        );
        Ok(dir)
    }
}

pub fn main(args: &[String]) -> Result<(), String> {
    let mut run = Run {
        jobs: 1,
        ..Run::default()
    };
    let mut rest = args.iter();
    let mut missed_only = false;
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("`mutants {flag}` takes a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--report" => return report(),
            "--ci" => return ci(),
            "--file" => run.files.push(value()?),
            "--shard" => run.shard = Some(value()?),
            "--timeout" => {
                run.timeout = Some(value()?.parse().map_err(|_| "--timeout takes seconds")?)
            }
            "--jobs" | "-j" => run.jobs = value()?.parse().map_err(|_| "--jobs takes a number")?,
            "--core-tests" => run.core_tests = true,
            "--without" => {
                run.core_tests = true;
                run.without.push(value()?)
            }
            "--missed" => missed_only = true,
            other => return Err(format!("unknown flag `{other}`\n{USAGE}")),
        }
    }
    if missed_only {
        let missed = missed_mutants()?;
        if missed.is_empty() {
            return Err("--missed: the records list no missed mutant".into());
        }
        // cargo-mutants applies `--re` to every mutant but "delete field" ones, so the files
        // are named too (theirs run along: a few per file).
        if run.files.is_empty() {
            run.files = missed
                .iter()
                .map(|m| m.file.clone())
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
        }
        run.missed = missed.iter().map(|m| exactly(&m.line_text())).collect();
    }
    run.execute()?;
    report()
}

/// The outcome of one mutant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Caught,
    Missed,
    Unviable,
    Timeout,
}

const OUTCOMES: [(Outcome, &str); 4] = [
    (Outcome::Caught, "caught.txt"),
    (Outcome::Missed, "missed.txt"),
    (Outcome::Unviable, "unviable.txt"),
    (Outcome::Timeout, "timeout.txt"),
];

/// One line of cargo-mutants' outcome files: `core/src/sgd.rs:12:5: replace ... with ...`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Mutant {
    file: String,
    line: u32,
    column: u32,
    description: String,
}

impl Mutant {
    fn parse(line: &str) -> Option<Self> {
        let mut parts = line.splitn(4, ':');
        let file = parts.next()?.trim().to_string();
        let line_no = parts.next()?.trim().parse().ok()?;
        let column = parts.next()?.trim().parse().ok()?;
        let description = parts.next()?.trim().to_string();
        Some(Self {
            file,
            line: line_no,
            column,
            description,
        })
    }

    /// The line as cargo-mutants writes it ([`Mutant::parse`] reads it back).
    fn line_text(&self) -> String {
        format!(
            "{}:{}:{}: {}",
            self.file, self.line, self.column, self.description
        )
    }

    /// The reason [`EXPLAINED`] gives for this mutant, if one matches its file, description
    /// and the current text of its source line.
    fn explanation(&self) -> Option<&'static str> {
        let source = std::fs::read_to_string(root().join(&self.file)).ok()?;
        let line = source.lines().nth(self.line.checked_sub(1)? as usize)?;
        let indent = (line.len() - line.trim_start().len()) as u32;
        let column = self.column.checked_sub(indent)?;
        EXPLAINED
            .iter()
            .find(|e| {
                e.file == self.file
                    && e.mutant == self.description
                    && e.code == line.trim()
                    && e.column == column
            })
            .map(|e| e.reason)
    }

    fn must_be_explained(&self) -> bool {
        EXPLAIN_REQUIRED.iter().any(|f| self.file.starts_with(f))
    }
}

/// What one run directory holds.
struct RunResult {
    name: String,
    info: serde_json::Value,
    outcomes: Vec<(Mutant, Outcome)>,
}

fn read_run(dir: &Path) -> Result<RunResult, String> {
    let info_path = dir.join("run.json");
    let info =
        std::fs::read_to_string(&info_path).map_err(|e| format!("{}: {e}", info_path.display()))?;
    let info: serde_json::Value =
        serde_json::from_str(&info).map_err(|e| format!("{}: {e}", info_path.display()))?;
    let mut outcomes = Vec::new();
    for (outcome, file) in OUTCOMES {
        let path = dir.join("mutants.out").join(file);
        // cargo-mutants writes every file, empty when no mutant had that outcome.
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let lines = text.lines().filter(|l| !l.trim().is_empty());
        push_outcomes(&mut outcomes, outcome, lines, &path)?;
    }
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(RunResult {
        name,
        info,
        outcomes,
    })
}

/// Reads cargo-mutants' outcome lines (from an outcome file or a record) as `outcome`.
fn push_outcomes<'a>(
    outcomes: &mut Vec<(Mutant, Outcome)>,
    outcome: Outcome,
    lines: impl Iterator<Item = &'a str>,
    source: &Path,
) -> Result<(), String> {
    for line in lines {
        let mutant = Mutant::parse(line)
            .ok_or_else(|| format!("{}: cannot read `{line}`", source.display()))?;
        outcomes.push((mutant, outcome));
    }
    Ok(())
}

/// Where each run's outcomes are kept in the repository: a machine's `target/` does not
/// outlive it, and the report is made from every run so far, on whichever machine ran it.
fn records_dir() -> PathBuf {
    root().join("xtask").join("mutants-runs")
}

/// Records each run under `target/mutants/` as `xtask/mutants-runs/<name>.json` (its run.json
/// and its outcome lines), replacing an older record of the same name.
fn record_runs() -> Result<(), String> {
    let Ok(entries) = std::fs::read_dir(runs_dir()) else {
        return Ok(());
    };
    let records = records_dir();
    std::fs::create_dir_all(&records).map_err(|e| format!("{}: {e}", records.display()))?;
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.join("run.json").exists() {
            continue;
        }
        let run = read_run(&path)?;
        let mut outcomes = serde_json::Map::new();
        for (outcome, file) in OUTCOMES {
            let lines: Vec<String> = run
                .outcomes
                .iter()
                .filter(|(_, o)| *o == outcome)
                .map(|(m, _)| m.line_text())
                .collect();
            outcomes.insert(file.trim_end_matches(".txt").to_string(), lines.into());
        }
        let record = serde_json::json!({ "run": run.info, "outcomes": outcomes });
        let out = records.join(format!("{}.json", run.name));
        let text = serde_json::to_string_pretty(&record).map_err(|e| e.to_string())? + "\n";
        std::fs::write(&out, text).map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(())
}

/// One record of [`record_runs`].
fn read_record(path: &Path) -> Result<RunResult, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let record: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut outcomes = Vec::new();
    for (outcome, file) in OUTCOMES {
        let key = file.trim_end_matches(".txt");
        let lines = record["outcomes"][key]
            .as_array()
            .ok_or_else(|| format!("{}: no `outcomes.{key}` list", path.display()))?;
        let lines = lines.iter().map(|l| l.as_str().unwrap_or_default());
        push_outcomes(&mut outcomes, outcome, lines, path)?;
    }
    let name = path
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(RunResult {
        name,
        info: record["run"].clone(),
        outcomes,
    })
}

/// Every recorded run, oldest first (none when nothing has run).
fn read_runs() -> Result<Vec<RunResult>, String> {
    let dir = records_dir();
    let mut runs = Vec::new();
    // No runs yet: the report lists every mutant as not run.
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Ok(runs);
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "json") {
            runs.push(read_record(&path)?);
        }
    }
    runs.sort_by_key(|r| r.info["started_unix"].as_u64().unwrap_or(0));
    Ok(runs)
}

/// Each mutant's outcome in the latest run that tested it, with that run's name.
fn latest_outcomes(runs: &[RunResult]) -> BTreeMap<Mutant, (Outcome, String)> {
    let mut latest = BTreeMap::new();
    for run in runs {
        for (m, o) in &run.outcomes {
            latest.insert(m.clone(), (*o, run.name.clone()));
        }
    }
    latest
}

/// Every mutant whose latest recorded outcome is missed.
fn missed_mutants() -> Result<Vec<Mutant>, String> {
    Ok(latest_outcomes(&read_runs()?)
        .into_iter()
        .filter_map(|(m, (o, _))| (o == Outcome::Missed).then_some(m))
        .collect())
}

/// A regex matching `text` and nothing else: a mutant's whole name as `cargo mutants --list`
/// prints it, for `--re`.
fn exactly(text: &str) -> String {
    let mut re = String::from("^");
    for ch in text.chars() {
        if "\\.+*?()|[]{}^$".contains(ch) {
            re.push('\\');
        }
        re.push(ch);
    }
    re + "$"
}

/// Mutants per file of the core (`cargo mutants --list`, no build).
fn listed_per_file() -> Result<BTreeMap<String, usize>, String> {
    let mut c = cargo_mutants()?;
    let text = cmd::output(c.arg("--list"))?;
    let mut per_file = BTreeMap::new();
    for line in text.lines() {
        if let Some(m) = Mutant::parse(line) {
            *per_file.entry(m.file).or_insert(0) += 1;
        }
    }
    Ok(per_file)
}

fn report() -> Result<(), String> {
    record_runs()?;
    let runs = read_runs()?;
    let listed = listed_per_file()?;
    let latest = latest_outcomes(&runs);
    let text = render(&runs, &listed, &latest);
    let path = root().join("docs").join("MUTANTS.md");
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    let unexplained = latest
        .iter()
        .filter(|(m, (o, _))| *o == Outcome::Missed && m.must_be_explained())
        .filter(|(m, _)| m.explanation().is_none())
        .count();
    println!(
        "wrote {} ({} mutants tested of {} listed; {unexplained} missed and unexplained in the \
         files that need it)",
        path.display(),
        latest.len(),
        listed.values().sum::<usize>()
    );
    Ok(())
}

fn render(
    runs: &[RunResult],
    listed: &BTreeMap<String, usize>,
    latest: &BTreeMap<Mutant, (Outcome, String)>,
) -> String {
    let mut s = String::from(
        "# Mutation testing of the core\n\n\
         Generated by `cargo xtask mutants --report` (xtask/src/mutants.rs) from the runs of \
         `cargo xtask mutants`, recorded in `xtask/mutants-runs/`: cargo-mutants 27 puts one small \
         bug at a time into `core/` and runs the tests against it. *Caught*: a test failed; \
         *missed*: every test passed; *unviable*: the mutant does not build; *timeout*: the \
         tests ran past the limit (counted as caught by cargo-mutants, listed apart here).\n\n\
         ## Runs\n\n\
         | run | files | shard | tests | jobs | timeout (s) | mutants | wall time |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    if runs.is_empty() {
        s += "| (none yet) | | | | | | 0 | |\n";
    }
    for run in runs {
        let files = run.info["files"]
            .as_array()
            .map(|f| {
                f.iter()
                    .filter_map(|v| v.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|f| !f.is_empty())
            .unwrap_or_else(|| "all of core".into());
        let secs = run.info["seconds"].as_u64().unwrap_or(0);
        s += &format!(
            "| {} | {files}{} | {} | `{}` | {} | {} | {} | {}h {:02}m |\n",
            run.name,
            if run.info["in_diff"].as_bool() == Some(true) {
                " (in diff)"
            } else {
                ""
            },
            run.info["shard"].as_str().unwrap_or("all"),
            run.info["tests"].as_str().unwrap_or("?"),
            run.info["jobs"],
            run.info["timeout"]
                .as_u64()
                .map_or("auto".into(), |t| t.to_string()),
            run.outcomes.len(),
            secs / 3600,
            (secs % 3600) / 60
        );
    }
    s += "\n## Per file\n\n\
          | file | listed | tested | caught | missed | unviable | timeout |\n\
          |---|---|---|---|---|---|---|\n";
    let mut tested: BTreeMap<&str, [usize; 4]> = BTreeMap::new();
    for (m, (o, _)) in latest {
        tested.entry(m.file.as_str()).or_default()[*o as usize] += 1;
    }
    let mut totals = [0usize; 5];
    for (file, count) in listed {
        let t = tested.get(file.as_str()).copied().unwrap_or_default();
        let n: usize = t.iter().sum();
        s += &format!(
            "| {file} | {count} | {n} | {} | {} | {} | {} |\n",
            t[0], t[1], t[2], t[3]
        );
        totals[0] += count;
        for i in 0..4 {
            totals[i + 1] += t[i];
        }
    }
    s += &format!(
        "| **total** | {} | {} | {} | {} | {} | {} |\n",
        totals[0],
        totals[1..].iter().sum::<usize>(),
        totals[1],
        totals[2],
        totals[3],
        totals[4]
    );
    let untested: Vec<&String> = listed
        .keys()
        .filter(|f| !tested.contains_key(f.as_str()))
        .collect();
    if !untested.is_empty() {
        s += &format!(
            "\nNot run (no run above covered them): {}.\n",
            untested
                .iter()
                .map(|f| format!("`{f}`"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    s += "\n## Missed mutants\n\n\
          Each with its location; in the training, kernel, factorisation, certificate and \
          fixed-point files each is explained (equivalent, with the reason) or marked \
          UNEXPLAINED. A mutant killed by a test added after its run is tested again by the \
          next run of its file.\n\n";
    let missed: Vec<&Mutant> = latest
        .iter()
        .filter(|(_, (o, _))| *o == Outcome::Missed)
        .map(|(m, _)| m)
        .collect();
    if latest.is_empty() {
        s += "No mutant has been tested yet: none can be called missed or caught.\n";
    } else if missed.is_empty() {
        s += "None.\n";
    }
    for m in missed {
        let why = match (m.explanation(), m.must_be_explained()) {
            (Some(reason), _) => reason.to_string(),
            (None, true) => "UNEXPLAINED".to_string(),
            (None, false) => "(not required)".to_string(),
        };
        s += &format!(
            "- `{}:{}:{}`: {}. {why}\n",
            m.file, m.line, m.column, m.description
        );
    }
    let timeouts: Vec<&Mutant> = latest
        .iter()
        .filter(|(_, (o, _))| *o == Outcome::Timeout)
        .map(|(m, _)| m)
        .collect();
    if !timeouts.is_empty() {
        s += "\n## Timeouts\n\n";
        for m in timeouts {
            s += &format!(
                "- `{}:{}:{}`: {}\n",
                m.file, m.line, m.column, m.description
            );
        }
    }
    // What the runs above cannot say by themselves (what was not run and why, the CI
    // decision, the measured costs): kept by hand beside this file.
    s += "\n";
    s += NOTES;
    s
}

/// A number from the commit, to pick CI's shard (so successive commits test different
/// mutants of a large diff).
fn commit_number() -> u64 {
    cmd::output(
        Command::new("git")
            .current_dir(root())
            .args(["rev-parse", "HEAD"]),
    )
    .ok()
    .and_then(|h| u64::from_str_radix(h.trim().get(..12)?, 16).ok())
    .unwrap_or(0)
}

/// `cargo xtask test`'s step: [`ci`], with cargo-mutants installed first when it is missing.
pub fn ci_step() -> Result<(), String> {
    toolchain::ensure_cargo_mutants(VERSION)?;
    ci()
}

/// What CI runs, at most [`CI_MUTANTS`] mutants (a shard picked by the commit, so successive
/// commits test different ones), against core's tests, in place (the test binaries `cargo
/// xtask test` just built are rebuilt incrementally; no baseline: the tests just passed): on a
/// branch, the mutants of `core/`'s lines changed since main's merge base; on main, where that
/// is empty, the mutants of [`CI_FILES`]. Fails on a missed mutant not in [`EXPLAINED`].
pub fn ci() -> Result<(), String> {
    let git = |args: &[&str]| cmd::output(Command::new("git").current_dir(root()).args(args));
    let base = ["main", "origin/main"]
        .iter()
        .find_map(|b| git(&["merge-base", "HEAD", b]).ok())
        .ok_or("mutants: no `main` or `origin/main` to take the merge base with (fetch it)")?;
    let base = base.trim();
    let diff = git(&["diff", base, "--", "core/src"])?;
    let mut run = Run {
        // The unmutated tests already passed in this CI run; this limit is well above their
        // time (docs/MUTANTS.md).
        timeout: Some(600),
        jobs: 1,
        core_tests: true,
        in_place: true,
        ..Run::default()
    };
    let what = if diff.trim().is_empty() {
        run.files = CI_FILES.iter().map(|f| f.to_string()).collect();
        format!(
            "core/src is unchanged since main's merge base {base}: the mutants of {}, every one \
             caught or explained by the last run of its file",
            CI_FILES.join(", ")
        )
    } else {
        let dir = runs_dir();
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let diff_path = dir.join("ci.diff");
        std::fs::write(&diff_path, &diff).map_err(|e| format!("{}: {e}", diff_path.display()))?;
        run.in_diff = Some(diff_path);
        format!("the change since {base}")
    };
    let count = run.count()?;
    if count == 0 {
        println!("mutants: {what}: no mutants");
        return Ok(());
    }
    let shards = count.div_ceil(CI_MUTANTS);
    run.shard = (shards > 1).then(|| format!("{}/{shards}", commit_number() % shards as u64));
    println!(
        "mutants: {what}: {count} mutants; testing {}",
        run.shard
            .as_deref()
            .map_or("all".to_string(), |s| format!("shard {s}"))
    );
    let dir = run.execute()?;
    let result = read_run(&dir)?;
    let bad: Vec<String> = result
        .outcomes
        .iter()
        .filter(|(m, o)| *o == Outcome::Missed && m.explanation().is_none())
        .map(|(m, _)| m.line_text())
        .collect();
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "mutants no test catches (add a test, or explain it in xtask/src/mutants.rs):\n  {}",
            bad.join("\n  ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cargo_mutants_outcome_lines() {
        let m = Mutant::parse("core/src/sgd.rs:612:13: replace * with + in Rule<T>::direction")
            .unwrap();
        assert_eq!(m.file, "core/src/sgd.rs");
        assert_eq!((m.line, m.column), (612, 13));
        assert_eq!(m.description, "replace * with + in Rule<T>::direction");
        assert!(m.must_be_explained());
        // The records keep the line as written, and read it back to the same mutant.
        assert_eq!(Mutant::parse(&m.line_text()), Some(m));
        assert_eq!(Mutant::parse("no position here"), None);
    }

    #[test]
    fn a_missed_mutant_is_selected_by_its_whole_name() {
        let name = "core/src/x.rs:1:2: replace * with / in <impl A<T> for B>::f -> Result<T>";
        assert_eq!(
            exactly(name),
            "^core/src/x\\.rs:1:2: replace \\* with / in <impl A<T> for B>::f -> Result<T>$"
        );
        assert_eq!(exactly("a(b)|c"), "^a\\(b\\)\\|c$");
    }

    /// An explanation whose line has gone from its file explains nothing: it must be looked at
    /// again (the mutant may now be killed, or the reason changed with the code).
    #[test]
    fn every_explanation_names_a_line_of_its_file() {
        for e in EXPLAINED {
            let source = std::fs::read_to_string(root().join(e.file)).unwrap();
            assert!(
                source.lines().any(|l| l.trim() == e.code),
                "{}: no line `{}` for `{}`",
                e.file,
                e.code,
                e.mutant
            );
        }
    }
}
