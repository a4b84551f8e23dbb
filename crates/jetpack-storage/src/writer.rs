//! Writes archive entries into a tree without ever following a symlink.
//!
//! Every path is resolved component by component from directory file descriptors opened with
//! `O_NOFOLLOW | O_DIRECTORY`, so an entry cannot reach outside the tree through a symlink that
//! an earlier entry planted. The descriptors of the current directory chain are cached: archives
//! list entries depth-first, so consecutive entries share most of their parents and each entry
//! costs one `openat` of its own instead of one per path component.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{
    AtFlags, FileType, Gid, Mode, OFlags, Timespec, Timestamps, Uid, chownat, fchmod, fchown,
    futimens, linkat, makedev, mkdirat, mknodat, openat, symlinkat, utimensat,
};

use crate::sys::{self, Node};

/// Extended attributes overlayfs interprets on its layers.
const OVERLAY_XATTRS: &[u8] = b"trusted.overlay.";

/// Metadata of an entry, applied after its content.
#[derive(Debug, Clone, Default)]
pub struct Meta {
    /// Permission bits including setuid, setgid and sticky.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Modification time, seconds since the epoch.
    pub mtime: i64,
    pub xattrs: Vec<(OsString, Vec<u8>)>,
}

/// Kinds of special files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    Char { major: u32, minor: u32 },
    Block { major: u32, minor: u32 },
    Fifo,
}

/// Creates entries under `root`. Paths are given as lists of components (no `.`, `..` or `/`).
pub struct TreeWriter {
    root: PathBuf,
    root_fd: OwnedFd,
    /// Open directories of the current chain below the root: (component, fd).
    chain: Vec<(OsString, OwnedFd)>,
    /// Directory mtimes, applied last because creating children changes them.
    dir_times: Vec<(Vec<OsString>, i64)>,
    buf: Vec<u8>,
    /// Extended attributes the filesystem refused as unsupported (e.g. `user.*` on zfs-fuse).
    pub skipped_xattrs: u64,
}

fn ctx(path: &[&OsStr], what: &str, e: io::Error) -> io::Error {
    let joined: PathBuf = path.iter().collect();
    io::Error::new(e.kind(), format!("{what} {}: {e}", joined.display()))
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

impl TreeWriter {
    /// Opens an existing directory as the root of the tree.
    pub fn open(root: &Path) -> io::Result<TreeWriter> {
        let root_fd = openat(rustix::fs::CWD, root, dir_flags(), Mode::empty()).map_err(|e| {
            io::Error::new(
                io::Error::from(e).kind(),
                format!("{}: {e}", root.display()),
            )
        })?;
        Ok(TreeWriter {
            root: root.to_path_buf(),
            root_fd,
            chain: Vec::new(),
            dir_times: Vec::new(),
            buf: vec![0; 256 * 1024],
            skipped_xattrs: 0,
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Makes the chain match `parents`, creating missing directories (mode 0755, root-owned, as
    /// tar does for parents an archive does not list).
    fn enter(&mut self, parents: &[&OsStr]) -> io::Result<()> {
        let common = self
            .chain
            .iter()
            .zip(parents)
            .take_while(|((have, _), want)| have.as_os_str() == **want)
            .count();
        self.chain.truncate(common);
        for i in common..parents.len() {
            let name = parents[i];
            let parent = self
                .chain
                .last()
                .map(|(_, fd)| fd.as_fd())
                .unwrap_or(self.root_fd.as_fd());
            let fd = match openat(parent, name, dir_flags(), Mode::empty()) {
                Ok(fd) => fd,
                Err(rustix::io::Errno::NOENT) => {
                    mkdirat(parent, name, Mode::from_raw_mode(0o755))
                        .map_err(|e| ctx(&parents[..=i], "create directory", e.into()))?;
                    openat(parent, name, dir_flags(), Mode::empty())
                        .map_err(|e| ctx(&parents[..=i], "open directory", e.into()))?
                }
                Err(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR) => {
                    return Err(ctx(
                        &parents[..=i],
                        "refusing to write through",
                        io::Error::new(
                            io::ErrorKind::InvalidInput,
                            "not a directory (a symlink or a file)",
                        ),
                    ));
                }
                Err(e) => return Err(ctx(&parents[..=i], "open directory", e.into())),
            };
            self.chain.push((name.to_os_string(), fd));
        }
        Ok(())
    }

    fn parent_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.chain
            .last()
            .map(|(_, fd)| fd.as_fd())
            .unwrap_or(self.root_fd.as_fd())
    }

    fn split<'a>(path: &'a [&'a OsStr]) -> io::Result<(&'a [&'a OsStr], &'a OsStr)> {
        match path.split_last() {
            Some((name, parents)) => Ok((parents, name)),
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "empty path")),
        }
    }

    /// Creates (or, if it already exists as a directory, updates) a directory. An empty path
    /// means the root itself.
    pub fn dir(&mut self, path: &[&OsStr], meta: &Meta) -> io::Result<()> {
        let fd = self.open_dir(path, 0o700)?;
        self.apply_fd(&fd, path, meta)?;
        self.dir_times
            .push((path.iter().map(|c| c.to_os_string()).collect(), meta.mtime));
        Ok(())
    }

    /// Creates a regular file with the content read from `content`; returns its size.
    pub fn file(
        &mut self,
        path: &[&OsStr],
        meta: &Meta,
        content: &mut dyn Read,
    ) -> io::Result<u64> {
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = openat(self.parent_fd(), name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| ctx(path, "create file", e.into()))?;
        let mut file = std::fs::File::from(fd);
        let mut total = 0u64;
        loop {
            let n = match content.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            file.write_all(&self.buf[..n])
                .map_err(|e| ctx(path, "write", e))?;
            total += n as u64;
        }
        let fd = OwnedFd::from(file);
        self.apply_fd(&fd, path, meta)?;
        futimens(&fd, &times(meta.mtime)).map_err(|e| ctx(path, "set times of", e.into()))?;
        Ok(total)
    }

    /// Creates a symlink. The target is stored as given: it is only ever interpreted inside the
    /// container, never by Jetpack.
    pub fn symlink(&mut self, path: &[&OsStr], target: &OsStr, meta: &Meta) -> io::Result<()> {
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        let parent = self.parent_fd();
        symlinkat(target, parent, name).map_err(|e| ctx(path, "create symlink", e.into()))?;
        chownat(
            parent,
            name,
            Some(uid(meta.uid)),
            Some(gid(meta.gid)),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ctx(path, "chown", e.into()))?;
        if !meta.xattrs.is_empty() {
            // No *at variant for xattrs on a symlink; the parents were just resolved without
            // following symlinks, and the tree is private to this writer.
            let full: PathBuf = std::iter::once(self.root.as_os_str())
                .chain(path.iter().copied())
                .collect();
            self.set_xattrs(Node::Link(&full), path, meta)?;
        }
        utimensat(
            self.parent_fd(),
            name,
            &times(meta.mtime),
            AtFlags::SYMLINK_NOFOLLOW,
        )
        .map_err(|e| ctx(path, "set times of", e.into()))
    }

    /// Creates a hard link at `path` to the existing entry `target` of the same tree.
    pub fn hardlink(&mut self, path: &[&OsStr], target: &[&OsStr]) -> io::Result<()> {
        let (tparents, tname) = Self::split(target)?;
        let tdir = self.resolve_dir(tparents)?;
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        linkat(&tdir, tname, self.parent_fd(), name, AtFlags::empty())
            .map_err(|e| ctx(path, "create hard link", e.into()))
    }

    /// Creates a device node or FIFO.
    pub fn special(&mut self, path: &[&OsStr], kind: Special, meta: &Meta) -> io::Result<()> {
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        let (ft, dev) = match kind {
            Special::Char { major, minor } => (FileType::CharacterDevice, makedev(major, minor)),
            Special::Block { major, minor } => (FileType::BlockDevice, makedev(major, minor)),
            Special::Fifo => (FileType::Fifo, 0),
        };
        let parent = self.parent_fd();
        mknodat(parent, name, ft, Mode::from_raw_mode(0o600), dev)
            .map_err(|e| ctx(path, "create special file", e.into()))?;
        // Open with O_PATH to apply metadata without opening a FIFO for reading (which blocks).
        let fd = openat(
            parent,
            name,
            OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ctx(path, "open", e.into()))?;
        chownat(
            &fd,
            "",
            Some(uid(meta.uid)),
            Some(gid(meta.gid)),
            AtFlags::EMPTY_PATH,
        )
        .map_err(|e| ctx(path, "chown", e.into()))?;
        // fchmod does not work on O_PATH descriptors; chmodat on the parent does (never follows
        // here because mknod just created a non-symlink with this name).
        rustix::fs::chmodat(parent, name, sys::mode(meta.mode), AtFlags::empty())
            .map_err(|e| ctx(path, "chmod", e.into()))?;
        utimensat(parent, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| ctx(path, "set times of", e.into()))
    }

    /// Makes `path` an overlayfs whiteout (a 0/0 character device): in a layer stacked on
    /// others, it hides what the layers below have at that path.
    pub fn whiteout(&mut self, path: &[&OsStr]) -> io::Result<()> {
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        match mknodat(
            self.parent_fd(),
            name,
            FileType::CharacterDevice,
            Mode::empty(),
            makedev(0, 0),
        ) {
            // The layer itself put an entry there: it shows, and what was below stays hidden.
            Ok(()) | Err(rustix::io::Errno::EXIST) => Ok(()),
            Err(e) => Err(ctx(path, "create whiteout", e.into())),
        }
    }

    /// Marks directory `path` (created if the layer did not list it) opaque for overlayfs: the
    /// layers below contribute nothing to it.
    pub fn opaque(&mut self, path: &[&OsStr]) -> io::Result<()> {
        let fd = self.open_dir(path, 0o755)?;
        sys::set_xattr(Node::Fd(fd.as_fd()), "trusted.overlay.opaque", b"y")
            .map_err(|e| ctx(path, "mark opaque", e.into()))
    }

    /// Opens directory `path` (the root if empty), creating it with `mode` if it is missing.
    fn open_dir(&mut self, path: &[&OsStr], mode: u32) -> io::Result<OwnedFd> {
        if path.is_empty() {
            return self.root_fd.try_clone();
        }
        let (parents, name) = Self::split(path)?;
        self.enter(parents)?;
        let parent = self.parent_fd();
        match mkdirat(parent, name, sys::mode(mode)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(ctx(path, "create directory", e.into())),
        }
        openat(parent, name, dir_flags(), Mode::empty())
            .map_err(|e| ctx(path, "open directory", e.into()))
    }

    /// Opens the directory `parents` without creating anything (for hard-link targets).
    fn resolve_dir(&self, parents: &[&OsStr]) -> io::Result<OwnedFd> {
        let mut fd = self.root_fd.try_clone()?;
        for (i, c) in parents.iter().enumerate() {
            fd = openat(&fd, *c, dir_flags(), Mode::empty())
                .map_err(|e| ctx(&parents[..=i], "open directory", e.into()))?;
        }
        Ok(fd)
    }

    /// Owner, then mode (chown clears setuid bits), then xattrs (chown clears
    /// security.capability).
    fn apply_fd(&mut self, fd: &OwnedFd, path: &[&OsStr], meta: &Meta) -> io::Result<()> {
        fchown(fd, Some(uid(meta.uid)), Some(gid(meta.gid)))
            .map_err(|e| ctx(path, "chown", e.into()))?;
        fchmod(fd, sys::mode(meta.mode)).map_err(|e| ctx(path, "chmod", e.into()))?;
        self.set_xattrs(Node::Fd(fd.as_fd()), path, meta)
    }

    /// Sets the xattrs of `meta` on `node` (at `path`); those the filesystem or the system
    /// cannot store are counted in [`TreeWriter::skipped_xattrs`].
    fn set_xattrs(&mut self, node: Node<'_>, path: &[&OsStr], meta: &Meta) -> io::Result<()> {
        let mut unstorable = Vec::new();
        for (k, v) in &meta.xattrs {
            // overlayfs reads these on its layers (whiteouts, opaque and redirected
            // directories, metacopy): only the store may set them, never an archive.
            if k.as_bytes().starts_with(OVERLAY_XATTRS) {
                self.skipped_xattrs += 1;
                continue;
            }
            // A namespace the system lacks (`security.*` and `trusted.*` on FreeBSD).
            if !sys::xattr_storable(k.as_bytes()) {
                self.skipped_xattrs += 1;
                unstorable.push(k.to_string_lossy());
                continue;
            }
            match sys::set_xattr(node, k.as_os_str(), v) {
                Err(rustix::io::Errno::NOTSUP) => self.skipped_xattrs += 1,
                r => r.map_err(|e| {
                    ctx(
                        path,
                        &format!("set xattr {} on", k.to_string_lossy()),
                        e.into(),
                    )
                })?,
            }
        }
        if !unstorable.is_empty() {
            let file: PathBuf = path.iter().collect();
            tracing::warn!(
                "{}: extended attributes this system cannot store were skipped: {}",
                file.display(),
                unstorable.join(", ")
            );
        }
        Ok(())
    }

    /// Applies directory mtimes, deepest first. Consumes the writer.
    pub fn finish(mut self) -> io::Result<()> {
        self.chain.clear();
        self.dir_times
            .sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
        for (path, mtime) in &self.dir_times {
            let comps: Vec<&OsStr> = path.iter().map(|c| c.as_os_str()).collect();
            let fd = self.resolve_dir(&comps)?;
            futimens(&fd, &times(*mtime)).map_err(|e| ctx(&comps, "set times of", e.into()))?;
        }
        Ok(())
    }
}

fn uid(raw: u32) -> Uid {
    Uid::from_raw_unchecked(raw)
}

fn gid(raw: u32) -> Gid {
    Gid::from_raw_unchecked(raw)
}

fn times(mtime: i64) -> Timestamps {
    let t = Timespec {
        tv_sec: mtime,
        tv_nsec: 0,
    };
    Timestamps {
        last_access: t,
        last_modification: t,
    }
}

/// Splits a relative path into components, for callers holding a `Path`.
pub fn components(path: &Path) -> Vec<&OsStr> {
    path.as_os_str()
        .as_bytes()
        .split(|b| *b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(OsStr::from_bytes)
        .collect()
}
