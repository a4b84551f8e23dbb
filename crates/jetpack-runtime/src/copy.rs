//! `cp` between the host and an app's rootfs. The pod's side is untrusted (a running app may
//! change it during the copy), so every step goes through directory descriptors:
//!
//! - A path in the pod resolves one component at a time from the rootfs, following the pod's
//!   symlinks as the app would see them (an absolute target starts again at the rootfs): `..`
//!   and symlinks that would climb above the rootfs are refused, not clamped, so a mistaken or
//!   hostile path is an error rather than a copy somewhere unexpected. No magic link of `/proc`
//!   is ever followed (the rootfs on the host holds none, and nothing is resolved by the kernel
//!   with symlinks allowed).
//! - Below the named path nothing is followed: every entry is opened `O_NOFOLLOW` relative to
//!   its parent's descriptor, symlinks are copied as symlinks, and a directory swapped for a
//!   symlink meanwhile fails to open instead of leading elsewhere. The same holds for what is
//!   written on the host when copying out: only under the destination, never through a symlink.
//! - Files are opened `O_NONBLOCK | O_NOCTTY` and checked to be regular files, so a FIFO or
//!   device in the pod never blocks or reads a host device. Devices, FIFOs and sockets are
//!   refused.
//!
//! Modes, owners (copying in; out of a pod, files belong to the caller) and modification times
//! are kept; hard links become separate files; xattrs are not copied.

use std::ffi::{OsStr, OsString};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Gid, Mode, OFlags, Stat, Timestamps, Uid};
use rustix::io::Errno;

use crate::error::{Error, Result};

/// Symlinks followed in one resolution, as the kernel's `MAXSYMLINKS`.
const MAX_LINKS: usize = 40;
/// Directory levels copied (each holds two descriptors while it is copied).
const MAX_DEPTH: usize = 256;

/// What was copied.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Copied {
    pub files: u64,
    pub dirs: u64,
    pub links: u64,
    pub bytes: u64,
}

/// Copies host `src` (a file, directory or symlink, not followed) into the rootfs at `dst` (a
/// path in the pod): into `dst` if it is a directory, else as `dst` (replacing a file there).
/// Owners are kept as the pod sees them: `id_shift` is added to ids below 65,536 for a rootfs
/// that holds the host ids of a user namespace (ids beyond its range become its nobody).
pub fn copy_in(rootfs: &Path, src: &Path, dst: &str, id_shift: u32) -> Result<Copied> {
    let (src_dir, src_name) = host_parent(src)?;
    let root = open_dir_path(rootfs).map_err(|e| os(&rootfs.display().to_string(), e))?;
    let target = resolve(&root, dst)?;
    let (dir, name) = match target {
        Target::Dir(d) => (d, src_name.clone()),
        Target::Name(d, n) => (d, n),
    };
    let mut c = Copier {
        keep_owner: true,
        id_shift,
        done: Copied::default(),
    };
    c.node(src_dir.as_fd(), &src_name, dir.as_fd(), &name, 0)
        .map_err(|e| Error::Copy(format!("copying {} into {dst}: {e}", src.display())))?;
    Ok(c.done)
}

/// Copies `src` (a path in the pod) to host `dst`: into `dst` if it is a directory, else as
/// `dst`. Nothing on the host is read, and nothing is written outside `dst`.
pub fn copy_out(rootfs: &Path, src: &str, dst: &Path) -> Result<Copied> {
    let root = open_dir_path(rootfs).map_err(|e| os(&rootfs.display().to_string(), e))?;
    let (src_dir, src_name) = match resolve(&root, src)? {
        Target::Name(d, n) => (d, n),
        // The rootfs itself, or a path that ends in `..`: copied as a directory named so.
        Target::Dir(d) => (d, OsString::from(".")),
    };
    if statat(src_dir.as_fd(), &src_name).is_err() {
        return Err(Error::Copy(format!("{src}: no such file in the pod")));
    }
    let (dir, name) = match std::fs::metadata(dst) {
        Ok(m) if m.is_dir() => {
            let name = if src_name == "." {
                OsString::from(Path::new(src).file_name().unwrap_or(OsStr::new("rootfs")))
            } else {
                src_name.clone()
            };
            (
                open_dir_path(dst).map_err(|e| os(&dst.display().to_string(), e))?,
                name,
            )
        }
        _ => host_parent(dst)?,
    };
    let mut c = Copier {
        keep_owner: false,
        id_shift: 0,
        done: Copied::default(),
    };
    c.node(src_dir.as_fd(), &src_name, dir.as_fd(), &name, 0)
        .map_err(|e| Error::Copy(format!("copying {src} to {}: {e}", dst.display())))?;
    Ok(c.done)
}

fn os(what: &str, e: Errno) -> Error {
    Error::os(what.to_string(), e.into())
}

/// The directory holding host path `p`, and its last name.
fn host_parent(p: &Path) -> Result<(OwnedFd, OsString)> {
    let name = p.file_name().filter(|n| *n != "..").ok_or_else(|| {
        Error::Copy(format!(
            "{}: a path that ends with a name is needed",
            p.display()
        ))
    })?;
    let parent = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let fd = open_dir_path(parent).map_err(|e| os(&parent.display().to_string(), e))?;
    Ok((fd, name.to_os_string()))
}

fn open_dir_path(p: &Path) -> std::result::Result<OwnedFd, Errno> {
    rustix::fs::open(
        p,
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
}

/// Where a path in the pod leads.
enum Target {
    /// An existing directory (the rootfs itself for `/`).
    Dir(OwnedFd),
    /// A name in a directory: not there yet, or not a directory (never a symlink followed).
    Name(OwnedFd, OsString),
}

/// Resolves `path` in the pod, following symlinks as the app would (the last one included),
/// refusing any step above the rootfs.
fn resolve(root: &OwnedFd, path: &str) -> Result<Target> {
    let climbs = |how: &str| {
        Error::Copy(format!(
            "{path}: {how} above the app's root; refused (paths in the pod stay in the pod)"
        ))
    };
    let mut todo: Vec<Vec<u8>> = comps(path.as_bytes());
    todo.reverse();
    let dup = |fd: &OwnedFd| rustix::io::fcntl_dupfd_cloexec(fd, 0);
    let mut stack = vec![dup(root).map_err(|e| os("dup", e))?];
    let mut links = 0;
    let mut via_link = false;
    while let Some(c) = todo.pop() {
        let top = stack.last().expect("the root stays");
        match c.as_slice() {
            b"." => continue,
            b".." => {
                if stack.len() == 1 {
                    return Err(climbs(if via_link {
                        "a symlink in the pod leads"
                    } else {
                        "`..` leads"
                    }));
                }
                stack.pop();
                continue;
            }
            _ => {}
        }
        let name = OsString::from_vec(c);
        let st = match statat(top.as_fd(), &name) {
            Ok(st) => st,
            Err(Errno::NOENT) if todo.is_empty() => {
                let fd = dup(top).map_err(|e| os("dup", e))?;
                return Ok(Target::Name(fd, name));
            }
            Err(e) => {
                return Err(Error::Copy(format!(
                    "{path}: {} in the pod: {}",
                    name.to_string_lossy(),
                    crate::errno_text(&e.into())
                )));
            }
        };
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(Error::Copy(format!("{path}: too many levels of symlinks")));
                }
                let target = rustix::fs::readlinkat(top, &*name, Vec::new())
                    .map_err(|e| os(&name.to_string_lossy(), e))?;
                let bytes = target.as_bytes();
                if bytes.starts_with(b"/") {
                    stack.truncate(1);
                }
                let mut more = comps(bytes);
                more.reverse();
                todo.extend(more);
                via_link = true;
            }
            FileType::Directory => {
                let fd = rustix::fs::openat(
                    top,
                    &*name,
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| os(&name.to_string_lossy(), e))?;
                stack.push(fd);
            }
            _ if todo.is_empty() => {
                let fd = dup(top).map_err(|e| os("dup", e))?;
                return Ok(Target::Name(fd, name));
            }
            _ => {
                return Err(Error::Copy(format!(
                    "{path}: {} in the pod is not a directory",
                    name.to_string_lossy()
                )));
            }
        }
    }
    Ok(Target::Dir(stack.pop().expect("the root stays")))
}

fn comps(p: &[u8]) -> Vec<Vec<u8>> {
    p.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

fn statat(dir: BorrowedFd, name: &OsStr) -> std::result::Result<Stat, Errno> {
    rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
}

struct Copier {
    keep_owner: bool,
    id_shift: u32,
    done: Copied,
}

type Step = std::result::Result<(), String>;

impl Copier {
    /// Copies `src_dir/src_name` (never followed) to `dst_dir/dst_name`.
    fn node(
        &mut self,
        src_dir: BorrowedFd,
        src_name: &OsStr,
        dst_dir: BorrowedFd,
        dst_name: &OsStr,
        depth: usize,
    ) -> Step {
        let show = |e: Errno| {
            format!(
                "{}: {}",
                dst_name.to_string_lossy(),
                crate::errno_text(&e.into())
            )
        };
        let st = statat(src_dir, src_name).map_err(show)?;
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => self.dir(src_dir, src_name, dst_dir, dst_name, &st, depth),
            FileType::RegularFile => self.file(src_dir, src_name, dst_dir, dst_name, &st),
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(src_dir, src_name, Vec::new()).map_err(show)?;
                replace_non_dir(dst_dir, dst_name)?;
                rustix::fs::symlinkat(target.as_c_str(), dst_dir, dst_name).map_err(show)?;
                if self.keep_owner {
                    let (u, g) = self.ids(&st);
                    rustix::fs::chownat(dst_dir, dst_name, u, g, AtFlags::SYMLINK_NOFOLLOW)
                        .map_err(show)?;
                }
                self.done.links += 1;
                Ok(())
            }
            other => Err(format!(
                "{}: a {other:?} is not copied (only files, directories and symlinks)",
                src_name.to_string_lossy()
            )),
        }
    }

    fn file(
        &mut self,
        src_dir: BorrowedFd,
        src_name: &OsStr,
        dst_dir: BorrowedFd,
        dst_name: &OsStr,
        st: &Stat,
    ) -> Step {
        let show = |n: &OsStr, e: Errno| {
            format!("{}: {}", n.to_string_lossy(), crate::errno_text(&e.into()))
        };
        let flags =
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let src = rustix::fs::openat(src_dir, src_name, flags, Mode::empty())
            .map_err(|e| show(src_name, e))?;
        let now = rustix::fs::fstat(&src).map_err(|e| show(src_name, e))?;
        if FileType::from_raw_mode(now.st_mode) != FileType::RegularFile
            || (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino)
        {
            return Err(format!(
                "{}: changed while being copied",
                src_name.to_string_lossy()
            ));
        }
        replace_non_dir(dst_dir, dst_name)?;
        let wflags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let dst = rustix::fs::openat(dst_dir, dst_name, wflags, Mode::from_raw_mode(0o600))
            .map_err(|e| show(dst_name, e))?;
        let mut from = std::fs::File::from(src);
        let mut to = std::fs::File::from(dst);
        let n = std::io::copy(&mut from, &mut to)
            .map_err(|e| format!("{}: {}", src_name.to_string_lossy(), crate::errno_text(&e)))?;
        self.finish(to.as_fd(), st).map_err(|e| show(dst_name, e))?;
        self.done.files += 1;
        self.done.bytes += n;
        Ok(())
    }

    fn dir(
        &mut self,
        src_dir: BorrowedFd,
        src_name: &OsStr,
        dst_dir: BorrowedFd,
        dst_name: &OsStr,
        st: &Stat,
        depth: usize,
    ) -> Step {
        if depth >= MAX_DEPTH {
            return Err(format!("deeper than {MAX_DEPTH} directories; not copied"));
        }
        let show = |n: &OsStr, e: Errno| {
            format!("{}: {}", n.to_string_lossy(), crate::errno_text(&e.into()))
        };
        let dflags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let src = rustix::fs::openat(src_dir, src_name, dflags, Mode::empty())
            .map_err(|e| show(src_name, e))?;
        match rustix::fs::mkdirat(dst_dir, dst_name, Mode::from_raw_mode(0o700)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(show(dst_name, e)),
        }
        // An existing directory is merged into; anything else by that name is refused.
        let dst =
            rustix::fs::openat(dst_dir, dst_name, dflags, Mode::empty()).map_err(|e| match e {
                Errno::NOTDIR | Errno::LOOP => format!(
                    "{}: exists and is not a directory; not replaced",
                    dst_name.to_string_lossy()
                ),
                e => show(dst_name, e),
            })?;
        let mut names = Vec::new();
        let entries = rustix::fs::Dir::read_from(&src).map_err(|e| show(src_name, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| show(src_name, e))?;
            let n = entry.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(OsString::from_vec(n.to_vec()));
            }
        }
        names.sort();
        for n in &names {
            self.node(src.as_fd(), n, dst.as_fd(), n, depth + 1)
                .map_err(|e| format!("{}/{e}", dst_name.to_string_lossy()))?;
        }
        self.finish(dst.as_fd(), st)
            .map_err(|e| show(dst_name, e))?;
        self.done.dirs += 1;
        Ok(())
    }

    /// The owner of a copy of `st`, as the pod sees it.
    fn ids(&self, st: &Stat) -> (Option<Uid>, Option<Gid>) {
        let map = |id: u32| match self.id_shift {
            0 => id,
            shift if id < 1 << 16 => shift + id,
            shift => shift + 65534,
        };
        (
            (st.st_uid != u32::MAX).then(|| Uid::from_raw(map(st.st_uid))),
            (st.st_gid != u32::MAX).then(|| Gid::from_raw(map(st.st_gid))),
        )
    }

    /// Owner (copying in), mode (after the owner: a chown clears setuid bits) and times.
    fn finish(&self, fd: BorrowedFd, st: &Stat) -> std::result::Result<(), Errno> {
        if self.keep_owner {
            let (u, g) = self.ids(st);
            rustix::fs::fchown(fd, u, g)?;
        }
        rustix::fs::fchmod(fd, Mode::from_raw_mode(st.st_mode & 0o7777))?;
        let times = Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec as _,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec as _,
            },
        };
        rustix::fs::futimens(fd, &times)
    }
}

/// Removes `name` in `dir` unless it is a directory (or missing), so that what replaces it is
/// created anew and never written through a symlink.
fn replace_non_dir(dir: BorrowedFd, name: &OsStr) -> Step {
    match statat(dir, name) {
        Err(Errno::NOENT) => Ok(()),
        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => Err(format!(
            "{}: is a directory; not replaced by a file",
            name.to_string_lossy()
        )),
        Ok(_) => rustix::fs::unlinkat(dir, name, AtFlags::empty()).map_err(|e| {
            format!(
                "{}: {}",
                name.to_string_lossy(),
                crate::errno_text(&e.into())
            )
        }),
        Err(e) => Err(format!(
            "{}: {}",
            name.to_string_lossy(),
            crate::errno_text(&e.into())
        )),
    }
}
