//! The backend-native change of a pod tree (btrfs: `btrfs send --no-data`) gives exactly the
//! change set of the reference tree comparison, for every kind of change a build makes:
//! additions, edits, metadata, deletions, renames (of files and of whole directories, swapped
//! ones too), type changes, and the runtime's own paths left out.

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::Path;
use std::sync::Arc;

use jetpack_build::diff::{Changes, compare_trees};
use jetpack_build::native::from_delta;
use jetpack_storage::btrfs::BtrfsStorage;
use jetpack_storage::{Storage, SystemRunner};
use jetpack_testutil::LoopFs;

const IMAGE: &str = "img";

fn skip(p: &Path) -> bool {
    p.starts_with(".jetpack.build") || p == Path::new("etc/hosts")
}

/// A parent tree with a few levels, a symlink and a hard link.
fn populate(t: &Path) {
    for d in ["etc", "usr/lib/a", "usr/lib/b", "var/www", "data/x/y"] {
        fs::create_dir_all(t.join(d)).unwrap();
    }
    for (f, body) in [
        ("etc/passwd", "root\n"),
        ("etc/group", "root\n"),
        ("usr/lib/a/one", "1"),
        ("usr/lib/a/two", "2"),
        ("usr/lib/b/three", "3"),
        ("var/www/index.html", "hi"),
        ("data/x/y/deep", "deep"),
        ("data/file", "f"),
    ] {
        fs::write(t.join(f), body).unwrap();
    }
    symlink("/etc/passwd", t.join("etc/link")).unwrap();
    fs::hard_link(t.join("data/file"), t.join("data/file2")).unwrap();
}

type Step = fn(&Path);

fn scenarios() -> Vec<(&'static str, Step)> {
    vec![
        ("nothing", |_| {}),
        ("add", |p| {
            fs::write(p.join("added"), "new").unwrap();
            fs::create_dir_all(p.join("usr/lib/c/d")).unwrap();
            fs::write(p.join("usr/lib/c/d/e"), "e").unwrap();
            fs::create_dir(p.join(".jetpack.build")).unwrap();
            fs::write(p.join("etc/hosts"), "127.0.0.1 localhost").unwrap();
        }),
        ("edit", |p| {
            fs::write(p.join("var/www/index.html"), "changed").unwrap();
            fs::set_permissions(p.join("usr/lib/a/one"), fs::Permissions::from_mode(0o600))
                .unwrap();
            std::os::unix::fs::lchown(p.join("etc/link"), Some(7), Some(7)).unwrap();
        }),
        ("delete", |p| {
            fs::remove_file(p.join("etc/group")).unwrap();
            fs::remove_dir_all(p.join("data/x")).unwrap();
        }),
        ("rename-file", |p| {
            fs::rename(p.join("usr/lib/a/two"), p.join("usr/lib/b/two")).unwrap();
        }),
        ("rename-dir", |p| {
            fs::rename(p.join("usr/lib/a"), p.join("opt")).unwrap();
            fs::write(p.join("opt/more"), "m").unwrap();
        }),
        ("swap-dirs", |p| {
            fs::rename(p.join("usr/lib/a"), p.join("usr/lib/tmp")).unwrap();
            fs::rename(p.join("usr/lib/b"), p.join("usr/lib/a")).unwrap();
            fs::rename(p.join("usr/lib/tmp"), p.join("usr/lib/b")).unwrap();
        }),
        ("replace-same-name", |p| {
            fs::remove_dir_all(p.join("usr/lib/a")).unwrap();
            fs::create_dir(p.join("usr/lib/a")).unwrap();
            fs::write(p.join("usr/lib/a/one"), "1").unwrap();
        }),
        ("types", |p| {
            fs::remove_file(p.join("var/www/index.html")).unwrap();
            fs::create_dir(p.join("var/www/index.html")).unwrap();
            fs::remove_dir_all(p.join("usr/lib/b")).unwrap();
            fs::write(p.join("usr/lib/b"), "now a file").unwrap();
        }),
        ("only-skipped", |p| {
            fs::create_dir(p.join(".jetpack.build")).unwrap();
            fs::write(p.join(".jetpack.build/out"), "x").unwrap();
        }),
    ]
}

fn same(a: &Changes, b: &Changes) -> bool {
    a.paths == b.paths && a.deleted == b.deleted
}

#[jetpack_testutil::root_test]
fn btrfs_send_gives_the_tree_comparison() {
    let fs_ = LoopFs::btrfs(256 << 20);
    let s = BtrfsStorage::new(&fs_.path().join("storage"), Arc::new(SystemRunner::new()));
    s.init().unwrap();
    populate(&s.create_temp("base").unwrap());
    s.seal("base", IMAGE).unwrap();
    let image = s.image_path(IMAGE);
    let mut changed = 0;
    for (i, (name, step)) in scenarios().into_iter().enumerate() {
        let tree = format!("p{i}");
        let pod = s.clone_for_pod(IMAGE, &tree).unwrap();
        step(&pod);
        let delta = s.tree_delta(IMAGE, &tree, &format!("x{i}.send")).unwrap();
        let delta = delta.expect("btrfs reports the change");
        let native = from_delta(&pod, &image, &delta, &skip)
            .unwrap()
            .unwrap_or_else(|| panic!("{name}: fell back to comparing the trees"));
        let reference = compare_trees(&pod, &image, &skip).unwrap();
        assert!(
            same(&native, &reference),
            "{name}: native {native:?}\nreference {reference:?}\ndelta {delta:?}"
        );
        changed += usize::from(!reference.paths.is_empty());
        assert_eq!(s.temps().unwrap(), Vec::<String>::new(), "{name}");
        s.remove_pod_tree(&tree).unwrap();
    }
    assert_eq!(changed, 8, "every scenario but two changes something");
}

/// A file with two names edited through one: the stream names one of them, so the native
/// diff gives up and the caller compares the trees.
#[jetpack_testutil::root_test]
fn btrfs_hard_linked_edit_falls_back() {
    let fs_ = LoopFs::btrfs(256 << 20);
    let s = BtrfsStorage::new(&fs_.path().join("storage"), Arc::new(SystemRunner::new()));
    s.init().unwrap();
    populate(&s.create_temp("base").unwrap());
    s.seal("base", IMAGE).unwrap();
    let pod = s.clone_for_pod(IMAGE, "p").unwrap();
    fs::write(pod.join("data/file"), "edited").unwrap();
    let delta = s.tree_delta(IMAGE, "p", "x.send").unwrap().unwrap();
    assert!(
        delta.touched.iter().any(|p| p.starts_with("data")),
        "{delta:?}"
    );
    let native = from_delta(&pod, &s.image_path(IMAGE), &delta, &skip).unwrap();
    assert!(native.is_none());
}
