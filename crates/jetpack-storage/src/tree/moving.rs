//! Moving one tree over another: renames where possible, copies across filesystems.

use std::ffi::{CStr, CString};
use std::io;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    AtFlags, FileType, Mode, RenameFlags, Statx, fchmod, openat, renameat, renameat_with, unlinkat,
};
use rustix::io::Errno;

use super::copy::Copier;
use super::{Listing, MAX_DEPTH, dir_flags, entry_type, meta, stat_at, stat_fd, too_deep};

/// A directory present on both sides: its entries are moved one by one, then its metadata.
struct Level {
    src: OwnedFd,
    dst: OwnedFd,
    /// Taken before the moves changed the source directory's times.
    st: Statx,
    entries: Listing,
    mark: usize,
    /// To remove the emptied source directory from its parent; `None` for the root.
    name: Option<CString>,
}

/// Moves the contents of `src` into `dst`, then gives `dst` the metadata of `src` (`st`).
pub(super) fn move_root(
    c: &mut Copier<'_>,
    src: OwnedFd,
    st: Statx,
    dst: OwnedFd,
) -> io::Result<()> {
    c.prepare_merge(dst.as_fd(), None)?;
    make_writable(src.as_fd(), &st).map_err(c.on_src(None, "chmod"))?;
    let entries =
        Listing::read(src.as_fd(), &mut c.dirbuf).map_err(c.on_src(None, "read directory"))?;
    let mark = c.trail.rel().len();
    let mut stack = vec![Level {
        src,
        dst,
        st,
        entries,
        mark,
        name: None,
    }];
    loop {
        let depth = stack.len();
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        let Some((name, ty)) = top.entries.next_entry() else {
            let done = stack.pop().expect("stack is not empty");
            leave(c, done, stack.last().map(|parent| parent.src.as_fd()))?;
            continue;
        };
        let (src, dst) = (top.src.as_fd(), top.dst.as_fd());
        let ty = entry_type(src, name, ty).map_err(c.on_src(Some(name), "stat"))?;
        match ty {
            FileType::Directory => {
                if let Some(level) = move_dir(c, src, dst, name, depth)? {
                    stack.push(level);
                }
            }
            // Not carried into images; dropped so the source ends up empty.
            FileType::Socket => {
                unlinkat(src, name, AtFlags::empty()).map_err(c.on_src(Some(name), "unlink"))?
            }
            _ => move_leaf(c, src, dst, name, ty, depth)?,
        }
    }
}

/// Finishes a merged directory: upper metadata onto `dst`, emptied source removed.
fn leave(c: &mut Copier<'_>, done: Level, parent: Option<BorrowedFd<'_>>) -> io::Result<()> {
    meta::apply_fd(
        &mut c.xattrs,
        done.src.as_fd(),
        &done.st,
        done.dst.as_fd(),
        true,
    )
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
    depth: usize,
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
            c.copy_entry(src, dst, name, ty, depth)?;
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
    depth: usize,
) -> io::Result<Option<Level>> {
    if depth >= MAX_DEPTH {
        return Err(too_deep(&c.trail.path(c.src_root(), Some(name))));
    }
    match rename_dir(src, dst, name, false) {
        Ok(()) => return Ok(None),
        Err(Errno::EXIST) => {}
        Err(Errno::XDEV) => return copy_then_remove(c, src, dst, name, depth),
        Err(e) => return Err(c.on_dst(Some(name), "rename")(e)),
    }
    let dst_child = match openat(dst, name, dir_flags(), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOTDIR | Errno::LOOP) => {
            unlinkat(dst, name, AtFlags::empty()).map_err(c.on_dst(Some(name), "unlink"))?;
            return match rename_dir(src, dst, name, true) {
                Ok(()) => Ok(None),
                Err(Errno::XDEV) => copy_then_remove(c, src, dst, name, depth),
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
    Ok(Some(Level {
        src: src_child,
        dst: dst_child,
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
    depth: usize,
) -> io::Result<Option<Level>> {
    c.copy_entry(src, dst, name, FileType::Directory, depth)?;
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
            fchmod(&fd, Mode::from_raw_mode(mode | 0o200))?;
            let r = rename();
            let restored = fchmod(&fd, Mode::from_raw_mode(mode));
            r.and(restored)
        }
        r => r,
    }
}

/// Lets us (without root) take entries out of a source directory, whatever its mode; the
/// source is being consumed and its metadata was read before.
fn make_writable(dir: BorrowedFd<'_>, st: &Statx) -> rustix::io::Result<()> {
    let mode = u32::from(st.stx_mode) & 0o7777;
    if mode & 0o300 == 0o300 {
        return Ok(());
    }
    fchmod(dir, Mode::from_raw_mode(mode | 0o700))
}

/// Renames `src/name` to `dst/name` only if the latter does not exist (`EEXIST` otherwise).
fn rename_new(src: BorrowedFd<'_>, dst: BorrowedFd<'_>, name: &CStr) -> rustix::io::Result<()> {
    match renameat_with(src, name, dst, name, RenameFlags::NOREPLACE) {
        // Filesystems without RENAME_NOREPLACE: check, then rename (the target is ours alone).
        Err(Errno::INVAL) => match stat_at(dst, name) {
            Err(Errno::NOENT) => renameat(src, name, dst, name),
            Err(e) => Err(e),
            Ok(_) => Err(Errno::EXIST),
        },
        r => r,
    }
}
