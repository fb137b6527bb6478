//! The `nearid` command-line tool: see `nearid --help` and [`nearid_host::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    match nearid_host::cli::run(nearid_host::cli::Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nearid: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
