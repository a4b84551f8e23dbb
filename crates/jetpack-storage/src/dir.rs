//! Plain directories: works on any file system, at the cost of a full copy per pod.
//!
//! Sealing is a rename from `tmp/` to `images/`. Nothing makes the image tree read-only: the
//! kernel cannot seal a plain directory (a read-only bind mount per image would not survive a
//! reboot and chmod would change the image's own permissions), so images stay intact only
//! because nothing writes to `images/`; the storage root is 0700 so only root could.

use std::path::{Path, PathBuf};

use crate::area::{self, IMAGES, PODS, TMP};
use crate::error::{Error, Result};
use crate::{Kind, Storage};

pub struct DirStorage {
    root: PathBuf,
}

impl DirStorage {
    pub fn new(root: &Path) -> Self {
        DirStorage {
            root: root.to_path_buf(),
        }
    }
}

/// The operations the dir and overlay backends share: everything but pod trees.
pub(crate) fn create_temp(root: &Path, name: &str) -> Result<PathBuf> {
    let path = area::path(root, TMP, name)?;
    match std::fs::create_dir(&path) {
        Ok(()) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            Err(Error::Exists(path.display().to_string()))
        }
        Err(e) => Err(Error::io(&path, e)),
    }
}

pub(crate) fn clone_to_temp(root: &Path, image: &str, name: &str) -> Result<PathBuf> {
    area::copy_new(
        &area::path(root, IMAGES, image)?,
        &area::path(root, TMP, name)?,
        image,
    )
}

pub(crate) fn seal(root: &Path, name: &str, image: &str) -> Result<PathBuf> {
    let from = area::path(root, TMP, name)?;
    let to = area::path(root, IMAGES, image)?;
    area::rename_noreplace(&from, &to)?;
    Ok(to)
}

impl Storage for DirStorage {
    fn kind(&self) -> Kind {
        Kind::Dir
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn init(&self) -> Result<()> {
        area::create_areas(&self.root)
    }

    fn create_temp(&self, name: &str) -> Result<PathBuf> {
        create_temp(&self.root, name)
    }

    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf> {
        clone_to_temp(&self.root, image, name)
    }

    fn seal(&self, name: &str, image: &str) -> Result<PathBuf> {
        seal(&self.root, name, image)
    }

    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf> {
        area::copy_new(
            &area::path(&self.root, IMAGES, image)?,
            &area::path(&self.root, PODS, name)?,
            image,
        )
    }
}
