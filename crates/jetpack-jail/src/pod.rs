//! What the plan is made from: the reified pod as stage0 resolved it (host paths, numeric
//! credentials, isolator values) and the host's jail settings.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::net::Subnet;

/// The operating system an app's image is built for (its `os` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    FreeBsd,
    /// Run through FreeBSD's Linux binary compatibility: linprocfs, linsysfs, fdescfs, a tmpfs
    /// `/dev/shm`.
    Linux,
}

/// How the pod reaches the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// An address of the jail interface's subnet, as an alias on that interface (Jetpack's).
    Alias,
    /// The host's addresses (`ip4=inherit`, `ip6=inherit`).
    Host,
    /// No network at all (`ip4=disable`, `ip6=disable`).
    None,
    /// A virtual network stack of its own, one `epair(4)` end inside, the other on a bridge.
    Vnet,
}

/// A pod volume (appc `volumes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    pub name: String,
    pub kind: VolumeKind,
    pub read_only: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolumeKind {
    /// A host directory, mounted with nullfs.
    Host { source: PathBuf },
    /// A new empty directory (its own ZFS dataset where the store is on ZFS).
    Empty { mode: u32, uid: u32, gid: u32 },
}

/// A volume mounted into an app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppMount {
    pub volume: String,
    /// Absolute path inside the app's rootfs.
    pub target: String,
    pub read_only: bool,
}

/// One app of the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct App {
    pub name: String,
    /// Host path of the app's writable rootfs (its clone).
    pub rootfs: PathBuf,
    pub os: Os,
    pub exec: Vec<String>,
    /// The complete environment, as stage0 built it.
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    pub supplementary_gids: Vec<u32>,
    pub working_dir: String,
    pub mounts: Vec<AppMount>,
    /// Linux capability names the app keeps (`CAP_NET_RAW`, ...), after its isolators.
    pub capabilities: Vec<String>,
}

/// A `--port`: a host port forwarded to the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port {
    pub protocol: Protocol,
    pub host_port: u16,
    pub pod_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A reified pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// The pod UUID, in its canonical form with dashes.
    pub uuid: String,
    pub hostname: String,
    /// Host directory of the pod (`<root>/pods/<uuid>`).
    pub dir: PathBuf,
    pub apps: Vec<App>,
    pub volumes: Vec<Volume>,
    pub net: NetMode,
    pub ports: Vec<Port>,
    /// Pod `resource/memory` limit, bytes.
    pub memory_limit: Option<u64>,
    /// Pod `resource/cpu` limit, milli-cores.
    pub cpu_limit_milli: Option<u64>,
    /// Pod annotations, in manifest order.
    pub annotations: Vec<(String, String)>,
    /// The capabilities an app has when no isolator says otherwise (appc's default set, as
    /// stage0 resolves it): root in a jail keeps these whatever an app drops.
    pub default_capabilities: Vec<String>,
}

/// The host's jail settings: Jetpack's defaults unless the configuration says otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// Jail name = prefix + pod UUID (`jetpack/`).
    pub name_prefix: String,
    /// The cloned interface holding pod addresses (`jail.interface`, `lo1`).
    pub interface: String,
    /// Its subnet; the first address is the host's (metadata service), the rest pods'.
    pub subnet: Subnet,
    /// The interface pod traffic leaves by, for pf's `nat`; none: no NAT rule.
    pub external_interface: Option<String>,
    /// The bridge VNET pods' host ends join.
    pub bridge: String,
    /// The devfs ruleset of the apps' `/dev` (`jail.devfs_ruleset`, 4: `devfsrules_jail`).
    pub devfs_ruleset: i64,
    /// The jail's securelevel (`jail.securelevel`, 2).
    pub securelevel: i64,
    /// Global parameter overrides in configuration order (`jail.param.NAME` and Jetpack's
    /// `ace.jailConf.NAME`); an empty value unsets the parameter. Setting one again replaces
    /// its value in place.
    pub params: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            name_prefix: "jetpack/".to_string(),
            interface: "lo1".to_string(),
            subnet: Subnet::new(Ipv4Addr::new(172, 23, 0, 0), 16).expect("valid default"),
            external_interface: None,
            bridge: "jetpack0".to_string(),
            devfs_ruleset: crate::DEFAULT_DEVFS_RULESET,
            securelevel: crate::DEFAULT_SECURELEVEL,
            params: Vec::new(),
        }
    }
}

impl Settings {
    /// Applies one configuration key, checking its value; false if the key is not a jail
    /// setting. The one place that reads the `jail.*` keys (jetpack-settings hands them
    /// here). `jail.param.NAME` and `ace.jailConf.NAME` (Jetpack's spelling) are parameter
    /// overrides: a parameter jail(2) knows and the plan does not own, with a value of its
    /// kind, or empty to unset it.
    pub fn apply(&mut self, key: &str, value: &str) -> Result<bool> {
        if let Some(name) = param_key(key) {
            crate::params::parse_override(name, value, &format!("configuration {key}"))?;
            match self.params.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = value.to_string(),
                None => self.params.push((name.to_string(), value.to_string())),
            }
            return Ok(true);
        }
        let int = |name: &str| {
            let kind = crate::params::kind(name).expect("a known parameter");
            match crate::params::parse_value(name, kind, value, &format!("configuration {key}"))? {
                crate::params::Value::Int(i) => Ok::<i64, Error>(i),
                _ => unreachable!("an integer parameter"),
            }
        };
        match key {
            "jail.devfs_ruleset" => self.devfs_ruleset = int("devfs_ruleset")?,
            "jail.securelevel" => self.securelevel = int("securelevel")?,
            "jail.interface" => self.interface = interface_name(value)?,
            "jail.external-interface" => {
                self.external_interface = (!value.is_empty())
                    .then(|| interface_name(value))
                    .transpose()?
            }
            "jail.bridge" => self.bridge = interface_name(value)?,
            "jail.subnet" => self.subnet = value.parse()?,
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// The parameter a `jail.param.NAME` or `ace.jailConf.NAME` key overrides.
pub fn param_key(key: &str) -> Option<&str> {
    key.strip_prefix("jail.param.")
        .or_else(|| key.strip_prefix("ace.jailConf."))
        .filter(|n| !n.is_empty())
}

/// An interface name as ifconfig(8) takes it (IFNAMSIZ 16 with the NUL).
fn interface_name(value: &str) -> Result<String> {
    let ok = !value.is_empty()
        && value.len() < 16
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(value.to_string())
    } else {
        Err(Error::Invalid {
            what: "interface name",
            value: value.to_string(),
            reason: "1 to 15 letters, digits or _".to_string(),
        })
    }
}
