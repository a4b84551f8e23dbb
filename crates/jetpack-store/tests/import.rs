//! Import on every backend: metadata preserved, IDs right, dependencies rendered, bad input
//! refused with nothing left behind. Needs root (ownership, device nodes, loop devices, ZFS).

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::TestStore;
use jetpack_store::{Pick, Source};
use jetpack_testutil::aci::{Aci, MTIME, sha512_id};

fn sample() -> Aci {
    let mut a = Aci::new();
    a.dir("rootfs/bin", 0o755)
        .owned_file("rootfs/bin/suid", b"#!/bin/sh\n", 0o4755, 1234, 5678)
        .xattr_file("rootfs/bin/attr", b"x", "user.jetpack", b"value")
        .hardlink("rootfs/bin/suid-link", "rootfs/bin/suid")
        .symlink("rootfs/bin/sh", "/bin/busybox")
        .symlink("rootfs/lib", "usr/lib")
        .dir("rootfs/dev", 0o755)
        .special("rootfs/dev/null", tar::EntryType::Char, 1, 3)
        .special("rootfs/dev/loop9", tar::EntryType::Block, 7, 9)
        .special("rootfs/fifo", tar::EntryType::Fifo, 0, 0)
        .dir("rootfs/tmp", 0o1777)
        .file("rootfs/usr/share/deep/file", b"implicit parents", 0o600);
    a.named(
        "example.com/sample",
        r#","labels":[{"name":"version","value":"1.0"}]"#,
    )
}

fn preserves_everything(kind: &str) {
    let mut t = TestStore::new(kind);
    let tar = sample().tar();
    let want = sha512_id(&tar);
    let f = t.input("sample.aci", &tar);
    let got = t.store.import(Source::File(f.clone())).unwrap();
    assert_eq!(
        got.id, want,
        "image ID is the SHA-512 of the uncompressed tar"
    );
    assert!(!got.existed);
    let r = t.store.image_rootfs(&got.id);
    let suid = std::fs::symlink_metadata(r.join("bin/suid")).unwrap();
    assert_eq!(
        (suid.uid(), suid.gid(), suid.mode() & 0o7777),
        (1234, 5678, 0o4755)
    );
    assert_eq!(suid.mtime(), MTIME as i64);
    assert_eq!(suid.nlink(), 2);
    assert_eq!(
        std::fs::symlink_metadata(r.join("bin/suid-link"))
            .unwrap()
            .ino(),
        suid.ino()
    );
    assert_eq!(
        std::fs::read_link(r.join("bin/sh")).unwrap().to_str(),
        Some("/bin/busybox")
    );
    let null = std::fs::symlink_metadata(r.join("dev/null")).unwrap();
    assert!(null.file_type().is_char_device());
    assert_eq!(null.rdev(), rustix::fs::makedev(1, 3));
    assert!(
        std::fs::symlink_metadata(r.join("dev/loop9"))
            .unwrap()
            .file_type()
            .is_block_device()
    );
    assert!(
        std::fs::symlink_metadata(r.join("fifo"))
            .unwrap()
            .file_type()
            .is_fifo()
    );
    assert_eq!(
        std::fs::metadata(r.join("tmp")).unwrap().mode() & 0o7777,
        0o1777
    );
    assert_eq!(
        std::fs::read(r.join("usr/share/deep/file")).unwrap(),
        b"implicit parents"
    );
    if kind != "zfs" {
        // zfs-fuse has no user xattrs.
        let v =
            rustix::fs::getxattr(r.join("bin/attr"), "user.jetpack", &mut [0u8; 16][..]).unwrap();
        assert_eq!(v, 5);
    }
    // Stored exactly; export gives back the original file.
    let mut out = Vec::new();
    t.store.export(&got.id, &mut out).unwrap();
    assert_eq!(out, tar);
    // The same image again is recognised, whatever the compression.
    let gz = t.input("sample.aci.gz", &sample().gzip());
    let again = t.store.import(Source::File(gz)).unwrap();
    assert!(again.existed);
    assert_eq!(again.id, want);
    assert_eq!(t.store.images().unwrap().len(), 1);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

fn renders_dependencies(kind: &str) {
    let mut t = TestStore::new(kind);
    let mut base = Aci::new();
    base.dir("rootfs/etc", 0o755)
        .file("rootfs/etc/base.conf", b"base", 0o644)
        .file("rootfs/etc/shared", b"from base", 0o644)
        .symlink("rootfs/lib", "usr/lib")
        .dir("rootfs/usr/lib", 0o755);
    let base = base.named(
        "example.com/base",
        r#","labels":[{"name":"version","value":"1"},{"name":"os","value":"linux"}]"#,
    );
    let base_id = t
        .store
        .import(Source::File(t.input("base.aci", &base.gzip())))
        .unwrap()
        .id;
    let mut tools = Aci::new();
    tools
        .dir("rootfs/opt", 0o755)
        .file("rootfs/opt/tool", b"tool", 0o755)
        .file("rootfs/opt/junk", b"junk", 0o644);
    let tools_id = t
        .store
        .import(Source::File(t.input(
            "tools.aci",
            &tools.named("example.com/tools", "").tar(),
        )))
        .unwrap()
        .id;
    let mut app = Aci::new();
    app.dir("rootfs/etc", 0o700)
        .file("rootfs/etc/shared", b"from app", 0o600)
        .dir("rootfs/lib", 0o755)
        .file("rootfs/lib/own.so", b"so", 0o644);
    let deps = format!(
        r#","dependencies":[{{"imageName":"example.com/base","labels":[{{"name":"version","value":"1"}}]}},{{"imageName":"example.com/tools","imageID":"{tools_id}"}}],"pathWhitelist":["/etc/shared","/etc/base.conf","/lib/own.so","/opt/tool"]"#
    );
    let app_id = t
        .store
        .import(Source::File(
            t.input("app.aci", &app.named("example.com/app", &deps).tar()),
        ))
        .unwrap()
        .id;
    let r = t.store.image_rootfs(&app_id);
    assert_eq!(std::fs::read(r.join("etc/base.conf")).unwrap(), b"base");
    assert_eq!(
        std::fs::read(r.join("etc/shared")).unwrap(),
        b"from app",
        "later layer wins"
    );
    assert_eq!(
        std::fs::metadata(r.join("etc")).unwrap().mode() & 0o777,
        0o700,
        "upper dir metadata wins"
    );
    let lib = std::fs::symlink_metadata(r.join("lib")).unwrap();
    assert!(
        lib.is_dir(),
        "the symlink to a directory was replaced, not followed"
    );
    assert!(!r.join("usr/lib/own.so").exists());
    assert_eq!(std::fs::read(r.join("opt/tool")).unwrap(), b"tool");
    assert!(
        !r.join("opt/junk").exists(),
        "pathWhitelist removes unlisted dependency files"
    );
    assert!(
        !r.join("usr/lib").exists(),
        "unlisted dependency directories go"
    );
    // The base is unchanged by its dependant's render.
    let b = t.store.image_rootfs(&base_id);
    assert!(
        std::fs::symlink_metadata(b.join("lib"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(b.join("etc/shared")).unwrap(), b"from base");
    assert_eq!(
        t.store.get(&app_id).unwrap().unwrap().deps,
        vec![base_id.clone(), tools_id.clone()]
    );

    // Removal: refused while depended on, forced otherwise.
    let e = t.store.remove(&base_id, false).unwrap_err().to_string();
    assert!(
        e.contains("is a dependency of") && e.contains("--force"),
        "{e}"
    );
    t.store.remove(&app_id, false).unwrap();
    t.store.remove(&base_id, false).unwrap();
    assert!(t.store.storage().images().unwrap() == vec![tools_id.clone()]);
    assert!(!t.store.image_dir(&base_id).exists());
    let row = t.store.lookup("example.com/tools", Pick::Unique).unwrap();
    assert_eq!(row.id, tools_id);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

macro_rules! on_every_backend {
    ($($f:ident),*) => {
        mod dir { $(#[jetpack_testutil::root_test] fn $f() { super::$f("dir") })* }
        mod overlay { $(#[jetpack_testutil::root_test] fn $f() { super::$f("overlay") })* }
        mod btrfs { $(#[jetpack_testutil::root_test] fn $f() { super::$f("btrfs") })* }
        mod zfs { $(#[jetpack_testutil::root_test] fn $f() { super::$f("zfs") })* }
    };
}

on_every_backend!(preserves_everything, renders_dependencies);
