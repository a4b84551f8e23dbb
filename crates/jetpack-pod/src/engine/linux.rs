//! The Linux engine: namespaces, cgroups and seccomp through `jetpack_runtime::linux`. The
//! only module of this crate that calls it; the seccomp and cgroup helpers below are what
//! the isolators need to resolve and describe their filters and limits.

use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use jetpack_runtime::{IdMap, PodSpec, Seccomp, SeccompMode, linux};

use super::{Engine, EnterSpec, OnReady, Signal};
use crate::error::{Error, IoContext, Result};
use crate::host::Host;
use crate::pods::PodLock;

/// Today's engine: one set of namespaces per pod and a small init as its PID 1.
#[derive(Debug, Clone, Copy, Default)]
pub struct LinuxEngine;

impl Engine for LinuxEngine {
    fn host(&self) -> Host {
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
        Host {
            memory: cg.memory.as_ref().map(|h| h.describe()),
            cpu: cg.cpu.as_ref().map(|h| h.describe()),
            apparmor: flag("/sys/module/apparmor/parameters/enabled"),
            selinux: Path::new("/sys/fs/selinux/enforce").exists(),
            sys_resource,
            net_bandwidth: None,
        }
    }

    fn user_namespace(&self, map: IdMap) -> Result<OwnedFd> {
        linux::userns::create(map)
            .map_err(|e| Error::Runtime(format!("creating a user namespace: {e}")))
    }

    fn create_netns(&self, path: &Path) -> Result<()> {
        linux::netns::create(path)
            .map_err(|e| Error::Runtime(format!("network namespace {}: {e}", path.display())))
    }

    fn netns_bound(&self, path: &Path) -> bool {
        linux::netns::exists(path)
    }

    fn remove_netns(&self, path: &Path) -> Result<()> {
        linux::netns::remove(path)
            .map_err(|e| Error::Runtime(format!("network namespace {}: {e}", path.display())))
    }

    fn run(
        &self,
        spec: &PodSpec,
        lock: &PodLock,
        on_pid: &mut dyn FnMut(i32),
        on_ready: Option<OnReady>,
    ) -> Result<i32> {
        // The logs get the output anyway.
        let null = match spec.quiet {
            true => Some(
                std::fs::File::options()
                    .write(true)
                    .open("/dev/null")
                    .at(Path::new("/dev/null"))?,
            ),
            false => None,
        };
        let mut hooks = linux::RunHooks::default()
            .keep_fd(lock.0.as_fd())
            .on_init(move |pid| {
                on_pid(pid);
                Ok(())
            });
        if let Some(f) = on_ready {
            hooks = hooks.on_ready(f);
        }
        if let Some(null) = &null {
            hooks = hooks.output(null.as_fd(), null.as_fd());
        }
        let exit = linux::run(spec, hooks)
            .map_err(|e| Error::Runtime(format!("pod {}: {e}", spec.uuid)))?;
        // Apps that failed to start are reported through the log; their status is in the
        // pod's exit.
        for e in exit.errors() {
            tracing::error!("{e}");
        }
        Ok(exit.code)
    }

    fn signal(&self, pid: i32, signal: Signal) -> Result<()> {
        let sig = match signal {
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

    fn enter(&self, pid: i32, spec: &EnterSpec<'_>) -> Result<i32> {
        let ctx = linux::EnterContext {
            uuid: spec.uuid.to_string(),
            uid: spec.uid,
            gid: spec.gid,
            groups: spec.groups.clone(),
            working_dir: spec.working_dir.clone(),
            working_dir_required: spec.working_dir_required,
            program: spec.program.map(str::to_string),
            security: spec.security.clone(),
            userns: spec.userns,
        };
        linux::enter(pid, spec.app, spec.argv, spec.env, spec.tty, &ctx)
            .map_err(|e| Error::Runtime(e.to_string()))
    }

    fn remove_leftovers(&self, uuid: &str) -> Result<bool> {
        linux::cgroups::remove_pod(uuid)
            .map_err(|e| Error::Runtime(format!("pod {uuid}: cgroups: {e}")))
    }

    fn tidy(&self) {
        linux::cgroups::remove_empty_bases()
    }
}

/// How an app's capability set is applied, for the isolator report: whether all of it is, and
/// the detail.
pub fn describe_capabilities(kept: u64) -> (bool, String) {
    let names = jetpack_runtime::caps::names(kept);
    let set = if names.is_empty() {
        "none".to_string()
    } else {
        names.join(", ")
    };
    (
        true,
        format!("bounding, permitted, effective and inheritable sets: {set}"),
    )
}

/// How `os/linux/no-new-privileges` is applied to an app's processes.
pub const NO_NEW_PRIVS: &str = "PR_SET_NO_NEW_PRIVS before exec";

/// Why `os/linux/oom-score-adj` cannot be applied here, if it cannot: it can on Linux.
pub fn no_oom_score() -> Option<&'static str> {
    None
}

/// Why apps run without a system call filter here, if they do: never on Linux.
pub fn no_seccomp() -> Option<&'static str> {
    None
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

/// A filter's argument condition in words (`clone (namespace flags)`).
pub fn describe_condition(c: &jetpack_runtime::spec::ArgCondition) -> String {
    linux::seccomp::describe(c)
}

/// This architecture's name of system call `nr`.
pub fn syscall_name(nr: u32) -> String {
    linux::seccomp::syscall_name(nr)
}

/// This architecture's number of system call `name`.
pub fn syscall_number(name: &str) -> Option<u32> {
    linux::seccomp::syscall_number(name)
}

/// The CFS quota of a CPU limit in milli-CPUs, and the period it is a quota of (µs).
/// A TCP listener on `127.0.0.1:port` in the network namespace bound at `netns`.
pub fn loopback_listener(netns: &Path, port: u16) -> std::io::Result<OwnedFd> {
    linux::netns::loopback_listener(netns, port)
}

pub fn cpu_quota_us(milli: u64) -> (u64, u64) {
    (
        linux::cgroups::cpu_quota_us(milli),
        linux::cgroups::CPU_PERIOD_US,
    )
}
