//! Opening a path of an untrusted tree with the tree's root as `/`: `..` stops at the root and
//! absolute symlinks resolve inside it, never on the host.
//!
//! Linux does it in the kernel (`openat2(RESOLVE_IN_ROOT)`). FreeBSD has only
//! `O_RESOLVE_BENEATH`, which refuses an absolute symlink instead of resolving it inside (and
//! images have many), so there the path is walked here one component at a time, never
//! following a link the kernel would: [`open_walking`]. The walk is plain POSIX; it is built
//! and tested on Linux too, against the kernel's answers.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
#[cfg(not(target_os = "linux"))]
use std::os::unix::ffi::OsStrExt;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

/// Symlinks followed in one lookup before giving up, as Linux does (`ELOOP`).
const MAX_LINKS: usize = 40;

/// Opens `path` (absolute or relative, same thing) with `root` as `/`.
#[cfg(target_os = "linux")]
pub(crate) fn open_in(root: &OwnedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    use rustix::fs::ResolveFlags;
    let path = if path.trim_start_matches('/').is_empty() {
        "."
    } else {
        path
    };
    let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
    // openat2 asks for a retry (EAGAIN) when a concurrent rename could have let ".." escape.
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(root, path, flags | OFlags::CLOEXEC, Mode::empty(), how) {
            Err(Errno::AGAIN) if tries < 16 => tries += 1,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Opens `path` (absolute or relative, same thing) with `root` as `/`.
#[cfg(not(target_os = "linux"))]
pub(crate) fn open_in(root: &OwnedFd, path: &str, flags: OFlags) -> io::Result<OwnedFd> {
    open_walking(root, std::ffi::OsStr::new(path).as_bytes(), flags)
}

/// [`open_in`] done one component at a time: each directory is opened with `O_NOFOLLOW`
/// relative to the one before, a symlink is read and its target walked in its place (from the
/// root when absolute), and `..` at the root stays at the root. The last component is opened
/// with `flags`, following a final symlink unless `flags` has `O_NOFOLLOW`.
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(crate) fn open_walking(root: &OwnedFd, path: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
    let dup = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 0);
    let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut todo = components(path);
    let mut stack = vec![dup(root)?];
    let mut links = 0;
    while let Some(c) = todo.pop() {
        let last = todo.is_empty();
        let top = stack.last().expect("the root stays").as_fd();
        match c.as_slice() {
            b"." => {}
            b".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
            }
            name => {
                let st = rustix::fs::statat(top, name, AtFlags::SYMLINK_NOFOLLOW)?;
                match FileType::from_raw_mode(st.st_mode) {
                    FileType::Symlink if !(last && flags.contains(OFlags::NOFOLLOW)) => {
                        links += 1;
                        if links > MAX_LINKS {
                            return Err(Errno::LOOP.into());
                        }
                        let target = rustix::fs::readlinkat(top, name, Vec::new())?;
                        let target = target.as_bytes();
                        if target.starts_with(b"/") {
                            stack.truncate(1);
                        }
                        todo.extend(components(target));
                    }
                    _ if last => {
                        let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                        return Ok(rustix::fs::openat(top, name, flags, Mode::empty())?);
                    }
                    FileType::Directory => {
                        stack.push(rustix::fs::openat(top, name, dir_flags, Mode::empty())?);
                    }
                    _ => return Err(Errno::NOTDIR.into()),
                }
            }
        }
    }
    // The path ended on the root, a `.`, a `..` or a symlink to a directory.
    let top = stack.pop().expect("the root stays");
    Ok(rustix::fs::openat(
        &top,
        c".",
        flags | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

/// The components of `path`, last first (so `pop` gives the next one).
fn components(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn id(fd: &OwnedFd) -> (u64, u64) {
        let st = rustix::fs::fstat(fd).unwrap();
        (st.st_dev, st.st_ino)
    }

    /// The walk gives the same file (or the same error) as the kernel's `RESOLVE_IN_ROOT`, on a
    /// tree full of links that lead out of it, in loops, and through files.
    #[test]
    fn walking_agrees_with_the_kernel() {
        let t = tempfile::tempdir().unwrap();
        let outside = t.path().join("host-secret");
        std::fs::write(&outside, "host").unwrap();
        let r = t.path().join("root");
        for d in ["etc", "usr/bin", "a/b/c"] {
            std::fs::create_dir_all(r.join(d)).unwrap();
        }
        std::fs::write(r.join("etc/passwd"), "root:x:0:0::/:/bin/sh\n").unwrap();
        std::fs::write(r.join("host-secret"), "inside").unwrap();
        std::fs::write(r.join("usr/bin/sh"), "").unwrap();
        let links = [
            ("bin", "usr/bin"),
            ("abs-etc", "/etc"),
            ("climb", "../../../../host-secret"),
            ("abs-climb", "/../../host-secret"),
            ("a/b/c/up", "../../../.."),
            ("a/b/rel", "../../etc/passwd"),
            ("loop1", "loop2"),
            ("loop2", "loop1"),
            ("dangling", "/nowhere"),
            ("via-file", "etc/passwd/x"),
            ("chain", "abs-etc"),
            ("a/b/abs", "/etc/passwd"),
            ("a/b/c/absdir", "/etc"),
        ];
        for (l, target) in links {
            symlink(target, r.join(l)).unwrap();
        }
        let root = rustix::fs::open(
            &r,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .unwrap();
        let paths = [
            "",
            "/",
            ".",
            "..",
            "/..",
            "etc/passwd",
            "/etc/passwd",
            "bin/sh",
            "/bin/sh",
            "abs-etc/passwd",
            "chain/passwd",
            "climb",
            "abs-climb",
            "a/b/c/up/host-secret",
            "a/b/c/up/../host-secret",
            "a/b/rel",
            "loop1",
            "dangling",
            "via-file",
            "etc/passwd/x",
            "nowhere/x",
            "a/./b/../b/c",
            "bin",
            "/etc/../../../etc/passwd",
            "a/b/abs",
            "a/b/c/absdir/passwd",
            "a/b/c/absdir/../a/b/abs",
        ];
        for flags in [
            OFlags::PATH,
            OFlags::PATH | OFlags::DIRECTORY,
            OFlags::RDONLY | OFlags::NONBLOCK,
            OFlags::PATH | OFlags::NOFOLLOW,
        ] {
            for p in paths {
                let kernel = open_in(&root, p, flags);
                let walked = open_walking(&root, p.as_bytes(), flags);
                match (&kernel, &walked) {
                    (Ok(k), Ok(w)) => assert_eq!(id(k), id(w), "{p:?} {flags:?}"),
                    (Err(k), Err(w)) => {
                        assert_eq!(k.raw_os_error(), w.raw_os_error(), "{p:?} {flags:?}")
                    }
                    _ => panic!("{p:?} {flags:?}: kernel {kernel:?}, walk {walked:?}"),
                }
            }
        }
        let secret = open_walking(&root, b"climb", OFlags::RDONLY).unwrap();
        let mut text = String::new();
        io::Read::read_to_string(&mut std::fs::File::from(secret), &mut text).unwrap();
        assert_eq!(text, "inside");
    }
}
