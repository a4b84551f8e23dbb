//! Copying one tree over another, node by node, through directory fds.

use std::collections::{HashMap, HashSet};
use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{
    AtFlags, FileType, Mode, OFlags, fchmod, linkat, mkdirat, mknodat, openat, readlinkat,
    symlinkat, unlinkat,
};
use rustix::io::Errno;

use super::data::Data;
use super::meta::{self, Fail, Xattrs};
use super::remove::Shown;
use super::{
    Listing, Stat, Trail, dev_of, dir_buf, dir_flags, entry_type, errno, file_type, id_of,
    leaving_window, remove, reopen_parent, show_rel, stat_at, stat_fd,
};
use crate::sys;

/// A directory being copied: its entries are copied one by one, then its metadata.
struct Level {
    /// Both closed while the level is far above the walk's current depth.
    src: Option<OwnedFd>,
    dst: Option<OwnedFd>,
    dst_id: (u64, u64),
    st: Stat,
    /// Whether `dst` was already there (so xattrs it has and `src` lacks must go).
    merged: bool,
    entries: Listing,
    /// Trail length to return to when done.
    mark: usize,
}

/// State of one copy (or move) between two roots.
pub(super) struct Copier<'a> {
    src_root: &'a Path,
    dst_root_fd: BorrowedFd<'a>,
    /// `dst` itself, so a destination nested inside the source is not copied into itself.
    dst_root_id: (u64, u64),
    /// The directory being worked on, relative to both roots.
    pub(super) trail: Trail,
    /// The source directories being copied, to detect a loop (a bind mount of an ancestor).
    ancestors: HashSet<(u64, u64)>,
    /// Source inodes with several names, mapped to where their first copy was written.
    links: HashMap<(u64, u64), Vec<u8>>,
    data: Data,
    pub(super) xattrs: Xattrs,
    pub(super) dirbuf: Vec<MaybeUninit<u8>>,
    bytes: u64,
}

impl<'a> Copier<'a> {
    pub(super) fn new(src_root: &'a Path, dst_fd: &'a OwnedFd) -> io::Result<Self> {
        let st = stat_fd(dst_fd).map_err(|e| errno("", "stat", e))?;
        Ok(Copier {
            src_root,
            dst_root_fd: dst_fd.as_fd(),
            dst_root_id: (dev_of(&st), st.stx_ino),
            trail: Trail::default(),
            ancestors: HashSet::new(),
            links: HashMap::new(),
            data: Data::new(),
            xattrs: Xattrs::new(),
            dirbuf: dir_buf(),
            bytes: 0,
        })
    }

    pub(super) fn bytes(&self) -> u64 {
        self.bytes
    }

    pub(super) fn on_src<'s>(
        &'s self,
        name: Option<&'s CStr>,
        what: &'s str,
    ) -> impl FnOnce(Errno) -> io::Error + 's {
        move |e| errno(&self.trail.path(self.src_root, name), what, e)
    }

    pub(super) fn on_dst<'s>(
        &'s self,
        name: Option<&'s CStr>,
        what: &'s str,
    ) -> impl FnOnce(Errno) -> io::Error + 's {
        move |e| errno(&self.trail.show(name), what, e)
    }

    pub(super) fn fail_dst(&self, name: Option<&CStr>, (what, e): Fail) -> io::Error {
        errno(&self.trail.show(name), &what, e)
    }

    /// Copies the contents of `src` into `dst`, then gives `dst` the metadata of `src`.
    pub(super) fn merge_root(&mut self, src: OwnedFd, st: Stat, dst: OwnedFd) -> io::Result<()> {
        self.prepare_merge(dst.as_fd(), None)?;
        let entries = Listing::read(src.as_fd(), &mut self.dirbuf)
            .map_err(self.on_src(None, "read directory"))?;
        let dst_id = id_of(&stat_fd(&dst).map_err(self.on_dst(None, "stat"))?);
        self.ancestors.insert(id_of(&st));
        let root = Level {
            src: Some(src),
            dst: Some(dst),
            dst_id,
            st,
            merged: true,
            entries,
            mark: self.trail.rel().len(),
        };
        self.run(vec![root])
    }

    /// Copies `src_dir/name` (of directory-entry type `ty`) to `dst_dir/name`, replacing
    /// whatever is there unless both are directories.
    pub(super) fn copy_entry(
        &mut self,
        src_dir: BorrowedFd<'_>,
        dst_dir: BorrowedFd<'_>,
        name: &CStr,
        ty: FileType,
    ) -> io::Result<()> {
        let ty = entry_type(src_dir, name, ty).map_err(self.on_src(Some(name), "stat"))?;
        match ty {
            FileType::Directory => match self.enter(src_dir, dst_dir, name)? {
                Some(level) => self.run(vec![level]),
                None => Ok(()),
            },
            FileType::RegularFile => self.copy_file(src_dir, dst_dir, name),
            FileType::Socket => {
                tracing::debug!(
                    "skipping socket {}",
                    self.trail.path(self.src_root, Some(name))
                );
                Ok(())
            }
            _ => self.copy_special(src_dir, dst_dir, name),
        }
    }

    /// Copies the directories on `stack` depth first. Only the first level and the deepest
    /// ones keep their fds open; the others are reopened on the way back up.
    fn run(&mut self, mut stack: Vec<Level>) -> io::Result<()> {
        loop {
            let Some(top) = stack.last_mut() else {
                return Ok(());
            };
            let Some((name, ty)) = top.entries.next_entry() else {
                let done = stack.pop().expect("stack is not empty");
                let (src, dst) = (done.src.as_ref(), done.dst.as_ref());
                let (src, dst) = (src.expect("open"), dst.expect("open"));
                // Last, so the children written meanwhile do not disturb the directory's times.
                let r = meta::apply_fd(
                    &mut self.xattrs,
                    src.as_fd(),
                    &done.st,
                    dst.as_fd(),
                    done.merged,
                );
                r.map_err(|f| self.fail_dst(None, f))?;
                self.reopen_top(&mut stack, &done)?;
                self.ancestors.remove(&id_of(&done.st));
                self.trail.pop(done.mark);
                continue;
            };
            let src = top.src.as_ref().expect("the deepest level is open").as_fd();
            let dst = top.dst.as_ref().expect("the deepest level is open").as_fd();
            let ty = entry_type(src, name, ty).map_err(self.on_src(Some(name), "stat"))?;
            if ty != FileType::Directory {
                self.copy_entry(src, dst, name, ty)?;
            } else if let Some(level) = self.enter(src, dst, name)? {
                stack.push(level);
                if let Some(i) = leaving_window(stack.len()) {
                    stack[i].src = None;
                    stack[i].dst = None;
                }
            }
        }
    }

    /// Before `done` (just popped) is closed: if the new last level of `stack` had its fds
    /// closed, reopens them as `..` of `done`'s on both sides.
    fn reopen_top(&self, stack: &mut [Level], done: &Level) -> io::Result<()> {
        let Some(top) = stack.last_mut() else {
            return Ok(());
        };
        if top.src.is_none() {
            let (src, dst) = (done.src.as_ref(), done.dst.as_ref());
            let (src, dst) = (src.expect("open"), dst.expect("open"));
            top.src = Some(
                reopen_parent(src.as_fd(), id_of(&top.st))
                    .map_err(self.on_src(None, "reopen parent directory"))?,
            );
            top.dst = Some(
                reopen_parent(dst.as_fd(), top.dst_id)
                    .map_err(self.on_dst(None, "reopen parent directory"))?,
            );
        }
        Ok(())
    }

    /// Opens `src_dir/name` and its counterpart in the destination (made if needed) and lists
    /// the former; `None` if it is the destination itself (nested in the source).
    fn enter(
        &mut self,
        src_dir: BorrowedFd<'_>,
        dst_dir: BorrowedFd<'_>,
        name: &CStr,
    ) -> io::Result<Option<Level>> {
        let src = openat(src_dir, name, dir_flags(), Mode::empty())
            .map_err(self.on_src(Some(name), "open directory"))?;
        let st = stat_fd(&src).map_err(self.on_src(Some(name), "stat"))?;
        if id_of(&st) == self.dst_root_id {
            return Ok(None);
        }
        if !self.ancestors.insert(id_of(&st)) {
            return Err(io::Error::other(format!(
                "{}: is one of its own parent directories (a bind mount?); refusing to copy a loop",
                self.trail.path(self.src_root, Some(name))
            )));
        }
        let (dst, merged) = self.open_or_make_dir(dst_dir, name)?;
        let dst_id = id_of(&stat_fd(&dst).map_err(self.on_dst(Some(name), "stat"))?);
        let mark = self.trail.push(name);
        let entries = Listing::read(src.as_fd(), &mut self.dirbuf)
            .map_err(self.on_src(None, "read directory"))?;
        Ok(Some(Level {
            src: Some(src),
            dst: Some(dst),
            dst_id,
            st,
            merged,
            entries,
            mark,
        }))
    }

    /// Opens directory `dir/name`, creating it (or replacing a non-directory) as needed.
    /// Returns whether a directory was already there.
    pub(super) fn open_or_make_dir(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
    ) -> io::Result<(OwnedFd, bool)> {
        // Owner-only until the copy is done; the final mode may forbid writing into it.
        let mode = Mode::from_raw_mode(0o700);
        let existed = match mkdirat(dir, name, mode) {
            Ok(()) => false,
            Err(Errno::EXIST) => match openat(dir, name, dir_flags(), Mode::empty()) {
                Ok(fd) => {
                    self.prepare_merge(fd.as_fd(), Some(name))?;
                    return Ok((fd, true));
                }
                Err(Errno::NOTDIR | Errno::LOOP) => {
                    unlinkat(dir, name, AtFlags::empty())
                        .map_err(self.on_dst(Some(name), "unlink"))?;
                    mkdirat(dir, name, mode).map_err(self.on_dst(Some(name), "mkdir"))?;
                    false
                }
                Err(e) => return Err(self.on_dst(Some(name), "open directory")(e)),
            },
            Err(e) => return Err(self.on_dst(Some(name), "mkdir")(e)),
        };
        let fd = openat(dir, name, dir_flags(), Mode::empty())
            .map_err(self.on_dst(Some(name), "open directory"))?;
        Ok((fd, existed))
    }

    /// Readies a directory left by a lower layer for merging: writable for us, and without a
    /// default ACL that new children would inherit (the upper layer's xattrs are applied after).
    pub(super) fn prepare_merge(&self, dir: BorrowedFd<'_>, name: Option<&CStr>) -> io::Result<()> {
        let st = stat_fd(dir).map_err(self.on_dst(name, "stat"))?;
        let mode = u32::from(st.stx_mode) & 0o7777;
        if mode & 0o700 != 0o700 {
            fchmod(dir, sys::mode(mode | 0o700)).map_err(self.on_dst(name, "chmod"))?;
        }
        sys::drop_default_acl(dir).map_err(self.on_dst(name, "remove default ACL"))
    }

    fn copy_file(
        &mut self,
        src_dir: BorrowedFd<'_>,
        dst_dir: BorrowedFd<'_>,
        name: &CStr,
    ) -> io::Result<()> {
        // NONBLOCK and NOCTTY: harmless if the entry was swapped for a FIFO or device meanwhile.
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let src =
            openat(src_dir, name, flags, Mode::empty()).map_err(self.on_src(Some(name), "open"))?;
        let st = stat_fd(&src).map_err(self.on_src(Some(name), "stat"))?;
        if file_type(&st) != FileType::RegularFile {
            return Err(self.on_src(Some(name), "copy")(Errno::STALE));
        }
        if self.link_to_first(&st, dst_dir, name)? {
            return Ok(());
        }
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dst = self.create(dst_dir, name, "create", || {
            openat(dst_dir, name, flags, Mode::from_raw_mode(0o600))
        })?;
        let n = (self.data)
            .copy(src.as_fd(), dst.as_fd(), st.stx_size, st.stx_blocks * 512)
            .map_err(|f| self.fail_dst(Some(name), f))?;
        self.bytes += n;
        meta::apply_fd(&mut self.xattrs, src.as_fd(), &st, dst.as_fd(), false)
            .map_err(|f| self.fail_dst(Some(name), f))?;
        self.remember(&st, name);
        Ok(())
    }

    /// Symlinks, devices and FIFOs: recreated from their `stat`, never opened.
    fn copy_special(
        &mut self,
        src_dir: BorrowedFd<'_>,
        dst_dir: BorrowedFd<'_>,
        name: &CStr,
    ) -> io::Result<()> {
        let st = stat_at(src_dir, name).map_err(self.on_src(Some(name), "stat"))?;
        if self.link_to_first(&st, dst_dir, name)? {
            return Ok(());
        }
        let ty = file_type(&st);
        match ty {
            FileType::Symlink => {
                let target = readlinkat(src_dir, name, Vec::new())
                    .map_err(self.on_src(Some(name), "readlink"))?;
                self.create(dst_dir, name, "symlink", || {
                    symlinkat(target.as_c_str(), dst_dir, name)
                })?;
            }
            FileType::Fifo | FileType::CharacterDevice | FileType::BlockDevice => {
                let dev = sys::rdev(&st);
                let mode = Mode::from_raw_mode(0o600);
                self.create(dst_dir, name, "mknod", || {
                    mknodat(dst_dir, name, ty, mode, dev)
                })?;
            }
            FileType::Socket => return Ok(()),
            // Changed type since it was listed.
            _ => return Err(self.on_src(Some(name), "copy")(Errno::STALE)),
        }
        meta::apply_at(
            &mut self.xattrs,
            src_dir,
            &st,
            dst_dir,
            name,
            ty == FileType::Symlink,
        )
        .map_err(|f| self.fail_dst(Some(name), f))?;
        self.remember(&st, name);
        Ok(())
    }

    /// Runs `make`, and if something is in the way, removes it and runs `make` again.
    fn create<T>(
        &self,
        dir: BorrowedFd<'_>,
        name: &CStr,
        what: &str,
        mut make: impl FnMut() -> rustix::io::Result<T>,
    ) -> io::Result<T> {
        match make() {
            Err(Errno::EXIST) => {
                self.clear_dst(dir, name)?;
                make().map_err(self.on_dst(Some(name), what))
            }
            r => r.map_err(self.on_dst(Some(name), what)),
        }
    }

    /// Removes `dir/name` from the destination, whatever it is (a directory recursively).
    pub(super) fn clear_dst(&self, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
        remove::remove_at(dir, name, &mut self.trail.clone(), Shown::Relative)
    }

    /// Removes `dir/name` from the source after it was copied instead of moved.
    pub(super) fn clear_src(&self, dir: BorrowedFd<'_>, name: &CStr) -> io::Result<()> {
        remove::remove_at(
            dir,
            name,
            &mut self.trail.clone(),
            Shown::Below(self.src_root),
        )
    }

    /// If `st` is a further name of an inode already copied, hard-links `dst_dir/name` to that
    /// copy and returns true.
    fn link_to_first(&self, st: &Stat, dst_dir: BorrowedFd<'_>, name: &CStr) -> io::Result<bool> {
        // Not keyed on the current link count: a move that copies across filesystems unlinks
        // each source name after copying it, so the last name left has a count of 1.
        if self.links.is_empty() {
            return Ok(false);
        }
        let Some(first) = self.links.get(&(dev_of(st), st.stx_ino)) else {
            return Ok(false);
        };
        let (parent, leaf) = match first.iter().rposition(|&b| b == b'/') {
            Some(i) => (&first[..i], &first[i + 1..]),
            None => (&first[..0], &first[..]),
        };
        let leaf = CString::new(leaf).expect("a file name has no NUL");
        // The first copy was written by us below `dst` through real directories, so walking
        // back to it without following symlinks must succeed.
        let walked;
        let from = if parent == self.trail.rel() {
            dst_dir
        } else {
            walked = walk(self.dst_root_fd, parent)
                .map_err(|e| errno(&show_rel(parent), "open directory", e))?;
            walked.as_fd()
        };
        self.create(dst_dir, name, "link", || {
            linkat(from, leaf.as_c_str(), dst_dir, name, AtFlags::empty())
        })?;
        Ok(true)
    }

    fn remember(&mut self, st: &Stat, name: &CStr) {
        if st.stx_nlink >= 2 {
            let mut rel = self.trail.clone();
            rel.push(name);
            self.links
                .insert((dev_of(st), st.stx_ino), rel.rel().to_vec());
        }
    }
}

/// Opens the directory `rel` (slash-separated, empty for `root` itself) below `root` without
/// following symlinks.
pub(super) fn walk(root: BorrowedFd<'_>, rel: &[u8]) -> rustix::io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let mut cur = openat(root, c".", flags, Mode::empty())?;
    for comp in rel.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let comp = CString::new(comp).map_err(|_| Errno::INVAL)?;
        cur = openat(&cur, comp.as_c_str(), flags, Mode::empty())?;
    }
    Ok(cur)
}
