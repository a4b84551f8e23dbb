//! `build --cp PATH`: host paths copied into the build directory before the build command
//! runs, so it finds them next to its own files (`/.jetpack.build/NAME`), and removed again
//! when the build ends, whatever its outcome, so the build directory is left as it was.
//!
//! A copy never follows a symlink: a symlink (PATH itself or one inside it) is copied as a
//! symlink, and a name the build directory already has is refused rather than replaced.
//! Owners, modes and mtimes are kept; hard links become separate files, xattrs are not
//! copied; devices, FIFOs and sockets are refused.

use std::ffi::OsString;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD, OFlags, Timespec, Timestamps};

use crate::error::{Error, Result};

/// The copies in the build directory; dropping it removes them.
#[derive(Debug)]
pub struct Copies {
    dir: PathBuf,
    names: Vec<OsString>,
}

impl Copies {
    /// Copies each of `paths` into `dir` (canonical) under its last name. Every path is
    /// checked before anything is copied: it must exist, have a name, not hold `dir`, and its
    /// name must be new in `dir` (and among `paths`). On an error, what was copied is removed.
    pub fn new(dir: &Path, paths: &[PathBuf]) -> Result<Copies> {
        let mut planned: Vec<(&Path, OsString, Metadata)> = Vec::new();
        for p in paths {
            let md = fs::symlink_metadata(p)
                .map_err(|e| Error::Invalid(format!("--cp {}: {e}", p.display())))?;
            let name = p
                .file_name()
                .filter(|n| *n != "." && *n != "..")
                .ok_or_else(|| {
                    Error::Invalid(format!(
                        "--cp {}: a path that ends with a name is needed (it is copied as \
                     /.jetpack.build/NAME)",
                        p.display()
                    ))
                })?;
            // A copy of DIR (or of a directory above it) into DIR would never end.
            if md.is_dir() && fs::canonicalize(p).is_ok_and(|c| dir.starts_with(c)) {
                return Err(Error::Invalid(format!(
                    "--cp {}: holds the build directory {}, which cannot be copied into itself",
                    p.display(),
                    dir.display()
                )));
            }
            let exists = fs::symlink_metadata(dir.join(name)).is_ok();
            if exists || planned.iter().any(|(_, n, _)| n == name) {
                return Err(Error::Invalid(format!(
                    "--cp {}: the build directory {} already has {}; it is not replaced",
                    p.display(),
                    dir.display(),
                    name.to_string_lossy()
                )));
            }
            planned.push((p, name.to_os_string(), md));
        }
        let mut copies = Copies {
            dir: dir.to_path_buf(),
            names: Vec::new(),
        };
        for (src, name, md) in planned {
            let dst = dir.join(&name);
            create(src, &md, &dst)?;
            copies.names.push(name);
            finish(src, &md, &dst)?;
        }
        Ok(copies)
    }
}

impl Drop for Copies {
    fn drop(&mut self) {
        for name in &self.names {
            let p = self.dir.join(name);
            // Not followed: the build may have replaced the copy with a symlink.
            let removed = match fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => fs::remove_dir_all(&p),
                Ok(_) => fs::remove_file(&p),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = removed {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a --cp copy");
            }
        }
    }
}

/// Creates `dst` as the copy of `src` (a file with its contents, an empty directory, a
/// symlink); never replaces anything.
fn create(src: &Path, md: &Metadata, dst: &Path) -> Result<()> {
    let ft = md.file_type();
    if ft.is_symlink() {
        fs::read_link(src)
            .map_err(|e| Error::io(src, e))
            .and_then(|t| std::os::unix::fs::symlink(t, dst).map_err(|e| Error::io(dst, e)))
    } else if ft.is_dir() {
        fs::create_dir(dst).map_err(|e| Error::io(dst, e))
    } else if ft.is_file() {
        copy_file(src, md, dst)
    } else {
        let kind = if ft.is_fifo() {
            "a FIFO"
        } else if ft.is_socket() {
            "a socket"
        } else {
            "a device"
        };
        Err(Error::Invalid(format!(
            "--cp {}: {kind}; only files, directories and symlinks are copied",
            src.display()
        )))
    }
}

fn copy_file(src: &Path, md: &Metadata, dst: &Path) -> Result<()> {
    let nofollow = OFlags::NOFOLLOW.bits() as i32;
    let mut from = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(src)
        .map_err(|e| Error::io(src, e))?;
    let now = from.metadata().map_err(|e| Error::io(src, e))?;
    if (now.dev(), now.ino()) != (md.dev(), md.ino()) {
        return Err(Error::io(src, io::Error::other("replaced while copied")));
    }
    let mut to: File = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(nofollow)
        .mode(0o600)
        .open(dst)
        .map_err(|e| Error::io(dst, e))?;
    if let Err(e) = io::copy(&mut from, &mut to) {
        // Not left half-copied: the caller knows only of complete copies.
        let _ = fs::remove_file(dst);
        return Err(Error::io(dst, e));
    }
    Ok(())
}

/// Fills a copied directory, then gives `dst` the owner, mode and mtime of `src` (in this
/// order: a change of owner clears set-id bits).
fn finish(src: &Path, md: &Metadata, dst: &Path) -> Result<()> {
    if md.is_dir() {
        let mut names: Vec<OsString> = fs::read_dir(src)
            .and_then(|d| d.map(|e| e.map(|e| e.file_name())).collect())
            .map_err(|e| Error::io(src, e))?;
        names.sort();
        for n in names {
            let (s, d) = (src.join(&n), dst.join(&n));
            let md = fs::symlink_metadata(&s).map_err(|e| Error::io(&s, e))?;
            create(&s, &md, &d)?;
            finish(&s, &md, &d)?;
        }
    }
    std::os::unix::fs::lchown(dst, Some(md.uid()), Some(md.gid()))
        .map_err(|e| Error::io(dst, e))?;
    if !md.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(md.mode() & 0o7777))
            .map_err(|e| Error::io(dst, e))?;
    }
    let times = Timestamps {
        last_access: Timespec {
            tv_sec: md.atime(),
            tv_nsec: md.atime_nsec() as _,
        },
        last_modification: Timespec {
            tv_sec: md.mtime(),
            tv_nsec: md.mtime_nsec() as _,
        },
    };
    rustix::fs::utimensat(CWD, dst, &times, AtFlags::SYMLINK_NOFOLLOW)
        .map_err(|e| Error::io(dst, e.into()))?;
    Ok(())
}
