//! An app's filesystem, built in its own mount namespace (a private copy of the pod's):
//! the rootfs bound onto itself, detached copies of the host trees it needs (volumes, `/sys`
//! for host networking, the terminal), `pivot_root` into the rootfs with the host detached,
//! then `/proc`, `/sys`, `/dev`, the volumes and `readOnlyRootFS`.
//!
//! Everything after the pivot uses plain paths: with the host detached, symlinks and `..` in
//! the image cannot lead out of the rootfs, so targets need no in-root resolution of their own.

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use libc::{MS_BIND, MS_NODEV, MS_NOEXEC, MS_NOSUID, MS_RDONLY, MS_REC};
use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};

use super::mkdir::{ensure_dir, ensure_file};
use super::plan::{AppPlan, MountPlan};
use super::process::Failure;
use super::{dev, masks, sys, userns};
use crate::errno_text;
use crate::spec::NetMode;

/// A host tree cloned before the pivot, attached after it.
struct Detached {
    tree: OwnedFd,
    is_dir: bool,
}

/// Builds the app's filesystem and leaves the process in it, at `/`.
/// `console` is the path of the pod terminal's slave, if the app has one.
pub(super) fn setup(app: &AppPlan, net: NetMode, console: Option<&CStr>) -> Result<(), Failure> {
    let rootfs = &app.rootfs;
    match app.userns.filter(|_| !app.rootfs_mapped) {
        // The rootfs with the pod's ids, on top of itself.
        Some(ns) => detach(libc::AT_FDCWD, rootfs, true, false)
            .and_then(|tree| {
                userns::idmap(&tree, ns, true)?;
                sys::move_mount_to(&tree, libc::AT_FDCWD, rootfs)
            })
            .map_err(|e| fail(format!("mapping the rootfs {rootfs:?} to the pod's ids"), e))?,
        None => sys::mount(Some(rootfs), rootfs, None, MS_BIND | MS_REC, None)
            .map_err(|e| fail(format!("binding the rootfs {rootfs:?} onto itself"), e))?,
    }
    let volumes = app
        .mounts
        .iter()
        .map(|m| detach_volume(m, app.userns))
        .collect::<Result<Vec<_>, _>>()?;
    let host_sys = match net {
        NetMode::Host => Some(
            // Not recursive: the host's cgroup, debug and security trees stay out.
            detach(libc::AT_FDCWD, c"/sys", false, true)
                .map_err(|e| fail("cloning the host's /sys".into(), e))?,
        ),
        NetMode::Loopback => None,
    };
    let console = console
        .map(|path| detach(libc::AT_FDCWD, path, false, false))
        .transpose()
        .map_err(|e| fail("cloning the terminal for /dev/console".into(), e))?;

    pivot(rootfs)?;

    as_pod_root(app, || {
        for dir in [c"/proc", c"/sys", c"/dev"] {
            ensure_dir(dir).map_err(|e| fail(format!("creating {dir:?}"), e))?;
        }
        Ok(())
    })?;
    let flags = MS_NOSUID | MS_NODEV | MS_NOEXEC;
    sys::mount(Some(c"proc"), c"/proc", Some(c"proc"), flags, None)
        .map_err(|e| fail("mounting proc on /proc".into(), e))?;
    // A new sysfs shows the network namespace of its mounter: with a pod network it is mounted
    // once the app has joined it (`join_pod_network`).
    if let Some(tree) = host_sys {
        sys::move_mount_to(&tree, libc::AT_FDCWD, c"/sys")
            .map_err(|e| fail("mounting the host's /sys on /sys".into(), e))?;
    }
    dev::setup(console.as_ref())?;
    masks::proc()?;
    if net == NetMode::Host {
        masks::sys()?;
        cgroup_fs(app)?;
    }
    for (m, v) in app.mounts.iter().zip(volumes) {
        attach_volume(app, m, v)?;
    }
    if app.read_only_rootfs {
        // The root mount only: /proc, /dev and the volumes keep their own setting.
        sys::mount_set_readonly(libc::AT_FDCWD, c"/", 0)
            .map_err(|e| fail("making the rootfs read-only".into(), e))?;
    }
    Ok(())
}

/// Joins the pod's network namespace (the init's; the app was forked before it existed) and
/// mounts a sysfs showing it on /sys.
pub(super) fn join_pod_network(app: &AppPlan) -> Result<(), Failure> {
    let ns = sys::open(c"/proc/1/ns/net", libc::O_RDONLY, 0)
        .map_err(|e| fail("opening the pod's network namespace".into(), e))?;
    sys::setns(ns.as_raw_fd(), libc::CLONE_NEWNET)
        .map_err(|e| fail("joining the pod's network namespace".into(), e))?;
    let flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY;
    sys::mount(Some(c"sysfs"), c"/sys", Some(c"sysfs"), flags, None)
        .map_err(|e| fail("mounting sysfs on /sys".into(), e))?;
    masks::sys()?;
    cgroup_fs(app)
}

/// With a v2 cgroup of its own, the app sees it (its cgroup namespace's root) read-only on
/// `/sys/fs/cgroup`, as a v2 container expects. Otherwise nothing is mounted there: under v1
/// device rules alone the app shares the pod's cgroups, and on a hybrid host the v2 tree it is
/// in is its caller's.
fn cgroup_fs(app: &AppPlan) -> Result<(), Failure> {
    if app.cgroups.v2_dir.is_none() {
        return Ok(());
    }
    let flags = MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY;
    sys::mount(
        Some(c"cgroup2"),
        c"/sys/fs/cgroup",
        Some(c"cgroup2"),
        flags,
        None,
    )
    .map_err(|e| fail("mounting the app's cgroups on /sys/fs/cgroup".into(), e))
}

fn fail(what: String, e: io::Error) -> Failure {
    Failure::setup(format!("{what}: {}", errno_text(&e)))
}

/// `pivot_root` into the rootfs, then drop the host's tree from this namespace.
pub(super) fn pivot(rootfs: &CStr) -> Result<(), Failure> {
    sys::chdir(rootfs).map_err(|e| fail(format!("entering the rootfs {rootfs:?}"), e))?;
    // pivot_root(".", ".") stacks the old root on top of the new one; unmounting "." then
    // removes exactly the old root, with no directory needed to park it in.
    sys::pivot_root(c".", c".").map_err(|e| fail("pivot_root into the rootfs".into(), e))?;
    sys::umount2(c".", libc::MNT_DETACH)
        .map_err(|e| fail("detaching the host's root".into(), e))?;
    sys::chdir(c"/").map_err(|e| fail("entering the new root".into(), e))
}

/// A detached copy of the mount tree at `path` (relative to `dirfd`; empty = `dirfd` itself).
fn detach(dirfd: RawFd, path: &CStr, recursive: bool, read_only: bool) -> io::Result<OwnedFd> {
    let mut flags = sys::OPEN_TREE_CLONE | sys::OPEN_TREE_CLOEXEC;
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    if recursive {
        flags |= libc::AT_RECURSIVE as u32;
    }
    let tree = sys::open_tree(dirfd, path, flags)?;
    if read_only {
        let mut f = libc::AT_EMPTY_PATH;
        if recursive {
            f |= libc::AT_RECURSIVE;
        }
        sys::mount_set_readonly(tree.as_raw_fd(), c"", f)?;
    }
    Ok(tree)
}

/// Opens a volume's host source, refusing symlinks anywhere in its path (appc §9.4), and
/// clones it. A missing source is an error: nothing is created on the host.
fn detach_volume(m: &MountPlan, userns: Option<RawFd>) -> Result<Detached, Failure> {
    let src = m.source.to_string_lossy();
    let fd = rustix::fs::openat2(
        rustix::fs::CWD,
        m.source.as_c_str(),
        OFlags::PATH | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::NO_SYMLINKS,
    )
    .map_err(|e| {
        Failure::setup(match e {
            rustix::io::Errno::NOENT => format!("volume source {src} does not exist on the host"),
            rustix::io::Errno::LOOP => format!(
                "volume source {src} is a symlink or has one in its path: give the real path"
            ),
            e => format!("volume source {src}: {}", errno_text(&e.into())),
        })
    })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| fail(format!("volume source {src}"), e.into()))?;
    let tree = detach(fd.as_raw_fd(), c"", m.recursive, m.read_only)
        .map_err(|e| fail(format!("cloning volume source {src}"), e))?;
    if let Some(ns) = userns {
        // Host files keep their owners: the pod sees them through its mapping.
        userns::idmap(&tree, ns, m.recursive).map_err(|e| {
            fail(
                format!("mapping volume source {src} to the pod's ids (its file system must support idmapped mounts)"),
                e,
            )
        })?;
    }
    Ok(Detached {
        tree,
        is_dir: FileType::from_raw_mode(st.st_mode) == FileType::Directory,
    })
}

fn attach_volume(app: &AppPlan, m: &MountPlan, v: Detached) -> Result<(), Failure> {
    let target = m.target.to_string_lossy();
    let made = as_pod_root(app, || {
        if v.is_dir {
            ensure_dir(&m.target)
        } else {
            ensure_file(&m.target)
        }
    });
    made.map_err(|e| match e.raw_os_error() {
        Some(libc::ENOTDIR) if v.is_dir => Failure::setup(format!(
            "mount target {target} exists in the image and is not a directory"
        )),
        Some(libc::EISDIR) => Failure::setup(format!(
            "mount target {target} is a directory in the image but the volume source {} is a file",
            m.source.to_string_lossy()
        )),
        _ => fail(format!("creating mount target {target}"), e),
    })?;
    sys::move_mount_to(&v.tree, libc::AT_FDCWD, &m.target).map_err(|e| {
        fail(
            format!("mounting {} on {target}", m.source.to_string_lossy()),
            e,
        )
    })
}

/// Runs `f`, which creates files in the app's rootfs or volumes, as the pod's root. An idmapped
/// mount refuses to create a file for an owner outside its mapping (EOVERFLOW), which the host's
/// root is under a user namespace; the pod's root lands as on-disk root, as the image's files
/// are. (A non-zero fsuid drops the file capabilities, so nothing else is done meanwhile.)
fn as_pod_root<T, E>(app: &AppPlan, f: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
    let Some(id) = app.pod_root else {
        return f();
    };
    sys::set_fs_ids(id, id);
    let r = f();
    sys::set_fs_ids(0, 0);
    r
}
