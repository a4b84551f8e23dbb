//! What the isolators' tests share: a one-app pod with given isolators, a host with every
//! controller, and a report's entry.

use appc::PodManifest;
use serde_json::json;

use super::Resolved;
use super::report::Entry;
use crate::host::Host;

pub(super) fn manifest(pod: serde_json::Value, app: serde_json::Value) -> PodManifest {
    let v = json!({
        "acKind": "PodManifest", "acVersion": "0.8.11",
        "apps": [{"name": "web",
                  "image": {"id": format!("sha512-{}", "a".repeat(128))},
                  "app": {"exec": ["/bin/sh"], "user": "0", "group": "0",
                          "isolators": app}}],
        "isolators": pod,
    });
    PodManifest::from_slice(v.to_string().as_bytes()).unwrap()
}

pub(super) fn host() -> Host {
    Host {
        memory: Some("cgroup v1 /sys/fs/cgroup/memory".into()),
        cpu: Some("cgroup v1 /sys/fs/cgroup/cpu".into()),
        apparmor: false,
        selinux: false,
        sys_resource: true,
        net_bandwidth: Some(true),
    }
}

pub(super) fn find<'a>(r: &'a Resolved, app: Option<&str>, name: &str) -> &'a Entry {
    r.report
        .isolators
        .iter()
        .find(|e| e.app.as_deref() == app && e.name == name)
        .unwrap_or_else(|| panic!("no {name} for {app:?} in {:#?}", r.report))
}
