//! What the builds need from the toolchain: the rustup targets of the boards, and flip-link,
//! the real boards' linker.

use std::process::Command;

use crate::cmd::{output, run};

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

/// Makes sure `flip-link` (the linker wrapper of the real boards, `firmware/boards/*/.cargo/
/// config.toml`) runs: installs it with `cargo install flip-link` when missing, else fails with
/// what to do.
pub fn ensure_flip_link() -> Result<(), String> {
    let runs = || {
        Command::new("flip-link")
            .arg("--help")
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if runs() {
        return Ok(());
    }
    println!("flip-link (the real boards' linker) is missing: installing it with cargo");
    let installed = run(crate::cmd::cargo().args(["install", "--locked", "flip-link"]));
    match installed {
        Ok(()) if runs() => Ok(()),
        Ok(()) => Err(
            "`cargo install flip-link` finished but `flip-link` does not run: is \
                       cargo's bin directory (~/.cargo/bin) on PATH?"
                .into(),
        ),
        Err(e) => Err(format!(
            "flip-link, the real boards' linker, is missing and could not be installed ({e}); \
             install it with `cargo install flip-link`, or build the emulated boards only"
        )),
    }
}
