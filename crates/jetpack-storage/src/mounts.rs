//! The mount table (`/proc/self/mountinfo` on Linux, `getfsstat` on FreeBSD) and unmounting whatever sits below a tree before it
//! is removed: a pod runtime may have mounted `proc`, `dev` or volumes inside a rootfs, and
//! removing a tree must never descend into (or be stopped by) such a mount.

use std::path::{Path, PathBuf};

use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::sys::{self, unmount};

pub(crate) use jetpack_fs::mountinfo::Mount;

pub(crate) fn read() -> Result<Vec<Mount>> {
    sys::mount_table()
}

/// `path` with symlinks resolved as far as it exists, so it compares equal to mountinfo paths.
pub(crate) fn canonical(path: &Path) -> PathBuf {
    let mut existing = path;
    let mut rest = Vec::new();
    loop {
        if let Ok(c) = existing.canonicalize() {
            return rest.iter().rev().fold(c, |p: PathBuf, n| p.join(n));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return path.to_path_buf(),
        }
    }
}

/// The mount that `path` lies on: the last (topmost) entry with the longest matching mount point.
pub(crate) fn mount_of(mounts: &[Mount], path: &Path) -> Option<Mount> {
    let path = canonical(path);
    let mut best: Option<&Mount> = None;
    for m in mounts.iter().filter(|m| path.starts_with(&m.mount_point)) {
        if best.is_none_or(|b| {
            m.mount_point.components().count() >= b.mount_point.components().count()
        }) {
            best = Some(m);
        }
    }
    best.cloned()
}

/// Mounts at or below `path` (excluding `path` itself unless `include_self`), deepest first.
pub(crate) fn below(mounts: &[Mount], path: &Path, include_self: bool) -> Vec<PathBuf> {
    let path = canonical(path);
    let mut found: Vec<(usize, PathBuf)> = mounts
        .iter()
        .enumerate()
        .filter(|(_, m)| {
            m.mount_point.starts_with(&path) && (include_self || m.mount_point != path)
        })
        .map(|(i, m)| (i, m.mount_point.clone()))
        .collect();
    // Deeper paths first; among equal depth, the later (upper) mount of a stack first.
    found.sort_by(|(ia, a), (ib, b)| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(ib.cmp(ia))
    });
    found.into_iter().map(|(_, p)| p).collect()
}

/// Unmounts everything mounted at or below `path`, deepest first, detaching lazily what is busy.
pub(crate) fn unmount_below(path: &Path, include_self: bool) -> Result<()> {
    // Each round unmounts the top of every stack; stacked mounts need further rounds.
    for _ in 0..64 {
        let targets = below(&read()?, path, include_self);
        if targets.is_empty() {
            return Ok(());
        }
        for target in targets {
            unmount_one(&target)?;
        }
    }
    Err(Error::Busy {
        what: path.display().to_string(),
        users: "mounts that keep reappearing below it".into(),
    })
}

/// Unmounts `target`; busy mounts are detached (they vanish now, the file system is released when
/// its last user goes; FreeBSD, which cannot, unmounts them by force). Not mounted (any more) is
/// fine.
pub(crate) fn unmount_one(target: &Path) -> Result<()> {
    match unmount(target, false) {
        Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::BUSY) => match unmount(target, true) {
            Ok(()) | Err(Errno::INVAL) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io(target, e.into())),
        },
        Err(e) => Err(Error::io(target, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jetpack_fs::mountinfo::parse;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
43 22 0:40 / /var/lib/jp/storage/tmp rw,relatime - fuse.zfs tank/jp/tmp rw,user_id=0
44 22 0:41 / /var/lib/jp/storage/pods/a\\040b rw - overlay overlay rw,lowerdir=/x,upperdir=/y
45 44 0:42 / /var/lib/jp/storage/pods/a\\040b/proc rw - proc proc rw
46 44 0:43 / /var/lib/jp/storage/pods/a\\040b rw - tmpfs tmpfs rw
47 22 0:44 / /var/lib/jp/storage/podsx rw - tmpfs tmpfs rw
";

    #[test]
    fn parses_fields_and_escapes() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 6);
        assert_eq!(m[1].fs_type, "fuse.zfs");
        assert_eq!(m[1].source, "tank/jp/tmp");
        assert_eq!(m[2].mount_point, Path::new("/var/lib/jp/storage/pods/a b"));
        assert_eq!(m[2].super_options, "rw,lowerdir=/x,upperdir=/y");
    }

    #[test]
    fn below_lists_deepest_and_topmost_first_and_respects_components() {
        let m = parse(SAMPLE);
        let pod = Path::new("/var/lib/jp/storage/pods/a b");
        // Index 46 (tmpfs stacked on the overlay) sorts before the overlay at the same depth.
        assert_eq!(
            below(&m, pod, true),
            [pod.join("proc"), pod.to_path_buf(), pod.to_path_buf()]
        );
        assert_eq!(below(&m, pod, false), [pod.join("proc")]);
        // `podsx` is not below `pods`.
        assert_eq!(
            below(&m, Path::new("/var/lib/jp/storage/pods"), true).len(),
            3
        );
    }

    #[test]
    fn mount_of_picks_longest_prefix() {
        let m = parse(SAMPLE);
        let got = mount_of(&m, Path::new("/var/lib/jp/storage/tmp/x/y")).unwrap();
        assert_eq!(got.source, "tank/jp/tmp");
        assert_eq!(mount_of(&m, Path::new("/etc")).unwrap().fs_type, "ext4");
    }
}
