//! Pods that try to leave: the default seccomp filter (`@docker/default`) blocks user
//! namespaces, mounts, the new mount API and the kernel keyrings of a pod run with no options,
//! relaxes for capabilities the operator grants, and can be turned off only by the operator;
//! images asking for more than the defaults are refused unless the operator accepts.
//!
//! As root, through the `jetpack` binary, with the busybox image and a static C probe built
//! here (busybox has no keyctl, clone3 or fsopen).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod common;

use common::{BB, Env};

/// Calls each system call once and prints `name=ok` or `name=ERRNO` (e.g. `keyctl=EPERM`).
const PROBE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void report(const char *name, long r) {
    if (r < 0) printf("%s=%s\n", name, strerrorname_np(errno));
    else printf("%s=ok\n", name);
}

/* A child made by clone or clone3 ends at once. */
static long child_or_parent(long r) {
    if (r == 0) _exit(0);
    if (r > 0) waitpid(r, NULL, __WALL);
    return r;
}

static void *thread(void *arg) { return arg; }

#ifdef __x86_64__
/* A 32-bit x86 system call (i386 numbers) from this 64-bit program: -errno or the result. */
static long int80(long nr, long a, long b) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(nr), "b"(a), "c"(b)
                     : "memory", "r8", "r9", "r10", "r11");
    if (r < 0 && r > -4096) { errno = -r; return -1; }
    return r;
}
#endif

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0); /* what was printed survives a SIGSYS */
    /* KEYCTL_GET_KEYRING_ID (0) of KEY_SPEC_SESSION_KEYRING (-3), without creating it. */
    report("keyctl", syscall(SYS_keyctl, 0, -3, 0));
    /* add_key("user", ...) to KEY_SPEC_PROCESS_KEYRING (-2). */
    report("add_key", syscall(SYS_add_key, "user", "jetpack-probe", "x", 1, -2));
    report("clone_newuser",
           child_or_parent(syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0)));
    report("clone_fork", child_or_parent(syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0)));
    uint64_t args[11] = {0};
    args[0] = CLONE_NEWUSER; /* flags */
    args[4] = SIGCHLD;       /* exit_signal */
    report("clone3", child_or_parent(syscall(SYS_clone3, args, sizeof args)));
    report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
    report("open_tree", syscall(SYS_open_tree, -100, "/", 0));
    report("mount", syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0));
    /* glibc tries clone3 first: ENOSYS must make it fall back to clone. */
    pthread_t t;
    int e = pthread_create(&t, NULL, thread, NULL);
    if (e == 0) pthread_join(t, NULL);
    errno = e;
    report("thread", e == 0 ? 0 : -1);
#ifdef __x86_64__
    report("i386_getpid", int80(20, 0, 0));
    report("i386_keyctl", int80(288, 0, -3));
#endif
    /* Last: they move the probe into a new user namespace when they work. */
    report("unshare_user", syscall(SYS_unshare, CLONE_NEWUSER));
#ifdef __x86_64__
    report("i386_unshare", int80(310, CLONE_NEWUSER, 0));
#endif
    return 0;
}
"#;

/// The probe, built static into a directory of its own (bound into pods read-only).
fn probe_dir(e: &Env) -> PathBuf {
    let dir = e.backend.dir.path().join("probe");
    std::fs::create_dir_all(&dir).unwrap();
    let src = e.backend.dir.path().join("probe.c");
    std::fs::write(&src, PROBE).unwrap();
    let o = Command::new("cc")
        .args(["-static", "-O2", "-pthread", "-o"])
        .arg(dir.join("probe"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "cc: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    dir
}

/// `run --rm` of busybox with the probe at /probe/probe: ARGS after the image, then `--exec`.
fn run_probe(e: &Env, dir: &Path, app_args: &[&str]) -> String {
    let vol = format!("probe,kind=host,source={},readOnly=true", dir.display());
    let mut args = vec!["run", "--rm", "--net=host", "--volume", &vol, BB];
    args.extend(app_args);
    args.extend([
        "--mount",
        "volume=probe,target=/probe",
        // exec[0] is looked up in the image, before volumes are bound.
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "exec /probe/probe",
    ]);
    e.ok(&args)
}

/// The probe's result for one call.
fn result<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {name} in {out}"))
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[jetpack_testutil::root_test]
fn a_default_pod_cannot_make_namespaces_mount_or_reach_the_keyrings() {
    let e = Env::new("dir");
    // A host directory the pod can write as root; a user namespace must not be a way around.
    let canary = e.backend.dir.path().join("canary");
    std::fs::create_dir_all(&canary).unwrap();
    std::fs::write(canary.join("file"), "untouched\n").unwrap();
    let vol = format!("canary,kind=host,source={}", canary.display());
    let script = "unshare -U -r sh -c 'id; echo escaped > /canary/file' || echo unshare-user-failed; \
                  unshare -m true || echo unshare-mount-failed; \
                  mount -t tmpfs none /tmp || echo mount-failed; \
                  cat /canary/file";
    let o = e.out(&[
        "run",
        "--net=host",
        "--name",
        "plain",
        "--volume",
        &vol,
        BB,
        "--mount",
        "volume=canary,target=/canary",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        script,
    ]);
    let out = text(&o);
    assert!(o.status.success(), "{out}");
    assert!(out.contains("Operation not permitted"), "{out}");
    for failed in [
        "unshare-user-failed",
        "unshare-mount-failed",
        "mount-failed",
    ] {
        assert!(out.contains(failed), "{failed} not in {out}");
    }
    assert!(
        !out.contains("uid=0(root)"),
        "the user namespace was made: {out}"
    );
    assert_eq!(
        std::fs::read_to_string(canary.join("file")).unwrap(),
        "untouched\n"
    );

    // The report: the default filter, by name, enforced.
    let uuid = e.only_pod();
    let report: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(e.pod_dir(&uuid).join("isolators.json")).unwrap(),
    )
    .unwrap();
    let seccomp = report["isolators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "os/linux/seccomp-remove-set")
        .unwrap_or_else(|| panic!("no seccomp entry in {report:#}"));
    assert_eq!(seccomp["status"], "enforced");
    assert_eq!(seccomp["value"]["set"][0], "@docker/default");
    assert!(
        seccomp["detail"]
            .as_str()
            .unwrap()
            .starts_with("the default filter"),
        "{seccomp}"
    );
    let status = e.ok(&["status", "--json", &uuid]);
    assert!(status.contains("@docker/default"), "{status}");

    // The calls busybox cannot make, from a static probe.
    let dir = probe_dir(&e);
    let out = run_probe(&e, &dir, &[]);
    for (call, want) in [
        ("keyctl", "EPERM"),
        ("add_key", "EPERM"),
        ("clone_newuser", "EPERM"),
        ("clone3", "ENOSYS"),
        ("unshare_user", "EPERM"),
        ("fsopen", "EPERM"),
        ("open_tree", "EPERM"),
        ("mount", "EPERM"),
        ("clone_fork", "ok"),
        ("thread", "ok"),
    ] {
        assert_eq!(result(&out, call), want, "{call}: {out}");
    }
    // 32-bit x86 calls (int 0x80) get the same filter in their own numbers.
    if cfg!(target_arch = "x86_64") {
        for (call, want) in [
            ("i386_getpid", "ok"),
            ("i386_keyctl", "EPERM"),
            ("i386_unshare", "EPERM"),
        ] {
            assert_eq!(result(&out, call), want, "{call}: {out}");
        }
    }
}

#[jetpack_testutil::root_test]
fn the_operator_relaxes_or_removes_the_default_filter() {
    let e = Env::new("dir");
    let dir = probe_dir(&e);
    // CAP_SYS_ADMIN from the command line lets the mount calls through, not the keyrings.
    let admin = "--caps-retain=CAP_SYS_ADMIN,CAP_CHOWN,CAP_DAC_OVERRIDE,CAP_FOWNER,CAP_SETUID,\
                 CAP_SETGID";
    let out = run_probe(&e, &dir, &[admin]);
    for (call, want) in [
        ("mount", "ok"),
        ("fsopen", "ok"),
        ("clone_newuser", "ok"),
        ("clone3", "ok"),
        ("keyctl", "EPERM"),
        ("add_key", "EPERM"),
    ] {
        assert_eq!(result(&out, call), want, "{call} with CAP_SYS_ADMIN: {out}");
    }
    // --seccomp=@appc.io/all: no filter at all (the kernel decides).
    let out = run_probe(&e, &dir, &["--seccomp=@appc.io/all"]);
    for call in ["keyctl", "clone_newuser", "clone3", "unshare_user"] {
        assert_eq!(result(&out, call), "ok", "{call} without a filter: {out}");
    }
    // --seccomp=@docker/default with more calls.
    let out = run_probe(
        &e,
        &dir,
        &["--seccomp=mode=remove,errno=EACCES,@docker/default,fsopen"],
    );
    assert_eq!(result(&out, "fsopen"), "EACCES", "{out}");
    assert_eq!(result(&out, "keyctl"), "EACCES", "{out}");
    assert_eq!(result(&out, "clone3"), "ENOSYS", "{out}");
    assert_eq!(result(&out, "thread"), "ok", "{out}");
}

/// An image whose manifest has these app isolators, and busybox.
fn image_with(e: &Env, name: &str, isolators: &str) {
    let w = e.backend.dir.path().join(name.replace('/', "_"));
    let aci = w.with_extension("aci");
    let script = r#"set -e
        mkdir -p "$W/rootfs/bin" "$W/rootfs/mnt" "$W/rootfs/proc" "$W/rootfs/sys" "$W/rootfs/dev"
        cp /bin/busybox "$W/rootfs/bin/busybox"
        for a in sh mount cat id; do ln -s busybox "$W/rootfs/bin/$a"; done
        cat > "$W/manifest" <<JSON
{"acKind":"ImageManifest","acVersion":"0.8.11","name":"$N",
 "app":{"exec":["/bin/sh","-c","mount -t tmpfs none /mnt && echo mounted"],
        "user":"0","group":"0","isolators":$I}}
JSON
        tar --numeric-owner --owner=0 --group=0 -C "$W" -czf "$A" rootfs manifest"#;
    let st = Command::new("sh")
        .arg("-c")
        .arg(script)
        .env("W", &w)
        .env("A", &aci)
        .env("N", name)
        .env("I", isolators)
        .status()
        .unwrap();
    assert!(st.success());
    e.ok(&["import", "-q", aci.to_str().unwrap()]);
}

#[jetpack_testutil::root_test]
fn image_privileges_need_the_operators_consent() {
    let e = Env::new("dir");
    const ADMIN: &str = "example.com/admin";
    const OPEN: &str = "example.com/open";
    image_with(
        &e,
        ADMIN,
        r#"[{"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_SYS_ADMIN"]}}]"#,
    );
    image_with(
        &e,
        OPEN,
        r#"[{"name":"os/linux/seccomp-retain-set","value":{"set":["@appc.io/all"]}}]"#,
    );

    let err = e.err(&["prepare", "--net=host", ADMIN]);
    for want in [
        "image example.com/admin asks for capabilities beyond the default set: CAP_SYS_ADMIN",
        "--caps-retain=CAP_SYS_ADMIN",
        "--insecure-options=image-privileges",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    let err = e.err(&["prepare", "--net=host", OPEN]);
    for want in [
        "keyctl",
        "unshare",
        "clone (namespace flags)",
        "image-privileges",
    ] {
        assert!(err.contains(want), "{want:?} not in {err}");
    }
    assert!(e.ok(&["list"]).lines().count() == 1, "nothing was prepared");

    // Accepted: it prepares, and runs with what it asked (mount works with CAP_SYS_ADMIN).
    let uuid = e.ok(&[
        "prepare",
        "--net=host",
        "--insecure-options=image-privileges",
        ADMIN,
    ]);
    let o = e.out(&["run", uuid.trim()]);
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "mounted\n");
    e.ok(&[
        "prepare",
        "--net=host",
        "--insecure-options=image-privileges,http",
        OPEN,
    ]);

    // Given by the operator on the command line: it runs.
    let out = e.ok(&[
        "run",
        "--rm",
        "--net=host",
        ADMIN,
        "--caps-retain=CAP_SYS_ADMIN",
    ]);
    assert_eq!(out, "mounted\n");
    e.ok(&["prepare", "--net=host", OPEN, "--seccomp=@appc.io/all"]);

    // A pod manifest the operator wrote is the operator's word; an app it takes from the
    // image is the image's.
    let manifest = e.backend.dir.path().join("pod.json");
    let pod = |app: &str| {
        format!(
            r#"{{"acKind":"PodManifest","acVersion":"0.8.11",
                "apps":[{{"name":"admin","image":{{"name":"{ADMIN}"}}{app}}}]}}"#
        )
    };
    std::fs::write(
        &manifest,
        pod(
            r#","app":{"exec":["/bin/sh","-c","mount -t tmpfs none /mnt && echo mounted"],
                "user":"0","group":"0","isolators":[
                {"name":"os/linux/capabilities-retain-set","value":{"set":["CAP_SYS_ADMIN"]}}]}"#,
        ),
    )
    .unwrap();
    let out = e.ok(&[
        "run",
        "--rm",
        "--net=host",
        "--pod-manifest",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(out, "mounted\n");
    std::fs::write(&manifest, pod("")).unwrap();
    let err = e.err(&[
        "prepare",
        "--net=host",
        "--pod-manifest",
        manifest.to_str().unwrap(),
    ]);
    assert!(
        err.contains("app admin") && err.contains("CAP_SYS_ADMIN"),
        "{err}"
    );
}
