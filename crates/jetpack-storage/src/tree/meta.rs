//! Ownership, mode, extended attributes and times of copied nodes.

use std::ffi::CStr;

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, Gid, Mode, Uid, chmodat, chownat, fchmod, fchown, futimens, utimensat};
use rustix::io::Errno;

use crate::sys::{self, Node, Stat};

/// A failed step: what was attempted, and the error.
pub(super) type Fail = (String, Errno);

pub(super) fn op(what: &'static str) -> impl FnOnce(Errno) -> Fail {
    move |e| (what.to_owned(), e)
}

/// SELinux labels belong to the host policy: failing to copy or drop one is not fatal.
const SELINUX: &[u8] = b"security.selinux";

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
        let n = sys::list_xattrs(src, names).map_err(op("list xattrs"))?;
        for name in split_names(&names[..n]) {
            let len = match sys::get_xattr(src, name, value) {
                Ok(len) => len,
                Err(sys::NO_XATTR) => continue,
                Err(e) => return Err((format!("read xattr {name:?}"), e)),
            };
            match sys::set_xattr(dst, name, &value[..len]) {
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
        let m = sys::list_xattrs(dst, dst_names).map_err(op("list xattrs"))?;
        for name in split_names(&dst_names[..m]) {
            if name.to_bytes() == SELINUX || split_names(&names[..n]).any(|s| s == name) {
                continue;
            }
            match sys::remove_xattr(dst, name) {
                Ok(()) | Err(sys::NO_XATTR) => {}
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

fn owner(st: &Stat) -> (Option<Uid>, Option<Gid>) {
    // -1 means "leave unchanged" to chown; no real file carries it.
    let uid = (st.stx_uid != u32::MAX).then(|| Uid::from_raw(st.stx_uid));
    let gid = (st.stx_gid != u32::MAX).then(|| Gid::from_raw(st.stx_gid));
    (uid, gid)
}

fn mode(st: &Stat) -> Mode {
    sys::mode(u32::from(st.stx_mode))
}

/// Gives the open `dst` (file or directory) the metadata of `src`. The order matters: chown
/// clears setuid/setgid and `security.capability`, so xattrs and mode come after it; xattrs
/// precede the mode because without root, `user.*` xattrs need write permission; times last.
pub(super) fn apply_fd(
    x: &mut Xattrs,
    src: BorrowedFd<'_>,
    st: &Stat,
    dst: BorrowedFd<'_>,
    sync: bool,
) -> Result<(), Fail> {
    let (uid, gid) = owner(st);
    fchown(dst, uid, gid).map_err(op("chown"))?;
    x.copy(Node::Fd(src), Node::Fd(dst), sync)?;
    fchmod(dst, mode(st)).map_err(op("chmod"))?;
    futimens(dst, &sys::times(st)).map_err(op("set times"))
}

/// Gives `dst_dir/name` (a symlink, device or FIFO) the metadata of `src_dir/name`.
pub(super) fn apply_at(
    x: &mut Xattrs,
    src_dir: BorrowedFd<'_>,
    st: &Stat,
    dst_dir: BorrowedFd<'_>,
    name: &CStr,
    symlink: bool,
) -> Result<(), Fail> {
    let (uid, gid) = owner(st);
    chownat(dst_dir, name, uid, gid, AtFlags::SYMLINK_NOFOLLOW).map_err(op("chown"))?;
    x.copy(Node::At(src_dir, name), Node::At(dst_dir, name), false)?;
    if !symlink {
        // Linux cannot chmod without following, but this node was just created by us as a
        // non-symlink in a directory only we write to.
        chmodat(dst_dir, name, mode(st), AtFlags::empty()).map_err(op("chmod"))?;
    }
    utimensat(dst_dir, name, &sys::times(st), AtFlags::SYMLINK_NOFOLLOW).map_err(op("set times"))
}
