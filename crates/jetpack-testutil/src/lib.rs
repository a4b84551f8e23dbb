//! The test toolkit of the workspace: `#[root_test]`, guards for real zfs-fuse pools,
//! loop-device file systems, mounts and networks, ACIs built in memory, the busybox image,
//! GnuPG keys, an HTTPS server with a test CA, and [`Env`], the environment of the `jetpack`
//! binary's tests. Every guard undoes its work in `Drop`, so a panicking test leaves nothing
//! behind. Names are unique per process and call, because tests in one binary run in parallel
//! threads. Nothing here reads outside the repository or writes outside temporary directories.

#![forbid(unsafe_code)]

pub mod aci;
mod backend;
mod busybox;
pub mod cli;
mod gpg;
pub mod https;
mod loopfs;
mod mounts;
mod net;
pub mod oci;
mod zfs;

use std::io::Write;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

/// Use in place of `#[test]` for a test that needs root: see [`require_root`].
pub use jetpack_testutil_macros::root_test;

pub use aci::{Aci, simple_aci};
pub use backend::Backend;
pub use busybox::{BB, busybox_aci, image_make, repo};
pub use cli::{Env, wait_file};
pub use gpg::Gpg;
pub use loopfs::LoopFs;
pub use mounts::{MountGuard, mounts_below, unmount_below};
pub use net::{TestNet, metadata_service_pid, stop_metadata_service};
pub use zfs::{ZfsDaemon, ZfsPool};

/// True when running as root. Otherwise prints a SKIP line and returns false, unless
/// `JETPACK_TEST_REQUIRE_ROOT=1` is set (CI), in which case it panics so nothing is skipped.
/// Tests call it through [`root_test`], never as `if !require_root() { return; }` of their own.
pub fn require_root() -> bool {
    require_root_for("")
}

/// [`require_root`] for the root-only part `what` of a test that otherwise runs as any user.
pub fn require_root_for(what: &str) -> bool {
    if rustix::process::geteuid().is_root() {
        return true;
    }
    let mut test = std::thread::current().name().unwrap_or("test").to_string();
    if !what.is_empty() {
        test = format!("{test} ({what})");
    }
    if std::env::var_os("JETPACK_TEST_REQUIRE_ROOT").is_some_and(|v| v == "1") {
        panic!("{test} needs root and JETPACK_TEST_REQUIRE_ROOT=1 forbids skipping it");
    }
    // Straight to stderr: the test harness captures eprintln! of passing tests, and a skip
    // must show in a normal `cargo test` run.
    let _ = writeln!(
        std::io::stderr().lock(),
        "!!!!! SKIP {test}: needs root (set JETPACK_TEST_REQUIRE_ROOT=1 to make this fail) !!!!!"
    );
    false
}

/// `prefix` followed by hex digits unique to this process and call.
pub fn unique_name(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "{prefix}{:x}{n:x}{:04x}",
        std::process::id(),
        nanos & 0xffff
    )
}

/// Runs a system tool (sbin directories included in the search) and returns its stdout, or an
/// error naming the command, its status and stderr.
pub fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let path = std::env::var("PATH").unwrap_or_default();
    let out = Command::new(program)
        .args(args)
        .env(
            "PATH",
            format!("{path}:/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"),
        )
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{program} {}: {} ({})",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim(),
            out.status
        ))
    }
}

/// Like [`run`], panicking on failure (test setup).
pub fn must_run(program: &str, args: &[&str]) -> String {
    run(program, args).unwrap_or_else(|e| panic!("{e}"))
}
