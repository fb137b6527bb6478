//! `cargo xtask test`: everything CI runs, in order of how fast each step fails.

use xtask::cmd::{cargo, run, run_tee};
use xtask::firmware::{self, BOARDS};
use xtask::qemu::{self, QEMU_TIMEOUT};
use xtask::toolchain::ensure_targets;

/// The embedded targets the core must build for (no_std, no heap).
pub const EMBEDDED_TARGETS: [&str; 3] = [
    "thumbv6m-none-eabi",
    "thumbv7em-none-eabihf",
    "riscv32imac-unknown-none-elf",
];

pub fn main(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        None => {}
        Some("--firmware") => {
            let passed = firmware_tests()?;
            println!("\nxtask test --firmware: all steps passed");
            println!("tests: {passed} passed, 0 failed");
            return Ok(());
        }
        Some(a) => {
            return Err(format!(
                "`test` takes no arguments but --firmware (got `{a}`)"
            ));
        }
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
    for target in EMBEDDED_TARGETS {
        run(cargo().args(["build", "-p", "nearid", "--target", target]))?;
    }
    let firmware_passed = firmware_tests()?;
    println!("\nxtask test: all steps passed");
    println!(
        "tests: {} passed, {failed} failed",
        passed + firmware_passed
    );
    Ok(())
}

/// The firmware: formatted, clippy-clean on the default board, every board built, and both QEMU
/// boards run to a passing exit with every expected log line
/// (`firmware/qemu/<board>.expected`). Returns how many QEMU runs passed (each counts as a test).
fn firmware_tests() -> Result<u64, String> {
    ensure_targets(&firmware::targets())?;
    run(firmware::cargo().args(["fmt", "--", "--check"]))?;
    run(firmware::cargo().args(["clippy", "--release", "--", "-D", "warnings"]))?;
    let mut elfs = Vec::new();
    for board in BOARDS {
        elfs.push((board, firmware::build(board)?));
    }
    qemu::ensure()?;
    for (board, elf) in elfs.iter().filter(|(b, _)| b.qemu.is_some()) {
        let out = qemu::run_elf(*board, elf, QEMU_TIMEOUT, true)?;
        out.verdict(*board)?;
        let path = firmware::dir()
            .join("qemu")
            .join(format!("{}.expected", board.name));
        let expected =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        qemu::check_expected(*board, &out.lines, &expected)?;
        println!("{}: passed, every expected line present", board.name);
    }
    foreign_target_dir()?;
    Ok(elfs.iter().filter(|(b, _)| b.qemu.is_some()).count() as u64 + 1)
}

/// The default board built and run with `CARGO_TARGET_DIR` set to a fresh temporary directory,
/// as many users have it set globally: xtask must find the ELF where cargo put it (its
/// `--message-format=json` answer), not under firmware/target/. About 20 s of build from
/// scratch and a few seconds of QEMU; the directory is removed afterwards.
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
        out.verdict(board)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result.map_err(|e| format!("with CARGO_TARGET_DIR set: {e}"))?;
    println!("{}: passed with CARGO_TARGET_DIR set", board.name);
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
