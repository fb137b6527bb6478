//! `cargo xtask test`: everything CI runs, in order of how fast each step fails.

use xtask::checkpoint;
use xtask::cmd::{cargo, run, run_tee};
use xtask::disasm::Disassembler;
use xtask::faultpath;
use xtask::firmware::{self, BOARDS};
use xtask::golden::{self, Verdict};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::toolchain::ensure_targets;

/// The embedded targets the core must build for (no_std, no heap).
pub const EMBEDDED_TARGETS: [&str; 3] = [
    "thumbv6m-none-eabi",
    "thumbv7em-none-eabihf",
    "riscv32imac-unknown-none-elf",
];

/// The emulated builds `cargo xtask test` runs in QEMU, each checked against its golden log
/// `firmware/qemu/<board>[-<feature>...].out`: (board, extra features).
pub const QEMU_RUNS: [(&str, &[&str]); 17] = [
    ("mps2-an386", &[]),
    ("microbit", &[]),
    ("microbit", &["q16"]),
    ("microbit", &["soft-float"]),
    // The simulated sensor fails at seeded points: every fault counted, training still passes.
    ("mps2-an386", &["fault-injection"]),
    // Other apps (firmware/src/main.rs): gesture classification, from scratch and from the
    // desktop-trained model files; linear calibration with the HM certificate.
    ("mps2-an386", &["classify"]),
    ("microbit", &["classify"]),
    ("mps2-an386", &["classify", "pretrained"]),
    ("microbit", &["classify", "pretrained"]),
    ("mps2-an386", &["linear"]),
    ("microbit", &["linear"]),
    // Checkpoints every CHECKPOINT_EVERY steps, on a fresh flash image: the same held-out
    // losses and weight CRCs as the runs without.
    ("mps2-an386", &["checkpoint"]),
    ("microbit", &["checkpoint"]),
    // The calibration started from the desktop-trained model file, fine-tuned on the chip.
    ("mps2-an386", &["pretrained"]),
    ("microbit", &["pretrained"]),
    // Growing depth: from 2 blocks, one appended at each stall of the training loss, up to M;
    // the log holds each growth and the instructions over the whole run.
    ("microbit", &["grow"]),
    ("mps2-an386", &["grow"]),
];

/// The divergence test's learning rates (25x and 8x the boards' own): each must roll back and
/// recover to PASS (`powercut::rollback`), with a golden log `<board>-rollback.out`.
pub const ROLLBACK_RUNS: [(&str, &str); 2] = [("mps2-an386", "0.5"), ("microbit", "0.08")];

const USAGE: &str = "`test` takes --firmware (the firmware steps alone) and --bless (rewrite the \
                     golden logs firmware/qemu/*.out from this run)";

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut firmware_only, mut bless) = (false, false);
    for a in args {
        match a.as_str() {
            "--firmware" => firmware_only = true,
            "--bless" => bless = true,
            _ => return Err(format!("{USAGE} (got `{a}`)")),
        }
    }
    if firmware_only {
        let passed = firmware_tests(bless)?;
        println!("\nxtask test --firmware: all steps passed");
        println!("tests: {passed} passed, 0 failed");
        return Ok(());
    }
    ensure_targets(&EMBEDDED_TARGETS)?;
    run(cargo().args(["fmt", "--all", "--", "--check"]))?;
    run(cargo().args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    // `--all-targets` builds the benches in the test profile, sharing every dependency with the
    // tests (a separate `cargo bench --no-run` would compile them all again in release), and
    // runs each benchmark once as a smoke test. Doc tests are not in `--all-targets`.
    let mut tests = run_tee(cargo().args(["test", "--workspace", "--all-targets"]))?;
    tests += &run_tee(cargo().args(["test", "--workspace", "--doc"]))?;
    let (passed, failed) = count_tests(&tests);
    // Mutation testing of the lines of core/ this change touched, a bounded set.
    crate::mutants::ci_step()?;
    for target in EMBEDDED_TARGETS {
        run(cargo().args(["build", "-p", "nearid", "--target", target]))?;
    }
    // The core as crates.io would take it: a dry run of the upload packages it, builds the
    // tarball on its own, outside the workspace, and checks the metadata, README and the
    // registry's rules (a `cargo package` before it built the same tarball a second time). It
    // needs the registry's index. `--allow-dirty`: a developer's uncommitted work.
    run(cargo().args(["publish", "--dry-run", "-p", "nearid", "--allow-dirty"]))?;
    let firmware_passed = firmware_tests(bless)?;
    println!("\nxtask test: all steps passed");
    println!(
        "tests: {} passed, {failed} failed",
        passed + firmware_passed
    );
    Ok(())
}

/// The firmware: formatted, clippy-clean on the default board, every board built, and each
/// emulated build of [`QEMU_RUNS`] run to a passing exit with its whole decoded log equal to
/// its golden file (rewritten instead with `bless`); then the default board once more with
/// `CARGO_TARGET_DIR` elsewhere, and the out-of-tree template built and run. Returns how many QEMU runs passed (each counts as a test).
fn firmware_tests(bless: bool) -> Result<u64, String> {
    ensure_targets(&firmware::targets())?;
    run(firmware::cargo().args(["fmt", "--", "--check"]))?;
    run(firmware::cargo().args(["clippy", "--release", "--", "-D", "warnings"]))?;
    // The code only the fault-injection run, the other apps, growing and the Cortex-M0 build
    // compile.
    for features in [
        &["--features", "fault-injection"][..],
        &["--features", "pretrained"],
        &["--features", "classify,pretrained"],
        &["--features", "linear"],
        &["--features", "grow"],
        &[
            "--target",
            "thumbv6m-none-eabi",
            "--no-default-features",
            "--features",
            "microbit",
        ],
    ] {
        run(firmware::cargo()
            .args(["clippy", "--release"])
            .args(features)
            .args(["--", "-D", "warnings"]))?;
    }
    let objdump = Disassembler::find()?;
    for board in BOARDS {
        let elf = firmware::build(board)?;
        if let Some(package) = board.package {
            // A real board: its own package, clippy-clean too, and its fault path must end in
            // a breakpoint (read from the ELF: the board is not here to run).
            run(firmware::cargo()
                .current_dir(firmware::dir().join(package))
                .args(["clippy", "--release", "--", "-D", "warnings"]))?;
            let path =
                faultpath::check(&objdump, &elf).map_err(|e| format!("{}: {e}", board.name))?;
            println!("{}: fault path {path}", board.name);
        }
    }
    qemu::ensure()?;
    let mut failures = Vec::new();
    for (name, features) in QEMU_RUNS {
        let board = firmware::board(name)?;
        let features: Vec<String> = features.iter().map(|f| f.to_string()).collect();
        let elf = firmware::build_with(board, &features)?;
        let golden_name = firmware::elf_name(board, &features);
        // The classification app writes its trained model file to the host (`model-out=`),
        // checked against its own log after the golden comparison.
        let classify = features.iter().any(|f| f == "classify");
        let scratch = checkpoint::Scratch::new(&format!("test-{golden_name}"))?;
        let out = if features.iter().any(|f| f == checkpoint::FEATURE) {
            // A fresh image: a left-over one would resume a finished run.
            checkpoint::boot(board, &elf, &scratch.join("flash.img"), &[], true)?
        } else if classify {
            let args = [crate::model_out::arg()];
            qemu::run_elf_in(board, &elf, QEMU_TIMEOUT, true, &args, Some(&scratch.0))?
        } else {
            qemu::run_elf(board, &elf, QEMU_TIMEOUT, true)?
        };
        match out
            .verdict(board)
            .and_then(|()| golden::check(&golden_name, &out.lines, bless))
        {
            Ok(Verdict::Same) => println!("{golden_name}: passed, the log is its golden file"),
            Ok(Verdict::Blessed) => println!(
                "{golden_name}: passed; wrote its log to {}",
                golden::shown(&golden::path(&golden_name))
            ),
            Err(e) => {
                eprintln!("\n{e}");
                failures.push(golden_name.clone());
            }
        }
        if classify {
            match crate::model_out::check(board, &out.lines, &scratch.0) {
                Ok(line) => println!("{line}"),
                Err(e) => {
                    eprintln!("\n{e}");
                    failures.push(format!("{golden_name} (model-out)"));
                }
            }
        }
    }
    for (name, lr) in ROLLBACK_RUNS {
        let board = firmware::board(name)?;
        let golden_name = format!("{name}-rollback");
        match crate::powercut::rollback(board, lr, false)
            .and_then(|out| golden::check(&golden_name, &out.lines, bless).map(|v| (v, out)))
        {
            Ok((_, out)) => println!("{}", crate::powercut::rollback_summary(board, &out)),
            Err(e) => {
                eprintln!("\n{e}");
                failures.push(golden_name);
            }
        }
    }
    if !failures.is_empty() {
        return Err(format!(
            "QEMU runs failed or differ from their golden logs: {}",
            failures.join(", ")
        ));
    }
    // Power cuts: one chain per emulated board (`cargo xtask powercut` runs five).
    let mut cut_boards = 0;
    for board in BOARDS.iter().filter(|b| b.qemu.is_some()) {
        let started = std::time::Instant::now();
        let tally = crate::powercut::run(*board, 1)?;
        println!(
            "{} ({:.0} s)",
            tally.summary(*board),
            started.elapsed().as_secs_f64()
        );
        cut_boards += 1;
    }
    // Weights off the device: the newest checkpoint pulled and evaluated on the desktop.
    for board in BOARDS.iter().filter(|b| b.qemu.is_some()) {
        println!("{}", crate::pull::check(*board)?);
        cut_boards += 1;
    }
    foreign_target_dir()?;
    xtask::template::check()?;
    Ok((QEMU_RUNS.len() + ROLLBACK_RUNS.len() + cut_boards) as u64 + 2)
}

/// The default board built and run with `CARGO_TARGET_DIR` set to a fresh temporary directory,
/// as many users have it set globally: xtask must find the ELF where cargo put it (its
/// `--message-format=json` answer), not under firmware/target/, and the log must be the same
/// golden log. About 20 s of build from scratch and a second of QEMU; the directory is removed
/// afterwards.
fn foreign_target_dir() -> Result<(), String> {
    let board = BOARDS[0];
    let dir = std::env::temp_dir().join(format!("nearid-target-dir-{}", std::process::id()));
    println!(
        "\n{}: built with CARGO_TARGET_DIR={}",
        board.name,
        dir.display()
    );
    let result = (|| {
        let elf = firmware::build_into(board, &[], Some(&dir))?;
        if !elf.starts_with(&dir) {
            return Err(format!(
                "with CARGO_TARGET_DIR={} the ELF was copied to {}",
                dir.display(),
                elf.display()
            ));
        }
        let out = qemu::run_elf(board, &elf, QEMU_TIMEOUT, false)?;
        out.verdict(board)?;
        golden::check(board.name, &out.lines, false).map(|_| ())
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| format!("with CARGO_TARGET_DIR set: {e}"))?;
    println!(
        "{}: passed with CARGO_TARGET_DIR set, the same golden log",
        board.name
    );
    Ok(())
}

/// Sums cargo's `test result: ok. N passed; M failed; ...` lines.
fn count_tests(output: &str) -> (u64, u64) {
    let count = |line: &str, word: &str| -> u64 {
        line.split(';')
            .find_map(|part| {
                part.trim()
                    .strip_suffix(word)?
                    .trim()
                    .rsplit(' ')
                    .next()?
                    .parse()
                    .ok()
            })
            .unwrap_or(0)
    };
    output
        .lines()
        .filter(|l| l.starts_with("test result:"))
        .fold((0, 0), |(p, f), l| {
            (p + count(l, "passed"), f + count(l, "failed"))
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_cargo_test_summaries() {
        let out = "test result: ok. 6 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.00s
noise
test result: FAILED. 3 passed; 2 failed; 1 ignored; 0 measured; 0 filtered out; finished in 0.01s";
        assert_eq!(super::count_tests(out), (9, 2));
    }
}
