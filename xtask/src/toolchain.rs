//! What the builds need from the toolchain: the rustup targets of the boards.

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
