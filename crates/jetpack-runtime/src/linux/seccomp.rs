//! appc's seccomp isolators: system call and errno names resolved in stage0 (so a typo fails
//! `prepare`, not the app), and the classic-BPF program compiled once per app before any fork.
//! The app only hands the program to the kernel, as the last step before its exec.
//!
//! The program, built from its end (so that every jump's distance is known when it is placed):
//!
//! ```text
//!     ld  arch            ; another ABI (i386 int 0x80 on x86_64) would bypass the numbers
//!     jeq AUDIT_ARCH_I386, I386   ; x86_64, when the filter has i386 numbers
//!     jeq AUDIT_ARCH, +0, KILL    ;   (`@docker/default` has): the same checks in those numbers
//!     ld  nr
//!     jge X32_BIT, BLOCK  ; x86_64 only: x32 calls are blocked as a whole
//!     jge 165, +0, +N     ; a balanced binary search of the listed numbers, merged into runs
//!     jge 56, ...         ;   of consecutive numbers with one verdict: jge on the first
//!     ...                 ;   number of the middle run, down to four runs, checked in turn:
//!     jeq 101, ERRNO, +0  ;   a single number by jeq,
//!     jgt 185, +0, LISTED ;   a run from the lowest number left by jgt on its last,
//!     jge 200, +0, OTHERS ;   any other run by jge on its first
//!     jgt 205, OTHERS, LISTED     ;   and jgt on its last
//!     ...
//!     ld  arg_lo          ; a call blocked on an argument (clone's flags, remove sets only):
//!     jset MASK, BLOCK, ALLOW     ;   the argument's low 32 bits (or jeq VALUE, or one jeq
//!     ...                 ;   per allowed value)
//!     ret OTHERS          ; BLOCK for a retain set, ALLOW for a remove set
//!     ret LISTED          ; ALLOW for a retain set, BLOCK for a remove set
//!     ...
//! I386:
//!     ld  nr              ; the same, in i386 numbers (no x32 check)
//!     ...
//! ```
//!
//! A call's verdict is the first it has of: its own errno (clone3 -> ENOSYS), the list, its
//! first argument condition. Returns are shared by the jumps that reach them; a target
//! further than a jump's 8-bit offset gets a trampoline next to the jump (a copy of the
//! return, or a `ja`). Each call costs the kernel a dozen instructions or so to decide,
//! instead of two per listed call: it runs the filter for every number of both ABIs when it
//! installs it (to cache the calls it allows whatever their arguments).
//!
//! BLOCK is `SECCOMP_RET_ERRNO | errno`, or `SECCOMP_RET_KILL_PROCESS` (the app dies of
//! SIGSYS) when the isolator names no errno.
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
/// Retain set: every call, no filter.
pub const ALL: &str = "@appc.io/all";
/// Remove set: no call, no filter.
pub const EMPTY: &str = "@appc.io/empty";

/// Docker's default profile (moby `profiles/seccomp/default.json`) as a deny list: groups of
/// calls, each with the capabilities any one of which lets the group through (none: always
/// blocked). Names this architecture lacks are skipped. Deliberate differences from Docker:
/// `ptrace`, `process_vm_readv` and `process_vm_writev` are allowed (as Docker does on kernels
/// from 4.8, where seccomp sees the calls a tracer rewrites) and `pivot_root` is let through by
/// CAP_SYS_ADMIN like `mount` (Docker blocks it always; with `mount` allowed it adds nothing).
/// Calls Docker's allow list does not know yet (newer than the profile) are allowed here.
pub const DOCKER_DENIED: &[(&[&str], &[&str])] = &[
    (
        &[
            "mount",
            "umount",
            "umount2",
            "unshare",
            "setns",
            "pivot_root",
            "fsopen",
            "fsconfig",
            "fsmount",
            "fspick",
            "move_mount",
            "open_tree",
            "open_tree_attr",
            "mount_setattr",
            "sethostname",
            "setdomainname",
            "quotactl",
            "quotactl_fd",
            "lookup_dcookie",
            "fanotify_init",
        ],
        &["CAP_SYS_ADMIN"],
    ),
    (&["bpf"], &["CAP_SYS_ADMIN", "CAP_BPF"]),
    (&["perf_event_open"], &["CAP_SYS_ADMIN", "CAP_PERFMON"]),
    (&["syslog"], &["CAP_SYS_ADMIN", "CAP_SYSLOG"]),
    (
        &[
            "init_module",
            "finit_module",
            "delete_module",
            "create_module",
            "get_kernel_syms",
            "query_module",
        ],
        &["CAP_SYS_MODULE"],
    ),
    (&["reboot"], &["CAP_SYS_BOOT"]),
    (
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        &["CAP_SYS_TIME"],
    ),
    (
        &["kcmp", "pidfd_getfd", "process_madvise"],
        &["CAP_SYS_PTRACE"],
    ),
    (&["acct"], &["CAP_SYS_PACCT"]),
    (&["iopl", "ioperm"], &["CAP_SYS_RAWIO"]),
    (&["open_by_handle_at"], &["CAP_DAC_READ_SEARCH"]),
    (&["vhangup"], &["CAP_SYS_TTY_CONFIG"]),
    (
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        &["CAP_SYS_NICE"],
    ),
    (
        &[
            "add_key",
            "keyctl",
            "request_key",
            "kexec_load",
            "kexec_file_load",
            "swapon",
            "swapoff",
            "userfaultfd",
            "move_pages",
            "migrate_pages",
            "io_uring_setup",
            "io_uring_enter",
            "io_uring_register",
            "nfsservctl",
            "_sysctl",
            "sysfs",
            "uselib",
            "ustat",
            "vm86",
            "vm86old",
            "afs_syscall",
            "getpmsg",
            "putpmsg",
            "security",
            "tuxcall",
            "vserver",
        ],
        &[],
    ),
];

/// Calls Docker allows only from kernel 4.8 (before it, a tracer could rewrite a call after
/// seccomp checked it); on older kernels they need CAP_SYS_PTRACE.
const PTRACE_FROM_4_8: [&str; 3] = ["ptrace", "process_vm_readv", "process_vm_writev"];

/// The namespace flags of `clone` (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET):
/// Docker's mask 0x7E020000.
pub const CLONE_NAMESPACE_FLAGS: u32 = 0x7E02_0000;
/// The personas Docker lets `personality` set (and 0xffffffff, which only queries).
const PERSONAS: [u32; 5] = [0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];
const AF_VSOCK: u32 = 40;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;
#[cfg(target_arch = "riscv64")]
const AUDIT_ARCH: u32 = 0xc000_00f3;

/// 32-bit x86 programs (`int 0x80`), which an x86_64 kernel runs too.
const AUDIT_ARCH_I386: u32 = 0x4000_0003;

/// x32 system calls on x86_64 have this bit set in their number.
#[cfg(target_arch = "x86_64")]
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const SECCOMP_DATA_NR: u32 = 0;
const SECCOMP_DATA_ARCH: u32 = 4;
/// `seccomp_data.args[0]`; each argument is 8 bytes.
const SECCOMP_DATA_ARGS: u32 = 16;
/// The kernel's limit on a filter's length.
const BPF_MAXINSNS: usize = 4096;

fn has(capabilities: u64, name: &str) -> bool {
    caps::number(name).is_some_and(|n| capabilities & (1 << n) != 0)
}

fn kernel_at_least(major: u32, minor: u32) -> bool {
    // SAFETY: uname fills the struct it is given.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return true;
    }
    let release: String = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8 as char)
        .collect();
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (ma, mi) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (ma, mi) >= (major, minor)
}

/// Docker's default profile for an app holding `capabilities`: the calls blocked whatever
/// their arguments, the argument conditions, and the calls with an errno of their own.
struct Docker {
    syscalls: Vec<u32>,
    conditions: Vec<ArgCondition>,
    errnos: Vec<(u32, i32)>,
    /// Calls of the profile that the capabilities let through (names on this architecture).
    relaxed: Vec<&'static str>,
}

fn docker(capabilities: u64) -> Docker {
    docker_with(capabilities, syscall_number)
}

/// [`docker`] in the numbers `number` gives (this architecture's, or i386's).
fn docker_with(capabilities: u64, number: fn(&str) -> Option<u32>) -> Docker {
    let sys_admin = has(capabilities, "CAP_SYS_ADMIN");
    let ptrace_gate: &[&str] = if kernel_at_least(4, 8) {
        &[]
    } else {
        &PTRACE_FROM_4_8
    };
    let groups = DOCKER_DENIED
        .iter()
        .copied()
        .chain(std::iter::once((ptrace_gate, &["CAP_SYS_PTRACE"][..])));
    let (mut syscalls, mut relaxed) = (Vec::new(), Vec::new());
    for (names, gates) in groups {
        let open = gates.iter().any(|g| has(capabilities, g));
        for n in names {
            match (number(n), open) {
                (Some(_), true) => relaxed.push(*n),
                (Some(nr), false) => syscalls.push(nr),
                (None, _) => {}
            }
        }
    }
    let mut conditions = Vec::new();
    let mut errnos = Vec::new();
    let mut cond = |name: &str, arg: u8, test: ArgTest| {
        if let Some(nr) = number(name) {
            conditions.push(ArgCondition {
                syscall: nr,
                arg,
                test,
            });
        }
    };
    if sys_admin {
        relaxed.extend(["clone (namespace flags)", "clone3"]);
    } else {
        // clone's flags are its first argument on every architecture built here (s390 differs).
        cond("clone", 0, ArgTest::AnyBit(CLONE_NAMESPACE_FLAGS));
        if let Some(nr) = number("clone3") {
            // Its flags are behind a pointer: ENOSYS makes libc fall back to clone.
            errnos.push((nr, libc::ENOSYS));
        }
    }
    cond("personality", 0, ArgTest::NoneOf(PERSONAS.to_vec()));
    cond("socket", 0, ArgTest::Equals(AF_VSOCK));
    syscalls.sort_unstable();
    syscalls.dedup();
    Docker {
        syscalls,
        conditions,
        errnos,
        relaxed,
    }
}

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
    let wildcard = match mode {
        SeccompMode::Retain => ALL,
        SeccompMode::Remove => EMPTY,
    };
    if names.iter().any(|n| n == wildcard) {
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
             {ALL} in a retain set, {EMPTY} and {DOCKER_DEFAULT} in a remove set)",
            if unknown.len() > 1 { "s" } else { "" },
            std::env::consts::ARCH,
            unknown.join(", ")
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

/// `@docker/default` and the `explicit` calls in the numbers of the i386 ABI (x86_64 only).
fn i386_docker(capabilities: u64, errno: Option<i32>, explicit: &[u32]) -> Option<Seccomp> {
    if !cfg!(target_arch = "x86_64") {
        return None;
    }
    let mut d = docker_with(capabilities, i386_number);
    d.conditions.retain(|c| !explicit.contains(&c.syscall));
    d.errnos.retain(|(nr, _)| !explicit.contains(nr));
    d.syscalls.extend(explicit);
    d.syscalls.sort_unstable();
    d.syscalls.dedup();
    Some(Seccomp {
        mode: SeccompMode::Remove,
        syscalls: d.syscalls,
        errno,
        errnos: d.errnos,
        conditions: d.conditions,
        i386: None,
    })
}

/// The i386 number of a call `@docker/default` names.
fn i386_number(name: &str) -> Option<u32> {
    I386.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

/// The i386 numbers of the calls `@docker/default` names (from the kernel's
/// `syscall_32.tbl`; `kexec_file_load` has none there). A remove set listing other calls with
/// the group has no i386 section: 32-bit calls kill the app, as under any other filter.
const I386: [(&str, u32); 76] = [
    ("mount", 21),
    ("umount", 22),
    ("stime", 25),
    ("ptrace", 26),
    ("acct", 51),
    ("umount2", 52),
    ("ustat", 62),
    ("sethostname", 74),
    ("settimeofday", 79),
    ("uselib", 86),
    ("swapon", 87),
    ("reboot", 88),
    ("ioperm", 101),
    ("syslog", 103),
    ("iopl", 110),
    ("vhangup", 111),
    ("vm86old", 113),
    ("swapoff", 115),
    ("clone", 120),
    ("setdomainname", 121),
    ("create_module", 127),
    ("init_module", 128),
    ("delete_module", 129),
    ("get_kernel_syms", 130),
    ("quotactl", 131),
    ("sysfs", 135),
    ("personality", 136),
    ("afs_syscall", 137),
    ("_sysctl", 149),
    ("vm86", 166),
    ("query_module", 167),
    ("nfsservctl", 169),
    ("getpmsg", 188),
    ("putpmsg", 189),
    ("pivot_root", 217),
    ("lookup_dcookie", 253),
    ("clock_settime", 264),
    ("vserver", 273),
    ("mbind", 274),
    ("get_mempolicy", 275),
    ("set_mempolicy", 276),
    ("kexec_load", 283),
    ("add_key", 286),
    ("request_key", 287),
    ("keyctl", 288),
    ("migrate_pages", 294),
    ("unshare", 310),
    ("move_pages", 317),
    ("perf_event_open", 336),
    ("fanotify_init", 338),
    ("open_by_handle_at", 342),
    ("setns", 346),
    ("process_vm_readv", 347),
    ("process_vm_writev", 348),
    ("kcmp", 349),
    ("finit_module", 350),
    ("bpf", 357),
    ("socket", 359),
    ("userfaultfd", 374),
    ("clock_settime64", 404),
    ("io_uring_setup", 425),
    ("io_uring_enter", 426),
    ("io_uring_register", 427),
    ("open_tree", 428),
    ("move_mount", 429),
    ("fsopen", 430),
    ("fsconfig", 431),
    ("fsmount", 432),
    ("fspick", 433),
    ("clone3", 435),
    ("pidfd_getfd", 438),
    ("process_madvise", 440),
    ("mount_setattr", 442),
    ("quotactl_fd", 443),
    ("set_mempolicy_home_node", 450),
    ("open_tree_attr", 467),
];

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

/// Offset of the low 32 bits of argument `i` in `seccomp_data`.
fn arg_low(i: u8) -> u32 {
    let hi = if cfg!(target_endian = "big") { 4 } else { 0 };
    SECCOMP_DATA_ARGS + 8 * i as u32 + hi
}

/// The BPF program of a filter (see the module documentation).
pub(crate) fn compile(s: &Seccomp) -> Result<Vec<libc::sock_filter>, String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_LD, BPF_W};
    let mut b = Backwards::default();
    // i386 calls, when the filter has their numbers, go to their own section at the end.
    let i386 = s.i386.as_deref().filter(|_| cfg!(target_arch = "x86_64"));
    let i386 = i386.map(|i| section(i, false, &mut b)).transpose()?;
    let native = section(s, true, &mut b)?;
    let mut first = b.jump(
        BPF_JEQ,
        AUDIT_ARCH,
        Target::At(native),
        Target::Ret(libc::SECCOMP_RET_KILL_PROCESS),
    );
    if let Some(i386) = i386 {
        first = b.jump(
            BPF_JEQ,
            AUDIT_ARCH_I386,
            Target::At(i386),
            Target::At(first),
        );
    }
    b.fall_to(first);
    b.push(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH));
    let p = b.finish();
    if p.len() > BPF_MAXINSNS {
        return Err(format!(
            "the seccomp filter has {} instructions, more than the kernel's {BPF_MAXINSNS}",
            p.len()
        ));
    }
    Ok(p)
}

/// What one call number gets: a return value, or the test of an argument.
#[derive(Clone, Copy)]
enum Verdict<'a> {
    Ret(u32),
    Test(&'a ArgCondition),
}

/// Consecutive call numbers with one return value (a test has a run of its own).
struct Run<'a> {
    lo: u32,
    hi: u32,
    verdict: Verdict<'a>,
}

/// The checks of one ABI's numbers, from loading the number to the last return; the place of
/// its first instruction. `native`: x86_64's x32 calls are blocked as a whole.
fn section(s: &Seccomp, native: bool, b: &mut Backwards) -> Result<usize, String> {
    use libc::{BPF_ABS, BPF_LD, BPF_W};
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA);
    let block = match s.errno {
        Some(e) => errno(e),
        None => libc::SECCOMP_RET_KILL_PROCESS,
    };
    let (listed, others) = match s.mode {
        SeccompMode::Retain => (libc::SECCOMP_RET_ALLOW, block),
        SeccompMode::Remove => (block, libc::SECCOMP_RET_ALLOW),
    };
    // Every call's verdict; the first one given to a call decides: its own errno, then the
    // list, then (remove sets) its first argument condition.
    let mut calls: Vec<(u32, Verdict)> = Vec::new();
    calls.extend(s.errnos.iter().map(|&(nr, e)| (nr, Verdict::Ret(errno(e)))));
    calls.extend(s.syscalls.iter().map(|&nr| (nr, Verdict::Ret(listed))));
    if s.mode == SeccompMode::Remove {
        let mut seen = Vec::new();
        for c in &s.conditions {
            // A listed call is blocked already.
            if s.syscalls.contains(&c.syscall) || seen.contains(&c.syscall) {
                continue;
            }
            seen.push(c.syscall);
            validate(c)?;
            calls.push((c.syscall, Verdict::Test(c)));
        }
    }
    calls.sort_by_key(|&(nr, _)| nr); // stable: the first verdict of a call stays first
    calls.dedup_by_key(|&mut (nr, _)| nr);
    // Past the x32 check, the numbers are below its bit.
    #[cfg(target_arch = "x86_64")]
    let end = if native {
        u64::from(X32_SYSCALL_BIT)
    } else {
        1 << 32
    };
    #[cfg(not(target_arch = "x86_64"))]
    let end = 1 << 32;
    let mut runs: Vec<Run> = Vec::new();
    for (nr, verdict) in calls {
        if matches!(verdict, Verdict::Ret(k) if k == others) || u64::from(nr) >= end {
            continue;
        }
        match (runs.last_mut(), verdict) {
            (Some(r), Verdict::Ret(k))
                if r.hi.checked_add(1) == Some(nr)
                    && matches!(r.verdict, Verdict::Ret(l) if l == k) =>
            {
                r.hi = nr
            }
            _ => runs.push(Run {
                lo: nr,
                hi: nr,
                verdict,
            }),
        }
    }
    let start = tree(b, &runs, 0, end, others, block)?;
    #[cfg(target_arch = "x86_64")]
    let start = match native {
        true => b.jump(
            libc::BPF_JGE,
            X32_SYSCALL_BIT,
            Target::Ret(block),
            Target::At(start),
        ),
        false => start,
    };
    b.fall_to(start);
    Ok(b.push(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR)))
}

/// Runs of at most this many at the leaves of the search are checked one after the other.
const CHAIN: usize = 4;

/// A balanced binary search of `runs`, the number in the accumulator being in `from..to`:
/// `jge` splits on the first number of the middle run, down to [`CHAIN`] runs or fewer,
/// checked in turn (see [`chain`]). The place of its first instruction.
fn tree(
    b: &mut Backwards,
    runs: &[Run],
    from: u64,
    to: u64,
    others: u32,
    block: u32,
) -> Result<usize, String> {
    if runs.len() <= CHAIN {
        return chain(b, runs, from, to, others, block);
    }
    let mid = runs.len() / 2;
    let split = runs[mid].lo;
    // Built from the end: the upper half lands after the lower one.
    let upper = tree(b, &runs[mid..], split.into(), to, others, block)?;
    let lower = tree(b, &runs[..mid], from, split.into(), others, block)?;
    Ok(b.jump(libc::BPF_JGE, split, Target::At(upper), Target::At(lower)))
}

/// A few runs checked in turn, from the lowest, the number being in `from..to` and in none of
/// the runs already checked: a single number by `jeq`; a run starting at the lowest number
/// left by `jgt` on its last (past it, the lowest number left is the next); any other by
/// `jge` on its first (below it: no run) and `jgt` on its last. A run that ends the range
/// needs no `jgt`.
fn chain(
    b: &mut Backwards,
    runs: &[Run],
    from: u64,
    to: u64,
    others: u32,
    block: u32,
) -> Result<usize, String> {
    use libc::{BPF_JEQ, BPF_JGE, BPF_JGT};
    // The lowest number each run can meet.
    let mut least = Vec::with_capacity(runs.len());
    let mut low = from;
    for r in runs {
        least.push(low);
        if u64::from(r.lo) == low || r.lo != r.hi {
            low = u64::from(r.hi) + 1;
        }
    }
    let otherwise = Target::Ret(others);
    let mut next = otherwise;
    for (r, &low) in runs.iter().zip(&least).rev() {
        let then = match r.verdict {
            Verdict::Ret(k) => Target::Ret(k),
            Verdict::Test(c) => Target::At(test(b, c, block)?),
        };
        let (lo, hi) = (u64::from(r.lo), u64::from(r.hi));
        next = Target::At(match (lo == low, hi + 1 == to) {
            (true, true) => b.place(then),
            (true, false) => b.jump(BPF_JGT, r.hi, next, then),
            (false, true) => b.jump(BPF_JGE, r.lo, then, otherwise),
            (false, false) if lo == hi => b.jump(BPF_JEQ, r.lo, then, next),
            (false, false) => {
                let past = b.jump(BPF_JGT, r.hi, next, then);
                b.jump(BPF_JGE, r.lo, Target::At(past), otherwise)
            }
        });
    }
    Ok(b.place(next))
}

/// The errors of an argument condition, for every condition a call would use were it not
/// given an errno of its own.
fn validate(c: &ArgCondition) -> Result<(), String> {
    if c.arg > 5 {
        return Err(format!("system calls have 6 arguments, not {}", c.arg + 1));
    }
    match &c.test {
        ArgTest::NoneOf(vs) if vs.len() >= u8::MAX as usize => {
            Err("too many values in one argument condition".into())
        }
        _ => Ok(()),
    }
}

/// The check of a call's argument after its number matched: load the argument's low 32
/// bits, test them, go to `block` or ALLOW. The place of its first instruction.
fn test(b: &mut Backwards, c: &ArgCondition, block: u32) -> Result<usize, String> {
    use libc::{BPF_ABS, BPF_JEQ, BPF_JSET, BPF_LD, BPF_W};
    let (block, allow) = (Target::Ret(block), Target::Ret(libc::SECCOMP_RET_ALLOW));
    validate(c)?;
    let first = match &c.test {
        ArgTest::AnyBit(m) => b.jump(BPF_JSET, *m, block, allow),
        ArgTest::Equals(v) => b.jump(BPF_JEQ, *v, block, allow),
        ArgTest::NoneOf(vs) => {
            let mut next = block;
            for v in vs.iter().rev() {
                next = Target::At(b.jump(BPF_JEQ, *v, allow, next));
            }
            b.place(next)
        }
    };
    b.fall_to(first);
    Ok(b.push(stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(c.arg))))
}

/// Where a jump goes: an instruction already placed, or a return of this value.
#[derive(Clone, Copy)]
enum Target {
    At(usize),
    Ret(u32),
}

/// A program built from its last instruction back: a jump's targets are placed before it, so
/// their distance is known, and one further than a jump reaches (255 instructions) gets a
/// trampoline next to the jump: a copy of the return it leads to, or a `ja` (32-bit offset).
/// A place is an index in `rev`, counted from the end of the program.
#[derive(Default)]
struct Backwards {
    rev: Vec<libc::sock_filter>,
    /// The nearest return of each value.
    rets: Vec<(u32, usize)>,
}

impl Backwards {
    fn push(&mut self, i: libc::sock_filter) -> usize {
        self.rev.push(i);
        self.rev.len() - 1
    }

    fn ret(&mut self, k: u32) -> usize {
        let at = self.push(stmt(libc::BPF_RET | libc::BPF_K, k));
        self.rets.retain(|&(v, _)| v != k);
        self.rets.push((k, at));
        at
    }

    fn place(&mut self, t: Target) -> usize {
        match t {
            Target::At(at) => at,
            Target::Ret(k) => match self.rets.iter().find(|&&(v, _)| v == k) {
                Some(&(_, at)) => at,
                None => self.ret(k),
            },
        }
    }

    /// The offset from an instruction placed next to `at`.
    fn offset(&self, at: usize) -> usize {
        self.rev.len() - at - 1
    }

    /// A place next to here that leads to `at`.
    fn trampoline(&mut self, at: usize) -> usize {
        let i = self.rev[at];
        if u32::from(i.code) & 0x07 == libc::BPF_RET {
            self.ret(i.k)
        } else {
            let k = self.offset(at) as u32;
            self.push(stmt(libc::BPF_JMP | libc::BPF_JA, k))
        }
    }

    /// Makes the instruction placed next go on to `at`.
    fn fall_to(&mut self, at: usize) {
        if at + 1 != self.rev.len() {
            self.trampoline(at);
        }
    }

    /// A conditional jump (`op`: BPF_JEQ, BPF_JGE, ...) on the accumulator against `k`.
    fn jump(&mut self, op: u32, k: u32, jt: Target, jf: Target) -> usize {
        let (mut t, mut f) = (self.place(jt), self.place(jf));
        if t == f {
            return t;
        }
        let far = u8::MAX as usize;
        loop {
            if self.offset(t) > far {
                t = self.trampoline(t);
            } else if self.offset(f) > far {
                f = self.trampoline(f);
            } else {
                break;
            }
        }
        let (jt, jf) = (self.offset(t) as u8, self.offset(f) as u8);
        self.push(jump(libc::BPF_JMP | op | libc::BPF_K, k, jt, jf))
    }

    fn finish(self) -> Vec<libc::sock_filter> {
        self.rev.into_iter().rev().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The linear program the binary search replaced, kept to compare verdicts with.
    mod linear {
        use super::*;

        /// The instructions after a conditional call's number matched: load the argument, test it,
        /// return `block` or ALLOW.
        fn condition(c: &ArgCondition, block: u32) -> Result<Vec<libc::sock_filter>, String> {
            use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_JSET, BPF_K, BPF_LD, BPF_RET, BPF_W};
            if c.arg > 5 {
                return Err(format!("system calls have 6 arguments, not {}", c.arg + 1));
            }
            let mut p = vec![stmt(BPF_LD | BPF_W | BPF_ABS, arg_low(c.arg))];
            match &c.test {
                ArgTest::AnyBit(m) => p.push(jump(BPF_JMP | BPF_JSET | BPF_K, *m, 0, 1)),
                ArgTest::Equals(v) => p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *v, 0, 1)),
                ArgTest::NoneOf(vs) => {
                    let n = u8::try_from(vs.len())
                        .ok()
                        .filter(|&n| n < u8::MAX)
                        .ok_or("too many values in one argument condition")?;
                    for (j, v) in vs.iter().enumerate() {
                        // Jump over the remaining tests and the block to ALLOW.
                        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, *v, n - j as u8, 0));
                    }
                }
            }
            p.push(stmt(BPF_RET | BPF_K, block));
            p.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_ALLOW));
            Ok(p)
        }

        /// The program as compiled before: a linear chain, two instructions per listed call.
        pub fn compile(s: &Seccomp) -> Result<Vec<libc::sock_filter>, String> {
            use libc::{BPF_ABS, BPF_JA, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
            let mut p = vec![stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_ARCH)];
            // i386 calls, when the filter has their numbers, jump to their own section at the end.
            let i386 = s.i386.as_deref().filter(|_| cfg!(target_arch = "x86_64"));
            let ja = i386.map(|_| {
                p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_I386, 0, 1));
                p.push(stmt(BPF_JMP | BPF_JA, 0));
                p.len() - 1
            });
            p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH, 1, 0));
            p.push(stmt(BPF_RET | BPF_K, libc::SECCOMP_RET_KILL_PROCESS));
            section(s, true, &mut p)?;
            if let (Some(at), Some(i)) = (ja, i386) {
                p[at].k = (p.len() - at - 1) as u32;
                section(i, false, &mut p)?;
            }
            if p.len() > BPF_MAXINSNS {
                return Err(format!(
                    "the seccomp filter has {} instructions, more than the kernel's {BPF_MAXINSNS}",
                    p.len()
                ));
            }
            Ok(p)
        }

        /// The checks of one ABI's numbers, from loading the number to the last return. `native`:
        /// x86_64's x32 calls are blocked as a whole.
        fn section(
            s: &Seccomp,
            native: bool,
            p: &mut Vec<libc::sock_filter>,
        ) -> Result<(), String> {
            use libc::{BPF_ABS, BPF_JEQ, BPF_JMP, BPF_K, BPF_LD, BPF_RET, BPF_W};
            let errno = |e: i32| libc::SECCOMP_RET_ERRNO | (e as u32 & libc::SECCOMP_RET_DATA);
            let block = match s.errno {
                Some(e) => errno(e),
                None => libc::SECCOMP_RET_KILL_PROCESS,
            };
            let (listed, others) = match s.mode {
                SeccompMode::Retain => (libc::SECCOMP_RET_ALLOW, block),
                SeccompMode::Remove => (block, libc::SECCOMP_RET_ALLOW),
            };
            p.push(stmt(BPF_LD | BPF_W | BPF_ABS, SECCOMP_DATA_NR));
            #[cfg(target_arch = "x86_64")]
            if native {
                p.push(jump(BPF_JMP | libc::BPF_JGE | BPF_K, X32_SYSCALL_BIT, 0, 1));
                p.push(stmt(BPF_RET | BPF_K, block));
            }
            let _ = native;
            for &(nr, e) in &s.errnos {
                p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
                p.push(stmt(BPF_RET | BPF_K, errno(e)));
            }
            for &nr in &s.syscalls {
                p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 1));
                p.push(stmt(BPF_RET | BPF_K, listed));
            }
            if s.mode == SeccompMode::Remove {
                let mut seen = Vec::new();
                for c in &s.conditions {
                    // The first condition of a call decides; a listed call is blocked already.
                    if s.syscalls.contains(&c.syscall) || seen.contains(&c.syscall) {
                        continue;
                    }
                    seen.push(c.syscall);
                    let body = condition(c, block)?;
                    let skip =
                        u8::try_from(body.len()).map_err(|_| "argument condition too long")?;
                    p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, c.syscall, 0, skip));
                    p.extend(body);
                }
            }
            p.push(stmt(BPF_RET | BPF_K, others));
            Ok(())
        }
    }

    /// Runs the program over (arch, nr, args) the way the kernel would, for the instructions
    /// it uses.
    fn eval_args(p: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        run(p, arch, nr, args).0
    }

    /// The verdict, and the instructions run before it or before an argument is loaded: what
    /// the kernel runs for the call when it installs the filter (to cache constant verdicts).
    fn run(p: &[libc::sock_filter], arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let (mut pc, mut acc) = (0usize, 0u32);
        let (mut steps, mut constant) = (0, true);
        loop {
            let i = p[pc];
            let code = i.code as u32;
            steps += constant as usize;
            match code & 0x07 {
                libc::BPF_LD => {
                    acc = match i.k {
                        SECCOMP_DATA_ARCH => arch,
                        SECCOMP_DATA_NR => nr,
                        k => {
                            constant = false;
                            let a = args[((k - SECCOMP_DATA_ARGS) / 8) as usize];
                            if (k - SECCOMP_DATA_ARGS).is_multiple_of(8) {
                                a as u32
                            } else {
                                (a >> 32) as u32
                            }
                        }
                    };
                    pc += 1;
                }
                libc::BPF_RET => return (i.k, steps),
                libc::BPF_JMP if code & 0xf0 == libc::BPF_JA => pc += 1 + i.k as usize,
                libc::BPF_JMP => {
                    let hit = match code & 0xf0 {
                        libc::BPF_JEQ => acc == i.k,
                        libc::BPF_JGE => acc >= i.k,
                        libc::BPF_JGT => acc > i.k,
                        libc::BPF_JSET => acc & i.k != 0,
                        op => panic!("unexpected jump {op:#x}"),
                    };
                    pc += 1 + if hit { i.jt } else { i.jf } as usize;
                }
                c => panic!("unexpected class {c:#x}"),
            }
        }
    }

    fn eval(p: &[libc::sock_filter], arch: u32, nr: u32) -> u32 {
        eval_args(p, arch, nr, [0; 6])
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
        // Shorter than the linear chain (17 instructions on x86_64).
        assert!(p.len() < linear::compile(&s).unwrap().len(), "{}", p.len());
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

    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;

    fn bit(name: &str) -> u64 {
        1 << caps::number(name).unwrap()
    }

    #[test]
    fn docker_default_blocks_what_containers_escape_with() {
        let s = docker_default(caps::DEFAULT_SET);
        let p = compile(&s).unwrap();
        let run = |n: &str, a0: u64| eval_args(&p, AUDIT_ARCH, nr(n), [a0, 0, 0, 0, 0, 0]);
        for n in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "request_key",
            "bpf",
            "perf_event_open",
            "fsopen",
            "fsmount",
            "move_mount",
            "open_tree",
            "mount_setattr",
            "init_module",
            "finit_module",
            "delete_module",
            "kexec_load",
            "reboot",
            "swapon",
            "pivot_root",
            "acct",
            "settimeofday",
            "clock_settime",
            "iopl",
            "ioperm",
            "kcmp",
            "userfaultfd",
            "open_by_handle_at",
            "io_uring_setup",
            "syslog",
        ] {
            assert_eq!(run(n, 0), EPERM, "{n}");
        }
        for n in [
            "read",
            "openat",
            "chroot",
            "ptrace",
            "process_vm_readv",
            "execve",
            "setuid",
            "name_to_handle_at",
            "adjtimex",
            "clock_adjtime",
        ] {
            assert_eq!(run(n, 0), libc::SECCOMP_RET_ALLOW, "{n}");
        }
        // clone: threads and fork go, namespaces do not.
        let thread =
            (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_THREAD) as u64;
        assert_eq!(run("clone", thread), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run("clone", libc::SIGCHLD as u64), libc::SECCOMP_RET_ALLOW);
        for ns in [
            libc::CLONE_NEWUSER,
            libc::CLONE_NEWNS,
            libc::CLONE_NEWPID,
            libc::CLONE_NEWNET,
            libc::CLONE_NEWUTS,
            libc::CLONE_NEWIPC,
            libc::CLONE_NEWCGROUP,
        ] {
            assert_eq!(
                run("clone", ns as u64 | libc::SIGCHLD as u64),
                EPERM,
                "{ns:#x}"
            );
        }
        assert_eq!(
            run("clone3", 0),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        assert_eq!(run("personality", 0xffff_ffff), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run("personality", 8), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run("personality", 0x0040_0000), EPERM, "READ_IMPLIES_EXEC");
        assert_eq!(run("socket", libc::AF_INET as u64), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run("socket", libc::AF_VSOCK as u64), EPERM);
        // Only the low 32 bits count: the kernel reads clone's flags as 32 bits.
        assert_eq!(run("clone", 1 << 40), libc::SECCOMP_RET_ALLOW);
        // Short: a few hundred instructions at most.
        assert!(p.len() < 400, "{}", p.len());
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn i386_programs_get_the_default_too() {
        let p = compile(&docker_default(caps::DEFAULT_SET)).unwrap();
        let run = |nr: u32, a0: u64| eval_args(&p, AUDIT_ARCH_I386, nr, [a0, 0, 0, 0, 0, 0]);
        // i386 numbers: unshare 310, keyctl 288, mount 21, read 3, clone 120, clone3 435.
        for nr in [310, 288, 21] {
            assert_eq!(run(nr, 0), EPERM, "{nr}");
        }
        assert_eq!(run(3, 0), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(120, libc::SIGCHLD as u64), libc::SECCOMP_RET_ALLOW);
        assert_eq!(run(120, libc::CLONE_NEWUSER as u64), EPERM);
        assert_eq!(run(435, 0), libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
        // The native section is unchanged by it.
        assert_eq!(eval(&p, AUDIT_ARCH, nr("unshare")), EPERM);
        assert_eq!(
            eval(&p, AUDIT_ARCH, 3),
            libc::SECCOMP_RET_ALLOW,
            "x86_64 close"
        );
        // Other filters still kill 32-bit calls.
        let s = resolve(SeccompMode::Remove, &names(&["mkdir"]), Some("EPERM"))
            .unwrap()
            .unwrap();
        let p = compile(&s).unwrap();
        assert_eq!(eval(&p, AUDIT_ARCH_I386, 3), libc::SECCOMP_RET_KILL_PROCESS);
        // Listed with the group: an i386 section when the calls have i386 numbers here.
        let with = |v: &[&str]| {
            resolve(SeccompMode::Remove, &names(v), Some("EPERM"))
                .unwrap()
                .unwrap()
                .i386
        };
        let i = with(&["@docker/default", "fsopen", "clone"]).expect("an i386 section");
        assert!(i.syscalls.contains(&120) && !i.conditions.iter().any(|c| c.syscall == 120));
        assert!(with(&["@docker/default", "mkdir"]).is_none());
        // The table has the calls the profile names, and only those.
        let known = |n: &str| {
            DOCKER_DENIED.iter().any(|(names, _)| names.contains(&n))
                || PTRACE_FROM_4_8.contains(&n)
                || ["clone", "clone3", "personality", "socket"].contains(&n)
        };
        assert!(I386.iter().all(|(n, _)| known(n)));
        assert!(I386.windows(2).all(|w| w[0].1 < w[1].1), "sorted by number");
    }

    #[test]
    fn capabilities_relax_the_default_like_docker() {
        let admin = docker_default(caps::DEFAULT_SET | bit("CAP_SYS_ADMIN"));
        let p = compile(&admin).unwrap();
        let run = |n: &str, a0: u64| eval_args(&p, AUDIT_ARCH, nr(n), [a0, 0, 0, 0, 0, 0]);
        for n in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "fsopen",
            "bpf",
            "pivot_root",
        ] {
            assert_eq!(run(n, 0), libc::SECCOMP_RET_ALLOW, "{n}");
        }
        assert_eq!(
            run("clone", libc::CLONE_NEWUSER as u64),
            libc::SECCOMP_RET_ALLOW
        );
        assert_eq!(run("clone3", 0), libc::SECCOMP_RET_ALLOW);
        for n in ["keyctl", "init_module", "reboot", "settimeofday", "kcmp"] {
            assert_eq!(run(n, 0), EPERM, "{n} needs another capability");
        }
        let relaxed = docker_default_relaxed(caps::DEFAULT_SET | bit("CAP_SYS_ADMIN"));
        assert!(relaxed.contains(&"mount") && relaxed.contains(&"clone3"));
        assert!(docker_default_relaxed(caps::DEFAULT_SET).is_empty());
        for (cap, calls) in [
            (
                "CAP_SYS_MODULE",
                &["init_module", "finit_module", "delete_module"][..],
            ),
            ("CAP_SYS_TIME", &["settimeofday", "clock_settime"]),
            ("CAP_SYS_BOOT", &["reboot"]),
            ("CAP_SYS_PTRACE", &["kcmp", "pidfd_getfd"]),
            ("CAP_SYS_PACCT", &["acct"]),
            ("CAP_SYS_RAWIO", &["iopl", "ioperm"]),
            ("CAP_SYSLOG", &["syslog"]),
            ("CAP_BPF", &["bpf"]),
            ("CAP_PERFMON", &["perf_event_open"]),
        ] {
            let p = compile(&docker_default(caps::DEFAULT_SET | bit(cap))).unwrap();
            for n in calls {
                assert_eq!(
                    eval(&p, AUDIT_ARCH, nr(n)),
                    libc::SECCOMP_RET_ALLOW,
                    "{cap} {n}"
                );
            }
            assert_eq!(eval(&p, AUDIT_ARCH, nr("mount")), EPERM, "{cap}");
            assert_eq!(eval(&p, AUDIT_ARCH, nr("keyctl")), EPERM, "{cap}");
        }
    }

    #[test]
    fn the_group_in_a_remove_set() {
        // With more calls, and their errno; an explicitly listed call loses its condition.
        let s = resolve(
            SeccompMode::Remove,
            &names(&["@docker/default", "mkdir", "clone"]),
            Some("EACCES"),
        )
        .unwrap()
        .unwrap();
        let p = compile(&s).unwrap();
        let eacces = libc::SECCOMP_RET_ERRNO | libc::EACCES as u32;
        assert_eq!(eval(&p, AUDIT_ARCH, nr("mkdir")), eacces);
        assert_eq!(eval(&p, AUDIT_ARCH, nr("mount")), eacces);
        assert_eq!(eval(&p, AUDIT_ARCH, nr("clone")), eacces);
        assert_eq!(
            eval(&p, AUDIT_ARCH, nr("clone3")),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        // No errno: blocked calls kill, but clone3 still says ENOSYS.
        let s = resolve(SeccompMode::Remove, &names(&["@docker/default"]), None)
            .unwrap()
            .unwrap();
        let p = compile(&s).unwrap();
        assert_eq!(
            eval(&p, AUDIT_ARCH, nr("keyctl")),
            libc::SECCOMP_RET_KILL_PROCESS
        );
        assert_eq!(
            eval(&p, AUDIT_ARCH, nr("clone3")),
            libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        let e = resolve(SeccompMode::Retain, &names(&["@docker/default"]), None).unwrap_err();
        assert!(e.contains("remove set"), "{e}");
    }

    #[test]
    fn what_an_isolator_lets_through() {
        let d = caps::DEFAULT_SET;
        let all = let_through(SeccompMode::Retain, &names(&["@appc.io/all"]), d).unwrap();
        for n in ["mount", "keyctl", "clone3", "clone (namespace flags)"] {
            assert!(all.iter().any(|x| x == n), "{n} in {all:?}");
        }
        let empty = let_through(SeccompMode::Remove, &names(&["@appc.io/empty"]), d).unwrap();
        assert_eq!(empty, all);
        let weaker = let_through(SeccompMode::Remove, &names(&["reboot", "keyctl"]), d).unwrap();
        assert!(weaker.iter().any(|x| x == "mount"), "{weaker:?}");
        assert!(!weaker.iter().any(|x| x == "keyctl" || x == "reboot"));
        let none = |mode, v: &[&str]| let_through(mode, &names(v), d).unwrap().is_empty();
        assert!(none(SeccompMode::Remove, &["@docker/default", "mkdir"]));
        assert!(none(SeccompMode::Retain, &["read", "write", "openat"]));
        assert_eq!(
            let_through(SeccompMode::Retain, &names(&["read", "mount", "clone"]), d).unwrap(),
            vec!["mount".to_string(), "clone (namespace flags)".into()]
        );
        // With CAP_SYS_ADMIN the default lets mount through, so a set allowing it asks nothing.
        let admin = d | bit("CAP_SYS_ADMIN");
        assert!(
            let_through(SeccompMode::Retain, &names(&["read", "mount"]), admin)
                .unwrap()
                .is_empty()
        );
    }

    /// A program the kernel takes: at most BPF_MAXINSNS, every jump inside it, a return last,
    /// only instructions its verdict cache follows.
    fn check_shape(p: &[libc::sock_filter]) {
        assert!(!p.is_empty() && p.len() <= BPF_MAXINSNS, "{}", p.len());
        assert_eq!(p[p.len() - 1].code as u32 & 0x07, libc::BPF_RET);
        for (pc, i) in p.iter().enumerate() {
            let code = i.code as u32;
            match code & 0x07 {
                libc::BPF_JMP if code & 0xf0 == libc::BPF_JA => {
                    assert!(pc + 1 + (i.k as usize) < p.len(), "ja at {pc}")
                }
                libc::BPF_JMP => assert!(pc + 1 + (i.jt.max(i.jf) as usize) < p.len(), "{pc}"),
                libc::BPF_LD | libc::BPF_RET => {}
                c => panic!("unexpected class {c:#x} at {pc}"),
            }
        }
    }

    /// Argument values that decide the conditions of `s` and of its i386 section.
    fn deciding_args(s: &Seccomp) -> Vec<u64> {
        let mut v = vec![0, 1, 0xffff_ffff, 1 << 40, u64::MAX];
        let mut add = |x: u32| {
            let x = x as u64;
            v.extend([x, x | 1 << 33, x + 1, x.wrapping_sub(1) & 0xffff_ffff]);
        };
        let i386 = s.i386.iter().flat_map(|i| &i.conditions);
        for c in s.conditions.iter().chain(i386) {
            match &c.test {
                ArgTest::AnyBit(m) => {
                    add(*m);
                    add(!*m);
                    (0..32)
                        .filter(|b| m & 1 << b != 0)
                        .for_each(|b| add(1 << b));
                }
                ArgTest::Equals(x) => add(*x),
                ArgTest::NoneOf(xs) => xs.iter().for_each(|&x| add(x)),
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    }

    /// The search gives every call the linear chain's verdict: numbers 0..=500, those `s`
    /// names and their neighbours, x32 and the largest ones; each ABI and an unknown one; for
    /// conditional calls, each deciding value in every argument, and in one at a time.
    fn same_verdicts(s: &Seccomp) {
        let (old, new) = match (linear::compile(s), compile(s)) {
            (Ok(old), Ok(new)) => (old, new),
            // Too long as a chain, not always as a search.
            (Err(old), new) => return assert!(new.is_ok() || new.err() == Some(old)),
            (Ok(_), Err(e)) => panic!("{e} for {s:?}"),
        };
        check_shape(&new);
        let sections = std::iter::once(s).chain(s.i386.as_deref());
        let named: Vec<u32> = sections
            .flat_map(|s| {
                let errnos = s.errnos.iter().map(|(nr, _)| *nr);
                let conditions = s.conditions.iter().map(|c| c.syscall);
                s.syscalls.iter().copied().chain(errnos).chain(conditions)
            })
            .collect();
        let mut nrs: Vec<u32> = (0..=500).collect();
        for n in &named {
            nrs.extend([n.wrapping_sub(1), *n, n.wrapping_add(1)]);
        }
        nrs.extend([
            1 << 30,
            (1 << 30) | 1,
            (1 << 30) + 500,
            1 << 31,
            u32::MAX - 1,
            u32::MAX,
        ]);
        nrs.sort_unstable();
        nrs.dedup();
        let conditioned: Vec<u32> = std::iter::once(s)
            .chain(s.i386.as_deref())
            .flat_map(|s| s.conditions.iter().map(|c| c.syscall))
            .collect();
        let deciding = deciding_args(s);
        let plain = [0, u64::MAX];
        for arch in [AUDIT_ARCH, AUDIT_ARCH_I386, 0xc000_0028, 0] {
            for &nr in &nrs {
                let values = if conditioned.contains(&nr) {
                    &deciding[..]
                } else {
                    &plain[..]
                };
                for &a in values {
                    let mut cases = vec![[a; 6]];
                    cases.extend((0..6).map(|i| {
                        let mut args = [0; 6];
                        args[i] = a;
                        args
                    }));
                    for args in cases {
                        assert_eq!(
                            eval_args(&new, arch, nr, args),
                            eval_args(&old, arch, nr, args),
                            "arch {arch:#x} nr {nr} args {args:x?} in {s:?}"
                        );
                    }
                }
            }
        }
    }

    /// xorshift64: the same filters on every run.
    struct Rng(u64);

    impl Rng {
        fn below(&mut self, n: u64) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0 % n
        }
    }

    /// A filter with anything `Seccomp` can hold: unsorted and repeated numbers in clusters
    /// (runs), x32 and huge ones, errnos and conditions on listed calls and on each other, a
    /// listed call's errno equal to the blocking one, conditions in retain sets.
    fn random_filter(r: &mut Rng, i386: bool) -> Seccomp {
        let number = |r: &mut Rng| match r.below(24) {
            0 => (1 << 30) | r.below(8) as u32,
            1 => u32::MAX - r.below(3) as u32,
            2 => 0,
            _ => r.below(480) as u32,
        };
        let mut syscalls = Vec::new();
        for _ in 0..r.below(100) {
            let n = number(r);
            for k in 0..=r.below(5) as u32 {
                syscalls.push(n.wrapping_add(k));
            }
        }
        let errno = |r: &mut Rng| {
            let few = r.below(2) == 0;
            1 + r.below(if few { 3 } else { 133 }) as i32
        };
        let errnos = (0..r.below(8)).map(|_| (number(r), errno(r))).collect();
        let conditions = (0..r.below(8))
            .map(|_| ArgCondition {
                syscall: number(r),
                arg: r.below(6) as u8,
                test: match r.below(3) {
                    0 => ArgTest::AnyBit(r.below(1 << 32) as u32),
                    1 => ArgTest::Equals(r.below(64) as u32),
                    _ => ArgTest::NoneOf((0..r.below(6)).map(|_| r.below(64) as u32).collect()),
                },
            })
            .collect();
        Seccomp {
            mode: if r.below(2) == 0 {
                SeccompMode::Retain
            } else {
                SeccompMode::Remove
            },
            syscalls,
            errno: (r.below(3) != 0).then(|| errno(r)),
            errnos,
            conditions,
            i386: (i386 && r.below(2) == 0).then(|| Box::new(random_filter(r, false))),
        }
    }

    #[test]
    fn the_search_gives_every_call_the_verdict_of_the_linear_chain() {
        let d = caps::DEFAULT_SET;
        for capabilities in [
            0,
            d,
            d | bit("CAP_SYS_ADMIN"),
            d | bit("CAP_SYS_PTRACE"),
            d | bit("CAP_SYS_MODULE") | bit("CAP_SYS_TIME") | bit("CAP_SYS_BOOT"),
            d | bit("CAP_BPF") | bit("CAP_PERFMON") | bit("CAP_SYSLOG"),
            d | bit("CAP_SYS_NICE") | bit("CAP_SYS_RAWIO") | bit("CAP_DAC_READ_SEARCH"),
            u64::MAX,
        ] {
            same_verdicts(&docker_default(capabilities));
            for (mode, v, errno) in [
                (
                    SeccompMode::Remove,
                    &["@docker/default", "mkdir", "clone"][..],
                    Some("EACCES"),
                ),
                (SeccompMode::Remove, &["@docker/default"], None),
                (
                    SeccompMode::Remove,
                    &["@docker/default", "personality", "socket", "clone3"],
                    Some("EPERM"),
                ),
                (
                    SeccompMode::Remove,
                    &["@docker/default", "fsopen"],
                    Some("ENOSYS"),
                ),
                (
                    SeccompMode::Remove,
                    &["mkdir", "mkdirat", "rmdir"],
                    Some("EPERM"),
                ),
                (SeccompMode::Remove, &["reboot"], None),
                (SeccompMode::Retain, &["read", "write"], None),
                (
                    SeccompMode::Retain,
                    &["read", "write", "openat", "close", "mmap", "brk", "clone"],
                    Some("ENOSYS"),
                ),
            ] {
                let s = resolve_for(mode, &names(v), errno, capabilities)
                    .unwrap()
                    .unwrap();
                same_verdicts(&s);
            }
        }
        let all: Vec<String> = syscalls::Sysno::iter().map(|s| s.name().into()).collect();
        same_verdicts(
            &resolve(SeccompMode::Retain, &all, Some("ENOSYS"))
                .unwrap()
                .unwrap(),
        );
        let mut r = Rng(0x9e37_79b9_7f4a_7c15);
        for _ in 0..150 {
            same_verdicts(&random_filter(&mut r, true));
        }
    }

    #[test]
    fn long_jumps_get_trampolines() {
        // Every other number, and errnos between them: no runs to merge, a search of
        // thousands of instructions whose jumps reach past 255.
        let cond = |syscall, v| ArgCondition {
            syscall,
            arg: 1,
            test: ArgTest::Equals(v),
        };
        let s = Seccomp {
            mode: SeccompMode::Remove,
            syscalls: (0..1400).map(|n| 2 * n).collect(),
            errno: Some(libc::EPERM),
            errnos: (0..150).map(|n| (4 * n + 1, 2 + n as i32 % 90)).collect(),
            conditions: vec![cond(3, 7), cond(1001, 8), cond(2799, 9), cond(2801, 10)],
            i386: Some(Box::new(Seccomp {
                mode: SeccompMode::Retain,
                syscalls: (0..200).map(|n| 3 * n).collect(),
                errno: None,
                errnos: vec![(1, libc::ENOSYS)],
                conditions: Vec::new(),
                i386: None,
            })),
        };
        let p = compile(&s).unwrap();
        let ja = (libc::BPF_JMP | libc::BPF_JA) as u16;
        assert!(p.iter().any(|i| i.code == ja), "no trampoline");
        same_verdicts(&s);
        // Too long for one filter, linear or not.
        let s = Seccomp {
            syscalls: (0..4000).map(|n| 2 * n).collect(),
            i386: None,
            ..s
        };
        let e = compile(&s).map(|p| p.len());
        assert!(e.as_ref().is_err_and(|e| e.contains("4096")), "{e:?}");
    }

    /// Instructions run for each number 0..=500 of both ABIs when the kernel installs `p`,
    /// summed, and the longest.
    #[cfg(target_arch = "x86_64")]
    fn install_steps(p: &[libc::sock_filter]) -> (usize, usize) {
        let steps = [AUDIT_ARCH, AUDIT_ARCH_I386]
            .into_iter()
            .flat_map(|arch| (0..=500).map(move |nr| run(p, arch, nr, [0; 6]).1));
        steps.fold((0, 0), |(sum, max), n| (sum + n, max.max(n)))
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_default_filter_decides_in_a_few_instructions() {
        for capabilities in [caps::DEFAULT_SET, caps::DEFAULT_SET | bit("CAP_SYS_ADMIN")] {
            let s = docker_default(capabilities);
            let (p, old) = (compile(&s).unwrap(), linear::compile(&s).unwrap());
            let ((sum, max), (old_sum, _)) = (install_steps(&p), install_steps(&old));
            assert!(max <= 16, "{max}");
            assert!(sum < 12 * 1002 && sum * 4 < old_sum, "{sum} {old_sum}");
            assert!(p.len() * 2 < old.len(), "{} {}", p.len(), old.len());
        }
    }

    /// Nanoseconds the kernel takes to install `p` (seccomp(SECCOMP_SET_MODE_FILTER)), in a
    /// forked child with no filter yet.
    fn install_ns(p: &[libc::sock_filter]) -> u64 {
        let prog = libc::sock_fprog {
            len: p.len() as libc::c_ushort,
            filter: p.as_ptr() as *mut libc::sock_filter,
        };
        let mut fds = [0; 2];
        // SAFETY: the child runs only system calls (no allocation) before _exit.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            if pid == 0 {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let (mut a, mut b): (libc::timespec, libc::timespec) =
                    (std::mem::zeroed(), std::mem::zeroed());
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut a);
                let r = libc::syscall(
                    libc::SYS_seccomp,
                    libc::SECCOMP_SET_MODE_FILTER,
                    0,
                    &prog as *const libc::sock_fprog,
                );
                libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut b);
                let ns: u64 = if r == 0 {
                    ((b.tv_sec - a.tv_sec) * 1_000_000_000 + b.tv_nsec - a.tv_nsec) as u64
                } else {
                    u64::MAX
                };
                libc::write(fds[1], &ns as *const u64 as *const libc::c_void, 8);
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut ns = 0u64;
            let n = libc::read(fds[0], &mut ns as *mut u64 as *mut libc::c_void, 8);
            libc::close(fds[0]);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            assert!(n == 8 && ns != u64::MAX, "the filter did not install");
            ns
        }
    }

    /// `cargo test -p jetpack-runtime --lib seccomp_install_time -- --ignored --nocapture`:
    /// the kernel's time to install the default filter, as the linear chain and as the
    /// search, alternating (JETPACK_SECCOMP_RUNS installs each, 200 by default).
    #[test]
    #[ignore]
    fn seccomp_install_time() {
        let runs = std::env::var("JETPACK_SECCOMP_RUNS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(200);
        let s = docker_default(caps::DEFAULT_SET);
        let programs = [
            ("linear chain", linear::compile(&s).unwrap()),
            ("binary search", compile(&s).unwrap()),
            (
                "ret ALLOW",
                vec![stmt(libc::BPF_RET | libc::BPF_K, libc::SECCOMP_RET_ALLOW)],
            ),
        ];
        let mut times = vec![Vec::new(); programs.len()];
        for _ in 0..runs {
            for (t, (_, p)) in times.iter_mut().zip(&programs) {
                t.push(install_ns(p));
            }
        }
        println!("seccomp(SECCOMP_SET_MODE_FILTER) of @docker/default, {runs} installs each:");
        for (t, (name, p)) in times.iter_mut().zip(&programs) {
            t.sort_unstable();
            let at = |q: usize| t[(t.len() - 1) * q / 100] as f64 / 1000.0;
            print!(
                "  {name:<14} {:>4} instructions  median {:7.1} µs  p10 {:7.1}  p90 {:7.1}",
                p.len(),
                at(50),
                at(10),
                at(90)
            );
            #[cfg(target_arch = "x86_64")]
            print!("  steps for 0..=500 x 2 ABIs {}", install_steps(p).0);
            println!();
        }
    }
}
