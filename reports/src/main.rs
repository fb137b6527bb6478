//! The project's reports, generated from runs: `cargo xtask bench` and `cargo xtask profile` run
//! this binary (`nearid-reports bench|profile ...`). CI builds it and runs its unit tests, but
//! not the reports: their figures (timings, instruction counts) are for docs/BENCHMARKS.md and
//! never gate a change. The golden firmware logs of `cargo xtask test` pin what must not change.
//!
//! - [`bench`]: desktop benchmarks side by side with the peers, and the microcontrollers
//!   ([`chips`]) -> docs/BENCHMARKS.md.
//! - [`chips`]: every emulated board and format in QEMU: figures, floors, disassembly.
//! - [`disasm`]: the training step's disassembly and its innermost loops.
//! - [`profile`]: where a step's instructions go, from QEMU's execution trace.
//!
//! Modules depend downward only: `bench` -> `chips` -> `profile`, `disasm`; all of them on the
//! `xtask` library (commands, boards, QEMU, the run's log).

mod bench;
mod chips;
mod disasm;
mod profile;

use std::process::ExitCode;

const USAGE: &str =
    "usage: nearid-reports <bench | profile> [ARGS]  (run through `cargo xtask bench|profile`)";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("bench") => bench::main(&args[1..]),
        Some("profile") => profile::main(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown or missing report\n{USAGE}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nearid-reports: {message}");
            ExitCode::FAILURE
        }
    }
}
