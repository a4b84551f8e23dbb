//! Trees stacked on other trees: an OCI layer stored as its own changes on the layer below it,
//! and an image over its top layer. Each stacked tree has a record `below/<tree>` naming the
//! tree right under it; a pod's overlay, or an image's read-only view, lists the whole chain as
//! its lower layers, so nothing of the layers below is ever copied.
//!
//! A temporary tree's record is `below/.<name>`, renamed to `below/<image>` when it is sealed,
//! just before the tree itself: a crash in between leaves a record without a tree, which
//! [`Records::collect`] removes.

use std::io;
use std::path::{Path, PathBuf};

use crate::area::{self, IMAGES, TMP};
use crate::error::{Error, Result};
use crate::mounts;

const BELOW: &str = "below";
/// More than overlayfs stacks (500 lower layers): a longer chain is a damaged store.
const MAX_CHAIN: usize = 500;

pub(super) struct Records<'a> {
    root: &'a Path,
}

impl<'a> Records<'a> {
    pub(super) fn new(root: &'a Path) -> Self {
        Records { root }
    }

    fn dir(&self) -> PathBuf {
        self.root.join(BELOW)
    }

    fn sealed(&self, tree: &str) -> Result<PathBuf> {
        area::check_name(tree)?;
        Ok(self.dir().join(tree))
    }

    fn pending(&self, name: &str) -> Result<PathBuf> {
        area::check_name(name)?;
        Ok(self.dir().join(format!(".{name}")))
    }

    /// Records that the temporary tree `name` is stacked on the sealed tree `below`.
    pub(super) fn stack_temp(&self, name: &str, below: &str) -> Result<()> {
        area::check_name(below)?;
        area::create_private_dir(&self.dir())?;
        let p = self.pending(name)?;
        std::fs::write(&p, below).map_err(|e| Error::io(&p, e))
    }

    /// Moves the record of temporary tree `name` (if it has one) to sealed tree `image`.
    pub(super) fn seal(&self, name: &str, image: &str) -> Result<()> {
        let from = self.pending(name)?;
        if !from.exists() {
            return Ok(());
        }
        let to = self.sealed(image)?;
        std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        crate::sync_dir(&self.dir())
    }

    pub(super) fn discard_temp(&self, name: &str) -> Result<()> {
        remove_file(&self.pending(name)?)
    }

    pub(super) fn remove(&self, tree: &str) -> Result<()> {
        remove_file(&self.sealed(tree)?)
    }

    /// The sealed tree right under `tree`, if it is stacked.
    pub(super) fn below(&self, tree: &str) -> Result<Option<String>> {
        let p = self.sealed(tree)?;
        match std::fs::read_to_string(&p) {
            Ok(name) => {
                area::check_name(&name).map_err(|_| {
                    Error::Config(format!("{}: not a tree name: {name:?}", p.display()))
                })?;
                Ok(Some(name))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::io(&p, e)),
        }
    }

    /// The sealed trees stacked right on `tree` (what removing it would break).
    pub(super) fn above(&self, tree: &str) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for name in area::list(&self.dir())? {
            if name.starts_with('.') || !self.root.join(IMAGES).join(&name).exists() {
                continue;
            }
            if self.below(&name)?.as_deref() == Some(tree) {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// The names of `image` and of the trees it is stacked on, top first.
    pub(super) fn chain(&self, image: &str) -> Result<Vec<String>> {
        let mut chain = vec![image.to_string()];
        while let Some(next) = self.below(chain.last().expect("not empty"))? {
            if chain.len() >= MAX_CHAIN || chain.contains(&next) {
                return Err(Error::Config(format!(
                    "image {image}: its layers do not end (more than {MAX_CHAIN}, or a cycle)"
                )));
            }
            chain.push(next);
        }
        Ok(chain)
    }

    /// The directories of `image`'s chain, top first, each checked to exist.
    pub(super) fn layers(&self, image: &str) -> Result<Vec<PathBuf>> {
        self.chain(image)?
            .iter()
            .map(|t| {
                let p = area::path(self.root, IMAGES, t)?;
                area::ensure_image(&p, t)?;
                Ok(mounts::canonical(&p))
            })
            .collect()
    }

    /// Removes the records whose tree is gone (a crash between a record and its tree).
    pub(super) fn collect(&self) -> Result<()> {
        let dir = self.dir();
        for name in area::list(&dir)? {
            let (area, tree) = match name.strip_prefix('.') {
                Some(t) => (TMP, t),
                None => (IMAGES, name.as_str()),
            };
            if !self.root.join(area).join(tree).exists() {
                remove_file(&dir.join(&name))?;
            }
        }
        Ok(())
    }
}

fn remove_file(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(p, e)),
        _ => Ok(()),
    }
}
