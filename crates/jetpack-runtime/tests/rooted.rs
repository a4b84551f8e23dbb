//! Stage 2 of the jail engine after `jail_attach`, run for real here: a process in a root
//! directory as an app's user. It sees only its root, has exactly the given uid, gid, groups,
//! working directory and environment, and cannot climb out.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;
use std::sync::{Mutex, MutexGuard};

use jetpack_runtime::rooted::{RootedProcess, spawn};

/// Held while a test writes an executable or forks: a child forked while another thread
/// still has the busybox copy open for writing would fail to exec it (ETXTBSY).
static FORKS: Mutex<()> = Mutex::new(());

fn forks() -> MutexGuard<'static, ()> {
    FORKS.lock().unwrap_or_else(|p| p.into_inner())
}

/// A root with a static busybox, a working directory and a file of its own; and a canary
/// beside it on the host.
fn root(dir: &Path) -> std::path::PathBuf {
    let r = dir.join("root");
    fs::create_dir_all(r.join("bin")).unwrap();
    fs::create_dir_all(r.join("work")).unwrap();
    fs::set_permissions(r.join("work"), fs::Permissions::from_mode(0o777)).unwrap();
    let _forks = forks();
    fs::copy("/bin/busybox", r.join("bin/busybox")).unwrap();
    fs::write(r.join("inside"), "inside\n").unwrap();
    fs::write(dir.join("canary"), "host\n").unwrap();
    r
}

fn run(p: &RootedProcess<'_>) -> (bool, String, String) {
    let child = {
        let _forks = forks();
        spawn(
            p,
            || Ok(()),
            [Stdio::null(), Stdio::piped(), Stdio::piped()],
        )
        .unwrap()
    };
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[jetpack_testutil::root_test]
fn a_process_has_its_root_credentials_directory_and_environment() {
    let t = tempfile::tempdir().unwrap();
    let r = root(t.path());
    let script = "/bin/busybox id -u; /bin/busybox id -g; /bin/busybox id -G; \
                  /bin/busybox pwd; echo \"$FOO|$HOME\"; /bin/busybox cat /inside; \
                  /bin/busybox cat ../../../canary /../canary 2>&1; \
                  /bin/busybox touch /work/made; /bin/busybox touch /bin/not-mine 2>&1; true";
    let argv = ["/bin/busybox", "sh", "-c", script].map(String::from);
    let env = [("FOO".to_string(), "bar".to_string())];
    let p = RootedProcess {
        root: &r,
        working_dir: "/work",
        uid: 1234,
        gid: 2345,
        groups: &[3456, 2345],
        argv: &argv,
        env: &env,
    };
    let (ok, out, err) = run(&p);
    assert!(ok, "{out}{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines[..6],
        ["1234", "2345", "2345 3456", "/work", "bar|", "inside"]
    );
    // `..` stops at the root: no way to the host's canary.
    assert!(!out.contains("host"), "{out}");
    assert!(out.contains("can't open"), "{out}");
    // The user's own directory takes its files; root's does not.
    assert!(out.contains("Permission denied"), "{out}");
    let made = fs::metadata(r.join("work/made")).unwrap();
    assert_eq!(
        (
            std::os::unix::fs::MetadataExt::uid(&made),
            std::os::unix::fs::MetadataExt::gid(&made)
        ),
        (1234, 2345)
    );
    assert!(!r.join("bin/not-mine").exists());
}

#[jetpack_testutil::root_test]
fn a_failing_step_is_the_spawns_error() {
    let t = tempfile::tempdir().unwrap();
    let r = root(t.path());
    let _forks = forks();
    let argv = ["/bin/busybox", "true"].map(String::from);
    let mut p = RootedProcess {
        root: &r,
        working_dir: "/nowhere",
        uid: 1234,
        gid: 1234,
        groups: &[],
        argv: &argv,
        env: &[],
    };
    let e = spawn(&p, || Ok(()), [Stdio::null(), Stdio::null(), Stdio::null()]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    // The hook that runs first (the jail engine's jail_attach) fails the spawn too.
    p.working_dir = "/work";
    let e = spawn(
        &p,
        || Err(std::io::Error::from_raw_os_error(libc::EPERM)),
        [Stdio::null(), Stdio::null(), Stdio::null()],
    )
    .unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM));
    // A program missing in the root is not looked for on the host.
    let argv = ["/bin/sh", "-c", "true"].map(String::from);
    p.argv = &argv;
    let e = spawn(&p, || Ok(()), [Stdio::null(), Stdio::null(), Stdio::null()]).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
}

/// `-i`: the stdin given is the process's (the jail engine gives the attached app the caller's).
#[jetpack_testutil::root_test]
fn stdin_is_passed_through() {
    use std::io::Write;
    let t = tempfile::tempdir().unwrap();
    let r = root(t.path());
    let argv = ["/bin/busybox", "tr", "a-z", "A-Z"].map(String::from);
    let p = RootedProcess {
        root: &r,
        working_dir: "/",
        uid: 1234,
        gid: 1234,
        groups: &[],
        argv: &argv,
        env: &[],
    };
    let mut child = {
        let _forks = forks();
        spawn(
            &p,
            || Ok(()),
            [Stdio::piped(), Stdio::piped(), Stdio::null()],
        )
        .unwrap()
    };
    child.stdin.take().unwrap().write_all(b"typed\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "TYPED\n");
}
