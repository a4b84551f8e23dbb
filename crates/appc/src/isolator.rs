//! Isolators: `{"name": AC Identifier, "value": any}` (digest §1.6, §9.16).

use std::collections::BTreeMap;

use serde::ser::SerializeMap;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ident::AcIdentifier;
use crate::isolator_values::{
    ProfileValue, Resource, Seccomp, SelinuxContext, SetValue, apparmor_profile, capability_set,
    ranged, sysctl, validate_set,
};
use crate::json::{self, Fields};
use crate::keys::Shape;
use crate::macros::deserialize_via_json;

/// Names of the isolators the spec (and the reference code) defines.
pub mod names {
    pub const RESOURCE_CPU: &str = "resource/cpu";
    pub const RESOURCE_MEMORY: &str = "resource/memory";
    pub const RESOURCE_BLOCK_BANDWIDTH: &str = "resource/block-bandwidth";
    pub const RESOURCE_BLOCK_IOPS: &str = "resource/block-iops";
    pub const RESOURCE_NETWORK_BANDWIDTH: &str = "resource/network-bandwidth";
    pub const CAPABILITIES_RETAIN_SET: &str = "os/linux/capabilities-retain-set";
    pub const CAPABILITIES_REMOVE_SET: &str = "os/linux/capabilities-remove-set";
    pub const NO_NEW_PRIVILEGES: &str = "os/linux/no-new-privileges";
    pub const SECCOMP_REMOVE_SET: &str = "os/linux/seccomp-remove-set";
    pub const SECCOMP_RETAIN_SET: &str = "os/linux/seccomp-retain-set";
    pub const SELINUX_CONTEXT: &str = "os/linux/selinux-context";
    pub const APPARMOR_PROFILE: &str = "os/linux/apparmor-profile";
    pub const OOM_SCORE_ADJ: &str = "os/linux/oom-score-adj";
    pub const CPU_SHARES: &str = "os/linux/cpu-shares";
    pub const SYSCTL: &str = "os/unix/sysctl";
}

use names::*;

/// One isolator, typed when its name is known.
///
/// Unknown names are kept with their raw value, in app and pod isolators
/// alike. The reference rejects an image manifest whose app has one; the
/// spec lets an executor ignore isolators it does not understand as long as
/// it reports them, so they are accepted here and left for the executor to
/// report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Isolator {
    ResourceCpu(Resource),
    ResourceMemory(Resource),
    ResourceBlockBandwidth(Resource),
    ResourceBlockIops(Resource),
    ResourceNetworkBandwidth(Resource),
    /// The bounding set keeps only these capabilities.
    CapabilitiesRetainSet(Vec<String>),
    /// These capabilities are removed from the default set.
    CapabilitiesRemoveSet(Vec<String>),
    NoNewPrivileges(bool),
    SeccompRemoveSet(Seccomp),
    SeccompRetainSet(Seccomp),
    SelinuxContext(SelinuxContext),
    ApparmorProfile(String),
    /// −1000..=1000.
    OomScoreAdj(i32),
    /// 2..=262144.
    CpuShares(u32),
    /// sysctl key → value, applied to the pod.
    Sysctl(BTreeMap<String, String>),
    Unknown {
        name: AcIdentifier,
        value: Value,
    },
}

impl Isolator {
    pub fn name(&self) -> &str {
        match self {
            Isolator::ResourceCpu(_) => RESOURCE_CPU,
            Isolator::ResourceMemory(_) => RESOURCE_MEMORY,
            Isolator::ResourceBlockBandwidth(_) => RESOURCE_BLOCK_BANDWIDTH,
            Isolator::ResourceBlockIops(_) => RESOURCE_BLOCK_IOPS,
            Isolator::ResourceNetworkBandwidth(_) => RESOURCE_NETWORK_BANDWIDTH,
            Isolator::CapabilitiesRetainSet(_) => CAPABILITIES_RETAIN_SET,
            Isolator::CapabilitiesRemoveSet(_) => CAPABILITIES_REMOVE_SET,
            Isolator::NoNewPrivileges(_) => NO_NEW_PRIVILEGES,
            Isolator::SeccompRemoveSet(_) => SECCOMP_REMOVE_SET,
            Isolator::SeccompRetainSet(_) => SECCOMP_RETAIN_SET,
            Isolator::SelinuxContext(_) => SELINUX_CONTEXT,
            Isolator::ApparmorProfile(_) => APPARMOR_PROFILE,
            Isolator::OomScoreAdj(_) => OOM_SCORE_ADJ,
            Isolator::CpuShares(_) => CPU_SHARES,
            Isolator::Sysctl(_) => SYSCTL,
            Isolator::Unknown { name, .. } => name.as_str(),
        }
    }

    pub fn is_known(&self) -> bool {
        !matches!(self, Isolator::Unknown { .. })
    }

    /// Checks the value. Error paths are relative to the value.
    pub fn validate(&self) -> Result<()> {
        match self {
            Isolator::ResourceCpu(r) | Isolator::ResourceMemory(r) => r.validate(false),
            Isolator::ResourceBlockBandwidth(r)
            | Isolator::ResourceBlockIops(r)
            | Isolator::ResourceNetworkBandwidth(r) => r.validate(true),
            Isolator::CapabilitiesRetainSet(s) | Isolator::CapabilitiesRemoveSet(s) => {
                validate_set(s)
            }
            Isolator::SeccompRemoveSet(s) | Isolator::SeccompRetainSet(s) => s.validate(),
            Isolator::SelinuxContext(c) => c.validate(),
            Isolator::ApparmorProfile(p) if p.is_empty() => {
                Err(Error::at("profile", "invalid profile value \"\""))
            }
            Isolator::OomScoreAdj(n) if !(-1000..=1000).contains(n) => Err(Error::new(format!(
                "{OOM_SCORE_ADJ} must be between -1000 and 1000, got {n}"
            ))),
            Isolator::CpuShares(n) if !(2..=262_144).contains(n) => Err(Error::new(format!(
                "{CPU_SHARES} must be between 2 and 262144, got {n}"
            ))),
            _ => Ok(()),
        }
    }

    /// Whether a list may hold several isolators of this name.
    fn multiple_allowed(&self) -> bool {
        !matches!(
            self,
            Isolator::SeccompRemoveSet(_)
                | Isolator::SeccompRetainSet(_)
                | Isolator::SelinuxContext(_)
                | Isolator::ApparmorProfile(_)
                | Isolator::OomScoreAdj(_)
                | Isolator::CpuShares(_)
                | Isolator::Sysctl(_)
        )
    }

    /// Names that cannot appear in the same list. The capability pair is
    /// forbidden by the spec but not enforced by the reference.
    fn conflicts(&self) -> &'static [&'static str] {
        match self {
            Isolator::SeccompRemoveSet(_) => &[SECCOMP_RETAIN_SET],
            Isolator::SeccompRetainSet(_) => &[SECCOMP_REMOVE_SET],
            Isolator::CapabilitiesRetainSet(_) => &[CAPABILITIES_REMOVE_SET],
            Isolator::CapabilitiesRemoveSet(_) => &[CAPABILITIES_RETAIN_SET],
            _ => &[],
        }
    }

    /// Checks a list of isolators as a whole: at most one of the
    /// single-instance kinds, and no conflicting pair. Error paths are
    /// relative (`[1]`).
    pub fn validate_list(list: &[Isolator]) -> Result<()> {
        for (i, iso) in list.iter().enumerate() {
            let earlier = &list[..i];
            let name = iso.name();
            if !iso.multiple_allowed() && earlier.iter().any(|o| o.name() == name) {
                return Err(Error::at(
                    &format!("[{i}]"),
                    format!("isolators set contains too many instances of type {name}"),
                ));
            }
            if let Some(other) = iso
                .conflicts()
                .iter()
                .find(|c| earlier.iter().any(|o| o.name() == **c))
            {
                return Err(Error::at(
                    &format!("[{i}]"),
                    format!("isolators set contains incompatible types: {name} and {other}"),
                ));
            }
        }
        Ok(())
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let name: AcIdentifier = f.required("name", "isolator name must be set")?;
        let vpath = f.path("value");
        let Some(value) = f.get("value") else {
            if is_known_name(name.as_str()) {
                return Err(Error::at(&vpath, "value must be set"));
            }
            return Ok(Isolator::Unknown {
                name,
                value: Value::Null,
            });
        };
        let p = vpath.as_str();
        let iso = match name.as_str() {
            RESOURCE_CPU => Isolator::ResourceCpu(Resource::from_json(value, p)?),
            RESOURCE_MEMORY => Isolator::ResourceMemory(Resource::from_json(value, p)?),
            RESOURCE_BLOCK_BANDWIDTH => {
                Isolator::ResourceBlockBandwidth(Resource::from_json(value, p)?)
            }
            RESOURCE_BLOCK_IOPS => Isolator::ResourceBlockIops(Resource::from_json(value, p)?),
            RESOURCE_NETWORK_BANDWIDTH => {
                Isolator::ResourceNetworkBandwidth(Resource::from_json(value, p)?)
            }
            CAPABILITIES_RETAIN_SET => Isolator::CapabilitiesRetainSet(capability_set(value, p)?),
            CAPABILITIES_REMOVE_SET => Isolator::CapabilitiesRemoveSet(capability_set(value, p)?),
            NO_NEW_PRIVILEGES => Isolator::NoNewPrivileges(json::boolean(value, p)?),
            SECCOMP_REMOVE_SET => Isolator::SeccompRemoveSet(Seccomp::from_json(value, p)?),
            SECCOMP_RETAIN_SET => Isolator::SeccompRetainSet(Seccomp::from_json(value, p)?),
            SELINUX_CONTEXT => Isolator::SelinuxContext(SelinuxContext::from_json(value, p)?),
            APPARMOR_PROFILE => Isolator::ApparmorProfile(apparmor_profile(value, p)?),
            OOM_SCORE_ADJ => {
                Isolator::OomScoreAdj(ranged(value, p, OOM_SCORE_ADJ, -1000, 1000)? as i32)
            }
            CPU_SHARES => Isolator::CpuShares(ranged(value, p, CPU_SHARES, 2, 262_144)? as u32),
            SYSCTL => Isolator::Sysctl(sysctl(value, p)?),
            _ => Isolator::Unknown {
                name,
                value: value.clone(),
            },
        };
        iso.validate().map_err(|e| e.under(p))?;
        Ok(iso)
    }

    /// Reads a list and checks it as a whole.
    pub(crate) fn list_from_json(v: &Value, path: &str) -> Result<Vec<Self>> {
        let list = json::list(v, path, Self::from_json)?;
        Self::validate_list(&list).map_err(|e| e.under(path))?;
        Ok(list)
    }
}

fn is_known_name(name: &str) -> bool {
    [
        RESOURCE_CPU,
        RESOURCE_MEMORY,
        RESOURCE_BLOCK_BANDWIDTH,
        RESOURCE_BLOCK_IOPS,
        RESOURCE_NETWORK_BANDWIDTH,
        CAPABILITIES_RETAIN_SET,
        CAPABILITIES_REMOVE_SET,
        NO_NEW_PRIVILEGES,
        SECCOMP_REMOVE_SET,
        SECCOMP_RETAIN_SET,
        SELINUX_CONTEXT,
        APPARMOR_PROFILE,
        OOM_SCORE_ADJ,
        CPU_SHARES,
        SYSCTL,
    ]
    .contains(&name)
}

impl serde::Serialize for Isolator {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(2))?;
        m.serialize_entry("name", self.name())?;
        match self {
            Isolator::ResourceCpu(r)
            | Isolator::ResourceMemory(r)
            | Isolator::ResourceBlockBandwidth(r)
            | Isolator::ResourceBlockIops(r)
            | Isolator::ResourceNetworkBandwidth(r) => m.serialize_entry("value", r)?,
            Isolator::CapabilitiesRetainSet(set) | Isolator::CapabilitiesRemoveSet(set) => {
                m.serialize_entry("value", &SetValue { set })?
            }
            Isolator::NoNewPrivileges(b) => m.serialize_entry("value", b)?,
            Isolator::SeccompRemoveSet(v) | Isolator::SeccompRetainSet(v) => {
                m.serialize_entry("value", v)?
            }
            Isolator::SelinuxContext(c) => m.serialize_entry("value", c)?,
            Isolator::ApparmorProfile(profile) => {
                m.serialize_entry("value", &ProfileValue { profile })?
            }
            Isolator::OomScoreAdj(n) => m.serialize_entry("value", n)?,
            Isolator::CpuShares(n) => m.serialize_entry("value", n)?,
            Isolator::Sysctl(map) => m.serialize_entry("value", map)?,
            Isolator::Unknown { value, .. } => m.serialize_entry("value", value)?,
        }
        m.end()
    }
}

deserialize_via_json!(Isolator, Shape::Isolator);
