use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("network configuration {path}: {msg}")]
    Config { path: PathBuf, msg: String },
    #[error(
        "no network named {name:?} in {dir} (the networks there: {known}); add a CNI configuration file for it"
    )]
    NotFound {
        name: String,
        dir: PathBuf,
        known: String,
    },
    #[error(
        "network {network}: CNI plugin {plugin:?} is not installed in {path} (Debian: apt-get install containernetworking-plugins)"
    )]
    NoPlugin {
        network: String,
        plugin: String,
        path: String,
    },
    #[error("network {network}: {command} with CNI plugin {plugin:?} failed: {msg}")]
    Plugin {
        network: String,
        plugin: String,
        command: &'static str,
        msg: String,
    },
    /// A network that belongs to another store (`owner`, its root), refused.
    #[error("{msg}")]
    Owned { owner: PathBuf, msg: String },
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}
