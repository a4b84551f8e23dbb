//! Idmapped mounts for the layers of pods with a user namespace.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::path::Path;

use rustix::mount::{MoveMountFlags, OpenTreeFlags, UnmountFlags, move_mount, open_tree, unmount};

use crate::error::{Error, Result};

/// `struct mount_attr`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Attaches a copy of the directory `from` at `to`, with the ids of `userns`'s mapping.
pub(crate) fn attach(from: &Path, to: &Path, userns: BorrowedFd) -> Result<()> {
    let err = |e: std::io::Error| Error::Mount {
        what: format!("an idmapped copy of {}", from.display()),
        target: to.to_path_buf(),
        source: e,
    };
    let tree = open_tree(
        rustix::fs::CWD,
        from,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| err(e.into()))?;
    idmap(&tree, userns).map_err(err)?;
    move_mount(
        &tree,
        "",
        rustix::fs::CWD,
        to,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| err(e.into()))
}

fn idmap(tree: &OwnedFd, userns: BorrowedFd) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set: MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: the path is a NUL-terminated empty string, attr a `struct mount_attr` of the
    // size passed; both outlive the call, which only reads them.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs `f` (a mount that keeps its mounter's credentials, like an overlay's) in this thread as
/// the host ids `id` with every capability it has: the files it creates on idmapped layers then
/// land with on-disk owner 0 (root's own ids are outside the mapping: EOVERFLOW), and it may
/// still chown on copy-up. Credentials are per thread.
pub(crate) fn as_ids<T>(id: u32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    use rustix::thread::{capabilities, set_capabilities};
    let caps = capabilities(None).map_err(|e| Error::Config(format!("capget: {e}")))?;
    // SAFETY: setfsuid and setfsgid take an integer and touch no memory; they change only
    // this thread's filesystem ids.
    unsafe {
        libc::setfsgid(id);
        libc::setfsuid(id);
    }
    // A non-zero fsuid clears the file capabilities from the effective set: bring them back.
    let raised = set_capabilities(
        None,
        rustix::thread::CapabilitySets {
            effective: caps.permitted,
            ..caps
        },
    );
    let r = raised
        .map_err(|e| Error::Config(format!("capset: {e}")))
        .and_then(|()| f());
    // SAFETY: as above; back to root's ids, which restores the effective set.
    unsafe {
        libc::setfsuid(0);
        libc::setfsgid(0);
    }
    let _ = set_capabilities(None, caps);
    r
}

/// Detaches what [`attach`] attached and removes its mount point (best effort: an overlay
/// built on it keeps its own clone).
pub(crate) fn detach(at: &Path) {
    let _ = unmount(at, UnmountFlags::DETACH);
    let _ = std::fs::remove_dir(at);
}
