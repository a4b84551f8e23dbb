//! Recursive removal and disk usage, both confined to one mount.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, chmodat, fchmod, openat, statx, unlinkat};
use rustix::io::Errno;

use super::{
    Listing, MAX_DEPTH, Trail, dir_flags, dirent_buf, err, file_type, is_mount_root, size_mask,
    stat_fd, too_deep,
};

/// A directory being emptied.
struct Level {
    fd: OwnedFd,
    entries: Listing,
    mark: usize,
    name: CString,
}

/// Removes `parent/name` whatever it is; `root` and `trail` locate `parent` for messages.
pub(super) fn remove_at(
    parent: BorrowedFd<'_>,
    name: &CStr,
    root: &Path,
    trail: &mut Trail,
) -> io::Result<()> {
    let buf = &mut dirent_buf();
    let Some(first) = enter(parent, name, root, trail, buf)? else {
        return Ok(());
    };
    let mut stack = vec![first];
    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let Some((child, ty)) = top.entries.next_entry() else {
            let done = stack.pop().expect("stack is not empty");
            trail.pop(done.mark);
            let parent = stack.last().map_or(parent, |l| l.fd.as_fd());
            drop(done.fd);
            match unlinkat(parent, done.name.as_c_str(), AtFlags::REMOVEDIR) {
                Ok(()) | Err(Errno::NOENT) => continue,
                Err(e) => return Err(err(&trail.path(root, Some(&done.name)), "rmdir", e)),
            }
        };
        let dir = top.fd.as_fd();
        if !matches!(ty, FileType::Directory | FileType::Unknown) {
            match unlinkat(dir, child, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => continue,
                Err(Errno::ISDIR) => {}
                Err(e) => return Err(err(&trail.path(root, Some(child)), "unlink", e)),
            }
        }
        if depth > MAX_DEPTH {
            return Err(too_deep(&trail.path(root, Some(child))));
        }
        if let Some(level) = enter(dir, child, root, trail, buf)? {
            stack.push(level);
        }
    }
}

/// Opens and lists directory `parent/name` for emptying; a non-directory is unlinked instead.
fn enter(
    parent: BorrowedFd<'_>,
    name: &CStr,
    root: &Path,
    trail: &mut Trail,
    buf: &mut [MaybeUninit<u8>],
) -> io::Result<Option<Level>> {
    let fail = |trail: &Trail, what: &str, e: Errno| err(&trail.path(root, Some(name)), what, e);
    let fd = match open_dir(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(None),
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return match unlinkat(parent, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(None),
                Err(e) => Err(fail(trail, "unlink", e)),
            };
        }
        Err(e) => return Err(fail(trail, "open directory", e)),
    };
    let st = stat_fd(&fd).map_err(|e| fail(trail, "stat", e))?;
    if is_mount_root(&st, parent).map_err(|e| fail(trail, "stat", e))? {
        return Err(io::Error::other(format!(
            "{}: is a mount point; refusing to remove files of another mount",
            trail.path(root, Some(name)).display()
        )));
    }
    // Emptying a directory needs write and search permission on it (root bypasses this).
    let mode = u32::from(st.stx_mode) & 0o7777;
    if mode & 0o300 != 0o300 {
        fchmod(&fd, Mode::from_raw_mode(mode | 0o700)).map_err(|e| fail(trail, "chmod", e))?;
    }
    let entries = Listing::read(fd.as_fd(), buf).map_err(|e| fail(trail, "read directory", e))?;
    let mark = trail.push(name);
    Ok(Some(Level {
        fd,
        entries,
        mark,
        name: name.to_owned(),
    }))
}

/// Opens a directory for removal; one we may not read (mode 0 and not root) is made readable.
fn open_dir(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<OwnedFd> {
    match openat(parent, name, dir_flags(), Mode::empty()) {
        // With O_NOFOLLOW | O_DIRECTORY, EACCES means a directory: a symlink or other file
        // fails earlier with ELOOP or ENOTDIR, so this chmod cannot land elsewhere.
        Err(Errno::ACCESS) => {
            chmodat(parent, name, Mode::from_raw_mode(0o700), AtFlags::empty())?;
            openat(parent, name, dir_flags(), Mode::empty())
        }
        r => r,
    }
}

/// Allocated bytes below the directory `dir` (not counting itself), skipping mount points and
/// counting inodes with several names once.
pub(super) fn size_below(
    dir: OwnedFd,
    root: &Path,
    seen: &mut HashSet<(u64, u64)>,
) -> io::Result<u64> {
    let buf = &mut dirent_buf();
    let mut trail = Trail::default();
    let entries = Listing::read(dir.as_fd(), buf).map_err(|e| err(root, "read directory", e))?;
    let mut stack = vec![(dir, entries, 0)];
    let mut total = 0;
    loop {
        let depth = stack.len();
        let Some((dir, entries, _)) = stack.last_mut() else {
            return Ok(total);
        };
        let Some((name, _)) = entries.next_entry() else {
            let (_, _, mark) = stack.pop().expect("stack is not empty");
            trail.pop(mark);
            continue;
        };
        let dir = dir.as_fd();
        let fail =
            |trail: &Trail, what: &str, e: Errno| err(&trail.path(root, Some(name)), what, e);
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
        let st = match statx(dir, name, flags, size_mask()) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(fail(&trail, "stat", e)),
        };
        let used = st.stx_blocks * 512;
        if file_type(&st) != FileType::Directory {
            let key = (super::dev_of(&st), st.stx_ino);
            if st.stx_nlink < 2 || seen.insert(key) {
                total += used;
            }
            continue;
        }
        if is_mount_root(&st, dir).map_err(|e| fail(&trail, "stat", e))? {
            continue;
        }
        total += used;
        if depth > MAX_DEPTH {
            return Err(too_deep(&trail.path(root, Some(name))));
        }
        let child = openat(dir, name, dir_flags(), Mode::empty())
            .map_err(|e| fail(&trail, "open directory", e))?;
        let entries =
            Listing::read(child.as_fd(), buf).map_err(|e| fail(&trail, "read directory", e))?;
        let mark = trail.push(name);
        stack.push((child, entries, mark));
    }
}
