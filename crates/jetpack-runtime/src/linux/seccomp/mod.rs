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
mod tests;
