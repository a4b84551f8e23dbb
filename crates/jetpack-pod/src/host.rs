//! What the host offers for isolators, as the engine finds it (see [`crate::engine::Engine::host`]).

/// What this host offers, as far as isolators go.
#[derive(Debug, Clone, Default)]
pub struct Host {
    /// Where the memory controller is (e.g. `cgroup v1 /sys/fs/cgroup/memory`), if anywhere.
    pub memory: Option<String>,
    pub cpu: Option<String>,
    pub apparmor: bool,
    pub selinux: bool,
    /// Whether jetpack has CAP_SYS_RESOURCE (needed to lower `oom_score_adj`).
    pub sys_resource: bool,
    /// Whether every network of the pod can limit bandwidth (a plugin with the `bandwidth`
    /// capability); `None` when the pod has no network of its own (host or loopback only).
    pub net_bandwidth: Option<bool>,
}
