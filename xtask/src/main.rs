//! The project's tasks, written in Rust so they run wherever cargo does (the `xtask` pattern).
//!
//! - `cargo xtask run`: the main job: train a residual network and show the loss falling.
//! - `cargo xtask test`: everything CI runs.

mod cmd;
mod run;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <run | test>
  run    train a residual network on the host from a synthetic linear stream, printing progress
  test   everything CI runs: fmt, clippy, host tests, no_std builds for the embedded targets, benches built";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run::main(&args[1..]),
        Some("test") => test::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing task\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}
