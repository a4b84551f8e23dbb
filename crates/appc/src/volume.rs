//! Pod volumes (digest §8.1).

use serde::ser::SerializeMap;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ident::AcName;
use crate::json::Fields;
use crate::keys;
use crate::macros::deserialize_via_json;

/// Defaults the reference fills in for `empty` volumes.
pub const EMPTY_VOLUME_DEFAULT_MODE: u32 = 0o755;

/// A volume that apps of a pod can mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: AcName,
    pub kind: VolumeKind,
    /// `None` when the document does not say; see [`Volume::is_read_only`].
    pub read_only: Option<bool>,
    /// Host volumes only; `None` when unspecified, see [`Volume::is_recursive`].
    pub recursive: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// A fresh directory shared by the pod's apps, created with these
    /// permission bits and owner.
    Empty { mode: u32, uid: u32, gid: u32 },
    /// A bind mount of an absolute host path.
    Host { source: String },
}

impl Volume {
    pub fn is_read_only(&self) -> bool {
        self.read_only.unwrap_or(false)
    }

    /// Host volumes are bound recursively unless the document says otherwise,
    /// as the spec recommends.
    pub fn is_recursive(&self) -> bool {
        self.recursive.unwrap_or(true)
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let name = f.required("name", "name must be set")?;
        let source = f.string_or_empty("source")?;
        let mode = f.string("mode")?;
        let uid: Option<u32> = f.bounded("uid", "uid")?;
        let gid: Option<u32> = f.bounded("gid", "gid")?;
        let kind = match f.string_or_empty("kind")?.as_str() {
            "empty" => {
                if !source.is_empty() {
                    return Err(f.error("source", "source for empty volume must be empty"));
                }
                let mode = match mode {
                    Some(m) => parse_mode(&m).map_err(|e| e.under(&f.path("mode")))?,
                    None => EMPTY_VOLUME_DEFAULT_MODE,
                };
                VolumeKind::Empty {
                    mode,
                    uid: uid.unwrap_or(0),
                    gid: gid.unwrap_or(0),
                }
            }
            "host" => {
                if source.is_empty() {
                    return Err(f.error("source", "source for host volume cannot be empty"));
                }
                for (key, set) in [
                    ("mode", mode.is_some()),
                    ("uid", uid.is_some()),
                    ("gid", gid.is_some()),
                ] {
                    if set {
                        return Err(f.error(key, format!("{key} for host volume cannot be set")));
                    }
                }
                if !source.starts_with('/') {
                    return Err(f.error("source", "source for host volume must be absolute path"));
                }
                VolumeKind::Host { source }
            }
            _ => {
                return Err(f.error(
                    "kind",
                    "unrecognized volume kind: should be one of \"empty\", \"host\"",
                ));
            }
        };
        Ok(Self {
            name,
            kind,
            read_only: f.boolean("readOnly")?,
            recursive: f.boolean("recursive")?,
        })
    }
}

/// An octal permission string such as `"0755"` (at most `07777`).
fn parse_mode(m: &str) -> Result<u32> {
    let bad = || {
        Error::new(format!(
            "mode must be an octal string such as \"0755\", got {m:?}"
        ))
    };
    if m.is_empty() || !m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Err(bad());
    }
    u32::from_str_radix(m, 8)
        .ok()
        .filter(|&v| v <= 0o7777)
        .ok_or_else(bad)
}

/// Written in the reference's field order; `empty` volumes always carry
/// their mode, uid and gid.
impl serde::Serialize for Volume {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("name", &self.name)?;
        let kind = match self.kind {
            VolumeKind::Empty { .. } => "empty",
            VolumeKind::Host { .. } => "host",
        };
        m.serialize_entry("kind", kind)?;
        if let VolumeKind::Host { source } = &self.kind {
            m.serialize_entry("source", source)?;
        }
        if let Some(ro) = self.read_only {
            m.serialize_entry("readOnly", &ro)?;
        }
        if let Some(r) = self.recursive {
            m.serialize_entry("recursive", &r)?;
        }
        if let VolumeKind::Empty { mode, uid, gid } = self.kind {
            m.serialize_entry("mode", &format!("{mode:04o}"))?;
            m.serialize_entry("uid", &uid)?;
            m.serialize_entry("gid", &gid)?;
        }
        m.end()
    }
}

deserialize_via_json!(Volume, keys::VOLUME);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vol(v: Value) -> Result<Volume> {
        Volume::from_json(&v, "volumes[0]")
    }

    #[test]
    fn empty_defaults() {
        let v = vol(json!({"name": "v", "kind": "empty"})).unwrap();
        assert_eq!(
            v.kind,
            VolumeKind::Empty {
                mode: 0o755,
                uid: 0,
                gid: 0
            }
        );
        assert_eq!(
            serde_json::to_value(&v).unwrap(),
            json!({"name": "v", "kind": "empty", "mode": "0755", "uid": 0, "gid": 0})
        );
        let v = vol(json!({"name": "v", "kind": "empty", "mode": "0777", "uid": 5})).unwrap();
        assert_eq!(
            v.kind,
            VolumeKind::Empty {
                mode: 0o777,
                uid: 5,
                gid: 0
            }
        );
    }

    #[test]
    fn host_rules() {
        let v =
            vol(json!({"name": "v", "kind": "host", "source": "/srv", "readOnly": true})).unwrap();
        assert!(v.is_read_only() && v.is_recursive());
        let err = |j| vol(j).unwrap_err().to_string();
        assert_eq!(
            err(json!({"name": "v", "kind": "host", "source": "srv"})),
            "volumes[0].source: source for host volume must be absolute path"
        );
        assert_eq!(
            err(json!({"name": "v", "kind": "host", "source": "/s", "gid": 1})),
            "volumes[0].gid: gid for host volume cannot be set"
        );
        assert_eq!(
            err(json!({"name": "v", "kind": "host"})),
            "volumes[0].source: source for host volume cannot be empty"
        );
    }

    #[test]
    fn bad_modes_and_kinds() {
        for m in ["", "rwx", "0788", "17777"] {
            assert!(
                vol(json!({"name": "v", "kind": "empty", "mode": m})).is_err(),
                "{m}"
            );
        }
        assert!(vol(json!({"name": "v", "kind": "empty", "mode": 493})).is_err());
        assert!(vol(json!({"name": "v", "kind": "tmpfs"})).is_err());
        assert!(vol(json!({"kind": "empty"})).is_err());
        assert!(vol(json!({"name": "v", "kind": "empty", "uid": -1})).is_err());
    }
}
