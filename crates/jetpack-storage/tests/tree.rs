//! Layering, removal and sizing of root filesystem trees.
#![cfg(target_os = "linux")]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt, lchown, symlink};
use std::path::{Path, PathBuf};

use jetpack_storage::tree::{merge_copy, merge_move, remove_tree, tree_size};
use rustix::fs::{AtFlags, CWD, FileType, Mode, Timespec, Timestamps, XattrFlags};

/// A temporary directory removed with `remove_tree`, which (unlike `TempDir`'s own cleanup)
/// copes with the read-only directories these tests create when not run as root.
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn path(&self) -> &Path {
        self.0.path()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = remove_tree(self.0.path());
    }
}

fn scratch() -> Scratch {
    Scratch(tempfile::tempdir().unwrap())
}

/// What `merge_move` leaves of its source: nothing, or an empty root directory.
fn consumed(src: &Path) -> bool {
    !src.exists() || fs::read_dir(src).unwrap().next().is_none()
}

fn set_times(path: &Path, atime: i64, mtime: i64) {
    let ts = |s| Timespec {
        tv_sec: s,
        tv_nsec: 123_456_789,
    };
    let times = Timestamps {
        last_access: ts(atime),
        last_modification: ts(mtime),
    };
    rustix::fs::utimensat(CWD, path, &times, AtFlags::SYMLINK_NOFOLLOW).unwrap();
}

fn set_xattr(path: &Path, name: &str, value: &[u8]) {
    rustix::fs::lsetxattr(path, name, value, XattrFlags::empty()).unwrap();
}

fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn write(path: &Path, content: &[u8]) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, content).unwrap();
}

/// `security.capability` granting cap_net_bind_service=ep (VFS_CAP_REVISION_2).
fn capability_xattr() -> Vec<u8> {
    let mut v = Vec::new();
    for word in [0x0200_0001u32, 1 << 10, 0, 0, 0] {
        v.extend_from_slice(&word.to_le_bytes());
    }
    v
}

/// A tree exercising every kind of node and attribute; `privileged` adds what needs root
/// (foreign owners, a device, a file capability).
fn build_rich(root: &Path, privileged: bool) {
    fs::create_dir_all(root).unwrap();
    write(&root.join("file"), b"setuid binary");
    write(&root.join("xattr"), b"with xattr");
    set_xattr(&root.join("xattr"), "user.jetpack", b"value\0with nul");
    fs::create_dir_all(root.join("sub/deeper")).unwrap();
    symlink("sub", root.join("link_dir")).unwrap();
    symlink("does/not/exist", root.join("dangling")).unwrap();
    write(&root.join("h1"), b"linked");
    fs::hard_link(root.join("h1"), root.join("sub/h2")).unwrap();
    fs::hard_link(root.join("h1"), root.join("h3")).unwrap();
    write(&root.join("a/b/c/leaf"), b"leaf");
    fs::hard_link(root.join("h1"), root.join("a/b/c/h4")).unwrap();
    fs::hard_link(root.join("a/b/c/leaf"), root.join("sub/deeper/leaf2")).unwrap();
    rustix::fs::mknodat(
        CWD,
        root.join("fifo"),
        FileType::Fifo,
        Mode::from_raw_mode(0o640),
        0,
    )
    .unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    // 8 MiB apparent, one block of data at the end.
    let sparse = fs::File::create(root.join("sparse")).unwrap();
    sparse.set_len(8 << 20).unwrap();
    std::os::unix::fs::FileExt::write_at(&sparse, b"tail", (8 << 20) - 4).unwrap();
    write(
        &root.join("big"),
        &(0..3_000_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>(),
    );
    write(&root.join("ro/inside"), b"read-only dir content");
    write(&root.join("sub/deeper/file"), b"deep");
    if privileged {
        lchown(root.join("file"), Some(1234), Some(5678)).unwrap();
        lchown(root.join("link_dir"), Some(42), Some(43)).unwrap();
        lchown(root.join("a/b"), Some(7), Some(8)).unwrap();
        let dev = rustix::fs::makedev(1, 3);
        rustix::fs::mknodat(
            CWD,
            root.join("null"),
            FileType::CharacterDevice,
            Mode::from_raw_mode(0o666),
            dev,
        )
        .unwrap();
        lchown(root.join("null"), Some(0), Some(5)).unwrap();
        set_xattr(
            &root.join("file"),
            "security.capability",
            &capability_xattr(),
        );
    }
    chmod(&root.join("file"), 0o4755);
    chmod(&root.join("h1"), 0o2640);
    // Deterministic times everywhere, so two builds compare equal.
    for rel in snapshot(root).keys() {
        set_times(&root.join(rel), 1_200_000_000, 1_100_000_000);
    }
    chmod(&root.join("sub"), 0o1777);
    chmod(&root.join("ro"), 0o555);
    set_xattr(&root.join("sub"), "user.dir", b"on a directory");
    set_times(&root.join("file"), 1_500_000_000, 1_000_000_000);
    set_times(&root.join("link_dir"), 1_400_000_000, 1_100_000_000);
    set_times(&root.join("fifo"), 1_400_000_000, 1_200_000_000);
    // Directory times last, after their children were written.
    for (i, d) in ["a/b/c", "a/b", "a", "sub/deeper", "sub", "ro"]
        .iter()
        .enumerate()
    {
        set_times(&root.join(d), 1_300_000_000, 900_000_000 + i as i64 * 1000);
    }
    chmod(root, 0o750);
    set_times(root, 1_300_000_000, 800_000_000);
}

#[derive(Debug, PartialEq)]
struct Node {
    mode: u32,
    uid: u32,
    gid: u32,
    size: Option<u64>,
    rdev: u64,
    nlink: u64,
    mtime: (i64, i64),
    target: Option<PathBuf>,
    content: Option<Vec<u8>>,
    xattrs: BTreeMap<Vec<u8>, Vec<u8>>,
}

fn xattrs(path: &Path) -> BTreeMap<Vec<u8>, Vec<u8>> {
    let mut names = vec![0u8; 65536];
    let n = rustix::fs::llistxattr(path, &mut names[..]).unwrap();
    let mut out = BTreeMap::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        let mut value = vec![0u8; 65536];
        let len = rustix::fs::lgetxattr(path, name, &mut value[..]).unwrap();
        out.insert(name.to_vec(), value[..len].to_vec());
    }
    out
}

/// Everything observable about a tree except inode numbers, ctimes, atimes and directory sizes
/// (which depend on history); sockets are left out.
fn snapshot(root: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let path = root.join(&rel);
        let md = fs::symlink_metadata(&path).unwrap();
        let ft = md.file_type();
        if std::os::unix::fs::FileTypeExt::is_socket(&ft) {
            continue;
        }
        if ft.is_dir() {
            for e in fs::read_dir(&path).unwrap() {
                todo.push(rel.join(e.unwrap().file_name()));
            }
        }
        let node = Node {
            mode: md.mode(),
            uid: md.uid(),
            gid: md.gid(),
            size: (!ft.is_dir()).then(|| md.size()),
            rdev: md.rdev(),
            nlink: md.nlink(),
            mtime: (md.mtime(), md.mtime_nsec()),
            target: ft.is_symlink().then(|| fs::read_link(&path).unwrap()),
            content: ft.is_file().then(|| fs::read(&path).unwrap()),
            xattrs: xattrs(&path),
        };
        out.insert(rel, node);
    }
    out
}

/// Sets of names sharing an inode.
fn link_groups(root: &Path) -> BTreeSet<BTreeSet<PathBuf>> {
    let mut by_ino: HashMap<u64, BTreeSet<PathBuf>> = HashMap::new();
    let mut todo = vec![PathBuf::new()];
    while let Some(rel) = todo.pop() {
        let md = fs::symlink_metadata(root.join(&rel)).unwrap();
        if md.is_dir() {
            for e in fs::read_dir(root.join(&rel)).unwrap() {
                todo.push(rel.join(e.unwrap().file_name()));
            }
        } else if md.nlink() > 1 {
            by_ino.entry(md.ino()).or_default().insert(rel);
        }
    }
    by_ino.into_values().collect()
}

fn assert_same_tree(expected: &Path, actual: &Path) {
    let (want, got) = (snapshot(expected), snapshot(actual));
    for (path, node) in &want {
        assert_eq!(Some(node), got.get(path), "{}", path.display());
    }
    assert_eq!(
        want.keys().collect::<Vec<_>>(),
        got.keys().collect::<Vec<_>>()
    );
    assert_eq!(link_groups(expected), link_groups(actual));
}

#[test]
fn copy_preserves_everything() {
    let privileged = jetpack_testutil::require_root_for("owners, device, capability");
    let tmp = scratch();
    let (src, dst) = (tmp.path().join("src"), tmp.path().join("dst"));
    build_rich(&src, privileged);
    let src_atime = fs::symlink_metadata(src.join("file")).unwrap().atime();

    let bytes = merge_copy(&src, &dst).unwrap();

    let md = fs::symlink_metadata(dst.join("file")).unwrap();
    assert_eq!(md.atime(), src_atime, "atime");
    assert_eq!(md.mode() & 0o7777, 0o4755);
    if privileged {
        assert_eq!((md.uid(), md.gid()), (1234, 5678));
        let dev = fs::symlink_metadata(dst.join("null")).unwrap();
        assert_eq!(dev.rdev(), rustix::fs::makedev(1, 3));
        assert!(std::os::unix::fs::FileTypeExt::is_char_device(
            &dev.file_type()
        ));
        assert_eq!(
            xattrs(&dst.join("file")).get(&b"security.capability"[..]),
            Some(&capability_xattr())
        );
    }
    assert_eq!(
        fs::read_link(dst.join("link_dir")).unwrap(),
        Path::new("sub")
    );
    assert!(
        fs::symlink_metadata(dst.join("dangling"))
            .unwrap()
            .is_symlink()
    );
    assert!(!dst.join("sock").exists(), "sockets are skipped");
    assert_eq!(fs::symlink_metadata(dst.join("h3")).unwrap().nlink(), 4);
    assert_eq!(fs::metadata(dst.join("ro")).unwrap().mode() & 0o7777, 0o555);
    let sparse = fs::metadata(dst.join("sparse")).unwrap();
    assert!(
        sparse.blocks() * 512 < 1 << 20,
        "holes kept: {} blocks",
        sparse.blocks()
    );
    // Each hard-linked inode's content counts once.
    let expected: u64 = [
        "file",
        "xattr",
        "h1",
        "sparse",
        "big",
        "ro/inside",
        "a/b/c/leaf",
        "sub/deeper/file",
    ]
    .iter()
    .map(|f| fs::metadata(src.join(f)).unwrap().size())
    .sum();
    assert!(
        bytes <= expected && bytes >= expected - (8 << 20),
        "{bytes} vs {expected}"
    );
    assert_same_tree(&src, &dst);
}

#[test]
fn symlink_in_lower_layer_is_replaced_not_followed() {
    let tmp = scratch();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let (lower, upper) = (tmp.path().join("lower"), tmp.path().join("upper"));
    fs::create_dir(&lower).unwrap();
    symlink(&outside, lower.join("a")).unwrap();
    symlink("../../outside", lower.join("rel")).unwrap();
    write(&upper.join("a/file"), b"upper");
    write(&upper.join("rel/x/y"), b"upper");
    for how in ["copy", "move"] {
        let dst = tmp.path().join(format!("dst-{how}"));
        merge_copy(&lower, &dst).unwrap();
        let up = tmp.path().join(format!("up-{how}"));
        merge_copy(&upper, &up).unwrap();
        if how == "copy" {
            merge_copy(&up, &dst).unwrap();
        } else {
            merge_move(&up, &dst).unwrap();
            assert!(consumed(&up));
        }
        for d in ["a", "rel"] {
            assert!(
                fs::symlink_metadata(dst.join(d)).unwrap().is_dir(),
                "{how}: {d} is a directory"
            );
        }
        assert_eq!(fs::read(dst.join("a/file")).unwrap(), b"upper");
        assert_eq!(
            fs::read_dir(&outside).unwrap().count(),
            0,
            "{how}: wrote through a symlink"
        );
    }
}

#[test]
fn upper_layer_replaces_across_types() {
    let tmp = scratch();
    let (lower, upper, dst) = (
        tmp.path().join("l"),
        tmp.path().join("u"),
        tmp.path().join("d"),
    );
    write(&lower.join("b/one"), b"1");
    write(&lower.join("b/ro/two"), b"2");
    chmod(&lower.join("b/ro"), 0o555);
    write(&lower.join("c"), b"file in lower");
    write(&lower.join("keep/lower-only"), b"kept");
    fs::create_dir_all(lower.join("dirlink/inner")).unwrap();
    write(&upper.join("b"), b"file in upper");
    write(&upper.join("c/inside"), b"dir in upper");
    write(&upper.join("keep/upper"), b"added");
    symlink("keep", upper.join("dirlink")).unwrap();

    merge_copy(&lower, &dst).unwrap();
    merge_copy(&upper, &dst).unwrap();

    assert_eq!(fs::read(dst.join("b")).unwrap(), b"file in upper");
    assert_eq!(fs::read(dst.join("c/inside")).unwrap(), b"dir in upper");
    assert_eq!(fs::read(dst.join("keep/lower-only")).unwrap(), b"kept");
    assert_eq!(fs::read(dst.join("keep/upper")).unwrap(), b"added");
    assert_eq!(
        fs::read_link(dst.join("dirlink")).unwrap(),
        Path::new("keep")
    );
}

#[test]
fn upper_directory_metadata_wins() {
    let tmp = scratch();
    let (lower, upper) = (tmp.path().join("l"), tmp.path().join("u"));
    write(&lower.join("d/lower-file"), b"l");
    write(&upper.join("d/upper-file"), b"u");
    set_xattr(&lower.join("d"), "user.shared", b"lower");
    set_xattr(&lower.join("d"), "user.lower-only", b"x");
    set_xattr(&upper.join("d"), "user.shared", b"upper");
    chmod(&lower.join("d"), 0o500);
    chmod(&upper.join("d"), 0o2751);
    set_times(&lower.join("d"), 1_000, 1_000);
    set_times(&upper.join("d"), 2_000, 2_000);
    for how in ["copy", "move"] {
        let dst = tmp.path().join(how);
        merge_copy(&lower, &dst).unwrap();
        let up = tmp.path().join(format!("up-{how}"));
        merge_copy(&upper, &up).unwrap();
        if how == "copy" {
            merge_copy(&up, &dst).unwrap();
        } else {
            merge_move(&up, &dst).unwrap();
        }
        let md = fs::symlink_metadata(dst.join("d")).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o2751, "{how}");
        assert_eq!((md.mtime(), md.mtime_nsec()), (2_000, 123_456_789), "{how}");
        let want = BTreeMap::from([(b"user.shared".to_vec(), b"upper".to_vec())]);
        assert_eq!(xattrs(&dst.join("d")), want, "{how}");
        assert!(dst.join("d/lower-file").exists() && dst.join("d/upper-file").exists());
    }
}

#[test]
fn move_gives_the_same_result_as_copy() {
    let privileged = jetpack_testutil::require_root_for("privileged nodes");
    let tmp = scratch();
    let t = tmp.path();
    // A lower layer overlapping the upper one in every way the rules distinguish.
    let lower = t.join("lower");
    write(&lower.join("a/b/old"), b"lower");
    write(&lower.join("sub"), b"a file where upper has a directory");
    fs::create_dir_all(lower.join("h1/dir")).unwrap();
    symlink("/etc", lower.join("ro")).unwrap();
    build_rich(&t.join("upper"), privileged);

    let by_copy = t.join("by-copy");
    merge_copy(&lower, &by_copy).unwrap();
    merge_copy(&t.join("upper"), &by_copy).unwrap();

    let by_move = t.join("by-move");
    merge_copy(&lower, &by_move).unwrap();
    let staged = t.join("staged");
    build_rich(&staged, privileged);
    merge_move(&staged, &by_move).unwrap();
    assert!(consumed(&staged));
    assert_same_tree(&by_copy, &by_move);

    // Into a missing destination the whole tree is renamed.
    let staged = t.join("staged2");
    build_rich(&staged, privileged);
    let fresh = t.join("fresh");
    merge_move(&staged, &fresh).unwrap();
    assert!(consumed(&staged));
    assert_same_tree(&t.join("upper"), &fresh);
}

#[test]
fn remove_tree_handles_read_only_and_symlinks() {
    let tmp = scratch();
    let outside = tmp.path().join("outside");
    write(&outside.join("precious"), b"keep me");
    let victim = tmp.path().join("victim");
    write(&victim.join("x/y/z/file"), b"data");
    fs::create_dir_all(victim.join("x/empty")).unwrap();
    symlink(&outside, victim.join("x/to-outside")).unwrap();
    chmod(&victim.join("x/y/z/file"), 0o444);
    for d in ["x/y/z", "x/y", "x/empty", "x"] {
        chmod(&victim.join(d), 0o555);
    }
    chmod(&victim.join("x/empty"), 0);

    remove_tree(&victim).unwrap();

    assert!(!victim.exists());
    assert_eq!(fs::read(outside.join("precious")).unwrap(), b"keep me");
    remove_tree(&victim).unwrap();

    // A symlink given as the path is removed itself, not its target.
    let link = tmp.path().join("link");
    symlink(&outside, &link).unwrap();
    remove_tree(&link).unwrap();
    assert!(fs::symlink_metadata(&link).is_err());
    assert!(outside.join("precious").exists());
}

/// Unmounts on drop so a failing assertion cannot leave a mount behind.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = rustix::mount::unmount(&self.0, rustix::mount::UnmountFlags::DETACH);
    }
}

fn mount_tmpfs(at: &Path) -> Option<Mounted> {
    fs::create_dir_all(at).unwrap();
    match rustix::mount::mount(
        "tmpfs",
        at,
        "tmpfs",
        rustix::mount::MountFlags::empty(),
        None,
    ) {
        Ok(()) => Some(Mounted(at.to_path_buf())),
        Err(e) => {
            assert!(
                std::env::var("JETPACK_TEST_REQUIRE_ROOT").as_deref() != Ok("1"),
                "mounting tmpfs: {e}"
            );
            eprintln!("SKIP: cannot mount tmpfs: {e}");
            None
        }
    }
}

#[jetpack_testutil::root_test]
fn remove_tree_refuses_to_cross_a_mount_point() {
    let tmp = scratch();
    let tree = tmp.path().join("tree");
    write(&tree.join("before"), b"x");
    let Some(mnt) = mount_tmpfs(&tree.join("a/mnt")) else {
        return;
    };
    write(&mnt.0.join("on-tmpfs"), b"other filesystem");

    let e = remove_tree(&tree).unwrap_err();
    assert!(e.to_string().contains("mount point"), "{e}");
    assert!(e.to_string().contains("a/mnt"), "{e}");
    assert_eq!(
        fs::read(mnt.0.join("on-tmpfs")).unwrap(),
        b"other filesystem"
    );
    // Nor is a mount point itself removed.
    assert!(remove_tree(&mnt.0).is_err());
    assert!(mnt.0.join("on-tmpfs").exists());

    // tree_size stays on its own filesystem.
    write(&mnt.0.join("big"), &vec![1u8; 1 << 20]);
    assert!(tree_size(&tree).unwrap() < 1 << 20);

    drop(mnt);
    remove_tree(&tree).unwrap();
    assert!(!tree.exists());
}

#[test]
fn tree_size_counts_blocks_and_hard_links_once() {
    let tmp = scratch();
    let t = tmp.path().join("t");
    write(&t.join("one"), &vec![7u8; 100_000]);
    write(&t.join("d/two"), &vec![8u8; 300_000]);
    fs::hard_link(t.join("one"), t.join("d/one-again")).unwrap();
    symlink("one", t.join("link")).unwrap();
    let blocks = |p: &str| fs::symlink_metadata(t.join(p)).unwrap().blocks() * 512;
    let want = ["", "one", "d", "d/two", "link"]
        .iter()
        .map(|p| blocks(p))
        .sum::<u64>();
    assert_eq!(tree_size(&t).unwrap(), want);
    assert_eq!(tree_size(&t.join("one")).unwrap(), blocks("one"));
    assert!(tree_size(&tmp.path().join("missing")).is_err());
}

#[test]
fn deep_trees_need_no_deep_stack() {
    // Far deeper than recursion could go on this stack; each level costs a few fds instead.
    let run = || {
        let tmp = scratch();
        let src = tmp.path().join("src");
        let mut p = src.clone();
        for _ in 0..300 {
            p.push("d");
        }
        write(&p.join("bottom"), b"deep");
        let dst = tmp.path().join("dst");
        merge_copy(&src, &dst).unwrap();
        fs::write(p.join("bottom"), b"moved").unwrap();
        merge_move(&src, &dst).unwrap();
        assert!(consumed(&src));
        let rel = p.strip_prefix(&src).unwrap();
        assert_eq!(fs::read(dst.join(rel).join("bottom")).unwrap(), b"moved");
        assert!(tree_size(&dst).unwrap() > 300 * 512);
        remove_tree(&dst).unwrap();
        assert!(!dst.exists());
    };
    let t = std::thread::Builder::new()
        .stack_size(128 * 1024)
        .spawn(run)
        .unwrap();
    t.join().unwrap();
}

#[test]
fn destination_inside_source_is_not_copied_into_itself() {
    let tmp = scratch();
    let src = tmp.path().join("src");
    write(&src.join("f"), b"x");
    let dst = src.join("nested");
    merge_copy(&src, &dst).unwrap();
    assert_eq!(fs::read(dst.join("f")).unwrap(), b"x");
    assert!(!dst.join("nested").exists());
}

#[jetpack_testutil::root_test]
fn copy_and_move_across_filesystems() {
    let tmp = scratch();
    let t = tmp.path();
    let Some(mnt) = mount_tmpfs(&t.join("mnt")) else {
        return;
    };
    let lower = t.join("lower");
    write(&lower.join("a/b/old"), b"lower");
    write(&lower.join("sub"), b"file");
    build_rich(&t.join("expected-upper"), true);
    let expected = t.join("expected");
    merge_copy(&lower, &expected).unwrap();
    merge_copy(&t.join("expected-upper"), &expected).unwrap();

    // Renames fail with EXDEV here, so everything takes the copy paths.
    let staged = mnt.0.join("staged");
    build_rich(&staged, true);
    let by_move = t.join("by-move");
    merge_copy(&lower, &by_move).unwrap();
    merge_move(&staged, &by_move).unwrap();
    assert!(consumed(&staged));
    assert_same_tree(&expected, &by_move);

    let staged = mnt.0.join("staged2");
    build_rich(&staged, true);
    let fresh = t.join("fresh");
    merge_move(&staged, &fresh).unwrap();
    assert!(consumed(&staged));
    assert_same_tree(&t.join("expected-upper"), &fresh);

    // And back onto tmpfs.
    let back = mnt.0.join("back");
    merge_copy(&fresh, &back).unwrap();
    assert_same_tree(&fresh, &back);

    // A source that is a mount point (a dataset, say) cannot be renamed away: it is emptied.
    for leftover in ["back", "staged", "staged2"] {
        remove_tree(&mnt.0.join(leftover)).unwrap();
    }
    build_rich(&mnt.0, true);
    let from_mount = t.join("from-mount");
    merge_move(&mnt.0, &from_mount).unwrap();
    assert!(consumed(&mnt.0));
    assert_same_tree(&t.join("expected-upper"), &from_mount);
}
