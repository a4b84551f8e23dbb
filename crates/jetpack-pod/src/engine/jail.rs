//! What the jail engine plans from: a [`PodSpec`] as `jetpack-jail` takes it. Plain data on
//! every OS (the engine itself is FreeBSD's), so that it is tested where the tests run.

use jetpack_jail::{App, AppMount, NetMode, Os, Pod, Port, Protocol, Volume, VolumeKind};
use jetpack_runtime::{DEFAULT_CAPABILITIES, PodSpec};

/// The pod as the jail plan takes it. The pod's volumes keep their names and order (the
/// `n` of an empty volume's dataset `volume.<n>`); an app's own inline volume becomes a
/// host volume of its source, named after the app and its place among the app's mounts.
pub fn jail_pod(spec: &PodSpec) -> jetpack_jail::Result<Pod> {
    let cap_names = |mask| {
        jetpack_runtime::caps::names(mask)
            .into_iter()
            .map(String::from)
            .collect::<Vec<_>>()
    };
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
        net: match spec.net {
            jetpack_runtime::NetMode::Host => NetMode::Host,
            jetpack_runtime::NetMode::Loopback => NetMode::Alias,
        },
        ports,
        memory_limit: spec.resources.memory_limit,
        cpu_limit_milli: spec.resources.cpu_limit_milli,
        annotations: spec.annotations.clone(),
        default_capabilities: cap_names(DEFAULT_CAPABILITIES),
    })
}
