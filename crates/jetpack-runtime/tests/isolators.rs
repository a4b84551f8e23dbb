//! Isolators enforced by the engine, as root, on this host's cgroups (v1, v2 or hybrid): memory
//! and CPU limits, capabilities, no_new_privs, seccomp, oom_score_adj. Each test checks (in
//! `TestPod`'s drop) that the pod's cgroups are gone after it.

mod common;

use std::time::{Duration, Instant};

use common::{TestPod, wait_for};
use jetpack_runtime::linux::{self, RunHooks, cgroups, seccomp};
use jetpack_runtime::{DEFAULT_CAPABILITIES, SeccompMode, caps};

fn cap(name: &str) -> u64 {
    1 << caps::number(name).unwrap()
}

/// `CapXxx:` lines of `/proc/self/status` as masks.
fn cap_line(out: &str, name: &str) -> u64 {
    let hex = out
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}:")))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
        .trim();
    u64::from_str_radix(hex, 16).unwrap()
}

#[jetpack_testutil::root_test]
fn memory_limit_kills_the_app_at_the_limit() {
    // dd's 64 MiB buffer is filled from /dev/zero: every page is touched.
    let mut pod = TestPod::sh("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    pod.app().resources.memory_limit = Some(32 << 20);
    let run = pod.run();
    let exit = run.exit.apps[0].1.clone().expect("exit recorded");
    assert_eq!(
        (exit.code, exit.signal),
        (137, Some(9)),
        "{run:?}",
        run = run.exit
    );
    assert!(pod.exit_file("web").starts_with("137\n"));
    // The same app fits in a larger limit.
    pod.app().resources.memory_limit = Some(256 << 20);
    pod.run().ok();
}

#[jetpack_testutil::root_test]
fn the_pods_memory_limit_bounds_its_apps() {
    let mut pod = TestPod::sh("exec dd if=/dev/zero of=/dev/null bs=64M count=1");
    pod.spec.resources.memory_limit = Some(32 << 20);
    pod.app().resources.memory_limit = Some(1 << 30);
    let run = pod.run();
    assert_eq!(run.code(), 137, "{:?}", run.exit);
}

#[jetpack_testutil::root_test]
fn apps_are_in_their_cgroups_with_their_handlers() {
    // Each process records what it sees, then waits while the test looks at the app's
    // cgroup from the host.
    let step = |f: &str| {
        format!(
            "cat /proc/self/cgroup > /shared/{f}; touch /shared/{f}.in
             i=0; while [ ! -e /shared/{f}.go ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done"
        )
    };
    let mut pod = TestPod::sh(&step("main"));
    let shared = pod.host_dir("shared");
    pod.mount(0, &shared, "/shared", false);
    let app = pod.app();
    app.resources.memory_limit = Some(64 << 20);
    app.resources.cpu_shares = Some(512);
    app.pre_start = Some(vec!["/bin/sh".into(), "-c".into(), step("pre")]);
    app.post_stop = Some(vec!["/bin/sh".into(), "-c".into(), step("post")]);
    let memory = linux::cgroups::Host::detect()
        .memory
        .expect("a memory controller");
    let procs = memory.pod_dir(&pod.spec.uuid).join("app-web/cgroup.procs");
    let watcher = {
        let shared = shared.clone();
        std::thread::spawn(move || {
            let mut members = Vec::new();
            for f in ["pre", "main", "post"] {
                wait_for(&shared.join(format!("{f}.in")));
                members.push(std::fs::read_to_string(&procs).unwrap_or_default());
                std::fs::write(shared.join(format!("{f}.go")), "").unwrap();
            }
            members
        })
    };
    pod.run().ok();
    let members = watcher.join().unwrap();
    for (f, m) in ["pre", "main", "post"].iter().zip(members) {
        assert!(!m.trim().is_empty(), "{f}: not in the app's memory cgroup");
        // In a cgroup namespace rooted at the app's cgroups: they are its `/`.
        let text = std::fs::read_to_string(shared.join(f)).unwrap();
        assert!(text.lines().all(|l| l.ends_with(":/")), "{f}: {text}");
    }
}

/// CPU time the pod's cgroup has used, in seconds.
fn cpu_used(uuid: &str) -> Option<f64> {
    let host = cgroups::Host::detect();
    let acct = host.cpuacct.as_ref().or(host.cpu.as_ref())?;
    let dir = acct.pod_dir(uuid);
    match acct.version {
        cgroups::Version::V1 => std::fs::read_to_string(dir.join("cpuacct.usage"))
            .ok()?
            .trim()
            .parse::<f64>()
            .ok()
            .map(|ns| ns / 1e9),
        cgroups::Version::V2 => std::fs::read_to_string(dir.join("cpu.stat"))
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("usage_usec "))?
            .parse::<f64>()
            .ok()
            .map(|us| us / 1e6),
    }
}

#[jetpack_testutil::root_test]
fn cpu_limit_holds_a_busy_loop_to_its_quota() {
    let mut pod = TestPod::sh("touch /shared/started; exec timeout 3 sh -c 'while :; do :; done'");
    let shared = pod.host_dir("shared");
    pod.mount(0, &shared, "/shared", false);
    pod.app().resources.cpu_limit_milli = Some(200);
    let spec = pod.spec.clone();
    let runner = std::thread::spawn(move || linux::run(&spec, RunHooks::default()));
    wait_for(&shared.join("started"));
    std::thread::sleep(Duration::from_millis(300));
    let (t0, u0) = (Instant::now(), cpu_used(&pod.spec.uuid).expect("cpu usage"));
    std::thread::sleep(Duration::from_secs(1));
    let (t1, u1) = (Instant::now(), cpu_used(&pod.spec.uuid).expect("cpu usage"));
    let share = (u1 - u0) / (t1 - t0).as_secs_f64();
    let exit = runner.join().unwrap().expect("run");
    assert!(
        (0.1..=0.35).contains(&share),
        "a 200m limit gave {share:.3} CPU"
    );
    // busybox's timeout execs the command in its own process and kills it from a child.
    assert!(
        [124, 143].contains(&exit.code),
        "timeout ends the loop: {exit:?}"
    );
}

#[jetpack_testutil::root_test]
fn capabilities_are_the_default_set_unless_told() {
    let mut pod = TestPod::sh(
        "grep Cap /proc/self/status; touch /tmp/f; chown 65534 /tmp/f && echo chown-ok",
    );
    let run = pod.run().ok();
    for set in ["CapBnd", "CapEff", "CapPrm", "CapInh"] {
        assert_eq!(cap_line(&run.stdout, set), DEFAULT_CAPABILITIES, "{set}");
    }
    assert_eq!(cap_line(&run.stdout, "CapAmb"), 0);
    assert!(run.stdout.contains("chown-ok"));

    // Retain a set without CAP_CHOWN: chown fails.
    pod.app().security.capabilities = cap("CAP_SETUID") | cap("CAP_KILL");
    let run = pod.run();
    assert!(!run.stdout.contains("chown-ok"), "{}", run.stdout);
    assert!(
        run.stderr.contains("Operation not permitted"),
        "{}",
        run.stderr
    );
    for set in ["CapBnd", "CapEff", "CapPrm", "CapInh"] {
        assert_eq!(
            cap_line(&run.stdout, set),
            cap("CAP_SETUID") | cap("CAP_KILL"),
            "{set}"
        );
    }

    // Retain CAP_CHOWN alone: chown works.
    pod.app().security.capabilities = cap("CAP_CHOWN");
    let run = pod.run().ok();
    assert!(run.stdout.contains("chown-ok"));
}

#[jetpack_testutil::root_test]
fn a_non_root_app_keeps_only_the_bounding_set() {
    let mut pod = TestPod::sh("grep Cap /proc/self/status; id -u");
    pod.app().uid = 65534;
    pod.app().gid = 65534;
    let run = pod.run().ok();
    assert_eq!(cap_line(&run.stdout, "CapBnd"), DEFAULT_CAPABILITIES);
    for set in ["CapEff", "CapPrm", "CapInh", "CapAmb"] {
        let want = if set == "CapInh" {
            DEFAULT_CAPABILITIES
        } else {
            0
        };
        assert_eq!(cap_line(&run.stdout, set), want, "{set}");
    }
    assert!(run.stdout.ends_with("65534\n"));
}

/// A setuid-root busybox in the rootfs, allowed by /etc/busybox.conf to keep root for `id`
/// (busybox drops setuid privileges for its applets otherwise).
fn setuid_busybox(pod: &TestPod) {
    use std::os::unix::fs::PermissionsExt;
    let root = pod.rootfs();
    let dir = root.join("suid");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::copy(root.join("bin/busybox"), dir.join("busybox")).unwrap();
    std::fs::set_permissions(dir.join("busybox"), std::fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("busybox", dir.join("id")).unwrap();
    let conf = root.join("etc/busybox.conf");
    std::fs::write(&conf, "[SUID]\nid = ssx 0.0\n").unwrap();
    std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[jetpack_testutil::root_test]
fn no_new_privileges_stops_setuid() {
    let mut pod = TestPod::sh("/suid/id -u; grep NoNewPrivs /proc/self/status");
    setuid_busybox(&pod);
    pod.app().uid = 65534;
    pod.app().gid = 65534;
    let run = pod.run().ok();
    assert_eq!(
        run.stdout, "0\nNoNewPrivs:\t0\n",
        "setuid works without nnp"
    );
    pod.app().security.no_new_privileges = true;
    let run = pod.run().ok();
    assert_eq!(run.stdout, "65534\nNoNewPrivs:\t1\n");
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[jetpack_testutil::root_test]
fn seccomp_remove_set_returns_the_errno_or_kills() {
    let script = "mkdir /tmp/d && echo made; echo after";
    let mut pod = TestPod::sh(script);
    let blocked = names(&["mkdir", "mkdirat"]);
    pod.app().security.seccomp =
        seccomp::resolve(SeccompMode::Remove, &blocked, Some("EPERM")).unwrap();
    let run = pod.run().ok();
    assert_eq!(run.stdout, "after\n");
    assert!(
        run.stderr.contains("Operation not permitted"),
        "{}",
        run.stderr
    );

    // As a non-root user without no_new_privs (the filter goes in with CAP_SYS_ADMIN, which
    // the app does not keep), and with another errno.
    let mut pod = TestPod::sh("mkdir /tmp/d; grep CapEff /proc/self/status");
    std::fs::set_permissions(
        pod.rootfs().join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    pod.app().uid = 65534;
    pod.app().gid = 65534;
    pod.app().security.seccomp =
        seccomp::resolve(SeccompMode::Remove, &blocked, Some("EROFS")).unwrap();
    let run = pod.run().ok();
    assert!(
        run.stderr.contains("Read-only file system"),
        "{}",
        run.stderr
    );
    assert_eq!(cap_line(&run.stdout, "CapEff"), 0);

    // No errno: the app dies of SIGSYS.
    let mut pod = TestPod::sh("exec mkdir /tmp/d");
    pod.app().security.seccomp = seccomp::resolve(SeccompMode::Remove, &blocked, None).unwrap();
    pod.app().security.no_new_privileges = true;
    let run = pod.run();
    let exit = run.exit.apps[0].1.clone().unwrap();
    assert_eq!((exit.code, exit.signal), (128 + 31, Some(31)), "{exit:?}");
}

#[jetpack_testutil::root_test]
fn seccomp_retain_set_blocks_everything_else() {
    let all: Vec<String> = syscalls::Sysno::iter()
        .map(|s| s.name().to_string())
        .filter(|n| n != "mkdir" && n != "mkdirat")
        .collect();
    let mut pod = TestPod::sh("mkdir /tmp/d; echo still here");
    pod.app().security.seccomp =
        seccomp::resolve(SeccompMode::Retain, &all, Some("EACCES")).unwrap();
    let run = pod.run().ok();
    assert_eq!(run.stdout, "still here\n");
    assert!(run.stderr.contains("Permission denied"), "{}", run.stderr);
}

#[jetpack_testutil::root_test]
fn oom_score_adj_is_set() {
    let mut pod = TestPod::sh("cat /proc/self/oom_score_adj");
    pod.app().security.oom_score_adj = Some(800);
    assert_eq!(pod.run().ok().stdout, "800\n");
    // Lowering it takes CAP_SYS_RESOURCE, which a caller in a container may lack.
    pod.app().security.oom_score_adj = Some(-500);
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    if cap_line(&status, "CapEff") & cap("CAP_SYS_RESOURCE") != 0 {
        assert_eq!(pod.run().ok().stdout, "-500\n");
    } else {
        let run = pod.run();
        let exit = run.exit.apps[0].1.clone().unwrap();
        assert_eq!(exit.code, 125);
        assert_eq!(
            exit.error.as_deref(),
            Some("setting oom_score_adj: Permission denied")
        );
    }
}
