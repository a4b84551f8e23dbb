//! Typed values of the known isolators (digest §9.16).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::json::{self, Fields};
use crate::quantity::Quantity;

/// Value of the `resource/*` isolators.
///
/// For `resource/cpu` and `resource/memory`, `default` must be false and a
/// missing `request` means "same as limit". The bandwidth and IOPS isolators
/// need `default: true` (the limit applies to every device or interface) and
/// take no `request`. Negative quantities are rejected.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Resource {
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub default: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request: Option<Quantity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<Quantity>,
}

impl Resource {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let quantity = |key: &str| {
            f.get(key)
                .map(|q| Quantity::from_json(q, &f.path(key)))
                .transpose()
        };
        Ok(Self {
            default: f.boolean("default")?.unwrap_or(false),
            request: quantity("request")?,
            limit: quantity("limit")?,
        })
    }

    /// `per_device` is true for the bandwidth and IOPS isolators.
    pub(crate) fn validate(&self, per_device: bool) -> Result<()> {
        if per_device {
            if !self.default {
                return Err(Error::new("default must be true"));
            }
            if self.request.is_some() {
                return Err(Error::new(
                    "request not supported by this resource, must be empty",
                ));
            }
        } else if self.default {
            return Err(Error::new("default must be false"));
        }
        for (key, q) in [("request", &self.request), ("limit", &self.limit)] {
            if q.as_ref().is_some_and(Quantity::is_negative) {
                return Err(Error::at(key, format!("{key} must not be negative")));
            }
        }
        Ok(())
    }
}

/// `{"set": [...]}` of the capability isolators; names are not checked.
pub(crate) fn capability_set(v: &Value, path: &str) -> Result<Vec<String>> {
    Fields::new(v, path)?.strings("set")
}

pub(crate) fn validate_set(set: &[String]) -> Result<()> {
    if set.is_empty() {
        return Err(Error::at("set", "set must be non-empty"));
    }
    Ok(())
}

/// Value of the seccomp isolators.
///
/// `errno` is only checked for shape (`E` followed by upper-case letters and
/// digits); mapping it to a number is the executor's job. `None` (or an
/// empty string in the document) means blocked calls kill the app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Seccomp {
    pub set: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errno: Option<String>,
}

impl Seccomp {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        Ok(Self {
            set: f.strings("set")?,
            errno: f.string("errno")?.filter(|e| !e.is_empty()),
        })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        validate_set(&self.set)?;
        let Some(errno) = &self.errno else {
            return Ok(());
        };
        if !errno.starts_with('E') {
            return Err(Error::at(
                "errno",
                format!("errno must start with an 'E' character, got {errno}"),
            ));
        }
        if !errno
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        {
            return Err(Error::at(
                "errno",
                format!("errno must contain only upper case characters and digits, got {errno}"),
            ));
        }
        Ok(())
    }
}

/// Value of `os/linux/selinux-context`: `user:role:type:level`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SelinuxContext {
    pub user: String,
    pub role: String,
    pub r#type: String,
    pub level: String,
}

impl SelinuxContext {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        Ok(Self {
            user: f.string_or_empty("user")?,
            role: f.string_or_empty("role")?,
            r#type: f.string_or_empty("type")?,
            level: f.string_or_empty("level")?,
        })
    }

    pub(crate) fn validate(&self) -> Result<()> {
        for (key, v) in [
            ("user", &self.user),
            ("role", &self.role),
            ("type", &self.r#type),
        ] {
            if v.is_empty() || v.contains(':') {
                return Err(Error::at(key, format!("invalid {key} value {v:?}")));
            }
        }
        if self.level.is_empty() {
            return Err(Error::at("level", "invalid level value \"\""));
        }
        Ok(())
    }
}

/// `{"profile": name}` of `os/linux/apparmor-profile`.
pub(crate) fn apparmor_profile(v: &Value, path: &str) -> Result<String> {
    Fields::new(v, path)?.string_or_empty("profile")
}

/// A bare JSON integer within `min..=max`, with the reference's message.
pub(crate) fn ranged(v: &Value, path: &str, name: &str, min: i64, max: i64) -> Result<i64> {
    let n = json::integer(v, path)?;
    if !(min..=max).contains(&n) {
        return Err(Error::at(
            path,
            format!("{name} must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(n)
}

/// `os/unix/sysctl`: keys are kept verbatim, values must be strings.
pub(crate) fn sysctl(v: &Value, path: &str) -> Result<BTreeMap<String, String>> {
    json::object(v, path)?;
    json::string_map(v, path)
}

#[derive(Serialize)]
pub(crate) struct SetValue<'a> {
    pub(crate) set: &'a [String],
}

#[derive(Serialize)]
pub(crate) struct ProfileValue<'a> {
    pub(crate) profile: &'a str,
}
