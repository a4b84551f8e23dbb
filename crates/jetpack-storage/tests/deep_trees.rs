//! Trees nested far deeper than `PATH_MAX` allows a path to name, and deeper than the fd limit
//! would allow if a walk held one fd per level: copy, move, size and removal all work, with a
//! few fds, on a small stack. This binary has one test because it lowers its own fd limit.

use std::ffi::CStr;
use std::path::Path;

use jetpack_storage::tree::{merge_copy, merge_move, remove_tree, tree_size};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, CWD, Mode, OFlags, linkat, mkdirat, openat, symlinkat};
use rustix::io::write;

const DEPTH: usize = 3000;

fn open_dir(dir: impl AsFd, name: &CStr) -> OwnedFd {
    let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    openat(dir, name, flags, Mode::empty()).unwrap()
}

/// `root/d/d/…/d` (`DEPTH` levels) with a file, a hard link to a file near the top and a
/// symlink at the bottom, made with `mkdirat` and one fd at a time (no path names it).
fn make_deep(root: &Path) {
    std::fs::create_dir(root).unwrap();
    std::fs::write(root.join("top"), b"top").unwrap();
    let top = open_dir(
        CWD,
        &std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap(),
    );
    let mut fd = top.try_clone().unwrap();
    for _ in 0..DEPTH {
        mkdirat(&fd, c"d", Mode::from_raw_mode(0o755)).unwrap();
        fd = open_dir(&fd, c"d");
    }
    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
    let f = openat(&fd, c"bottom", flags, Mode::from_raw_mode(0o644)).unwrap();
    write(&f, b"deep").unwrap();
    linkat(&top, c"top", &fd, c"top-again", AtFlags::empty()).unwrap();
    symlinkat(c"bottom", &fd, c"link").unwrap();
    // A read-only directory deep down must not stop removal.
    mkdirat(&fd, c"ro", Mode::from_raw_mode(0o555)).unwrap();
}

/// Reads `bottom` at the end of the chain, and checks the hard link shares the top file's inode.
fn check_deep(root: &Path) {
    let mut fd = open_dir(
        CWD,
        &std::ffi::CString::new(root.as_os_str().as_encoded_bytes()).unwrap(),
    );
    let top_ino = rustix::fs::statat(&fd, c"top", AtFlags::empty())
        .unwrap()
        .st_ino;
    for _ in 0..DEPTH {
        fd = open_dir(&fd, c"d");
    }
    let f = openat(&fd, c"bottom", OFlags::RDONLY, Mode::empty()).unwrap();
    let mut buf = [0u8; 16];
    let n = rustix::io::read(&f, &mut buf).unwrap();
    assert_eq!(&buf[..n], b"deep");
    let st = rustix::fs::statat(&fd, c"top-again", AtFlags::empty()).unwrap();
    assert_eq!(st.st_ino, top_ino);
    let target = rustix::fs::readlinkat(&fd, c"link", Vec::new()).unwrap();
    assert_eq!(target.as_bytes(), b"bottom");
}

#[test]
fn deep_trees_are_copied_moved_sized_and_removed_with_few_fds() {
    // Far below the depth: a walk holding one or two fds per level would fail with EMFILE.
    let limit = rustix::process::Rlimit {
        current: Some(256),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).unwrap();

    let run = || {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        make_deep(&src);

        let copy = tmp.path().join("copy");
        merge_copy(&src, &copy).unwrap();
        check_deep(&copy);
        check_deep(&src);
        // Copied again over itself: every level merges.
        merge_copy(&src, &copy).unwrap();
        check_deep(&copy);

        assert!(tree_size(&copy).unwrap() > DEPTH as u64 * 512);

        // Moving over an existing deep tree merges level by level down to the bottom.
        let moved = tmp.path().join("moved");
        merge_copy(&src, &moved).unwrap();
        merge_move(&src, &moved).unwrap();
        check_deep(&moved);

        remove_tree(&copy).unwrap();
        assert!(!copy.exists());
        remove_tree(&moved).unwrap();
        assert!(!moved.exists());
        remove_tree(&src).unwrap();
        assert!(!src.exists());
    };
    std::thread::Builder::new()
        .stack_size(256 * 1024)
        .spawn(run)
        .unwrap()
        .join()
        .unwrap();
}
