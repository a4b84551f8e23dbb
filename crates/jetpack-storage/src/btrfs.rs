//! btrfs: every tree is a subvolume; images are read-only snapshots, pods writable snapshots.
//!
//! Sealing takes a read-only snapshot of the temporary subvolume into `images/` and deletes the
//! temporary one: btrfs refuses to rename a read-only subvolume into another directory (EROFS,
//! its `..` would change), and renaming first then setting `ro` would expose a writable image
//! for a moment. The snapshot appears read-only in one step. Nested subvolumes are not part of
//! a snapshot (they show up as empty directories), so images never contain any.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::area::{self, IMAGES, PODS, TMP};
use crate::error::{Error, Result};
use crate::runner::CommandRunner;
use crate::{Area, Kind, Storage, TreeDelta, mounts, tree};

const BTRFS_SUPER_MAGIC: i64 = 0x9123_683E;

pub struct BtrfsStorage {
    root: PathBuf,
    runner: Arc<dyn CommandRunner>,
}

impl BtrfsStorage {
    pub fn new(root: &Path, runner: Arc<dyn CommandRunner>) -> Self {
        BtrfsStorage {
            root: root.to_path_buf(),
            runner,
        }
    }

    fn btrfs(&self, args: &[&str]) -> Result<String> {
        self.runner.run("btrfs", args)
    }

    /// `btrfs subvolume snapshot [-r] <src> <dst>`. The target must not exist: given an existing
    /// directory, btrfs would put the snapshot inside it.
    fn snapshot(&self, src: &Path, dst: &Path, read_only: bool) -> Result<()> {
        area::ensure_absent(dst)?;
        let (src, dst) = (utf8(src)?, utf8(dst)?);
        let mut args = vec!["subvolume", "snapshot"];
        if read_only {
            args.push("-r");
        }
        args.extend([src, dst]);
        self.btrfs(&args).map(drop)
    }

    /// Removes a tree: unmounts what is mounted in it, deletes it as a subvolume (with any nested
    /// subvolumes) or, if it is a plain directory, file by file. Missing is fine.
    fn remove(&self, path: &Path) -> Result<()> {
        match std::fs::symlink_metadata(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::io(path, e)),
            Ok(m) if !m.is_dir() => {
                return std::fs::remove_file(path).map_err(|e| Error::io(path, e));
            }
            Ok(_) => {}
        }
        mounts::unmount_below(path, true)?;
        match self.delete_subvolume(path) {
            Err(e) if e.command_says("Not a Btrfs subvolume") => tree::remove_tree(path)
                .map_err(|e| Error::tree(format!("removing {}", path.display()), e)),
            other => other,
        }
    }

    fn delete_subvolume(&self, path: &Path) -> Result<()> {
        let p = utf8(path)?;
        match self.btrfs(&["subvolume", "delete", p]) {
            Err(e) if e.command_says("Directory not empty") => {
                // Subvolumes created inside the tree (e.g. by a pod) must go first.
                for nested in nested_subvolumes(path)? {
                    self.delete_subvolume(&nested)?;
                }
                self.btrfs(&["subvolume", "delete", p]).map(drop)
            }
            other => other.map(drop),
        }
    }
}

fn utf8(path: &Path) -> Result<&str> {
    path.to_str()
        .ok_or_else(|| Error::Config(format!("{}: btrfs paths must be UTF-8", path.display())))
}

/// The outermost subvolumes below `top` (a subvolume's root directory is inode 256).
fn nested_subvolumes(top: &Path) -> Result<Vec<PathBuf>> {
    use std::os::unix::fs::MetadataExt;
    let mut found = Vec::new();
    let mut stack = vec![top.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
            let entry = entry.map_err(|e| Error::io(&dir, e))?;
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).map_err(|e| Error::io(&path, e))?;
            if !meta.is_dir() {
                continue;
            }
            if meta.ino() == 256 {
                found.push(path);
            } else {
                stack.push(path);
            }
        }
    }
    Ok(found)
}

impl Storage for BtrfsStorage {
    fn kind(&self) -> Kind {
        Kind::Btrfs
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn init(&self) -> Result<()> {
        area::create_areas(&self.root)?;
        let st = rustix::fs::statfs(&self.root).map_err(|e| Error::io(&self.root, e.into()))?;
        if st.f_type as i64 != BTRFS_SUPER_MAGIC {
            let fs = mounts::read()
                .ok()
                .and_then(|m| mounts::mount_of(&m, &self.root))
                .map_or_else(|| "another file system".to_string(), |m| m.fs_type);
            return Err(Error::Config(format!(
                "{} is on {fs}, not btrfs; use storage = overlay or dir, or put the data directory \
                 on a btrfs file system",
                self.root.display()
            )));
        }
        Ok(())
    }

    fn create_temp(&self, name: &str) -> Result<PathBuf> {
        let path = area::path(&self.root, TMP, name)?;
        area::ensure_absent(&path)?;
        self.btrfs(&["subvolume", "create", utf8(&path)?])?;
        Ok(path)
    }

    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf> {
        let src = area::path(&self.root, IMAGES, image)?;
        area::ensure_image(&src, image)?;
        let dst = area::path(&self.root, TMP, name)?;
        self.snapshot(&src, &dst, false)?;
        Ok(dst)
    }

    fn seal(&self, name: &str, image: &str) -> Result<PathBuf> {
        let src = area::path(&self.root, TMP, name)?;
        if !src.is_dir() {
            return Err(Error::NotFound(src.display().to_string()));
        }
        let dst = area::path(&self.root, IMAGES, image)?;
        self.snapshot(&src, &dst, true)?;
        // A crash here leaves the temporary tree behind as garbage, never a half-sealed image.
        self.remove(&src)?;
        Ok(dst)
    }

    /// Subvolumes are deleted as such. Snapshots are independent of their source, so pods keep
    /// working when their image is removed.
    fn remove_tree(&self, area: Area, name: &str) -> Result<()> {
        self.remove(&area::path(&self.root, area.dir(), name)?)
    }

    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf> {
        let src = area::path(&self.root, IMAGES, image)?;
        area::ensure_image(&src, image)?;
        let dst = area::path(&self.root, PODS, name)?;
        self.snapshot(&src, &dst, false)?;
        Ok(dst)
    }

    /// `btrfs send --no-data -p IMAGE SNAPSHOT` of a read-only snapshot of the pod tree (send
    /// reads read-only subvolumes only): the kernel compares the two trees' metadata, skipping
    /// every block they share, so it costs what the pod changed. Unlike `subvolume find-new`,
    /// which lists only files with new data extents, the stream names deletions, renames and
    /// changes of mode, owner, times and xattrs.
    fn tree_delta(&self, image: &str, tree: &str, scratch: &str) -> Result<Option<TreeDelta>> {
        let parent = area::path(&self.root, IMAGES, image)?;
        area::ensure_image(&parent, image)?;
        let pod = area::path(&self.root, PODS, tree)?;
        let snap = area::path(&self.root, TMP, scratch)?;
        let stream = area::path(&self.root, TMP, &format!("{scratch}.stream"))?;
        self.snapshot(&pod, &snap, true)?;
        let sent = self
            .btrfs(&[
                "send",
                "-q",
                "--no-data",
                "-p",
                utf8(&parent)?,
                "-f",
                utf8(&stream)?,
                utf8(&snap)?,
            ])
            .and_then(|_| std::fs::read(&stream).map_err(|e| Error::io(&stream, e)));
        let removed = self.remove(&snap).and(self.remove(&stream));
        let delta = TreeDelta::from_send_stream(&sent?).map_err(|e| {
            Error::tree(format!("reading {}", stream.display()), io::Error::other(e))
        })?;
        removed?;
        Ok(Some(delta))
    }
}
