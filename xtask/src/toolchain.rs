//! What the builds need from the toolchain: the rustup targets of the boards, flip-link (the
//! real boards' linker) and cargo-mutants (the mutation tests).

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

/// The version `cargo mutants --version` reports (`cargo-mutants 27.1.0` -> `27.1.0`), or
/// `None` when it does not run.
pub fn cargo_mutants_version() -> Option<String> {
    output(crate::cmd::cargo().args(["mutants", "--version"]))
        .ok()
        .and_then(|v| v.split_whitespace().nth(1).map(str::to_string))
}

/// Whether `found` is a `major`.x version.
pub fn is_major(found: Option<&str>, major: &str) -> bool {
    found.is_some_and(|v| v.starts_with(&format!("{major}.")))
}

/// Makes sure cargo-mutants `version`.x runs (`cargo xtask test` tests a few mutants with it):
/// installs it with `cargo install` when missing or of another version, else fails with what
/// to do.
pub fn ensure_cargo_mutants(version: &str) -> Result<(), String> {
    let before = cargo_mutants_version();
    if is_major(before.as_deref(), version) {
        return Ok(());
    }
    println!(
        "cargo-mutants {version}.x (the mutation tests) is {}: installing it with cargo",
        before.map_or("missing".to_string(), |v| format!("at {v}"))
    );
    let spec = format!("^{version}");
    let installed =
        run(crate::cmd::cargo().args(["install", "--locked", "cargo-mutants", "--version", &spec]));
    match installed {
        Ok(()) if is_major(cargo_mutants_version().as_deref(), version) => Ok(()),
        Ok(()) => Err(format!(
            "`cargo install cargo-mutants --version '{spec}'` finished but `cargo mutants \
             --version` does not say {version}.x: is cargo's bin directory (~/.cargo/bin) on PATH?"
        )),
        Err(e) => Err(format!(
            "cargo-mutants {version}.x is missing and could not be installed ({e}); install it \
             with `cargo install cargo-mutants --version '{spec}' --locked`"
        )),
    }
}
