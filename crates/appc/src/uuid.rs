//! Pod UUIDs (digest §1.8).

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// An RFC 4122 UUID.
///
/// Parsed like the reference `NewUUID`: every `-` is removed and exactly 32
/// hex digits must remain (either case). Displayed in the canonical lowercase
/// `8-4-4-4-12` form, which is what the metadata service must serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Uuid([u8; 16]);

impl Uuid {
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl FromStr for Uuid {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let digits: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        if digits.len() != 32 {
            return Err(Error::new("bad UUID length != 32"));
        }
        let mut out = [0u8; 16];
        for (byte, pair) in out.iter_mut().zip(digits.chunks(2)) {
            let (Some(hi), Some(lo)) = (hex_value(pair[0]), hex_value(pair[1])) else {
                return Err(Error::new(format!("bad UUID {s:?}: not hexadecimal")));
            };
            *byte = hi << 4 | lo;
        }
        Ok(Self(out))
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl serde::Serialize for Uuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Uuid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_reference() {
        let u: Uuid = "6733C088A5074694AABFEDBE4FC5266F".parse().unwrap();
        assert_eq!(u.to_string(), "6733c088-a507-4694-aabf-edbe4fc5266f");
        let v: Uuid = "6733c088-a507-4694-aabf-edbe4fc5266f".parse().unwrap();
        assert_eq!(u, v);
        // Dashes anywhere are ignored, as in the reference.
        assert_eq!(
            "6733-c088a5074694aabfedbe4fc5266f-"
                .parse::<Uuid>()
                .unwrap(),
            u
        );
    }

    #[test]
    fn rejects() {
        let e = "6733c088-a507-4694-aabf-edbe4fc5266f\n"
            .parse::<Uuid>()
            .unwrap_err();
        assert_eq!(e.message(), "bad UUID length != 32");
        assert!("6733c088a5074694aabfedbe4fc5266g".parse::<Uuid>().is_err());
        assert!("".parse::<Uuid>().is_err());
    }
}
