//! Helpers shared by the backends that keep their areas as plain directories.

use std::io;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use rustix::fs::CWD;
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::{mounts, sys, tree};

pub(crate) const TMP: &str = "tmp";
pub(crate) const IMAGES: &str = "images";
pub(crate) const PODS: &str = "pods";

/// Rejects names that would escape their area or that no file system accepts.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let reason = if name.is_empty() {
        "empty"
    } else if name == "." || name == ".." {
        "a relative directory reference"
    } else if name.contains('/') || name.contains('\0') {
        "contains '/' or NUL"
    } else if name.len() > 255 {
        "longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(Error::InvalidName {
        name: name.to_string(),
        reason: reason.to_string(),
    })
}

/// `<root>/<area>/<name>` after checking `name`.
pub(crate) fn path(root: &Path, area: &str, name: &str) -> Result<PathBuf> {
    check_name(name)?;
    Ok(root.join(area).join(name))
}

/// Creates `dir` and missing parents. New directories are 0700: image trees hold setuid
/// binaries that must not be reachable by unprivileged users.
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| Error::io(dir, e))
}

/// Gives the existing directory `dir` mode 0700 unless it has it: whatever the umask was when
/// it was made, or whatever a file system gives a new dataset's root (a ZFS mount point is
/// 0755), only root may walk into it. One `stat` when nothing needs changing; a missing `dir`
/// is left missing.
pub fn make_private(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    if meta.mode() & 0o7777 != 0o700 {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| Error::io(dir, e))?;
    }
    Ok(())
}

/// Creates the root and its `tmp`, `images` and `pods` directories, all private (0700): image
/// trees hold setuid binaries, pod trees whatever a pod's root put there.
pub(crate) fn create_areas(root: &Path) -> Result<()> {
    for area in [TMP, IMAGES, PODS] {
        create_private_dir(&root.join(area))?;
    }
    for dir in [root, &root.join(TMP), &root.join(IMAGES), &root.join(PODS)] {
        make_private(dir)?;
    }
    Ok(())
}

/// Sorted entry names of an area directory; a missing directory has none.
pub(crate) fn list(dir: &Path) -> Result<Vec<String>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::io(dir, e)),
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        match entry.file_name().into_string() {
            Ok(name) => names.push(name),
            Err(name) => tracing::warn!(dir = %dir.display(), ?name, "ignoring non-UTF-8 entry"),
        }
    }
    names.sort();
    Ok(names)
}

/// Fails with [`Error::Exists`] if anything (even a dangling symlink) is at `path`.
pub(crate) fn ensure_absent(path: &Path) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(_) => Err(Error::Exists(path.display().to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Fails with [`Error::NotFound`] naming the image if its tree is missing.
pub(crate) fn ensure_image(path: &Path, image: &str) -> Result<()> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::Config(format!(
            "{}: image tree is not a directory",
            path.display()
        ))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            Err(Error::NotFound(format!("image {image}")))
        }
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Renames `from` to `to` atomically, never replacing an existing `to` (a plain rename(2) would
/// silently replace an empty directory). Where the system checks and then renames (FreeBSD for
/// a directory, filesystems without `RENAME_NOREPLACE`), the race cannot lose a tree: rename(2)
/// never replaces a non-empty directory, and the names sealed into an area (image IDs) stand
/// for their content, so an empty tree replaced meanwhile is an identical one.
pub(crate) fn rename_noreplace(from: &Path, to: &Path) -> Result<()> {
    match sys::rename_noreplace(CWD, from, CWD, to) {
        Ok(()) => Ok(()),
        Err(Errno::EXIST) | Err(Errno::NOTEMPTY) => Err(Error::Exists(to.display().to_string())),
        Err(Errno::NOENT) if !from.exists() => Err(Error::NotFound(from.display().to_string())),
        // Some file systems lack RENAME_NOREPLACE; check first, accepting the small race.
        Err(Errno::INVAL) | Err(Errno::NOSYS) => {
            ensure_absent(to)?;
            std::fs::rename(from, to).map_err(|e| Error::io(from, e))
        }
        Err(e) => Err(Error::io(from, e.into())),
    }
}

/// Copies the image tree `src` to the new tree `dst`; a failed copy leaves nothing behind.
pub(crate) fn copy_new(src: &Path, dst: &Path, image: &str) -> Result<PathBuf> {
    ensure_image(src, image)?;
    // mkdir first so that a concurrent user of the same name fails instead of merging.
    match std::fs::create_dir(dst) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(Error::Exists(dst.display().to_string()));
        }
        Err(e) => return Err(Error::io(dst, e)),
    }
    if let Err(e) = tree::merge_copy(src, dst) {
        if let Err(cleanup) = tree::remove_tree(dst) {
            tracing::warn!(path = %dst.display(), error = %cleanup, "cannot remove partial copy");
        }
        return Err(Error::tree(
            format!("copying image {image} to {}", dst.display()),
            e,
        ));
    }
    Ok(dst.to_path_buf())
}

/// Removes a plain directory tree: first everything mounted in it, then the files. Missing is fine.
pub(crate) fn remove_plain(path: &Path) -> Result<()> {
    if let Err(e) = std::fs::symlink_metadata(path)
        && e.kind() == io::ErrorKind::NotFound
    {
        return Ok(());
    }
    mounts::unmount_below(path, true)?;
    tree::remove_tree(path).map_err(|e| Error::tree(format!("removing {}", path.display()), e))
}
