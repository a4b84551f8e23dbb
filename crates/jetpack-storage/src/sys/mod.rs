//! The operating system calls the tree code, the writer and the mount helpers need, behind one
//! interface: Linux (`statx`, xattrs, `renameat2`, `FICLONE`, `syncfs`, `getdents`, the mount
//! table of `/proc`) and FreeBSD (`fstatat`, extattrs, `linkat`, `copy_file_range`, `sync`,
//! `getdirentries`, `getfsstat`). Code outside this module calls neither OS directly for these.
//!
//! Both sides export the same names: [`Stat`] (with the `stx_*` fields the tree reads), the
//! stat, xattr ([`Node`]), rename, data-copy, directory-reading, sync and mount functions.

#[cfg(target_os = "freebsd")]
mod freebsd;
#[cfg(target_os = "linux")]
mod linux;
// Used by the FreeBSD side; compiled everywhere so that its tests run on Linux too.
#[cfg_attr(not(target_os = "freebsd"), allow(dead_code))]
mod xattr_names;

#[cfg(target_os = "freebsd")]
pub(crate) use freebsd::*;
#[cfg(target_os = "linux")]
pub(crate) use linux::*;

use rustix::fd::BorrowedFd;
use std::ffi::CStr;
use std::path::Path;

/// Where a node's xattrs are reached.
#[derive(Clone, Copy)]
pub(crate) enum Node<'a> {
    /// An open file or directory.
    Fd(BorrowedFd<'a>),
    /// `name` in the open directory `dir`, never followed: nodes that must not be opened
    /// (symlinks, devices, FIFOs).
    At(BorrowedFd<'a>, &'a CStr),
    /// A path whose last component is not followed, its parents resolved by the caller
    /// without following symlinks.
    Link(&'a Path),
}
