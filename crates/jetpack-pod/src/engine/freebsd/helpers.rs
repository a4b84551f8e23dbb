//! What the isolators ask of the engine, on FreeBSD: no system call filter exists there, so
//! an explicit seccomp isolator is refused (rather than run unenforced) unless its set means
//! no filter, and the default filter is empty; CPU limits are rctl's `pcpu`, the quota numbers only describe them.

use std::os::fd::OwnedFd;
use std::path::Path;

use jetpack_runtime::{Seccomp, SeccompMode};

/// A seccomp set that means no filter (`@appc.io/all` retained, `@appc.io/empty` removed) is
/// what a jail does anyway; any other cannot be honoured: refused.
pub fn resolve_seccomp(
    mode: SeccompMode,
    names: &[String],
    _errno: Option<&str>,
    _capabilities: u64,
) -> std::result::Result<Option<Seccomp>, String> {
    if names.iter().any(|n| n == mode.no_filter_name()) {
        return Ok(None);
    }
    Err("system call filters are Linux's; a FreeBSD jail has none".to_string())
}

/// How an app's capability set is honoured: as the jail's `allow.*` parameters where a jail
/// has an analogue (see `engine::jail::capabilities_in_jail`).
pub fn describe_capabilities(kept: u64) -> (bool, String) {
    crate::engine::jail::capabilities_in_jail(kept)
}

/// How `os/linux/no-new-privileges` is applied to an app's processes (FreeBSD 14).
pub const NO_NEW_PRIVS: &str = "procctl(PROC_NO_NEW_PRIVS_CTL) before exec";

/// Why `os/linux/oom-score-adj` cannot be applied here.
pub fn no_oom_score() -> Option<&'static str> {
    Some("FreeBSD has no per-process OOM score; a pod's memory limit is its rctl rule")
}

/// Why apps run without a system call filter here.
pub fn no_seccomp() -> Option<&'static str> {
    Some("FreeBSD has no system call filter (seccomp is Linux's); a jail's apps run unfiltered")
}

/// The default filter: empty (nothing to install), nothing relaxed.
pub fn default_seccomp(_capabilities: u64) -> (Seccomp, Vec<&'static str>) {
    let empty = Seccomp {
        mode: SeccompMode::Remove,
        syscalls: Vec::new(),
        errno: None,
        errnos: Vec::new(),
        conditions: Vec::new(),
        i386: None,
    };
    (empty, Vec::new())
}

pub fn seccomp_let_through(
    _mode: SeccompMode,
    _names: &[String],
    _capabilities: u64,
) -> std::result::Result<Vec<String>, String> {
    Ok(Vec::new())
}

pub fn describe_condition(c: &jetpack_runtime::spec::ArgCondition) -> String {
    format!("{c:?}")
}

pub fn syscall_name(nr: u32) -> String {
    format!("#{nr}")
}

pub fn syscall_number(_name: &str) -> Option<u32> {
    None
}

/// A none pod's metadata listener lives in its network namespace on Linux; jails have none.
pub fn loopback_listener(_netns: &Path, _port: u16) -> std::io::Result<OwnedFd> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

/// The limit as a quota per 100 ms period, for the isolator report (rctl enforces `pcpu`).
pub fn cpu_quota_us(milli: u64) -> (u64, u64) {
    (milli.max(10) * 100, 100_000)
}
