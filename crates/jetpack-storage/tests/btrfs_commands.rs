//! The exact `btrfs` command lines of every operation (no btrfs needed: the tree is a tempdir
//! and the commands are only recorded). `btrfs.rs` runs the same lines on a real btrfs.
#![cfg(target_os = "linux")]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use jetpack_storage::btrfs::BtrfsStorage;
use jetpack_storage::{Error, RecordingRunner, Storage};

fn setup(
    runner: RecordingRunner,
) -> (
    tempfile::TempDir,
    PathBuf,
    Arc<RecordingRunner>,
    BtrfsStorage,
) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("storage");
    for area in ["tmp", "images", "pods"] {
        std::fs::create_dir_all(root.join(area)).unwrap();
    }
    let runner = Arc::new(runner);
    let s = BtrfsStorage::new(&root, runner.clone());
    (dir, root, runner, s)
}

fn p(path: &Path) -> String {
    path.display().to_string()
}

#[test]
fn operations_run_the_expected_commands() {
    let (_dir, root, r, s) = setup(RecordingRunner::new());
    std::fs::create_dir(root.join("images/img")).unwrap();
    std::fs::create_dir(root.join("tmp/t0")).unwrap();

    assert_eq!(s.create_temp("t1").unwrap(), root.join("tmp/t1"));
    assert_eq!(s.clone_to_temp("img", "t2").unwrap(), root.join("tmp/t2"));
    assert_eq!(s.seal("t0", "img2").unwrap(), root.join("images/img2"));
    assert_eq!(s.clone_for_pod("img", "p1").unwrap(), root.join("pods/p1"));
    s.remove_image("img").unwrap();
    // Recorded commands do not create anything, so make the trees the next calls remove.
    std::fs::create_dir(root.join("tmp/t2")).unwrap();
    std::fs::create_dir(root.join("pods/p1")).unwrap();
    s.discard_temp("t2").unwrap();
    s.remove_pod_tree("p1").unwrap();

    let r_ = |rel: &str| p(&root.join(rel));
    let want: Vec<Vec<String>> = [
        vec!["subvolume", "create", &r_("tmp/t1")],
        vec!["subvolume", "snapshot", &r_("images/img"), &r_("tmp/t2")],
        vec![
            "subvolume",
            "snapshot",
            "-r",
            &r_("tmp/t0"),
            &r_("images/img2"),
        ],
        vec!["subvolume", "delete", &r_("tmp/t0")],
        vec!["subvolume", "snapshot", &r_("images/img"), &r_("pods/p1")],
        vec!["subvolume", "delete", &r_("images/img")],
        vec!["subvolume", "delete", &r_("tmp/t2")],
        vec!["subvolume", "delete", &r_("pods/p1")],
    ]
    .into_iter()
    .map(|args| {
        std::iter::once("btrfs")
            .chain(args.iter().map(|a| &**a))
            .map(String::from)
            .collect()
    })
    .collect();
    assert_eq!(r.argv(), want);
}

#[test]
fn existing_targets_and_missing_sources_run_nothing() {
    let (_dir, root, r, s) = setup(RecordingRunner::new());
    std::fs::create_dir(root.join("images/img")).unwrap();
    std::fs::create_dir(root.join("tmp/t1")).unwrap();
    std::fs::create_dir(root.join("pods/p1")).unwrap();
    // btrfs would nest a snapshot inside an existing directory, so these must fail first.
    assert!(matches!(s.create_temp("t1"), Err(Error::Exists(_))));
    assert!(matches!(
        s.clone_to_temp("img", "t1"),
        Err(Error::Exists(_))
    ));
    assert!(matches!(
        s.clone_for_pod("img", "p1"),
        Err(Error::Exists(_))
    ));
    assert!(matches!(s.seal("t1", "img"), Err(Error::Exists(_))));
    assert!(matches!(
        s.clone_for_pod("nope", "p2"),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(s.seal("nope", "img3"), Err(Error::NotFound(_))));
    s.discard_temp("missing").unwrap();
    assert!(matches!(
        s.create_temp("../x"),
        Err(Error::InvalidName { .. })
    ));
    assert_eq!(r.lines(), Vec::<String>::new());
}

#[test]
fn plain_directories_are_removed_without_btrfs() {
    let (_dir, root, r, s) = setup(RecordingRunner::with_responder(|argv| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Err(RecordingRunner::failure(
            &argv,
            "ERROR: Not a Btrfs subvolume: Invalid argument",
        ))
    }));
    std::fs::create_dir_all(root.join("tmp/t1/a/b")).unwrap();
    std::fs::write(root.join("tmp/t1/a/b/f"), "x").unwrap();
    s.discard_temp("t1").unwrap();
    assert!(!root.join("tmp/t1").exists());
    assert_eq!(
        r.lines(),
        [format!(
            "btrfs subvolume delete {}",
            p(&root.join("tmp/t1"))
        )]
    );
}

#[test]
fn command_failures_surface_with_their_command_line() {
    let (_dir, root, _r, s) = setup(RecordingRunner::with_responder(|argv| {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        Err(RecordingRunner::failure(
            &argv,
            "ERROR: cannot create subvolume: No space left on device",
        ))
    }));
    let err = s.create_temp("t1").unwrap_err().to_string();
    let want = format!(
        "btrfs subvolume create {}: ERROR: cannot create subvolume",
        p(&root.join("tmp/t1"))
    );
    assert!(err.starts_with(&want), "{err}");
}
