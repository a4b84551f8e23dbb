//! A hostile pod: each test is an attack from inside a real pod, as root with an ordinary
//! image and (unless said) no options, against a canary on the host. On overlay and dir.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

mod common;

use common::{BB, Env};

/// Runs `script` with the image's `/bin/sh` in a new pod (pod options before the image) and
/// returns its exit code and everything it printed.
fn attack(e: &Env, pod_opts: &[&str], script: &str) -> (i32, String) {
    attack_with(e, pod_opts, &[], script)
}

/// [`attack`] with app options too (after the image).
fn attack_with(e: &Env, pod_opts: &[&str], app_opts: &[&str], script: &str) -> (i32, String) {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(pod_opts);
    args.extend_from_slice(&[BB, "--exec", "/bin/sh"]);
    args.extend_from_slice(app_opts);
    args.extend_from_slice(&["--", "-c", script]);
    let o = e.out(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.code().unwrap_or(-1), text)
}

/// Puts the host's `core_pattern` back if an attack changed it.
struct CorePattern(String);

impl CorePattern {
    fn save() -> CorePattern {
        CorePattern(std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap())
    }
    fn now() -> String {
        std::fs::read_to_string("/proc/sys/kernel/core_pattern").unwrap()
    }
}

impl Drop for CorePattern {
    fn drop(&mut self) {
        if CorePattern::now() != self.0 {
            let _ = std::fs::write("/proc/sys/kernel/core_pattern", self.0.trim_end());
        }
    }
}

/// Escape 1: the pod rewrote `core_pattern` to run a script of its own as root on the host.
fn proc_sys_core_pattern(kind: &str) {
    let e = Env::new(kind);
    let saved = CorePattern::save();
    let (code, out) = attack(
        &e,
        &[],
        "echo '|/pwn.sh' > /proc/sys/kernel/core_pattern && echo WROTE-CORE; \
         echo 1 > /proc/sys/vm/drop_caches && echo WROTE-VM; \
         echo 0 > /proc/sys/kernel/randomize_va_space && echo WROTE-ASLR; \
         echo h > /proc/sysrq-trigger && echo WROTE-SYSRQ; \
         cat /proc/sys/kernel/core_pattern >/dev/null && echo READ-OK",
    );
    assert_eq!(CorePattern::now(), saved.0, "core_pattern changed: {out}");
    assert!(!out.contains("WROTE"), "{out}");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("READ-OK"), "settings stay readable: {out}");
    assert_eq!(code, 0, "{out}");
}

#[jetpack_testutil::root_test]
fn proc_sys_core_pattern_overlay() {
    proc_sys_core_pattern("overlay");
}
#[jetpack_testutil::root_test]
fn proc_sys_core_pattern_dir() {
    proc_sys_core_pattern("dir");
}

/// Files that leak the host are empty, hidden directories empty, `/sys` read-only, on the
/// pod network and on the host's.
fn masked_paths(kind: &str) {
    let e = Env::new(kind);
    let script = "for f in /proc/kcore /proc/keys /proc/timer_list; do \
                    [ -e $f ] && echo \"$f $(head -c 64 $f | wc -c)\"; done; \
                  for d in /proc/acpi /sys/firmware; do \
                    [ -d $d ] && echo \"$d $(ls -A $d | wc -l)\"; done; \
                  touch /sys/pwned 2>/dev/null && echo WROTE-SYS; \
                  touch /proc/acpi/x 2>/dev/null && echo WROTE-ACPI; \
                  ls /sys/fs/cgroup | wc -l | sed 's/^/cgroup-entries /'; \
                  grep -vc ':/$' /proc/self/cgroup | sed 's/^/cgroup-host-paths /'; \
                  ls /sys/class/net >/dev/null && echo SYS-OK";
    for net in ["--net=default", "--net=host"] {
        let (code, out) = attack(&e, &[net], script);
        assert_eq!(code, 0, "{net}: {out}");
        for line in out.lines().filter(|l| l.starts_with('/')) {
            assert!(line.ends_with(" 0"), "{net}: not masked: {line}\n{out}");
        }
        // Both have something to hide on this host.
        assert!(out.contains("/proc/timer_list 0"), "{net}: {out}");
        assert!(out.contains("/sys/firmware 0"), "{net}: {out}");
        assert!(!out.contains("WROTE"), "{net}: {out}");
        assert!(out.contains("cgroup-entries 0"), "{net}: {out}");
        assert!(
            out.contains("cgroup-host-paths 0"),
            "a cgroup namespace: {out}"
        );
        assert!(out.contains("SYS-OK"), "{net}: {out}");
    }
}

#[jetpack_testutil::root_test]
fn masked_paths_overlay() {
    masked_paths("overlay");
}
#[jetpack_testutil::root_test]
fn masked_paths_dir() {
    masked_paths("dir");
}

/// Escape 2: with CAP_MKNOD (in the default set) the pod made nodes for a host disk, the
/// kernel log and a console, and used them.
fn mknod_host_devices(kind: &str) {
    let e = Env::new(kind);
    let disk = jetpack_testutil::LoopFs::ext4(16 << 20);
    std::fs::write(disk.path().join("canary"), "jetpack-canary").unwrap();
    jetpack_testutil::must_run("sync", &[]);
    let before = head(disk.image());
    let rdev = std::fs::metadata(disk.device()).unwrap().rdev();
    // glibc's major() and minor().
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    let script = format!(
        "mknod /tmp/disk b {major} {minor} && echo MADE-DISK; \
         [ -b /tmp/disk ] && dd if=/tmp/disk of=/dev/null bs=512 count=1 && echo READ-DISK; \
         [ -b /tmp/disk ] && dd if=/dev/zero of=/tmp/disk bs=4096 count=16 && echo WROTE-DISK; \
         mknod /tmp/kmsg c 1 11 && echo MADE-KMSG && echo pwned > /tmp/kmsg && echo WROTE-KMSG; \
         mknod /tmp/tty0 c 4 0 && echo pwned > /tmp/tty0 && echo WROTE-TTY; \
         mknod /tmp/null c 1 3 && echo pwned > /tmp/null && echo NULL-OK; \
         echo x > /dev/null && head -c 1 /dev/urandom > /dev/null && echo DEV-OK"
    );
    let (code, out) = attack(&e, &[], &script);
    jetpack_testutil::must_run("sync", &[]);
    assert_eq!(head(disk.image()), before, "the disk changed: {out}");
    for bad in [
        "MADE-DISK",
        "READ-DISK",
        "WROTE-DISK",
        "MADE-KMSG",
        "WROTE-KMSG",
        "WROTE-TTY",
    ] {
        assert!(!out.contains(bad), "{bad}: {out}");
    }
    assert!(out.contains("Operation not permitted"), "{out}");
    assert!(out.contains("NULL-OK") && out.contains("DEV-OK"), "{out}");
    assert_eq!(code, 0, "{out}");
    assert_eq!(
        std::fs::read_to_string(disk.path().join("canary")).unwrap(),
        "jetpack-canary"
    );
}

/// The fields of the disk's ext4 superblock that never change while it is mounted (inode and
/// block counts, magic, UUID): a write of the disk's first 64 KiB from the pod would destroy
/// them, while ext4 itself rewrites the rest of that area (times, counters, bitmaps) as it likes.
fn head(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 64 << 10];
    std::fs::File::open(path)
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    assert_eq!(&buf[0x438..0x43a], &[0x53, 0xef], "not an ext4 superblock");
    [&buf[0x400..0x40c], &buf[0x438..0x43a], &buf[0x468..0x478]].concat()
}

#[jetpack_testutil::root_test]
fn mknod_host_devices_overlay() {
    mknod_host_devices("overlay");
}
#[jetpack_testutil::root_test]
fn mknod_host_devices_dir() {
    mknod_host_devices("dir");
}

/// Escape 3: the pod's PID 1 was the runtime, in the host's root: `/proc/1/root` led to the
/// host's files and `/proc/1/exe` to the runtime's binary. Now, with the default set, both are
/// refused; even with CAP_SYS_PTRACE (and CAP_SYS_ADMIN, CAP_DAC_*) granted by the operator,
/// the init's root is an empty read-only tmpfs and its binary cannot be changed.
fn proc_1_holds_nothing_of_the_host(kind: &str) {
    let e = Env::new(kind);
    let canary = format!("/jetpack-canary-{}", std::process::id());
    let exe = std::fs::read(env!("CARGO_BIN_EXE_jetpack")).unwrap();
    let script = format!(
        "ls /proc/1/root/ && echo LISTED-ROOT; cat /proc/1/root/etc/hostname && echo READ-HOST; \
         head -c 4 /proc/1/exe >/dev/null && echo READ-EXE; readlink /proc/1/fd/1 && echo READ-FD; \
         touch /proc/1/root{canary} && echo WROTE-ROOT; echo x >> /proc/1/exe && echo WROTE-EXE; \
         echo done"
    );
    let (code, out) = attack(&e, &[], &script);
    assert_eq!(code, 0, "{out}");
    for bad in ["LISTED-ROOT", "READ-HOST", "READ-EXE", "READ-FD", "WROTE"] {
        assert!(!out.contains(bad), "{bad}: {out}");
    }
    assert!(out.contains("Permission denied"), "{out}");

    let caps = "--caps-retain=CAP_SYS_PTRACE,CAP_SYS_ADMIN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH,\
                CAP_FOWNER,CAP_SETUID,CAP_SETGID,CAP_CHOWN,CAP_KILL";
    let script = format!(
        "echo entries $(ls -A /proc/1/root/ | wc -l); cat /proc/1/root/etc/shadow && echo READ-SHADOW; \
         touch /proc/1/root{canary} && echo WROTE-ROOT; echo x >> /proc/1/exe && echo WROTE-EXE; \
         for fd in /proc/1/fd/*; do [ -d $fd/ ] && echo DIR-FD $fd; done; echo done"
    );
    let (code, out) = attack_with(&e, &[], &[caps], &script);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("entries 0"), "{out}");
    for bad in ["READ-SHADOW", "WROTE", "DIR-FD"] {
        assert!(!out.contains(bad), "{bad}: {out}");
    }
    assert!(out.contains("done"), "{out}");
    assert!(!exists(Path::new(&canary)), "{canary} appeared on the host");
    assert_eq!(std::fs::read(env!("CARGO_BIN_EXE_jetpack")).unwrap(), exe);
}

#[jetpack_testutil::root_test]
fn proc_1_holds_nothing_of_the_host_overlay() {
    proc_1_holds_nothing_of_the_host("overlay");
}
#[jetpack_testutil::root_test]
fn proc_1_holds_nothing_of_the_host_dir() {
    proc_1_holds_nothing_of_the_host("dir");
}

/// Escape 4: `enter` ran the pod's own `/bin/sh` as root with every capability, no seccomp
/// filter, outside the app's cgroups. A compromised app replaces its `/bin/sh`; the operator
/// enters; the trojan gets the app's context and no more (and with `--privileged`, still the
/// device rules and the init's nothing).
fn enter_runs_in_the_apps_context(kind: &str) {
    let e = Env::new(kind);
    let trojan = "#!/bin/busybox sh\n\
        grep -E '^(Uid|CapEff|NoNewPrivs|Seccomp):' /proc/self/status\n\
        busybox mknod /tmp/kmsg c 1 11 && echo MADE-KMSG\n\
        busybox unshare -m busybox true && echo UNSHARED\n\
        busybox ls -A /proc/1/root/ | busybox wc -l | busybox sed 's/^/root-entries /'\n\
        busybox grep -vc ':/$' /proc/self/cgroup | busybox sed 's/^/foreign-cgroups /'\n";
    let app =
        format!("rm /bin/sh; printf \"{trojan}\" > /bin/sh; chmod 755 /bin/sh; exec sleep 1000");
    let mut child = e.spawn(&[
        "run",
        "--name",
        "victim",
        BB,
        "--exec",
        "/bin/busybox",
        "--",
        "sh",
        "-c",
        &app,
    ]);
    e.wait_running_or(&mut child, "victim");
    let entered = |args: &[&str]| -> String {
        for _ in 0..100 {
            let o = e.out(args);
            let text = String::from_utf8_lossy(&o.stdout).into_owned()
                + &String::from_utf8_lossy(&o.stderr);
            if text.contains("CapEff") {
                return text;
            }
            std::thread::sleep(std::time::Duration::from_millis(30));
        }
        panic!("the trojan never ran: {args:?}");
    };
    let default_caps = format!("CapEff:\t{:016x}", 0xa80425fbu64);
    let out = entered(&["enter", "victim"]);
    assert!(out.contains(&default_caps), "{out}");
    assert!(
        out.contains("NoNewPrivs:\t0") || out.contains("NoNewPrivs:\t1"),
        "{out}"
    );
    assert!(out.contains("Seccomp:\t2"), "a filter: {out}");
    assert!(out.contains("Uid:\t0\t"), "{out}");
    let out_nobody = entered(&["enter", "--user", "nobody", "victim"]);
    assert!(out_nobody.contains("Uid:\t65534\t"), "{out_nobody}");
    assert!(
        out_nobody.contains("CapEff:\t0000000000000000"),
        "{out_nobody}"
    );
    let out_privileged = entered(&["enter", "--privileged", "victim"]);
    assert!(!out_privileged.contains(&default_caps), "{out_privileged}");
    assert!(out_privileged.contains("Seccomp:\t0"), "{out_privileged}");
    for out in [&out, &out_nobody, &out_privileged] {
        assert!(!out.contains("MADE-KMSG"), "{out}");
        assert!(out.contains("root-entries 0"), "the init's root: {out}");
        // In the app's cgroup namespace, at its root: in the app's cgroups.
        assert!(
            out.contains("foreign-cgroups 0"),
            "outside the app's cgroups: {out}"
        );
    }
    assert!(!out.contains("UNSHARED"), "{out}");
    e.ok(&["kill", "victim"]);
    let _ = child.wait();
}

#[jetpack_testutil::root_test]
fn enter_runs_in_the_apps_context_overlay() {
    enter_runs_in_the_apps_context("overlay");
}
#[jetpack_testutil::root_test]
fn enter_runs_in_the_apps_context_dir() {
    enter_runs_in_the_apps_context("dir");
}

/// Whether `path` exists, without following a last symlink.
fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

/// `--private-users`: the pod's root is an unprivileged host uid of a range of its own, so even
/// the capabilities an operator grants act only inside the pod; files keep their owners
/// through idmapped mounts (rootfs and host volumes), and low ports still bind.
fn private_users(kind: &str) {
    let e = Env::new(kind);
    let vol = tempfile::tempdir().unwrap();
    std::fs::write(vol.path().join("host-file"), "from the host").unwrap();
    let volume = format!("v,kind=host,source={}", vol.path().display());
    // A prepared pod holds the first range.
    let held = e.ok(&["prepare", "--private-users", BB]);
    let caps = "--caps-retain=CAP_SYS_PTRACE,CAP_SYS_ADMIN,CAP_DAC_OVERRIDE,CAP_DAC_READ_SEARCH,\
                CAP_FOWNER,CAP_SETUID,CAP_SETGID,CAP_CHOWN,CAP_KILL,CAP_NET_BIND_SERVICE,CAP_MKNOD";
    let script = "cat /proc/self/uid_map; id -u; stat -c 'owner %u %n' /bin/busybox /v/host-file; \
                  touch /made-inside && echo pod-file > /v/pod-file && echo WROTE; \
                  head -c 4 /proc/1/exe >/dev/null && echo READ-EXE; \
                  ls /proc/1/root/ >/dev/null && echo LISTED-ROOT; \
                  mount -t tmpfs none /tmp && echo MOUNTED; \
                  mknod /tmp/kmsg c 1 11 && echo MADE-KMSG; \
                  httpd -p 80 -h / && echo BOUND-80; \
                  echo done";
    let (code, out) = attack_with(
        &e,
        &["--private-users", "--volume", &volume],
        &[caps, "--mount", "volume=v,target=/v"],
        script,
    );
    assert_eq!(code, 0, "{out}");
    let map: Vec<u64> = out
        .lines()
        .next()
        .unwrap()
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(map[0], 0, "{out}");
    assert_eq!(
        map[1..],
        [(1 << 28) + 65536, 65536],
        "the next unprivileged range: {out}"
    );
    assert!(out.contains("\n0\n"), "root inside: {out}");
    assert!(
        out.contains("owner 0 /bin/busybox") && out.contains("owner 0 /v/host-file"),
        "{out}"
    );
    assert!(out.contains("WROTE") && out.contains("BOUND-80"), "{out}");
    for bad in ["READ-EXE", "LISTED-ROOT", "MOUNTED", "MADE-KMSG"] {
        assert!(!out.contains(bad), "{bad}: {out}");
    }
    // What the pod's root wrote is root's on the host volume, as its files were.
    let meta = std::fs::metadata(vol.path().join("pod-file")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    // A destroyed pod's range is free again.
    e.ok(&["destroy", held.trim()]);
    let (_, first) = attack(&e, &["--private-users"], "cat /proc/self/uid_map");
    assert_eq!(
        first.split_whitespace().nth(1),
        Some("268435456"),
        "{first}"
    );
}

#[jetpack_testutil::root_test]
fn private_users_overlay() {
    private_users("overlay");
}
#[jetpack_testutil::root_test]
fn private_users_dir() {
    private_users("dir");
}
#[jetpack_testutil::root_test]
fn private_users_btrfs() {
    private_users("btrfs");
}
#[jetpack_testutil::root_test]
fn private_users_zfs() {
    private_users("zfs");
}
