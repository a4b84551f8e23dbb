//! Image IDs: `sha512-` followed by the digest of the uncompressed tar
//! (digest §1.5, §2.3).

use std::fmt::Write as _;
use std::str::FromStr;

use crate::error::{Error, Result};
use crate::macros::string_type;

const PREFIX: &str = "sha512-";
const FULL_HEX_LEN: usize = 128;
/// Length of the display form: `sha512-` plus 32 hex digits.
pub const SHORT_LEN: usize = PREFIX.len() + 32;

/// An image ID.
///
/// Parsing follows the reference (`types.NewHash`): exactly one `-`, the
/// algorithm exactly `sha512`, a non-empty value. Neither the length nor the
/// alphabet of the value is checked, so abbreviated IDs such as `sha512-abc`
/// parse; [`ImageId::is_full`] tells whether it is a complete digest, which
/// pod manifests and stores require.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(String);

impl ImageId {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The value after `sha512-`.
    pub fn hex(&self) -> &str {
        &self.0[PREFIX.len()..]
    }

    /// Whether the value is a complete SHA-512 digest (128 lowercase hex).
    pub fn is_full(&self) -> bool {
        let hex = self.hex();
        hex.len() == FULL_HEX_LEN
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    }

    /// The display form: the first 39 characters (`sha512-` + 32 hex).
    pub fn short(&self) -> &str {
        let end = self
            .0
            .char_indices()
            .nth(SHORT_LEN)
            .map_or(self.0.len(), |(i, _)| i);
        &self.0[..end]
    }

    /// The ID of a tar stream whose SHA-512 digest is `digest`.
    pub fn from_digest(digest: &[u8; 64]) -> Self {
        let mut s = String::with_capacity(PREFIX.len() + FULL_HEX_LEN);
        s.push_str(PREFIX);
        for b in digest {
            write!(s, "{b:02x}").expect("writing to a String cannot fail");
        }
        Self(s)
    }
}

impl FromStr for ImageId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let parts: Vec<&str> = s.split('-').collect();
        let [typ, value] = parts[..] else {
            return Err(Error::new(format!("badly formatted hash string {s:?}")));
        };
        match typ {
            "sha512" => {}
            "" => return Err(Error::new("unexpected empty hash type")),
            other => return Err(Error::new(format!("unrecognized hash type: {other}"))),
        }
        if value.is_empty() {
            return Err(Error::new("unexpected empty hash value"));
        }
        Ok(Self(s.to_owned()))
    }
}

string_type!(ImageId);

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b37a6a243dbe0f23137b108a043d9da13121a9b505c804956b22e93c7f93969f4a7ba8ddea45bf4aab0bebc8f814e0990";

    #[test]
    fn full_and_short() {
        let id: ImageId = FULL.parse().unwrap();
        assert!(id.is_full());
        assert_eq!(id.short(), "sha512-8d3fffddf79e9a232ffd19f9ccaa4d6b");
        assert_eq!(id.short().len(), 39);
        let abbrev: ImageId = "sha512-abc".parse().unwrap();
        assert!(!abbrev.is_full());
        assert_eq!(abbrev.short(), "sha512-abc");
        assert_eq!(abbrev.hex(), "abc");
        let upper: ImageId = FULL
            .to_uppercase()
            .replace("SHA512", "sha512")
            .parse()
            .unwrap();
        assert!(!upper.is_full());
    }

    #[test]
    fn reference_errors() {
        let err = |s: &str| s.parse::<ImageId>().unwrap_err().to_string();
        assert_eq!(err("sha512-"), "unexpected empty hash value");
        assert_eq!(err("sha256-abc"), "unrecognized hash type: sha256");
        assert_eq!(err("SHA512-abc"), "unrecognized hash type: SHA512");
        assert!(err("sha512abc").starts_with("badly formatted hash string"));
        assert!(err("sha512-a-b").starts_with("badly formatted hash string"));
        assert_eq!(err("-abc"), "unexpected empty hash type");
    }

    #[test]
    fn from_digest_is_lowercase_hex() {
        let mut d = [0u8; 64];
        d[0] = 0xab;
        d[63] = 0x0f;
        let id = ImageId::from_digest(&d);
        assert!(id.is_full());
        assert!(id.as_str().starts_with("sha512-ab00"));
        assert!(id.as_str().ends_with("0f"));
        assert_eq!(id.as_str().parse::<ImageId>().unwrap(), id);
    }
}
