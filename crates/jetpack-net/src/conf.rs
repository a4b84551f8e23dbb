//! Network configurations: a directory of CNI files, one network each, looked up by name.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cidr::Cidr;
use crate::error::{Error, Result, io};

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
/// `host-local` in `lease_dir`, masquerade to the outside, host port forwarding, and
/// bandwidth limits (`resource/network-bandwidth`).
pub fn default_config(bridge: &str, subnet: Cidr, lease_dir: &Path) -> String {
    let default_route = if subnet.addr.is_ipv4() {
        "0.0.0.0/0"
    } else {
        "::/0"
    };
    let v = json!({
        "cniVersion": "1.0.0",
        "name": DEFAULT_NETWORK,
        "plugins": [
            {
                "type": "bridge",
                "bridge": bridge,
                "isGateway": true,
                "ipMasq": true,
                "hairpinMode": true,
                "ipam": {
                    "type": "host-local",
                    "ranges": [[{"subnet": subnet.to_string()}]],
                    "routes": [{"dst": default_route}],
                    "dataDir": lease_dir,
                }
            },
            {"type": "portmap", "capabilities": {"portMappings": true}, "snat": true},
            {"type": "bandwidth", "capabilities": {"bandwidth": true}}
        ]
    });
    let mut s = serde_json::to_string_pretty(&v).expect("JSON values serialize");
    s.push('\n');
    s
}

/// Writes the default network's file into `dir` unless a network of that name exists there.
/// Returns whether it wrote.
pub fn write_default(dir: &Path, bridge: &str, subnet: Cidr, lease_dir: &Path) -> Result<bool> {
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
    if load_all(dir)?.iter().any(|n| n.name == DEFAULT_NETWORK) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
    let path = dir.join(DEFAULT_FILE);
    let tmp = dir.join(format!(".{DEFAULT_FILE}.tmp"));
    std::fs::write(&tmp, default_config(bridge, subnet, lease_dir))
        .map_err(io(format!("writing {}", tmp.display())))?;
    std::fs::rename(&tmp, &path).map_err(io(format!("writing {}", path.display())))?;
    Ok(true)
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
