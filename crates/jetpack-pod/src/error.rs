use std::path::PathBuf;

/// Errors of pod management. Each names the pod or app and says what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] jetpack_store::Error),
    #[error(transparent)]
    Storage(#[from] jetpack_storage::Error),
    #[error("invalid pod manifest: {0}")]
    Manifest(#[from] appc::Error),
    #[error("{0}")]
    Runtime(String),
    #[error(transparent)]
    Net(#[from] jetpack_net::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Busy(String),
    /// The pod was destroyed by another process while this one looked at it.
    #[error("pod {0} was destroyed by another process")]
    Gone(String),
}

pub type Result<T> = std::result::Result<T, Error>;

impl From<jetpack_fs::IoError> for Error {
    fn from(e: jetpack_fs::IoError) -> Self {
        match e.path {
            Some(path) => Error::Io {
                path,
                source: e.source,
            },
            None => Error::Invalid(e.to_string()),
        }
    }
}

/// `.at(path)` on an I/O result: the one definition of the low-level toolkit, whose error
/// converts into this crate's.
pub(crate) use jetpack_fs::IoContext;
