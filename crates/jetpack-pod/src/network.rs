//! A pod's networks at run time: the network namespace, one CNI ADD per network, the files a
//! pod needs to use them, and DEL of everything afterwards.
//!
//! Every step is recorded in `<pod>/net.json` *before* it is made, with the exact
//! configuration CNI is called with: a run killed at any point leaves a record from which
//! [`detach`] (called by the next run, `destroy` and `gc`) removes the leases, veths and rules
//! with the same configuration, as CNI requires, even if the network's file changed since.

use std::fs;
use std::net::IpAddr;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use appc::PodManifest;
use jetpack_net::{Attachment, Invocation, PortMapping};
use jetpack_store::Store;
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::host::Host;
use crate::podopts::EtcOptions;
pub use crate::pods::NetInfo;
use crate::pods::Pods;
use crate::rootfs;
use crate::state::write_json;

/// How a pod is connected, from the `net` recorded at prepare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    Host,
    /// Loopback only.
    None,
    /// These CNI networks, in order: `eth0`, `eth1`, ...
    Networks(Vec<String>),
}

impl NetMode {
    /// `host`, `none`, or network names separated by commas (`default` is the default network).
    pub fn parse(s: &str) -> Result<NetMode> {
        match s {
            "host" => Ok(NetMode::Host),
            "none" => Ok(NetMode::None),
            _ => {
                let names: Vec<String> = s.split(',').map(|n| n.trim().to_string()).collect();
                if names
                    .iter()
                    .any(|n| n.is_empty() || n == "host" || n == "none")
                {
                    return Err(Error::Invalid(format!(
                        "--net={s}: give host, none, or network names separated by commas"
                    )));
                }
                let mut seen = std::collections::HashSet::new();
                if let Some(d) = names.iter().find(|n| !seen.insert(n.as_str())) {
                    return Err(Error::Invalid(format!("--net={s}: network {d} twice")));
                }
                Ok(NetMode::Networks(names))
            }
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Joined {
    invocation: Option<Invocation>,
    attachment: Option<Attachment>,
}

/// `<pod>/net.json`.
#[derive(Debug, Default, Serialize, Deserialize)]
struct NetState {
    netns: PathBuf,
    networks: Vec<Joined>,
}

fn state_path(pods: &Pods, uuid: &str) -> PathBuf {
    pods.files(uuid).net_state()
}

fn save(pods: &Pods, uuid: &str, st: &NetState) -> Result<()> {
    write_json(&state_path(pods, uuid), st)
}

/// A pod attached to its networks.
pub struct Attached {
    pub netns: PathBuf,
    pub networks: Vec<NetInfo>,
}

impl Attached {
    pub fn ips(&self) -> Vec<IpAddr> {
        self.networks
            .iter()
            .flat_map(|n| n.addresses.iter())
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect()
    }
}

/// The host ports the pod manifest asks for, resolved to the apps' ports.
pub fn port_mappings(manifest: &PodManifest) -> Result<Vec<PortMapping>> {
    let mut out = Vec::new();
    for exposed in &manifest.ports {
        let name = exposed.name.as_str();
        let port = match &exposed.pod_port {
            Some(p) => p.clone(),
            None => {
                let found: Vec<_> = manifest
                    .apps
                    .iter()
                    .filter_map(|a| a.app.as_ref())
                    .flat_map(|a| a.ports.iter())
                    .filter(|p| p.name.as_str() == name)
                    .collect();
                match found.as_slice() {
                    [one] => (*one).clone(),
                    [] => {
                        return Err(Error::Invalid(format!(
                            "port {name}: no app of the pod has a port of that name"
                        )));
                    }
                    _ => {
                        return Err(Error::Invalid(format!(
                            "port {name}: several apps have a port of that name; give the pod port in a pod manifest"
                        )));
                    }
                }
            }
        };
        for i in 0..port.count.max(1) {
            let (Some(host_port), Some(container_port)) = (
                exposed.host_port.checked_add(i as u16),
                port.port.checked_add(i as u16),
            ) else {
                return Err(Error::Invalid(format!("port {name}: range past 65535")));
            };
            out.push(PortMapping {
                host_port,
                container_port,
                protocol: port.protocol.clone(),
                host_ip: exposed.host_ip,
            });
        }
    }
    Ok(out)
}

/// Where `host-local` keeps the leases of this store's pods: `<root>/net/leases/<network>`.
pub fn lease_dir(store: &Store) -> PathBuf {
    store.layout().net_leases()
}

/// Makes the pod's network namespace and adds it to `names`. On failure everything made so far
/// is removed again.
pub fn attach(
    engine: &dyn Engine,
    store: &Store,
    pods: &Pods,
    uuid: &str,
    nets: &[jetpack_net::Network],
    ports: &[PortMapping],
    bandwidth: Option<u64>,
) -> Result<Attached> {
    let plugin_path = store.settings().net.cni_path();
    // Port mappings go to the first network that can forward ports.
    let forwarding = nets.iter().position(|n| n.supports("portMappings"));
    if !ports.is_empty() && forwarding.is_none() {
        return Err(Error::Invalid(format!(
            "the pod forwards ports, but none of its networks ({}) has a plugin with the portMappings capability (such as portmap)",
            nets.iter()
                .map(|n| n.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let netns = pods.files(uuid).netns();
    let mut st = NetState {
        netns: netns.clone(),
        networks: Vec::new(),
    };
    save(pods, uuid, &st)?;
    let result = (|| {
        engine.create_netns(&netns)?;
        let mut infos = Vec::new();
        for (i, net) in nets.iter().enumerate() {
            let ifname = format!("eth{i}");
            let p = if Some(i) == forwarding { ports } else { &[] };
            // Leases are the running store's, whichever store's file this is.
            let net = net.for_store(&lease_dir(store));
            let inv = Invocation::new(&net, uuid, &netns, &ifname, &plugin_path, p, bandwidth);
            st.networks.push(Joined {
                invocation: Some(inv.clone()),
                attachment: None,
            });
            save(pods, uuid, &st)?;
            let att = inv.add()?;
            infos.push(NetInfo {
                name: net.name.clone(),
                ifname,
                addresses: att.addresses.clone(),
                gateway: att.gateway,
            });
            st.networks.last_mut().expect("pushed").attachment = Some(att);
            save(pods, uuid, &st)?;
        }
        Ok(infos)
    })();
    match result {
        Ok(networks) => Ok(Attached { netns, networks }),
        Err(e) => {
            if let Err(undo) = detach(engine, pods, uuid) {
                tracing::warn!("pod {uuid}: undoing its networks: {undo}");
            }
            Err(e)
        }
    }
}

/// The networks of a pod, read once for a prepare or a run.
pub struct PodNetworks {
    pub mode: NetMode,
    /// The configurations of the pod's networks, in order (none for host and none).
    pub nets: Vec<jetpack_net::Network>,
    /// The host's address on the default network, where the metadata service listens (it
    /// runs only with a default network, whatever the pod's).
    pub service_host: Option<IpAddr>,
}

impl PodNetworks {
    /// The networks `net` names for a pod that `engine` runs: CNI's ([`PodNetworks::load`]),
    /// or the engine's own ([`PodNetworks::planned`]).
    pub fn for_engine(engine: &dyn Engine, store: &Store, net: &str) -> Result<PodNetworks> {
        if engine.plans_networks() {
            PodNetworks::planned(store, net)
        } else {
            PodNetworks::load(store, net)
        }
    }

    /// The networks of a pod whose engine gives them itself (jails): `host`, `none`, `default`
    /// (an address on the jail interface) or `vnet` (a network stack of its own). No CNI file
    /// is read (so none limits bandwidth); the metadata service is on the first address of
    /// `jail.subnet`, the host's.
    pub fn planned(store: &Store, net: &str) -> Result<PodNetworks> {
        let mode = NetMode::parse(net)?;
        if let NetMode::Networks(names) = &mode
            && !matches!(names.as_slice(), [n] if n == jetpack_net::DEFAULT_NETWORK || n == "vnet")
        {
            return Err(Error::Invalid(format!(
                "--net={net}: a jail pod joins one network, default (an address on \
                 jail.interface) or vnet (a network stack of its own), or uses host or \
                 none; CNI networks are Linux's"
            )));
        }
        Ok(PodNetworks {
            mode,
            nets: Vec::new(),
            service_host: Some(IpAddr::V4(store.settings().jail.subnet.host())),
        })
    }

    /// Parses `net` (`host`, `none`, or network names) and loads the named networks; an
    /// unknown name is an error.
    pub fn load(store: &Store, net: &str) -> Result<PodNetworks> {
        let mode = NetMode::parse(net)?;
        let dir = store.settings().net.dir.as_path();
        let NetMode::Networks(names) = &mode else {
            // Only to know whether the service can run: a broken file is not this pod's.
            let default = jetpack_net::load_network(dir, jetpack_net::DEFAULT_NETWORK).ok();
            // The metadata service listens on the default network's host address, even
            // for these pods: another store's network is refused here too. A host pod uses
            // no bridge, so the host's bridges and routes are not looked at for it (the
            // service itself refuses to start on another store's bridge or subnet).
            if let Some(n) = &default {
                match mode {
                    NetMode::Host => n.check_file_owner(store.root())?,
                    _ => n.check_owner(store.root())?,
                }
            }
            let service_host = default.and_then(|n| n.host_address());
            return Ok(PodNetworks {
                mode,
                nets: Vec::new(),
                service_host,
            });
        };
        let all = jetpack_net::load_all(dir)?;
        let nets = names
            .iter()
            .map(|n| jetpack_net::find(&all, dir, n).cloned())
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let default = all.iter().find(|n| n.name == jetpack_net::DEFAULT_NETWORK);
        // Another store's default network (its bridge, subnet and metadata service address)
        // is refused before anything is made, whichever networks the pod joins.
        if let Some(n) = default {
            n.check_owner(store.root())?;
        }
        let service_host = default.and_then(|n| n.host_address());
        Ok(PodNetworks {
            mode,
            nets,
            service_host,
        })
    }

    /// The isolator host facts of the pod: can its networks limit bandwidth?
    pub fn isolator_host(&self, manifest: &PodManifest, engine: &dyn Engine) -> Host {
        let mut host = crate::isolators::host(manifest, engine);
        host.net_bandwidth = match self.mode {
            NetMode::Networks(_) => Some(self.nets.iter().all(|n| n.supports("bandwidth"))),
            _ => None,
        };
        host
    }
}

/// A TCP listener on `127.0.0.1:port` in the network namespace bound at `netns`, for the
/// metadata service to serve a pod that has only loopback. A socket stays in the namespace it
/// was made in, so a short-lived thread joins the namespace and makes it there (`setns` moves
/// only that thread).
pub fn loopback_listener(netns: &Path, port: u16) -> Result<OwnedFd> {
    crate::engine::native::loopback_listener(netns, port).map_err(|e| {
        Error::Runtime(format!(
            "listening on 127.0.0.1:{port} in the pod's network namespace {}: {e}",
            netns.display()
        ))
    })
}

/// Removes the pod from its networks (DEL, last network first) and removes its namespace.
/// Returns whether there was anything to remove. The record stays if a DEL failed, so that a
/// later `gc` tries again.
pub fn detach(engine: &dyn Engine, pods: &Pods, uuid: &str) -> Result<bool> {
    let p = state_path(pods, uuid);
    let st: NetState = match fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| Error::Invalid(format!("{}: {e}", p.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).at(&p).map_err(crate::error::Error::from),
    };
    // After a reboot the namespace file is an empty file: the namespace, its veths and the
    // rules are gone, and only the leases remain. Plugins given that file would fail for
    // ever; without a namespace they release what is left.
    let bound = engine.netns_bound(&st.netns);
    let mut first_err = None;
    for j in st.networks.iter().rev() {
        if let Some(inv) = &j.invocation {
            let mut inv = inv.clone();
            if !bound {
                inv.netns = PathBuf::new();
            }
            // Without a result (ADD was interrupted) DEL still releases what ADD got to.
            let prev = j.attachment.as_ref().map(|a| &a.result);
            if let Err(e) = jetpack_net::del(&inv, prev) {
                first_err.get_or_insert(Error::from(e));
            }
        }
    }
    engine.remove_netns(&st.netns)?;
    if let Some(e) = first_err {
        return Err(e);
    }
    match fs::remove_file(&p) {
        // Another process (a `destroy` next to the pod's own `run`) got there first.
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).at(&p).map_err(crate::error::Error::from)
        }
        _ => Ok(true),
    }
}

/// Writes `/etc/hosts` and `/etc/resolv.conf` into each app's rootfs where its image has none,
/// with the pod's `--hosts-entry`, `--dns-search` and `--dns-opt` (an image's own file is
/// kept, with a warning when those options were given for it).
pub fn provide_etc_files(
    rootfs: &[PathBuf],
    hostname: &str,
    mode: &NetMode,
    ips: &[IpAddr],
    dns: &[IpAddr],
    etc: &EtcOptions,
) -> Result<()> {
    let base = etc
        .host_hosts
        .then(|| fs::read_to_string("/etc/hosts").unwrap_or_default());
    let hosts = jetpack_net::hosts_file(hostname, ips, base.as_deref(), &etc.hosts_entries);
    let resolv = match mode {
        NetMode::None if dns.is_empty() && !etc.has_resolver_settings() => None,
        NetMode::None if dns.is_empty() => Some(String::new()),
        // The host's own resolver (even a local stub) is reachable on the host network.
        NetMode::Host if dns.is_empty() => {
            Some(fs::read_to_string("/etc/resolv.conf").unwrap_or_default())
        }
        _ => Some(jetpack_net::resolv_conf(
            dns,
            &["/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"],
        )),
    }
    .map(|text| jetpack_net::resolver_settings(&text, &etc.dns_search, &etc.dns_options));
    let own = |r: &PathBuf, name: &str, asked: bool| {
        if asked {
            tracing::warn!(
                "{}: the image has its own /etc/{name}, which is kept: the pod's settings for it \
                 do not apply",
                r.display()
            );
        }
    };
    let hosts_asked = etc.host_hosts || !etc.hosts_entries.is_empty();
    for r in rootfs {
        if !rootfs::provide_etc_file(r, "hosts", hosts.as_bytes())? {
            own(r, "hosts", hosts_asked);
        }
        if let Some(text) = &resolv
            && !rootfs::provide_etc_file(r, "resolv.conf", text.as_bytes())?
        {
            own(r, "resolv.conf", etc.has_resolver_settings());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(ports: serde_json::Value) -> PodManifest {
        let app = |name: &str, port: u16| {
            serde_json::json!({
                "name": name,
                "image": {"id": format!("sha512-{}", "a".repeat(128))},
                "app": {"exec": ["/bin/sh"], "user": "0", "group": "0",
                        "ports": [{"name": "http", "protocol": "tcp", "port": port},
                                  {"name": format!("{name}-dns"), "protocol": "udp", "port": 53, "count": 2}]}
            })
        };
        let v = serde_json::json!({
            "acKind": "PodManifest", "acVersion": "0.8.11",
            "apps": [app("web", 80), app("api", 8080)],
            "ports": ports,
        });
        PodManifest::from_slice(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn pod_ports_resolve_to_app_ports() {
        let m = manifest(serde_json::json!([
            {"name": "web-dns", "hostPort": 5353, "hostIP": "127.0.0.1"},
            {"name": "http", "hostPort": 8000,
             "podPort": {"name": "http", "protocol": "tcp", "port": 8080}}
        ]));
        let got = port_mappings(&m).unwrap();
        let want = [
            (5353, 53, "udp", Some("127.0.0.1")),
            (5354, 54, "udp", Some("127.0.0.1")),
            (8000, 8080, "tcp", None),
        ];
        assert_eq!(got.len(), want.len(), "{got:?}");
        for (g, (h, c, p, ip)) in got.iter().zip(want) {
            assert_eq!(
                (g.host_port, g.container_port, g.protocol.as_str()),
                (h, c, p)
            );
            assert_eq!(g.host_ip.map(|a| a.to_string()).as_deref(), ip);
        }
        // Two apps have `http`: which one must be said.
        let e = port_mappings(&manifest(
            serde_json::json!([{"name": "http", "hostPort": 8000}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("several apps"), "{e}");
        let e = port_mappings(&manifest(
            serde_json::json!([{"name": "ssh", "hostPort": 22}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("no app of the pod has a port of that name"),
            "{e}"
        );
        let e = port_mappings(&manifest(
            serde_json::json!([{"name": "api-dns", "hostPort": 65535}]),
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("past 65535"), "{e}");
    }

    #[test]
    fn net_modes() {
        assert_eq!(NetMode::parse("host").unwrap(), NetMode::Host);
        assert_eq!(NetMode::parse("none").unwrap(), NetMode::None);
        assert_eq!(
            NetMode::parse("default,lan").unwrap(),
            NetMode::Networks(vec!["default".into(), "lan".into()])
        );
        for bad in ["", "a,,b", "default,host", "a,a"] {
            assert!(NetMode::parse(bad).is_err(), "{bad}");
        }
    }
}
