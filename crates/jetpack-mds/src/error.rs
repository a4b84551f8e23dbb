//! Errors of the metadata service and of its registration client.

use std::io;
use std::path::PathBuf;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Another server holds the lock file; `pid` is what it wrote there.
    #[error("the metadata service is already running{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning { pid: Option<u32> },

    /// Nothing listens on the control socket (or the service is shutting
    /// down): the caller may start the service and register again.
    #[error("the metadata service is not running")]
    NotRunning,

    #[error("metadata service host key {}: missing; run `jetpack init` to create it", path.display())]
    KeyMissing { path: PathBuf },

    #[error("metadata service host key {}: {len} bytes, expected {expected}", path.display())]
    BadKey {
        path: PathBuf,
        len: u64,
        expected: usize,
    },

    /// The service refused a registration; the message is its answer.
    #[error("the metadata service refused the registration: {0}")]
    Refused(String),

    /// The service answered something that is not part of the protocol.
    #[error("metadata service protocol error: {0}")]
    Protocol(String),

    /// `jetpack mds` without a default network: nothing to listen on.
    #[error("no default network in {}: run `jetpack init`", dir.display())]
    NoDefaultNetwork { dir: PathBuf },

    #[error(transparent)]
    Network(#[from] jetpack_net::Error),

    /// Binding the service failed; the cause follows in the message.
    #[error("cannot start the metadata service: {0}")]
    Start(Box<Error>),

    /// Dropping privileges failed.
    #[error(transparent)]
    Privileges(#[from] jetpack_runtime::Error),

    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl Error {
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

pub(crate) use jetpack_fs::IoContext;

/// I/O errors keep their `context: error` message.
impl From<jetpack_fs::IoError> for Error {
    fn from(e: jetpack_fs::IoError) -> Self {
        Error::io(e.context(), e.source)
    }
}
