//! Boilerplate shared by the crate's types.

/// Display, `AsRef<str>` and serde for a type that is written as a JSON
/// string: it has `as_str()` and `FromStr<Err = Error>`.
macro_rules! string_type {
    ($t:ty) => {
        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl AsRef<str> for $t {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

/// serde `Deserialize` for a structured type read through `json::Fields`:
/// the value is buffered, its keys normalised with `$shape`, then converted
/// with `$t::from_json`, so serde users get the same rules and messages as
/// `from_slice`.
macro_rules! deserialize_via_json {
    ($t:ty, $shape:expr) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let mut v = <serde_json::Value as serde::Deserialize>::deserialize(d)?;
                crate::keys::normalise(&mut v, &$shape);
                <$t>::from_json(&v, "").map_err(serde::de::Error::custom)
            }
        }
    };
}

pub(crate) use deserialize_via_json;
pub(crate) use string_type;
