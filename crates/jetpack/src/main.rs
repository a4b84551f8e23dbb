//! `jetpack`: a daemonless App Container (appc) runtime. This binary only parses arguments and
//! prints; the work is done by the library crates.

#![forbid(unsafe_code)]

/// `println!` that returns the write error instead of panicking (a closed pipe on stdout ends
/// the command quietly, see [`broken_pipe`]).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        writeln!(crate::stdout(), $($arg)*)?
    }};
}

/// `print!` that returns the write error instead of panicking.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        write!(crate::stdout(), $($arg)*)?
    }};
}

mod cli;
mod cmd;
mod fmt;
mod podargs;

use std::io::Write;
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
        // The reader went away (`jetpack list | head -1`): stop quietly, as a Unix tool killed
        // by SIGPIPE does, with its status 141.
        Err(e) if broken_pipe(&e) => ExitCode::from(141),
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "jetpack: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// Standard output, whose write errors on a closed pipe are marked as such: only those end a
/// command quietly (an EPIPE from a CNI plugin or any other pipe is an error like any other).
pub(crate) fn stdout() -> Stdout {
    Stdout(std::io::stdout().lock())
}

pub(crate) struct Stdout(std::io::StdoutLock<'static>);

#[derive(Debug)]
struct StdoutClosed;

impl std::fmt::Display for StdoutClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("standard output is closed")
    }
}

impl std::error::Error for StdoutClosed {}

fn mark(e: std::io::Error) -> std::io::Error {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::io::Error::new(std::io::ErrorKind::BrokenPipe, StdoutClosed)
    } else {
        e
    }
}

impl Write for Stdout {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.write(buf).map_err(mark)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush().map_err(mark)
    }
}

/// True if `e` comes from writing to standard output after its reader went away.
///
/// Rust ignores SIGPIPE, so such a write fails with EPIPE, and `println!` would panic on it;
/// every write to stdout goes through [`stdout`] (`outln!`, `out!`), which returns that error up
/// to `main`. Restoring SIGPIPE's default instead would also kill the metadata service (`jetpack
/// mds`, the same binary) when a client hangs up, and `run` in the middle of a pod's teardown.
fn broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .is_some_and(|inner| inner.is::<StdoutClosed>())
    })
}
