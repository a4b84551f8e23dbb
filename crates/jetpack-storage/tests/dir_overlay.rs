//! The dir and overlay backends on real file systems (a tempdir, and ext4 on a loop device).
#![cfg(target_os = "linux")]

mod common;

use jetpack_storage::dir::DirStorage;
use jetpack_storage::overlay::OverlayStorage;
use jetpack_storage::{Error, Kind, Storage};
use jetpack_testutil::{LoopFs, MountGuard, mounts_below};

#[jetpack_testutil::root_test]
fn dir_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let s = DirStorage::new(&dir.path().join("storage"));
    let image = common::image_id('a');
    let pod = common::lifecycle(&s, &image, false);
    assert_eq!(pod, s.root().join("pods/p1"));
    // Copies are independent of the image.
    s.remove_image(&image).unwrap();
    assert_eq!(
        std::fs::read_to_string(pod.join("bin/suid")).unwrap(),
        "#!/bin/sh\n"
    );
    common::remove_pod_with_submount(&s, "p1", &pod);
    s.collect().unwrap();
    common::assert_empty(&s);
}

#[jetpack_testutil::root_test]
fn overlay_lifecycle() {
    let fs = LoopFs::ext4(128 << 20);
    let s = OverlayStorage::new(&fs.path().join("storage"));
    let image = common::image_id('a');
    let rootfs = common::lifecycle(&s, &image, false);
    assert_eq!(rootfs, s.root().join("pods/p1/rootfs"));

    // The pod tree is a real overlay mount with the image as its lower layer.
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let line = text
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(rootfs.to_str().unwrap()))
        .expect("rootfs is mounted");
    assert!(line.contains(" - overlay overlay "), "{line}");
    assert!(
        line.contains(&format!("lowerdir={}", s.image_path(&image).display())),
        "{line}"
    );
    // Writes landed in the upper layer, and the merged root has the image's attributes.
    assert!(s.root().join("pods/p1/upper/new-file").exists());
    let meta = |p: &std::path::Path| {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(p).unwrap();
        (m.mode(), m.uid(), m.gid())
    };
    assert_eq!(meta(&rootfs), meta(&s.image_path(&image)));

    // The image cannot go while an overlay uses it.
    let err = s.remove_image(&image).unwrap_err();
    assert!(
        matches!(&err, Error::Busy { users, .. } if users.contains("pods/p1/rootfs")),
        "{err}"
    );
    common::check_content(&s.image_path(&image));
    // Unmounted (its pod ended), the tree keeps what the pod wrote and mounts again.
    s.unmount_pod_tree("p1").unwrap();
    assert!(mounts_below(s.root()).is_empty());
    s.unmount_pod_tree("p1").expect("not mounted is fine");
    s.mount_pod_tree(&image, "p1", None).unwrap();
    s.mount_pod_tree(&image, "p1", None)
        .expect("a tree left mounted is mounted afresh");
    assert!(rootfs.join("new-file").exists());

    common::remove_pod_with_submount(&s, "p1", &rootfs);
    assert!(mounts_below(s.root()).is_empty());
    s.remove_image(&image).unwrap();
    s.collect().unwrap();
    common::assert_empty(&s);

    assert_eq!(
        jetpack_storage::detect(s.root(), None),
        (Kind::Overlay, None)
    );
}

/// `collect` removes the views of processes that are gone, never one a live process reads.
#[jetpack_testutil::root_test]
fn overlay_collect_keeps_live_views() {
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let s = OverlayStorage::new(&dir.path().join("storage"));
    s.init().unwrap();
    let views = s.root().join("views");
    std::fs::create_dir_all(&views).unwrap();
    let live = views.join(format!("{}-1-0", std::process::id()));
    // Above the kernel's largest pid_max: no process has it.
    let dead = views.join("4194305-1-0");
    for v in [&live, &dead] {
        std::fs::create_dir(v).unwrap();
        std::fs::write(v.join("f"), "x").unwrap();
    }
    s.collect().unwrap();
    assert!(live.join("f").exists());
    assert!(!dead.exists());
}
