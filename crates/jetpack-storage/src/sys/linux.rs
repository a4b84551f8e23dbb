//! Linux: `statx`, xattrs, `renameat2`, `FICLONE`, `syncfs`, `getdents64`, `/proc` mountinfo.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{
    AtFlags, Dev, FileType, Mode, RawDir, RenameFlags, StatxAttributes, StatxFlags, Timespec,
    Timestamps, XattrFlags, makedev, renameat_with, statx,
};
use rustix::io::{Errno, Result};
use rustix::mount::UnmountFlags;
use rustix::path::Arg;

use super::Node;
use crate::mounts::Mount;

pub(crate) use rustix::fs::Statx as Stat;

/// What the xattr calls fail with for a missing attribute.
pub(crate) const NO_XATTR: Errno = Errno::NODATA;

pub(crate) fn stat_fd(fd: impl AsFd) -> Result<Stat> {
    statx(fd, c"", AtFlags::EMPTY_PATH, StatxFlags::BASIC_STATS)
}

/// `dir/name`, not followed.
pub(crate) fn stat_at<P: Arg>(dir: impl AsFd, name: P) -> Result<Stat> {
    statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW,
        StatxFlags::BASIC_STATS,
    )
}

/// [`stat_at`] with only what disk usage reads, and without triggering an automount.
pub(crate) fn stat_usage_at<P: Arg>(dir: impl AsFd, name: P) -> Result<Stat> {
    let mask = StatxFlags::TYPE | StatxFlags::NLINK | StatxFlags::INO | StatxFlags::BLOCKS;
    statx(
        dir,
        name,
        AtFlags::SYMLINK_NOFOLLOW | AtFlags::NO_AUTOMOUNT,
        mask,
    )
}

pub(crate) fn dev_of(st: &Stat) -> u64 {
    (u64::from(st.stx_dev_major) << 32) | u64::from(st.stx_dev_minor)
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(u32::from(st.stx_mode))
}

/// The permission bits (setuid, setgid, sticky included) of `bits`.
pub(crate) fn mode(bits: u32) -> Mode {
    Mode::from_raw_mode(bits & 0o7777)
}

pub(crate) fn rdev(st: &Stat) -> Dev {
    makedev(st.stx_rdev_major, st.stx_rdev_minor)
}

pub(crate) fn times(st: &Stat) -> Timestamps {
    let ts = |t: &rustix::fs::StatxTimestamp| Timespec {
        tv_sec: t.tv_sec,
        tv_nsec: t.tv_nsec.into(),
    };
    Timestamps {
        last_access: ts(&st.stx_atime),
        last_modification: ts(&st.stx_mtime),
    }
}

/// Whether `st` (a directory reached from the open directory `parent`) is the root of a mount.
/// `STATX_ATTR_MOUNT_ROOT` also catches bind mounts of the same filesystem and does not mistake
/// btrfs subvolumes for mounts; kernels before 5.8 fall back to comparing devices.
pub(crate) fn is_mount_root(st: &Stat, parent: BorrowedFd<'_>) -> Result<bool> {
    if st.stx_attributes_mask.contains(StatxAttributes::MOUNT_ROOT) {
        Ok(st.stx_attributes.contains(StatxAttributes::MOUNT_ROOT))
    } else {
        Ok(dev_of(&stat_fd(parent)?) != dev_of(st))
    }
}

/// A buffer for `getdents64`, shared by a walk because listings are copied out of it.
pub(crate) fn dir_buf() -> Vec<MaybeUninit<u8>> {
    vec![MaybeUninit::uninit(); 64 * 1024]
}

/// Calls `each` with the name and type of every entry of `dir` (`.` and `..` included).
pub(crate) fn read_dir(
    dir: BorrowedFd<'_>,
    buf: &mut [MaybeUninit<u8>],
    mut each: impl FnMut(&CStr, FileType),
) -> Result<()> {
    let mut raw = RawDir::new(dir, buf);
    while let Some(entry) = raw.next() {
        let entry = entry?;
        each(entry.file_name(), entry.file_type());
    }
    Ok(())
}

/// `/proc/self/fd/<dir>/<name>`: reaches `name` through the already-open `dir` without
/// re-resolving the tree, and the `l*xattr` calls do not follow `name` if it is a symlink.
/// (There is no `*xattrat` in rustix; Linux only gained those syscalls in 6.13.)
fn proc_path(dir: BorrowedFd<'_>, name: &CStr) -> CString {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name.to_bytes());
    CString::new(p).expect("a file name has no NUL")
}

/// Every xattr name can be stored (if the filesystem takes it).
pub(crate) fn xattr_storable(_name: &[u8]) -> bool {
    true
}

/// The NUL-separated xattr names of `node` into `buf`; a filesystem without xattrs has none.
pub(crate) fn list_xattrs(node: Node<'_>, buf: &mut [u8]) -> Result<usize> {
    let r = match node {
        Node::Fd(fd) => rustix::fs::flistxattr(fd, buf),
        Node::At(dir, name) => rustix::fs::llistxattr(proc_path(dir, name), buf),
        Node::Link(p) => rustix::fs::llistxattr(p, buf),
    };
    match r {
        Err(Errno::NOTSUP) => Ok(0),
        Err(Errno::NOENT) if matches!(node, Node::At(..)) => {
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

pub(crate) fn get_xattr<N: Arg>(node: Node<'_>, name: N, buf: &mut [u8]) -> Result<usize> {
    match node {
        Node::Fd(fd) => rustix::fs::fgetxattr(fd, name, buf),
        Node::At(dir, n) => rustix::fs::lgetxattr(proc_path(dir, n), name, buf),
        Node::Link(p) => rustix::fs::lgetxattr(p, name, buf),
    }
}

pub(crate) fn set_xattr<N: Arg>(node: Node<'_>, name: N, value: &[u8]) -> Result<()> {
    let flags = XattrFlags::empty();
    match node {
        Node::Fd(fd) => rustix::fs::fsetxattr(fd, name, value, flags),
        Node::At(dir, n) => rustix::fs::lsetxattr(proc_path(dir, n), name, value, flags),
        Node::Link(p) => rustix::fs::lsetxattr(p, name, value, flags),
    }
}

pub(crate) fn remove_xattr<N: Arg>(node: Node<'_>, name: N) -> Result<()> {
    match node {
        Node::Fd(fd) => rustix::fs::fremovexattr(fd, name),
        Node::At(dir, n) => rustix::fs::lremovexattr(proc_path(dir, n), name),
        Node::Link(p) => rustix::fs::lremovexattr(p, name),
    }
}

/// Removes the default ACL of directory `dir`, which its new children would inherit.
pub(crate) fn drop_default_acl(dir: BorrowedFd<'_>) -> Result<()> {
    match rustix::fs::fremovexattr(dir, c"system.posix_acl_default") {
        Ok(()) | Err(Errno::NODATA | Errno::NOTSUP) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Renames `old_dir/old` to `new_dir/new` only if the latter does not exist (`EEXIST`).
/// Filesystems without `RENAME_NOREPLACE` fail with `EINVAL`; callers decide what then.
pub(crate) fn rename_noreplace<P: Arg, Q: Arg>(
    old_dir: impl AsFd,
    old: P,
    new_dir: impl AsFd,
    new: Q,
) -> Result<()> {
    renameat_with(old_dir, old, new_dir, new, RenameFlags::NOREPLACE)
}

/// Makes `dst` share `src`'s blocks (a reflink).
pub(crate) fn clone_file(dst: BorrowedFd<'_>, src: BorrowedFd<'_>) -> Result<()> {
    rustix::fs::ioctl_ficlone(dst, src)
}

pub(crate) fn copy_file_range(
    src: BorrowedFd<'_>,
    off_in: &mut u64,
    dst: BorrowedFd<'_>,
    off_out: &mut u64,
    len: usize,
) -> Result<usize> {
    rustix::fs::copy_file_range(src, Some(off_in), dst, Some(off_out), len)
}

/// Writes every dirty page and inode of the filesystem holding `fd` to disk.
pub(crate) fn sync_filesystem(fd: BorrowedFd<'_>) -> Result<()> {
    rustix::fs::syncfs(fd)
}

pub(crate) fn mount_table() -> crate::Result<Vec<Mount>> {
    Ok(jetpack_fs::mountinfo::read()?)
}

/// Unmounts `target` without following it; with `detach`, a busy mount vanishes now and its
/// filesystem is released when its last user goes.
pub(crate) fn unmount(target: &Path, detach: bool) -> Result<()> {
    let flags = match detach {
        true => UnmountFlags::NOFOLLOW | UnmountFlags::DETACH,
        false => UnmountFlags::NOFOLLOW,
    };
    rustix::mount::unmount(target, flags)
}
