//! Bad input gets a clear error naming the problem, writes nothing outside the store's temporary
//! area, and leaves the store as it was. Needs root (the store restores ownership).

mod common;

use common::TestStore;
use jetpack_store::Source;
use jetpack_testutil::Aci;

const M: &str = r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bad"}"#;

fn with_manifest(f: impl FnOnce(&mut Aci)) -> Vec<u8> {
    let mut a = Aci::new();
    f(&mut a);
    a.manifest(M).tar()
}

/// (case, archive bytes, expected words in the error). `outside` is a directory of the test's
/// own, outside the store, that a symlink of an archive points to.
fn cases(outside: &std::path::Path) -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let outside = outside.to_str().expect("UTF-8 temporary path");
    let good = with_manifest(|a| {
        a.file("rootfs/big", &vec![7u8; 300_000], 0o644);
    });
    let gz = {
        let mut a = Aci::new();
        a.file("rootfs/big", &vec![7u8; 300_000], 0o644);
        a.manifest(M).gzip()
    };
    let mut corrupt_gz = gz.clone();
    let mid = corrupt_gz.len() / 2;
    corrupt_gz[mid] ^= 0xff;
    let mut bad_crc = gz.clone();
    let n = bad_crc.len();
    bad_crc[n - 6] ^= 0xff;
    vec![
        (
            "dotdot",
            with_manifest(|a| {
                a.file("rootfs/../../escaped", b"x", 0o644);
            }),
            "`..`",
        ),
        (
            "absolute",
            with_manifest(|a| {
                a.file("/rootfs/abs", b"x", 0o644);
            }),
            "absolute path",
        ),
        (
            "outside rootfs",
            with_manifest(|a| {
                a.file("etc/passwd", b"x", 0o644);
            }),
            "outside rootfs/",
        ),
        (
            "rootfs prefix",
            with_manifest(|a| {
                a.file("rootfsx/a", b"x", 0o644);
            }),
            "outside rootfs/",
        ),
        (
            "symlink out",
            with_manifest(|a| {
                a.symlink("rootfs/a/evil", "../../../etc");
            }),
            "points outside rootfs/",
        ),
        (
            "hard link out",
            with_manifest(|a| {
                a.hardlink("rootfs/evil", "etc/passwd");
            }),
            "outside rootfs/",
        ),
        (
            "hard link to manifest",
            with_manifest(|a| {
                a.hardlink("rootfs/m", "manifest");
            }),
            "outside rootfs/",
        ),
        (
            "write through symlink",
            with_manifest(|a| {
                a.symlink("rootfs/a", outside);
                a.file("rootfs/a/x", b"x", 0o644);
            }),
            "refusing to write through",
        ),
        (
            "hard link to missing",
            with_manifest(|a| {
                a.hardlink("rootfs/l", "rootfs/nothing");
            }),
            "hard link",
        ),
        (
            "duplicate",
            with_manifest(|a| {
                a.file("rootfs/d", b"1", 0o644);
                a.file("./rootfs/d", b"2", 0o644);
            }),
            "duplicate entry",
        ),
        (
            "duplicate manifest",
            {
                let mut a = Aci::new();
                a.file("manifest", M.as_bytes(), 0o644);
                a.manifest(M).tar()
            },
            "duplicate entry",
        ),
        ("no manifest", Aci::new().tar(), "no manifest"),
        ("no rootfs", Aci::empty().manifest(M).tar(), "no rootfs"),
        (
            "bad manifest json",
            Aci::new().manifest("{not json").tar(),
            "manifest",
        ),
        (
            "bad manifest",
            Aci::new()
                .manifest(r#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"UPPER"}"#)
                .tar(),
            "ACIdentifier",
        ),
        ("truncated tar", good[..good.len() / 2].to_vec(), "tar"),
        ("truncated gzip", gz[..gz.len() / 2].to_vec(), "gzip"),
        ("corrupt gzip", corrupt_gz, "gzip"),
        ("bad gzip checksum", bad_crc, "gzip"),
        ("empty file", Vec::new(), "empty"),
        (
            "not an archive",
            b"just some text, not an image".to_vec(),
            "unknown file type",
        ),
    ]
}

fn refuses_bad_input(kind: &str) {
    let mut t = TestStore::new(kind);
    let good = t.input(
        "good.aci",
        &with_manifest(|a| {
            a.file("rootfs/ok", b"ok", 0o644);
        }),
    );
    let good_id = t.store.import(Source::File(good)).unwrap().id;
    // Not the host's /tmp: whatever is there (a /tmp/x of anyone's) must not fail the test.
    let outside = tempfile::tempdir().unwrap();
    for (case, bytes, words) in cases(outside.path()) {
        let f = t.input("bad.aci", &bytes);
        let err = match t.store.import(Source::File(f)) {
            Ok(i) => panic!("{case}: imported as {}", i.id),
            Err(e) => e.to_string(),
        };
        assert!(err.contains(words), "{case}: error {err:?} lacks {words:?}");
        assert!(
            err.contains("bad.aci") || err.contains("manifest"),
            "{case}: error names the file: {err}"
        );
        let ids: Vec<String> = t
            .store
            .images()
            .unwrap()
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(ids, vec![good_id.clone()], "{case}: store changed");
        assert_eq!(
            t.store.storage().images().unwrap(),
            vec![good_id.clone()],
            "{case}"
        );
        assert!(
            t.leftovers().is_empty(),
            "{case}: leftovers {:?}",
            t.leftovers()
        );
        assert!(
            !t.dir().join("escaped").exists()
                && !t.dir().parent().unwrap().join("escaped").exists()
        );
        assert!(
            !outside.path().join("x").exists(),
            "{case}: wrote through the symlink"
        );
    }
}

#[jetpack_testutil::root_test]
fn missing_dependency_is_named() {
    let mut t = TestStore::new("dir");
    let deps = r#","dependencies":[{"imageName":"example.com/base","labels":[{"name":"version","value":"7"}]}]"#;
    let f = t.input("app.aci", &Aci::new().named("example.com/app", deps).tar());
    let e = t.store.import(Source::File(f)).unwrap_err().to_string();
    assert!(
        e.contains("dependency example.com/base,version=7 of example.com/app is not in the store"),
        "{e}"
    );
    assert!(t.store.images().unwrap().is_empty());
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
}

#[jetpack_testutil::root_test]
fn gc_removes_leftovers_of_a_killed_import() {
    let mut t = TestStore::new("dir");
    // What a process killed half-way leaves: an unlocked lock file, metadata, a staging tree,
    // and a sealed tree plus metadata that never reached the index.
    let tmp = t.store.root().join("tmp");
    std::fs::write(tmp.join("dead.lock"), b"").unwrap();
    std::fs::create_dir(tmp.join("dead.meta")).unwrap();
    let staged = t.store.storage().create_temp("dead").unwrap();
    std::fs::write(staged.join("half"), b"x").unwrap();
    t.store.storage().create_temp("orphan").unwrap();
    t.store.storage().seal("orphan", "sha512-00").unwrap();
    std::fs::create_dir(t.store.image_dir("sha512-00")).unwrap();
    assert!(
        t.store.images().unwrap().is_empty(),
        "nothing half-made is visible"
    );
    let report = t.store.gc().unwrap();
    assert!(report.removed.len() >= 4, "{:?}", report.removed);
    assert!(t.leftovers().is_empty(), "{:?}", t.leftovers());
    assert!(t.store.storage().images().unwrap().is_empty());
    assert!(!t.store.image_dir("sha512-00").exists());
    assert!(t.store.gc().unwrap().removed.is_empty(), "gc is idempotent");
}

#[jetpack_testutil::root_test]
fn refuses_bad_input_dir() {
    refuses_bad_input("dir");
}

#[jetpack_testutil::root_test]
fn refuses_bad_input_zfs() {
    refuses_bad_input("zfs");
}
