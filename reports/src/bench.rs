//! `cargo xtask bench`: nearid against PyTorch and the Rust ML crates, side by side in one run,
//! written to docs/BENCHMARKS.md.
//!
//! For the default x86-64 target and for `-C target-cpu=native` (each in its own target
//! directory), it runs:
//! - the peak-rate microbenchmark (`benches/benches/peak.rs`),
//! - nearid's criterion benches (`benches/benches/train.rs`, f32),
//! - the Rust peers (candle, dfdx) in `benches/peers/`, a package of its own that only this task
//!   builds, with RAYON_NUM_THREADS=1,
//!
//! then PyTorch once (`benches/peers/torch_step.py`, one thread) when `import torch` works, and
//! the microcontrollers ([`crate::chips`]: every emulated board and format in QEMU, instruction
//! counts, floors, disassembly of the step). Every
//! system trains the same network from the same weights on the same batch (the Rust peers and
//! PyTorch check their first losses against nearid's before timing). Criterion results are read
//! from `<target dir>/criterion/**/new/{benchmark,estimates}.json` (median), only those written by
//! this run.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use serde_json::Value;
use xtask::cmd::{cargo, output, root, run};

use crate::chips;

const USAGE: &str = "usage: cargo xtask bench [--quick | --chips-only | --render-only]
  (none)          the desktop benchmarks and the microcontrollers (every QEMU board and format)
  --quick         1 s of measurement per desktop benchmark instead of 3 (for trying the pipeline)
  --chips-only    the microcontrollers alone (a few minutes): only their section of
                  docs/BENCHMARKS.md is rewritten, the desktop figures are kept
  --render-only   rewrite docs/BENCHMARKS.md from the last run's results (criterion's files,
                  <target dir>/bench-problems/{pytorch.jsonl,load,chips/}) without running anything";

/// The shapes (D, H, M, B) of the performance issue.
const SHAPES: [(usize, usize, usize, usize); 3] =
    [(8, 16, 8, 1), (16, 32, 32, 1), (64, 128, 16, 32)];
/// The Rust peers, as named in the criterion ids of `benches/peers/benches/peers.rs`.
const RUST_PEERS: [&str; 2] = ["candle", "dfdx"];
const TORCH_INSTALL: &str = "pip install torch";

/// One build configuration: a name, its RUSTFLAGS, and the target directories of the main
/// workspace and of the peers package, inside the workspace's target directory (`target/`, or
/// wherever `CARGO_TARGET_DIR` puts it: empty = that directory itself).
struct Build {
    name: &'static str,
    rustflags: &'static str,
    target: &'static str,
    peers_target: &'static str,
}

const BUILDS: [Build; 2] = [
    Build {
        name: "default target (x86-64)",
        rustflags: "",
        target: "",
        peers_target: "peers",
    },
    Build {
        name: "-C target-cpu=native",
        rustflags: "-C target-cpu=native",
        target: "native",
        peers_target: "peers-native",
    },
];

/// Seconds per call, keyed by (group, shape, system), e.g. ("train", "16x32x32x1", "nearid").
type Times = BTreeMap<(String, String, String), f64>;

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut seconds, mut render_only, mut chips_only) = (3, false, false);
    for a in args {
        match a.as_str() {
            "--quick" => seconds = 1,
            "--render-only" => render_only = true,
            "--chips-only" => chips_only = true,
            _ => return Err(format!("unknown argument `{a}`\n{USAGE}")),
        }
    }
    if render_only && chips_only {
        return Err(format!(
            "`--render-only` runs nothing, `--chips-only` runs the chips: choose one\n{USAGE}"
        ));
    }
    let machine = Machine::read();
    let base = xtask::cmd::target_dir(&mut cargo())?;
    let problems = base.join("bench-problems");
    if render_only {
        return render_only_report(&machine, &base, &problems);
    }
    // The microcontrollers first: a few minutes, and a missing tool shows before the long part.
    let chip_failures = chips::run_all(&base)?;
    let chips_done = || match chip_failures.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "the report is written, but some microcontroller runs failed:\n  {}",
            chip_failures.join("\n  ")
        )),
    };
    if chips_only {
        let path = root().join("docs/BENCHMARKS.md");
        let old = std::fs::read_to_string(&path).unwrap_or_default();
        write_report(&splice_chips(&old, &chips::render(&chips::load_all(&base))))?;
        return chips_done();
    }
    let load_before = load_average();
    let peers_manifest = root().join("benches/peers/Cargo.toml");
    let criterion_args = [
        "--warm-up-time".to_string(),
        "1".to_string(),
        "--measurement-time".to_string(),
        seconds.to_string(),
        "--noplot".to_string(),
    ];

    // The problem files PyTorch starts from (the weights and batch of the Rust benches).
    run(cargo()
        .env("CARGO_TARGET_DIR", base.join(BUILDS[0].peers_target))
        .env_remove("RUSTFLAGS")
        .args(["run", "--release", "--manifest-path"])
        .arg(&peers_manifest)
        .args(["--bin", "dump-problems", "--"])
        .arg(&problems))?;

    let mut results = Vec::new();
    for build in &BUILDS {
        let started = SystemTime::now();
        let flags = |c: &mut Command| {
            if build.rustflags.is_empty() {
                c.env_remove("RUSTFLAGS");
            } else {
                c.env("RUSTFLAGS", build.rustflags);
            }
        };
        let target = base.join(build.target);
        let peers_target = base.join(build.peers_target);
        for (bench, filter) in [("peak", "peak"), ("train", "f32(/fused)?$")] {
            let mut c = cargo();
            flags(&mut c);
            run(c
                .env("CARGO_TARGET_DIR", &target)
                .args(["bench", "-p", "nearid-benches", "--bench", bench, "--"])
                .args(&criterion_args)
                .arg(filter))?;
        }
        let mut c = cargo();
        flags(&mut c);
        run(c
            .env("CARGO_TARGET_DIR", &peers_target)
            .env("RAYON_NUM_THREADS", "1")
            .args(["bench", "--manifest-path"])
            .arg(&peers_manifest)
            .args(["--bench", "peers", "--"])
            .args(&criterion_args))?;
        let (times, peak) = collect(&base, build, started)?;
        results.push((build, times, peak));
    }

    let torch = pytorch(&problems, seconds)?;
    let load_after = load_average();
    let load = problems.join("load");
    std::fs::write(&load, format!("{load_before}\n{load_after}\n"))
        .map_err(|e| format!("{}: {e}", load.display()))?;
    write_report(&render(
        &machine,
        &results,
        &torch,
        &load_before,
        &load_after,
        &chips::load_all(&base),
    ))?;
    chips_done()
}

/// The marker of the paragraph that ends the report.
const REPRODUCE: &str = "\nReproduce: `cargo xtask bench`";

/// `report` with its microcontroller section replaced by `chips` (inserted before the closing
/// paragraph when it has none): `--chips-only` leaves the desktop figures of the last full run
/// as they are.
fn splice_chips(report: &str, chips: &str) -> String {
    let report = &report[..report.find(KEPT).unwrap_or(report.len())];
    let end = report.find(REPRODUCE).unwrap_or(report.len());
    let start = report[..end].find(chips::HEADING).unwrap_or(end);
    format!("{}{chips}{}", &report[..start], &report[end..])
}

/// The heading of the section of docs/BENCHMARKS.md measured outside this task (a comparison
/// with an older commit, whose build this task cannot make): kept from the file's last version
/// by every rewrite, at the end.
const KEPT: &str = "\n## Against an older commit";

/// `report` followed by the [`KEPT`] section of `old`, if it has one.
fn keep_section(report: &str, old: &str) -> String {
    match old.find(KEPT) {
        Some(start) => format!("{report}{}", &old[start..]),
        None => report.to_string(),
    }
}

fn write_report(report: &str) -> Result<(), String> {
    let path = root().join("docs/BENCHMARKS.md");
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    let old = std::fs::read_to_string(&path).unwrap_or_default();
    let report = keep_section(report, &old);
    std::fs::write(&path, &report).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("\n{report}\nwrote {}", path.display());
    Ok(())
}

/// The report from the results the last full run left on disk.
fn render_only_report(machine: &Machine, base: &Path, problems: &Path) -> Result<(), String> {
    let mut results = Vec::new();
    for build in &BUILDS {
        let (times, peak) = collect(base, build, SystemTime::UNIX_EPOCH)?;
        results.push((build, times, peak));
    }
    let saved = problems.join("pytorch.jsonl");
    let torch = match std::fs::read_to_string(&saved) {
        Ok(out) => parse_torch(&out),
        Err(e) => Torch::Missing(format!(
            "no saved PyTorch results ({}: {e})",
            saved.display()
        )),
    };
    let load = std::fs::read_to_string(problems.join("load")).unwrap_or_default();
    let mut lines = load.lines();
    let before = lines.next().unwrap_or("unknown").to_string();
    let after = lines.next().unwrap_or("unknown").to_string();
    let chips = chips::load_all(base);
    write_report(&render(machine, &results, &torch, &before, &after, &chips))
}

/// nearid's and the Rust peers' seconds per call in `build` (its directories under `base`), and
/// the peak microbenchmark's seconds per call, from criterion results written at or after `since`.
fn collect(base: &Path, build: &Build, since: SystemTime) -> Result<(Times, Option<f64>), String> {
    let mut times = Times::new();
    let mut peak = None;
    for dir in [base.join(build.target), base.join(build.peers_target)] {
        for (id, ns) in criterion_results(&dir.join("criterion"), since)? {
            let parts: Vec<&str> = id.split('/').collect();
            match parts.as_slice() {
                ["peak", "mul_add"] => peak = Some(ns * 1e-9),
                [group, shape, "f32"] | [group, shape, "f32", "fused"] => {
                    times.insert(
                        (group.to_string(), shape.to_string(), "nearid".into()),
                        ns * 1e-9,
                    );
                }
                [group, shape, peer] if RUST_PEERS.contains(peer) => {
                    times.insert(
                        (group.to_string(), shape.to_string(), peer.to_string()),
                        ns * 1e-9,
                    );
                }
                _ => {}
            }
        }
    }
    Ok((times, peak))
}

/// What /proc/cpuinfo says about the CPU, and the peak f32 rate that follows from it.
struct Machine {
    model: String,
    mhz: f64,
    cores: usize,
    /// f32 lanes of the widest vector unit: 16 (AVX-512), 8 (AVX2), 4 (SSE).
    lanes: usize,
    fma: bool,
}

impl Machine {
    fn read() -> Self {
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let field = |name: &str| {
            info.lines()
                .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default()
        };
        let flags = field("flags");
        let has = |f: &str| flags.split_whitespace().any(|x| x == f);
        let lanes = if has("avx512f") {
            16
        } else if has("avx2") || has("avx") {
            8
        } else {
            4
        };
        Self {
            model: field("model name"),
            mhz: field("cpu MHz").parse().unwrap_or(0.0),
            cores: info.lines().filter(|l| l.starts_with("processor")).count(),
            lanes,
            fma: has("fma"),
        }
    }

    /// lanes x 2 pipes x 2 flops (an FMA) per cycle x clock: the nominal peak of one core, taking
    /// two FMA (or, without FMA, one multiply and one add) pipes as on current x86 cores.
    fn nominal_peak(&self) -> f64 {
        let per_cycle = if self.fma {
            self.lanes * 2 * 2
        } else {
            self.lanes * 2
        };
        per_cycle as f64 * self.mhz * 1e6
    }
}

/// Flops of one step (counting a multiply-add as 2): the forward pass is 2 per weight per sample,
/// the backward pass 4 (input gradient and weight gradient), the update 2 per weight; the
/// forward alone is 2 per weight per sample. Biases are counted like weights.
fn flops(group: &str, (d, h, m, b): (usize, usize, usize, usize)) -> f64 {
    let params = (m * (2 * d * h + d + h)) as f64;
    match group {
        "forward" => 2.0 * b as f64 * params,
        _ => 6.0 * b as f64 * params + 2.0 * params,
    }
}

/// PyTorch's figures, or why there are none.
enum Torch {
    Missing(String),
    Ran {
        version: String,
        times: Times,
        checks: Vec<String>,
    },
}

fn pytorch(problems: &Path, seconds: u32) -> Result<Torch, String> {
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    let probe = Command::new(&python).args(["-c", "import torch"]).output();
    match probe {
        Err(e) => {
            return Ok(Torch::Missing(format!(
                "`{python}` could not be started ({e})"
            )));
        }
        Ok(o) if !o.status.success() => {
            let why = String::from_utf8_lossy(&o.stderr);
            let last = why.lines().last().unwrap_or("").trim().to_string();
            return Ok(Torch::Missing(format!(
                "`import torch` failed in `{python}`: {last}"
            )));
        }
        Ok(_) => {}
    }
    let script = root().join("benches/peers/torch_step.py");
    let out = output(
        Command::new(&python)
            .arg(&script)
            .arg("--problems")
            .arg(problems)
            .args(["--seconds", &seconds.to_string()])
            .env("OMP_NUM_THREADS", "1"),
    )?;
    print!("{out}");
    let saved = problems.join("pytorch.jsonl");
    std::fs::write(&saved, &out).map_err(|e| format!("{}: {e}", saved.display()))?;
    Ok(parse_torch(&out))
}

/// PyTorch's results: one JSON object per line (`benches/peers/torch_step.py`), a `version`, a
/// `check` per shape with its `max_relative_difference`, and a `median_s` per (`group`,
/// `shape`). Lines that are not JSON (its progress messages) are skipped.
fn parse_torch(out: &str) -> Torch {
    let (mut version, mut times, mut checks) = (String::new(), Times::new(), Vec::new());
    for line in out.lines() {
        let Ok(v) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let text = |key: &str| v.get(key).and_then(Value::as_str).map(String::from);
        if let Some(found) = text("version") {
            version = found;
        } else if let Some(shape) = text("check") {
            let worst = v
                .get("max_relative_difference")
                .and_then(Value::as_f64)
                .unwrap_or(f64::NAN);
            checks.push(format!("{shape}: {worst:.1e}"));
        } else if let (Some(group), Some(shape), Some(s)) = (
            text("group"),
            text("shape"),
            v.get("median_s").and_then(Value::as_f64),
        ) {
            times.insert((group, shape, "pytorch".into()), s);
        }
    }
    Torch::Ran {
        version,
        times,
        checks,
    }
}

/// (full id, median ns) of every criterion benchmark under `dir` written at or after `since`.
fn criterion_results(dir: &Path, since: SystemTime) -> Result<Vec<(String, f64)>, String> {
    let mut found = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "new") {
                    if let Some(r) = read_estimate(&p, since)? {
                        found.push(r);
                    }
                } else {
                    stack.push(p);
                }
            }
        }
    }
    Ok(found)
}

fn read_estimate(new: &Path, since: SystemTime) -> Result<Option<(String, f64)>, String> {
    let estimates: PathBuf = new.join("estimates.json");
    let fresh = std::fs::metadata(&estimates)
        .and_then(|m| m.modified())
        .is_ok_and(|t| t >= since);
    if !fresh {
        return Ok(None);
    }
    let read = |p: &Path| -> Result<Value, String> {
        let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", p.display()))
    };
    let benchmark = read(&new.join("benchmark.json"))?;
    let id = benchmark["full_id"]
        .as_str()
        .ok_or_else(|| format!("{}: no full_id", new.display()))?;
    // {"mean":{...},"median":{"confidence_interval":{...},"point_estimate":N,...},...}
    let median = read(&estimates)?["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| format!("{}: no median point_estimate", estimates.display()))?;
    Ok(Some((id.to_string(), median)))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

/// A duration in the unit that suits it.
fn duration(s: f64) -> String {
    if s < 1e-6 {
        format!("{:.0} ns", s * 1e9)
    } else if s < 1e-3 {
        format!("{:.2} us", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn shape_name((d, h, m, b): (usize, usize, usize, usize)) -> String {
    format!("{d}x{h}x{m}x{b}")
}

fn render(
    machine: &Machine,
    results: &[(&Build, Times, Option<f64>)],
    torch: &Torch,
    load_before: &str,
    load_after: &str,
    chips: &[chips::Outcome],
) -> String {
    let mut r = String::new();
    let nominal = machine.nominal_peak();
    let measured_peak = results
        .iter()
        .filter_map(|(_, _, p)| p.map(|s| (2 * 64 * 4096) as f64 / s))
        .fold(0.0f64, f64::max);
    let peak = if measured_peak > 0.0 {
        measured_peak
    } else {
        nominal
    };
    let _ = writeln!(r, "# Benchmarks\n");
    let _ = writeln!(
        r,
        "Written by `cargo xtask bench` (do not edit by hand). One training step of the residual \
         MLP x + W2 relu(W1 x + b1) + b2 (M blocks, width D, hidden H) on a batch of B, quadratic \
         loss (batch mean of 1/2 ||y^ - y||^2), plain SGD, f32, one thread, in every system, from \
         the same weights and batch (`benches/peers/src/lib.rs`; the peers' first three losses are \
         checked against nearid's before timing). Forward = the batch's outputs alone. Times are \
         criterion medians (PyTorch: median of 15 timed samples)."
    );
    let _ = writeln!(r, "\n## Machine\n");
    let _ = writeln!(
        r,
        "- CPU: {} ({} logical cores visible), {:.0} MHz (/proc/cpuinfo), {}-lane f32 vectors{}",
        machine.model,
        machine.cores,
        machine.mhz,
        machine.lanes,
        if machine.fma { ", FMA" } else { "" }
    );
    let _ = writeln!(
        r,
        "- Load average (1, 5, 15 min) before the run: {load_before}; after: {load_after}. The \
         machine is shared: figures taken under load are noisy, for every system alike."
    );
    let _ = writeln!(
        r,
        "- Peak f32 rate of one core: nominal {:.1} GFLOP/s ({} lanes x 2 FMA pipes x 2 flops x clock); \
         measured {:.1} GFLOP/s (`benches/benches/peak.rs`: 64 independent multiply-add chains, \
         best of the two builds). Fractions of peak below use {}.",
        nominal * 1e-9,
        machine.lanes,
        measured_peak * 1e-9,
        if measured_peak > 0.0 {
            "the measured peak"
        } else {
            "the nominal peak"
        }
    );
    let _ = writeln!(
        r,
        "- Flops per step: 6 B P + 2 P for a training step (forward 2, backward 4 per parameter \
         per sample, update 2 per parameter), 2 B P for the forward pass, P = M (2 D H + D + H)."
    );
    match torch {
        Torch::Missing(why) => {
            let _ = writeln!(r, "- PyTorch: not installed ({TORCH_INSTALL}): {why}");
        }
        Torch::Ran {
            version, checks, ..
        } => {
            let _ = writeln!(
                r,
                "- PyTorch {version}, `torch.set_num_threads(1)`, run once (its figures appear in \
                 both tables); loss check against nearid (max relative difference): {}",
                checks.join(", ")
            );
        }
    }
    let torch_times = match torch {
        Torch::Ran { times, .. } => Some(times),
        Torch::Missing(_) => None,
    };
    for (build, times, peak_s) in results {
        let _ = writeln!(r, "\n## {}\n", build.name);
        if let Some(s) = peak_s {
            let _ = writeln!(
                r,
                "Peak microbenchmark in this build: {:.1} GFLOP/s.\n",
                (2 * 64 * 4096) as f64 / s * 1e-9
            );
        }
        let mut systems: Vec<&str> = vec!["nearid"];
        systems.extend(RUST_PEERS);
        if torch_times.is_some() {
            systems.push("pytorch");
        }
        let _ = write!(r, "| step | D x H x M x B |");
        for s in &systems {
            let _ = write!(r, " {s} |");
        }
        let _ = writeln!(r, " nearid GFLOP/s | nearid % of peak |");
        let _ = writeln!(r, "|---|---|{}---|---|", "---|".repeat(systems.len()));
        for group in ["train", "forward"] {
            for shape in SHAPES {
                let name = shape_name(shape);
                let get = |system: &str| {
                    let key = (group.to_string(), name.clone(), system.to_string());
                    if system == "pytorch" {
                        torch_times.and_then(|t| t.get(&key).copied())
                    } else {
                        times.get(&key).copied()
                    }
                };
                let ours = get("nearid");
                let _ = write!(r, "| {group} | {name} |");
                for s in &systems {
                    let cell = match (get(s), ours) {
                        (Some(t), Some(n)) if *s != "nearid" => {
                            format!("{} ({:.1}x)", duration(t), t / n)
                        }
                        (Some(t), _) => duration(t),
                        (None, _) => "not measured".into(),
                    };
                    let _ = write!(r, " {cell} |");
                }
                match ours {
                    Some(t) => {
                        let rate = flops(group, shape) / t;
                        let _ = writeln!(r, " {:.2} | {:.1}% |", rate * 1e-9, 100.0 * rate / peak);
                    }
                    None => {
                        let _ = writeln!(r, " | |");
                    }
                }
            }
        }
        let _ = writeln!(
            r,
            "\n(x) = the peer's time / nearid's: above 1, nearid is faster."
        );
        let _ = writeln!(r, "\nTargets of the performance issue (training step):\n");
        let ratio = |shape, system: &str| {
            let key = |s: &str| ("train".to_string(), shape_name(shape), s.to_string());
            let ours = times.get(&key("nearid"))?;
            let theirs = if system == "pytorch" {
                torch_times?.get(&key(system))
            } else {
                times.get(&key(system))
            }?;
            Some(theirs / ours)
        };
        let verdict = |r: Option<f64>, goal: f64| match r {
            Some(r) if r >= goal => format!("{r:.1}x: met"),
            Some(r) => format!("{r:.1}x: missed"),
            None => "not measured".into(),
        };
        let _ = writeln!(
            r,
            "- 16x32x32x1, PyTorch / nearid >= 500x: {}",
            verdict(ratio((16, 32, 32, 1), "pytorch"), 500.0)
        );
        let _ = writeln!(
            r,
            "- 64x128x16x32, PyTorch / nearid >= 3x: {}",
            verdict(ratio((64, 128, 16, 32), "pytorch"), 3.0)
        );
        for peer in RUST_PEERS {
            let all: Vec<String> = SHAPES
                .iter()
                .map(|&s| format!("{} {}", shape_name(s), verdict(ratio(s, peer), 1.0)))
                .collect();
            let _ = writeln!(r, "- ahead of {peer} (>= 1x): {}", all.join("; "));
        }
    }
    r.push_str(&chips::render(chips));
    let _ = writeln!(
        r,
        "\nReproduce: `cargo xtask bench` (needs `{TORCH_INSTALL}` for the PyTorch column; the \
         Linux x86-64 wheel on PyPI pulls in the CUDA runtime wheels, about 3 GB, even though only \
         the CPU is used; \
         the microcontrollers need qemu-system-arm and llvm-objdump, which the task installs or \
         names). `cargo xtask bench --chips-only` re-runs the microcontrollers alone."
    );
    r
}

#[cfg(test)]
mod tests {
    use super::{KEPT, Torch, keep_section, parse_torch, read_estimate, splice_chips};

    #[test]
    fn criterion_results_are_read_with_their_id_and_median() {
        let new = std::env::temp_dir().join(format!("nearid-criterion-{}", std::process::id()));
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(
            new.join("benchmark.json"),
            r#"{"group_id":"train","function_id":"f32","value_str":"16x32x32x1","full_id":"train/16x32x32x1/f32","directory_name":"train/16x32x32x1_f32"}"#,
        )
        .unwrap();
        std::fs::write(
            new.join("estimates.json"),
            r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":1.0,"upper_bound":3.0},"point_estimate":2.0,"standard_error":0.1},"median":{"confidence_interval":{"confidence_level":0.95,"lower_bound":14000.0,"upper_bound":15000.0},"point_estimate":14760.5,"standard_error":12.0}}"#,
        )
        .unwrap();
        let got = read_estimate(&new, std::time::SystemTime::UNIX_EPOCH);
        let stale = read_estimate(
            &new,
            std::time::SystemTime::now() + std::time::Duration::from_secs(3600),
        );
        std::fs::remove_dir_all(&new).unwrap();
        assert_eq!(got, Ok(Some(("train/16x32x32x1/f32".into(), 14760.5))));
        assert_eq!(stale, Ok(None), "results older than the run are not read");
    }

    #[test]
    fn pytorch_lines_parse_and_noise_is_skipped() {
        let out = r#"{"system": "pytorch", "version": "2.5.1", "threads": 1}
torch_step.py: warming up
{"system": "pytorch", "check": "8x16x8x1", "losses": [1.0, 0.5], "max_relative_difference": 2.5e-7}
{"system": "pytorch", "group": "train", "shape": "16x32x32x1", "median_s": 0.00723, "samples": 15}
"#;
        let Torch::Ran {
            version,
            times,
            checks,
        } = parse_torch(out)
        else {
            panic!("no results")
        };
        assert_eq!(version, "2.5.1");
        assert_eq!(checks, ["8x16x8x1: 2.5e-7"]);
        let key = ("train".into(), "16x32x32x1".into(), "pytorch".into());
        assert_eq!(times.get(&key), Some(&0.00723));
        assert_eq!(times.len(), 1);
    }

    #[test]
    fn chips_only_replaces_the_chip_section_and_keeps_the_rest() {
        let desktop = "# Benchmarks\n\n## default target\n\n| a |\n";
        let end = "\nReproduce: `cargo xtask bench` (needs torch).\n";
        let first = splice_chips(&format!("{desktop}{end}"), "\n## Microcontrollers\n\nold\n");
        assert_eq!(
            first,
            format!("{desktop}\n## Microcontrollers\n\nold\n{end}")
        );
        let second = splice_chips(&first, "\n## Microcontrollers\n\nnew\n");
        assert_eq!(
            second,
            format!("{desktop}\n## Microcontrollers\n\nnew\n{end}")
        );
        assert_eq!(
            splice_chips("", "\n## Microcontrollers\n"),
            "\n## Microcontrollers\n"
        );
    }

    #[test]
    fn a_rewrite_keeps_the_section_measured_by_hand() {
        let kept = format!("{KEPT} (518e1ef)\n\n| a |\n");
        let old = format!("# Benchmarks\n\nold figures\n{kept}");
        let new = "# Benchmarks\n\nnew figures\n";
        assert_eq!(keep_section(new, &old), format!("{new}{kept}"));
        assert_eq!(keep_section(new, "# Benchmarks\n"), new);
        // --chips-only splices into the report without it, and the rewrite adds it back once.
        let spliced = splice_chips(&old, "\n## Microcontrollers\n");
        assert_eq!(keep_section(&spliced, &old).matches(KEPT).count(), 1);
    }
}
