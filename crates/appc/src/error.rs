//! Validation and parse errors carrying the JSON path of the offending value.

use std::fmt;

/// An error found while parsing or validating appc data.
///
/// `path` locates the value inside the document, e.g.
/// `app.isolators[2].value.limit`; it is empty for errors about a bare value
/// (a single identifier, a quantity…) or about the document as a whole.
/// Messages keep the reference implementation's wording where it has one, so
/// they read the same as `actool validate` output.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    path: String,
    message: String,
}

/// Result alias used throughout the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An error about a bare value (no location).
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            path: String::new(),
            message: message.into(),
        }
    }

    /// An error located at `path`.
    pub fn at(path: &str, message: impl Into<String>) -> Self {
        Self {
            path: path.to_owned(),
            message: message.into(),
        }
    }

    /// JSON path of the offending value (empty for the whole document).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What is wrong, without the location.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Re-roots the error under `prefix`, so that a value's own error gains the
    /// location of the value inside its document.
    pub fn under(mut self, prefix: &str) -> Self {
        self.path = match (prefix.is_empty(), self.path.is_empty()) {
            (true, _) => self.path,
            (false, true) => prefix.to_owned(),
            (false, false) if self.path.starts_with('[') => format!("{prefix}{}", self.path),
            (false, false) => format!("{prefix}.{}", self.path),
        };
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_with_and_without_path() {
        assert_eq!(Error::new("bad").to_string(), "bad");
        let e = Error::at("app.isolators[0].value", "default must be true");
        assert_eq!(
            e.to_string(),
            "app.isolators[0].value: default must be true"
        );
    }

    #[test]
    fn under_joins_paths() {
        assert_eq!(Error::new("m").under("a.b").path(), "a.b");
        assert_eq!(Error::at("c", "m").under("a.b").path(), "a.b.c");
        assert_eq!(Error::at("[2]", "m").under("a").path(), "a[2]");
        assert_eq!(Error::at("c", "m").under("").path(), "c");
    }
}
