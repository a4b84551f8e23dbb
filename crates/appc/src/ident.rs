//! AC Identifier, AC Name and AC Kind (spec "types", digest §1.1–1.3).

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::macros::string_type;

const ID_SEPARATORS: &[char] = &['-', '.', '_', '~', '/'];

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// Lowercases, replaces every character outside `allowed` with `replacement`
/// and strips separator runs at both ends, as the reference sanitizers do.
fn sanitize(s: &str, allowed: impl Fn(char) -> bool, replacement: char, seps: &[char]) -> String {
    let replaced: String = s
        .to_lowercase()
        .chars()
        .map(|c| if allowed(c) { c } else { replacement })
        .collect();
    replaced.trim_matches(|c| seps.contains(&c)).to_owned()
}

/// An AC Identifier: image names, label, annotation and isolator names.
///
/// Parsing is as lenient as the reference implementation: only the charset
/// (`a-z 0-9 - . _ ~ /`) and the first and last characters are checked, so
/// `a..b` and `a//b` are accepted although the spec's regex rejects them.
/// [`AcIdentifier::is_strict`] tells whether a value also matches the regex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcIdentifier(String);

impl AcIdentifier {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value matches the spec's regex
    /// `^[a-z0-9]+([-._~/][a-z0-9]+)*$` (no doubled separators).
    pub fn is_strict(&self) -> bool {
        strict(&self.0, ID_SEPARATORS)
    }

    /// Turns arbitrary text into an identifier: lowercase, invalid characters
    /// become `_`, separators at the edges are dropped. Fails when nothing
    /// valid remains.
    pub fn sanitize(s: &str) -> Result<Self> {
        let allowed = |c: char| is_lower_alnum(c) || ID_SEPARATORS.contains(&c);
        let out = sanitize(s, allowed, '_', ID_SEPARATORS);
        if out.is_empty() {
            return Err(Error::new("must contain at least one valid character"));
        }
        Ok(Self(out))
    }
}

impl FromStr for AcIdentifier {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(Error::new("ACIdentifier cannot be empty"));
        }
        if !s
            .chars()
            .all(|c| is_lower_alnum(c) || ID_SEPARATORS.contains(&c))
        {
            return Err(Error::new(format!(
                "ACIdentifier must contain only lower case alphanumeric characters plus \"-._~/\", got {s:?}"
            )));
        }
        if s.starts_with(ID_SEPARATORS) || s.ends_with(ID_SEPARATORS) {
            return Err(Error::new(format!(
                "ACIdentifier must start and end with only lower case alphanumeric characters, got {s:?}"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

string_type!(AcIdentifier);

/// An AC Name: pod app names, volume, mount point and port names.
///
/// Parsed like the reference: charset `a-z 0-9 -` and no `-` at either end,
/// so `a--b` is accepted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AcName(String);

impl AcName {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the value matches the spec's regex `^[a-z0-9]+(-[a-z0-9]+)*$`.
    pub fn is_strict(&self) -> bool {
        strict(&self.0, &['-'])
    }

    /// Turns arbitrary text into a name: lowercase, invalid characters become
    /// `-`, dashes at the edges are dropped. Used to derive an app name from
    /// the last path component of an image name.
    pub fn sanitize(s: &str) -> Result<Self> {
        let out = sanitize(s, |c| is_lower_alnum(c) || c == '-', '-', &['-']);
        if out.is_empty() {
            return Err(Error::new("must contain at least one valid character"));
        }
        Ok(Self(out))
    }

    /// The app name a pod uses for an image when none is given: the last
    /// path component of the image name, sanitized
    /// (`coreos.com/ace-validator-main` → `ace-validator-main`).
    pub fn from_image_name(image: &AcIdentifier) -> Result<Self> {
        let last = image.as_str().rsplit('/').next().unwrap_or_default();
        Self::sanitize(last)
    }
}

impl FromStr for AcName {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        if s.is_empty() {
            return Err(Error::new("ACName cannot be empty"));
        }
        if !s.chars().all(|c| is_lower_alnum(c) || c == '-') {
            return Err(Error::new(format!(
                "ACName must contain only lower case alphanumeric characters plus \"-\", got {s:?}"
            )));
        }
        if s.starts_with('-') || s.ends_with('-') {
            return Err(Error::new(format!(
                "ACName must start and end with only lower case alphanumeric characters, got {s:?}"
            )));
        }
        Ok(Self(s.to_owned()))
    }
}

string_type!(AcName);

/// No two separators in a row (the edges are already checked by parsing).
fn strict(s: &str, seps: &[char]) -> bool {
    !s.chars()
        .zip(s.chars().skip(1))
        .any(|(a, b)| seps.contains(&a) && seps.contains(&b))
}

/// The two document kinds the spec defines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AcKind {
    ImageManifest,
    PodManifest,
}

impl AcKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            AcKind::ImageManifest => "ImageManifest",
            AcKind::PodManifest => "PodManifest",
        }
    }

    /// Checks a document's `acKind` against the kind expected, with the
    /// reference's message.
    pub(crate) fn expect(self, found: Option<&str>) -> Result<()> {
        if found == Some(self.as_str()) {
            Ok(())
        } else {
            Err(Error::new(format!(
                "missing or bad ACKind (must be \"{}\")",
                self.as_str()
            )))
        }
    }
}

impl FromStr for AcKind {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "ImageManifest" => Ok(AcKind::ImageManifest),
            "PodManifest" => Ok(AcKind::PodManifest),
            _ => Err(Error::new(format!(
                "bad ACKind {s:?} (must be \"ImageManifest\" or \"PodManifest\")"
            ))),
        }
    }
}

string_type!(AcKind);

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> Result<AcIdentifier> {
        s.parse()
    }

    #[test]
    fn identifier_lenient_like_reference() {
        for ok in ["a", "a..b", "a//b", "a/-b", "example.com/~u/app_v1", "1"] {
            assert!(id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "A", "-a", "a/", "a b", "a:b", "é"] {
            assert!(id(bad).is_err(), "{bad}");
        }
        assert!(id("a.b").unwrap().is_strict());
        assert!(!id("a..b").unwrap().is_strict());
    }

    #[test]
    fn name_lenient_like_reference() {
        for ok in ["a", "a-b", "a--b", "1", "a1-2b"] {
            assert!(ok.parse::<AcName>().is_ok(), "{ok}");
        }
        for bad in ["", "-a", "a-", "a.b", "a_b", "A"] {
            assert!(bad.parse::<AcName>().is_err(), "{bad}");
        }
        assert!(!"a--b".parse::<AcName>().unwrap().is_strict());
    }

    #[test]
    fn sanitize_examples() {
        assert_eq!(
            AcName::sanitize("ace-validator-main").unwrap().as_str(),
            "ace-validator-main"
        );
        assert_eq!(AcName::sanitize("My_App.v2").unwrap().as_str(), "my-app-v2");
        assert_eq!(AcName::sanitize("--x--").unwrap().as_str(), "x");
        assert!(AcName::sanitize("__").is_err());
        assert_eq!(
            AcIdentifier::sanitize("Example.COM/My App/")
                .unwrap()
                .as_str(),
            "example.com/my_app"
        );
        assert!(AcIdentifier::sanitize("/._~").is_err());
        let image: AcIdentifier = "coreos.com/ace-validator-main".parse().unwrap();
        assert_eq!(
            AcName::from_image_name(&image).unwrap().as_str(),
            "ace-validator-main"
        );
        let image: AcIdentifier = "example.com/app_v1.2".parse().unwrap();
        assert_eq!(
            AcName::from_image_name(&image).unwrap().as_str(),
            "app-v1-2"
        );
    }

    #[test]
    fn kind() {
        assert_eq!(
            "PodManifest".parse::<AcKind>().unwrap(),
            AcKind::PodManifest
        );
        assert!("podmanifest".parse::<AcKind>().is_err());
        let e = AcKind::ImageManifest.expect(None).unwrap_err();
        assert_eq!(
            e.message(),
            "missing or bad ACKind (must be \"ImageManifest\")"
        );
    }
}
