//! The btrfs backend on a real btrfs on a loop device.
#![cfg(target_os = "linux")]

mod common;

use std::sync::Arc;

use jetpack_storage::btrfs::BtrfsStorage;
use jetpack_storage::{Error, Kind, Storage, SystemRunner};
use jetpack_testutil::{LoopFs, must_run};

const FS_SIZE: u64 = 256 << 20;

fn btrfs(args: &[&str]) -> String {
    must_run("btrfs", args)
}

#[jetpack_testutil::root_test]
fn btrfs_lifecycle() {
    let fs = LoopFs::btrfs(FS_SIZE);
    let root = fs.path().join("storage");
    let s = BtrfsStorage::new(&root, Arc::new(SystemRunner::new()));
    let image = common::image_id('a');

    let pod = common::lifecycle(&s, &image, true);
    assert_eq!(pod, root.join("pods/p1"));
    let sealed = s.image_path(&image);
    assert_eq!(
        btrfs(&["property", "get", "-ts", sealed.to_str().unwrap(), "ro"]).trim(),
        "ro=true"
    );
    assert_eq!(
        btrfs(&["property", "get", "-ts", pod.to_str().unwrap(), "ro"]).trim(),
        "ro=false"
    );
    let show = btrfs(&["subvolume", "show", pod.to_str().unwrap()]);
    assert!(
        show.contains("Parent UUID:") && !show.contains("Parent UUID: \t\t-"),
        "pod is a snapshot: {show}"
    );

    // Subvolumes a pod creates inside its tree (read-only ones too) do not block removal.
    let nested = pod.join("nested");
    btrfs(&["subvolume", "create", nested.to_str().unwrap()]);
    btrfs(&[
        "subvolume",
        "create",
        nested.join("deeper").to_str().unwrap(),
    ]);
    btrfs(&[
        "property",
        "set",
        "-ts",
        nested.join("deeper").to_str().unwrap(),
        "ro",
        "true",
    ]);

    // Snapshots are independent: the image can go while the pod lives.
    s.remove_image(&image).unwrap();
    assert_eq!(s.images().unwrap(), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(pod.join("bin/suid")).unwrap(),
        "#!/bin/sh\n"
    );
    s.remove_image(&image)
        .expect("removing a missing image is fine");

    common::remove_pod_with_submount(&s, "p1", &pod);

    // A temporary tree holding a nested subvolume seals without it and discards cleanly.
    let t = s.create_temp("t6").unwrap();
    std::fs::write(t.join("f"), "f").unwrap();
    btrfs(&["subvolume", "create", t.join("sub").to_str().unwrap()]);
    let sealed = s.seal("t6", &image).unwrap();
    assert!(
        std::fs::read_dir(sealed.join("sub"))
            .unwrap()
            .next()
            .is_none()
    );
    s.remove_image(&image).unwrap();
    s.collect().unwrap();
    common::assert_empty(&s);
    let list = btrfs(&["subvolume", "list", fs.path().to_str().unwrap()]);
    assert_eq!(list.trim(), "", "no subvolumes left");
}

#[jetpack_testutil::root_test]
fn btrfs_init_refuses_other_file_systems() {
    let fs = LoopFs::ext4(64 << 20);
    let s = BtrfsStorage::new(&fs.path().join("storage"), Arc::new(SystemRunner::new()));
    let err = s.init().unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("is on ext4, not btrfs")),
        "{err}"
    );

    let b = LoopFs::btrfs(FS_SIZE);
    assert_eq!(
        jetpack_storage::detect(&b.path().join("storage"), None),
        (Kind::Btrfs, None)
    );
}
