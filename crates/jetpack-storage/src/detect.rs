//! What `storage = auto` looks at: the file system under the root, and the kernel's file systems.

use std::path::Path;

use crate::Kind;
use crate::mounts::{self, Mount};

/// The mount `path` lies on (for a path that does not exist yet, its nearest existing parent's).
pub(crate) fn mount_of(path: &Path) -> Option<Mount> {
    mounts::mount_of(&mounts::read().ok()?, path)
}

/// True if `/proc/filesystems` lists `fs` (a module not loaded yet does not count).
pub(crate) fn kernel_has(fs: &str) -> bool {
    std::fs::read_to_string("/proc/filesystems")
        .is_ok_and(|t| t.lines().any(|l| l.split_whitespace().last() == Some(fs)))
}

/// The decision, given the mount under `root` (`root` canonical). On ZFS the dataset is the
/// configured one, else the dataset mounted exactly at `root`, else a `jetpack` child of the
/// dataset `root` lies in (so the areas do not land directly in, say, the OS root dataset).
pub(crate) fn choose(
    mount: Option<&Mount>,
    root: &Path,
    zfs_dataset: Option<&str>,
    has_overlay: bool,
) -> (Kind, Option<String>) {
    match mount {
        Some(m) if m.fs_type == "zfs" || m.fs_type == "fuse.zfs" => {
            let ds = match zfs_dataset {
                Some(d) => d.to_string(),
                None if m.mount_point == root => m.source.clone(),
                None => format!("{}/jetpack", m.source),
            };
            (Kind::Zfs, Some(ds))
        }
        Some(m) if m.fs_type == "btrfs" => (Kind::Btrfs, None),
        _ if has_overlay => (Kind::Overlay, None),
        _ => (Kind::Dir, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn m(fs_type: &str, source: &str, mount_point: &str) -> Mount {
        Mount {
            mount_point: PathBuf::from(mount_point),
            fs_type: fs_type.into(),
            source: source.into(),
            ..Mount::default()
        }
    }

    #[test]
    fn picks_backend_and_dataset() {
        let root = Path::new("/var/lib/jetpack/storage");
        let zfs_at_root = m("zfs", "tank/jp", "/var/lib/jetpack/storage");
        assert_eq!(
            choose(Some(&zfs_at_root), root, None, true),
            (Kind::Zfs, Some("tank/jp".into()))
        );
        let zfs_above = m("fuse.zfs", "rpool/var", "/var");
        assert_eq!(
            choose(Some(&zfs_above), root, None, true),
            (Kind::Zfs, Some("rpool/var/jetpack".into()))
        );
        assert_eq!(
            choose(Some(&zfs_above), root, Some("t/x"), true),
            (Kind::Zfs, Some("t/x".into()))
        );
        assert_eq!(
            choose(Some(&m("btrfs", "/dev/sda2", "/")), root, None, true),
            (Kind::Btrfs, None)
        );
        assert_eq!(
            choose(Some(&m("ext4", "/dev/sda1", "/")), root, None, true),
            (Kind::Overlay, None)
        );
        assert_eq!(
            choose(Some(&m("ext4", "/dev/sda1", "/")), root, None, false),
            (Kind::Dir, None)
        );
        assert_eq!(choose(None, root, None, false), (Kind::Dir, None));
    }

    #[test]
    fn this_machine_has_a_root_mount() {
        assert!(mount_of(Path::new("/")).is_some());
    }
}
