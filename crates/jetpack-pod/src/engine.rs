//! The one place stage0 calls the isolation engine; the rest of this crate is portable.

use std::os::fd::AsFd;
use std::path::Path;

use jetpack_runtime::{PodSpec, Seccomp, SeccompMode, linux, resolve};

pub use jetpack_runtime::linux::EnterContext;

use crate::error::{Error, Result};
use crate::pods::PodLock;

pub enum Signal {
    Term,
    Kill,
}

pub fn resolve_user(rootfs: &Path, user: &str) -> std::result::Result<u32, String> {
    resolve::resolve_user(rootfs, user).map_err(|e| e.to_string())
}

/// A user namespace with `map`, for idmapped mounts.
pub fn user_namespace(map: jetpack_runtime::IdMap) -> Result<std::os::fd::OwnedFd> {
    linux::userns::create(map)
        .map_err(|e| Error::Runtime(format!("creating a user namespace: {e}")))
}

/// The primary group of `uid` in the rootfs's `/etc/passwd`, if it has an entry.
pub fn user_gid(rootfs: &Path, uid: u32) -> Option<u32> {
    resolve::passwd_entry(rootfs, uid)
        .ok()
        .flatten()
        .map(|e| e.gid)
}

pub fn resolve_group(rootfs: &Path, group: &str) -> std::result::Result<u32, String> {
    resolve::resolve_group(rootfs, group).map_err(|e| e.to_string())
}

pub fn find_exec(rootfs: &Path, argv0: &str, path: &str) -> std::result::Result<String, String> {
    resolve::find_exec(rootfs, argv0, path).map_err(|e| e.to_string())
}

/// System call and errno names to numbers; `None` when the set means no filtering.
/// `@docker/default` is relaxed for `capabilities`.
pub fn resolve_seccomp(
    mode: SeccompMode,
    names: &[String],
    errno: Option<&str>,
    capabilities: u64,
) -> std::result::Result<Option<Seccomp>, String> {
    linux::seccomp::resolve_for(mode, names, errno, capabilities)
}

/// The filter of an app without a seccomp isolator (`@docker/default`, EPERM), and the calls
/// of it that `capabilities` let through.
pub fn default_seccomp(capabilities: u64) -> (Seccomp, Vec<&'static str>) {
    (
        linux::seccomp::docker_default(capabilities),
        linux::seccomp::docker_default_relaxed(capabilities),
    )
}

/// What a seccomp isolator lets through that the default filter would block.
pub fn seccomp_let_through(
    mode: SeccompMode,
    names: &[String],
    capabilities: u64,
) -> std::result::Result<Vec<String>, String> {
    linux::seccomp::let_through(mode, names, capabilities)
}

/// What the host offers for isolators.
pub fn host_support() -> crate::isolators::Host {
    let cg = linux::cgroups::Host::detect();
    let flag = |p: &str| {
        std::fs::read_to_string(p)
            .map(|s| s.trim().eq_ignore_ascii_case("y"))
            .unwrap_or(false)
    };
    // CapEff of this process: bit 24 is CAP_SYS_RESOURCE.
    let sys_resource = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("CapEff:"))
                .and_then(|h| u64::from_str_radix(h.trim(), 16).ok())
        })
        .is_some_and(|eff| eff & (1 << 24) != 0);
    crate::isolators::Host {
        memory: cg.memory.as_ref().map(|h| h.describe()),
        cpu: cg.cpu.as_ref().map(|h| h.describe()),
        apparmor: flag("/sys/module/apparmor/parameters/enabled"),
        selinux: std::path::Path::new("/sys/fs/selinux/enforce").exists(),
        sys_resource,
        net_bandwidth: None,
    }
}

/// Removes the cgroups a pod left (its `jetpack run` was killed); true if there were any.
pub fn remove_cgroups(uuid: &str) -> Result<bool> {
    linux::cgroups::remove_pod(uuid)
        .map_err(|e| Error::Runtime(format!("pod {uuid}: cgroups: {e}")))
}

/// Removes Jetpack's empty `jetpack/` cgroups (pods make them again as needed).
pub fn tidy_cgroups() {
    linux::cgroups::remove_empty_bases()
}

/// A new network namespace bound on `path`, for CNI to configure and the pod to join.
pub fn create_netns(path: &Path) -> Result<()> {
    linux::netns::create(path)
        .map_err(|e| Error::Runtime(format!("network namespace {}: {e}", path.display())))
}

/// Whether `path` holds a network namespace (it is a plain file once unbound, e.g. after a
/// reboot).
pub fn netns_bound(path: &Path) -> bool {
    linux::netns::exists(path)
}

pub fn remove_netns(path: &Path) -> Result<()> {
    linux::netns::remove(path)
        .map_err(|e| Error::Runtime(format!("network namespace {}: {e}", path.display())))
}

/// `/etc/<name>` in an app's rootfs, unless the image has one.
pub fn provide_etc_file(rootfs: &Path, name: &str, contents: &[u8]) -> Result<bool> {
    resolve::provide_etc_file(rootfs, name, contents).map_err(|e| Error::Runtime(e.to_string()))
}

pub fn check_dir(rootfs: &Path, dir: &str) -> std::result::Result<(), String> {
    resolve::check_dir(rootfs, dir).map_err(|e| e.to_string())
}

/// Runs the pod to its end. The pod's init keeps `lock` open, so the lock is held exactly as
/// long as the pod lives, whatever happens to this process. Apps that failed to start are
/// reported through the log; their status is in the pod's exit.
pub fn run(spec: &PodSpec, lock: &PodLock, mut on_pid: impl FnMut(i32)) -> Result<i32> {
    let hooks = linux::RunHooks::default()
        .keep_fd(lock.0.as_fd())
        .on_init(move |pid| {
            on_pid(pid);
            Ok(())
        });
    let exit =
        linux::run(spec, hooks).map_err(|e| Error::Runtime(format!("pod {}: {e}", spec.uuid)))?;
    for e in exit.errors() {
        tracing::error!("{e}");
    }
    Ok(exit.code)
}

pub fn signal(pid: i32, s: Signal) -> Result<()> {
    let sig = match s {
        Signal::Term => libc::SIGTERM,
        Signal::Kill => libc::SIGKILL,
    };
    match linux::signal_pod(pid, sig) {
        Ok(()) => Ok(()),
        // It ended on its own meanwhile: what the caller wanted.
        Err(jetpack_runtime::Error::NotRunning { .. }) => Ok(()),
        Err(e) => Err(Error::Runtime(e.to_string())),
    }
}

pub fn enter(
    pid: i32,
    app: &str,
    argv: &[String],
    env: &[(String, String)],
    tty: bool,
    ctx: &linux::EnterContext,
) -> Result<i32> {
    linux::enter(pid, app, argv, env, tty, ctx).map_err(|e| Error::Runtime(e.to_string()))
}
