//! The change of a build from what the backend reports ([`TreeDelta`]): only the entries,
//! directories and renamed subtrees it names are compared, with the rules of
//! [`compare_trees`](crate::diff::compare_trees), so the result is the one comparing the whole
//! trees gives (a test holds the two equal) at the cost of the change.

use std::collections::{HashMap, HashSet};
use std::fs::{self, Metadata};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use jetpack_storage::TreeDelta;

use crate::diff::{Changes, Skip, compare_below, entries, same_entry};

/// The changes of `new` (the pod's tree) against `old` (the parent's) where `delta` says to
/// look. `None` when a changed file has several names: the backend names one of them, and
/// the others changed too (compare the trees then).
pub fn from_delta(
    new: &Path,
    old: &Path,
    delta: &TreeDelta,
    skip: Skip,
) -> io::Result<Option<Changes>> {
    let mut c = Changes::default();
    let skipped = |p: &Path| {
        p.ancestors()
            .filter(|a| !a.as_os_str().is_empty())
            .any(skip)
    };
    let (mut new_dirs, mut old_dirs) = (Reach::new(new), Reach::new(old));
    for p in &delta.touched {
        if p.as_os_str().is_empty() || skipped(p) || !new_dirs.dir(parent(p))? {
            continue;
        }
        let Some(md) = lstat(&new.join(p))? else {
            continue;
        };
        if !md.is_dir() && md.nlink() > 1 {
            return Ok(None);
        }
        let before = match old_dirs.dir(parent(p))? {
            true => lstat(&old.join(p))?,
            false => None,
        };
        let same = match &before {
            Some(b) => same_entry(&new.join(p), &md, &old.join(p), b)?,
            None => false,
        };
        if !same {
            c.add(p);
        }
        if before.is_some_and(|b| b.is_dir() != md.is_dir()) {
            c.deleted = true;
        }
    }
    for d in &delta.dirs {
        if skipped(d) || !new_dirs.dir(d)? || !old_dirs.dir(d)? {
            continue;
        }
        let news: HashMap<_, bool> = entries(&new.join(d))?
            .into_iter()
            .map(|(n, md)| (n, md.is_dir()))
            .collect();
        for (name, md) in entries(&old.join(d))? {
            if skip(&d.join(&name)) {
                continue;
            }
            if news.get(&name).is_none_or(|&is_dir| is_dir != md.is_dir()) {
                c.deleted = true;
            }
        }
    }
    for r in &delta.renamed {
        if r.as_os_str().is_empty() || skipped(r) || !new_dirs.dir(r)? {
            continue;
        }
        // Everything below a renamed directory is compared with what the parent has there.
        let in_old = old_dirs.dir(r)?;
        compare_below(new, old, r.clone(), in_old, skip, &mut c)?;
    }
    Ok(Some(c))
}

fn parent(p: &Path) -> &Path {
    p.parent().unwrap_or(Path::new(""))
}

fn lstat(p: &Path) -> io::Result<Option<Metadata>> {
    match fs::symlink_metadata(p) {
        Ok(md) => Ok(Some(md)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(io::Error::new(e.kind(), format!("{}: {e}", p.display()))),
    }
}

/// Which paths of a tree are directories reached through directories only (a walk from the
/// root would enter them), remembered.
struct Reach<'a> {
    root: &'a Path,
    yes: HashSet<PathBuf>,
    no: HashSet<PathBuf>,
}

impl<'a> Reach<'a> {
    fn new(root: &'a Path) -> Self {
        Reach {
            root,
            yes: HashSet::from([PathBuf::new()]),
            no: HashSet::new(),
        }
    }

    fn dir(&mut self, rel: &Path) -> io::Result<bool> {
        if self.yes.contains(rel) {
            return Ok(true);
        }
        if self.no.contains(rel) {
            return Ok(false);
        }
        let ok =
            self.dir(parent(rel))? && lstat(&self.root.join(rel))?.is_some_and(|md| md.is_dir());
        if ok {
            self.yes.insert(rel.to_path_buf());
        } else {
            self.no.insert(rel.to_path_buf());
        }
        Ok(ok)
    }
}
