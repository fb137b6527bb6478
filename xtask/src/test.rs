//! `cargo xtask test`: everything CI runs, in order of how fast each step fails.

use std::process::Command;

use crate::cmd::{cargo, output, run};

/// The embedded targets the core must build for (no_std, no heap).
pub const EMBEDDED_TARGETS: [&str; 3] = [
    "thumbv6m-none-eabi",
    "thumbv7em-none-eabihf",
    "riscv32imac-unknown-none-elf",
];

pub fn main(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("`test` takes no arguments (got `{a}`)"));
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
    run(cargo().args(["test", "--workspace"]))?;
    for target in EMBEDDED_TARGETS {
        run(cargo().args(["build", "-p", "nearid", "--target", target]))?;
    }
    run(cargo().args(["bench", "-p", "nearid-benches", "--no-run"]))?;
    println!("\nxtask test: all steps passed");
    Ok(())
}

/// Adds the rustup targets that are missing (rustup can fetch them on these machines).
pub fn ensure_targets(targets: &[&str]) -> Result<(), String> {
    let installed = output(Command::new("rustup").args(["target", "list", "--installed"]))?;
    let missing: Vec<&str> = targets
        .iter()
        .copied()
        .filter(|t| !installed.lines().any(|l| l.trim() == *t))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    run(Command::new("rustup")
        .args(["target", "add"])
        .args(&missing))
}
