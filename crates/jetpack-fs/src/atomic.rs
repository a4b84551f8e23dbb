//! Atomic file writes: a reader sees the old file or the new one, never a part, and after a
//! successful return the new file survives a power cut.
//!
//! The data goes to a temporary file next to the target (`.<name>.<pid>.<n>.tmp`, created
//! exclusively), which is `fsync`ed, renamed over the target, and then the directory is
//! `fsync`ed so that the rename itself is durable. A failed or panicking write removes its
//! temporary file; a process killed half-way leaves one behind, which nothing reads (the name
//! is hidden and unique, so it never collides with a later write).
//!
//! [`AtomicWrite::unsynced`] keeps the atomic replacement and drops both `fsync`s, for a file
//! that records something only while what it belongs to lives (an app's exit record next to
//! its pod's state, which is not synced either): a power cut may lose it, never half-write it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, ErrorKind, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{IoContext, IoError};

/// Writes `bytes` to `path` atomically and durably, replacing what was there. A new file gets
/// mode 0666 less the umask, like `fs::write`.
pub fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), IoError> {
    AtomicWrite::new(path).bytes(bytes)
}

/// An atomic write with options: an exact mode, never replacing an existing file, or not
/// durable.
#[derive(Debug, Clone, Copy)]
pub struct AtomicWrite<'a> {
    path: &'a Path,
    mode: Option<u32>,
    replace: bool,
    sync: bool,
}

impl<'a> AtomicWrite<'a> {
    pub fn new(path: &'a Path) -> Self {
        AtomicWrite {
            path,
            mode: None,
            replace: true,
            sync: true,
        }
    }

    /// Gives the new file exactly `mode`, whatever the umask (e.g. 0600 for private files).
    pub fn mode(self, mode: u32) -> Self {
        AtomicWrite {
            mode: Some(mode),
            ..self
        }
    }

    /// Fails with [`ErrorKind::AlreadyExists`] if `path` exists (the file is linked into place
    /// instead of renamed): a concurrent writer that got there first wins.
    pub fn no_replace(self) -> Self {
        AtomicWrite {
            replace: false,
            ..self
        }
    }

    /// Skips the `fsync` of the file and of its directory: a reader still sees the old file or
    /// the new one, but a power cut may leave the old one (or none). Each `fsync` waits for
    /// the disk, a millisecond or more; this is for files on a command's hot path whose loss
    /// costs nothing that the next run does not redo.
    pub fn unsynced(self) -> Self {
        AtomicWrite {
            sync: false,
            ..self
        }
    }

    pub fn bytes(self, bytes: &[u8]) -> Result<(), IoError> {
        self.with(|f| f.write_all(bytes))
    }

    /// Lets `write` fill the temporary file; the target is replaced only if it succeeds.
    /// Errors name the target.
    pub fn with(self, write: impl FnOnce(&mut File) -> io::Result<()>) -> Result<(), IoError> {
        let dir = match self.path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let name = self
            .path
            .file_name()
            .ok_or_else(|| io::Error::new(ErrorKind::InvalidInput, "not a file name"))
            .at(self.path)?;
        let mut tmp_name = std::ffi::OsString::from(".");
        tmp_name.push(name);
        tmp_name.push(format!(".{}.{}.tmp", std::process::id(), next_seq()));
        let tmp = Temp(dir.join(tmp_name));
        self.fill(&tmp.0, write).at(self.path)?;
        let placed = if self.replace {
            fs::rename(&tmp.0, self.path)
        } else {
            fs::hard_link(&tmp.0, self.path)
        };
        placed.at(self.path)?;
        drop(tmp);
        if !self.sync {
            return Ok(());
        }
        sync_dir(dir).at(dir)
    }

    fn fill(&self, tmp: &Path, write: impl FnOnce(&mut File) -> io::Result<()>) -> io::Result<()> {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(self.mode.unwrap_or(0o666))
            .open(tmp)?;
        if let Some(mode) = self.mode {
            f.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        write(&mut f)?;
        if self.sync { f.sync_all() } else { Ok(()) }
    }
}

fn next_seq() -> u64 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// Makes a rename into `dir` durable. File systems that cannot sync a directory (some FUSE
/// ones say EINVAL) are taken at their word.
fn sync_dir(dir: &Path) -> io::Result<()> {
    match File::open(dir)?.sync_all() {
        Err(e) if matches!(e.kind(), ErrorKind::InvalidInput | ErrorKind::Unsupported) => Ok(()),
        r => r,
    }
}

/// The temporary file, removed on drop: after a failure, a panic in the writer, or (harmlessly,
/// it is gone then) after the rename. A hard link leaves it to be removed too.
struct Temp(PathBuf);

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.json");
        atomic_write(&p, b"one").unwrap();
        atomic_write(&p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["state.json"]);
    }

    #[test]
    fn mode_is_exact_also_over_an_older_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("secret");
        fs::write(&p, "old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        AtomicWrite::new(&p).mode(0o600).bytes(b"new").unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(fs::read(&p).unwrap(), b"new");
    }

    #[test]
    fn a_failed_or_panicking_writer_leaves_the_old_file_and_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"old").unwrap();
        let e = AtomicWrite::new(&p)
            .with(|f| {
                f.write_all(b"half")?;
                Err(io::Error::other("disk on fire"))
            })
            .unwrap_err();
        assert_eq!(e.path.as_deref(), Some(p.as_path()));
        assert!(e.to_string().contains("disk on fire"), "{e}");
        let panicked = std::panic::catch_unwind(|| {
            let _ = AtomicWrite::new(&p).with(|f| {
                f.write_all(b"half")?;
                panic!("interrupted");
            });
        });
        assert!(panicked.is_err());
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(names(d.path()), ["f"]);
    }

    #[test]
    fn a_killed_writers_temp_is_ignored() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        atomic_write(&p, b"old").unwrap();
        // What a process killed between create and rename leaves.
        let stale = format!(".f.{}.999999.tmp", u32::MAX);
        fs::write(d.path().join(&stale), "partial").unwrap();
        atomic_write(&p, b"new").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(names(d.path()), [stale.as_str(), "f"]);
    }

    #[test]
    fn no_replace_keeps_the_first_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("key");
        AtomicWrite::new(&p).no_replace().bytes(b"first").unwrap();
        let e = AtomicWrite::new(&p)
            .no_replace()
            .bytes(b"second")
            .unwrap_err();
        assert_eq!(e.source.kind(), ErrorKind::AlreadyExists);
        assert_eq!(fs::read(&p).unwrap(), b"first");
        assert_eq!(names(d.path()), ["key"]);
    }

    #[test]
    fn unsynced_writes_replace_atomically_too() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("exit");
        AtomicWrite::new(&p).unsynced().bytes(b"one").unwrap();
        AtomicWrite::new(&p)
            .unsynced()
            .mode(0o600)
            .bytes(b"two")
            .unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        let e = AtomicWrite::new(&p)
            .unsynced()
            .with(|_| Err(io::Error::other("full")))
            .unwrap_err();
        assert!(e.to_string().contains("full"), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(names(d.path()), ["exit"]);
    }

    #[test]
    fn a_missing_directory_names_the_target() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("no/such/f");
        let e = atomic_write(&p, b"x").unwrap_err();
        assert_eq!(e.source.kind(), ErrorKind::NotFound);
        assert_eq!(e.to_string(), format!("{}: {}", p.display(), e.source));
    }
}
