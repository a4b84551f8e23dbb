//! Mounts and the filesystem: `mount`, `umount2`, `pivot_root`, the new mount API
//! (`open_tree`, `move_mount`, `mount_setattr`), directories, device nodes, symlinks, `stat`,
//! `open`, `dup2`, `umask` and `makedev`. These are the calls that build each app's root
//! filesystem, so they sit apart from process and signal handling.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use libc::{c_int, c_ulong};

use super::{cvt, cvt_long, opt_ptr};

pub fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: c_ulong,
    data: Option<&CStr>,
) -> io::Result<()> {
    // SAFETY: every pointer is null or a NUL-terminated string that outlives the call.
    cvt(unsafe {
        libc::mount(
            opt_ptr(source),
            target.as_ptr(),
            opt_ptr(fstype),
            flags,
            opt_ptr(data).cast(),
        )
    })
    .map(drop)
}

pub fn umount2(target: &CStr, flags: c_int) -> io::Result<()> {
    // SAFETY: target is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::umount2(target.as_ptr(), flags) }).map(drop)
}

pub fn pivot_root(new_root: &CStr, put_old: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    cvt_long(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

pub const OPEN_TREE_CLONE: u32 = 1;
pub const OPEN_TREE_CLOEXEC: u32 = libc::O_CLOEXEC as u32;
const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
const MOVE_MOUNT_T_SYMLINKS: u32 = 0x10;

/// `open_tree(dirfd, path, flags)`: a detached copy of the mount tree at that place.
pub fn open_tree(dirfd: RawFd, path: &CStr, flags: u32) -> io::Result<OwnedFd> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    let fd = cvt_long(unsafe { libc::syscall(libc::SYS_open_tree, dirfd, path.as_ptr(), flags) })?;
    // SAFETY: open_tree returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Attaches the detached tree `from` on `to_dir`/`to_path`, following a symlink there like
/// mount(2) would (the callers are inside the app's root, where symlinks cannot lead out).
pub fn move_mount_to(from: &OwnedFd, to_dir: RawFd, to_path: &CStr) -> io::Result<()> {
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from.as_raw_fd(),
            c"".as_ptr(),
            to_dir,
            to_path.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_SYMLINKS,
        )
    })
    .map(drop)
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_RDONLY: u64 = 0x1;

/// Makes a mount (or a whole tree, with `AT_RECURSIVE` in `flags`) read-only, leaving its
/// other attributes alone (unlike a `MS_REMOUNT`, which must repeat them).
pub fn mount_set_readonly(dirfd: RawFd, path: &CStr, flags: c_int) -> io::Result<()> {
    mount_setattr(dirfd, path, flags, MOUNT_ATTR_RDONLY, 0)
}

/// `mount_setattr(2)` setting the attributes `set` (with `userns_fd` for `MOUNT_ATTR_IDMAP`).
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    flags: c_int,
    set: u64,
    userns_fd: u64,
) -> io::Result<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd,
    };
    // SAFETY: path and attr outlive the call, and the size passed is attr's size.
    cvt_long(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

pub fn chdir(path: &CStr) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::chdir(path.as_ptr()) }).map(drop)
}

pub fn mkdir(path: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mkdir(path.as_ptr(), mode) }).map(drop)
}

pub fn mknod(path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    cvt(unsafe { libc::mknod(path.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlink(target: &CStr, link: &CStr) -> io::Result<()> {
    // SAFETY: both are NUL-terminated strings that outlive the call.
    cvt(unsafe { libc::symlink(target.as_ptr(), link.as_ptr()) }).map(drop)
}

/// `stat` following symlinks; `None` when nothing is there.
pub fn stat_mode(path: &CStr) -> io::Result<Option<libc::mode_t>> {
    // SAFETY: stat is plain data; all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a NUL-terminated string and st a valid buffer, both outliving the call.
    match cvt(unsafe { libc::stat(path.as_ptr(), &mut st) }) {
        Ok(_) => Ok(Some(st.st_mode)),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `(st_dev, st_ino)` of `path`: which file it is.
pub fn file_id(path: &CStr) -> io::Result<(u64, u64)> {
    // SAFETY: stat is plain data; all-zero bytes are a valid value.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is a NUL-terminated string and st a valid buffer, both outliving the call.
    cvt(unsafe { libc::stat(path.as_ptr(), &mut st) })?;
    Ok((st.st_dev, st.st_ino))
}

pub fn open(path: &CStr, flags: c_int, mode: libc::mode_t) -> io::Result<OwnedFd> {
    // SAFETY: path is a NUL-terminated string that outlives the call.
    let fd = cvt(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode) })?;
    // SAFETY: open returned a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

pub fn dup2(from: RawFd, to: RawFd) -> io::Result<()> {
    // SAFETY: dup2 takes descriptors only; replacing `to` is the point.
    cvt(unsafe { libc::dup2(from, to) }).map(drop)
}

pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    // SAFETY: umask cannot fail and touches no memory.
    unsafe { libc::umask(mask) }
}

pub fn makedev(major: u32, minor: u32) -> libc::dev_t {
    libc::makedev(major, minor)
}
