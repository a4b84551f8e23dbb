//! Errors of the storage backends. Each says what failed and, where it helps, what to do.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file system call on `path` failed.
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: io::Error },

    /// A tree operation (copy, removal) failed; its error already names the path involved.
    #[error("{what}: {source}")]
    Tree { what: String, source: io::Error },

    /// An external command (`zfs`, `btrfs`) ran and failed.
    #[error("{cmdline}: {stderr} ({status})")]
    Command {
        cmdline: String,
        status: String,
        stderr: String,
    },

    /// A mount(2) failed.
    #[error("mounting {what} on {}: {source}", target.display())]
    Mount {
        what: String,
        target: PathBuf,
        source: io::Error,
    },

    /// An external command could not be started at all.
    #[error("cannot run {program}: {source} (is it installed and on PATH, /usr/sbin or /sbin?)")]
    Spawn { program: String, source: io::Error },

    /// The configuration does not fit this machine (wrong file system, bad dataset name, …).
    #[error("storage configuration: {0}")]
    Config(String),

    /// A tree or dataset name the backend cannot use.
    #[error("invalid tree name {name:?}: {reason}")]
    InvalidName { name: String, reason: String },

    /// The named image does not exist.
    #[error("{0} not found")]
    NotFound(String),

    /// The target of a create/seal/clone already exists.
    #[error("{0} already exists")]
    Exists(String),

    /// The tree is in use and cannot be removed now.
    #[error("{what} is in use by {users}; remove those first")]
    Busy { what: String, users: String },
}

/// I/O errors keep their `path: error` message.
impl From<jetpack_fs::IoError> for Error {
    fn from(e: jetpack_fs::IoError) -> Self {
        let (path, source) = e.into_path();
        Error::Io { path, source }
    }
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn tree(what: impl Into<String>, source: io::Error) -> Self {
        Error::Tree {
            what: what.into(),
            source,
        }
    }

    /// True if this is a failed command whose stderr contains `needle`. Commands run with
    /// `LC_ALL=C`, so the messages of the tools are stable enough to match on.
    pub fn command_says(&self, needle: &str) -> bool {
        matches!(self, Error::Command { stderr, .. } if stderr.contains(needle))
    }
}
