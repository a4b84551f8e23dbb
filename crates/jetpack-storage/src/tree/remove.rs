//! Recursive removal and disk usage, both confined to one mount.

use std::collections::HashSet;
use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, chmodat, fchmod, openat, unlinkat};
use rustix::io::Errno;

use super::{
    Listing, Trail, dir_buf, dir_flags, errno, file_type, id_of, is_mount_root, leaving_window,
    reopen, reopen_parent, stat_fd,
};
use crate::sys;

/// Where removal messages place a path: relative to the walk's root, or below a named root.
#[derive(Clone, Copy)]
pub(super) enum Shown<'a> {
    Relative,
    Below(&'a Path),
}

impl Shown<'_> {
    fn place(self, trail: &Trail, name: Option<&CStr>) -> String {
        match self {
            Shown::Relative => trail.show(name),
            Shown::Below(root) => trail.path(root, name),
        }
    }
}

/// A directory being emptied.
struct Level {
    /// Closed while the level is far above the walk's current depth.
    fd: Option<OwnedFd>,
    id: (u64, u64),
    entries: Listing,
    mark: usize,
    name: CString,
    /// Whether `name` was pushed on the trail (not for the root of a [`remove_top`]).
    named: bool,
}

/// Removes the tree `parent/name` (whatever it is); messages name paths relative to it.
pub(super) fn remove_top(parent: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
    remove_walk(parent, name, &mut Trail::default(), Shown::Relative, true)
}

/// Removes `parent/name` whatever it is; `trail` locates `parent` for messages.
pub(super) fn remove_at(
    parent: BorrowedFd<'_>,
    name: &CStr,
    trail: &mut Trail,
    shown: Shown<'_>,
) -> io::Result<()> {
    remove_walk(parent, name, trail, shown, false)
}

/// With `top`, `name` is the root of the messages' paths (not pushed on the trail).
fn remove_walk(
    parent: BorrowedFd<'_>,
    name: &CStr,
    trail: &mut Trail,
    shown: Shown<'_>,
    top: bool,
) -> io::Result<()> {
    let buf = &mut dir_buf();
    let Some(first) = enter(parent, name, trail, shown, buf, !top)? else {
        return Ok(());
    };
    let mut stack = vec![first];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let Some((child, ty)) = top.entries.next_entry() else {
            let done = stack.pop().expect("stack is not empty");
            reopen_top(&mut stack, &done, trail, shown)?;
            drop(done.fd);
            let parent = stack
                .last()
                .map_or(parent, |l| l.fd.as_ref().expect("open").as_fd());
            let r = unlinkat(parent, done.name.as_c_str(), AtFlags::REMOVEDIR);
            trail.pop(done.mark);
            match r {
                Ok(()) | Err(Errno::NOENT) => continue,
                Err(e) => {
                    let place = shown.place(trail, done.named.then_some(&*done.name));
                    return Err(errno(&place, "rmdir", e));
                }
            }
        };
        let dir = top.fd.as_ref().expect("the deepest level is open").as_fd();
        if !matches!(ty, FileType::Directory | FileType::Unknown) {
            match unlinkat(dir, child, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => continue,
                Err(Errno::ISDIR) => {}
                Err(e) => return Err(errno(&shown.place(trail, Some(child)), "unlink", e)),
            }
        }
        if let Some(level) = enter(dir, child, trail, shown, buf, true)? {
            stack.push(level);
            if let Some(i) = leaving_window(stack.len()) {
                stack[i].fd = None;
            }
        }
    }
}
/// Before `done` (just popped) is closed: if the new last level of `stack` had its fd closed,
/// reopens it as `..` of `done`.
fn reopen_top(
    stack: &mut [Level],
    done: &Level,
    trail: &Trail,
    shown: Shown<'_>,
) -> io::Result<()> {
    let Some(top) = stack.last_mut() else {
        return Ok(());
    };
    if top.fd.is_none() {
        let child = done.fd.as_ref().expect("the deepest level is open");
        let fd = reopen_parent(child.as_fd(), top.id)
            .map_err(|e| errno(&shown.place(trail, None), "reopen parent directory", e))?;
        top.fd = Some(fd);
    }
    Ok(())
}

/// Opens and lists directory `parent/name` for emptying; a non-directory is unlinked instead.
/// With `push`, `name` is added to the trail.
fn enter(
    parent: BorrowedFd<'_>,
    name: &CStr,
    trail: &mut Trail,
    shown: Shown<'_>,
    buf: &mut [MaybeUninit<u8>],
    push: bool,
) -> io::Result<Option<Level>> {
    let place = |trail: &Trail| shown.place(trail, push.then_some(name));
    let fail = |trail: &Trail, what: &str, e: Errno| errno(&place(trail), what, e);
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
        let place = place(trail);
        let what = match place.is_empty() {
            true => "is a mount point".to_string(),
            false => format!("{place}: is a mount point"),
        };
        return Err(io::Error::other(format!(
            "{what}; refusing to remove files of another mount"
        )));
    }
    // Emptying a directory needs write and search permission on it (root bypasses this).
    let mode = u32::from(st.stx_mode) & 0o7777;
    if mode & 0o300 != 0o300 {
        fchmod(&fd, sys::mode(mode | 0o700)).map_err(|e| fail(trail, "chmod", e))?;
    }
    let entries = Listing::read(fd.as_fd(), buf).map_err(|e| fail(trail, "read directory", e))?;
    let mark = match push {
        true => trail.push(name),
        false => trail.rel().len(),
    };
    Ok(Some(Level {
        fd: Some(fd),
        id: id_of(&st),
        entries,
        mark,
        name: name.to_owned(),
        named: push,
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

/// A directory whose size is being summed.
struct SizeLevel {
    fd: Option<OwnedFd>,
    id: (u64, u64),
    entries: Listing,
    mark: usize,
}

/// Allocated bytes below the directory `dir` (not counting itself), skipping mount points and
/// counting inodes with several names once. Messages name paths relative to `dir`.
pub(super) fn size_below(dir: OwnedFd, seen: &mut HashSet<(u64, u64)>) -> io::Result<u64> {
    let buf = &mut dir_buf();
    let mut trail = Trail::default();
    let entries = Listing::read(dir.as_fd(), buf).map_err(|e| errno("", "read directory", e))?;
    let id = id_of(&stat_fd(&dir).map_err(|e| errno("", "stat", e))?);
    let mut stack = vec![SizeLevel {
        fd: Some(dir),
        id,
        entries,
        mark: 0,
    }];
    let mut total = 0;
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(total);
        };
        let Some((name, _)) = top.entries.next_entry() else {
            let done = stack.pop().expect("stack is not empty");
            trail.pop(done.mark);
            reopen_size_top(&mut stack, &done, &trail)?;
            continue;
        };
        let dir = top.fd.as_ref().expect("the deepest level is open").as_fd();
        let fail = |trail: &Trail, what: &str, e: Errno| errno(&trail.show(Some(name)), what, e);
        let st = match sys::stat_usage_at(dir, name) {
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
        let child = reopen(dir, name, id_of(&st)).map_err(|e| fail(&trail, "open directory", e))?;
        let entries =
            Listing::read(child.as_fd(), buf).map_err(|e| fail(&trail, "read directory", e))?;
        let name = name.to_owned();
        let mark = trail.push(&name);
        stack.push(SizeLevel {
            fd: Some(child),
            id: id_of(&st),
            entries,
            mark,
        });
        if let Some(i) = leaving_window(stack.len()) {
            stack[i].fd = None;
        }
    }
}

fn reopen_size_top(stack: &mut [SizeLevel], done: &SizeLevel, trail: &Trail) -> io::Result<()> {
    let Some(top) = stack.last_mut() else {
        return Ok(());
    };
    if top.fd.is_none() {
        let child = done.fd.as_ref().expect("the deepest level is open");
        let fd = reopen_parent(child.as_fd(), top.id)
            .map_err(|e| errno(&trail.show(None), "reopen parent directory", e))?;
        top.fd = Some(fd);
    }
    Ok(())
}
