//! What every process forked for a pod shares: how it gives up before its exec, how it never
//! returns into its parent's frames, and how a pid is checked to be a pod's init.

use super::sys;
use crate::error::{Error, Result};

/// Exit code of an app process that failed before its exec (other than exec itself).
pub(super) const EXIT_SETUP: i32 = 125;

/// Why an app process gives up, and the code it exits with.
#[derive(Debug)]
pub(crate) struct Failure {
    pub code: i32,
    pub message: String,
}

impl Failure {
    pub fn setup(message: String) -> Failure {
        Failure {
            code: EXIT_SETUP,
            message,
        }
    }
}

/// Runs `f` (which ends the process) in a forked child; a panic must not unwind into the
/// caller's frames, which belong to the parent.
pub(super) fn in_child(f: impl FnOnce()) -> ! {
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    sys::exit(EXIT_SETUP)
}

/// Fails unless `pid` is PID 1 of a pid namespace (a pod's init), so that a stale pid does not
/// make `stop` or `enter` hit an unrelated process.
pub(crate) fn check_pod_init(pid: i32) -> Result<()> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|_| Error::NotRunning { pid })?;
    let innermost = status
        .lines()
        .find_map(|l| l.strip_prefix("NSpid:"))
        .and_then(|ids| ids.split_whitespace().last());
    match innermost {
        Some("1") if pid > 0 => Ok(()),
        _ => Err(Error::NotRunning { pid }),
    }
}
