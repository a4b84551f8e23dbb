//! A place for a Jetpack store on a real storage backend, with the configuration overrides
//! that select it.

use std::path::PathBuf;

use crate::{LoopFs, ZfsDaemon, ZfsPool};

/// A store root on the backend `kind` (`zfs`: a zfs-fuse pool; `btrfs`: a btrfs loop device;
/// `overlay`, `dir`: a temporary directory). Dropping it unmounts what is left below the
/// directory, then releases the pool or loop device, then removes the directory.
pub struct Backend {
    /// `-o` overrides: `storage=…`, `root=…` and, for zfs, `zfs.dataset=…`.
    pub sets: Vec<String>,
    pub root: PathBuf,
    // Drop order matters: the pool and loop file system go before the directory holding them.
    _pool: Option<ZfsPool>,
    _fs: Option<LoopFs>,
    pub dir: tempfile::TempDir,
}

impl Backend {
    pub fn new(kind: &str) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let (mut pool, mut fs) = (None, None);
        let mut sets = vec![format!("storage={kind}")];
        let root = match kind {
            "zfs" => {
                ZfsDaemon::ensure();
                let p = ZfsPool::create(512 << 20);
                sets.push(format!("zfs.dataset={}/jetpack", p.name()));
                pool = Some(p);
                dir.path().join("store")
            }
            "btrfs" => {
                let f = LoopFs::btrfs(512 << 20);
                let r = f.path().join("store");
                fs = Some(f);
                r
            }
            _ => dir.path().join("store"),
        };
        sets.push(format!("root={}", root.display()));
        Backend {
            sets,
            root,
            _pool: pool,
            _fs: fs,
            dir,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        let _ = crate::unmount_below(self.dir.path());
    }
}
