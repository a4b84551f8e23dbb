//! The zfs backend against a real file-backed pool under zfs-fuse.

mod common;

use std::path::Path;
use std::sync::Arc;

use jetpack_storage::zfs::ZfsStorage;
use jetpack_storage::{Error, Kind, Storage, SystemRunner};
use jetpack_testutil::{MountGuard, ZfsPool, mounts_below, must_run};

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

fn get(prop: &str, ds: &str) -> String {
    zfs(&["get", "-H", "-o", "value", prop, ds])
        .trim()
        .to_string()
}

/// Datasets below `parent` (not `parent` itself), sorted.
fn below(parent: &str) -> Vec<String> {
    let out = zfs(&["list", "-H", "-o", "name", "-t", "filesystem", "-r", parent]);
    let mut v: Vec<String> = out.lines().skip(1).map(String::from).collect();
    v.sort();
    v
}

#[jetpack_testutil::root_test]
fn zfs_lifecycle_with_retired_image() {
    let pool = ZfsPool::create(POOL_SIZE);
    let dir = tempfile::tempdir().unwrap();
    let _mounts = MountGuard::new(dir.path());
    let root = dir.path().join("storage");
    let d = format!("{}/jetpack", pool.name());
    let s = storage(&root, &d);
    let image = common::image_id('a');

    let pod = common::lifecycle(&s, &image, true);
    assert_eq!(pod, root.join("pods/p1"));

    // The layout: areas mounted on the root, the image and the pod on their own datasets.
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
    let pod_ds = format!("{d}/pods/p1");
    assert_eq!(get("readonly", &image_ds), "on");
    let (fs, source, opts) = mount_at(&s.image_path(&image)).expect("image is mounted");
    assert!(fs == "fuse.zfs" || fs == "zfs", "{fs}");
    assert_eq!(source, image_ds);
    assert!(
        opts.split(',').any(|o| o == "ro"),
        "image mounted read-only: {opts}"
    );
    assert_eq!(get("origin", &pod_ds), format!("{image_ds}@seal"));
    assert_eq!(get("readonly", &pod_ds), "off");

    // An image without clones is destroyed outright.
    let other = common::image_id('b');
    let t = s.create_temp("t5").unwrap();
    std::fs::write(t.join("x"), "x").unwrap();
    s.seal("t5", &other).unwrap();
    s.remove_image(&other).unwrap();
    assert_eq!(s.images().unwrap(), [image.as_str()]);
    assert_eq!(below(&format!("{d}/images")), [image_ds.as_str()]);

    // With a pod clone, removal retires the image in place and the pod keeps working.
    s.remove_image(&image).unwrap();
    assert_eq!(s.images().unwrap(), Vec::<String>::new());
    assert_eq!(
        (
            get("jetpack:retired", &image_ds),
            get("canmount", &image_ds)
        ),
        ("on".into(), "off".into())
    );
    assert_eq!(get("mounted", &image_ds), "no");
    assert!(mount_at(&s.image_path(&image)).is_none());
    assert_eq!(
        std::fs::read_to_string(pod.join("bin/suid")).unwrap(),
        "#!/bin/sh\n"
    );
    assert!(matches!(
        s.clone_for_pod(&image, "p2"),
        Err(Error::NotFound(_))
    ));
    s.remove_image(&image)
        .expect("removing a removed image is fine");
    s.collect().unwrap();
    assert_eq!(get("jetpack:retired", &image_ds), "on", "kept while cloned");

    // Sealing the same image again must move the retired dataset aside. zfs-fuse cannot rename
    // it while the pod clone is mounted and says so; OpenZFS can.
    let quick = storage(&root, &d).with_busy_timeout(std::time::Duration::from_secs(2));
    let t = quick.create_temp("t7").unwrap();
    common::populate(&t);
    match quick.seal("t7", &image) {
        Ok(_) => {
            assert_eq!(s.images().unwrap(), [image.as_str()]);
            assert_eq!(below(&format!("{d}/retired")).len(), 1);
            s.remove_image(&image).unwrap();
        }
        Err(e @ Error::Busy { .. }) => {
            eprintln!("re-seal while a clone is mounted: {e}");
            s.discard_temp("t7").unwrap();
        }
        Err(e) => panic!("unexpected: {e}"),
    }

    common::remove_pod_with_submount(&s, "p1", &pod);
    s.collect().unwrap();
    assert_eq!(
        below(&d),
        [
            format!("{d}/images"),
            format!("{d}/pods"),
            format!("{d}/retired"),
            format!("{d}/tmp")
        ]
    );

    // Retired, clone gone, not collected yet: sealing the image again moves the old one aside.
    let t = s.create_temp("t8").unwrap();
    common::populate(&t);
    s.seal("t8", &image).unwrap();
    s.clone_for_pod(&image, "p3").unwrap();
    s.remove_image(&image).unwrap();
    s.remove_pod_tree("p3").unwrap();
    let t = s.create_temp("t9").unwrap();
    common::populate(&t);
    s.seal("t9", &image).unwrap();
    assert_eq!(s.images().unwrap(), [image.as_str()]);
    common::check_content(&s.image_path(&image));
    let aside = below(&format!("{d}/retired"));
    assert!(
        aside.len() == 1 && aside[0].starts_with(&format!("{d}/retired/{image}-")),
        "{aside:?}"
    );
    s.collect().unwrap();
    assert_eq!(below(&format!("{d}/retired")), Vec::<String>::new());
    s.remove_image(&image).unwrap();

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

    s.init().expect("a second init finds everything in place");
    drop(pool);
    assert!(
        mounts_below(dir.path()).is_empty(),
        "pool destroy unmounted everything"
    );
}

#[jetpack_testutil::root_test]
fn zfs_init_checks_mountpoints_and_reports_commands() {
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

#[jetpack_testutil::root_test]
fn zfs_detect_finds_the_dataset() {
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
