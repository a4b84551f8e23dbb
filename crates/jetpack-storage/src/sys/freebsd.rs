//! FreeBSD: `fstatat`, extattrs, `linkat`, `copy_file_range`, `sync`, `getdirentries` (through
//! `Dir`), `getfsstat` and `unmount`.

use std::ffi::{CStr, CString, OsString};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, Dev, Dir, FileType, Mode, OFlags, Timespec, Timestamps, openat, statat};
use rustix::io::{Errno, Result};
use rustix::path::Arg;

use super::Node;
use super::xattr_names::{self, Namespace};
use crate::mounts::Mount;

/// What the tree reads of a `stat`, under the field names of Linux's `statx`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stat {
    pub(crate) stx_mode: u16,
    pub(crate) stx_ino: u64,
    pub(crate) stx_nlink: u32,
    pub(crate) stx_uid: u32,
    pub(crate) stx_gid: u32,
    pub(crate) stx_size: u64,
    pub(crate) stx_blocks: u64,
    dev: u64,
    rdev: Dev,
    atime: Timespec,
    mtime: Timespec,
}

impl From<rustix::fs::Stat> for Stat {
    fn from(st: rustix::fs::Stat) -> Self {
        Stat {
            stx_mode: st.st_mode,
            stx_ino: st.st_ino,
            stx_nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
            stx_uid: st.st_uid,
            stx_gid: st.st_gid,
            stx_size: u64::try_from(st.st_size).unwrap_or(0),
            stx_blocks: u64::try_from(st.st_blocks).unwrap_or(0),
            dev: st.st_dev,
            rdev: st.st_rdev,
            atime: Timespec {
                tv_sec: st.st_atime,
                tv_nsec: st.st_atime_nsec,
            },
            mtime: Timespec {
                tv_sec: st.st_mtime,
                tv_nsec: st.st_mtime_nsec,
            },
        }
    }
}

/// What the extattr calls fail with for a missing attribute.
pub(crate) const NO_XATTR: Errno = Errno::NOATTR;

pub(crate) fn stat_fd(fd: impl AsFd) -> Result<Stat> {
    rustix::fs::fstat(fd).map(Stat::from)
}

/// `dir/name`, not followed.
pub(crate) fn stat_at<P: Arg>(dir: impl AsFd, name: P) -> Result<Stat> {
    statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map(Stat::from)
}

/// [`stat_at`]: FreeBSD has no partial stat, and no automounts to avoid triggering.
pub(crate) fn stat_usage_at<P: Arg>(dir: impl AsFd, name: P) -> Result<Stat> {
    stat_at(dir, name)
}

pub(crate) fn dev_of(st: &Stat) -> u64 {
    st.dev
}

pub(crate) fn file_type(st: &Stat) -> FileType {
    FileType::from_raw_mode(st.stx_mode)
}

/// The permission bits (setuid, setgid, sticky included) of `bits`.
pub(crate) fn mode(bits: u32) -> Mode {
    // Masked to 12 bits, so the 16-bit mode_t holds it.
    Mode::from_raw_mode((bits & 0o7777) as u16)
}

pub(crate) fn rdev(st: &Stat) -> Dev {
    st.rdev
}

pub(crate) fn times(st: &Stat) -> Timestamps {
    Timestamps {
        last_access: st.atime,
        last_modification: st.mtime,
    }
}

/// Whether `st` (a directory reached from the open directory `parent`) is the root of a mount:
/// every FreeBSD mount, ZFS datasets and nullfs mounts included, has its own `st_dev`.
pub(crate) fn is_mount_root(st: &Stat, parent: BorrowedFd<'_>) -> Result<bool> {
    Ok(stat_fd(parent)?.dev != st.dev)
}

/// `Dir` keeps its own buffer: nothing to share.
pub(crate) fn dir_buf() -> Vec<MaybeUninit<u8>> {
    Vec::new()
}

/// Calls `each` with the name and type of every entry of `dir` (`.` and `..` included).
pub(crate) fn read_dir(
    dir: BorrowedFd<'_>,
    _buf: &mut [MaybeUninit<u8>],
    mut each: impl FnMut(&CStr, FileType),
) -> Result<()> {
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        each(entry.file_name(), entry.file_type());
    }
    Ok(())
}

fn last_errno() -> Errno {
    let e = std::io::Error::last_os_error();
    Errno::from_raw_os_error(e.raw_os_error().unwrap_or(libc::EIO))
}

/// A `ssize_t` result of libc as a length, or the errno it set.
fn len_of(r: isize) -> Result<usize> {
    usize::try_from(r).map_err(|_| last_errno())
}

fn ns_raw(ns: Namespace) -> libc::c_int {
    match ns {
        Namespace::User => libc::EXTATTR_NAMESPACE_USER,
        Namespace::System => libc::EXTATTR_NAMESPACE_SYSTEM,
    }
}

/// Whether FreeBSD has a namespace for the Linux xattr `name` (`user.*`, `system.*`).
pub(crate) fn xattr_storable(name: &[u8]) -> bool {
    xattr_names::split(name).is_some()
}

/// What an extattr call acts on; a [`Node::At`] has no extattr call of its own.
enum Target {
    Fd(libc::c_int),
    Link(CString),
}

fn target(node: Node<'_>) -> Result<Target> {
    match node {
        Node::Fd(fd) => Ok(Target::Fd(fd.as_raw_fd())),
        Node::Link(p) => Ok(Target::Link(p.as_cow_c_str()?.into_owned())),
        // There is no `extattr_*at`, and no /proc to reach `dir/name` by: see `list_xattrs`.
        Node::At(..) => Err(Errno::NOTSUP),
    }
}

/// The Linux-style (NUL-separated, prefixed) names of the user and system extattrs of `node`.
/// For a [`Node::At`] (a symlink, device or FIFO, which cannot be opened for this) they are
/// not copied: a warning names the node if it has any.
pub(crate) fn list_xattrs(node: Node<'_>, buf: &mut [u8]) -> Result<usize> {
    if let Node::At(dir, name) = node {
        warn_uncopied(dir, name);
        return Ok(0);
    }
    let t = target(node)?;
    let mut at = 0;
    for ns in Namespace::ALL {
        let raw = match list_raw(&t, ns, &mut buf[at..]) {
            Ok(raw) => raw,
            // No extattrs on this filesystem, or not ours to see.
            Err(Errno::OPNOTSUPP | Errno::PERM) => continue,
            Err(e) => return Err(e),
        };
        at += xattr_names::to_linux_list(ns, &raw, &mut buf[at..]).ok_or(Errno::RANGE)?;
    }
    Ok(at)
}

/// The raw (length-prefixed) list of namespace `ns`, read through `buf`.
fn list_raw(t: &Target, ns: Namespace, buf: &mut [u8]) -> Result<Vec<u8>> {
    let call = |ptr: *mut libc::c_void, len: usize| -> Result<usize> {
        // SAFETY: `ptr` is null (asking for the size) or `buf`'s start with `len` its length;
        // the name strings are NUL-terminated and outlive the call.
        let r = unsafe {
            match t {
                Target::Fd(fd) => libc::extattr_list_fd(*fd, ns_raw(ns), ptr, len),
                Target::Link(p) => libc::extattr_list_link(p.as_ptr(), ns_raw(ns), ptr, len),
            }
        };
        len_of(r)
    };
    let n = call(buf.as_mut_ptr().cast(), buf.len())?;
    // A full buffer may be a truncated list.
    if n == buf.len() && call(std::ptr::null_mut(), 0)? > n {
        return Err(Errno::RANGE);
    }
    Ok(buf[..n].to_vec())
}

fn warn_uncopied(dir: BorrowedFd<'_>, name: &CStr) {
    let flags = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let Ok(fd): Result<OwnedFd> = openat(dir, name, flags, Mode::empty()) else {
        return;
    };
    let mut buf = [0u8; 256];
    let t = Target::Fd(fd.as_raw_fd());
    if Namespace::ALL
        .into_iter()
        .any(|ns| list_raw(&t, ns, &mut buf).is_ok_and(|l| !l.is_empty()))
    {
        tracing::warn!(
            "{name:?}: extended attributes of symlinks, devices and FIFOs are not copied on FreeBSD"
        );
    }
}

/// The namespace and C name of Linux name `name`; `unmapped` if FreeBSD has no namespace for it.
fn split<N: Arg>(name: N, unmapped: Errno) -> Result<(libc::c_int, CString)> {
    let name = name.as_cow_c_str()?;
    let (ns, rest) = xattr_names::split(name.to_bytes()).ok_or(unmapped)?;
    Ok((ns_raw(ns), CString::new(rest).map_err(|_| Errno::INVAL)?))
}

pub(crate) fn get_xattr<N: Arg>(node: Node<'_>, name: N, buf: &mut [u8]) -> Result<usize> {
    let (ns, name) = split(name, NO_XATTR)?;
    let t = target(node)?;
    let call = |ptr: *mut libc::c_void, len: usize| -> Result<usize> {
        // SAFETY: `ptr` is null (asking for the size) or `buf`'s start with `len` its length;
        // the name strings are NUL-terminated and outlive the call.
        let r = unsafe {
            match &t {
                Target::Fd(fd) => libc::extattr_get_fd(*fd, ns, name.as_ptr(), ptr, len),
                Target::Link(p) => libc::extattr_get_link(p.as_ptr(), ns, name.as_ptr(), ptr, len),
            }
        };
        len_of(r)
    };
    let n = call(buf.as_mut_ptr().cast(), buf.len())?;
    // extattr_get truncates a value longer than the buffer: Linux fails instead.
    if n == buf.len() && call(std::ptr::null_mut(), 0)? > n {
        return Err(Errno::RANGE);
    }
    Ok(n)
}

/// Fails with `ENOTSUP` for a name FreeBSD cannot store (see [`xattr_storable`]).
pub(crate) fn set_xattr<N: Arg>(node: Node<'_>, name: N, value: &[u8]) -> Result<()> {
    let (ns, name) = split(name, Errno::NOTSUP)?;
    let t = target(node)?;
    let (ptr, len) = (value.as_ptr().cast(), value.len());
    // SAFETY: `ptr` and `len` are `value`'s; the name strings are NUL-terminated; all outlive
    // the call, which only reads them.
    let r = unsafe {
        match &t {
            Target::Fd(fd) => libc::extattr_set_fd(*fd, ns, name.as_ptr(), ptr, len),
            Target::Link(p) => libc::extattr_set_link(p.as_ptr(), ns, name.as_ptr(), ptr, len),
        }
    };
    len_of(r).map(drop)
}

pub(crate) fn remove_xattr<N: Arg>(node: Node<'_>, name: N) -> Result<()> {
    let (ns, name) = split(name, NO_XATTR)?;
    let t = target(node)?;
    // SAFETY: the name strings are NUL-terminated and outlive the call.
    let r = unsafe {
        match &t {
            Target::Fd(fd) => libc::extattr_delete_fd(*fd, ns, name.as_ptr()),
            Target::Link(p) => libc::extattr_delete_link(p.as_ptr(), ns, name.as_ptr()),
        }
    };
    match r {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}

/// Nothing to do: FreeBSD's ACLs are not extattrs, so the tree neither copies them nor can
/// strip an inherited default one this way (that needs `acl_delete_def_fd`, and a default ACL
/// there only exists if an administrator set one on the storage directories).
pub(crate) fn drop_default_acl(_dir: BorrowedFd<'_>) -> Result<()> {
    Ok(())
}

/// Renames `old_dir/old` to `new_dir/new` only if the latter does not exist (`EEXIST`).
/// FreeBSD has no `renameat2`: see [`super::rename_by_link`].
pub(crate) fn rename_noreplace<P: Arg + Copy, Q: Arg + Copy>(
    old_dir: impl AsFd,
    old: P,
    new_dir: impl AsFd,
    new: Q,
) -> Result<()> {
    super::rename_by_link(old_dir.as_fd(), old, new_dir.as_fd(), new)
}

/// FreeBSD has no reflink call; [`copy_file_range`] clones blocks where ZFS can.
pub(crate) fn clone_file(_dst: BorrowedFd<'_>, _src: BorrowedFd<'_>) -> Result<()> {
    Err(Errno::OPNOTSUPP)
}

/// `copy_file_range(2)` (FreeBSD 13+): on ZFS with block cloning it shares the blocks.
pub(crate) fn copy_file_range(
    src: BorrowedFd<'_>,
    off_in: &mut u64,
    dst: BorrowedFd<'_>,
    off_out: &mut u64,
    len: usize,
) -> Result<usize> {
    let mut i = libc::off_t::try_from(*off_in).map_err(|_| Errno::INVAL)?;
    let mut o = libc::off_t::try_from(*off_out).map_err(|_| Errno::INVAL)?;
    // SAFETY: both fds are open for the call; the offsets point to locals that outlive it.
    let r =
        unsafe { libc::copy_file_range(src.as_raw_fd(), &mut i, dst.as_raw_fd(), &mut o, len, 0) };
    let n = len_of(r)?;
    (*off_in, *off_out) = (i as u64, o as u64);
    Ok(n)
}

/// FreeBSD has no `syncfs`: `sync(2)` instead. It syncs every filesystem, and on ZFS (where
/// FreeBSD seals images) it commits each dataset's intent log before returning, so the tree is
/// durable as `syncfs` makes it on Linux. On UFS it only schedules the writes.
pub(crate) fn sync_filesystem(_fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: sync takes no arguments and touches no memory of ours.
    unsafe { libc::sync() };
    Ok(())
}

/// The bytes of a NUL-terminated `c_char` array, without the NUL.
fn c_bytes(chars: &[libc::c_char]) -> Vec<u8> {
    chars
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect()
}

/// The kernel's entries of the mounted file systems (`getfsstat`).
fn statfs_all() -> crate::Result<Vec<libc::statfs>> {
    let fail = |e| crate::Error::io("getfsstat", e);
    loop {
        // SAFETY: a null buffer only asks for the number of mounts.
        let n = unsafe { libc::getfsstat(std::ptr::null_mut(), 0, libc::MNT_NOWAIT) };
        let n = usize::try_from(n).map_err(|_| fail(std::io::Error::last_os_error()))?;
        let cap = n + 8;
        let mut buf: Vec<libc::statfs> = Vec::with_capacity(cap);
        let size = (cap * std::mem::size_of::<libc::statfs>()) as libc::c_long;
        // SAFETY: `buf` has room for `size` bytes; the kernel writes whole entries within it.
        let got = unsafe { libc::getfsstat(buf.as_mut_ptr(), size, libc::MNT_NOWAIT) };
        let got = usize::try_from(got).map_err(|_| fail(std::io::Error::last_os_error()))?;
        if got >= cap {
            // Mounts appeared meanwhile and may not all fit: again.
            continue;
        }
        // SAFETY: the kernel initialised the first `got` entries.
        unsafe { buf.set_len(got) };
        return Ok(buf);
    }
}

/// The mounted filesystems (`getfsstat`), as mount point, type and source.
pub(crate) fn mount_table() -> crate::Result<Vec<Mount>> {
    Ok(statfs_all()?
        .iter()
        .map(|s| Mount {
            mount_point: PathBuf::from(OsString::from_vec(c_bytes(&s.f_mntonname))),
            fs_type: String::from_utf8_lossy(&c_bytes(&s.f_fstypename)).into_owned(),
            source: String::from_utf8_lossy(&c_bytes(&s.f_mntfromname)).into_owned(),
            ..Mount::default()
        })
        .collect())
}

/// Unmounts the mount the mount table names `target`; with `detach`, by force (FreeBSD has no
/// lazy unmount, and a forced one revokes what is still open in it). It is unmounted by its
/// file system id (`MNT_BYFSID`), never by path: given a path, the kernel resolves it,
/// following symlinks, and a pod that renamed a directory above its mount and left a symlink
/// in its place would lead it to another mount of the host. Not mounted: `EINVAL`, as
/// unmounting a path that is no mount point.
pub(crate) fn unmount(target: &Path, detach: bool) -> Result<()> {
    let name = target.as_os_str().as_bytes();
    let entries = statfs_all().map_err(|_| last_errno())?;
    // The topmost of a stack: the last one of that name.
    let Some(entry) = entries
        .iter()
        .rev()
        .find(|s| c_bytes(&s.f_mntonname) == name)
    else {
        return Err(Errno::INVAL);
    };
    // SAFETY: `fsid_t` is two `int32_t` (`val[2]`, C's layout); libc keeps the field private.
    let [a, b]: [i32; 2] = unsafe { std::mem::transmute(entry.f_fsid) };
    let fsid = CString::new(format!("FSID:{a}:{b}")).expect("no NUL in digits");
    let mut flags = libc::MNT_BYFSID;
    if detach {
        flags |= libc::MNT_FORCE;
    }
    // SAFETY: `fsid` is NUL-terminated and outlives the call.
    match unsafe { libc::unmount(fsid.as_ptr(), flags) } {
        0 => Ok(()),
        _ => Err(last_errno()),
    }
}
