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

use std::path::Path;

use appc::{Isolator, PodManifest, Resource};
use jetpack_runtime::{Resources, Seccomp, SeccompMode, Security, caps};
use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::engine::linux as engine;
use crate::error::{Error, Result};
pub use crate::host::Host;

/// What happened to one isolator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enforced,
    /// Enforced, but not exactly as given (see the detail).
    Modified,
    Ignored,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Enforced => "enforced",
            Status::Modified => "modified",
            Status::Ignored => "ignored",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The app; none for a pod isolator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub name: String,
    pub value: serde_json::Value,
    pub status: Status,
    /// How it is enforced, what was changed, or why it is ignored.
    pub detail: String,
}

/// `<pod dir>/isolators.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub isolators: Vec<Entry>,
}

impl Report {
    /// Logs every isolator that was not simply enforced (warning) and the others (debug).
    pub fn log(&self) {
        for e in &self.isolators {
            let scope = match &e.app {
                Some(a) => format!("app {a}"),
                None => "pod".into(),
            };
            match e.status {
                Status::Enforced => {
                    tracing::debug!("{scope}: isolator {} enforced: {}", e.name, e.detail)
                }
                s => tracing::warn!("{scope}: isolator {} {s}: {}", e.name, e.detail),
            }
        }
    }

    pub fn write(&self, pod_dir: &Path) -> Result<()> {
        crate::state::write_json(&jetpack_store::PodDir::new(pod_dir).isolators(), self)
    }

    pub fn read(pod_dir: &Path) -> Option<Report> {
        let b = std::fs::read(jetpack_store::PodDir::new(pod_dir).isolators()).ok()?;
        serde_json::from_slice(&b).ok()
    }
}

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
                Isolator::ResourceNetworkBandwidth(r) => network_limit(r),
                _ => None,
            })
        });
    let network_bandwidth = limits.min().filter(|_| host.net_bandwidth == Some(true));
    let mut report = Vec::new();
    let pod = resources(
        None,
        &manifest.isolators,
        host,
        None,
        network_bandwidth,
        &mut report,
    )?;
    let mut apps = Vec::new();
    for ra in &manifest.apps {
        let name = ra.name.to_string();
        let list = ra
            .app
            .as_ref()
            .map(|a| a.isolators.as_slice())
            .unwrap_or(&[]);
        let res = resources(
            Some(&name),
            list,
            host,
            Some(&pod),
            network_bandwidth,
            &mut report,
        )?;
        let sec = security(&name, list, host, &mut report)?;
        apps.push((res, sec));
    }
    Ok(Resolved {
        pod,
        network_bandwidth,
        apps,
        report: Report { isolators: report },
    })
}

fn entry(app: Option<&str>, iso: &Isolator, status: Status, detail: impl Into<String>) -> Entry {
    Entry {
        app: app.map(String::from),
        name: iso.name().to_string(),
        value: serde_json::to_value(iso)
            .ok()
            .and_then(|v| v.get("value").cloned())
            .unwrap_or_default(),
        status,
        detail: detail.into(),
    }
}

/// True when a later isolator of the same name replaces `list[i]`.
fn superseded(list: &[Isolator], i: usize) -> bool {
    list[i + 1..].iter().any(|o| o.name() == list[i].name())
}

/// A network bandwidth limit in bytes per second (at least 1).
fn network_limit(r: &Resource) -> Option<u64> {
    r.limit
        .as_ref()
        .and_then(|q| q.value())
        .map(|v| v.max(1) as u64)
}

fn bytes(n: u64) -> String {
    const MI: u64 = 1 << 20;
    if n >= MI && n.is_multiple_of(MI) {
        format!("{n} bytes ({} MiB)", n / MI)
    } else {
        format!("{n} bytes")
    }
}

/// The `resource/*` and `os/linux/cpu-shares` isolators of the pod (`app` none) or one app
/// (bounded by `pod`); everything else in the list is left to [`security`], except at pod
/// level, where it is reported here.
fn resources(
    app: Option<&str>,
    list: &[Isolator],
    host: &Host,
    pod: Option<&Resources>,
    network_bandwidth: Option<u64>,
    report: &mut Vec<Entry>,
) -> Result<Resources> {
    let mut r = Resources::default();
    let mut cpu_request_entry = None;
    for (i, iso) in list.iter().enumerate() {
        let push = |report: &mut Vec<Entry>, status, detail: String| {
            report.push(entry(app, iso, status, detail))
        };
        let is_resource = matches!(
            iso,
            Isolator::ResourceMemory(_)
                | Isolator::ResourceCpu(_)
                | Isolator::CpuShares(_)
                | Isolator::ResourceBlockBandwidth(_)
                | Isolator::ResourceBlockIops(_)
                | Isolator::ResourceNetworkBandwidth(_)
        );
        if app.is_some() && !is_resource {
            // The app's other isolators are for `security`.
            continue;
        }
        if superseded(list, i) {
            push(
                report,
                Status::Ignored,
                format!("a later {} replaces it", iso.name()),
            );
            continue;
        }
        match iso {
            Isolator::ResourceMemory(v) => {
                let Some(ctl) = &host.memory else {
                    push(
                        report,
                        Status::Ignored,
                        "this host has no memory cgroup controller (v1 or v2)".into(),
                    );
                    continue;
                };
                let (limit, request) = quantities(v, |q| q.value());
                if limit.is_none() && request.is_none() {
                    push(
                        report,
                        Status::Ignored,
                        "neither a limit nor a request".into(),
                    );
                    continue;
                }
                let bound = pod.and_then(|p| p.memory_limit);
                let (limit, lowered) = lower(limit, bound);
                let (request, _) = lower(request, bound);
                r.memory_limit = limit;
                r.memory_request = request;
                let mut d = Vec::new();
                if let Some(l) = limit {
                    d.push(format!("limit {} (swap held to it)", bytes(l)));
                }
                if let Some(q) = request {
                    d.push(format!("request {}", bytes(q)));
                }
                let mut detail = format!("{}, {ctl}", d.join(", "));
                if lowered {
                    detail.push_str(", lowered to the pod's limit");
                }
                push(
                    report,
                    if lowered {
                        Status::Modified
                    } else {
                        Status::Enforced
                    },
                    detail,
                );
            }
            Isolator::ResourceCpu(v) => {
                let Some(ctl) = &host.cpu else {
                    push(
                        report,
                        Status::Ignored,
                        "this host has no cpu cgroup controller (v1 or v2)".into(),
                    );
                    continue;
                };
                let (limit, request) = quantities(v, |q| q.milli_value());
                if limit.is_none() && request.is_none() {
                    push(
                        report,
                        Status::Ignored,
                        "neither a limit nor a request".into(),
                    );
                    continue;
                }
                let mut modified = Vec::new();
                let (mut limit, lowered) = lower(limit, pod.and_then(|p| p.cpu_limit_milli));
                if lowered {
                    modified.push("limit lowered to the pod's".to_string());
                }
                if let Some(l) = limit
                    && l < 10
                {
                    limit = Some(10);
                    modified.push(format!("limit {l}m raised to 10m, the smallest CFS quota"));
                }
                r.cpu_limit_milli = limit;
                let mut d = Vec::new();
                if let Some(l) = limit {
                    let (quota, period) = engine::cpu_quota_us(l);
                    d.push(format!("limit {l}m (CFS quota {quota} us per {period} us)"));
                }
                if let Some(q) = request {
                    let shares = (q.saturating_mul(1024) / 1000).clamp(2, 262_144);
                    r.cpu_shares = Some(shares);
                    d.push(format!("request {q}m as cpu.shares {shares}"));
                }
                let detail = if modified.is_empty() {
                    format!("{}, {ctl}", d.join(", "))
                } else {
                    format!("{}, {ctl}; {}", d.join(", "), modified.join("; "))
                };
                let status = if modified.is_empty() {
                    Status::Enforced
                } else {
                    Status::Modified
                };
                cpu_request_entry = request.map(|_| report.len());
                report.push(entry(app, iso, status, detail));
            }
            Isolator::CpuShares(n) => {
                let Some(ctl) = &host.cpu else {
                    push(
                        report,
                        Status::Ignored,
                        "this host has no cpu cgroup controller (v1 or v2)".into(),
                    );
                    continue;
                };
                r.cpu_shares = Some(*n as u64);
                push(report, Status::Enforced, format!("cpu.shares {n}, {ctl}"));
            }
            Isolator::ResourceBlockBandwidth(_) | Isolator::ResourceBlockIops(_) => push(
                report,
                Status::Ignored,
                "not implemented: block I/O throttling needs per-device rules".into(),
            ),
            Isolator::ResourceNetworkBandwidth(v) => {
                let Some(limit) = network_limit(v) else {
                    push(report, Status::Ignored, "no limit given".into());
                    continue;
                };
                let (status, detail) = match host.net_bandwidth {
                    None => (
                        Status::Ignored,
                        "the pod has no network interface of its own (--net=host or none)"
                            .to_string(),
                    ),
                    Some(false) => (
                        Status::Ignored,
                        "not every network of the pod has a plugin with the bandwidth \
                         capability (such as the CNI bandwidth plugin)"
                            .to_string(),
                    ),
                    Some(true) => {
                        let eff = network_bandwidth.unwrap_or(limit);
                        let what = format!(
                            "{}/s in and out of each of the pod's network interfaces (CNI \
                             bandwidth plugin; loopback, between its apps, is not limited)",
                            bytes(eff)
                        );
                        match (app, eff < limit) {
                            (None, false) => (Status::Enforced, what),
                            (None, true) => (
                                Status::Modified,
                                format!("lowered by an app's limit: {what}"),
                            ),
                            // The apps share the pod's interfaces: an app's limit is the pod's.
                            (Some(_), false) => (
                                Status::Modified,
                                format!(
                                    "for the whole pod, whose apps share its interfaces: {what}"
                                ),
                            ),
                            (Some(_), true) => (
                                Status::Modified,
                                format!("a lower limit of the pod or another app applies: {what}"),
                            ),
                        }
                    }
                };
                push(report, status, detail);
            }
            // Pod level: everything else.
            Isolator::Sysctl(_) => push(
                report,
                Status::Ignored,
                "sysctl is not implemented yet".into(),
            ),
            Isolator::SelinuxContext(_) | Isolator::ApparmorProfile(_) => {
                mac(None, iso, host, report)?
            }
            Isolator::Unknown { .. } => push(report, Status::Ignored, "unknown isolator".into()),
            _ => push(
                report,
                Status::Ignored,
                "an app isolator: give it in each app".into(),
            ),
        }
    }
    // os/linux/cpu-shares sets the weight whatever the request says.
    if let Some(i) = cpu_request_entry
        && list.iter().any(|x| matches!(x, Isolator::CpuShares(_)))
        && host.cpu.is_some()
    {
        let e = &mut report[i];
        e.status = Status::Modified;
        e.detail
            .push_str("; request not applied: os/linux/cpu-shares sets the weight");
        if let Some(Isolator::CpuShares(n)) = list
            .iter()
            .rev()
            .find(|x| matches!(x, Isolator::CpuShares(_)))
        {
            r.cpu_shares = Some(*n as u64);
        }
    }
    Ok(r)
}

/// A resource's (limit, request) as non-negative integers; a missing request is the limit.
fn quantities(
    v: &Resource,
    f: impl Fn(&appc::Quantity) -> Option<i64>,
) -> (Option<u64>, Option<u64>) {
    let n = |q: &Option<appc::Quantity>| q.as_ref().and_then(&f).map(|x| x.max(0) as u64);
    let limit = n(&v.limit);
    (limit, n(&v.request).or(limit))
}

fn lower(v: Option<u64>, bound: Option<u64>) -> (Option<u64>, bool) {
    match (v, bound) {
        (Some(v), Some(b)) if v > b => (Some(b), true),
        (v, _) => (v, false),
    }
}

/// SELinux and AppArmor, at pod or app level.
fn mac(app: Option<&str>, iso: &Isolator, host: &Host, report: &mut Vec<Entry>) -> Result<()> {
    match iso {
        Isolator::ApparmorProfile(p) if host.apparmor => Err(Error::Invalid(format!(
            "{}isolator os/linux/apparmor-profile {p:?}: this host has AppArmor, and Jetpack \
             cannot apply profiles yet; the spec forbids running without it",
            app.map(|a| format!("app {a}: ")).unwrap_or_default()
        ))),
        Isolator::ApparmorProfile(_) => {
            report.push(entry(
                app,
                iso,
                Status::Ignored,
                "this host has no AppArmor",
            ));
            Ok(())
        }
        _ => {
            let why = if host.selinux {
                "SELinux labels are not supported yet: the app runs with jetpack's label"
            } else {
                "this host has no SELinux"
            };
            report.push(entry(app, iso, Status::Ignored, why));
            Ok(())
        }
    }
}

/// An app's security isolators; the default capability set when it has no capability one.
fn security(
    app: &str,
    list: &[Isolator],
    host: &Host,
    report: &mut Vec<Entry>,
) -> Result<Security> {
    let mut sec = Security::default();
    let mut caps_given = false;
    let mut seccomp: Option<(usize, &Isolator)> = None;
    for (i, iso) in list.iter().enumerate() {
        let is_security = matches!(
            iso,
            Isolator::CapabilitiesRetainSet(_)
                | Isolator::CapabilitiesRemoveSet(_)
                | Isolator::NoNewPrivileges(_)
                | Isolator::SeccompRemoveSet(_)
                | Isolator::SeccompRetainSet(_)
                | Isolator::OomScoreAdj(_)
                | Isolator::SelinuxContext(_)
                | Isolator::ApparmorProfile(_)
                | Isolator::Sysctl(_)
                | Isolator::Unknown { .. }
        );
        if !is_security {
            continue;
        }
        let a = Some(app);
        if superseded(list, i) {
            report.push(entry(
                a,
                iso,
                Status::Ignored,
                format!("a later {} replaces it", iso.name()),
            ));
            continue;
        }
        let (status, detail) = match iso {
            Isolator::CapabilitiesRetainSet(names) | Isolator::CapabilitiesRemoveSet(names) => {
                caps_given = true;
                let retain = matches!(iso, Isolator::CapabilitiesRetainSet(_));
                let (mask, unknown) = caps::mask(names);
                sec.capabilities = if retain {
                    mask
                } else {
                    caps::DEFAULT_SET & !mask
                };
                let kept = caps::names(sec.capabilities);
                let mut detail = format!(
                    "bounding, permitted, effective and inheritable sets: {}",
                    if kept.is_empty() {
                        "none".into()
                    } else {
                        kept.join(", ")
                    }
                );
                if !unknown.is_empty() {
                    detail.push_str(&format!(
                        "; unknown capabilities left out: {}",
                        unknown.join(", ")
                    ));
                    (Status::Modified, detail)
                } else {
                    (Status::Enforced, detail)
                }
            }
            Isolator::NoNewPrivileges(b) => {
                sec.no_new_privileges = *b;
                (
                    Status::Enforced,
                    if *b {
                        "PR_SET_NO_NEW_PRIVS before exec"
                    } else {
                        "setuid and file capabilities work"
                    }
                    .into(),
                )
            }
            Isolator::SeccompRemoveSet(_) | Isolator::SeccompRetainSet(_) => {
                // Resolved after the loop: `@docker/default` depends on the capabilities.
                seccomp = Some((report.len(), iso));
                (Status::Enforced, String::new())
            }
            Isolator::OomScoreAdj(n) if *n < 0 && !host.sys_resource => (
                Status::Ignored,
                "lowering oom_score_adj needs CAP_SYS_RESOURCE, which jetpack does not have".into(),
            ),
            Isolator::OomScoreAdj(n) => {
                sec.oom_score_adj = Some(*n);
                (Status::Enforced, format!("/proc/<pid>/oom_score_adj = {n}"))
            }
            Isolator::SelinuxContext(_) | Isolator::ApparmorProfile(_) => {
                mac(a, iso, host, report)?;
                continue;
            }
            Isolator::Sysctl(_) => (
                Status::Ignored,
                "a pod isolator: give it in the pod manifest's isolators".into(),
            ),
            _ => (Status::Ignored, "unknown isolator".into()),
        };
        report.push(entry(a, iso, status, detail));
    }
    match seccomp {
        Some((at, iso)) => {
            let (detail, filter) = seccomp_isolator(app, iso, sec.capabilities)?;
            report[at].detail = detail;
            sec.seccomp = filter;
        }
        None => {
            let (filter, relaxed) = engine::default_seccomp(sec.capabilities);
            report.push(Entry {
                app: Some(app.into()),
                name: appc::isolator_names::SECCOMP_REMOVE_SET.into(),
                value: serde_json::json!({ "set": [DEFAULT_SECCOMP], "errno": "EPERM" }),
                status: Status::Enforced,
                detail: format!(
                    "the default filter (the app has no seccomp isolator): {}",
                    describe_docker_default(&filter, &relaxed, "EPERM")
                ),
            });
            sec.seccomp = Some(filter);
        }
    }
    if !caps_given {
        report.push(Entry {
            app: Some(app.into()),
            name: appc::isolator_names::CAPABILITIES_RETAIN_SET.into(),
            value: serde_json::json!({ "set": caps::names(caps::DEFAULT_SET) }),
            status: Status::Enforced,
            detail: "the default set (the app has no capability isolator)".into(),
        });
    }
    Ok(sec)
}

/// The name of Docker's default profile as a seccomp group: the filter of an app without a
/// seccomp isolator.
pub const DEFAULT_SECCOMP: &str = "@docker/default";

/// `N system calls return EPERM, clone with a namespace flag ...; let through for the app's
/// capabilities: ...`.
fn describe_docker_default(filter: &Seccomp, relaxed: &[&str], action: &str) -> String {
    let mut d = format!(
        "Docker's default profile: {} system calls {action}",
        filter.syscalls.len()
    );
    for c in &filter.conditions {
        d.push_str(&format!(", {} {action}", engine::describe_condition(c)));
    }
    for (nr, e) in &filter.errnos {
        d.push_str(&format!(
            ", {} returns {} (libc falls back to clone)",
            engine::syscall_name(*nr),
            if *e == libc::ENOSYS {
                "ENOSYS".to_string()
            } else {
                e.to_string()
            }
        ));
    }
    if !relaxed.is_empty() {
        d.push_str(&format!(
            "; let through for the app's capabilities: {}",
            relaxed.join(", ")
        ));
    }
    d
}

/// An app's own seccomp isolator: the report's detail and the filter (`None`: no filtering).
fn seccomp_isolator(
    app: &str,
    iso: &Isolator,
    capabilities: u64,
) -> Result<(String, Option<Seccomp>)> {
    let (mode, s) = match iso {
        Isolator::SeccompRetainSet(s) => (SeccompMode::Retain, s),
        Isolator::SeccompRemoveSet(s) => (SeccompMode::Remove, s),
        _ => unreachable!("a seccomp isolator"),
    };
    let resolved = engine::resolve_seccomp(mode, &s.set, s.errno.as_deref(), capabilities)
        .map_err(|e| Error::Invalid(format!("app {app}: {}: {e}", iso.name())))?;
    let action = match &s.errno {
        Some(e) => format!("return {e}"),
        None => "kill the app (SIGSYS)".into(),
    };
    let detail = match (&resolved, mode) {
        (None, SeccompMode::Retain) => "@appc.io/all: no filtering".to_string(),
        (None, SeccompMode::Remove) => "@appc.io/empty: no filtering".into(),
        (Some(f), SeccompMode::Retain) => format!(
            "{} system calls allowed (execve, exit and exit_group always); others {action}",
            f.syscalls.len()
        ),
        (Some(f), SeccompMode::Remove) if s.set.iter().any(|n| n == DEFAULT_SECCOMP) => {
            let (_, relaxed) = engine::default_seccomp(capabilities);
            describe_docker_default(f, &relaxed, &action)
        }
        (Some(f), SeccompMode::Remove) => format!("{} system calls {action}", f.syscalls.len()),
    };
    Ok((detail, resolved))
}

/// The capability set an app's isolators give it (the last capability isolator, else the
/// default set), as [`security`] computes it.
fn capabilities_of(list: &[Isolator]) -> u64 {
    list.iter()
        .rev()
        .find_map(|i| match i {
            Isolator::CapabilitiesRetainSet(n) => Some(caps::mask(n).0),
            Isolator::CapabilitiesRemoveSet(n) => Some(caps::DEFAULT_SET & !caps::mask(n).0),
            _ => None,
        })
        .unwrap_or(caps::DEFAULT_SET)
}

/// What an app's isolators that came from its image (`from_image[i]` for `list[i]`) ask beyond
/// what an app gets without them: capabilities outside appc's default set, and system calls
/// the default seccomp filter would block. `None` when they ask nothing more; otherwise the
/// sentence that says what, and which options grant it. Unknown names are left to
/// [`resolve`], which reports them.
pub fn image_privileges(list: &[Isolator], from_image: &[bool]) -> Option<String> {
    let capabilities = capabilities_of(list);
    let last = |f: fn(&Isolator) -> bool| {
        list.iter()
            .enumerate()
            .rev()
            .find(|(_, i)| f(i))
            .filter(|(at, _)| from_image.get(*at).copied().unwrap_or(false))
            .map(|(_, i)| i)
    };
    let mut asks = Vec::new();
    if let Some(Isolator::CapabilitiesRetainSet(names)) = last(|i| {
        matches!(
            i,
            Isolator::CapabilitiesRetainSet(_) | Isolator::CapabilitiesRemoveSet(_)
        )
    }) {
        let (mask, _) = caps::mask(names);
        let beyond = caps::names(mask & !caps::DEFAULT_SET);
        if !beyond.is_empty() {
            asks.push(format!(
                "capabilities beyond the default set: {} (grant them with --caps-retain={} \
                 after the image)",
                beyond.join(", "),
                caps::names(mask).join(",")
            ));
        }
    }
    if let Some(iso) = last(|i| {
        matches!(
            i,
            Isolator::SeccompRetainSet(_) | Isolator::SeccompRemoveSet(_)
        )
    }) {
        let (mode, s) = match iso {
            Isolator::SeccompRetainSet(s) => (SeccompMode::Retain, s),
            Isolator::SeccompRemoveSet(s) => (SeccompMode::Remove, s),
            _ => unreachable!("a seccomp isolator"),
        };
        if let Ok(through) = engine::seccomp_let_through(mode, &s.set, capabilities)
            && !through.is_empty()
        {
            asks.push(format!(
                "a {} that lets through system calls the default filter \
                 ({DEFAULT_SECCOMP}) blocks: {} (grant it with --seccomp after the image, \
                 e.g. --seccomp=mode={},{})",
                iso.name(),
                through.join(", "),
                if mode == SeccompMode::Retain {
                    "retain"
                } else {
                    "remove"
                },
                s.set.join(",")
            ));
        }
    }
    if asks.is_empty() {
        None
    } else {
        Some(format!(
            "{}; or accept what the image asks with --insecure-options=image-privileges",
            asks.join("; and ")
        ))
    }
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
    use super::*;
    use serde_json::json;

    fn manifest(pod: serde_json::Value, app: serde_json::Value) -> PodManifest {
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

    fn host() -> Host {
        Host {
            memory: Some("cgroup v1 /sys/fs/cgroup/memory".into()),
            cpu: Some("cgroup v1 /sys/fs/cgroup/cpu".into()),
            apparmor: false,
            selinux: false,
            sys_resource: true,
            net_bandwidth: Some(true),
        }
    }

    fn find<'a>(r: &'a Resolved, app: Option<&str>, name: &str) -> &'a Entry {
        r.report
            .isolators
            .iter()
            .find(|e| e.app.as_deref() == app && e.name == name)
            .unwrap_or_else(|| panic!("no {name} for {app:?} in {:#?}", r.report))
    }

    #[test]
    fn default_capabilities_are_reported() {
        let m = manifest(json!([]), json!([]));
        assert!(!needs_host(&m), "nothing to look up on the host");
        let r = resolve(&m, &host()).unwrap();
        let (res, sec) = &r.apps[0];
        assert!(res.is_empty() && r.pod.is_empty());
        assert_eq!(sec.capabilities, caps::DEFAULT_SET);
        let e = find(&r, Some("web"), "os/linux/capabilities-retain-set");
        assert_eq!(e.status, Status::Enforced);
        assert_eq!(e.value["set"].as_array().unwrap().len(), 14);
        let f = find(&r, Some("web"), "os/linux/seccomp-remove-set");
        assert_eq!(f.status, Status::Enforced);
        assert_eq!(
            f.value,
            json!({"set": ["@docker/default"], "errno": "EPERM"})
        );
        assert!(f.detail.starts_with("the default filter"), "{}", f.detail);
        assert!(f.detail.contains("clone (namespace flags)"), "{}", f.detail);
        let filter = sec.seccomp.as_ref().expect("the default filter");
        assert_eq!(filter.errno, Some(libc::EPERM));
        let mount = engine::syscall_number("mount").unwrap();
        assert!(filter.syscalls.contains(&mount));
        assert_eq!(r.report.isolators.len(), 2);
    }

    #[test]
    fn the_default_filter_follows_the_capabilities() {
        let mount = engine::syscall_number("mount").unwrap();
        let keyctl = engine::syscall_number("keyctl").unwrap();
        // The capability isolator comes after the seccomp one: the order does not matter.
        for seccomp in [
            json!([]),
            json!([{"name": "os/linux/seccomp-remove-set", "value": {"set": ["@docker/default", "mkdir"], "errno": "EACCES"}}]),
        ] {
            let mut list = seccomp.as_array().unwrap().clone();
            list.push(json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_SYS_ADMIN"]}}));
            let r = resolve(&manifest(json!([]), json!(list)), &host()).unwrap();
            let f = r.apps[0].1.seccomp.as_ref().unwrap();
            assert!(
                !f.syscalls.contains(&mount),
                "CAP_SYS_ADMIN lets mount through"
            );
            assert!(f.syscalls.contains(&keyctl));
            let e = find(&r, Some("web"), "os/linux/seccomp-remove-set");
            assert!(
                e.detail
                    .contains("let through for the app's capabilities: mount"),
                "{}",
                e.detail
            );
        }
        // @appc.io/all turns it off.
        let r = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}]),
            ),
            &host(),
        )
        .unwrap();
        assert_eq!(r.apps[0].1.seccomp, None);
    }

    #[test]
    fn privileges_an_image_asks_for() {
        let iso = |v: serde_json::Value| -> Isolator { serde_json::from_value(v).unwrap() };
        let admin = iso(
            json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}}),
        );
        let fewer = iso(
            json!({"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_CHOWN"]}}),
        );
        let remove = iso(
            json!({"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN"]}}),
        );
        let all =
            iso(json!({"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}));
        let strict = iso(
            json!({"name": "os/linux/seccomp-remove-set", "value": {"set": ["@docker/default", "mkdir"]}}),
        );
        let msg = image_privileges(std::slice::from_ref(&admin), &[true]).unwrap();
        assert!(msg.contains("CAP_SYS_ADMIN"), "{msg}");
        assert!(
            !msg.contains("CAP_SYS_ADMIN, CAP_CHOWN"),
            "only what is beyond: {msg}"
        );
        assert!(
            msg.contains("--caps-retain=CAP_CHOWN,CAP_SYS_ADMIN"),
            "{msg}"
        );
        assert!(msg.contains("--insecure-options=image-privileges"), "{msg}");
        // From the operator: granted.
        assert_eq!(
            image_privileges(std::slice::from_ref(&admin), &[false]),
            None
        );
        // Replaced by the operator's set (last wins): nothing asked.
        assert_eq!(
            image_privileges(&[admin.clone(), fewer.clone()], &[true, false]),
            None
        );
        assert_eq!(image_privileges(&[fewer, remove], &[true, true]), None);
        let msg = image_privileges(std::slice::from_ref(&all), &[true]).unwrap();
        assert!(msg.contains("mount") && msg.contains("keyctl"), "{msg}");
        assert!(msg.contains("--seccomp=mode=retain,@appc.io/all"), "{msg}");
        assert_eq!(
            image_privileges(std::slice::from_ref(&strict), &[true]),
            None
        );
        let weak = iso(
            json!({"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": "EPERM"}}),
        );
        let msg = image_privileges(std::slice::from_ref(&weak), &[true]).unwrap();
        assert!(
            msg.contains("os/linux/seccomp-remove-set") && msg.contains("unshare"),
            "{msg}"
        );
        // Both at once, in one message.
        let msg = image_privileges(&[admin, all], &[true, true]).unwrap();
        assert!(
            msg.contains("CAP_SYS_ADMIN") && msg.contains("keyctl"),
            "{msg}"
        );
        assert!(
            !msg.contains(" mount,"),
            "CAP_SYS_ADMIN from the image covers mount: {msg}"
        );
    }

    #[test]
    fn limits_pod_bounds_app_and_units() {
        let r = resolve(
            &manifest(
                json!([{"name": "resource/memory", "value": {"limit": "100Mi"}},
                       {"name": "resource/cpu", "value": {"limit": "1"}}]),
                json!([{"name": "resource/memory", "value": {"limit": "200Mi", "request": "50Mi"}},
                       {"name": "resource/cpu", "value": {"limit": "5m", "request": "250m"}},
                       {"name": "os/linux/cpu-shares", "value": 100}]),
            ),
            &host(),
        )
        .unwrap();
        assert_eq!(r.pod.memory_limit, Some(100 << 20));
        assert_eq!(
            r.pod.memory_request,
            Some(100 << 20),
            "request defaults to limit"
        );
        assert_eq!(r.pod.cpu_limit_milli, Some(1000));
        assert_eq!(r.pod.cpu_shares, Some(1024));
        let (res, _) = &r.apps[0];
        assert_eq!(res.memory_limit, Some(100 << 20));
        assert_eq!(res.memory_request, Some(50 << 20));
        assert_eq!(res.cpu_limit_milli, Some(10));
        assert_eq!(
            res.cpu_shares,
            Some(100),
            "cpu-shares wins over the request"
        );
        let mem = find(&r, Some("web"), "resource/memory");
        assert_eq!(mem.status, Status::Modified);
        assert!(
            mem.detail.contains("lowered to the pod's limit"),
            "{}",
            mem.detail
        );
        let cpu = find(&r, Some("web"), "resource/cpu");
        assert_eq!(cpu.status, Status::Modified);
        assert!(cpu.detail.contains("raised to 10m"), "{}", cpu.detail);
        assert!(cpu.detail.contains("request not applied"), "{}", cpu.detail);
        assert_eq!(find(&r, None, "resource/memory").status, Status::Enforced);
    }

    #[test]
    fn network_bandwidth_is_the_lowest_limit_for_the_whole_pod() {
        let m = manifest(
            json!([{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "2M"}}]),
            json!([{"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1M"}}]),
        );
        let r = resolve(&m, &host()).unwrap();
        assert_eq!(r.network_bandwidth, Some(1_000_000));
        let pod = find(&r, None, "resource/network-bandwidth");
        assert_eq!(pod.status, Status::Modified, "{pod:?}");
        assert!(
            pod.detail
                .starts_with("lowered by an app's limit: 1000000 bytes/s"),
            "{pod:?}"
        );
        let app = find(&r, Some("web"), "resource/network-bandwidth");
        assert_eq!(app.status, Status::Modified, "{app:?}");
        assert!(app.detail.contains("whole pod"), "{app:?}");
        for net in [None, Some(false)] {
            let h = Host {
                net_bandwidth: net,
                ..host()
            };
            let r = resolve(&m, &h).unwrap();
            assert_eq!(r.network_bandwidth, None);
            let pod = find(&r, None, "resource/network-bandwidth");
            assert_eq!(pod.status, Status::Ignored, "{pod:?}");
        }
    }

    #[test]
    fn what_cannot_be_enforced_is_ignored_with_a_reason() {
        let no_cgroups = Host {
            memory: None,
            cpu: None,
            sys_resource: false,
            net_bandwidth: None,
            ..host()
        };
        let r = resolve(
            &manifest(
                json!([{"name": "os/unix/sysctl", "value": {"net.ipv4.ip_forward": "1"}},
                       {"name": "os/linux/no-new-privileges", "value": true},
                       {"name": "example.com/pod-thing", "value": 1}]),
                json!([{"name": "resource/memory", "value": {"limit": "1G"}},
                       {"name": "resource/network-bandwidth", "value": {"default": true, "limit": "1M"}},
                       {"name": "resource/block-iops", "value": {"default": true, "limit": 10}},
                       {"name": "os/linux/oom-score-adj", "value": -100},
                       {"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t", "level": "s0"}},
                       {"name": "os/linux/apparmor-profile", "value": {"profile": "p"}},
                       {"name": "example.com/thing", "value": {"x": 1}}]),
            ),
            &no_cgroups,
        )
        .unwrap();
        let ignored: Vec<(Option<&str>, &str)> = r
            .report
            .isolators
            .iter()
            .filter(|e| e.status == Status::Ignored)
            .map(|e| (e.app.as_deref(), e.name.as_str()))
            .collect();
        for want in [
            (None, "os/unix/sysctl"),
            (None, "os/linux/no-new-privileges"),
            (None, "example.com/pod-thing"),
            (Some("web"), "resource/memory"),
            (Some("web"), "resource/network-bandwidth"),
            (Some("web"), "resource/block-iops"),
            (Some("web"), "os/linux/oom-score-adj"),
            (Some("web"), "os/linux/selinux-context"),
            (Some("web"), "os/linux/apparmor-profile"),
            (Some("web"), "example.com/thing"),
        ] {
            assert!(
                ignored.contains(&want),
                "{want:?} not ignored: {:#?}",
                r.report
            );
        }
        assert!(r.apps[0].0.is_empty());
        assert_eq!(r.apps[0].1.oom_score_adj, None);
        assert_eq!(
            find(&r, Some("web"), "example.com/thing").value,
            json!({"x": 1})
        );
    }

    #[test]
    fn security_isolators() {
        let r = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_CHOWN", "CAP_SYS_ADMIN", "CAP_PONIES"]}},
                       {"name": "os/linux/no-new-privileges", "value": true},
                       {"name": "os/linux/seccomp-remove-set", "value": {"set": ["mkdir"], "errno": "EPERM"}},
                       {"name": "os/linux/oom-score-adj", "value": 300}]),
            ),
            &host(),
        )
        .unwrap();
        let sec = &r.apps[0].1;
        assert_eq!(sec.capabilities, caps::DEFAULT_SET & !1);
        assert!(sec.no_new_privileges);
        assert_eq!(sec.seccomp.as_ref().unwrap().errno, Some(libc::EPERM));
        assert_eq!(sec.oom_score_adj, Some(300));
        let c = find(&r, Some("web"), "os/linux/capabilities-remove-set");
        assert_eq!(c.status, Status::Modified);
        assert!(c.detail.contains("CAP_PONIES"), "{}", c.detail);
        assert!(
            r.report
                .isolators
                .iter()
                .all(|e| e.name != "os/linux/capabilities-retain-set"),
            "no default entry when a capability isolator is given"
        );
    }

    #[test]
    fn bad_isolators_fail_before_running() {
        let e = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read", "mkdri"]}}]),
            ),
            &host(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("app web") && e.contains("mkdri"), "{e}");
        let apparmor = Host {
            apparmor: true,
            ..host()
        };
        let e = resolve(
            &manifest(
                json!([]),
                json!([{"name": "os/linux/apparmor-profile", "value": {"profile": "p"}}]),
            ),
            &apparmor,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("AppArmor"), "{e}");
    }

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
