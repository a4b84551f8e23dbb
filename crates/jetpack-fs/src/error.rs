//! One I/O error type for every crate: an `io::Error` with the path it happened to and, where
//! a path alone would not say enough, the action. Each crate's own `Error` converts from it,
//! keeping its own message format.

use std::io;
use std::path::PathBuf;

/// An I/O error with its context. Displays as `action path: error`, `path: error` or
/// `action: error`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", self.context())]
pub struct IoError {
    /// The file or directory the failed call was about.
    pub path: Option<PathBuf>,
    /// What was being done, e.g. `writing` or `starting the HTTP thread`.
    pub action: Option<String>,
    #[source]
    pub source: io::Error,
}

impl IoError {
    pub fn at(path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError {
            path: Some(path.into()),
            action: None,
            source,
        }
    }

    /// The context without the error: `action path`, `path` or `action`.
    pub fn context(&self) -> String {
        match (&self.action, &self.path) {
            (Some(a), Some(p)) => format!("{a} {}", p.display()),
            (Some(a), None) => a.clone(),
            (None, Some(p)) => p.display().to_string(),
            (None, None) => String::new(),
        }
    }

    /// The path and the error, for crates whose errors name a path only. Without an action the
    /// path is returned as is; otherwise the whole context stands in for it, so that nothing
    /// said is lost.
    pub fn into_path(self) -> (PathBuf, io::Error) {
        match (self.action, self.path) {
            (None, Some(p)) => (p, self.source),
            (action, path) => {
                let ctx = IoError {
                    path,
                    action,
                    source: io::Error::other(""),
                }
                .context();
                (PathBuf::from(ctx), self.source)
            }
        }
    }
}

/// Attaches context to I/O results. The context is only built when there is an error.
pub trait IoContext<T> {
    /// The path the call was about.
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError>;
    /// What was being done, when no single path says it.
    fn doing(self, action: impl FnOnce() -> String) -> Result<T, IoError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl Into<PathBuf>) -> Result<T, IoError> {
        self.map_err(|source| IoError::at(path, source))
    }

    fn doing(self, action: impl FnOnce() -> String) -> Result<T, IoError> {
        self.map_err(|source| IoError {
            path: None,
            action: Some(action()),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn fail() -> io::Result<()> {
        Err(io::Error::from(io::ErrorKind::NotFound))
    }

    #[test]
    fn messages_name_path_or_action() {
        let e = fail().at("/x/y").unwrap_err();
        assert_eq!(e.to_string(), format!("/x/y: {}", e.source));
        assert_eq!(e.source.kind(), io::ErrorKind::NotFound);
        let e = fail()
            .doing(|| "starting the HTTP thread".into())
            .unwrap_err();
        assert_eq!(e.context(), "starting the HTTP thread");
        let e = IoError {
            action: Some("writing".into()),
            ..fail().at("/a").unwrap_err()
        };
        assert_eq!(e.context(), "writing /a");
    }

    #[test]
    fn into_path_keeps_the_path_or_the_whole_context() {
        let (p, _) = fail().at("/x/y").unwrap_err().into_path();
        assert_eq!(p, Path::new("/x/y"));
        let (p, _) = fail()
            .doing(|| "control socket".into())
            .unwrap_err()
            .into_path();
        assert_eq!(p, Path::new("control socket"));
    }

    #[test]
    fn context_is_lazy() {
        let ok: io::Result<u8> = Ok(1);
        assert_eq!(ok.doing(|| unreachable!()).unwrap(), 1);
    }
}
