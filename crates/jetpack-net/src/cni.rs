//! The CNI plugin protocol: a network's plugins run in order for ADD (each gets the previous
//! one's result) and in reverse for DEL and CHECK; the runtime's arguments go in `CNI_*`
//! environment variables, the configuration on stdin, the result or error on stdout.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::conf::Network;
use crate::error::{Error, Result, io};

/// A host port forwarded to a port of the pod (the `portMappings` capability).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    pub host_port: u16,
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
    #[serde(rename = "hostIP", default, skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
}

/// Everything one network of one pod is added with, kept so that DEL and CHECK get exactly
/// the same (the CNI rule), whatever happened to the configuration file since.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Invocation {
    pub network: String,
    pub container_id: String,
    pub netns: PathBuf,
    pub ifname: String,
    pub plugin_path: String,
    pub list: Value,
    /// Capability values (`portMappings`), given to the plugins that declare them.
    #[serde(default)]
    pub runtime_config: Map<String, Value>,
}

/// What ADD gave the pod on one network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// Addresses with their prefix length, `10.1.0.5/24`.
    pub addresses: Vec<String>,
    pub gateway: Option<IpAddr>,
    /// The network's result, as DEL and CHECK need it (`prevResult`).
    pub result: Value,
}

impl Attachment {
    pub fn ips(&self) -> Vec<IpAddr> {
        self.addresses
            .iter()
            .filter_map(|a| a.split('/').next()?.parse().ok())
            .collect()
    }

    fn from_result(result: Value) -> Attachment {
        let mut addresses = Vec::new();
        let mut gateway = None;
        // CNI 0.3.0 and later: "ips"; 0.1/0.2: "ip4"/"ip6".
        let entries = result["ips"].as_array().cloned().unwrap_or_else(|| {
            [&result["ip4"], &result["ip6"]]
                .into_iter()
                .filter(|v| v.is_object())
                .map(|v| json!({"address": v["ip"], "gateway": v["gateway"]}))
                .collect()
        });
        for e in entries {
            if let Some(a) = e["address"].as_str() {
                addresses.push(a.to_string());
            }
            if gateway.is_none() {
                gateway = e["gateway"].as_str().and_then(|g| g.parse().ok());
            }
        }
        Attachment {
            addresses,
            gateway,
            result,
        }
    }
}

impl Invocation {
    /// ADD, CHECK and DEL of `net` for a pod; port mappings and a bandwidth limit (bytes per
    /// second) go to the plugins that take them.
    pub fn new(
        net: &Network,
        container_id: &str,
        netns: &Path,
        ifname: &str,
        plugin_path: &str,
        ports: &[PortMapping],
        bandwidth: Option<u64>,
    ) -> Invocation {
        let mut runtime_config = Map::new();
        if !ports.is_empty() {
            runtime_config.insert("portMappings".into(), json!(ports));
        }
        if let Some(b) = bandwidth {
            runtime_config.insert("bandwidth".into(), bandwidth_config(b));
        }
        Invocation {
            network: net.name.clone(),
            container_id: container_id.into(),
            netns: netns.into(),
            ifname: ifname.into(),
            plugin_path: plugin_path.into(),
            list: net.list.clone(),
            runtime_config,
        }
    }

    fn plugins(&self) -> &[Value] {
        self.list["plugins"].as_array().map_or(&[], Vec::as_slice)
    }

    /// Adds the pod to the network. On failure, what the plugins that ran did is undone (DEL),
    /// so a failed ADD leaves nothing behind.
    pub fn add(&self) -> Result<Attachment> {
        let mut prev: Option<Value> = None;
        for p in self.plugins() {
            match self.exec("ADD", p, prev.as_ref()) {
                Ok(r) => prev = Some(r),
                Err(e) => {
                    if let Err(undo) = del(self, prev.as_ref()) {
                        tracing::warn!("undoing the failed ADD: {undo}");
                    }
                    return Err(e);
                }
            }
        }
        // The bridge of a store's own network is marked as that store's, so that another
        // store is refused it (see `host`).
        if let Some(root) = self.list[crate::conf::OWNER_KEY]["store"].as_str()
            && let Some(bridge) = self.plugins().iter().find_map(|p| p["bridge"].as_str())
        {
            crate::host::mark_bridge(bridge, Path::new(root));
        }
        Ok(Attachment::from_result(prev.unwrap_or(Value::Null)))
    }

    fn find_plugin(&self, kind: &str) -> Result<PathBuf> {
        if !kind.contains('/') {
            for d in self.plugin_path.split(':').filter(|d| !d.is_empty()) {
                let p = Path::new(d).join(kind);
                if p.is_file() {
                    return Ok(p);
                }
            }
        }
        Err(Error::NoPlugin {
            network: self.network.clone(),
            plugin: kind.into(),
            path: self.plugin_path.clone(),
        })
    }

    /// Runs one plugin; its stdout result on success.
    fn exec(&self, command: &'static str, plugin: &Value, prev: Option<&Value>) -> Result<Value> {
        let kind = plugin["type"].as_str().unwrap_or_default();
        let bin = self.find_plugin(kind)?;
        let mut conf = plugin.as_object().cloned().unwrap_or_default();
        conf.insert("name".into(), json!(self.network));
        conf.insert("cniVersion".into(), self.list["cniVersion"].clone());
        if let Some(p) = prev {
            conf.insert("prevResult".into(), p.clone());
        }
        let wanted: Map<String, Value> = self
            .runtime_config
            .iter()
            .filter(|(k, _)| plugin["capabilities"][k.as_str()].as_bool() == Some(true))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !wanted.is_empty() {
            conf.insert("runtimeConfig".into(), Value::Object(wanted));
        }
        // DEL must work after the namespace is gone (the plugins then only release leases
        // and host-side state); an empty CNI_NETNS tells them.
        let netns = if command == "DEL" && !self.netns.exists() {
            String::new()
        } else {
            self.netns.display().to_string()
        };
        let fail = |msg: String| Error::Plugin {
            network: self.network.clone(),
            plugin: kind.into(),
            command,
            msg,
        };
        let started = std::time::Instant::now();
        let mut child = Command::new(&bin)
            .env("CNI_COMMAND", command)
            .env("CNI_CONTAINERID", &self.container_id)
            .env("CNI_NETNS", netns)
            .env("CNI_IFNAME", &self.ifname)
            .env("CNI_PATH", &self.plugin_path)
            .env_remove("CNI_ARGS")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(io(format!("running {}", bin.display())))?;
        let input = serde_json::to_vec(&conf).expect("JSON values serialize");
        let written = child.stdin.take().expect("piped").write_all(&input);
        let out = child
            .wait_with_output()
            .map_err(io(format!("running {}", bin.display())))?;
        tracing::debug!(
            "network {}: {command} {kind}: {:.1} ms",
            self.network,
            started.elapsed().as_secs_f64() * 1000.0
        );
        if !out.status.success() {
            // Errors are JSON on stdout: {"code": N, "msg": "...", "details": "..."}.
            let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
            let mut msg = v["msg"].as_str().unwrap_or_default().to_string();
            if let Some(d) = v["details"].as_str().filter(|d| !d.is_empty()) {
                msg = format!("{msg}: {d}");
            }
            if msg.is_empty() {
                msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
            }
            if msg.is_empty() {
                msg = format!("exited with {}", out.status);
            }
            return Err(fail(msg));
        }
        written.map_err(|e| fail(format!("writing its configuration: {e}")))?;
        if command != "ADD" {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&out.stdout).map_err(|e| fail(format!("unreadable result: {e}")))
    }
}

/// The `bandwidth` capability's value for a limit in bytes per second: rates in bits per
/// second, and a burst of a tenth of a second's worth (at least 64 KiB, so that a full-size
/// frame always fits; at most what the plugin's 32-bit byte counter takes).
pub fn bandwidth_config(bytes_per_sec: u64) -> Value {
    let rate = bytes_per_sec.saturating_mul(8);
    let burst = (rate / 10).clamp(64 * 1024 * 8, (u32::MAX as u64 - 1) * 8);
    json!({"ingressRate": rate, "ingressBurst": burst, "egressRate": rate, "egressBurst": burst})
}

/// Removes the pod from the network: every plugin in reverse order, even after one failed
/// (DEL is idempotent, and stopping half-way would leave the rest behind); the first error is
/// returned.
pub fn del(inv: &Invocation, prev: Option<&Value>) -> Result<()> {
    let mut first = None;
    for p in inv.plugins().iter().rev() {
        match inv.exec("DEL", p, prev) {
            // A plugin that is not there did not run at ADD either, or was removed since:
            // nobody can undo its work, and failing forever would keep the pod forever.
            Err(e @ Error::NoPlugin { .. }) => tracing::warn!("DEL skipped: {e}"),
            Err(e) => {
                first.get_or_insert(e);
            }
            Ok(_) => {}
        }
    }
    first.map_or(Ok(()), Err)
}

/// Asks every plugin whether the pod's network is still as ADD left it (CNI 0.4.0 and later).
pub fn check(inv: &Invocation, prev: &Value) -> Result<()> {
    let version = inv.list["cniVersion"].as_str().unwrap_or("0.4.0");
    if version.starts_with("0.1") || version.starts_with("0.2") || version.starts_with("0.3") {
        return Ok(());
    }
    for p in inv.plugins() {
        inv.exec("CHECK", p, Some(prev))?;
    }
    Ok(())
}
