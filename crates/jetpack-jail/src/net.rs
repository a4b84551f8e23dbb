//! The pod's network: its address in the jail interface's subnet, the `ifconfig` commands
//! that put it up and take it down, VNET's `epair(4)`, and the pf anchor for NAT and ports.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::error::{Error, Result, invalid};
use crate::pod::{Pod, Port, Settings};

/// An IPv4 subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Subnet {
    network: Ipv4Addr,
    prefix: u8,
}

impl Subnet {
    /// The subnet of `addr`/`prefix`; host bits must be zero. At most /30: a host and a pod.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Result<Subnet> {
        let text = format!("{addr}/{prefix}");
        if prefix > 30 {
            return Err(invalid(
                "subnet",
                &text,
                "needs room for the host and a pod (/30 at most)",
            ));
        }
        let mask = u32::MAX << (32 - prefix as u32);
        if u32::from(addr) & !mask != 0 {
            return Err(invalid("subnet", &text, "host bits are set"));
        }
        Ok(Subnet {
            network: addr,
            prefix,
        })
    }

    pub fn prefix(&self) -> u8 {
        self.prefix
    }

    /// The first address: the host's, where the metadata service listens.
    pub fn host(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + 1)
    }

    fn broadcast(&self) -> u32 {
        u32::from(self.network) | (u32::MAX >> self.prefix)
    }

    pub fn contains(&self, a: Ipv4Addr) -> bool {
        let mask = u32::MAX << (32 - self.prefix as u32);
        u32::from(a) & mask == u32::from(self.network)
    }
}

impl std::fmt::Display for Subnet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for Subnet {
    type Err = Error;
    fn from_str(s: &str) -> Result<Subnet> {
        let (a, p) = s
            .split_once('/')
            .ok_or_else(|| invalid("subnet", s, "not ADDRESS/PREFIX"))?;
        let addr = a.parse().map_err(|_| invalid("subnet", s, "bad address"))?;
        let prefix = p.parse().map_err(|_| invalid("subnet", s, "bad prefix"))?;
        Subnet::new(addr, prefix)
    }
}

/// The lowest free pod address: from the host's address + 1 up to the last before broadcast,
/// skipping `taken` (leases of other pods and addresses found in use), as Jetpack did.
pub fn next_free(subnet: &Subnet, taken: &BTreeSet<Ipv4Addr>) -> Result<Ipv4Addr> {
    (u32::from(subnet.host()) + 1..subnet.broadcast())
        .map(Ipv4Addr::from)
        .find(|a| !taken.contains(a))
        .ok_or_else(|| Error::SubnetFull {
            subnet: subnet.to_string(),
        })
}

/// The commands that bring the pod's network up, and those that take it down.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPlan {
    /// Run before the jail is made (addresses, interfaces) and after (VNET moves).
    pub up: Vec<Vec<String>>,
    /// After the jail was removed, in this order.
    pub down: Vec<Vec<String>>,
    /// Asks whether another host already answers on the address (jetpack#22): success means
    /// it is taken. Run before the lease is kept.
    pub probe: Option<Vec<String>>,
}

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The `--net` default: an alias on the jail interface, as jail(8) adds it for
/// `interface` + `ip4.addr` (a /32 alias) and removes it.
pub fn alias(settings: &Settings, addr: Ipv4Addr) -> NetPlan {
    let a = addr.to_string();
    let ifc = settings.interface.as_str();
    NetPlan {
        up: vec![argv(&[
            "/sbin/ifconfig",
            ifc,
            "inet",
            &a,
            "netmask",
            "255.255.255.255",
            "alias",
        ])],
        down: vec![argv(&["/sbin/ifconfig", ifc, "inet", &a, "-alias"])],
        probe: Some(argv(&["/sbin/ping", "-c", "1", "-t", "1", "-q", &a])),
    }
}

/// `--net=vnet`: an `epair(4)`; its `a` end joins the bridge (which holds the host address),
/// its `b` end moves into the jail and takes the pod's address, the host's as the default
/// route. Interface names come from the pod UUID (15 bytes at most).
pub fn vnet(settings: &Settings, pod: &Pod, jail: &str, addr: Ipv4Addr) -> NetPlan {
    let id: String = pod.uuid.chars().filter(|c| *c != '-').take(8).collect();
    let (host_end, jail_end) = (format!("jp{id}a"), format!("jp{id}b"));
    let cidr = format!("{addr}/{}", settings.subnet.prefix());
    let gw = settings.subnet.host().to_string();
    NetPlan {
        up: vec![
            // `ifconfig epair create` prints the new `epairNa`; the engine renames both ends.
            argv(&["/sbin/ifconfig", "epair", "create"]),
            argv(&["/sbin/ifconfig", "{epair}a", "name", &host_end]),
            argv(&["/sbin/ifconfig", "{epair}b", "name", &jail_end]),
            argv(&["/sbin/ifconfig", &settings.bridge, "addm", &host_end]),
            argv(&["/sbin/ifconfig", &host_end, "up"]),
            argv(&["/sbin/ifconfig", &jail_end, "vnet", jail]),
            argv(&["/sbin/ifconfig", "-j", jail, &jail_end, "inet", &cidr, "up"]),
            argv(&[
                "/sbin/ifconfig",
                "-j",
                jail,
                "lo0",
                "inet",
                "127.0.0.1/8",
                "up",
            ]),
            argv(&["/sbin/route", "-j", jail, "add", "default", &gw]),
        ],
        // Removing the jail returns its end to the host; destroying one end destroys both.
        down: vec![argv(&["/sbin/ifconfig", &host_end, "destroy"])],
        probe: Some(argv(&[
            "/sbin/ping",
            "-c",
            "1",
            "-t",
            "1",
            "-q",
            &addr.to_string(),
        ])),
    }
}

/// The pod's pf anchor `jetpack/<uuid>`: NAT of its address out of the external interface
/// (when one is configured) and an `rdr` per port. Loaded with `pfctl -a ANCHOR -f -`,
/// flushed with `pfctl -a ANCHOR -F all`; pf.conf evaluates the pods' anchors through
/// `nat-anchor "jetpack/*"` and `rdr-anchor "jetpack/*"`.
pub fn pf_rules(settings: &Settings, addr: Ipv4Addr, ports: &[Port]) -> String {
    let mut text = String::new();
    if let Some(ext) = &settings.external_interface {
        text.push_str(&format!(
            "nat on {ext} inet from {addr} to any -> ({ext})\n"
        ));
    }
    for p in ports {
        let on = settings
            .external_interface
            .as_ref()
            .map(|e| format!("on {e} "))
            .unwrap_or_default();
        text.push_str(&format!(
            "rdr pass {on}inet proto {} from any to any port {} -> {addr} port {}\n",
            p.protocol.as_str(),
            p.host_port,
            p.pod_port
        ));
    }
    text
}

/// The anchor of a pod.
pub fn pf_anchor(pod: &Pod) -> String {
    format!("jetpack/{}", pod.uuid)
}
