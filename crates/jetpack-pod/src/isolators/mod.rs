//! appc isolators in stage0 (spec §9.16): each pod and app isolator is turned into what the
//! engine enforces (cgroup limits, capabilities, no_new_privs, seccomp, oom_score_adj) or
//! judged unenforceable here, and every decision is reported. The spec lets an executor
//! ignore what it cannot enforce but requires it to say which isolators were enforced,
//! modified or ignored: `run` logs every one that was not simply enforced and writes the whole
//! list to `<pod dir>/isolators.json`.
//!
//! Rules:
//! - pod `resource/memory`, `resource/cpu` (and `os/linux/cpu-shares`) limit the pod's cgroup,
//!   which contains the apps' cgroups: an app's limit above the pod's is lowered to it
//!   (`modified`);
//! - a missing `request` is the limit, as the spec says; a CPU limit is at least 10m (the
//!   kernel's smallest quota), a CPU request becomes `cpu.shares = request_milli * 1024 /
//!   1000`; `os/linux/cpu-shares` wins over a request;
//! - when several isolators of one name are given, the last one applies (as the reference's
//!   `GetByName`), the earlier ones are `ignored`;
//! - an app without a capability isolator gets the default set of 14, reported as an enforced
//!   `os/linux/capabilities-retain-set`; unknown capability names are left out (`modified`);
//! - unknown system call or errno names are errors (before anything runs);
//! - an app without a seccomp isolator gets `@docker/default` (Docker's default profile as a
//!   deny list returning EPERM, relaxed for the app's capabilities), reported as an enforced
//!   `os/linux/seccomp-remove-set`; `@appc.io/all` (retain) or `@appc.io/empty` (remove) turn
//!   filtering off;
//! - [`image_privileges`]: capabilities beyond appc's default set, or a seccomp set weaker than
//!   the default, asked by an image (not by the operator) are refused at prepare unless the
//!   operator accepts them;
//! - `resource/network-bandwidth` of the pod and its apps becomes one limit, the lowest, on the
//!   pod's network interfaces (its apps share them), when each of the pod's networks has a
//!   plugin with the `bandwidth` capability;
//! - the app-only isolators (capabilities, no-new-privileges, seccomp, oom-score-adj) given for
//!   the pod, block I/O, sysctl, SELinux and unknown names are ignored,
//!   with the reason; an AppArmor profile is ignored on a host without AppArmor and refused on
//!   one with it (the spec forbids running without an available profile there).

mod bandwidth;
mod capabilities;
mod cpu;
mod ignored;
mod mac;
mod memory;
mod privileges;
mod process;
mod report;
mod scope;
mod seccomp;
#[cfg(test)]
mod testing;

use appc::{Isolator, PodManifest};
use jetpack_runtime::{Resources, Security};

use crate::engine::Engine;
use crate::error::Result;
pub use crate::host::Host;
pub use privileges::image_privileges;
pub use report::{Entry, Report, Status};
use scope::{Scope, Verdict};
pub use seccomp::DEFAULT_SECCOMP;

/// The pod's isolators resolved: its limits, each app's (in manifest order), and the report.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub pod: Resources,
    /// Bytes per second in and out of each of the pod's network interfaces (loopback, where
    /// its apps talk to each other, is never limited): the lowest `resource/network-bandwidth`
    /// limit of the pod and its apps, when the pod's networks can enforce it.
    pub network_bandwidth: Option<u64>,
    pub apps: Vec<(Resources, Security)>,
    pub report: Report,
}

/// How an isolator kind is handled.
enum Handler {
    /// A limit of the pod's or an app's cgroups or network interfaces.
    Limit(fn(&Scope, &Isolator, &mut Resources) -> Verdict),
    /// An attribute of an app's process; ignored when given for the pod.
    App(fn(&Scope, &Isolator, &mut Security) -> Result<Verdict>),
    /// A pod isolator; ignored when given for an app.
    Pod(fn(&Scope, &Isolator) -> Verdict),
    /// Judged at either level without changing anything (MAC systems, unknown names).
    Check(fn(&Scope, &Isolator) -> Result<Verdict>),
}

/// The table: one handler per isolator kind.
fn handler(iso: &Isolator) -> Handler {
    match iso {
        Isolator::ResourceMemory(_) => Handler::Limit(memory::apply),
        Isolator::ResourceCpu(_) => Handler::Limit(cpu::apply),
        Isolator::CpuShares(_) => Handler::Limit(cpu::shares),
        Isolator::ResourceBlockBandwidth(_) | Isolator::ResourceBlockIops(_) => {
            Handler::Limit(ignored::block_io)
        }
        Isolator::ResourceNetworkBandwidth(_) => Handler::Limit(bandwidth::apply),
        Isolator::CapabilitiesRetainSet(_) | Isolator::CapabilitiesRemoveSet(_) => {
            Handler::App(capabilities::apply)
        }
        Isolator::NoNewPrivileges(_) => Handler::App(process::no_new_privileges),
        Isolator::OomScoreAdj(_) => Handler::App(process::oom_score_adj),
        Isolator::SeccompRemoveSet(_) | Isolator::SeccompRetainSet(_) => {
            Handler::App(seccomp::apply)
        }
        Isolator::SelinuxContext(_) | Isolator::ApparmorProfile(_) => Handler::Check(mac::check),
        Isolator::Sysctl(_) => Handler::Pod(ignored::sysctl),
        Isolator::Unknown { .. } => Handler::Check(ignored::unknown),
    }
}

/// Whether resolving the pod's isolators needs to know the host (cgroup controllers, MAC
/// systems, capabilities): a pod without such isolators skips looking.
pub fn needs_host(manifest: &PodManifest) -> bool {
    let apps = manifest
        .apps
        .iter()
        .flat_map(|a| a.app.iter().flat_map(|a| a.isolators.iter()));
    manifest.isolators.iter().chain(apps).any(|i| {
        matches!(
            i,
            Isolator::ResourceMemory(_)
                | Isolator::ResourceCpu(_)
                | Isolator::CpuShares(_)
                | Isolator::OomScoreAdj(_)
                | Isolator::SelinuxContext(_)
                | Isolator::ApparmorProfile(_)
        )
    })
}

/// Resolves every isolator of the pod against `host`. Errors are inputs that must not run:
/// unknown system calls or errno names, an AppArmor profile on an AppArmor host.
pub fn resolve(manifest: &PodManifest, host: &Host) -> Result<Resolved> {
    let limits = std::iter::once(manifest.isolators.as_slice())
        .chain(
            manifest
                .apps
                .iter()
                .map(|a| a.app.as_ref().map_or(&[][..], |a| a.isolators.as_slice())),
        )
        .filter_map(|list| {
            list.iter().rev().find_map(|i| match i {
                Isolator::ResourceNetworkBandwidth(r) => bandwidth::limit(r),
                _ => None,
            })
        });
    let network_bandwidth = limits.min().filter(|_| host.net_bandwidth == Some(true));
    let mut report = Vec::new();
    let scope = Scope {
        app: None,
        host,
        pod: None,
        network_bandwidth,
    };
    let pod = resources(&scope, &manifest.isolators, &mut report)?;
    let mut apps = Vec::new();
    for ra in &manifest.apps {
        let name = ra.name.to_string();
        let list = ra
            .app
            .as_ref()
            .map(|a| a.isolators.as_slice())
            .unwrap_or(&[]);
        let scope = Scope {
            app: Some(&name),
            pod: Some(&pod),
            ..scope
        };
        let res = resources(&scope, list, &mut report)?;
        let sec = security(&scope, &name, list, &mut report)?;
        apps.push((res, sec));
    }
    Ok(Resolved {
        pod,
        network_bandwidth,
        apps,
        report: Report { isolators: report },
    })
}

fn entry(app: Option<&str>, iso: &Isolator, (status, detail): Verdict) -> Entry {
    Entry {
        app: app.map(String::from),
        name: iso.name().to_string(),
        value: serde_json::to_value(iso)
            .ok()
            .and_then(|v| v.get("value").cloned())
            .unwrap_or_default(),
        status,
        detail,
    }
}

/// True when a later isolator of the same name replaces `list[i]`.
fn superseded(list: &[Isolator], i: usize) -> bool {
    list[i + 1..].iter().any(|o| o.name() == list[i].name())
}

fn replaced(iso: &Isolator) -> Verdict {
    (
        Status::Ignored,
        format!("a later {} replaces it", iso.name()),
    )
}

/// The limits of the pod (every isolator of its list is reported here) or of one app (only
/// its limits; [`security`] takes the rest).
fn resources(scope: &Scope, list: &[Isolator], report: &mut Vec<Entry>) -> Result<Resources> {
    let mut r = Resources::default();
    let mut cpu_request = None;
    for (i, iso) in list.iter().enumerate() {
        let h = handler(iso);
        if scope.app.is_some() && !matches!(h, Handler::Limit(_)) {
            continue;
        }
        if superseded(list, i) {
            report.push(entry(scope.app, iso, replaced(iso)));
            continue;
        }
        let verdict = match h {
            Handler::Limit(f) => f(scope, iso, &mut r),
            Handler::Pod(f) => f(scope, iso),
            Handler::Check(f) => f(scope, iso)?,
            Handler::App(_) => (
                Status::Ignored,
                "an app isolator: give it in each app".into(),
            ),
        };
        if cpu::has_request(iso, verdict.0) {
            cpu_request = Some(report.len());
        }
        report.push(entry(scope.app, iso, verdict));
    }
    cpu::shares_over_request(
        list,
        scope.host,
        &mut r,
        cpu_request.map(|i| &mut report[i]),
    );
    Ok(r)
}

/// An app's process: capabilities (the default set without an isolator), no_new_privs,
/// seccomp (the default filter without an isolator), oom_score_adj.
fn security(
    scope: &Scope,
    app: &str,
    list: &[Isolator],
    report: &mut Vec<Entry>,
) -> Result<Security> {
    let mut sec = Security::default();
    let mut seccomp: Option<(usize, &Isolator)> = None;
    for (i, iso) in list.iter().enumerate() {
        let h = handler(iso);
        if matches!(h, Handler::Limit(_)) {
            continue;
        }
        if superseded(list, i) {
            report.push(entry(scope.app, iso, replaced(iso)));
            continue;
        }
        let verdict = match h {
            Handler::App(f) => f(scope, iso, &mut sec)?,
            Handler::Check(f) => f(scope, iso)?,
            Handler::Pod(_) => (
                Status::Ignored,
                "a pod isolator: give it in the pod manifest's isolators".into(),
            ),
            Handler::Limit(_) => unreachable!("skipped above"),
        };
        if seccomp::is_seccomp(iso) {
            seccomp = Some((report.len(), iso));
        }
        report.push(entry(scope.app, iso, verdict));
    }
    let given = seccomp.map(|(at, iso)| (&mut report[at], iso));
    if let Some(e) = seccomp::finish(app, given, &mut sec)? {
        report.push(e);
    }
    report.extend(capabilities::default_entry(app, list));
    Ok(sec)
}

/// What this host offers, from the engine; nothing is looked at when `manifest` has no
/// isolator that depends on it.
pub fn host(manifest: &PodManifest, engine: &dyn Engine) -> Host {
    if needs_host(manifest) {
        engine.host()
    } else {
        Host::default()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::testing::{host, manifest};
    use super::*;

    #[test]
    fn the_last_of_a_name_wins() {
        let r = resolve(
            &manifest(
                json!([]),
                json!([{"name": "resource/memory", "value": {"limit": "1G"}},
                       {"name": "resource/memory", "value": {"limit": "2G"}}]),
            ),
            &host(),
        )
        .unwrap();
        assert_eq!(r.apps[0].0.memory_limit, Some(2_000_000_000));
        let statuses: Vec<Status> = r
            .report
            .isolators
            .iter()
            .filter(|e| e.name == "resource/memory")
            .map(|e| e.status)
            .collect();
        assert_eq!(statuses, vec![Status::Ignored, Status::Enforced]);
    }
}
