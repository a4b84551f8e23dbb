//! The whole plan of a pod's jail, from the pod, the settings and its leased address.

use std::net::Ipv4Addr;

use crate::error::Result;
use crate::isolators::{Capabilities, capabilities, rctl_rules};
use crate::mounts::{Mount, jail_root, mounts};
use crate::net::{NetPlan, alias, pf_anchor, pf_rules, vnet};
use crate::params::{Jailsys, Kind, Params, Value, parse_override, parse_value};
use crate::pod::{NetMode, Pod, Settings};
use crate::stage2::{Step, steps};

/// Jetpack's defaults: devfs ruleset 4 (`devfsrules_jail`), securelevel 2.
pub const DEFAULT_DEVFS_RULESET: i64 = 4;
pub const DEFAULT_SECURELEVEL: i64 = 2;

/// Everything the engine does to run a pod as a jail, as data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JailPlan {
    /// The jail's name: the settings' prefix and the pod UUID.
    pub name: String,
    pub params: Params,
    /// `<pod>/jail.conf`, kept for the operator: `jail -f` of it makes the same jail.
    pub conf: String,
    /// What `jail_set(2)` gets (with `JAIL_CREATE`).
    pub jail_set: Vec<(String, Value)>,
    /// In mount order.
    pub mounts: Vec<Mount>,
    /// `<pod>/fstab`: the same mounts, which `mount.fstab` names.
    pub fstab: String,
    pub address: Option<Ipv4Addr>,
    pub net: NetPlan,
    /// The pf anchor and its rules (empty: nothing to load).
    pub pf_anchor: String,
    pub pf_rules: String,
    pub rctl: Vec<String>,
    pub capabilities: Capabilities,
    /// Each app's stage 2.
    pub stage2: Vec<(String, Vec<Step>)>,
}

impl JailPlan {
    /// Mount points in the order to unmount them: the reverse of mounting.
    pub fn unmount_order(&self) -> Vec<&std::path::Path> {
        self.mounts
            .iter()
            .rev()
            .map(|m| m.fspath.as_path())
            .collect()
    }

    /// Commands that load the pod's pf rules (`rules` on stdin) and flush them.
    pub fn pf_commands(&self) -> (Vec<String>, Vec<String>) {
        let a = self.pf_anchor.clone();
        let cmd = |rest: &[&str]| {
            ["/sbin/pfctl", "-a", &a]
                .iter()
                .chain(rest)
                .map(|s| s.to_string())
                .collect()
        };
        (cmd(&["-f", "-"]), cmd(&["-F", "all"]))
    }

    /// Commands that add the pod's rctl rules, and the one that removes them.
    pub fn rctl_commands(&self) -> (Vec<Vec<String>>, Vec<String>) {
        let add = self
            .rctl
            .iter()
            .map(|r| vec!["/usr/bin/rctl".to_string(), "-a".into(), r.clone()])
            .collect();
        let subject = format!("jail:{}", self.name);
        (add, vec!["/usr/bin/rctl".into(), "-r".into(), subject])
    }
}

/// The plan of `pod`. `address` is the pod's leased address: required for
/// [`NetMode::Alias`] and [`NetMode::Vnet`], ignored otherwise.
pub fn plan(pod: &Pod, settings: &Settings, address: Option<Ipv4Addr>) -> Result<JailPlan> {
    let name = format!("{}{}", settings.name_prefix, pod.uuid);
    if name.contains(['.', ' ']) || name.is_empty() {
        return Err(crate::error::invalid(
            "jail name",
            &name,
            "no dots or spaces (a dot names a child jail)",
        ));
    }
    let root = jail_root(pod);
    let text = |p: &std::path::Path| Value::Str(p.to_string_lossy().into_owned());
    let mut params = Params::default();
    params.set("exec.clean", Value::Bool(true));
    params.set("host.hostuuid", Value::Str(pod.uuid.clone()));
    let needs_addr = matches!(pod.net, NetMode::Alias | NetMode::Vnet);
    let address = if needs_addr {
        Some(address.ok_or_else(|| {
            crate::error::invalid("pod", &pod.uuid, "its network needs a leased address")
        })?)
    } else {
        None
    };
    if pod.net == NetMode::Alias {
        params.set("interface", Value::Str(settings.interface.clone()));
    }
    params.set("path", text(&root));
    params.set("persist", Value::Bool(true));
    params.set("mount.fstab", text(&pod.dir.join("fstab")));
    let hostname = parse_value("host.hostname", Kind::Str, &pod.hostname, "the pod")?;
    params.set("host.hostname", hostname);
    match pod.net {
        NetMode::Alias => params.set("ip4.addr", Value::Ip4(vec![address.expect("checked")])),
        NetMode::Host => {
            params.set("ip4", Value::Jailsys(Jailsys::Inherit));
            params.set("ip6", Value::Jailsys(Jailsys::Inherit));
        }
        NetMode::None => {
            params.set("ip4", Value::Jailsys(Jailsys::Disable));
            params.set("ip6", Value::Jailsys(Jailsys::Disable));
        }
        NetMode::Vnet => params.set("vnet", Value::Jailsys(Jailsys::New)),
    }
    params.set("devfs_ruleset", Value::Int(settings.devfs_ruleset));
    params.set("securelevel", Value::Int(settings.securelevel));
    // System V IPC of the pod's own, as a Linux pod's IPC namespace (allow.sysvipc would
    // share the host's).
    for p in ["sysvmsg", "sysvsem", "sysvshm"] {
        params.set(p, Value::Jailsys(Jailsys::New));
    }
    let caps_in: Vec<Vec<String>> = pod.apps.iter().map(|a| a.capabilities.clone()).collect();
    let caps = capabilities(&caps_in, &pod.default_capabilities);
    for p in &caps.allow {
        params.set(p, Value::Bool(true));
    }
    if caps.allow.contains(&"allow.mount") {
        // jail(8): mounting inside a jail needs enforce_statfs below 2.
        params.set("enforce_statfs", Value::Int(1));
    }
    for (n, v) in &settings.params {
        apply(&mut params, n, v, &format!("configuration jail.param.{n}"))?;
    }
    for (key, value) in &pod.annotations {
        if let Some(n) = key.strip_prefix("jetpack/jail.conf/") {
            // Jetpack's annotation names spell `_` as `-` (annotation names are AC names).
            apply(
                &mut params,
                &n.replace('-', "_"),
                value,
                &format!("annotation {key}"),
            )?;
        } else if let Some(n) = key.strip_prefix("org.freebsd.jail.allow.") {
            apply(
                &mut params,
                &format!("allow.{n}"),
                value,
                &format!("annotation {key}"),
            )?;
        } else if key == "jetpack/devfs-ruleset" {
            apply(
                &mut params,
                "devfs_ruleset",
                value,
                &format!("annotation {key}"),
            )?;
        }
    }
    let ruleset = match params.get("devfs_ruleset") {
        Some(Value::Int(r)) => *r,
        _ => settings.devfs_ruleset,
    };
    let mounts = mounts(pod, ruleset)?;
    let fstab: String = mounts.iter().map(|m| m.fstab_line() + "\n").collect();
    let net = match pod.net {
        NetMode::Alias => alias(settings, address.expect("checked")),
        NetMode::Vnet => vnet(settings, pod, &name, address.expect("checked")),
        NetMode::Host | NetMode::None => NetPlan::default(),
    };
    let pf = match address {
        Some(a) => pf_rules(settings, a, &pod.ports),
        None => String::new(),
    };
    Ok(JailPlan {
        conf: format!("# jetpack pod {}\n{}", pod.uuid, params.conf(&name)?),
        jail_set: params.jail_set(&name),
        stage2: pod
            .apps
            .iter()
            .map(|a| (a.name.clone(), steps(&name, a)))
            .collect(),
        rctl: rctl_rules(&name, pod.memory_limit, pod.cpu_limit_milli),
        pf_anchor: pf_anchor(pod),
        pf_rules: pf,
        name,
        params,
        mounts,
        fstab,
        address,
        net,
        capabilities: caps,
    })
}

fn apply(params: &mut Params, name: &str, value: &str, origin: &str) -> Result<()> {
    match parse_override(name, value, origin)? {
        Some(v) => params.set(name, v),
        None => params.unset(name),
    }
    Ok(())
}
