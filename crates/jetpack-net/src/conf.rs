//! Network configurations: a directory of CNI files, one network each, looked up by name.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cidr::Cidr;
use crate::error::{Error, Result, io};
use crate::host::{is_store, same_store};

/// The network pods join unless told otherwise; `init` writes its configuration.
pub const DEFAULT_NETWORK: &str = "default";

/// File `init` writes the default network to; the number orders it among users' files.
const DEFAULT_FILE: &str = "10-default.conflist";

/// One network: its configuration as a CNI configuration list (a single-plugin `.conf` is
/// turned into a one-element list, as CNI runtimes do).
#[derive(Debug, Clone, PartialEq)]
pub struct Network {
    pub name: String,
    pub path: PathBuf,
    pub list: Value,
}

impl Network {
    fn parse(path: &Path, text: &str) -> Result<Network> {
        let bad = |msg: String| Error::Config {
            path: path.to_path_buf(),
            msg,
        };
        let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("not a JSON object".into()))?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("no \"name\"".into()))?
            .to_string();
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(bad(format!(
                "network name {name:?}: use letters, digits, '-', '_' and '.'"
            )));
        }
        if name == "host" || name == "none" {
            return Err(bad(format!(
                "network name {name:?} is reserved for --net={name}"
            )));
        }
        let version = obj
            .get("cniVersion")
            .and_then(Value::as_str)
            .unwrap_or("0.4.0")
            .to_string();
        let list = match obj.get("plugins") {
            Some(Value::Array(p)) if !p.is_empty() => v.clone(),
            Some(_) => return Err(bad("\"plugins\" must be a non-empty list".into())),
            None => json!({"cniVersion": version, "name": name, "plugins": [v]}),
        };
        for (i, p) in list["plugins"].as_array().into_iter().flatten().enumerate() {
            if p.get("type")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                return Err(bad(format!("plugin {i} has no \"type\"")));
            }
        }
        Ok(Network {
            name,
            path: path.to_path_buf(),
            list,
        })
    }

    pub fn cni_version(&self) -> &str {
        self.list["cniVersion"].as_str().unwrap_or("0.4.0")
    }

    pub fn plugins(&self) -> &[Value] {
        self.list["plugins"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Whether a plugin of the network takes this runtime capability (`portMappings`, ...).
    pub fn supports(&self, capability: &str) -> bool {
        self.plugins()
            .iter()
            .any(|p| p["capabilities"][capability].as_bool() == Some(true))
    }

    /// The host's address on this network: the IPAM gateway, or the first address of its
    /// subnet (what `host-local` gives the gateway by default).
    pub fn host_address(&self) -> Option<IpAddr> {
        let ipam = self.plugins().iter().find_map(|p| p.get("ipam"))?;
        let range = &ipam["ranges"][0][0];
        for g in [&ipam["gateway"], &range["gateway"]] {
            if let Some(a) = g.as_str().and_then(|s| s.parse().ok()) {
                return Some(a);
            }
        }
        [&range["subnet"], &ipam["subnet"]]
            .iter()
            .find_map(|s| s.as_str().and_then(|s| s.parse::<Cidr>().ok()))
            .map(|c| c.first_host())
    }
}

fn is_config_file(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("conf" | "conflist" | "json")
    )
}

/// Every network in `dir`, in file name order. A missing directory has none; two files with
/// the same network name are an error (which one is meant would depend on chance).
pub fn load_all(dir: &Path) -> Result<Vec<Network>> {
    let mut files = match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_config_file(p))
            .collect::<Vec<_>>(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io(format!("network directory {}", dir.display()))(e)),
    };
    files.sort();
    let mut nets: Vec<Network> = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(io(f.display().to_string()))?;
        let n = Network::parse(&f, &text)?;
        if let Some(o) = nets.iter().find(|o| o.name == n.name) {
            return Err(Error::Config {
                path: f,
                msg: format!(
                    "network {:?} is also defined in {}",
                    n.name,
                    o.path.display()
                ),
            });
        }
        nets.push(n);
    }
    Ok(nets)
}

/// The network called `name` in `dir`.
pub fn load_network(dir: &Path, name: &str) -> Result<Network> {
    find(&load_all(dir)?, dir, name).cloned()
}

/// The network called `name` among `all` (loaded from `dir`).
pub fn find<'a>(all: &'a [Network], dir: &Path, name: &str) -> Result<&'a Network> {
    let known = all
        .iter()
        .map(|n| n.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    all.iter()
        .find(|n| n.name == name)
        .ok_or_else(|| Error::NotFound {
            name: name.into(),
            dir: dir.to_path_buf(),
            known: if known.is_empty() {
                "none; `jetpack init` writes the default one".into()
            } else {
                known
            },
        })
}

/// The default network: a bridge with the host as gateway, addresses from `subnet` leased by
/// `host-local`, masquerade to the outside, host port forwarding, and bandwidth limits
/// (`resource/network-bandwidth`). With `lease_dir` the leases are kept there; without, the
/// store that runs a pod gives its own ([`Network::for_store`]). `owner`, the root of the store
/// whose network this is, is recorded as `"jetpack": {"store": ...}` (CNI ignores the key).
pub fn default_config(
    bridge: &str,
    subnet: Cidr,
    lease_dir: Option<&Path>,
    owner: Option<&Path>,
) -> String {
    let default_route = if subnet.addr.is_ipv4() {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    let mut ipam = json!({
        "type": "host-local",
        "ranges": [[{"subnet": subnet.to_string()}]],
        "routes": [{"dst": default_route}],
    });
    if let Some(d) = lease_dir {
        ipam["dataDir"] = json!(d);
    }
    let mut v = json!({
        "cniVersion": "1.0.0",
        "name": DEFAULT_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": ipam,
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}}
        ]
    });
    if let Some(o) = owner {
        v[OWNER_KEY] = json!({"store": o});
    }
    to_text(&v)
}

fn to_text(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s
}

/// The top-level key of a network file that names the store the network belongs to.
pub(crate) const OWNER_KEY: &str = "jetpack";

fn check_default_args(dir: &Path, bridge: &str, subnet: Cidr) -> Result<()> {
    if bridge.is_empty() || bridge.len() > 15 || bridge.contains(['/', ' ']) {
        return Err(Error::Config {
            path: dir.join(DEFAULT_FILE),
            msg: format!("bridge name {bridge:?}: 1 to 15 characters, no '/' or space"),
        });
    }
    if !subnet.usable() {
        return Err(Error::Config {
            path: dir.join(DEFAULT_FILE),
            msg: format!("subnet {subnet} is too small for a gateway and pods"),
        });
    }
    Ok(())
}

fn replace_file(dir: &Path, name: &str, text: &str) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let path = dir.join(name);
    jetpack_fs::atomic_write(&path, text.as_bytes())
        .map_err(|e| io(format!("writing {}", path.display()))(e.source))?;
    Ok(path)
}

/// Writes the default network's file into `dir`, with its leases in `lease_dir`, unless a
/// network of that name exists there. Returns whether it wrote. For a network of no store
/// (a store's `init` uses [`claim_default`]).
pub fn write_default(dir: &Path, bridge: &str, subnet: Cidr, lease_dir: &Path) -> Result<bool> {
    check_default_args(dir, bridge, subnet)?;
    if load_all(dir)?.iter().any(|n| n.name == DEFAULT_NETWORK) {
        return Ok(false);
    }
    replace_file(
        dir,
        DEFAULT_FILE,
        &default_config(bridge, subnet, Some(lease_dir), None),
    )?;
    Ok(true)
}

/// What [`claim_default`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Wrote the default network, for this store.
    Written,
    /// The default network there is already this store's, or names no store (a file of the
    /// user's own, left as written).
    Kept,
    /// The default network was written for a store that is gone, or by an older `init` (with
    /// the lease directory of the store at `previous`): it is this store's now, and leases
    /// under the root of the store that runs each pod.
    TakenOver { previous: PathBuf },
}

/// Refuses, before a store at `root` is made, what [`claim_default`] would refuse: the
/// default network in `dir` of another store, or, when `dir` has none yet, a bridge or subnet
/// another store's network uses on this host.
pub fn check_default(dir: &Path, bridge: &str, subnet: Cidr, root: &Path) -> Result<()> {
    match load_network(dir, DEFAULT_NETWORK) {
        Ok(n) => n.check_owner(root),
        Err(Error::NotFound { .. }) => {
            crate::host::check_clash(bridge, Some(subnet), root, &dir.join(DEFAULT_FILE))
        }
        // Unreadable files are reported by the claim itself.
        Err(_) => Ok(()),
    }
}

/// The default network in `dir` for the store at `root`: written (bridge and subnet as given,
/// no lease directory: each store leases under its own root at run time) unless one exists.
/// One that belongs to another store that still exists is refused ([`Error::Owned`]): two
/// stores on one bridge and subnet would lease the same addresses to their pods, and their
/// metadata services would want the same address and port.
pub fn claim_default(dir: &Path, bridge: &str, subnet: Cidr, root: &Path) -> Result<Claim> {
    check_default_args(dir, bridge, subnet)?;
    let all = load_all(dir)?;
    let Some(n) = all.iter().find(|n| n.name == DEFAULT_NETWORK) else {
        crate::host::check_clash(bridge, Some(subnet), root, &dir.join(DEFAULT_FILE))?;
        replace_file(
            dir,
            DEFAULT_FILE,
            &default_config(bridge, subnet, None, Some(root)),
        )?;
        return Ok(Claim::Written);
    };
    n.check_owner(root)?;
    let previous = n.owner();
    // A file a user wrote names no store: it stays as written (and any store may use it).
    let Some(prev) = &previous else {
        return Ok(Claim::Kept);
    };
    if same_store(prev, root) && n.list.get(OWNER_KEY).is_some() {
        return Ok(Claim::Kept);
    }
    let previous = prev.clone();
    // Written for a store that is gone, or by an older `init` with its lease directory:
    // this store's from now on, without a lease directory.
    let mut list = n.list.clone();
    list[OWNER_KEY] = json!({"store": root});
    if n.owner_from_leases().is_some()
        && let Some(ps) = list["plugins"].as_array_mut()
    {
        for p in ps {
            if let Some(ipam) = p.get_mut("ipam").and_then(Value::as_object_mut) {
                ipam.remove("dataDir");
            }
        }
    }
    let name = n
        .path
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or(DEFAULT_FILE);
    replace_file(dir, name, &to_text(&list))?;
    Ok(Claim::TakenOver { previous })
}

impl Network {
    /// The root of the store this network belongs to: the one recorded by `init`, or, in a
    /// file written before that was recorded, the store whose `<root>/net/leases` its
    /// `host-local` leases in.
    pub fn owner(&self) -> Option<PathBuf> {
        if let Some(s) = self.list[OWNER_KEY]["store"].as_str() {
            return Some(PathBuf::from(s));
        }
        self.owner_from_leases()
    }

    fn owner_from_leases(&self) -> Option<PathBuf> {
        if self.name != DEFAULT_NETWORK {
            return None;
        }
        let d = self
            .plugins()
            .iter()
            .find_map(|p| p["ipam"]["dataDir"].as_str())?;
        let d = Path::new(d);
        d.ends_with("net/leases")
            .then(|| d.parent()?.parent().map(Path::to_path_buf))
            .flatten()
    }

    /// Refuses a network that belongs to another store that still exists (its root holds
    /// its `store.json`). A store that is gone leaves its network to whichever uses it.
    /// A network of its own whose bridge, or subnet, another store's network uses on this
    /// host (a network directory of each, same bridge or subnet) is refused too.
    pub fn check_owner(&self, root: &Path) -> Result<()> {
        self.check_file_owner(root)?;
        let bridge = self.plugins().iter().find_map(|p| p["bridge"].as_str());
        let subnet = self.subnet().and_then(|s| s.parse().ok());
        match bridge {
            Some(b) => crate::host::check_clash(b, subnet, root, &self.path),
            None => Ok(()),
        }
    }

    /// The first half of [`Network::check_owner`]: only the store the file names, without
    /// looking at the host's bridges and routes (for a pod that joins no bridge).
    pub fn check_file_owner(&self, root: &Path) -> Result<()> {
        match self.owner() {
            Some(o) if !same_store(&o, root) && is_store(&o) => {
                let bridge = self
                    .plugins()
                    .iter()
                    .find_map(|p| p["bridge"].as_str())
                    .unwrap_or("?");
                let subnet = self.subnet().unwrap_or_else(|| "?".into());
                let msg = format!(
                    "network {:?} ({}: bridge {bridge}, subnet {subnet}) belongs to the store at {}: \
                     the store at {} cannot share it (its pods would be leased the same addresses \
                     and its metadata service would want the same address and port). Give this \
                     store a network directory of its own and a bridge, subnet and metadata \
                     service port no other store uses: set net.dir, net.default-bridge, \
                     net.default-subnet and mds.port (in its configuration file or with -o \
                     KEY=VALUE), then run `jetpack init`",
                    self.name,
                    self.path.display(),
                    o.display(),
                    root.display()
                );
                Err(Error::Owned { owner: o, msg })
            }
            _ => Ok(()),
        }
    }

    fn subnet(&self) -> Option<String> {
        let ipam = self.plugins().iter().find_map(|p| p.get("ipam"))?;
        [&ipam["ranges"][0][0]["subnet"], &ipam["subnet"]]
            .iter()
            .find_map(|s| s.as_str().map(str::to_string))
    }

    /// The configuration as the store with leases in `lease_dir` runs it: every `host-local`
    /// IPAM keeps its leases there; always in a file `init` wrote (it names its store, or is
    /// an older version's with that store's lease directory), in a user's file unless it
    /// names a `dataDir`. Recorded with the pod, so that DEL releases the leases where ADD
    /// took them.
    pub fn for_store(&self, lease_dir: &Path) -> Network {
        let mut n = self.clone();
        let ours = n.owner().is_some();
        if let Some(ps) = n.list["plugins"].as_array_mut() {
            for p in ps {
                let Some(ipam) = p.get_mut("ipam").and_then(Value::as_object_mut) else {
                    continue;
                };
                if ipam.get("type").and_then(Value::as_str) != Some("host-local") {
                    continue;
                }
                if ours || !ipam.contains_key("dataDir") {
                    ipam.insert("dataDir".into(), json!(lease_dir));
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_network_round_trip() {
        let d = tempfile::tempdir().unwrap();
        let subnet = "172.23.0.0/16".parse().unwrap();
        assert!(write_default(d.path(), "jetpack0", subnet, Path::new("/l")).unwrap());
        assert!(!write_default(d.path(), "other0", subnet, Path::new("/l")).unwrap());
        let n = load_network(d.path(), "default").unwrap();
        assert_eq!(n.host_address().unwrap().to_string(), "172.23.0.1");
        assert!(n.supports("portMappings") && n.supports("bandwidth"));
        assert_eq!(n.plugins()[0]["bridge"], "jetpack0");
        assert_eq!(n.plugins()[0]["ipam"]["dataDir"], "/l");
    }

    #[test]
    fn default_network_belongs_to_one_store() {
        let d = tempfile::tempdir().unwrap();
        let net = d.path().join("net.d");
        let (a, b) = (d.path().join("a"), d.path().join("b"));
        for r in [&a, &b] {
            std::fs::create_dir_all(r).unwrap();
            std::fs::write(r.join("store.json"), "{}").unwrap();
        }
        let subnet = "10.77.0.0/24".parse().unwrap();
        assert_eq!(
            claim_default(&net, "jpa0", subnet, &a).unwrap(),
            Claim::Written
        );
        assert_eq!(
            claim_default(&net, "jpa0", subnet, &a).unwrap(),
            Claim::Kept
        );
        let n = load_network(&net, DEFAULT_NETWORK).unwrap();
        // No store's lease directory in the shared file.
        assert!(
            n.plugins()[0]["ipam"].get("dataDir").is_none(),
            "{}",
            n.list
        );
        assert_eq!(n.owner().unwrap(), a);
        n.check_owner(&a).unwrap();
        let e = claim_default(&net, "jpb0", subnet, &b)
            .unwrap_err()
            .to_string();
        for want in [
            a.to_str().unwrap(),
            b.to_str().unwrap(),
            "jpa0",
            "10.77.0.0/24",
            "net.dir",
            "net.default-bridge",
            "net.default-subnet",
            "mds.port",
        ] {
            assert!(e.contains(want), "{want}: {e}");
        }
        assert_eq!(n.check_owner(&b).unwrap_err().to_string(), e);
        assert_eq!(n.check_file_owner(&b).unwrap_err().to_string(), e);
        // Leases go where the running store keeps them.
        let run = n.for_store(&b.join("net/leases"));
        assert_eq!(
            run.plugins()[0]["ipam"]["dataDir"],
            json!(b.join("net/leases"))
        );
        // A store that is gone leaves its network to the next, even if its root is left.
        std::fs::remove_file(a.join("store.json")).unwrap();
        n.check_owner(&b).unwrap();
        assert_eq!(
            claim_default(&net, "jpb0", subnet, &b).unwrap(),
            Claim::TakenOver {
                previous: a.clone()
            }
        );
        assert_eq!(
            load_network(&net, DEFAULT_NETWORK)
                .unwrap()
                .owner()
                .unwrap(),
            b
        );
    }

    #[test]
    fn files_of_older_versions_name_their_store_by_its_leases() {
        let d = tempfile::tempdir().unwrap();
        let a = d.path().join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("store.json"), "{}").unwrap();
        let subnet = "10.78.0.0/24".parse().unwrap();
        write_default(d.path(), "jpa0", subnet, &a.join("net/leases")).unwrap();
        let n = load_network(d.path(), DEFAULT_NETWORK).unwrap();
        assert_eq!(n.owner().unwrap(), a);
        let b = d.path().join("b");
        assert!(n.check_owner(&b).is_err());
        // Another store's run leases under its own root, not the first store's.
        let run = n.for_store(&b.join("net/leases"));
        assert_eq!(
            run.plugins()[0]["ipam"]["dataDir"],
            json!(b.join("net/leases"))
        );
        // `init` makes it the store's, without the lease directory.
        std::fs::create_dir_all(&b).unwrap();
        assert!(claim_default(d.path(), "jpb0", subnet, &b).is_err());
        std::fs::remove_file(a.join("store.json")).unwrap();
        assert_eq!(
            claim_default(d.path(), "jpb0", subnet, &b).unwrap(),
            Claim::TakenOver { previous: a }
        );
        let n = load_network(d.path(), DEFAULT_NETWORK).unwrap();
        assert_eq!(n.owner().unwrap(), b);
        assert!(
            n.plugins()[0]["ipam"].get("dataDir").is_none(),
            "{}",
            n.list
        );
        // A default network of the user's own names no store and is left as written.
        let text = r#"{"name":"default","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}}"#;
        std::fs::write(d.path().join("10-default.conflist"), text).unwrap();
        assert_eq!(
            claim_default(d.path(), "jpb0", subnet, &b).unwrap(),
            Claim::Kept
        );
        assert_eq!(
            std::fs::read_to_string(d.path().join("10-default.conflist")).unwrap(),
            text
        );
        // A user's network keeps the lease directory its file names, else gets the store's.
        let lan = Network::parse(
            Path::new("/x/lan.conf"),
            r#"{"name":"lan","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24","dataDir":"/mine"}}"#,
        )
        .unwrap();
        assert_eq!(
            lan.for_store(Path::new("/s")).plugins()[0]["ipam"]["dataDir"],
            "/mine"
        );
        assert!(lan.owner().is_none());
        let lan = Network::parse(
            Path::new("/x/lan.conf"),
            r#"{"name":"lan","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}}"#,
        )
        .unwrap();
        assert_eq!(
            lan.for_store(Path::new("/s")).plugins()[0]["ipam"]["dataDir"],
            "/s"
        );
    }

    #[test]
    fn single_plugin_files_and_errors() {
        let d = tempfile::tempdir().unwrap();
        let w = |f: &str, t: &str| std::fs::write(d.path().join(f), t).unwrap();
        w(
            "20-lan.conf",
            r#"{"cniVersion":"0.4.0","name":"lan","type":"bridge","ipam":{"type":"host-local","subnet":"10.9.0.0/24","gateway":"10.9.0.254"}}"#,
        );
        w("README", "not a config");
        let n = load_network(d.path(), "lan").unwrap();
        assert_eq!(n.plugins().len(), 1);
        assert_eq!(n.cni_version(), "0.4.0");
        assert_eq!(n.host_address().unwrap().to_string(), "10.9.0.254");
        let e = load_network(d.path(), "wan").unwrap_err().to_string();
        assert!(
            e.contains("no network named \"wan\"") && e.contains("lan"),
            "{e}"
        );
        w(
            "30-dup.conflist",
            r#"{"name":"lan","plugins":[{"type":"ptp"}]}"#,
        );
        let e = load_all(d.path()).unwrap_err().to_string();
        assert!(e.contains("also defined in"), "{e}");
        std::fs::remove_file(d.path().join("30-dup.conflist")).unwrap();
        for (body, want) in [
            ("{", "not JSON"),
            (r#"{"plugins":[]}"#, "no \"name\""),
            (r#"{"name":"host","type":"x"}"#, "reserved"),
            (r#"{"name":"a,b","type":"x"}"#, "network name"),
            (r#"{"name":"x","plugins":[{}]}"#, "no \"type\""),
        ] {
            w("40-bad.conf", body);
            let e = load_all(d.path()).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("40-bad.conf"), "{body}: {e}");
        }
    }
}
