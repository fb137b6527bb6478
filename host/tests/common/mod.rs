//! What the tests that run the `nearid` binary share: running it, a scratch directory per test
//! binary (its own process, so its pid keeps parallel runs apart), paths as arguments.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `nearid ARGS`, whatever its exit status.
pub fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_nearid"))
        .args(args)
        .output()
        .unwrap()
}

/// `nearid ARGS`, which must succeed: its stdout (its stderr in the failure otherwise).
pub fn nearid(args: &[&str]) -> String {
    let out = run(args);
    assert!(
        out.status.success(),
        "nearid {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `name` in this test binary's scratch directory (created).
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "nearid-{}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A path as a command-line argument.
pub fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}
