//! User namespaces for pods (`--private-users`) and idmapped mounts.
//!
//! A pod's user namespace maps its `0..size` to an unprivileged host range. Stage0 makes it
//! before the pod's init exists: a short-lived child unshares a user namespace, the parent
//! (root on the host) writes its maps and keeps a descriptor of it, and the child exits; the
//! namespace lives on through the descriptor. Everything the pod's processes set up for
//! themselves (mounts, `/proc`, `/dev`, device nodes) they do as root on the host, and only
//! then join it, as the last step before taking the app's ids; so their mounts are owned by the
//! host's namespace and locked against them.
//!
//! The same descriptor idmaps mounts: the rootfs and volumes are attached with the pod's
//! mapping, so a file of host uid 0 shows as the pod's root inside and what the pod's root
//! writes lands as the range's first uid on the host.

use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use super::sys;
use crate::spec::IdMap;

/// A new user namespace with `map` for users and groups.
pub fn create(map: IdMap) -> io::Result<OwnedFd> {
    let (ready_r, ready_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (done_r, done_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    // SAFETY: the child makes raw system calls only and exits.
    let pid = unsafe { sys::fork() }?;
    if pid == 0 {
        drop(done_w);
        let ok = sys::unshare(libc::CLONE_NEWUSER).is_ok();
        let _ = sys::write_all(ready_w.as_raw_fd(), if ok { b"1" } else { b"0" });
        // Until the parent has its descriptor (EOF).
        let mut b = [0u8];
        let _ = sys::read(done_r.as_raw_fd(), &mut b);
        sys::exit(0);
    }
    drop(ready_w);
    drop(done_r);
    let made = (|| {
        let mut b = [0u8];
        if sys::read(ready_r.as_raw_fd(), &mut b)? != Some(1) || b[0] != b'1' {
            return Err(io::Error::other(
                "the kernel refused a user namespace (unshare(CLONE_NEWUSER))",
            ));
        }
        let line = map.line();
        std::fs::write(format!("/proc/{pid}/uid_map"), &line)?;
        std::fs::write(format!("/proc/{pid}/gid_map"), &line)?;
        Ok(OwnedFd::from(std::fs::File::open(format!(
            "/proc/{pid}/ns/user"
        ))?))
    })();
    drop(done_w);
    let _ = sys::waitpid(pid, 0);
    made
}

const MOUNT_ATTR_IDMAP: u64 = 0x0010_0000;

/// Idmaps a detached mount (from `open_tree(OPEN_TREE_CLONE)`) with the user namespace `userns`,
/// the whole tree with `recursive`.
pub(super) fn idmap(tree: &OwnedFd, userns: RawFd, recursive: bool) -> io::Result<()> {
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    sys::mount_setattr(
        tree.as_raw_fd(),
        c"",
        flags,
        MOUNT_ATTR_IDMAP,
        userns as u64,
    )
}

/// Joins `userns` (a namespace descriptor or a pidfd of a process in it): the last step
/// before taking the app's ids. The kernel gives the process every capability there, bounding
/// set included, and clears its securebits, so the caller limits them after.
pub(super) fn join(userns: RawFd) -> io::Result<()> {
    sys::setns(userns, libc::CLONE_NEWUSER)
}
