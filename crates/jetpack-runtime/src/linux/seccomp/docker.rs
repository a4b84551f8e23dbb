//! Docker's default seccomp profile (`@docker/default`) as data: the groups of calls it
//! denies with the capabilities that relax them, its argument conditions, and the i386
//! numbers of its calls, kept apart from name resolution and from the BPF compiler because
//! they are a table to keep in step with moby's profile, not logic.

use crate::caps;
use crate::spec::{ArgCondition, ArgTest, Seccomp, SeccompMode};

use super::syscall_number;

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
pub(super) const PTRACE_FROM_4_8: [&str; 3] = ["ptrace", "process_vm_readv", "process_vm_writev"];

/// The namespace flags of `clone` (NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET):
/// Docker's mask 0x7E020000.
pub const CLONE_NAMESPACE_FLAGS: u32 = 0x7E02_0000;
/// The personas Docker lets `personality` set (and 0xffffffff, which only queries).
pub(super) const PERSONAS: [u32; 5] = [0, 0x0008, 0x2_0000, 0x2_0008, 0xffff_ffff];
pub(super) const AF_VSOCK: u32 = 40;

pub(super) fn has(capabilities: u64, name: &str) -> bool {
    caps::number(name).is_some_and(|n| capabilities & (1 << n) != 0)
}

pub(super) fn kernel_at_least(major: u32, minor: u32) -> bool {
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
pub(super) struct Docker {
    pub(super) syscalls: Vec<u32>,
    pub(super) conditions: Vec<ArgCondition>,
    pub(super) errnos: Vec<(u32, i32)>,
    /// Calls of the profile that the capabilities let through (names on this architecture).
    pub(super) relaxed: Vec<&'static str>,
}

pub(super) fn docker(capabilities: u64) -> Docker {
    docker_with(capabilities, syscall_number)
}

/// [`docker`] in the numbers `number` gives (this architecture's, or i386's).
pub(super) fn docker_with(capabilities: u64, number: fn(&str) -> Option<u32>) -> Docker {
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

/// `@docker/default` and the `explicit` calls in the numbers of the i386 ABI (x86_64 only).
pub(super) fn i386_docker(
    capabilities: u64,
    errno: Option<i32>,
    explicit: &[u32],
) -> Option<Seccomp> {
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
pub(super) fn i386_number(name: &str) -> Option<u32> {
    I386.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

/// The i386 numbers of the calls `@docker/default` names (from the kernel's
/// `syscall_32.tbl`; `kexec_file_load` has none there). A remove set listing other calls with
/// the group has no i386 section: 32-bit calls kill the app, as under any other filter.
pub(super) const I386: [(&str, u32); 76] = [
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
