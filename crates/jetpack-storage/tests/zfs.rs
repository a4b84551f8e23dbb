//! The zfs backend against a real file-backed pool under zfs-fuse.

mod common;

use std::path::Path;
use std::sync::Arc;

use jetpack_storage::zfs::ZfsStorage;
use jetpack_storage::{Error, Kind, Storage, SystemRunner};
use jetpack_testutil::{MountGuard, ZfsPool, mounts_below, must_run, require_root};

const POOL_SIZE: u64 = 256 << 20;

fn zfs(args: &[&str]) -> String {
    must_run("zfs", args)
}

fn storage(root: &Path, dataset: &str) -> ZfsStorage {
    ZfsStorage::new(root, dataset, Arc::new(SystemRunner::new()))
}

/// The mountinfo entry for `path`: (fs type, source, mount options).
fn mount_at(path: &Path) -> Option<(String, String, String)> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    text.lines().rev().find_map(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        let sep = f.iter().position(|x| *x == "-")?;
        (Path::new(f[4]) == path).then(|| {
            (
                f[sep + 1].to_string(),
                f[sep + 2].to_string(),
                f[5].to_string(),
            )
        })
    })
}

#[test]
fn zfs_lifecycle_with_retired_image() {
    if !require_root() {
        return;
    }
    let pool = ZfsPool::create(POOL_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let root = dir.path().join("storage");
    let d = format!("{}/jetpack", pool.name());
    let s = storage(&root, &d);
    let image = common::image_id('a');

    let pod = common::lifecycle(&s, &image, true);
    assert_eq!(pod, root.join("pods/p1"));

    // The layout: areas mounted on the root, the image and pod on their own datasets.
    let props = zfs(&[
        "list",
        "-H",
        "-o",
        "name,mountpoint",
        "-t",
        "filesystem",
        "-r",
        &d,
    ]);
    let root_s = root.to_str().unwrap();
    for area in ["tmp", "images", "pods"] {
        assert!(
            props.contains(&format!("{d}/{area}\t{root_s}/{area}\n")),
            "{props}"
        );
    }
    assert!(props.contains(&format!("{d}/retired\tnone\n")), "{props}");
    let image_ds = format!("{d}/images/{image}");
    assert_eq!(
        zfs(&["get", "-H", "-o", "value", "readonly", &image_ds]).trim(),
        "on"
    );
    let (fs, source, opts) = mount_at(&s.image_path(&image)).expect("image is mounted");
    assert!(fs == "fuse.zfs" || fs == "zfs", "{fs}");
    assert_eq!(source, image_ds);
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "image mounted read-only: {opts}"
    );
    assert_eq!(
        zfs(&[
            "get",
            "-H",
            "-o",
            "value",
            "origin",
            &format!("{d}/pods/p1")
        ])
        .trim(),
        format!("{image_ds}@seal")
    );
    assert_eq!(
        zfs(&[
            "get",
            "-H",
            "-o",
            "value",
            "readonly",
            &format!("{d}/pods/p1")
        ])
        .trim(),
        "off"
    );

    // A second image without clones is destroyed outright.
    let other = common::image_id('b');
    let t = s.create_temp("t5").unwrap();
    std::fs::write(t.join("x"), "x").unwrap();
    s.seal("t5", &other).unwrap();
    s.remove_image(&other).unwrap();
    assert_eq!(s.images().unwrap(), [image.clone()]);
    assert!(
        zfs(&["list", "-H", "-o", "name", "-r", &format!("{d}/retired")])
            .lines()
            .count()
            == 1
    );

    // The image has a pod clone: removing it retires the dataset and the pod keeps working.
    s.remove_image(&image).unwrap();
    assert_eq!(s.images().unwrap(), Vec::<String>::new());
    assert!(
        !s.image_path(&image).exists()
            || std::fs::read_dir(s.image_path(&image))
                .unwrap()
                .next()
                .is_none()
    );
    let retired = zfs(&[
        "list",
        "-H",
        "-o",
        "name",
        "-t",
        "filesystem",
        "-r",
        &format!("{d}/retired"),
    ]);
    let retired: Vec<&str> = retired.lines().skip(1).collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    assert!(
        retired[0].starts_with(&format!("{d}/retired/{image}-")),
        "{retired:?}"
    );
    assert_eq!(
        std::fs::read_to_string(pod.join("bin/suid")).unwrap(),
        "#!/bin/sh\n"
    );
    s.remove_image(&image)
        .expect("removing a missing image is fine");

    s.collect().unwrap();
    assert!(
        zfs(&["list", "-H", "-o", "name", retired[0]]).contains(retired[0]),
        "kept while cloned"
    );

    common::remove_pod_with_submount(&s, "p1", &pod);
    s.collect().unwrap();
    let left = zfs(&["list", "-H", "-o", "name", "-t", "all", "-r", &d]);
    let mut left: Vec<&str> = left.lines().collect();
    left.sort();
    let want = [
        d.clone(),
        format!("{d}/images"),
        format!("{d}/pods"),
        format!("{d}/retired"),
        format!("{d}/tmp"),
    ];
    assert_eq!(left, want, "only the areas remain");
    common::assert_empty(&s);

    // A second init finds everything in place.
    s.init().unwrap();
    drop(pool);
    assert!(
        mounts_below(dir.path()).is_empty(),
        "pool destroy unmounted everything"
    );
}

#[test]
fn zfs_init_checks_mountpoints_and_reports_commands() {
    if !require_root() {
        return;
    }
    let pool = ZfsPool::create(POOL_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let d = format!("{}/a/b", pool.name());
    storage(&dir.path().join("one"), &d)
        .init()
        .expect("creates missing parents");

    // The same dataset under another root is a configuration error, not a silent move.
    let err = storage(&dir.path().join("two"), &d).init().unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
    assert!(err.to_string().contains("zfs set mountpoint="), "{err}");

    // An area unmounted behind our back is mounted again.
    zfs(&["unmount", &format!("{d}/images")]);
    storage(&dir.path().join("one"), &d).init().unwrap();
    assert!(mount_at(&dir.path().join("one/images")).is_some());

    // Failures carry the command line and the tool's message.
    let missing = format!("{}nopool/x", pool.name());
    let err = storage(&dir.path().join("three"), &missing)
        .init()
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("zfs create -p -o mountpoint=none {missing}: ")),
        "{msg}"
    );
    assert!(msg.contains("exit status"), "{msg}");

    // Names ZFS cannot hold are refused before running anything.
    let s = storage(&dir.path().join("one"), &d);
    let long = format!("sha512-{}", "0".repeat(240));
    assert!(matches!(
        s.create_temp(&long),
        Err(Error::InvalidName { .. })
    ));
    assert!(matches!(
        s.create_temp("a b"),
        Err(Error::InvalidName { .. })
    ));
    drop(pool);
}

#[test]
fn zfs_detect_finds_the_dataset() {
    if !require_root() {
        return;
    }
    let pool = ZfsPool::create(POOL_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let mp = dir.path().join("data");
    let ds = format!("{}/data", pool.name());
    zfs(&["create", "-o", &format!("mountpoint={}", mp.display()), &ds]);
    let (kind, found) = jetpack_storage::detect(&mp, None);
    assert_eq!((kind, found.as_deref()), (Kind::Zfs, Some(ds.as_str())));
    let (kind, found) = jetpack_storage::detect(&mp.join("storage"), None);
    assert_eq!((kind, found), (Kind::Zfs, Some(format!("{ds}/jetpack"))));
    drop(pool);
}
