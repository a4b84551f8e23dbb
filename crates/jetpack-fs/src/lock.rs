//! Lock files: `flock(2)` on an open file, held as long as the [`Lock`] (or a process that
//! inherited its descriptor) lives. The kernel drops the lock of a dead process, so there are
//! no stale locks to clean up. A lock file is never truncated when opened: its holder may have
//! written its pid there.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::io::{self, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::error::{IoContext, IoError};

/// How to open and lock a file.
#[derive(Debug, Clone, Copy)]
pub struct LockFile<'a> {
    path: &'a Path,
    mode: u32,
    shared: bool,
    existing: bool,
}

impl<'a> LockFile<'a> {
    /// An exclusive lock on `path`, created (mode 0666 less the umask) if missing.
    pub fn new(path: &'a Path) -> Self {
        LockFile {
            path,
            mode: 0o666,
            shared: false,
            existing: false,
        }
    }

    /// The mode of a newly created lock file (the umask applies).
    pub fn mode(self, mode: u32) -> Self {
        LockFile { mode, ..self }
    }

    /// A shared lock instead of an exclusive one.
    pub fn shared(self) -> Self {
        LockFile {
            shared: true,
            ..self
        }
    }

    /// Locks an existing file or directory, opened read-only, instead of creating a lock file.
    pub fn existing(self) -> Self {
        LockFile {
            existing: true,
            ..self
        }
    }

    /// Waits for the lock.
    pub fn wait(self) -> Result<Lock, IoError> {
        let file = self.open()?;
        if self.shared {
            file.lock_shared()
        } else {
            file.lock()
        }
        .at(self.path)?;
        Ok(Lock { file })
    }

    /// Takes the lock if it is free; `None` if another holder has it.
    pub fn try_lock(self) -> Result<Option<Lock>, IoError> {
        let file = self.open()?;
        let r = if self.shared {
            file.try_lock_shared()
        } else {
            file.try_lock()
        };
        match r {
            Ok(()) => Ok(Some(Lock { file })),
            Err(TryLockError::WouldBlock) => Ok(None),
            Err(TryLockError::Error(e)) => Err(e).at(self.path),
        }
    }

    fn open(&self) -> Result<File, IoError> {
        if self.existing {
            return File::open(self.path).at(self.path);
        }
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(self.mode)
            .open(self.path)
            .at(self.path)
    }
}

/// A held lock; released when dropped (or, for a descriptor inherited by children, when the
/// last of them exits).
#[derive(Debug)]
pub struct Lock {
    file: File,
}

impl Lock {
    /// The locked file, e.g. to pass its descriptor to a child that keeps the lock.
    pub fn file(&self) -> &File {
        &self.file
    }

    pub fn into_file(self) -> File {
        self.file
    }

    /// Replaces the lock file's content with our pid, for [`read_pid`] in a process that finds
    /// the lock taken.
    pub fn write_pid(&mut self) -> io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{}", std::process::id())
    }
}

/// The pid a holder wrote into the lock file at `path` with [`Lock::write_pid`], if any.
pub fn read_pid(path: &Path) -> Option<u32> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exclusive_excludes_until_dropped() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let held = LockFile::new(&p).wait().unwrap();
        // flock locks belong to the open file, so a second open in this process conflicts too.
        assert!(LockFile::new(&p).try_lock().unwrap().is_none());
        assert!(LockFile::new(&p).shared().try_lock().unwrap().is_none());
        drop(held);
        assert!(LockFile::new(&p).try_lock().unwrap().is_some());
    }

    #[test]
    fn shared_locks_coexist_and_exclude_writers() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("lock");
        let a = LockFile::new(&p).shared().try_lock().unwrap().unwrap();
        let b = LockFile::new(&p).shared().wait().unwrap();
        assert!(LockFile::new(&p).try_lock().unwrap().is_none());
        drop((a, b));
        assert!(LockFile::new(&p).try_lock().unwrap().is_some());
    }

    #[test]
    fn pid_survives_other_openers_and_mode_applies() {
        use std::os::unix::fs::MetadataExt;
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("server.lock");
        let mut held = LockFile::new(&p).mode(0o600).try_lock().unwrap().unwrap();
        held.write_pid().unwrap();
        // A contender opens (never truncates) and reads who holds it.
        assert!(LockFile::new(&p).try_lock().unwrap().is_none());
        assert_eq!(read_pid(&p), Some(std::process::id()));
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o077, 0);
        held.write_pid().unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            format!("{}\n", std::process::id())
        );
    }

    #[test]
    fn existing_locks_a_directory_and_never_creates() {
        let d = tempfile::tempdir().unwrap();
        let held = LockFile::new(d.path()).existing().wait().unwrap();
        assert!(
            LockFile::new(d.path())
                .existing()
                .try_lock()
                .unwrap()
                .is_none()
        );
        drop(held);
        let missing = d.path().join("missing");
        let e = LockFile::new(&missing).existing().wait().unwrap_err();
        assert_eq!(e.source.kind(), io::ErrorKind::NotFound);
        assert_eq!(e.path.as_deref(), Some(missing.as_path()));
    }
}
