//! Unmounting whatever a test left mounted below a directory.

use std::path::{Path, PathBuf};

use crate::run;

/// Mount points at or below `path`, deepest (and most recently stacked) first.
pub fn mounts_below(path: &Path) -> Vec<PathBuf> {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = jetpack_fs::mountinfo::read().unwrap_or_default();
    let mut found: Vec<(usize, PathBuf)> = mounts
        .into_iter()
        .map(|m| m.mount_point)
        .enumerate()
        .filter(|(_, p)| p.starts_with(&path))
        .collect();
    found.sort_by(|(ia, a), (ib, b)| {
        b.components()
            .count()
            .cmp(&a.components().count())
            .then(ib.cmp(ia))
    });
    found.into_iter().map(|(_, p)| p).collect()
}

/// Unmounts everything at or below `path`, lazily where busy. Returns what could not be unmounted.
pub fn unmount_below(path: &Path) -> Vec<String> {
    let mut errors = Vec::new();
    for _ in 0..32 {
        let targets = mounts_below(path);
        if targets.is_empty() {
            return Vec::new();
        }
        errors.clear();
        for t in targets {
            let t = t.to_string_lossy().into_owned();
            if let Err(e) = run("umount", &[&t])
                && let Err(e2) = run("umount", &["-l", &t])
            {
                errors.push(format!("{e}; {e2}"));
            }
        }
    }
    errors
}

/// Unmounts everything below its path when dropped.
pub struct MountGuard {
    path: PathBuf,
}

impl MountGuard {
    pub fn new(path: &Path) -> Self {
        MountGuard {
            path: path.to_path_buf(),
        }
    }
}

impl Drop for MountGuard {
    fn drop(&mut self) {
        for e in unmount_below(&self.path) {
            eprintln!("MountGuard {}: {e}", self.path.display());
        }
    }
}
