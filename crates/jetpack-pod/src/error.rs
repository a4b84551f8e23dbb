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

pub(crate) trait IoContext<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T> {
        self.map_err(|source| Error::Io {
            path: path.into(),
            source,
        })
    }
}
