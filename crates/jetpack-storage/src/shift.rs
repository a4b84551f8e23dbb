//! Shifting a clone's owners into a pod's id range, for backends whose clones cannot be
//! idmapped (zfs-fuse: FUSE without idmapped mounts). A file of uid `u < size` becomes
//! `host + u`, so that in the pod's user namespace it is `u` again; ids outside the range are
//! left (they show as the overflow id inside, as they would through an idmapped mount).
//!
//! The walk is iterative and descriptor-relative (no path grows with depth), never follows a
//! symlink and stays on the clone's file system. `chown` clears setuid and setgid bits, so the
//! mode of a file that had them is set again after.

use std::os::fd::OwnedFd;
use std::path::Path;

use rustix::fs::{
    AtFlags, Dir, FileType, Gid, Mode, OFlags, Uid, chmodat, chownat, openat, statat,
};

use crate::error::{Error, Result};

/// Shifts every owner under `root` (itself included) by `host`, for ids below `size`.
pub(crate) fn shift_owners(root: &Path, host: u32, size: u32) -> Result<()> {
    let err = |what: &str, e: rustix::io::Errno| {
        Error::io(root, std::io::Error::other(format!("{what}: {e}")))
    };
    let top = rustix::fs::open(
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| err("opening", e))?;
    let dev = rustix::fs::fstat(&top).map_err(|e| err("stat", e))?.st_dev;
    shift_one(&top, c".", host, size).map_err(|e| err("shifting the owner of its root", e))?;
    let mut stack: Vec<OwnedFd> = vec![top];
    while let Some(dir) = stack.pop() {
        let entries = Dir::read_from(&dir).map_err(|e| err("reading a directory", e))?;
        for entry in entries {
            let entry = entry.map_err(|e| err("reading a directory", e))?;
            let name = entry.file_name();
            if name == c"." || name == c".." {
                continue;
            }
            let st = shift_one(&dir, name, host, size).map_err(|e| err("shifting an owner", e))?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory && st.st_dev == dev {
                let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                stack.push(
                    openat(&dir, name, flags, Mode::empty())
                        .map_err(|e| err("opening a directory", e))?,
                );
            }
        }
    }
    Ok(())
}

fn shift_one(
    dir: &OwnedFd,
    name: &std::ffi::CStr,
    host: u32,
    size: u32,
) -> rustix::io::Result<rustix::fs::Stat> {
    let st = statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let shift = |id: u32| if id < size { host + id } else { id };
    let (uid, gid) = (shift(st.st_uid), shift(st.st_gid));
    if (uid, gid) == (st.st_uid, st.st_gid) {
        return Ok(st);
    }
    chownat(
        dir,
        name,
        Some(Uid::from_raw(uid)),
        Some(Gid::from_raw(gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )?;
    let kind = FileType::from_raw_mode(st.st_mode);
    if kind == FileType::RegularFile && st.st_mode & 0o6000 != 0 {
        chmodat(
            dir,
            name,
            Mode::from_raw_mode(st.st_mode & 0o7777),
            AtFlags::empty(),
        )?;
    }
    Ok(st)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};

    #[jetpack_testutil::root_test]
    fn owners_move_into_the_range_and_setuid_stays() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        let deep = root.join("a/b/c");
        std::fs::create_dir_all(&deep).unwrap();
        let suid = deep.join("suid");
        std::fs::write(&suid, "x").unwrap();
        std::fs::set_permissions(&suid, std::fs::Permissions::from_mode(0o4755)).unwrap();
        let other = root.join("other");
        std::fs::write(&other, "y").unwrap();
        std::os::unix::fs::chown(&other, Some(1000), Some(70_000)).unwrap();
        symlink("/etc/shadow", root.join("link")).unwrap();
        super::shift_owners(&root, 1 << 28, 1 << 16).unwrap();
        let m = |p: &std::path::Path| std::fs::symlink_metadata(p).unwrap();
        assert_eq!((m(&root).uid(), m(&root).gid()), (1 << 28, 1 << 28));
        assert_eq!(m(&suid).uid(), 1 << 28);
        assert_eq!(m(&suid).mode() & 0o7777, 0o4755, "setuid kept");
        assert_eq!(
            (m(&other).uid(), m(&other).gid()),
            ((1 << 28) + 1000, 70_000)
        );
        assert_eq!(m(&root.join("link")).uid(), 1 << 28, "the link itself");
        assert_eq!(
            std::fs::metadata("/etc/shadow").unwrap().uid(),
            0,
            "not its target"
        );
    }
}
