//! Host id ranges for pods with a user namespace (`--private-users`). Each such pod gets 65,536
//! uids and gids of its own, starting at 2^28 + k × 65,536 (k < 4,096): far above the ids a
//! distribution hands out, and never another pod's, so no two pods share an owner on the host.
//!
//! Range `k` is claimed by creating `<root>/userns/<k>` exclusively (it holds the pod's UUID):
//! concurrent prepares never get the same one. `destroy` releases it, `gc` releases claims of
//! pods that no longer exist (a prepare killed before it recorded its range).

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use jetpack_runtime::IdMap;

use crate::error::{Error, IoContext, Result};

const FIRST: u32 = 1 << 28;
const SIZE: u32 = 1 << 16;
const RANGES: u32 = 4096;

fn dir(root: &Path) -> PathBuf {
    jetpack_store::Layout::new(root).userns()
}

/// Claims a free range for pod `uuid`.
pub fn allocate(root: &Path, uuid: &str) -> Result<IdMap> {
    let dir = dir(root);
    std::fs::DirBuilder::new()
        .recursive(true)
        .create(&dir)
        .at(&dir)?;
    for k in 0..RANGES {
        let claim = dir.join(k.to_string());
        let made = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&claim);
        match made {
            Ok(mut f) => {
                f.write_all(uuid.as_bytes()).at(&claim)?;
                return Ok(IdMap {
                    host: FIRST + k * SIZE,
                    size: SIZE,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e).at(&claim).map_err(crate::error::Error::from),
        }
    }
    Err(Error::Invalid(format!(
        "all {RANGES} id ranges for pods with --private-users are taken: destroy some pods"
    )))
}

/// Releases pod `uuid`'s range, if it still holds it.
pub fn release(root: &Path, uuid: &str, map: &IdMap) {
    if map.host < FIRST || map.size != SIZE {
        return;
    }
    let claim = dir(root).join(((map.host - FIRST) / SIZE).to_string());
    if std::fs::read_to_string(&claim).is_ok_and(|owner| owner == uuid) {
        let _ = std::fs::remove_file(claim);
    }
}

/// Releases the claims of pods for which `exists` says no; returns how many.
pub fn release_orphans(root: &Path, exists: impl Fn(&str) -> bool) -> usize {
    let Ok(entries) = std::fs::read_dir(dir(root)) else {
        return 0;
    };
    let mut n = 0;
    for e in entries.flatten() {
        let owner = std::fs::read_to_string(e.path()).unwrap_or_default();
        if !owner.is_empty() && !exists(&owner) && std::fs::remove_file(e.path()).is_ok() {
            n += 1;
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_distinct_and_released() {
        let tmp = tempfile::tempdir().unwrap();
        let a = allocate(tmp.path(), "a").unwrap();
        let b = allocate(tmp.path(), "b").unwrap();
        assert_eq!(
            a,
            IdMap {
                host: FIRST,
                size: SIZE
            }
        );
        assert_eq!(b.host, FIRST + SIZE);
        release(tmp.path(), "b", &a); // not b's: kept
        assert_eq!(allocate(tmp.path(), "c").unwrap().host, FIRST + 2 * SIZE);
        release(tmp.path(), "a", &a);
        assert_eq!(allocate(tmp.path(), "d").unwrap().host, FIRST);
        assert_eq!(release_orphans(tmp.path(), |u| u != "c"), 1);
        assert_eq!(allocate(tmp.path(), "e").unwrap().host, FIRST + 2 * SIZE);
    }
}
