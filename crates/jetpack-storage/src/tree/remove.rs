//! Recursive removal and disk usage, both confined to one mount.

use std::collections::HashSet;
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, FileType, Mode, chmodat, fchmod, openat, statx, unlinkat};
use rustix::io::Errno;

use super::{
    Listing, MAX_DEPTH, Trail, dir_flags, dirent_buf, err, file_type, is_mount_root, size_mask,
    stat_fd, too_deep,
};

/// Removes `parent/name` whatever it is; `root` and `trail` locate `parent` for messages.
pub(super) fn remove_at(
    parent: BorrowedFd<'_>,
    name: &CStr,
    root: &Path,
    trail: &mut Trail,
    depth: usize,
) -> io::Result<()> {
    remove_entry(parent, name, root, trail, &mut dirent_buf(), depth)
}

fn remove_entry(
    parent: BorrowedFd<'_>,
    name: &CStr,
    root: &Path,
    trail: &mut Trail,
    buf: &mut [MaybeUninit<u8>],
    depth: usize,
) -> io::Result<()> {
    let fail = |trail: &Trail, what: &str, e: Errno| err(&trail.path(root, Some(name)), what, e);
    if depth > MAX_DEPTH {
        return Err(too_deep(&trail.path(root, Some(name))));
    }
    let dir = match open_dir(parent, name) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return match unlinkat(parent, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(fail(trail, "unlink", e)),
            };
        }
        Err(e) => return Err(fail(trail, "open directory", e)),
    };
    let st = stat_fd(&dir).map_err(|e| fail(trail, "stat", e))?;
    if is_mount_root(&st, parent).map_err(|e| fail(trail, "stat", e))? {
        return Err(io::Error::other(format!(
            "{}: is a mount point; refusing to remove files of another mount",
            trail.path(root, Some(name)).display()
        )));
    }
    // Emptying a directory needs write and search permission on it (root bypasses this).
    let mode = u32::from(st.stx_mode) & 0o7777;
    if mode & 0o300 != 0o300 {
        fchmod(&dir, Mode::from_raw_mode(mode | 0o700)).map_err(|e| fail(trail, "chmod", e))?;
    }
    let listing = Listing::read(dir.as_fd(), buf).map_err(|e| fail(trail, "read directory", e))?;
    let mark = trail.push(name);
    let r = listing.iter().try_for_each(|(child, ty)| match ty {
        FileType::Directory | FileType::Unknown => {
            remove_entry(dir.as_fd(), child, root, trail, buf, depth + 1)
        }
        _ => match unlinkat(&dir, child, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(Errno::ISDIR) => remove_entry(dir.as_fd(), child, root, trail, buf, depth + 1),
            Err(e) => Err(err(&trail.path(root, Some(child)), "unlink", e)),
        },
    });
    trail.pop(mark);
    r?;
    drop(dir);
    match unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(fail(trail, "rmdir", e)),
    }
}

/// Opens a directory for removal; one we may not read (mode 0 and not root) is made readable.
fn open_dir(parent: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<rustix::fd::OwnedFd> {
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

/// Allocated bytes below `dir` (not counting `dir` itself), skipping mount points and counting
/// inodes with several names once.
pub(super) fn size_dir(
    dir: BorrowedFd<'_>,
    root: &Path,
    trail: &mut Trail,
    seen: &mut HashSet<(u64, u64)>,
    depth: usize,
) -> io::Result<u64> {
    size_walk(dir, root, trail, seen, &mut dirent_buf(), depth)
}

fn size_walk(
    dir: BorrowedFd<'_>,
    root: &Path,
    trail: &mut Trail,
    seen: &mut HashSet<(u64, u64)>,
    buf: &mut [MaybeUninit<u8>],
    depth: usize,
) -> io::Result<u64> {
    if depth > MAX_DEPTH {
        return Err(too_deep(&trail.path(root, None)));
    }
    let listing =
        Listing::read(dir, buf).map_err(|e| err(&trail.path(root, None), "read directory", e))?;
    let mut total = 0;
    for (name, _) in listing.iter() {
        let fail =
            |trail: &Trail, what: &str, e: Errno| err(&trail.path(root, Some(name)), what, e);
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT;
        let st = match statx(dir, name, flags, size_mask()) {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(fail(trail, "stat", e)),
        };
        let used = st.stx_blocks * 512;
        if file_type(&st) != FileType::Directory {
            let key = (super::dev_of(&st), st.stx_ino);
            if st.stx_nlink < 2 || seen.insert(key) {
                total += used;
            }
            continue;
        }
        if is_mount_root(&st, dir).map_err(|e| fail(trail, "stat", e))? {
            continue;
        }
        let child = openat(dir, name, dir_flags(), Mode::empty())
            .map_err(|e| fail(trail, "open directory", e))?;
        let mark = trail.push(name);
        let r = size_walk(child.as_fd(), root, trail, seen, buf, depth + 1);
        trail.pop(mark);
        total += used + r?;
    }
    Ok(total)
}
