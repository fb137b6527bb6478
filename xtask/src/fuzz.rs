//! `cargo xtask fuzz [--seconds N] [--seed S]`: the property suite's hostile-input targets
//! (`host/src/fuzz_targets.rs`, the same generators `host/tests/fuzz_*.rs` run in CI) for as
//! long as asked, by the host's `nearid-fuzz` binary in release: a table of calls / Ok / Err /
//! panics / wrong results per API, deterministic given the seed. Fails when anything panicked
//! or was wrong; `--show NAME:CALL` of the binary prints a failing input.

use crate::cmd::{cargo, run};

pub fn main(args: &[String]) -> Result<(), String> {
    let (mut seconds, mut seed) = (60u64, 1u64);
    let mut rest = args.iter();
    while let Some(flag) = rest.next() {
        let value = |v: Option<&String>| -> Result<u64, String> {
            v.and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("`fuzz {flag}` takes a whole number"))
        };
        match flag.as_str() {
            "--seconds" => seconds = value(rest.next())?,
            "--seed" => seed = value(rest.next())?,
            other => {
                return Err(format!(
                    "`fuzz` takes --seconds N and --seed S (got `{other}`)"
                ));
            }
        }
    }
    run(cargo().args([
        "run",
        "--release",
        "-p",
        "nearid-host",
        "--bin",
        "nearid-fuzz",
        "--",
        "--seconds",
        &seconds.to_string(),
        "--seed",
        &seed.to_string(),
    ]))
}
