//! `jetpack`: a daemonless App Container (appc) runtime. This binary only parses arguments and
//! prints; the work is done by the library crates.

mod cli;
mod cmd;
mod fmt;
mod podargs;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    // `run` starts the metadata service with this same binary when none is running.
    if let Ok(exe) = std::env::current_exe() {
        jetpack_pod::metadata::set_service_binary(exe);
    }
    let filter = if cli.debug { "debug" } else { "warn" };
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_max_level(
            filter
                .parse::<tracing::Level>()
                .unwrap_or(tracing::Level::WARN),
        )
        .init();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("jetpack: {e:#}");
            ExitCode::from(1)
        }
    }
}
