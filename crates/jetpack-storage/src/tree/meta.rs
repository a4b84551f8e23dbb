//! Ownership, mode, extended attributes and times of copied nodes.

use std::ffi::{CStr, CString};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::BorrowedFd;
use rustix::fs::{
    AtFlags, Gid, Mode, Statx, Timespec, Timestamps, Uid, XattrFlags, chmodat, chownat, fchmod,
    fchown, fgetxattr, flistxattr, fremovexattr, fsetxattr, futimens, lgetxattr, llistxattr,
    lremovexattr, lsetxattr, utimensat,
};
use rustix::io::Errno;

/// A failed step: what was attempted, and the error.
pub(super) type Fail = (String, Errno);

pub(super) fn op(what: &'static str) -> impl FnOnce(Errno) -> Fail {
    move |e| (what.to_owned(), e)
}

/// SELinux labels belong to the host policy: failing to copy or drop one is not fatal.
const SELINUX: &[u8] = b"security.selinux";

/// Where a node's xattrs are reached: an open fd, or a path for nodes that must not be opened
/// (symlinks, devices, FIFOs).
#[derive(Clone, Copy)]
pub(super) enum Node<'a> {
    Fd(BorrowedFd<'a>),
    Path(&'a CStr),
}

impl Node<'_> {
    fn list(self, buf: &mut [u8]) -> rustix::io::Result<usize> {
        let r = match self {
            Node::Fd(fd) => flistxattr(fd, buf),
            Node::Path(p) => llistxattr(p, buf),
        };
        match r {
            Err(Errno::NOTSUP) => Ok(0),
            Err(Errno::NOENT) if matches!(self, Node::Path(_)) => {
                static WARNED: AtomicBool = AtomicBool::new(false);
                if !WARNED.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        "/proc is not mounted: xattrs of symlinks and devices are not copied"
                    );
                }
                Ok(0)
            }
            r => r,
        }
    }

    fn get(self, name: &CStr, buf: &mut [u8]) -> rustix::io::Result<usize> {
        match self {
            Node::Fd(fd) => fgetxattr(fd, name, buf),
            Node::Path(p) => lgetxattr(p, name, buf),
        }
    }

    fn set(self, name: &CStr, value: &[u8]) -> rustix::io::Result<()> {
        match self {
            Node::Fd(fd) => fsetxattr(fd, name, value, XattrFlags::empty()),
            Node::Path(p) => lsetxattr(p, name, value, XattrFlags::empty()),
        }
    }

    fn remove(self, name: &CStr) -> rustix::io::Result<()> {
        match self {
            Node::Fd(fd) => fremovexattr(fd, name),
            Node::Path(p) => lremovexattr(p, name),
        }
    }
}

/// `/proc/self/fd/<dir>/<name>`: reaches `name` through the already-open `dir` without
/// re-resolving the tree, and the `l*xattr` calls do not follow `name` if it is a symlink.
/// (There is no `*xattrat` in rustix; Linux only gained those syscalls in 6.13.)
pub(super) fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> CString {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    CString::new(p).expect("a file name has no NUL")
}

/// Reusable buffers for xattr copies (Linux caps a name list and a value at 64 KiB each).
pub(super) struct Xattrs {
    names: Vec<u8>,
    dst_names: Vec<u8>,
    value: Vec<u8>,
}

impl Xattrs {
    pub(super) fn new() -> Self {
        const MAX: usize = 64 * 1024;
        Xattrs {
            names: vec![0; MAX],
            dst_names: vec![0; MAX],
            value: vec![0; MAX],
        }
    }

    /// Copies every xattr of `src` to `dst`. With `sync`, also removes those `dst` has and `src`
    /// lacks (a merged directory takes the upper layer's xattrs).
    pub(super) fn copy(&mut self, src: Node<'_>, dst: Node<'_>, sync: bool) -> Result<(), Fail> {
        let Xattrs {
            names,
            dst_names,
            value,
        } = self;
        let n = src.list(names).map_err(op("list xattrs"))?;
        for name in split_names(&names[..n]) {
            let len = match src.get(name, value) {
                Ok(len) => len,
                Err(Errno::NODATA) => continue,
                Err(e) => return Err((format!("read xattr {name:?}"), e)),
            };
            match dst.set(name, &value[..len]) {
                Ok(()) => {}
                Err(e) if name.to_bytes() == SELINUX => {
                    tracing::debug!("cannot copy {name:?}: {e}");
                }
                Err(e) => return Err((format!("write xattr {name:?}"), e)),
            }
        }
        if !sync {
            return Ok(());
        }
        let m = dst.list(dst_names).map_err(op("list xattrs"))?;
        for name in split_names(&dst_names[..m]) {
            if name.to_bytes() == SELINUX || split_names(&names[..n]).any(|s| s == name) {
                continue;
            }
            match dst.remove(name) {
                Ok(()) | Err(Errno::NODATA) => {}
                Err(e) => return Err((format!("remove xattr {name:?}"), e)),
            }
        }
        Ok(())
    }
}

fn split_names(list: &[u8]) -> impl Iterator<Item = &CStr> {
    let mut rest = list;
    std::iter::from_fn(move || {
        let name = CStr::from_bytes_until_nul(rest).ok()?;
        rest = &rest[name.to_bytes_with_nul().len()..];
        Some(name)
    })
    .filter(|n| !n.is_empty())
}

fn owner(st: &Statx) -> (Option<Uid>, Option<Gid>) {
    // -1 means "leave unchanged" to chown; no real file carries it.
    let uid = (st.stx_uid != u32::MAX).then(|| Uid::from_raw(st.stx_uid));
    let gid = (st.stx_gid != u32::MAX).then(|| Gid::from_raw(st.stx_gid));
    (uid, gid)
}

fn mode(st: &Statx) -> Mode {
    Mode::from_raw_mode(u32::from(st.stx_mode) & 0o7777)
}

fn times(st: &Statx) -> Timestamps {
    let ts = |t: &rustix::fs::StatxTimestamp| Timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec.into(),
    };
    Timestamps {
        last_access: ts(&st.stx_atime),
        last_modification: ts(&st.stx_mtime),
    }
}

/// Gives the open `dst` (file or directory) the metadata of `src`. The order matters: chown
/// clears setuid/setgid and `security.capability`, so xattrs and mode come after it; xattrs
/// precede the mode because without root, `user.*` xattrs need write permission; times last.
pub(super) fn apply_fd(
    x: &mut Xattrs,
    src: BorrowedFd<'_>,
    st: &Statx,
    dst: BorrowedFd<'_>,
    sync: bool,
) -> Result<(), Fail> {
    let (uid, gid) = owner(st);
    fchown(dst, uid, gid).map_err(op("chown"))?;
    x.copy(Node::Fd(src), Node::Fd(dst), sync)?;
    fchmod(dst, mode(st)).map_err(op("chmod"))?;
    futimens(dst, &times(st)).map_err(op("set times"))
}

/// Gives `dst_dir/name` (a symlink, device or FIFO) the metadata of `src_dir/name`.
pub(super) fn apply_at(
    x: &mut Xattrs,
    src_dir: BorrowedFd<'_>,
    st: &Statx,
    dst_dir: BorrowedFd<'_>,
    name: &CStr,
    symlink: bool,
) -> Result<(), Fail> {
    let (uid, gid) = owner(st);
    chownat(dst_dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(op("chown"))?;
    let src_path = proc_path(src_dir, name);
    let dst_path = proc_path(dst_dir, name);
    x.copy(Node::Path(&src_path), Node::Path(&dst_path), false)?;
    if !symlink {
        // Linux cannot chmod without following, but this node was just created by us as a
        // non-symlink in a directory only we write to.
        chmodat(dst_dir, name, mode(st), AtFlags::empty()).map_err(op("chmod"))?;
    }
    utimensat(dst_dir, name, &times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(op("set times"))
}
