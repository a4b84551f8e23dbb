//! Isolators on a jail: `resource/memory` and `resource/cpu` as rctl(8) rules, capabilities as
//! `allow.*` parameters where a jail has an analogue; the rest is reported as not enforced.

/// The rctl(8) rules of a pod (`rctl -a RULE` each; `rctl -r jail:NAME` removes them all).
/// Memory is resident memory (`memoryuse`); CPU is `pcpu`, a percentage of one CPU, so
/// milli-cores / 10, rounded up (at least 1).
pub fn rctl_rules(jail: &str, memory: Option<u64>, cpu_milli: Option<u64>) -> Vec<String> {
    let mut rules = Vec::new();
    if let Some(bytes) = memory {
        rules.push(format!("jail:{jail}:memoryuse:deny={bytes}"));
    }
    if let Some(milli) = cpu_milli {
        rules.push(format!(
            "jail:{jail}:pcpu:deny={}",
            milli.div_ceil(10).max(1)
        ));
    }
    rules
}

/// Linux capabilities with a jail parameter that grants the same thing.
pub const GRANTS: &[(&str, &[&str])] = &[
    ("CAP_NET_RAW", &["allow.raw_sockets"]),
    ("CAP_LINUX_IMMUTABLE", &["allow.chflags"]),
    ("CAP_IPC_LOCK", &["allow.mlock"]),
    (
        "CAP_SYS_ADMIN",
        &["allow.mount", "allow.mount.nullfs", "allow.mount.tmpfs"],
    ),
];

/// What the pod's capabilities become.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Capabilities {
    /// `allow.*` parameters set to true, in the order of [`GRANTS`].
    pub allow: Vec<&'static str>,
    /// Capabilities the jail cannot honour, each with the reason.
    pub not_enforced: Vec<(String, &'static str)>,
}

/// One jail holds every app of a pod, so a parameter is granted when any app keeps its
/// capability. `apps` are the sets stage0 resolved (the ones Linux applies), `default_set`
/// what an app has when no isolator says otherwise. A capability outside the default set
/// without a jail analogue is never granted; one of the default set that an app drops stays
/// with root in the jail.
pub fn capabilities(apps: &[Vec<String>], default_set: &[String]) -> Capabilities {
    let kept = |cap: &str| apps.iter().any(|a| a.iter().any(|c| c == cap));
    let mut out = Capabilities::default();
    for (cap, params) in GRANTS {
        if kept(cap) {
            out.allow.extend(params.iter().copied());
        }
    }
    let mut seen = Vec::new();
    for cap in apps.iter().flatten() {
        if seen.contains(cap) {
            continue;
        }
        seen.push(cap.clone());
        let granted = GRANTS.iter().any(|(c, _)| c == cap);
        if !granted && !default_set.contains(cap) {
            out.not_enforced.push((
                cap.clone(),
                "no jail parameter grants it; the jail refuses it",
            ));
        }
    }
    for cap in default_set {
        if apps.iter().any(|a| !a.contains(cap)) {
            out.not_enforced.push((
                cap.clone(),
                "dropped by an app, but root in a jail keeps it",
            ));
        }
    }
    out
}
