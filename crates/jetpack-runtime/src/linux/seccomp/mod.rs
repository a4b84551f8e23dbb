//! appc's seccomp isolators: system call and errno names resolved in stage0 (so a typo fails
//! `prepare`, not the app), and the classic-BPF program compiled once per app before any fork.
//! The app only hands the program to the kernel, as the last step before its exec.
//!
//! Layout: this file resolves names and compares isolators with the default profile;
//! `docker.rs` holds that profile (and its i386 numbers), `bpf.rs` compiles a resolved filter.
//!
//! `@docker/default` is Docker's default profile as a deny list (see [`DOCKER_DENIED`]): what
//! an app gets when it has no seccomp isolator, relaxed, as Docker does, for the capabilities
//! the app holds.

use std::str::FromStr;

use crate::caps;
use crate::spec::{ArgCondition, ArgTest, Seccomp, SeccompMode};

/// Calls a retain set always allows: the exec that starts the app and the calls that end it.
pub const RETAIN_ALWAYS: [&str; 3] = ["execve", "exit", "exit_group"];

/// The group name of Docker's default profile, usable in a remove set (and the filter of an
/// app without a seccomp isolator).
pub const DOCKER_DEFAULT: &str = "@docker/default";

mod bpf;
mod docker;

pub(crate) use bpf::compile;
use docker::{AF_VSOCK, docker, i386_docker, i386_number};
pub use docker::{CLONE_NAMESPACE_FLAGS, DOCKER_DENIED};

/// Resolves an isolator's names for an app with the default capabilities; see
/// [`resolve_for`].
pub fn resolve(
    mode: SeccompMode,
    names: &[String],
    errno: Option<&str>,
) -> Result<Option<Seccomp>, String> {
    resolve_for(mode, names, errno, caps::DEFAULT_SET)
}

/// Resolves an isolator's names: `Ok(None)` when the set means "no filtering"
/// (`@appc.io/all` in a retain set, `@appc.io/empty` in a remove set). `@docker/default` in a
/// remove set adds Docker's default profile as relaxed for `capabilities` (its `clone3` always
/// returns ENOSYS). Unknown names are errors that list them all.
pub fn resolve_for(
    mode: SeccompMode,
    names: &[String],
    errno: Option<&str>,
    capabilities: u64,
) -> Result<Option<Seccomp>, String> {
    let errno = errno
        .filter(|e| !e.is_empty())
        .map(|e| errno_number(e).ok_or_else(|| format!("unknown errno {e:?}")))
        .transpose()?;
    if names.iter().any(|n| n == mode.no_filter_name()) {
        return Ok(None);
    }
    let mut syscalls = Vec::new();
    let mut unknown = Vec::new();
    let mut group = false;
    for n in names {
        if n == DOCKER_DEFAULT {
            if mode == SeccompMode::Retain {
                return Err(format!(
                    "{DOCKER_DEFAULT} is a list of calls to block: use it in a remove set"
                ));
            }
            group = true;
            continue;
        }
        match syscall_number(n) {
            Some(nr) => syscalls.push(nr),
            None => unknown.push(n.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown system call{} on {}: {} (names are case-sensitive; the groups are \
             {} in a retain set, {} and {DOCKER_DEFAULT} in a remove set)",
            if unknown.len() > 1 { "s" } else { "" },
            std::env::consts::ARCH,
            unknown.join(", "),
            SeccompMode::Retain.no_filter_name(),
            SeccompMode::Remove.no_filter_name(),
        ));
    }
    let (mut conditions, mut errnos) = (Vec::new(), Vec::new());
    if group {
        let d = docker(capabilities);
        // Calls the isolator names itself get its action, whatever their arguments.
        conditions = d.conditions;
        conditions.retain(|c| !syscalls.contains(&c.syscall));
        errnos = d.errnos;
        errnos.retain(|(nr, _)| !syscalls.contains(nr));
        syscalls.extend(d.syscalls);
    }
    // 32-bit x86 programs get the group too, when the calls listed with it have i386 numbers
    // here.
    let explicit_i386: Option<Vec<u32>> = names
        .iter()
        .filter(|n| *n != DOCKER_DEFAULT)
        .map(|n| i386_number(n))
        .collect();
    let i386 = explicit_i386
        .filter(|_| group)
        .and_then(|explicit| i386_docker(capabilities, errno, &explicit))
        .map(Box::new);
    if mode == SeccompMode::Retain {
        syscalls.extend(RETAIN_ALWAYS.iter().filter_map(|n| syscall_number(n)));
    }
    syscalls.sort_unstable();
    syscalls.dedup();
    Ok(Some(Seccomp {
        mode,
        syscalls,
        errno,
        errnos,
        conditions,
        i386,
    }))
}

/// The filter of an app without a seccomp isolator: `@docker/default` returning EPERM, as
/// relaxed for `capabilities`.
pub fn docker_default(capabilities: u64) -> Seccomp {
    resolve_for(
        SeccompMode::Remove,
        &[DOCKER_DEFAULT.to_string()],
        Some("EPERM"),
        capabilities,
    )
    .expect("the default profile resolves")
    .expect("the default profile filters")
}

/// The calls of Docker's default profile that `capabilities` let through, by name.
pub fn docker_default_relaxed(capabilities: u64) -> Vec<&'static str> {
    docker(capabilities).relaxed
}

/// What an app's own seccomp isolator lets through that the default filter (for the app's
/// `capabilities`) would block: call names, and argument conditions as `clone (namespace
/// flags)`. Empty when the isolator is at least as strict on every call the default blocks.
pub fn let_through(
    mode: SeccompMode,
    names: &[String],
    capabilities: u64,
) -> Result<Vec<String>, String> {
    let d = docker(capabilities);
    // The action (errno or kill) does not matter: blocked is blocked.
    let own = resolve_for(mode, names, None, capabilities)?;
    let listed = |nr: u32| own.as_ref().is_some_and(|s| s.syscalls.contains(&nr));
    let blocks = |nr: u32| match (&own, mode) {
        (None, _) => false,
        (Some(_), SeccompMode::Retain) => !listed(nr),
        (Some(s), SeccompMode::Remove) => listed(nr) || s.errnos.iter().any(|(n, _)| *n == nr),
    };
    let mut out: Vec<String> = d
        .syscalls
        .iter()
        .chain(d.errnos.iter().map(|(nr, _)| nr))
        .filter(|&&nr| !blocks(nr))
        .map(|&nr| syscall_name(nr))
        .collect();
    for c in &d.conditions {
        let same = own
            .as_ref()
            .is_some_and(|s| mode == SeccompMode::Remove && s.conditions.contains(c));
        if !blocks(c.syscall) && !same {
            out.push(describe(c));
        }
    }
    Ok(out)
}

/// `clone (namespace flags)`, `socket (family 40)`, ...
pub fn describe(c: &ArgCondition) -> String {
    let name = syscall_name(c.syscall);
    match (&c.test, name.as_str()) {
        (ArgTest::AnyBit(CLONE_NAMESPACE_FLAGS), "clone") => "clone (namespace flags)".into(),
        (ArgTest::Equals(AF_VSOCK), "socket") => "socket (AF_VSOCK)".into(),
        (ArgTest::NoneOf(_), "personality") => "personality (other personas)".into(),
        (ArgTest::AnyBit(m), _) => format!("{name} (argument {} & {m:#x})", c.arg),
        (ArgTest::Equals(v), _) => format!("{name} (argument {} = {v:#x})", c.arg),
        (ArgTest::NoneOf(_), _) => format!("{name} (argument {})", c.arg),
    }
}

/// The name of a system call number of this architecture.
pub fn syscall_name(nr: u32) -> String {
    syscalls::Sysno::new(nr as usize)
        .map(|s| s.name().to_string())
        .unwrap_or_else(|| format!("#{nr}"))
}

/// The number of a system call of this architecture, by its kernel name.
pub fn syscall_number(name: &str) -> Option<u32> {
    syscalls::Sysno::from_str(name).ok().map(|s| s.id() as u32)
}

/// The number of an errno name (`EPERM`), Linux's own names and aliases included.
pub fn errno_number(name: &str) -> Option<i32> {
    let alias = match name {
        "EWOULDBLOCK" => Some(libc::EWOULDBLOCK),
        "EDEADLOCK" => Some(libc::EDEADLOCK),
        "ENOTSUP" => Some(libc::ENOTSUP),
        _ => None,
    };
    alias.or_else(|| {
        // Linux errno values are below 4096 (and the named ones below 150).
        (1..4096).find(|&n| syscalls::Errno::new(n).name() == Some(name))
    })
}

#[cfg(test)]
mod tests;
