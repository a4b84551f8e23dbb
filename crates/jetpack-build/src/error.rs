use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] jetpack_store::Error),
    #[error(transparent)]
    Storage(#[from] jetpack_storage::Error),
    #[error(transparent)]
    Pod(#[from] jetpack_pod::Error),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Manifest(String),
    /// The build command ended with status `code`; nothing was stored. `kept` is the build
    /// pod when `--keep` kept it.
    #[error("the build command failed with exit status {code}; no image was stored")]
    Failed { code: i32, kept: Option<String> },
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
