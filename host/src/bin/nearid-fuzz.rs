//! `nearid-fuzz [--seconds N] [--seed S]`: the property suite's targets
//! (`nearid_host::fuzz_targets`) run round-robin for N seconds from seed S, each call inside
//! catch_unwind; prints calls / Ok / Err / panics / wrong results per API and the first failure
//! of each. Exit status 1 when anything panicked or was wrong. `cargo xtask fuzz` runs it.

use clap::Parser;
use nearid_host::{fuzz_targets, hostile};
use std::process::ExitCode;
use std::time::Duration;

/// Fuzz the core's numerical APIs with hostile inputs.
#[derive(Debug, Parser)]
#[command(name = "nearid-fuzz")]
struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seed of the inputs: the same seed gives the same inputs, call by call.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Print the input of call N of an API (as `NAME:N`, NAME as in the table) instead of
    /// fuzzing: the reproduction of a reported failure.
    #[arg(long)]
    show: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let targets = fuzz_targets::targets();
    if let Some(show) = &args.show {
        let found = show.rsplit_once(':').and_then(|(name, call)| {
            let index = targets.iter().position(|t| t.name == name)?;
            hostile::replay(&targets, index, args.seed, call.parse().ok()?)
        });
        return match found {
            Some(input) => {
                println!("{input}");
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("nearid-fuzz: --show takes NAME:CALL with NAME one of the table's APIs");
                ExitCode::FAILURE
            }
        };
    }
    println!(
        "fuzzing {} APIs for {} s from seed {}",
        targets.len(),
        args.seconds,
        args.seed
    );
    let tallies = hostile::fuzz(&targets, args.seed, Duration::from_secs(args.seconds));
    let width = targets.iter().map(|t| t.name.len()).max().unwrap_or(3);
    println!(
        "| {:width$} | {:>10} | {:>10} | {:>10} | {:>6} | {:>5} |",
        "API", "calls", "Ok", "Err", "panics", "wrong"
    );
    println!(
        "|{:-<w$}|{:->12}|{:->12}|{:->12}|{:->8}|{:->7}|",
        "",
        "",
        "",
        "",
        "",
        "",
        w = width + 2
    );
    let mut failures = 0;
    for (t, tally) in targets.iter().zip(&tallies) {
        println!(
            "| {:width$} | {:>10} | {:>10} | {:>10} | {:>6} | {:>5} |",
            t.name, tally.calls, tally.ok, tally.err, tally.panics, tally.wrong
        );
        failures += tally.panics + tally.wrong;
    }
    let calls: u64 = tallies.iter().map(|t| t.calls).sum();
    println!("{calls} calls, {failures} panics or wrong results");
    for (t, tally) in targets.iter().zip(&tallies) {
        for (call, why) in &tally.failures {
            println!("{}: call {call} (seed {}): {why}", t.name, args.seed);
        }
    }
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
