//! Root filesystem tree operations: layering (copy or move one tree over another), removal and
//! disk usage.
//!
//! Layering follows the appc rendering rules: a later layer overwrites an earlier one; an existing
//! symlink is never followed but replaced; a directory over a directory merges and the upper
//! directory's metadata wins; anything else replaces what was there. Everything is preserved:
//! contents, owner, mode (incl. setuid/setgid/sticky), atime/mtime, xattrs, symlink targets,
//! hard links, devices and FIFOs. Sockets are skipped.
//!
//! Trees come from untrusted images, so every lookup below the two roots is relative to an open
//! directory fd and never follows a symlink (`O_NOFOLLOW`, `AT_SYMLINK_NOFOLLOW`): a hostile tree
//! cannot redirect a write outside the destination.
//!
//! Depth is unlimited: walks keep their position on the heap (one listing per directory of the
//! current chain), never on the call stack, and no call takes a path longer than one name, so
//! `PATH_MAX` does not apply. Only the directories of the deepest [`FD_WINDOW`] levels of the
//! chain (and its top) stay open; a directory whose fd was closed is reopened as `..` of its
//! child, and checked to be the same inode, when the walk climbs back to it.
//! Error messages name a path relative to the tree being worked on (the caller names that),
//! shortened to its first and last components and its depth when it is long.

mod copy;
mod data;
mod meta;
mod moving;
mod remove;

use std::collections::HashSet;
use std::ffi::CStr;
use std::io;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{CWD, FileType, Mode, OFlags, mkdirat, openat};
use rustix::io::Errno;

use self::copy::Copier;
use crate::sys::{self, Stat, dev_of, dir_buf, file_type, is_mount_root, stat_at, stat_fd};

/// Levels of a directory chain whose fds stay open (one or two fds each); the rest are
/// closed and reopened when needed, so deep trees cost no more fds than shallow ones.
const FD_WINDOW: usize = 32;

/// Relative paths with more components than this are shown shortened in messages.
const SHOW_COMPONENTS: usize = 8;

/// Copies the tree at `src` over `dst` following the layering rules; `dst` is created if missing
/// (its parent must exist) and gets `src`'s root directory metadata. Regular files are reflinked
/// where the filesystem allows, else copied in the kernel (`copy_file_range`) or read/written.
/// Returns the number of bytes of regular-file content copied (hard links counted once).
pub fn merge_copy(src: &Path, dst: &Path) -> io::Result<u64> {
    let src_fd = open_root(src)?;
    let src_st = stat_fd(&src_fd).map_err(|e| err(src, "stat", e))?;
    let dst_fd = open_or_create_root(dst)?;
    let dst_walk = dst_fd.try_clone().map_err(|e| io_err("", "dup", e))?;
    let mut c = Copier::new(src, &dst_fd)?;
    c.merge_root(src_fd, src_st, dst_walk)?;
    Ok(c.bytes())
}

/// Same result as [`merge_copy`], but consumes `src`: entries are renamed into `dst` where
/// possible (a directory absent from `dst` moves whole), falling back to copying across
/// filesystems. What remains of `src` afterwards (at most emptied directories, and its root,
/// which may be a mount point such as a dataset) is for the caller to discard.
pub fn merge_move(src: &Path, dst: &Path) -> io::Result<()> {
    let src_fd = open_root(src)?;
    let src_st = stat_fd(&src_fd).map_err(|e| err(src, "stat", e))?;
    match stat_at(CWD, dst) {
        Err(Errno::NOENT) => match std::fs::rename(src, dst) {
            Ok(()) => return Ok(()),
            // Another filesystem, or `src` is a mount point: move the contents instead.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EXDEV | libc::EBUSY)) => {}
            Err(e) => return Err(io_err("", "rename", e)),
        },
        Err(e) => return Err(errno("", "stat", e)),
        Ok(_) => {}
    }
    let dst_fd = open_or_create_root(dst)?;
    let dst_walk = dst_fd.try_clone().map_err(|e| io_err("", "dup", e))?;
    let mut c = Copier::new(src, &dst_fd)?;
    moving::move_root(&mut c, src_fd, src_st, dst_walk)
}

/// `rm -rf path` that never follows symlinks, empties read-only directories and refuses to
/// descend into a mount point (nor to remove `path` if it is one). A missing `path` is fine.
/// Errors name paths relative to `path`, which the caller names.
pub fn remove_tree(path: &Path) -> io::Result<()> {
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to remove a path without a final name",
        ));
    };
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let parent_fd = match openat(CWD, parent, dir_flags(), Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(errno("..", "open", e)),
    };
    let name = std::ffi::CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    remove::remove_top(parent_fd.as_fd(), &name)
}

/// Disk usage of the tree at `path` in bytes (allocated blocks, hard-linked inodes once),
/// not descending into mount points.
pub fn tree_size(path: &Path) -> io::Result<u64> {
    let st = sys::stat_usage_at(CWD, path).map_err(|e| errno("", "stat", e))?;
    let own = st.stx_blocks * 512;
    if file_type(&st) != FileType::Directory {
        return Ok(own);
    }
    let fd = open_root(path)?;
    let mut seen = HashSet::new();
    Ok(own + remove::size_below(fd, &mut seen)?)
}

/// Flags for opening a directory without following a symlink in its last component.
fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// Opens a caller-given root directory; only its last component must not be a symlink.
/// (A caller-given path is below `PATH_MAX`, or the caller could not have named it.)
fn open_root(path: &Path) -> io::Result<OwnedFd> {
    openat(CWD, path, dir_flags(), Mode::empty()).map_err(|e| err(path, "open directory", e))
}

/// Opens or makes the destination root; errors are the caller's to name.
fn open_or_create_root(path: &Path) -> io::Result<OwnedFd> {
    match mkdirat(CWD, path, Mode::from_raw_mode(0o700)) {
        Ok(()) | Err(Errno::EXIST) => openat(CWD, path, dir_flags(), Mode::empty())
            .map_err(|e| errno("", "open directory", e)),
        Err(e) => Err(errno("", "mkdir", e)),
    }
}

/// `(device, inode)` of a file, to recognise a directory when it is reopened.
fn id_of(st: &Stat) -> (u64, u64) {
    (dev_of(st), st.stx_ino)
}

/// Opens directory `parent/name` again for a walk that closed it, and checks it is still the
/// same directory (`id`): a tree changed under the walk fails rather than send it elsewhere.
fn reopen(parent: BorrowedFd<'_>, name: &CStr, id: (u64, u64)) -> rustix::io::Result<OwnedFd> {
    let fd = openat(parent, name, dir_flags(), Mode::empty())?;
    if id_of(&stat_fd(&fd)?) != id {
        return Err(Errno::STALE);
    }
    Ok(fd)
}

/// Opens the parent of the open directory `child` (its `..`, so no name is resolved again),
/// for a walk climbing back to a level whose fd it closed; checks it is that level (`id`).
fn reopen_parent(child: BorrowedFd<'_>, id: (u64, u64)) -> rustix::io::Result<OwnedFd> {
    reopen(child, c"..", id)
}

/// Index of the level whose fds a walk closes after pushing its `len`-th level, if any: the
/// one just leaving the window. The first level (the walk's own root) is never closed.
fn leaving_window(len: usize) -> Option<usize> {
    (len > FD_WINDOW + 1).then(|| len - FD_WINDOW - 1)
}

/// The path below a root being walked, for error messages and hard-link bookkeeping.
#[derive(Default, Clone)]
struct Trail {
    rel: Vec<u8>,
}

impl Trail {
    /// Descends into `name`; returns the length to [`Trail::pop`] back to.
    fn push(&mut self, name: &CStr) -> usize {
        let len = self.rel.len();
        if len > 0 {
            self.rel.push(b'/');
        }
        self.rel.extend_from_slice(name.to_bytes());
        len
    }

    fn pop(&mut self, len: usize) {
        self.rel.truncate(len);
    }

    fn rel(&self) -> &[u8] {
        &self.rel
    }

    /// `<current>/name` relative to the root being walked, shortened, for messages; empty for
    /// the root itself.
    fn show(&self, name: Option<&CStr>) -> String {
        let mut rel = self.rel.clone();
        if let Some(name) = name {
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(name.to_bytes());
        }
        show_rel(&rel)
    }

    /// `root/<current>/name` for messages, the part below `root` shortened.
    fn path(&self, root: &Path, name: Option<&CStr>) -> String {
        let rel = self.show(name);
        match rel.is_empty() {
            true => root.display().to_string(),
            false => format!("{}/{rel}", root.display()),
        }
    }
}

/// A relative path for messages: in full if short, else its first and last two components and
/// its depth, so a hostile tree cannot make a message kilobytes long.
fn show_rel(rel: &[u8]) -> String {
    let comps: Vec<&[u8]> = rel
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    let text = |c: &[&[u8]]| String::from_utf8_lossy(&c.join(&b'/')).into_owned();
    if comps.len() <= SHOW_COMPONENTS && rel.len() <= 1024 {
        return text(&comps);
    }
    format!(
        "{} ({} levels deep)",
        abbreviate(&comps, usize::MAX),
        comps.len()
    )
}

/// The first and last two of `comps` joined with `/` (`…` between them), each cut after
/// `max_chars` characters: how messages show a path a hostile tree or archive made long.
pub fn abbreviate(comps: &[&[u8]], max_chars: usize) -> String {
    let text = |c: &[&[u8]]| {
        let s = String::from_utf8_lossy(&c.join(&b'/')).into_owned();
        match s.char_indices().nth(max_chars) {
            Some((i, _)) => format!("{}…", &s[..i]),
            None => s,
        }
    };
    let n = comps.len();
    let head = n.min(2);
    let tail = n.saturating_sub(2).max(head);
    let mut s = text(&comps[..head]);
    if tail < n {
        s.push_str(if tail > head { "/…/" } else { "/" });
        s.push_str(&text(&comps[tail..]));
    }
    s
}

/// An error at `place` (a [`Trail::show`] or [`Trail::path`] string; empty for the root the
/// caller names).
fn errno(place: &str, op: &str, e: Errno) -> io::Error {
    io_err(place, op, io::Error::from(e))
}

fn io_err(place: &str, op: &str, e: io::Error) -> io::Error {
    match place.is_empty() {
        true => io::Error::new(e.kind(), format!("{op}: {e}")),
        false => io::Error::new(e.kind(), format!("{place}: {op}: {e}")),
    }
}

/// An error on a caller-given path.
fn err(path: &Path, op: &str, e: Errno) -> io::Error {
    errno(&path.display().to_string(), op, e)
}

/// The names in a directory (without `.` and `..`), read in full before the caller changes it,
/// and consumed one at a time. Walks keep one per open directory instead of recursing, so a
/// deep tree costs heap and fds, never stack.
struct Listing {
    names: Vec<u8>,
    entries: Vec<(usize, FileType)>,
    next: usize,
}

impl Listing {
    fn read(dir: BorrowedFd<'_>, buf: &mut [MaybeUninit<u8>]) -> rustix::io::Result<Self> {
        let mut list = Listing {
            names: Vec::new(),
            entries: Vec::new(),
            next: 0,
        };
        sys::read_dir(dir, buf, |name, ty| {
            let name = name.to_bytes_with_nul();
            if name != b".\0" && name != b"..\0" {
                list.entries.push((list.names.len(), ty));
                list.names.extend_from_slice(name);
            }
        })?;
        Ok(list)
    }

    fn next_entry(&mut self) -> Option<(&CStr, FileType)> {
        let &(start, ty) = self.entries.get(self.next)?;
        self.next += 1;
        let name = CStr::from_bytes_until_nul(&self.names[start..])
            .expect("listing names are NUL-terminated");
        Some((name, ty))
    }
}

/// The type of `dir/name`, from its directory entry unless the filesystem left that out.
fn entry_type(dir: BorrowedFd<'_>, name: &CStr, ty: FileType) -> rustix::io::Result<FileType> {
    match ty {
        FileType::Unknown => Ok(file_type(&stat_at(dir, name)?)),
        ty => Ok(ty),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn listing_reads_large_directories_in_full() {
        let dir = tempfile::tempdir().unwrap();
        // Well over one 64 KiB getdents buffer.
        for i in 0..3000 {
            fs::write(dir.path().join(format!("{i:0>60}")), b"").unwrap();
        }
        fs::create_dir(dir.path().join("sub")).unwrap();
        let fd = open_root(dir.path()).unwrap();
        let mut list = Listing::read(fd.as_fd(), &mut dir_buf()).unwrap();
        let mut names = HashSet::new();
        while let Some((name, ty)) = list.next_entry() {
            assert_eq!(ty == FileType::Directory, name == c"sub");
            names.insert(name.to_bytes().to_vec());
        }
        assert_eq!(names.len(), 3001);
        assert!(!names.contains(&b"."[..]) && !names.contains(&b".."[..]));
    }

    #[test]
    fn trail_builds_relative_paths() {
        let mut t = Trail::default();
        let a = t.push(c"a");
        let b = t.push(c"b");
        assert_eq!(t.rel(), b"a/b");
        assert_eq!(t.path(Path::new("/r"), Some(c"c")), "/r/a/b/c");
        assert_eq!(t.show(Some(c"c")), "a/b/c");
        t.pop(b);
        assert_eq!(t.rel(), b"a");
        t.pop(a);
        assert_eq!(t.path(Path::new("/r"), None), "/r");
        assert_eq!(t.show(None), "");
    }

    #[test]
    fn long_paths_are_shown_shortened() {
        let mut t = Trail::default();
        for i in 0..2000 {
            t.push(&std::ffi::CString::new(format!("d{i}")).unwrap());
        }
        let shown = t.show(Some(c"leaf"));
        assert_eq!(shown, "d0/d1/…/d1999/leaf (2001 levels deep)");
        assert_eq!(show_rel(b"a/b/c"), "a/b/c");
        let long = [&[b'x'; 255][..]; 5].join(&b'/');
        assert!(show_rel(&long).ends_with("(5 levels deep)"));
    }

    #[test]
    fn walk_stays_on_real_directories() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("a/b")).unwrap();
        symlink("a", dir.path().join("link")).unwrap();
        let root = open_root(dir.path()).unwrap();
        let same = |fd: &OwnedFd, p: &Path| {
            let (x, y) = (stat_fd(fd).unwrap(), stat_at(CWD, p).unwrap());
            x.stx_ino == y.stx_ino
        };
        assert!(same(&copy::walk(root.as_fd(), b"").unwrap(), dir.path()));
        assert!(same(
            &copy::walk(root.as_fd(), b"a/b").unwrap(),
            &dir.path().join("a/b")
        ));
        assert!(copy::walk(root.as_fd(), b"link/b").is_err());
    }
}

/// Opens the directory `rel` below `root` without following a symlink at any component;
/// `None` if it is not there or is not a directory (a symlink or a file on the way).
fn open_below(root: &Path, rel: &[&std::ffi::OsStr]) -> io::Result<Option<OwnedFd>> {
    let mut fd = open_root(root)?;
    for (i, c) in rel.iter().enumerate() {
        match openat(&fd, *c, dir_flags(), Mode::empty()) {
            Ok(next) => fd = next,
            Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => return Ok(None),
            Err(e) => {
                let at: std::path::PathBuf = rel[..=i].iter().collect();
                return Err(errno(&at.display().to_string(), "open", e));
            }
        }
    }
    Ok(Some(fd))
}

/// A layer's whiteout: removes `rel` (and all below it) from the tree at `root`. Parents are
/// resolved without following symlinks; a path that is not there, or that passes through a
/// non-directory, has nothing to hide.
pub fn remove_below(root: &Path, rel: &[&std::ffi::OsStr]) -> io::Result<()> {
    let Some((name, dir)) = rel.split_last() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "refusing to remove the root of the tree",
        ));
    };
    let Some(parent) = open_below(root, dir)? else {
        return Ok(());
    };
    let name = std::ffi::CString::new(name.as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    match remove::remove_top(parent.as_fd(), &name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        r => r,
    }
}

/// A layer's opaque directory: removes everything inside the directory `rel` below `root`
/// (the directory stays), resolved as [`remove_below`] does.
pub fn empty_below(root: &Path, rel: &[&std::ffi::OsStr]) -> io::Result<()> {
    let Some(dir) = open_below(root, rel)? else {
        return Ok(());
    };
    let mut names = Vec::new();
    let listing = dir.try_clone().map_err(|e| io_err("", "dup", e))?;
    for entry in rustix::fs::Dir::read_from(&listing).map_err(|e| errno("", "read directory", e))? {
        let entry = entry.map_err(|e| errno("", "read directory", e))?;
        let n = entry.file_name();
        if n != c"." && n != c".." {
            names.push(n.to_owned());
        }
    }
    for n in names {
        remove::remove_top(dir.as_fd(), &n)?;
    }
    Ok(())
}

#[cfg(test)]
mod whiteout_tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn whiteouts_remove_inside_the_tree_only() {
        let t = tempfile::tempdir().unwrap();
        let (root, outside) = (t.path().join("root"), t.path().join("outside"));
        for d in ["a/b/c", "opq/x", "keep"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("canary"), "x").unwrap();
        std::fs::write(root.join("a/b/c/f"), "x").unwrap();
        std::fs::write(root.join("opq/x/f"), "x").unwrap();
        std::fs::write(root.join("opq/g"), "x").unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();
        let p = |s: &'static str| s.split('/').map(OsStr::new).collect::<Vec<_>>();

        remove_below(&root, &p("a/b")).unwrap();
        assert!(root.join("a").is_dir() && !root.join("a/b").exists());
        empty_below(&root, &p("opq")).unwrap();
        assert!(root.join("opq").is_dir());
        assert_eq!(std::fs::read_dir(root.join("opq")).unwrap().count(), 0);
        // Through a symlink: nothing outside is touched.
        remove_below(&root, &p("link/canary")).unwrap();
        empty_below(&root, &p("link")).unwrap();
        assert!(outside.join("canary").exists());
        // The symlink itself can be whited out; missing paths are fine.
        remove_below(&root, &p("link")).unwrap();
        assert!(!root.join("link").exists() && outside.join("canary").exists());
        remove_below(&root, &p("no/such")).unwrap();
        empty_below(&root, &p("keep/none")).unwrap();
        assert!(remove_below(&root, &[]).is_err());
    }
}
