//! The `nearid` command-line tool: see `nearid --help` and [`nearid_host::cli`].

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = nearid_host::cli::Cli::parse();
    if let Err(e) = cli.check() {
        e.exit();
    }
    match nearid_host::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("nearid: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
