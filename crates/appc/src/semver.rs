//! `acVersion`: a SemVer 2.0.0 string (digest §1.4).

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::macros::string_type;

/// The spec version this crate writes into new manifests.
pub const AC_VERSION: &str = "0.8.11";

/// A semantic version as used by `acVersion`.
///
/// Parsing follows the reference: `major.minor.patch` with optional
/// `-prerelease` and `+build`; `0.8` is rejected ("SemVer is bad") and so is
/// `0.0.0` ("SemVer cannot be zero"). Any major version is accepted here:
/// deciding which versions a runtime supports is left to the caller.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SemVer {
    text: String,
    major: u64,
    minor: u64,
    patch: u64,
    pre_release: String,
    build: String,
}

impl SemVer {
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn major(&self) -> u64 {
        self.major
    }

    pub fn minor(&self) -> u64 {
        self.minor
    }

    pub fn patch(&self) -> u64 {
        self.patch
    }

    /// The part after `-`, empty if none.
    pub fn pre_release(&self) -> &str {
        &self.pre_release
    }

    /// The part after `+`, empty if none.
    pub fn build(&self) -> &str {
        &self.build
    }

    /// The version this crate implements (`0.8.11`).
    pub fn current() -> Self {
        AC_VERSION.parse().expect("AC_VERSION is a valid version")
    }
}

impl Default for SemVer {
    fn default() -> Self {
        Self::current()
    }
}

/// Dot-separated identifiers of `[0-9A-Za-z-]`, none empty.
fn valid_identifiers(s: &str) -> bool {
    s.split('.')
        .all(|part| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

impl FromStr for SemVer {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let bad = || Error::new(format!("SemVer is bad: {s:?}"));
        let (rest, build) = s.split_once('+').unwrap_or((s, ""));
        let (core, pre_release) = rest.split_once('-').unwrap_or((rest, ""));
        let nums: Vec<&str> = core.split('.').collect();
        if nums.len() != 3 {
            return Err(bad());
        }
        let mut parsed = [0u64; 3];
        for (slot, n) in parsed.iter_mut().zip(&nums) {
            if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
                return Err(bad());
            }
            *slot = n.parse().map_err(|_| bad())?;
        }
        if (s.contains('-') && !valid_identifiers(pre_release))
            || (s.contains('+') && !valid_identifiers(build))
        {
            return Err(bad());
        }
        if parsed == [0, 0, 0] && pre_release.is_empty() && build.is_empty() {
            return Err(Error::new("SemVer cannot be zero"));
        }
        let [major, minor, patch] = parsed;
        Ok(Self {
            text: s.to_owned(),
            major,
            minor,
            patch,
            pre_release: pre_release.to_owned(),
            build: build.to_owned(),
        })
    }
}

string_type!(SemVer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_reference_examples() {
        let v: SemVer = "0.8.11-rc1+git".parse().unwrap();
        assert_eq!((v.major(), v.minor(), v.patch()), (0, 8, 11));
        assert_eq!((v.pre_release(), v.build()), ("rc1", "git"));
        assert_eq!(v.to_string(), "0.8.11-rc1+git");
        for ok in ["1.0.0", "0.1.1", "0.3.0", "0.0.0-rc1", "1.2.3+build.5"] {
            assert!(ok.parse::<SemVer>().is_ok(), "{ok}");
        }
        assert_eq!(SemVer::current().as_str(), "0.8.11");
    }

    #[test]
    fn rejects_bad_versions() {
        assert!(
            "0.8"
                .parse::<SemVer>()
                .unwrap_err()
                .message()
                .starts_with("SemVer is bad")
        );
        assert_eq!(
            "0.0.0".parse::<SemVer>().unwrap_err().message(),
            "SemVer cannot be zero"
        );
        for bad in [
            "",
            "a.b.c",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a..b",
            "1..2",
            "-1.2.3",
            "1.2.3.4",
        ] {
            assert!(bad.parse::<SemVer>().is_err(), "{bad}");
        }
    }
}
