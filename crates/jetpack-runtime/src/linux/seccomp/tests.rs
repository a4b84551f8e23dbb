use super::bpf::*;
use super::docker::*;
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
    fn section(s: &Seccomp, native: bool, p: &mut Vec<libc::sock_filter>) -> Result<(), String> {
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
                let skip = u8::try_from(body.len()).map_err(|_| "argument condition too long")?;
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
    let thread = (libc::CLONE_VM | libc::CLONE_FS | libc::CLONE_FILES | libc::CLONE_THREAD) as u64;
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
