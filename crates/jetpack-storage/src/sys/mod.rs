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

use std::ffi::CStr;
use std::path::Path;

use rustix::fd::BorrowedFd;
use rustix::fs::{AtFlags, FileType, linkat, renameat, statat, unlinkat};
use rustix::io::{Errno, Result};
use rustix::path::Arg;

/// Where a node's xattrs are reached.
#[derive(Clone, Copy)]
pub enum Node<'a> {
    /// An open file or directory.
    Fd(BorrowedFd<'a>),
    /// `name` in the open directory `dir`, never followed: nodes that must not be opened
    /// (symlinks, devices, FIFOs).
    At(BorrowedFd<'a>, &'a CStr),
    /// A path whose last component is not followed, its parents resolved by the caller
    /// without following symlinks.
    Link(&'a Path),
}

/// Renames `old_dir/old` to `new_dir/new` only if the latter does not exist (`EEXIST`), for a
/// system without `renameat2`. A non-directory is linked under its new name (which fails if the
/// name is taken, atomically) and then unlinked from the old one. A directory cannot be linked:
/// it is renamed after checking that the new name is free, which is safe only where nothing
/// else creates that name meanwhile (each caller says why that holds). Portable, so that it is
/// tested on Linux too.
#[cfg_attr(not(target_os = "freebsd"), allow(dead_code))]
pub(crate) fn rename_by_link<P: Arg + Copy, Q: Arg + Copy>(
    old_dir: BorrowedFd<'_>,
    old: P,
    new_dir: BorrowedFd<'_>,
    new: Q,
) -> Result<()> {
    let st = statat(old_dir, old, AtFlags::SYMLINK_NOFOLLOW)?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        linkat(old_dir, old, new_dir, new, AtFlags::empty())?;
        return unlinkat(old_dir, old, AtFlags::empty());
    }
    match statat(new_dir, new, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => renameat(old_dir, old, new_dir, new),
        Err(e) => Err(e),
        Ok(_) => Err(Errno::EXIST),
    }
}

#[cfg(test)]
mod tests {
    use std::fs;

    use rustix::fs::CWD;

    use super::*;

    #[test]
    fn rename_by_link_never_replaces() {
        let t = tempfile::tempdir().unwrap();
        let p = |n: &str| t.path().join(n);
        fs::write(p("f"), "f").unwrap();
        fs::write(p("taken"), "taken").unwrap();
        fs::create_dir(p("d")).unwrap();
        fs::write(p("d/inside"), "x").unwrap();
        fs::create_dir(p("empty")).unwrap();
        std::os::unix::fs::symlink("f", p("link")).unwrap();
        let rename = |a: &str, b: &str| rename_by_link(CWD, &p(a), CWD, &p(b));

        assert_eq!(rename("f", "taken"), Err(Errno::EXIST));
        assert_eq!(fs::read(p("f")).unwrap(), b"f");
        assert_eq!(fs::read(p("taken")).unwrap(), b"taken");
        rename("f", "g").unwrap();
        assert!(!p("f").exists() && fs::read(p("g")).unwrap() == b"f");
        // A symlink moves itself, not its target.
        rename("link", "link2").unwrap();
        assert_eq!(fs::read_link(p("link2")).unwrap(), Path::new("f"));

        // An empty directory is not replaced either (rename(2) would).
        assert_eq!(rename("d", "empty"), Err(Errno::EXIST));
        assert!(p("d/inside").exists());
        rename("d", "e").unwrap();
        assert!(!p("d").exists() && p("e/inside").exists());
        assert_eq!(rename("missing", "x"), Err(Errno::NOENT));
    }
}
