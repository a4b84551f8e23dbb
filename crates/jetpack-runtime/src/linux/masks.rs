//! What of `/proc` and `/sys` an app may not use: kernel settings and triggers become
//! read-only, files that leak the host (its keys, timers, memory) or its hardware are hidden.
//! The lists are runc's and crun's defaults. Without them the pod's root could, for one, write
//! `/proc/sys/kernel/core_pattern` and have the kernel run a program of its choice as root on
//! the host.
//!
//! Everything is done after the `pivot_root`, in the app's own mount namespace, before any of
//! the app's code runs; paths this kernel lacks are skipped.

use std::ffi::CStr;
use std::io;

use libc::{MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC};

use super::process::Failure;
use super::sys;
use crate::errno_text;

/// Bound onto themselves read-only: settings and triggers the app may read but not change.
const PROC_READ_ONLY: [&CStr; 5] = [
    c"/proc/sys",
    c"/proc/sysrq-trigger",
    c"/proc/irq",
    c"/proc/bus",
    c"/proc/fs",
];

/// Hidden: `/dev/null` over the files, an empty read-only tmpfs over the directories.
const PROC_MASKED: [&CStr; 7] = [
    c"/proc/kcore",
    c"/proc/keys",
    c"/proc/timer_list",
    c"/proc/sched_debug",
    c"/proc/latency_stats",
    c"/proc/acpi",
    c"/proc/scsi",
];

const SYS_MASKED: [&CStr; 2] = [c"/sys/firmware", c"/sys/devices/virtual/powercap"];

/// Masks `/proc` (mounted, as `/dev/null` is).
pub(super) fn proc() -> Result<(), Failure> {
    for path in PROC_READ_ONLY {
        skip_missing(read_only(path)).map_err(|e| fail("making", path, "read-only", e))?;
    }
    for path in PROC_MASKED {
        skip_missing(hide(path)).map_err(|e| fail("hiding", path, "", e))?;
    }
    Ok(())
}

/// Masks `/sys` (mounted read-only already).
pub(super) fn sys() -> Result<(), Failure> {
    for path in SYS_MASKED {
        skip_missing(hide(path)).map_err(|e| fail("hiding", path, "", e))?;
    }
    Ok(())
}

fn read_only(path: &CStr) -> io::Result<()> {
    sys::mount(Some(path), path, None, MS_BIND | MS_REC, None)?;
    sys::mount_set_readonly(libc::AT_FDCWD, path, libc::AT_RECURSIVE)
}

fn hide(path: &CStr) -> io::Result<()> {
    let Some(mode) = sys::stat_mode(path)? else {
        return Ok(());
    };
    if mode & libc::S_IFMT == libc::S_IFDIR {
        let flags = MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC;
        sys::mount(Some(c"tmpfs"), path, Some(c"tmpfs"), flags, None)
    } else {
        sys::mount(Some(c"/dev/null"), path, None, MS_BIND, None)
    }
}

fn skip_missing(r: io::Result<()>) -> io::Result<()> {
    match r {
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        r => r,
    }
}

fn fail(verb: &str, path: &CStr, what: &str, e: io::Error) -> Failure {
    let path = path.to_string_lossy();
    let what = if what.is_empty() {
        String::new()
    } else {
        format!(" {what}")
    };
    Failure::setup(format!("{verb} {path}{what}: {}", errno_text(&e)))
}
