//! What a jail pod's start leaves in the kernel, written in the pod's directory before the
//! first of it is made, so that a `jetpack run` killed with -9 is undone later: by `gc`,
//! `destroy` or the pod's next run (`JailEngine::remove_leftovers`). The Linux engine needs no
//! such file: its pod's init dies with its parent, and the kernel removes its namespaces.
//! Plain data on every OS, so that it is tested where the tests run.

use jetpack_jail::JailPlan;
use serde::{Deserialize, Serialize};

/// The file's name in the pod's directory.
pub const FILE: &str = "jail-teardown.json";

/// How to undo a jail pod's start, in order: remove the jail (which kills its processes),
/// run the commands (pf anchor, rctl rules, then the network's). The mounts are not listed:
/// every mount below the pod's directory goes, as the mount table names it, so that one made
/// after this file was written goes too, and a pod directory `destroy` renamed is followed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Teardown {
    /// The jail's name.
    pub jail: String,
    pub commands: Vec<Vec<String>>,
}

impl Teardown {
    /// The teardown of `plan`.
    pub fn of(plan: &JailPlan) -> Teardown {
        let mut commands = Vec::new();
        if !plan.pf_rules.is_empty() {
            commands.push(plan.pf_commands().1);
        }
        if !plan.rctl.is_empty() {
            commands.push(plan.rctl_commands().1);
        }
        commands.extend(plan.net.down.iter().cloned());
        Teardown {
            jail: plan.name.clone(),
            commands,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use jetpack_jail::{App, AppMount, NetMode, Os, Pod, Settings, Volume, VolumeKind};

    fn pod(dir: &Path) -> Pod {
        Pod {
            uuid: "6a1e7d06-1f43-4c5e-9d73-0c64c7bf0a11".into(),
            hostname: "web".into(),
            dir: dir.to_path_buf(),
            apps: vec![App {
                name: "web".into(),
                rootfs: dir.join("stage1/rootfs/app/web"),
                os: Os::Linux,
                exec: vec!["/bin/httpd".into()],
                env: Vec::new(),
                uid: 0,
                gid: 0,
                supplementary_gids: Vec::new(),
                working_dir: "/".into(),
                mounts: vec![AppMount {
                    volume: "data".into(),
                    target: "/data".into(),
                    read_only: false,
                }],
                capabilities: Vec::new(),
            }],
            volumes: vec![Volume {
                name: "data".into(),
                kind: VolumeKind::Host {
                    source: "/srv/data".into(),
                },
                read_only: false,
            }],
            net: NetMode::Alias,
            ports: vec![jetpack_jail::Port {
                protocol: jetpack_jail::Protocol::Tcp,
                host_port: 8080,
                pod_port: 80,
            }],
            memory_limit: Some(64 << 20),
            cpu_limit_milli: None,
            annotations: Vec::new(),
            default_capabilities: Vec::new(),
        }
    }

    /// Everything the start makes outside the mounts is undone: the jail, the pf anchor, the
    /// rctl rules, the alias.
    #[test]
    fn the_teardown_undoes_the_whole_start() {
        let dir = Path::new("/var/lib/jetpack/pods/6a1e7d06-1f43-4c5e-9d73-0c64c7bf0a11");
        let addr = std::net::Ipv4Addr::new(172, 23, 0, 2);
        let plan = jetpack_jail::plan(&pod(dir), &Settings::default(), Some(addr)).unwrap();
        let t = Teardown::of(&plan);
        let back: Teardown = serde_json::from_str(&serde_json::to_string(&t).unwrap()).unwrap();
        assert_eq!(back, t);
        assert_eq!(t.jail, plan.name);
        let text: Vec<String> = t.commands.iter().map(|c| c.join(" ")).collect();
        assert_eq!(text[0], plan.pf_commands().1.join(" "));
        assert_eq!(text[1], plan.rctl_commands().1.join(" "));
        let down: Vec<String> = plan.net.down.iter().map(|c| c.join(" ")).collect();
        assert_eq!(text[2..], down);
        assert!(text.iter().any(|c| c.contains("-alias")), "{text:?}");
    }
}
