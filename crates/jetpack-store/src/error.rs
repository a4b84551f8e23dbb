use std::path::PathBuf;

/// Errors of the image store. Each says what went wrong and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("configuration: {0}")]
    Config(String),
    #[error(transparent)]
    Settings(#[from] jetpack_settings::Error),
    #[error("invalid image: {0}")]
    BadImage(String),
    #[error("invalid image manifest: {0}")]
    Manifest(#[from] appc::Error),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Ambiguous(String),
    #[error("{0}")]
    InUse(String),
    #[error("store index: {0}")]
    Index(#[from] rusqlite::Error),
    #[error(transparent)]
    Storage(#[from] jetpack_storage::Error),
    #[error("the store at {0} is not initialised: run `jetpack init` first")]
    NotInitialised(PathBuf),
    #[error("{0}")]
    Other(String),
}

pub type Result<T> = std::result::Result<T, Error>;

/// Attaches a path to an I/O error.
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
