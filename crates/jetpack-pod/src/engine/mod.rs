//! The seam between stage0 and the isolation engine. Everything the lifecycle asks of the
//! host's isolation (namespaces, cgroups, the pod's init) goes through [`Engine`]; the rest of
//! this crate is portable.
//!
//! - `linux::LinuxEngine`: namespaces, cgroups and seccomp through `jetpack_runtime::linux`,
//!   the only module of this crate that calls it;
//! - `freebsd::JailEngine` (FreeBSD; type-checked from Linux by `scripts/check-freebsd.sh`):
//!   one jail per pod, planned by `jetpack-jail` from [`jail::jail_pod`] (every OS, so
//!   tested here), through `jetpack_runtime::freebsd`;
//! - `fake::FakeEngine` (feature `testing`): records every call and plays back scripted
//!   exits and failures, so that the lifecycle is tested without root or namespaces.
//!
//! A trait object: the start path makes a handful of engine calls against a fork and an exec,
//! so dynamic dispatch costs nothing measurable, and callers need no type parameter.

#[cfg(any(test, feature = "testing"))]
pub mod fake;
#[cfg(target_os = "freebsd")]
pub mod freebsd;
pub mod jail;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod teardown;

/// This host's engine module: the helpers the isolators and networks use come from it.
#[cfg(target_os = "freebsd")]
pub use freebsd as native;
#[cfg(target_os = "linux")]
pub use linux as native;

use std::os::fd::OwnedFd;
use std::path::Path;

pub use jetpack_runtime::AppStart;
use jetpack_runtime::{IdMap, PodSpec, Security};

use crate::error::Result;
use crate::host::Host;
use crate::pods::PodLock;

/// Called once, from another thread, when every app has exec'd its main command or ended:
/// how each app's start went, in the spec's order.
pub type OnReady = Box<dyn FnOnce(Vec<AppStart>) + Send>;

/// How a pod is asked to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Its apps are asked to stop (SIGTERM, forwarded by the init).
    Term,
    /// Every process of the pod ends at once.
    Kill,
}

/// A command to run in a running pod's app, in the app's security context.
#[derive(Debug, Clone)]
pub struct EnterSpec<'a> {
    /// The pod's UUID, to find the app's cgroups.
    pub uuid: &'a str,
    pub app: &'a str,
    pub argv: &'a [String],
    pub env: &'a [(String, String)],
    pub tty: bool,
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// Absolute, inside the app's rootfs; `/` when missing, unless `working_dir_required`.
    pub working_dir: String,
    pub working_dir_required: bool,
    /// The program to run when it is not `argv[0]` (a login shell's `argv[0]` is `-sh`).
    pub program: Option<&'a str>,
    /// The app's capabilities, no_new_privs and seccomp filter; `None` for every capability
    /// and no filter (`enter --privileged`).
    pub security: Option<Security>,
    /// The pod has a user namespace: the command joins it too.
    pub userns: bool,
}

/// An isolation engine: prepares a pod's sandbox, starts its apps and waits for them,
/// signals and enters a running pod, and tears down what a pod left.
pub trait Engine: Sync {
    /// What the host offers for isolators (cgroup controllers, MAC systems, capabilities).
    fn host(&self) -> Host;

    /// A user namespace with `map`, for idmapped mounts of the pod's clones.
    fn user_namespace(&self, map: IdMap) -> Result<OwnedFd>;

    /// Whether the engine gives pods their networks itself from [`PodSpec::networks`] (jails:
    /// an alias on the jail interface, or VNET) instead of joining a network namespace that
    /// CNI configured: stage0 then reads no CNI file and attaches nothing.
    fn plans_networks(&self) -> bool {
        false
    }

    /// For an engine that plans networks: leases the pod's address on its network (none for
    /// `host` and `none`), before the start so that the metadata service knows the pod by it.
    /// Held until [`Engine::release_address`].
    fn lease_address(&self, _spec: &PodSpec) -> Result<Option<std::net::IpAddr>> {
        Ok(None)
    }

    /// Gives back what [`Engine::lease_address`] leased for the pod; nothing leased is no
    /// error.
    fn release_address(&self, _spec: &PodSpec) {}

    /// A new network namespace bound on `path`, for CNI to configure and the pod to join.
    fn create_netns(&self, path: &Path) -> Result<()>;

    /// Whether `path` holds a network namespace (it is a plain file once unbound, e.g. after
    /// a reboot).
    fn netns_bound(&self, path: &Path) -> bool;

    /// Removes the network namespace bound on `path`, and the file.
    fn remove_netns(&self, path: &Path) -> Result<()>;

    /// Starts the pod and waits for its end; returns its exit status. `on_pid` gets the pod's
    /// init pid once it exists. The init keeps `lock` open, so the pod's lock is held exactly
    /// as long as the pod lives, whatever happens to this process. `on_ready` hears how the
    /// apps' starts went (never when the pod fails before its apps run).
    fn run(
        &self,
        spec: &PodSpec,
        lock: &PodLock,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32>;

    /// Signals the pod whose init is `pid`; a pod that ended meanwhile is no error.
    fn signal(&self, pid: i32, signal: Signal) -> Result<()>;

    /// Runs a command in an app of the pod whose init is `pid`; returns its exit status.
    fn enter(&self, pid: i32, spec: &EnterSpec<'_>) -> Result<i32>;

    /// Removes what a pod whose `jetpack run` was killed left in the kernel (Linux: its
    /// cgroups; jails: the jail and its processes, mounts, address, pf anchor and rctl rules);
    /// true if there was any.
    fn remove_leftovers(&self, uuid: &str) -> Result<bool>;

    /// Removes what the engine keeps for all pods and no pod uses now (empty cgroups).
    fn tidy(&self);
}
