//! appc's seccomp isolators: system call and errno names resolved in stage0 (so a typo fails
//! `prepare`, not the app), and the classic-BPF program compiled once per app before any fork.
//! The app only hands the program to the kernel, as the last step before its exec.
//!
//! The program:
//!
//! ```text
//!     ld  arch            ; another ABI (i386 int 0x80 on x86_64) would bypass the numbers
//!     jeq AUDIT_ARCH, +1
//!     ret KILL_PROCESS
//!     ld  nr
//!     jge X32_BIT, +0, +1 ; x86_64 only: x32 calls are blocked as a whole
//!     ret BLOCK
//!     jeq nr1, +0, +1     ; two instructions per listed call
//!     ret LISTED          ; ALLOW for a retain set, BLOCK for a remove set
//!     ...
//!     ret OTHERS          ; BLOCK for a retain set, ALLOW for a remove set
//! ```
//!
//! BLOCK is `SECCOMP_RET_ERRNO | errno`, or `SECCOMP_RET_KILL_PROCESS` (the app dies of
//! SIGSYS) when the isolator names no errno.

use std::str::FromStr;

use crate::spec::{Seccomp, SeccompMode};

/// Calls a retain set always allows: the exec that starts the app and the calls that end it.
pub const RETAIN_ALWAYS: [&str; 3] = ["execve", "exit", "exit_group"];

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xc000_00f3;

/// x32 system calls on x86_64 have this bit set in their number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// The kernel's limit on a filter's length.
const BPF_MAXINSNS: usize = 4096;

/// Resolves an isolator's names: `Ok(None)` when the set means "no filtering"
/// (`@appc.io/all` in a retain set, `@appc.io/empty` in a remove set: Jetpack's own default
/// lists are empty). Unknown names are errors that list them all.
pub fn resolve(
    mode: SeccompMode,
    names: &[String],
    errno: Option<&str>,
) -> Result<Option<Seccomp>, String> {
    let errno = errno
        .filter(|e| !e.is_empty())
        .map(|e| errno_number(e).ok_or_else(|| format!("unknown errno {e:?}")))
        .transpose()?;
    let wildcard = match mode {
        SeccompMode::Retain => "@appc.io/all",
        SeccompMode::Remove => "@appc.io/empty",
    };
    if names.iter().any(|n| n == wildcard) {
        return Ok(None);
    }
    let mut syscalls = Vec::new();
    let mut unknown = Vec::new();
    for n in names {
        match syscall_number(n) {
            Some(nr) => syscalls.push(nr),
            None => unknown.push(n.as_str()),
        }
    }
    if !unknown.is_empty() {
        return Err(format!(
            "unknown system call{} on {}: {} (names are case-sensitive; the only groups are \
             @appc.io/all in a retain set and @appc.io/empty in a remove set)",
            if unknown.len() > 1 { "s" } else { "" },
            std::env::consts::ARCH,
            unknown.join(", ")
        ));
    }
    if mode == SeccompMode::Retain {
        syscalls.extend(RETAIN_ALWAYS.iter().filter_map(|n| syscall_number(n)));
    }
    syscalls.sort_unstable();
    syscalls.dedup();
    Ok(Some(Seccomp {
        mode,
        syscalls,
        errno,
    }))
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

fn stmt(code: u32, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u32, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter {
        code: code as u16,
        jt,
        jf,
        k,
    }
}

/// The BPF program of a filter (see the module documentation).
pub(crate) fn compile(s: &Seccomp) -> Result<Vec<libc::sock_filter>, String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
    let block = match s.errno {
        Some(e) => libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA),
        None => libc::SECCOMP_RET_KILL_PROCESS,
    };
    let (listed, others) = match s.mode {
        SeccompMode::Retain => (libc::SECCOMP_RET_ALLOW, block),
        SeccompMode::Remove => (block, libc::SECCOMP_RET_ALLOW),
    };
    let mut p = vec![
        stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 1, 0),
        stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS),
        stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR),
    ];
    #[cfg(target_arch = "x86_64")]
    {
        p.push(jump(BPF_JMP | libc::BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
        p.push(stmt(BPF_RET | BPF_K, block));
    }
    for &nr in &s.syscalls {
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
        p.push(stmt(BPF_RET | BPF_K, listed));
    }
    p.push(stmt(BPF_RET | BPF_K, others));
    if p.len() > BPF_MAXINSNS {
        return Err(format!(
            "the seccomp filter has {} instructions, more than the kernel's {BPF_MAXINSNS}",
            p.len()
        ));
    }
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// Runs the program over (arch, nr) the way the kernel would, for the instructions it uses.
    fn eval(p: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        let (mut pc, mut acc) = (0usize, 0u32);
        loop {
            let i = p[pc];
            let code = i.code as u32;
            match code & 0x07 {
                libc::BPF_LD => {
                    acc = if i.k == SECCOMP_DATA_ARCH { arch } else { nr };
                    pc += 1;
                }
                libc::BPF_RET => return i.k,
                libc::BPF_JMP => {
                    let hit = match code & 0xf0 {
                        libc::BPF_JEQ => acc == i.k,
                        libc::BPF_JGE => acc >= i.k,
                        op => panic!("unexpected jump {op:#x}"),
                    };
                    pc += 1 + if hit { i.jt } else { i.jf } as usize;
                }
                c => panic!("unexpected class {c:#x}"),
            }
        }
    }

    fn nr(name: &str) -> u32 {
        syscall_number(name).unwrap()
    }

    #[test]
    fn names_resolve_and_typos_fail() {
        let s = resolve(
            SeccompMode::Remove,
            &names(&["mkdir", "reboot"]),
            Some("EPERM"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(s.errno, Some(libc::EPERM));
        assert!(s.syscalls.contains(&nr("reboot")) && s.syscalls.len() == 2);
        let e = resolve(
            SeccompMode::Remove,
            &names(&["mkdir", "mkdri", "Read"]),
            None,
        )
        .unwrap_err();
        assert!(e.contains("mkdri, Read"), "{e}");
        assert!(
            resolve(SeccompMode::Remove, &names(&["read"]), Some("EPONY"))
                .unwrap_err()
                .contains("EPONY")
        );
        assert_eq!(
            resolve(SeccompMode::Retain, &names(&["read", "@appc.io/all"]), None),
            Ok(None)
        );
        assert_eq!(
            resolve(SeccompMode::Remove, &names(&["@appc.io/empty"]), None),
            Ok(None)
        );
        assert!(resolve(SeccompMode::Remove, &names(&["@appc.io/all"]), None).is_err());
        let r = resolve(SeccompMode::Retain, &names(&["read"]), None)
            .unwrap()
            .unwrap();
        for n in ["read", "execve", "exit", "exit_group"] {
            assert!(r.syscalls.contains(&nr(n)), "{n}");
        }
    }

    #[test]
    fn errno_names() {
        assert_eq!(errno_number("EPERM"), Some(1));
        assert_eq!(errno_number("ENOSYS"), Some(libc::ENOSYS));
        assert_eq!(errno_number("EHWPOISON"), Some(libc::EHWPOISON));
        assert_eq!(errno_number("ENOTSUP"), Some(libc::EOPNOTSUPP));
        assert_eq!(errno_number("EWOULDBLOCK"), Some(libc::EAGAIN));
        assert_eq!(errno_number("EPONY"), None);
    }

    #[test]
    fn remove_set_blocks_exactly_its_calls() {
        let s = resolve(
            SeccompMode::Remove,
            &names(&["mkdir", "mkdirat"]),
            Some("EPERM"),
        )
        .unwrap()
        .unwrap();
        let p = compile(&s).unwrap();
        let eperm = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(eval(&p, AUDIT_ARCH, nr("mkdirat")), eperm);
        assert_eq!(eval(&p, AUDIT_ARCH, nr("read")), libc::SECCOMP_RET_ALLOW);
        assert_eq!(
            eval(&p, 0x4000_0003, nr("read")),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        #[cfg(target_arch = "x86_64")]
        assert_eq!(eval(&p, AUDIT_ARCH, X32_SYSCALL_BIT | nr("read")), eperm);
    }

    #[test]
    fn retain_set_allows_exactly_its_calls() {
        let s = resolve(SeccompMode::Retain, &names(&["read", "write"]), None)
            .unwrap()
            .unwrap();
        let p = compile(&s).unwrap();
        assert_eq!(
            p.len(),
            4 + 2 * cfg!(target_arch = "x86_64") as usize + 2 * 5 + 1
        );
        for n in ["read", "write", "execve", "exit_group"] {
            assert_eq!(eval(&p, AUDIT_ARCH, nr(n)), libc::SECCOMP_RET_ALLOW, "{n}");
        }
        assert_eq!(
            eval(&p, AUDIT_ARCH, nr("openat")),
            libc::SECCOMP_RET_KILL_PROCESS
        );
    }

    #[test]
    fn every_system_call_fits_in_one_filter() {
        let all: Vec<String> = syscalls::Sysno::iter().map(|s| s.name().into()).collect();
        let s = resolve(SeccompMode::Retain, &all, Some("ENOSYS"))
            .unwrap()
            .unwrap();
        assert!(compile(&s).is_ok());
    }
}
