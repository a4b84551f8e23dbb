//! What a build changed: the paths of the build pod's tree that differ from the parent's (with
//! their parent directories, which the archive needs), and whether anything was deleted.
//!
//! One small function per way of finding it: [`overlay_upper`] reads the overlay's upper
//! directory (cost: the change); [`crate::native::from_delta`] compares only where the
//! backend says the tree changed (btrfs: `btrfs send --no-data`); [`compare_trees`] walks both
//! trees (zfs, dir, and the reference the others are tested against). Symlinks are entries, never
//! followed: every path is reached through directories checked with `lstat`, and the build pod
//! has ended, so nothing moves them meanwhile.

use std::collections::{BTreeSet, HashSet};
use std::ffi::{CString, OsStr, OsString};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use jetpack_storage::xattr::{self, Node};

/// The change of a build, as paths relative to the rootfs.
#[derive(Debug, Default)]
pub struct Changes {
    /// Added or modified entries and every directory above them.
    pub paths: BTreeSet<PathBuf>,
    /// Something of the parent is gone (the image then needs a `pathWhitelist`).
    pub deleted: bool,
}

impl Changes {
    pub(crate) fn add(&mut self, rel: &Path) {
        let mut p = rel;
        while !p.as_os_str().is_empty() && self.paths.insert(p.to_path_buf()) {
            p = p.parent().unwrap_or(Path::new(""));
        }
    }

    /// Whether `rel` (relative, no leading `/`) goes into the image.
    pub fn contains(&self, rel: &[u8]) -> bool {
        self.paths.contains(Path::new(OsStr::from_bytes(rel)))
    }
}

/// Paths that are never part of the change (the build directory, files the runtime wrote).
pub type Skip<'a> = &'a dyn Fn(&Path) -> bool;

/// The overlay's upper directory holds the change: its entries are added or modified, its
/// whiteouts (0/0 character devices) and opaque directories are deletions. `None` when the
/// upper directory uses what a plain walk cannot read (redirected directories, metacopy
/// files): compare the trees then.
pub fn overlay_upper(upper: &Path, skip: Skip) -> io::Result<Option<Changes>> {
    let mut c = Changes::default();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for (name, md) in entries(&upper.join(&rel))? {
            let child = rel.join(&name);
            if skip(&child) {
                continue;
            }
            let path = upper.join(&child);
            let ft = md.file_type();
            if ft.is_char_device() && md.rdev() == 0 {
                c.deleted = true;
                continue;
            }
            if has_xattr(&path, "trusted.overlay.redirect")?
                || has_xattr(&path, "trusted.overlay.metacopy")?
            {
                return Ok(None);
            }
            if ft.is_dir() {
                if xattr(&path, "trusted.overlay.opaque")?.as_deref() == Some(b"y") {
                    c.deleted = true;
                }
                stack.push(child.clone());
            }
            c.add(&child);
        }
    }
    Ok(Some(c))
}

/// Compares the build pod's tree `new` with the parent's `old`: type, mode, owner, size,
/// mtime, symlink target, device numbers and xattrs (contents are not read).
pub fn compare_trees(new: &Path, old: &Path, skip: Skip) -> io::Result<Changes> {
    let mut c = Changes::default();
    compare_below(new, old, PathBuf::new(), true, skip, &mut c)?;
    Ok(c)
}

/// [`compare_trees`] of what lies below directory `top` of `new` (`in_old`: the parent has
/// `top` as a directory), into `c`.
pub(crate) fn compare_below(
    new: &Path,
    old: &Path,
    top: PathBuf,
    in_old: bool,
    skip: Skip,
    c: &mut Changes,
) -> io::Result<()> {
    // (relative directory, whether the parent has it as a directory)
    let mut stack = vec![(top, in_old)];
    while let Some((rel, in_old)) = stack.pop() {
        let news = entries(&new.join(&rel))?;
        let olds = if in_old {
            entries(&old.join(&rel))?
        } else {
            Vec::new()
        };
        let old_names: HashSet<&OsString> = olds.iter().map(|(n, _)| n).collect();
        let new_names: HashSet<&OsString> = news.iter().map(|(n, _)| n).collect();
        if olds
            .iter()
            .any(|(n, _)| !new_names.contains(n) && !skip(&rel.join(n)))
        {
            c.deleted = true;
        }
        for (name, md) in &news {
            let child = rel.join(name);
            if skip(&child) {
                continue;
            }
            let before = if old_names.contains(name) {
                Some(fs::symlink_metadata(old.join(&child))?)
            } else {
                None
            };
            let same = match &before {
                Some(b) => same_entry(&new.join(&child), md, &old.join(&child), b)?,
                None => false,
            };
            if !same {
                c.add(&child);
            }
            if md.is_dir() {
                let old_dir = before.as_ref().is_some_and(|b| b.is_dir());
                if before.is_some() && !old_dir {
                    c.deleted = true;
                }
                stack.push((child, old_dir));
            } else if before.as_ref().is_some_and(|b| b.is_dir()) {
                // A directory replaced by a file: its contents are gone.
                c.deleted = true;
            }
        }
    }
    Ok(())
}

/// Every path of the tree at `root` (absolute, as a `pathWhitelist` lists them), sorted.
pub fn all_paths(root: &Path, skip: Skip) -> io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for (name, md) in entries(&root.join(&rel))? {
            let child = rel.join(&name);
            if skip(&child) {
                continue;
            }
            let Some(text) = child.to_str() else {
                return Err(io::Error::other(format!(
                    "{}: a name that is not UTF-8 cannot be listed in a pathWhitelist",
                    child.display()
                )));
            };
            out.push(format!("/{text}"));
            if md.is_dir() {
                stack.push(child);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// A directory's entries with their `lstat`.
pub(crate) fn entries(dir: &Path) -> io::Result<Vec<(OsString, Metadata)>> {
    let err = |e: io::Error| io::Error::new(e.kind(), format!("{}: {e}", dir.display()));
    let mut out = Vec::new();
    for e in fs::read_dir(dir).map_err(err)? {
        let e = e.map_err(err)?;
        let md = fs::symlink_metadata(e.path()).map_err(err)?;
        out.push((e.file_name(), md));
    }
    Ok(out)
}

pub(crate) fn same_entry(
    a_path: &Path,
    a: &Metadata,
    b_path: &Path,
    b: &Metadata,
) -> io::Result<bool> {
    let (ta, tb) = (a.file_type(), b.file_type());
    let same_kind = ta.is_dir() == tb.is_dir()
        && ta.is_file() == tb.is_file()
        && ta.is_symlink() == tb.is_symlink()
        && ta.is_char_device() == tb.is_char_device()
        && ta.is_block_device() == tb.is_block_device()
        && ta.is_fifo() == tb.is_fifo();
    if !same_kind
        || a.mode() != b.mode()
        || a.uid() != b.uid()
        || a.gid() != b.gid()
        || a.mtime() != b.mtime()
        || a.mtime_nsec() != b.mtime_nsec()
        || a.rdev() != b.rdev()
        // A directory's size is the filesystem's business.
        || (!ta.is_dir() && a.size() != b.size())
    {
        return Ok(false);
    }
    if ta.is_symlink() && fs::read_link(a_path)? != fs::read_link(b_path)? {
        return Ok(false);
    }
    Ok(xattrs(a_path)? == xattrs(b_path)?)
}

/// The xattrs of `path` (not followed), without overlayfs' own.
fn xattrs(path: &Path) -> io::Result<BTreeSet<(Vec<u8>, Vec<u8>)>> {
    let mut names = vec![0u8; 64 * 1024];
    let n = match xattr::list(Node::Link(path), &mut names[..]) {
        Ok(n) => n,
        Err(rustix::io::Errno::NOTSUP) => 0,
        Err(e) => return Err(e.into()),
    };
    let mut out = BTreeSet::new();
    for name in names[..n].split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if name.starts_with(b"trusted.overlay.") {
            continue;
        }
        let name = std::str::from_utf8(name).unwrap_or_default();
        if let Some(v) = xattr(path, name)? {
            out.insert((name.as_bytes().to_vec(), v));
        }
    }
    Ok(out)
}

fn xattr(path: &Path, name: &str) -> io::Result<Option<Vec<u8>>> {
    let cname = CString::new(name).expect("an xattr name has no NUL");
    let mut value = vec![0u8; 64 * 1024];
    match xattr::get(Node::Link(path), cname.as_c_str(), &mut value[..]) {
        Ok(n) => Ok(Some(value[..n].to_vec())),
        Err(e) if e == xattr::NO_XATTR || e == rustix::io::Errno::NOTSUP => Ok(None),
        Err(e) => Err(e.into()),
    }
}

fn has_xattr(path: &Path, name: &str) -> io::Result<bool> {
    Ok(xattr(path, name)?.is_some())
}
