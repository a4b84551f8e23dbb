//! `cp` between the host and pods, as root: recursive copies both ways on running, prepared
//! and exited pods, and the attacks of a hostile pod: symlinks to `/`, to host paths and
//! climbing with `..`, planted where a copy goes. A host canary must stay untouched and
//! unread.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Child;

mod common;

use common::{BB, Env, wait_file};

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A host tree: `tree/a` (0640), `tree/sub/run.sh` (0750), `tree/sub` (0710).
fn host_tree(at: &Path) {
    std::fs::create_dir_all(at.join("tree/sub")).unwrap();
    std::fs::write(at.join("tree/a"), "A\n").unwrap();
    std::fs::set_permissions(at.join("tree/a"), PermissionsExt::from_mode(0o640)).unwrap();
    std::fs::write(at.join("tree/sub/run.sh"), "echo ran\n").unwrap();
    std::fs::set_permissions(at.join("tree/sub/run.sh"), PermissionsExt::from_mode(0o750)).unwrap();
    std::fs::set_permissions(at.join("tree/sub"), PermissionsExt::from_mode(0o710)).unwrap();
    std::os::unix::fs::chown(at.join("tree/a"), Some(1234), Some(4321)).unwrap();
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
}

/// A running pod named `name` whose app first runs `setup` (as root in its rootfs).
fn start(e: &Env, name: &str, setup: &str, ready: &Path) -> Running {
    let script = format!("{setup}\ntouch /out/ready; exec sleep 1000");
    let out = ready.parent().unwrap();
    let mut c = e.spawn_reporting(&["--name", name], out, &[], &script);
    wait_file(ready, &mut c);
    e.wait_running_or(&mut c, name);
    Running(c)
}

#[jetpack_testutil::root_test]
fn cp_in_and_out_of_a_running_pod() {
    let e = Env::new("overlay");
    let out = tempfile::tempdir().unwrap();
    let _pod = start(&e, "cpr", "mkdir -p /srv", &out.path().join("ready"));
    let host = tempfile::tempdir().unwrap();
    host_tree(host.path());
    let tree = host.path().join("tree");
    e.ok(&["cp", tree.to_str().unwrap(), "cpr:/srv"]);
    // The app sees the files, with their modes and owners.
    let seen = e.ok(&[
        "exec",
        "cpr",
        "--",
        "/bin/sh",
        "-c",
        "cat /srv/tree/a; /srv/tree/sub/run.sh; stat -c '%a %u:%g %n' /srv/tree/a /srv/tree/sub",
    ]);
    assert_eq!(
        seen,
        "A\nran\n640 1234:4321 /srv/tree/a\n710 0:0 /srv/tree/sub\n"
    );
    // Out again, into a directory and as a new name; APP named.
    let back = tempfile::tempdir().unwrap();
    e.ok(&["cp", "cpr:busybox:/srv/tree", back.path().to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(back.path().join("tree/sub/run.sh")).unwrap(),
        "echo ran\n"
    );
    assert_eq!(mode(&back.path().join("tree/sub/run.sh")), 0o750);
    assert_eq!(mode(&back.path().join("tree/sub")), 0o710);
    let motd = back.path().join("index.html");
    e.ok(&["cp", "cpr:/var/www/index.html", motd.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(&motd).unwrap(),
        "hello from a jetpack pod\n"
    );
    // Bad operands.
    let err = e.err(&["cp", "cpr:/a", "cpr:/b"]);
    assert!(err.contains("one side of a copy is a host path"), "{err}");
    let err = e.err(&["cp", "/a", "/b"]);
    assert!(err.contains("one side of a copy is in a pod"), "{err}");
    let err = e.err(&["cp", "cpr:/nope", back.path().to_str().unwrap()]);
    assert!(err.contains("/nope: no such file in the pod"), "{err}");
}

#[jetpack_testutil::root_test]
fn a_hostile_pod_cannot_turn_cp_against_the_host() {
    let e = Env::new("dir");
    let host = tempfile::tempdir().unwrap();
    let canary = host.path().join("canary");
    std::fs::write(&canary, "host secret\n").unwrap();
    std::fs::create_dir(host.path().join("victim")).unwrap();
    // From the rootfs, enough `..` to reach the host's `/`, then the canary's path.
    let rel = canary.to_str().unwrap().trim_start_matches('/');
    let setup = format!(
        "ln -s / /slash
         ln -s ../../../../../../../../../../../../../../.. /up
         ln -s {host} /hostdir
         mkdir -p /loot /drop
         ln -s {canary} /loot/link
         ln -s {host}/victim /drop/sub",
        host = host.path().display(),
        canary = canary.display(),
    );
    let out = tempfile::tempdir().unwrap();
    let _pod = start(&e, "evil", &setup, &out.path().join("ready"));
    let payload = tempfile::tempdir().unwrap();
    let file = payload.path().join("canary");
    std::fs::write(&file, "overwritten\n").unwrap();
    let f = file.to_str().unwrap();

    // Into the pod through its links: `/` is the pod's root; climbing out is refused; a host
    // path resolves in the pod, where it does not exist.
    e.ok(&["cp", f, "evil:/slash/"]);
    assert_eq!(
        e.ok(&["exec", "evil", "--", "/bin/cat", "/canary"]),
        "overwritten\n"
    );
    let up = format!("evil:/up/{rel}");
    let err = e.err(&["cp", f, &up]);
    assert!(err.contains("above the app's root; refused"), "{err}");
    let err = e.err(&["cp", f, "evil:/../../../../../../../../../tmp/x"]);
    assert!(err.contains("`..` leads above the app's root"), "{err}");
    e.err(&["cp", f, "evil:/hostdir/canary"]);
    // A directory of the copy that the pod made a link: not written through.
    std::fs::create_dir_all(payload.path().join("drop/sub")).unwrap();
    std::fs::write(payload.path().join("drop/sub/planted"), "x").unwrap();
    let err = e.err(&[
        "cp",
        payload.path().join("drop").to_str().unwrap(),
        "evil:/",
    ]);
    assert!(err.contains("not a directory"), "{err}");
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n");
    assert_eq!(
        std::fs::read_dir(host.path().join("victim"))
            .unwrap()
            .count(),
        0,
        "nothing written through the pod's link"
    );

    // Out of the pod: nothing of the host is read.
    let got = tempfile::tempdir().unwrap();
    let dst = got.path().join("got");
    for src in [
        format!("evil:/up/{rel}"),
        "evil:/hostdir/canary".to_string(),
        "evil:/loot/link".to_string(),
        format!("evil:/../{rel}"),
    ] {
        e.err(&["cp", &src, dst.to_str().unwrap()]);
        assert!(!dst.exists(), "{src} was copied");
    }
    // A tree holding a link to the host: the link is copied as a link, not its target.
    e.ok(&["cp", "evil:/loot", got.path().to_str().unwrap()]);
    let link = got.path().join("loot/link");
    assert!(std::fs::symlink_metadata(&link).unwrap().is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), canary);
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "host secret\n");
}

fn cp_with_a_stopped_pod(kind: &str) {
    let e = Env::new(kind);
    let host = tempfile::tempdir().unwrap();
    host_tree(host.path());
    let tree = host.path().join("tree");
    let uuid = e.ok(&[
        "prepare",
        "--name",
        "later",
        BB,
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "cat /tree/a; echo made > /result",
    ]);
    let uuid = uuid.trim();
    // Into a prepared pod: its first run sees the files.
    e.ok(&["cp", tree.to_str().unwrap(), "later:/"]);
    assert_eq!(e.ok(&["run", uuid]), "A\n");
    // Out of the exited pod: what its run left.
    let got = tempfile::tempdir().unwrap();
    let result = got.path().join("result");
    e.ok(&["cp", "later:/result", result.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&result).unwrap(), "made\n");
    // Into it: refused, since its next run starts from fresh clones.
    let err = e.err(&["cp", tree.to_str().unwrap(), "later:/"]);
    assert!(err.contains("fresh clones"), "{err}");
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains(uuid) && !mounts.contains(&uuid.replace('-', "")),
        "the copy left its mount"
    );
}

#[jetpack_testutil::root_test]
fn cp_with_a_stopped_pod_dir() {
    cp_with_a_stopped_pod("dir");
}

#[jetpack_testutil::root_test]
fn cp_with_a_stopped_pod_overlay() {
    cp_with_a_stopped_pod("overlay");
}

/// With `--private-users` a file copied in belongs to the same user inside the pod as on the
/// host, whether the clone holds the pod's ids (dir: an idmapped mount) or its host ids
/// (overlay).
fn owners_as_the_pod_sees_them(kind: &str) {
    let e = Env::new(kind);
    let out = tempfile::tempdir().unwrap();
    let ready = out.path().join("ready");
    let vol = format!("out,kind=host,source={}", out.path().display());
    let mut c = e.spawn(&[
        "run",
        "--private-users",
        "--name",
        "mapped",
        "--volume",
        &vol,
        BB,
        "--mount",
        "volume=out,target=/out",
        "--exec",
        "/bin/sh",
        "--",
        "-c",
        "touch /out/ready; exec sleep 1000",
    ]);
    wait_file(&ready, &mut c);
    e.wait_running_or(&mut c, "mapped");
    let _pod = Running(c);
    let host = tempfile::tempdir().unwrap();
    host_tree(host.path());
    e.ok(&["cp", host.path().join("tree").to_str().unwrap(), "mapped:/"]);
    let seen = e.ok(&[
        "exec",
        "mapped",
        "--",
        "/bin/stat",
        "-c",
        "%u:%g %a",
        "/tree/a",
        "/tree/sub",
    ]);
    assert_eq!(seen, "1234:4321 640\n0:0 710\n");
}

#[jetpack_testutil::root_test]
fn owners_as_the_pod_sees_them_dir() {
    owners_as_the_pod_sees_them("dir");
}

#[jetpack_testutil::root_test]
fn owners_as_the_pod_sees_them_overlay() {
    owners_as_the_pod_sees_them("overlay");
}
