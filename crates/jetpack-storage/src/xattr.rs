//! A node's extended attributes for callers outside this crate (the store's tar export), with
//! the same names on every system: Linux xattrs as they are, FreeBSD extattrs as `user.X` and
//! `system.X` (the names libarchive gives them).

use std::ffi::CStr;

pub use crate::sys::Node;

/// The error for a name that is gone (listed, then removed before it was read).
pub const NO_XATTR: rustix::io::Errno = crate::sys::NO_XATTR;

/// The NUL-separated names of `node`'s attributes into `buf`; 0 where the filesystem has none.
pub fn list(node: Node<'_>, buf: &mut [u8]) -> rustix::io::Result<usize> {
    crate::sys::list_xattrs(node, buf)
}

/// The value of `node`'s attribute `name` into `buf`.
pub fn get(node: Node<'_>, name: &CStr, buf: &mut [u8]) -> rustix::io::Result<usize> {
    crate::sys::get_xattr(node, name, buf)
}
