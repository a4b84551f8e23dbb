//! Deeply nested trees cannot brick the store: an ACI nested deeper than the import limit is
//! refused at the first entry past it, with a short message; a deep tree left in the staging
//! area or made by an app in its pod clone is copied and removed like any other. Needs root.

mod common;

use std::ffi::CString;
use std::path::Path;
use std::time::{Duration, Instant};

use common::TestStore;
use jetpack_store::Source;
use jetpack_testutil::Aci;
use rustix::fd::OwnedFd;
use rustix::fs::{CWD, Mode, OFlags, mkdirat, openat};

/// Deeper than the 1024 levels tree walks used to allow, and than `PATH_MAX` can name.
const DEEP: usize = 2000;
const POD_DEPTH: usize = 1100;

const M: &str = r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/deep"}"#;

/// An ACI whose rootfs nests `depth` directories, listed parent first (long names are written
/// as GNU long-name entries).
fn deep_aci(depth: usize) -> Vec<u8> {
    use tar::EntryType::{Directory, Regular};
    let mut a = Aci::empty();
    a.long(Regular, "manifest", 0o644, M.as_bytes());
    a.long(Directory, "rootfs", 0o755, &[]);
    let mut name = String::from("rootfs");
    for _ in 0..depth {
        name.push_str("/d");
        a.long(Directory, &name, 0o755, &[]);
    }
    a.long(Regular, &format!("{name}/bottom"), 0o644, b"deep");
    a.tar()
}

fn open_dir(dir: impl rustix::fd::AsFd, name: &std::ffi::CStr) -> OwnedFd {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    openat(dir, name, flags, Mode::empty()).unwrap()
}

fn cpath(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).unwrap()
}

/// Nests `depth` directories `d` in `root` with `mkdirat`, one fd at a time (no path could
/// name the bottom), and puts a file there.
fn nest(root: &Path, depth: usize) {
    let mut fd = open_dir(CWD, &cpath(root));
    for _ in 0..depth {
        mkdirat(&fd, c"d", Mode::from_raw_mode(0o755)).unwrap();
        fd = open_dir(&fd, c"d");
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC;
    let f = openat(&fd, c"bottom", flags, Mode::from_raw_mode(0o644)).unwrap();
    rustix::io::write(&f, b"deep").unwrap();
}

/// The contents of `bottom` below `depth` directories `d` in `root`.
fn read_bottom(root: &Path, depth: usize) -> Vec<u8> {
    let mut fd = open_dir(CWD, &cpath(root));
    for _ in 0..depth {
        fd = open_dir(&fd, c"d");
    }
    let f = openat(
        &fd,
        c"bottom",
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let n = rustix::io::read(&f, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn small_image(t: &TestStore, name: &str) -> std::path::PathBuf {
    let mut a = Aci::new();
    a.file("rootfs/hello", b"hi", 0o644);
    t.input(
        &format!("{name}.aci"),
        &a.named(&format!("example.com/{name}"), "").tar(),
    )
}

fn deep_aci_is_refused_before_writing_and_the_store_keeps_working(kind: &str) {
    let mut t = TestStore::new(kind);
    let deep = t.input("deep.aci", &deep_aci(DEEP));
    let started = Instant::now();
    let e = t.store.import(Source::File(deep)).unwrap_err().to_string();
    assert!(started.elapsed() < Duration::from_secs(60));
    eprintln!("refused: {e}");
    // The first entry past the limit is named, shortened, with the limit.
    assert!(
        e.contains("\"rootfs/d/…/d/d\" (258 components)")
            && e.contains("nested 257 levels below rootfs/, deeper than the 256 allowed"),
        "{e}"
    );
    assert!(e.len() < 400, "message too long: {e}");
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    // The store keeps working: another import, gc, and an image 256 levels deep.
    let ok = small_image(&t, "after");
    let imported = t.store.import(Source::File(ok)).unwrap();
    assert!(!imported.existed);
    t.store.gc().unwrap();
    let limit = t.input("limit.aci", &deep_aci(255));
    let id = t.store.import(Source::File(limit)).unwrap().id;
    let tree = t.store.storage().image_path(&id);
    assert_eq!(read_bottom(&tree, 255), b"deep");
    t.store.gc().unwrap();
}

fn deep_staging_leftover_is_removed_by_gc_and_import(kind: &str) {
    let mut t = TestStore::new(kind);
    // What an import killed midway (or an older version) could leave: a deep staging tree
    // whose lock is free.
    let staged = t.store.storage().create_temp("0123456789abcdef").unwrap();
    nest(&staged, DEEP);
    let report = t.store.gc().unwrap();
    assert!(
        report
            .removed
            .iter()
            .any(|r| r.contains("0123456789abcdef")),
        "{:?}",
        report.removed
    );
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());

    let staged = t.store.storage().create_temp("fedcba9876543210").unwrap();
    nest(&staged, DEEP);
    let ok = small_image(&t, "next");
    t.store.import(Source::File(ok)).unwrap();
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

fn deep_tree_in_a_pod_clone_is_copied_and_removed(kind: &str) {
    let mut t = TestStore::new(kind);
    let img = small_image(&t, "app");
    let id = t.store.import(Source::File(img)).unwrap().id;
    let storage = t.store.storage();
    let rootfs = storage.clone_for_pod(&id, "pod-deep").unwrap();
    // As the pod's start does (overlay mounts a clone only while its pod runs).
    storage.mount_pod_tree(&id, "pod-deep", None).unwrap();
    // What an app may do in its rootfs.
    nest(&rootfs, POD_DEPTH);

    let copy = t.dir().join("copy");
    jetpack_storage::tree::merge_copy(&rootfs, &copy).unwrap();
    assert_eq!(read_bottom(&copy, POD_DEPTH), b"deep");
    assert!(jetpack_storage::tree::tree_size(&copy).unwrap() > POD_DEPTH as u64 * 512);
    jetpack_storage::tree::remove_tree(&copy).unwrap();
    assert!(!copy.exists());

    storage.remove_pod_tree("pod-deep").unwrap();
    assert!(
        !storage
            .pod_trees()
            .unwrap()
            .contains(&"pod-deep".to_string())
    );
    // A new clone of the same name (the next run of the pod) works.
    let again = storage.clone_for_pod(&id, "pod-deep").unwrap();
    storage.mount_pod_tree(&id, "pod-deep", None).unwrap();
    assert!(again.join("hello").exists());
    storage.remove_pod_tree("pod-deep").unwrap();
    t.store.gc().unwrap();
}

macro_rules! on_backends {
    ($($f:ident),*) => {
        mod dir { $(#[jetpack_testutil::root_test] fn $f() { super::$f("dir") })* }
        mod overlay { $(#[jetpack_testutil::root_test] fn $f() { super::$f("overlay") })* }
    };
}

on_backends!(
    deep_aci_is_refused_before_writing_and_the_store_keeps_working,
    deep_staging_leftover_is_removed_by_gc_and_import,
    deep_tree_in_a_pod_clone_is_copied_and_removed
);
