//! What the jail engine plans from: a [`PodSpec`] as `jetpack-jail` takes it. Plain data on
//! every OS (the engine itself is FreeBSD's), so that it is tested where the tests run.

use jetpack_jail::{App, AppMount, NetMode, Os, Pod, Port, Protocol, Volume, VolumeKind};
use jetpack_runtime::{DEFAULT_CAPABILITIES, PodSpec};

/// An app's capability set as a jail honours it, for the isolator report (FreeBSD's): the
/// `allow.*` parameters it grants the pod's jail, and what is not enforced (a capability
/// without a jail analogue is refused to the jail; one of the default set the app drops stays
/// root's in it). True when everything is as asked.
pub fn capabilities_in_jail(kept: u64) -> (bool, String) {
    let names = cap_names(kept);
    let c = jetpack_jail::isolators::capabilities(
        std::slice::from_ref(&names),
        &cap_names(DEFAULT_CAPABILITIES),
    );
    let granted: Vec<String> = jetpack_jail::isolators::GRANTS
        .iter()
        .filter(|(cap, _)| names.iter().any(|n| n == cap))
        .map(|(cap, params)| format!("{} ({cap})", params.join(", ")))
        .collect();
    let mut detail = format!(
        "the jail's allow.* parameters: {}; the rest of the default set is root's in any jail",
        if granted.is_empty() {
            "none".to_string()
        } else {
            granted.join(", ")
        }
    );
    for (cap, why) in &c.not_enforced {
        detail.push_str(&format!("; {cap} not enforced: {why}"));
    }
    (c.not_enforced.is_empty(), detail)
}

/// The pod's empty volumes as datasets of the store's dataset `store` (the jail engine's, where
/// the store is on ZFS; Jetpack's design): made on the pod's first run, each root given the
/// volume's mode and owner, and mounted again on a later run if a reboot unmounted them. What
/// the apps wrote stays until `destroy` or `gc` destroys the pod's dataset with the rest of the
/// pod's trees. `zfs` runs `zfs ARGS` and returns its output or the reason it failed.
pub fn volume_datasets(
    store: &str,
    pod: &Pod,
    zfs: &dyn Fn(&[&str]) -> Result<String, String>,
) -> Result<(), String> {
    use jetpack_jail::zfs as plan;
    let vols = plan::volume_datasets(store, pod);
    if vols.is_empty() {
        return Ok(());
    }
    if zfs(&["list", "-H", "-o", "name", &plan::pod_dataset(store, pod)]).is_ok() {
        for v in &vols {
            if zfs(&["get", "-H", "-o", "value", "mounted", &v.dataset])?.trim() != "yes" {
                zfs(&["mount", &v.dataset])?;
            }
        }
        return Ok(());
    }
    for argv in plan::create_volumes(store, pod) {
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        zfs(&args)?;
    }
    for v in &vols {
        use std::os::unix::fs::PermissionsExt;
        let at = &v.mountpoint;
        std::os::unix::fs::chown(at, Some(v.uid), Some(v.gid))
            .and_then(|()| std::fs::set_permissions(at, PermissionsExt::from_mode(v.mode)))
            .map_err(|e| format!("{}: {e}", at.display()))?;
    }
    Ok(())
}

fn cap_names(mask: u64) -> Vec<String> {
    jetpack_runtime::caps::names(mask)
        .into_iter()
        .map(String::from)
        .collect()
}

/// The pod as the jail plan takes it. The pod's volumes keep their names and order (the
/// `n` of an empty volume's dataset `volume.<n>`); an app's own inline volume becomes a
/// host volume of its source, named after the app and its place among the app's mounts.
pub fn jail_pod(spec: &PodSpec) -> jetpack_jail::Result<Pod> {
    let mut volumes: Vec<Volume> = spec
        .volumes
        .iter()
        .map(|v| Volume {
            name: v.name.clone(),
            kind: match v.empty {
                Some(e) => VolumeKind::Empty {
                    mode: e.mode,
                    uid: e.uid,
                    gid: e.gid,
                },
                None => VolumeKind::Host {
                    source: v.source.clone(),
                },
            },
            read_only: v.read_only,
        })
        .collect();
    let mut apps = Vec::new();
    for a in &spec.apps {
        let mut mounts = Vec::new();
        for (i, m) in a.mounts.iter().enumerate() {
            let volume = match &m.volume {
                Some(name) if volumes.iter().any(|v| &v.name == name) => name.clone(),
                _ => {
                    // AC names have no dots: this one is no pod volume's.
                    let name = format!("{}.{i}", a.name);
                    volumes.push(Volume {
                        name: name.clone(),
                        kind: VolumeKind::Host {
                            source: m.source.clone(),
                        },
                        read_only: m.read_only,
                    });
                    name
                }
            };
            mounts.push(AppMount {
                volume,
                target: m.target.clone(),
                read_only: m.read_only,
            });
        }
        apps.push(App {
            name: a.name.clone(),
            rootfs: a.rootfs.clone(),
            os: match a.os.as_deref() {
                Some("linux") => Os::Linux,
                _ => Os::FreeBsd,
            },
            exec: a.exec.clone(),
            env: a.env.clone(),
            uid: a.uid,
            gid: a.gid,
            supplementary_gids: a.supplementary_gids.clone(),
            working_dir: a.working_dir.clone(),
            mounts,
            capabilities: cap_names(a.security.capabilities),
        });
    }
    let ports = spec
        .ports
        .iter()
        .map(|p| {
            let protocol = match p.protocol.as_str() {
                "tcp" => Protocol::Tcp,
                "udp" => Protocol::Udp,
                other => {
                    return Err(jetpack_jail::Error::Invalid {
                        what: "port protocol",
                        value: other.to_string(),
                        reason: "pf forwards tcp or udp".into(),
                    });
                }
            };
            Ok(Port {
                protocol,
                host_port: p.host_port,
                pod_port: p.pod_port,
            })
        })
        .collect::<jetpack_jail::Result<_>>()?;
    Ok(Pod {
        uuid: spec.uuid.clone(),
        hostname: spec.hostname.clone(),
        dir: spec.dir.clone(),
        apps,
        volumes,
        net: match (&spec.net, spec.networks.as_slice()) {
            (jetpack_runtime::NetMode::Host, _) => NetMode::Host,
            (_, []) => NetMode::None,
            (_, [n]) if n == "vnet" => NetMode::Vnet,
            _ => NetMode::Alias,
        },
        ports,
        memory_limit: spec.resources.memory_limit,
        cpu_limit_milli: spec.resources.cpu_limit_milli,
        annotations: spec.annotations.clone(),
        default_capabilities: cap_names(DEFAULT_CAPABILITIES),
    })
}

#[cfg(test)]
mod tests {
    use jetpack_runtime::{DEFAULT_CAPABILITIES, caps};

    use super::capabilities_in_jail;

    fn bit(name: &str) -> u64 {
        1 << caps::number(name).unwrap()
    }

    #[test]
    fn the_report_says_which_capabilities_become_allow_parameters() {
        let (whole, detail) = capabilities_in_jail(DEFAULT_CAPABILITIES);
        assert!(whole, "{detail}");
        assert!(
            detail.starts_with("the jail's allow.* parameters: allow.raw_sockets (CAP_NET_RAW);"),
            "{detail}"
        );
        // More than the default set: an analogue where a jail has one, the rest refused.
        let more = DEFAULT_CAPABILITIES | bit("CAP_SYS_ADMIN") | bit("CAP_SYS_TIME");
        let (whole, detail) = capabilities_in_jail(more);
        assert!(!whole);
        assert!(
            detail.contains(
                "allow.raw_sockets (CAP_NET_RAW), allow.mount, allow.mount.nullfs, \
                 allow.mount.tmpfs (CAP_SYS_ADMIN)"
            ),
            "{detail}"
        );
        assert!(
            detail.contains("CAP_SYS_TIME not enforced: no jail parameter grants it"),
            "{detail}"
        );
        // Less: what root in a jail keeps anyway.
        let less = DEFAULT_CAPABILITIES & !bit("CAP_NET_RAW") & !bit("CAP_KILL");
        let (whole, detail) = capabilities_in_jail(less);
        assert!(!whole);
        assert!(detail.contains("parameters: none;"), "{detail}");
        assert!(
            detail
                .contains("CAP_KILL not enforced: dropped by an app, but root in a jail keeps it")
                && detail.contains("CAP_NET_RAW not enforced"),
            "{detail}"
        );
    }
}
