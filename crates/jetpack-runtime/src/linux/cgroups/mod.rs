//! cgroups for the resource isolators (`resource/memory`, `resource/cpu`,
//! `os/linux/cpu-shares`), on cgroup v2, v1, or a hybrid of both.
//!
//! Each controller is taken from the v2 hierarchy when v2 has it, else from its v1 mount (a
//! hybrid host such as a v1 `memory` mount beside a controller-less v2 `unified` one uses v1).
//! In every hierarchy the pod uses:
//!
//! ```text
//! <mount>/jetpack/<uuid>/             the pod's limits (they bound every app's)
//! <mount>/jetpack/<uuid>/app-<name>/  one app's limits; its processes
//! ```
//!
//! (`app-` keeps an app called `tasks` or `cgroup.procs` from meeting a control file.) On v2
//! the controllers are enabled in `cgroup.subtree_control` down the path; the pod's init stays
//! where its caller is, so no cgroup with children has processes. On v1, a separate `cpuacct`
//! hierarchy is joined along with `cpu`, for accounting.
//!
//! Stage0 creates the directories and writes the limits before forking (errors come back from
//! `run` before anything runs) and opens what each app needs to join its cgroups: the init
//! clones the app into its v2 cgroup, and the app moves itself into its v1 ones first thing, so
//! everything it and its children do is charged there.
//!
//! Not through `cgroup.procs`: moving a process that way takes the kernel's global threadgroup
//! lock for writing, which waits for an RCU grace period, about 10 ms on an idle host, at every
//! pod start. On v1 a thread that writes `0` to a `tasks` file moves only itself, and the
//! kernel skips the global lock for that (the app's process is single-threaded): about 0.1 ms.
//! On v2 `clone3` with `CLONE_INTO_CGROUP` (Linux 5.7) only takes the lock for reading, as
//! every fork does. `cgroup.procs` remains for older kernels and for the post-stop handler,
//! which is not on the start path.
//!
//! When the pod has ended, stage0 removes the pod's directories; `jetpack/` stays for the next
//! pod (making and removing it costs about 0.1 ms per hierarchy) until `destroy` or `gc` finds
//! it empty. A pod whose caller was killed leaves its directories for `destroy` and `gc`
//! ([`remove_pod`]). Every pod also gets its device rules (the `devices` hierarchy or a v2
//! program, see [`super::devices`]); a pod without limits gets nothing else.
//!
//! Layout: this file finds the hierarchies (`Host`); `limits.rs` turns limits into control
//! file writes, `steps.rs` plans a pod's cgroups, `live.rs` makes, joins and removes them.

use std::path::{Path, PathBuf};

use crate::spec::Resources;

/// The CFS period Jetpack uses: 100 ms.
pub const CPU_PERIOD_US: u64 = 100_000;
/// The kernel's smallest CFS quota: 1 ms, i.e. 10 milli-cores over the period.
pub const MIN_CPU_QUOTA_US: u64 = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Version {
    V1,
    V2,
}

/// A mounted cgroup hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    pub path: PathBuf,
    pub version: Version,
}

impl Hierarchy {
    /// The pod's cgroup directory in this hierarchy.
    pub fn pod_dir(&self, uuid: &str) -> PathBuf {
        self.path.join("jetpack").join(uuid)
    }

    /// `cgroup v1 /sys/fs/cgroup/memory`, for reports.
    pub fn describe(&self) -> String {
        let v = match self.version {
            Version::V1 => "v1",
            Version::V2 => "v2",
        };
        format!("cgroup {v} {}", self.path.display())
    }
}

/// Where this host has the controllers Jetpack uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Host {
    pub memory: Option<Hierarchy>,
    pub cpu: Option<Hierarchy>,
    /// A v1 `cpuacct` hierarchy apart from `cpu`'s, joined along with it for accounting.
    pub cpuacct: Option<Hierarchy>,
    /// Where every pod's device rules go: the v1 `devices` controller, else the v2 hierarchy
    /// (a `BPF_CGROUP_DEVICE` program; see [`super::devices`]).
    pub devices: Option<Hierarchy>,
}

impl Host {
    /// Reads `/proc/self/mountinfo` and the v2 root's `cgroup.controllers`, once per process
    /// (stage0 asks twice: for the report and for the pod).
    pub fn detect() -> Host {
        static HOST: std::sync::OnceLock<Host> = std::sync::OnceLock::new();
        HOST.get_or_init(|| {
            let mountinfo = jetpack_fs::read_proc(jetpack_fs::mountinfo::PATH).unwrap_or_default();
            Host::from_mountinfo(&mountinfo, |p| {
                std::fs::read_to_string(p.join("cgroup.controllers")).ok()
            })
        })
        .clone()
    }

    /// From a mountinfo text; `v2_controllers` reads a v2 mount's `cgroup.controllers`.
    pub fn from_mountinfo(
        mountinfo: &str,
        v2_controllers: impl Fn(&Path) -> Option<String>,
    ) -> Host {
        let mut v1: Vec<(PathBuf, Vec<&str>)> = Vec::new();
        let mut v2: Option<PathBuf> = None;
        let mounts = jetpack_fs::mountinfo::parse(mountinfo);
        for m in &mounts {
            match m.fs_type.as_str() {
                "cgroup2" if v2.is_none() => v2 = Some(m.mount_point.clone()),
                "cgroup" => v1.push((m.mount_point.clone(), m.super_options.split(',').collect())),
                _ => {}
            }
        }
        let v2_has: Vec<String> = v2
            .as_deref()
            .and_then(&v2_controllers)
            .map(|s| s.split_whitespace().map(String::from).collect())
            .unwrap_or_default();
        let pick = |controller: &str| -> Option<Hierarchy> {
            if let Some(p) = &v2
                && v2_has.iter().any(|c| c == controller)
            {
                return Some(Hierarchy {
                    path: p.clone(),
                    version: Version::V2,
                });
            }
            v1.iter()
                .find(|(_, opts)| opts.contains(&controller))
                .map(|(p, _)| Hierarchy {
                    path: p.clone(),
                    version: Version::V1,
                })
        };
        let memory = pick("memory");
        let cpu = pick("cpu");
        let cpuacct = match &cpu {
            Some(c) if c.version == Version::V1 => pick("cpuacct").filter(|a| a.path != c.path),
            _ => None,
        };
        let devices = v1
            .iter()
            .find(|(_, opts)| opts.contains(&"devices"))
            .map(|(p, _)| Hierarchy {
                path: p.clone(),
                version: Version::V1,
            })
            .or_else(|| {
                v2.clone().map(|path| Hierarchy {
                    path,
                    version: Version::V2,
                })
            });
        Host {
            memory,
            cpu,
            cpuacct,
            devices,
        }
    }

    /// Every distinct hierarchy Jetpack may have pod cgroups in.
    pub fn hierarchies(&self) -> Vec<&Hierarchy> {
        let mut out: Vec<&Hierarchy> = Vec::new();
        for h in [&self.memory, &self.cpu, &self.cpuacct, &self.devices]
            .into_iter()
            .flatten()
        {
            if !out.iter().any(|o| o.path == h.path) {
                out.push(h);
            }
        }
        out
    }
}

mod limits;
mod live;
mod steps;

pub use limits::{Write, bounded, cpu_quota_us, cpu_writes, memory_writes, shares_to_weight};
pub(crate) use live::{AppCgroups, PodCgroups, create, join_files};
pub use live::{pod_dirs, remove_empty_bases, remove_pod};
pub use steps::{Step, steps};

#[cfg(test)]
mod tests;
