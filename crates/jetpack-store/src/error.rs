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
    #[error("{0}")]
    InvalidTag(String),
    /// An image of the same name and labels is stored (a build without `--replace`).
    #[error("{0}")]
    Duplicate(String),
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

pub(crate) use jetpack_fs::IoContext;

/// I/O errors keep their `path: error` message.
impl From<jetpack_fs::IoError> for Error {
    fn from(e: jetpack_fs::IoError) -> Self {
        let (path, source) = e.into_path();
        Error::Io { path, source }
    }
}
