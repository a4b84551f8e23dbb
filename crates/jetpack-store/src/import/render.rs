//! Rendering an image with dependencies, and `pathWhitelist`.
//!
//! Stored images are fully rendered, so an image's rootfs is: a clone of its first dependency,
//! the other dependencies copied over it in order, then its own layer moved on top, then its
//! whitelist applied. The result equals the spec's depth-first layering because each
//! dependency's stored tree is itself that layering. One deliberate difference from the
//! reference renderer (see docs/architecture.md): a dependency's files that its own whitelist
//! removed stay removed even if the top image's whitelist lists them.

use std::collections::HashSet;
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result};

/// The whitelist as relative paths (`/etc/x/` → `etc/x`).
pub fn whitelist_set(list: &[String]) -> HashSet<PathBuf> {
    list.iter()
        .map(|p| PathBuf::from(p.trim_start_matches('/').trim_end_matches('/')))
        .filter(|p| !p.as_os_str().is_empty())
        .collect()
}

/// Relative paths of every directory below `root` (collected before the own layer is merged, to
/// know which directories the image itself brings: those always survive its whitelist).
pub fn directories(root: &Path) -> Result<HashSet<PathBuf>> {
    let mut out = HashSet::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let dir = root.join(&rel);
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            if e.file_type().at(e.path())?.is_dir() {
                let r = rel.join(e.file_name());
                out.insert(r.clone());
                stack.push(r);
            }
        }
    }
    Ok(out)
}

/// Removes every path not in `keep`, except directories in `own_dirs` and directories that still
/// hold something kept. `own_dirs = None` means every directory is the image's own.
pub fn apply_whitelist(
    root: &Path,
    keep: &HashSet<PathBuf>,
    own_dirs: Option<&HashSet<PathBuf>>,
) -> Result<u64> {
    fn walk(
        root: &Path,
        rel: &Path,
        keep: &HashSet<PathBuf>,
        own: Option<&HashSet<PathBuf>>,
        removed: &mut u64,
    ) -> Result<bool> {
        let dir = root.join(rel);
        let mut kept_any = false;
        for e in fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            let r = rel.join(e.file_name());
            let is_dir = e.file_type().at(e.path())?.is_dir();
            let keep_this = if is_dir {
                let inner = walk(root, &r, keep, own, removed)?;
                inner || keep.contains(&r) || own.is_none_or(|o| o.contains(&r))
            } else {
                keep.contains(&r)
            };
            if keep_this {
                kept_any = true;
            } else {
                let p = e.path();
                if is_dir {
                    fs::remove_dir(&p).at(&p)?
                } else {
                    fs::remove_file(&p).at(&p)?
                }
                *removed += 1;
            }
        }
        Ok(kept_any)
    }
    let mut removed = 0;
    walk(root, Path::new(""), keep, own_dirs, &mut removed)?;
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist_keeps_listed_files_and_needed_dirs() {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        for d in ["a", "b/c", "d", "e"] {
            fs::create_dir_all(r.join(d)).unwrap();
        }
        for f in ["a/file01.txt", "a/file03.txt", "b/c/x", "d/y", "top"] {
            fs::write(r.join(f), f).unwrap();
        }
        let keep = whitelist_set(&["/a/file01.txt".into(), "/b/c/x".into(), "/d/".into()]);
        // Dependency tree: only "a" is the image's own directory.
        let own: HashSet<PathBuf> = [PathBuf::from("a")].into();
        apply_whitelist(r, &keep, Some(&own)).unwrap();
        assert!(r.join("a/file01.txt").exists());
        assert!(!r.join("a/file03.txt").exists());
        assert!(r.join("b/c/x").exists(), "parents of listed files stay");
        assert!(
            r.join("d").is_dir() && !r.join("d/y").exists(),
            "listed dir stays, its files go"
        );
        assert!(!r.join("e").exists(), "unlisted dependency dir goes");
        assert!(!r.join("top").exists());
        // Own image: every directory stays.
        fs::create_dir_all(r.join("e/f")).unwrap();
        apply_whitelist(r, &keep, None).unwrap();
        assert!(r.join("e/f").is_dir());
    }
}
