//! The life cycle every backend must get right, run against real file systems.
#![allow(dead_code)]

use std::io::ErrorKind;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use jetpack_storage::{Error, Storage};
use jetpack_testutil::{mounts_below, must_run};

/// A real-looking image ID: ZFS dataset names must have room for it.
pub fn image_id(tag: char) -> String {
    format!("sha512-{}", tag.to_string().repeat(128))
}

/// Writes the test tree: a file, a hard link to it, a setuid file owned by uid 1234, a symlink
/// and a fifo.
pub fn populate(dir: &Path) {
    std::fs::create_dir(dir.join("etc")).unwrap();
    std::fs::write(dir.join("etc/hello"), "hello\n").unwrap();
    std::fs::hard_link(dir.join("etc/hello"), dir.join("etc/hello-link")).unwrap();
    std::fs::create_dir(dir.join("bin")).unwrap();
    let suid = dir.join("bin/suid");
    std::fs::write(&suid, "#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(&suid, Some(1234), Some(1234)).unwrap();
    // chown clears setuid, so the mode comes last.
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("etc/hello", dir.join("link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        dir.join("fifo"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    // The root directory's own metadata belongs to the image too.
    std::os::unix::fs::chown(dir, Some(4321), Some(4321)).unwrap();
    std::fs::set_permissions(dir, std::os::unix::fs::PermissionsExt::from_mode(0o751)).unwrap();
}

/// Asserts that `dir` holds exactly what [`populate`] wrote.
pub fn check_content(dir: &Path) {
    let root = std::fs::metadata(dir).unwrap();
    assert_eq!(
        (root.uid(), root.gid(), root.mode() & 0o7777),
        (4321, 4321, 0o751),
        "root of {}",
        dir.display()
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("etc/hello")).unwrap(),
        "hello\n",
        "{}",
        dir.display()
    );
    let a = std::fs::metadata(dir.join("etc/hello")).unwrap();
    let b = std::fs::metadata(dir.join("etc/hello-link")).unwrap();
    assert_eq!(
        (a.ino(), a.nlink()),
        (b.ino(), 2),
        "hard link kept in {}",
        dir.display()
    );
    let suid = std::fs::metadata(dir.join("bin/suid")).unwrap();
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (1234, 1234, 0o4755)
    );
    assert_eq!(
        std::fs::read_link(dir.join("link")).unwrap(),
        Path::new("etc/hello")
    );
    let fifo = std::fs::symlink_metadata(dir.join("fifo")).unwrap();
    assert!(fifo.file_type().is_fifo());
    assert_eq!(fifo.mode() & 0o777, 0o640);
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bin", "etc", "fifo", "link"], "{}", dir.display());
}

/// Every kind of write into `dir` fails with EROFS.
pub fn assert_read_only(dir: &Path) {
    let erofs = |r: std::io::Result<()>, what: &str| {
        let e = r.expect_err(what);
        assert_eq!(e.raw_os_error(), Some(libc_erofs()), "{what}: {e}");
    };
    erofs(std::fs::write(dir.join("new"), "x"), "create a file");
    erofs(
        std::fs::write(dir.join("etc/hello"), "x"),
        "overwrite a file",
    );
    erofs(std::fs::remove_file(dir.join("link")), "unlink");
    erofs(std::fs::create_dir(dir.join("newdir")), "mkdir");
    erofs(
        std::fs::set_permissions(
            dir.join("etc/hello"),
            std::os::unix::fs::PermissionsExt::from_mode(0o600),
        ),
        "chmod",
    );
}

fn libc_erofs() -> i32 {
    rustix::io::Errno::ROFS.raw_os_error()
}

/// Writes into a clone must not reach the image.
pub fn assert_independent(image: &Path, clone: &Path) {
    check_content(clone);
    std::fs::write(clone.join("etc/hello"), "changed\n").unwrap();
    std::fs::write(clone.join("new-file"), "x").unwrap();
    std::fs::remove_file(clone.join("link")).unwrap();
    assert_eq!(
        std::fs::read_to_string(image.join("etc/hello")).unwrap(),
        "hello\n"
    );
    assert!(!image.join("new-file").exists());
    assert!(std::fs::symlink_metadata(image.join("link")).is_ok());
    check_content(image);
}

/// Runs create → populate → seal → clone → discard. Leaves image `image` sealed and pod tree
/// `p1` cloned from it; returns the pod's rootfs path.
pub fn lifecycle(s: &dyn Storage, image: &str, read_only: bool) -> std::path::PathBuf {
    s.init().unwrap();
    s.init().expect("init is idempotent");
    assert_eq!(s.temps().unwrap(), Vec::<String>::new());
    assert_eq!(s.images().unwrap(), Vec::<String>::new());
    assert_eq!(s.pod_trees().unwrap(), Vec::<String>::new());

    let t1 = s.create_temp("t1").unwrap();
    assert_eq!(t1, s.root().join("tmp/t1"));
    populate(&t1);
    assert!(matches!(s.create_temp("t1"), Err(Error::Exists(_))));
    assert_eq!(s.temps().unwrap(), ["t1"]);

    let sealed = s.seal("t1", image).unwrap();
    assert_eq!(sealed, s.image_path(image));
    assert_eq!(s.images().unwrap(), [image]);
    assert_eq!(s.temps().unwrap(), Vec::<String>::new());
    assert!(!t1.exists(), "temporary tree is gone after sealing");
    check_content(&sealed);
    if read_only {
        assert_read_only(&sealed);
    }

    // Sealing onto an existing image fails and keeps the image.
    let t3 = s.create_temp("t3").unwrap();
    std::fs::write(t3.join("other"), "x").unwrap();
    let err = s.seal("t3", image).unwrap_err();
    assert!(matches!(err, Error::Exists(_)), "{err}");
    s.discard_temp("t3").unwrap();
    check_content(&sealed);

    let t2 = s.clone_to_temp(image, "t2").unwrap();
    assert_eq!(t2, s.root().join("tmp/t2"));
    assert_independent(&sealed, &t2);
    assert_eq!(s.temps().unwrap(), ["t2"]);

    let pod = s.clone_for_pod(image, "p1").unwrap();
    // As a pod that starts (overlay mounts its clones only while their pod runs).
    s.mount_pod_tree(image, "p1", None).unwrap();
    assert_independent(&sealed, &pod);
    assert_eq!(s.pod_trees().unwrap(), ["p1"]);
    assert!(matches!(
        s.clone_for_pod(image, "p1"),
        Err(Error::Exists(_))
    ));

    let err = s.clone_to_temp(&image_id('f'), "t4").unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err}");
    assert!(matches!(
        s.clone_for_pod(&image_id('f'), "p4"),
        Err(Error::NotFound(_))
    ));

    s.discard_temp("t2").unwrap();
    s.discard_temp("t2")
        .expect("discarding a missing temp is fine");
    assert_eq!(s.temps().unwrap(), Vec::<String>::new());
    assert!(!t2.exists());
    pod
}

/// Mounts a tmpfs inside the pod tree (as a runtime would mount /proc) and removes the pod tree:
/// the removal must unmount it and remove everything.
pub fn remove_pod_with_submount(s: &dyn Storage, name: &str, rootfs: &Path) {
    let sub = rootfs.join("etc");
    must_run("mount", &["-t", "tmpfs", "tmpfs", sub.to_str().unwrap()]);
    s.remove_pod_tree(name).unwrap();
    let pod = s.root().join("pods").join(name);
    assert!(mounts_below(&pod).is_empty(), "{:?}", mounts_below(&pod));
    assert!(!pod.exists());
    s.remove_pod_tree(name)
        .expect("removing a missing pod tree is fine");
    assert_eq!(s.pod_trees().unwrap(), Vec::<String>::new());
}

/// Nothing is left in any area.
pub fn assert_empty(s: &dyn Storage) {
    assert_eq!(s.temps().unwrap(), Vec::<String>::new());
    assert_eq!(s.images().unwrap(), Vec::<String>::new());
    assert_eq!(s.pod_trees().unwrap(), Vec::<String>::new());
    for area in ["tmp", "images", "pods"] {
        let left: Vec<_> = std::fs::read_dir(s.root().join(area)).unwrap().collect();
        assert!(left.is_empty(), "{area} not empty: {left:?}");
    }
}

pub fn is_not_found(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::NotFound
}
