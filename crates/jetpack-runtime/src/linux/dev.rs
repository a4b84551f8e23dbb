//! The app's `/dev`: a small tmpfs with the device nodes the Linux ACE spec lists, a private
//! devpts instance, `/dev/shm`, and the usual symlinks into `/proc/self/fd`.

use std::os::fd::OwnedFd;

use libc::{MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_STRICTATIME, S_IFCHR, S_IFREG};

use super::mkdir::ensure_dir;
use super::process::Failure;
use super::sys;
use crate::errno_text;

/// `(path, major, minor)`: made with mknod, which the pod's root may do (no user namespace).
const NODES: [(&std::ffi::CStr, u32, u32); 6] = [
    (c"/dev/null", 1, 3),
    (c"/dev/zero", 1, 5),
    (c"/dev/full", 1, 7),
    (c"/dev/random", 1, 8),
    (c"/dev/urandom", 1, 9),
    (c"/dev/tty", 5, 0),
];

const LINKS: [(&std::ffi::CStr, &std::ffi::CStr); 5] = [
    (c"pts/ptmx", c"/dev/ptmx"),
    (c"/proc/self/fd", c"/dev/fd"),
    (c"/proc/self/fd/0", c"/dev/stdin"),
    (c"/proc/self/fd/1", c"/dev/stdout"),
    (c"/proc/self/fd/2", c"/dev/stderr"),
];

/// Builds `/dev` (the process is already in the new root, with umask 0). `console` is the
/// pod terminal's slave, cloned as a mount; without one `/dev/console` is the null device.
pub(super) fn setup(console: Option<&OwnedFd>) -> Result<(), Failure> {
    let fail =
        |what: &str, e: std::io::Error| Failure::setup(format!("{what}: {}", errno_text(&e)));
    ensure_dir(c"/dev").map_err(|e| fail("creating /dev", e))?;
    sys::mount(
        Some(c"tmpfs"),
        c"/dev",
        Some(c"tmpfs"),
        MS_NOSUID | MS_STRICTATIME,
        Some(c"mode=755,size=65536k"),
    )
    .map_err(|e| fail("mounting a tmpfs on /dev", e))?;
    for (path, major, minor) in NODES {
        sys::mknod(path, S_IFCHR | 0o666, sys::makedev(major, minor))
            .map_err(|e| fail(&format!("creating {}", path.to_string_lossy()), e))?;
    }
    match console {
        Some(tree) => {
            sys::mknod(c"/dev/console", S_IFREG | 0o600, 0)
                .and_then(|()| sys::move_mount_to(tree, libc::AT_FDCWD, c"/dev/console"))
                .map_err(|e| fail("mounting the terminal on /dev/console", e))?;
        }
        None => sys::mknod(c"/dev/console", S_IFCHR | 0o666, sys::makedev(1, 3))
            .map_err(|e| fail("creating /dev/console", e))?,
    }
    sys::mkdir(c"/dev/pts", 0o755).map_err(|e| fail("creating /dev/pts", e))?;
    sys::mount(
        Some(c"devpts"),
        c"/dev/pts",
        Some(c"devpts"),
        MS_NOSUID | MS_NOEXEC,
        Some(c"newinstance,ptmxmode=0666,mode=0620"),
    )
    .map_err(|e| fail("mounting devpts on /dev/pts", e))?;
    sys::mkdir(c"/dev/shm", 0o1777).map_err(|e| fail("creating /dev/shm", e))?;
    sys::mount(
        Some(c"shm"),
        c"/dev/shm",
        Some(c"tmpfs"),
        MS_NOSUID | MS_NODEV | MS_NOEXEC,
        Some(c"mode=1777,size=65536k"),
    )
    .map_err(|e| fail("mounting a tmpfs on /dev/shm", e))?;
    for (target, link) in LINKS {
        sys::symlink(target, link)
            .map_err(|e| fail(&format!("creating {}", link.to_string_lossy()), e))?;
    }
    Ok(())
}
