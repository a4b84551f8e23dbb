//! Moving one tree over another: renames where possible, copies across filesystems.

use std::ffi::{CStr, CString};
use std::io;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, fchmod, openat, renameat, unlinkat};
use rustix::io::Errno;

use super::copy::Copier;
use super::{
    Listing, dir_flags, entry_type, id_of, leaving_window, meta, reopen_parent, stat_at, stat_fd,
};
use crate::sys::{self, Stat};

/// A directory present on both sides: its entries are moved one by one, then its metadata.
struct Level {
    /// Both closed while the level is far above the walk's current depth (never the root).
    src: Option<OwnedFd>,
    dst: Option<OwnedFd>,
    src_id: (u64, u64),
    dst_id: (u64, u64),
    /// Taken before the moves changed the source directory's times.
    st: Stat,
    entries: Listing,
    mark: usize,
    /// To remove the emptied source directory from its parent; `None` for the root.
    name: Option<CString>,
}

/// Moves the contents of `src` into `dst`, then gives `dst` the metadata of `src` (`st`).
pub(super) fn move_root(
    c: &mut Copier<'_>,
    src: OwnedFd,
    st: Stat,
    dst: OwnedFd,
) -> io::Result<()> {
    c.prepare_merge(dst.as_fd(), None)?;
    make_writable(src.as_fd(), &st).map_err(c.on_src(None, "chmod"))?;
    let entries =
        Listing::read(src.as_fd(), &mut c.dirbuf).map_err(c.on_src(None, "read directory"))?;
    let mark = c.trail.rel().len();
    let dst_id = id_of(&stat_fd(&dst).map_err(c.on_dst(None, "stat"))?);
    let mut stack = vec![Level {
        src_id: id_of(&st),
        src: Some(src),
        dst: Some(dst),
        dst_id,
        st,
        entries,
        mark,
        name: None,
    }];
    loop {
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let Some((name, ty)) = top.entries.next_entry() else {
            let done = stack.pop().expect("stack is not empty");
            reopen_top(c, &mut stack, &done)?;
            let parent = stack
                .last()
                .and_then(|p| p.src.as_ref())
                .map(|fd| fd.as_fd());
            leave(c, done, parent)?;
            continue;
        };
        let src = top.src.as_ref().expect("the deepest level is open").as_fd();
        let dst = top.dst.as_ref().expect("the deepest level is open").as_fd();
        let ty = entry_type(src, name, ty).map_err(c.on_src(Some(name), "stat"))?;
        match ty {
            FileType::Directory => {
                if let Some(level) = move_dir(c, src, dst, name)? {
                    stack.push(level);
                    if let Some(i) = leaving_window(stack.len()) {
                        stack[i].src = None;
                        stack[i].dst = None;
                    }
                }
            }
            // Not carried into images; dropped so the source ends up empty.
            FileType::Socket => {
                unlinkat(src, name, AtFlags::empty()).map_err(c.on_src(Some(name), "unlink"))?
            }
            _ => move_leaf(c, src, dst, name, ty)?,
        }
    }
}

/// Before `done` (just popped) is closed: if the new last level of `stack` had its fds
/// closed, reopens them as `..` of `done`'s on both sides.
fn reopen_top(c: &Copier<'_>, stack: &mut [Level], done: &Level) -> io::Result<()> {
    let Some(top) = stack.last_mut() else {
        return Ok(());
    };
    if top.src.is_none() {
        let (src, dst) = (done.src.as_ref(), done.dst.as_ref());
        let (src, dst) = (src.expect("open"), dst.expect("open"));
        top.src = Some(
            reopen_parent(src.as_fd(), top.src_id)
                .map_err(c.on_src(None, "reopen parent directory"))?,
        );
        top.dst = Some(
            reopen_parent(dst.as_fd(), top.dst_id)
                .map_err(c.on_dst(None, "reopen parent directory"))?,
        );
    }
    Ok(())
}

/// Finishes a merged directory: upper metadata onto `dst`, emptied source removed.
fn leave(c: &mut Copier<'_>, done: Level, parent: Option<BorrowedFd<'_>>) -> io::Result<()> {
    let (src, dst) = (done.src.expect("open"), done.dst.expect("open"));
    meta::apply_fd(&mut c.xattrs, src.as_fd(), &done.st, dst.as_fd(), true)
        .map_err(|f| c.fail_dst(None, f))?;
    c.trail.pop(done.mark);
    let (Some(name), Some(parent)) = (done.name, parent) else {
        return Ok(());
    };
    unlinkat(parent, name.as_c_str(), AtFlags::REMOVEDIR).map_err(c.on_src(Some(&name), "rmdir"))
}

/// Anything but a directory: rename replaces a non-directory target atomically.
fn move_leaf(
    c: &mut Copier<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
    ty: FileType,
) -> io::Result<()> {
    let r = match renameat(src, name, dst, name) {
        Err(Errno::ISDIR | Errno::NOTEMPTY | Errno::EXIST) => {
            c.clear_dst(dst, name)?;
            renameat(src, name, dst, name)
        }
        r => r,
    };
    match r {
        Ok(()) => Ok(()),
        Err(Errno::XDEV) => {
            c.copy_entry(src, dst, name, ty)?;
            unlinkat(src, name, AtFlags::empty()).map_err(c.on_src(Some(name), "unlink"))
        }
        Err(e) => Err(c.on_dst(Some(name), "rename")(e)),
    }
}

/// Moves directory `src/name` whole if `dst` lacks it (or has a non-directory there);
/// otherwise opens both for merging.
fn move_dir(
    c: &mut Copier<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
) -> io::Result<Option<Level>> {
    match rename_dir(src, dst, name, false) {
        Ok(()) => return Ok(None),
        Err(Errno::EXIST) => {}
        Err(Errno::XDEV) => return copy_then_remove(c, src, dst, name),
        Err(e) => return Err(c.on_dst(Some(name), "rename")(e)),
    }
    let dst_child = match openat(dst, name, dir_flags(), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR | Errno::LOOP) => {
            unlinkat(dst, name, AtFlags::empty()).map_err(c.on_dst(Some(name), "unlink"))?;
            return match rename_dir(src, dst, name, true) {
                Ok(()) => Ok(None),
                Err(Errno::XDEV) => copy_then_remove(c, src, dst, name),
                Err(e) => Err(c.on_dst(Some(name), "rename")(e)),
            };
        }
        Err(e) => return Err(c.on_dst(Some(name), "open directory")(e)),
    };
    let src_child = openat(src, name, dir_flags(), Mode::empty())
        .map_err(c.on_src(Some(name), "open directory"))?;
    let st = stat_fd(&src_child).map_err(c.on_src(Some(name), "stat"))?;
    make_writable(src_child.as_fd(), &st).map_err(c.on_src(Some(name), "chmod"))?;
    c.prepare_merge(dst_child.as_fd(), Some(name))?;
    let mark = c.trail.push(name);
    let entries = Listing::read(src_child.as_fd(), &mut c.dirbuf)
        .map_err(c.on_src(None, "read directory"))?;
    let dst_id = id_of(&stat_fd(&dst_child).map_err(c.on_dst(Some(name), "stat"))?);
    Ok(Some(Level {
        src_id: id_of(&st),
        src: Some(src_child),
        dst: Some(dst_child),
        dst_id,
        st,
        entries,
        mark,
        name: Some(name.to_owned()),
    }))
}

fn copy_then_remove(
    c: &mut Copier<'_>,
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
) -> io::Result<Option<Level>> {
    c.copy_entry(src, dst, name, FileType::Directory)?;
    c.clear_src(src, name)?;
    Ok(None)
}

/// Renames directory `src/name` to `dst/name`; unless `replace`, only if the latter does not
/// exist (`EEXIST` otherwise).
fn rename_dir(
    src: BorrowedFd<'_>,
    dst: BorrowedFd<'_>,
    name: &CStr,
    replace: bool,
) -> rustix::io::Result<()> {
    let rename = || match replace {
        true => renameat(src, name, dst, name),
        false => rename_new(src, dst, name),
    };
    match rename() {
        // Without root, moving a directory to another parent needs write access to it (its `..`
        // changes): lend that for the rename. chmod leaves the directory's times alone.
        Err(Errno::ACCESS) => {
            let fd = openat(src, name, dir_flags(), Mode::empty())?;
            let mode = u32::from(stat_fd(&fd)?.stx_mode) & 0o7777;
            fchmod(&fd, sys::mode(mode | 0o200))?;
            let r = rename();
            let restored = fchmod(&fd, sys::mode(mode));
            r.and(restored)
        }
        r => r,
    }
}

/// Lets us (without root) take entries out of a source directory, whatever its mode; the
/// source is being consumed and its metadata was read before.
fn make_writable(dir: BorrowedFd<'_>, st: &Stat) -> rustix::io::Result<()> {
    let mode = u32::from(st.stx_mode) & 0o7777;
    if mode & 0o300 == 0o300 {
        return Ok(());
    }
    fchmod(dir, sys::mode(mode | 0o700))
}

/// Renames `src/name` to `dst/name` only if the latter does not exist (`EEXIST` otherwise).
/// Where the system checks first and then renames (FreeBSD, filesystems without
/// `RENAME_NOREPLACE`), nothing can take the name in between: the destination tree is written
/// by this move alone.
fn rename_new(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<()> {
    match sys::rename_noreplace(src, name, dst, name) {
        // Filesystems without RENAME_NOREPLACE: check, then rename (the target is ours alone).
        Err(Errno::INVAL) => match stat_at(dst, name) {
            Err(Errno::NOENT) => renameat(src, name, dst, name),
            Err(e) => Err(e),
            Ok(_) => Err(Errno::EXIST),
        },
        r => r,
    }
}
