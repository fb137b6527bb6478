//! The project's tasks, written in Rust so they run wherever cargo does (the `xtask` pattern).
//!
//! - `cargo xtask run`: the main job: train a residual network on an emulated microcontroller
//!   and show the loss falling.
//! - `cargo xtask test`: everything CI runs.
//! - `cargo xtask size`: flash and RAM of the firmware on every board.
//! - `cargo xtask bench`: side-by-side benchmarks on the desktop and instruction counts on the
//!   emulated microcontrollers, written to docs/BENCHMARKS.md.
//! - `cargo xtask profile`: where a training step's instructions go on an emulated chip.
//! - `cargo xtask fuzz`: the property suite's hostile-input targets for as long as asked.

mod bench;
mod chips;
mod cmd;
mod disasm;
mod firmware;
mod fuzz;
mod profile;
mod qemu;
mod run;
mod size;
mod test;

use std::process::ExitCode;

const USAGE: &str = "usage: cargo xtask <run | test | size | bench | profile | fuzz>
  run [--board NAME]   build the firmware, train on the emulated Cortex-M4F (mps2-an386) in QEMU,
                       stream the decoded log and exit with its verdict; --board microbit for the
                       Cortex-M0 with 16 KiB RAM; nucleo-f411re or pico: build, then flash
                       and log with probe-rs; --features soft-float (or q16) for
                       the Cortex-M0 boards' other scalar formats (Q4.12 by default)
  run --host           the host demo: a ResNet learning y = A x from the identity
  test                 everything CI runs: fmt, clippy, host tests, no_std builds for the embedded
                       targets, benches built, every firmware board built, both QEMU boards run
  test --firmware      the firmware steps alone
  size                 flash and RAM (.text, .data, .bss, stack high-water mark) per board
  bench                side-by-side benchmarks (nearid, candle, dfdx, PyTorch if installed)
                       for the default target and -C target-cpu=native, and every emulated
                       board and format in QEMU (instructions per weight, floors, disassembly of
                       the step) -> docs/BENCHMARKS.md
  bench --quick        the same with 1 s per desktop benchmark
  bench --chips-only   the microcontrollers alone (their section rewritten, desktop figures kept)
  bench --render-only  rewrite docs/BENCHMARKS.md from the last run's saved results
  profile [--board NAME] [--features LIST]
                       trace an emulated board's run in QEMU and show where a training step's
                       instructions go: per phase (forward, backward, gradient norm, update) and
                       per function
  fuzz [--seconds N] [--seed S]
                       the property suite's hostile inputs (host/src/fuzz_targets.rs) for N
                       seconds (default 60) from seed S (default 1): calls / Ok / Err / panics /
                       wrong results per API; fails on any panic or wrong result";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("run") => run::main(&args[1..]),
        Some("test") => test::main(&args[1..]),
        Some("size") => size::main(&args[1..]),
        Some("bench") => bench::main(&args[1..]),
        Some("profile") => profile::main(&args[1..]),
        Some("fuzz") => fuzz::main(&args[1..]),
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
