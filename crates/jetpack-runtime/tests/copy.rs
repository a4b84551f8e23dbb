//! `cp` between the host and a rootfs: recursive copies with modes and times, and paths in
//! the rootfs that never lead out of it, whatever its symlinks say.

use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::Path;

use jetpack_runtime::copy::{copy_in, copy_out};

/// A rootfs with `/etc`, a file, and hostile links; a host directory with a canary beside it.
struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("rootfs");
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("srv/data")).unwrap();
        std::fs::write(root.join("etc/motd"), "in the pod\n").unwrap();
        std::fs::write(dir.path().join("canary"), "host secret\n").unwrap();
        // Links a naive copy would follow to the host: absolute (to the test directory, which
        // the rootfs does not have) and climbing out with `..`.
        symlink(dir.path(), root.join("abs")).unwrap();
        symlink("../../../../../../../../../../..", root.join("up")).unwrap();
        symlink("/", root.join("slash")).unwrap();
        symlink(dir.path().join("canary"), root.join("secret")).unwrap();
        Fixture { dir }
    }
    fn root(&self) -> std::path::PathBuf {
        self.dir.path().join("rootfs")
    }
    fn canary(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("canary")).unwrap()
    }
}

fn src_tree(at: &Path) {
    std::fs::create_dir_all(at.join("tree/sub")).unwrap();
    std::fs::write(at.join("tree/a"), "A").unwrap();
    std::fs::write(at.join("tree/sub/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(at.join("tree/sub/run.sh"), PermissionsExt::from_mode(0o750)).unwrap();
    std::fs::set_permissions(at.join("tree/sub"), PermissionsExt::from_mode(0o710)).unwrap();
    symlink("sub/run.sh", at.join("tree/link")).unwrap();
}

#[test]
fn copies_trees_both_ways_with_modes() {
    let f = Fixture::new();
    let host = tempfile::tempdir().unwrap();
    src_tree(host.path());
    let c = copy_in(&f.root(), &host.path().join("tree"), "/srv", 0).unwrap();
    assert_eq!((c.files, c.dirs, c.links), (2, 2, 1));
    let r = f.root();
    assert_eq!(std::fs::read_to_string(r.join("srv/tree/a")).unwrap(), "A");
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&r.join("srv/tree/sub/run.sh")), 0o750);
    assert_eq!(mode(&r.join("srv/tree/sub")), 0o710);
    assert_eq!(
        std::fs::read_link(r.join("srv/tree/link")).unwrap(),
        Path::new("sub/run.sh")
    );
    // A new name: copied as that name; a file there is replaced.
    copy_in(&f.root(), &host.path().join("tree/a"), "/srv/renamed", 0).unwrap();
    copy_in(
        &f.root(),
        &host.path().join("tree/sub/run.sh"),
        "/srv/renamed",
        0,
    )
    .unwrap();
    assert_eq!(
        std::fs::read_to_string(r.join("srv/renamed")).unwrap(),
        "#!/bin/sh\n"
    );

    let out = tempfile::tempdir().unwrap();
    copy_out(&f.root(), "/srv/tree", out.path()).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("tree/a")).unwrap(),
        "A"
    );
    assert_eq!(mode(&out.path().join("tree/sub/run.sh")), 0o750);
    copy_out(&f.root(), "/etc/motd", &out.path().join("motd.txt")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("motd.txt")).unwrap(),
        "in the pod\n"
    );
    // `..` that stays inside and links inside the pod are followed as the app sees them.
    copy_out(&f.root(), "/srv/../slash/etc/motd", &out.path().join("m2")).unwrap();
    assert_eq!(
        std::fs::read_to_string(out.path().join("m2")).unwrap(),
        "in the pod\n"
    );
}

#[test]
fn paths_in_the_pod_never_lead_out() {
    let f = Fixture::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("canary"), "overwritten\n").unwrap();
    let src = host.path().join("canary");
    // Climbing out with `..` or a relative link: refused, clearly.
    for dst in ["/../../../..", "/etc/../../x", "/up", "/up/canary"] {
        let e = copy_in(&f.root(), &src, dst, 0).unwrap_err().to_string();
        assert!(e.contains("above the app's root; refused"), "{dst}: {e}");
    }
    // An absolute link resolves in the pod, where the host path does not exist.
    let e = copy_in(&f.root(), &src, "/abs/canary", 0)
        .unwrap_err()
        .to_string();
    assert!(e.contains("in the pod"), "{e}");
    // A link to `/` is the pod's root.
    copy_in(&f.root(), &src, "/slash/", 0).unwrap();
    assert!(f.root().join("canary").exists());
    // A link to a host path is followed in the pod, where that path does not exist.
    copy_in(&f.root(), &src, "/secret", 0).unwrap_err();
    assert_eq!(f.canary(), "host secret\n", "the host canary is untouched");

    let out = tempfile::tempdir().unwrap();
    for src in ["/secret", "/up/canary", "/abs/canary", "/../canary"] {
        let r = copy_out(&f.root(), src, &out.path().join("got"));
        assert!(r.is_err(), "{src}: {r:?}");
    }
    assert!(
        !out.path().join("got").exists(),
        "nothing of the host was read"
    );
}

#[test]
fn a_pod_link_under_the_destination_is_not_written_through() {
    let f = Fixture::new();
    let host = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(host.path().join("tree")).unwrap();
    std::fs::write(host.path().join("tree/abs"), "x").unwrap();
    std::fs::create_dir_all(host.path().join("tree/up")).unwrap();
    std::fs::write(host.path().join("tree/up/canary"), "x").unwrap();
    // In the pod, /tree/abs and /tree/up are the hostile links.
    std::fs::create_dir(f.root().join("tree")).unwrap();
    symlink(f.dir.path().join("canary"), f.root().join("tree/abs")).unwrap();
    symlink("../../..", f.root().join("tree/up")).unwrap();
    let r = copy_in(&f.root(), &host.path().join("tree"), "/", 0);
    // The file replaces the link; the directory is not made through a link.
    assert!(r.is_err(), "{r:?}");
    assert!(r.unwrap_err().to_string().contains("not a directory"));
    assert_eq!(f.canary(), "host secret\n");
    assert_eq!(
        std::fs::read_to_string(f.root().join("tree/abs")).unwrap(),
        "x"
    );
}
