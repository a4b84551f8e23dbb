//! The plan of a pod's cgroups: which hierarchies it uses for which controllers, and the
//! directories, `subtree_control` enables and limit writes that make them, in order; pure,
//! apart from `live.rs` which carries the plan out.

use super::live::SHARED_DEVICES;
use super::*;

/// One hierarchy a pod uses, and for which of its controllers.
struct Use<'a> {
    hierarchy: &'a Hierarchy,
    memory: bool,
    cpu: bool,
    devices: bool,
    /// Whether the apps get cgroups of their own here: for limits, accounting, and on v2 to be
    /// below the device program (the init stays outside, so that no v2 cgroup with children
    /// has processes). Under v1 device rules alone they stay with the init.
    apps: bool,
}

fn uses<'a>(host: &'a Host, pod: &Resources, apps: &[&Resources]) -> Vec<Use<'a>> {
    let memory = pod.uses_memory() || apps.iter().any(|a| a.uses_memory());
    let cpu = pod.uses_cpu() || apps.iter().any(|a| a.uses_cpu());
    let mut out: Vec<Use> = Vec::new();
    let mut add = |h: &'a Option<Hierarchy>, memory: bool, cpu: bool, devices: bool| {
        let Some(h) = h else { return };
        let apps = !devices || h.version == Version::V2;
        match out.iter_mut().find(|u| u.hierarchy.path == h.path) {
            Some(u) => {
                u.memory |= memory;
                u.cpu |= cpu;
                u.devices |= devices;
                u.apps |= apps;
            }
            None => out.push(Use {
                hierarchy: h,
                memory,
                cpu,
                devices,
                apps,
            }),
        }
    };
    if memory {
        add(&host.memory, true, false, false);
    }
    if cpu {
        add(&host.cpu, false, true, false);
        add(&host.cpuacct, false, false, false);
    }
    // Every pod, limits or not.
    add(&host.devices, false, false, true);
    out
}

/// One step of making a pod's cgroups. [`steps`] lists them; `create` carries them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// `jetpack/`: may exist already. It may also vanish (the last other pod ended) before the
    /// pod's directory is made in it: then the steps are retried from here.
    Base(PathBuf),
    /// The pod's directory; a leftover of an earlier run is removed first.
    Pod(PathBuf),
    /// An app's directory.
    App(PathBuf),
    Write {
        path: PathBuf,
        value: String,
        /// Skipped when the file does not exist (no swap accounting, no swap support).
        optional: bool,
    },
    /// The pod's device rules on its cgroup `dir`: v1 `devices.deny` and `devices.allow`
    /// writes, or a v2 device program.
    Devices { dir: PathBuf, version: Version },
    /// `jetpack/pods` in a v1 `devices` hierarchy where the pod has nothing else: made once
    /// with the device rules (under another name, then renamed, so that no process ever joins
    /// it without them) and shared by every such pod's init; never removed.
    SharedDevices(PathBuf),
    /// The init joins the v1 cgroup `dir` itself (by its `tasks`), so that the device rules
    /// bind it and every app it forks.
    InitJoin(PathBuf),
    /// How app `app` gets into its cgroup `dir` (see the module documentation).
    Join {
        app: usize,
        dir: PathBuf,
        version: Version,
    },
}

/// What making the pod's cgroups takes on `host`, in order: pure, so that the exact files and
/// values for v1 and v2 are unit-tested. `apps` are (name, limits) in the pod's order; their
/// limits are bounded by the pod's.
pub fn steps(host: &Host, uuid: &str, pod: &Resources, apps: &[(&str, &Resources)]) -> Vec<Step> {
    let app_res: Vec<&Resources> = apps.iter().map(|(_, r)| *r).collect();
    let mut out = Vec::new();
    for u in uses(host, pod, &app_res) {
        let h = u.hierarchy;
        let limits = |out: &mut Vec<Step>, dir: &Path, r: &Resources| {
            let mut ws = Vec::new();
            if u.memory {
                ws.extend(memory_writes(h.version, r));
            }
            if u.cpu {
                ws.extend(cpu_writes(h.version, r));
            }
            out.extend(ws.into_iter().map(|w| Step::Write {
                path: dir.join(w.file),
                value: w.value,
                optional: w.optional,
            }));
        };
        let enable = |out: &mut Vec<Step>, dir: &Path| {
            let mut v = Vec::new();
            if u.memory {
                v.push("+memory");
            }
            if u.cpu {
                v.push("+cpu");
            }
            if h.version == Version::V2 && !v.is_empty() {
                out.push(Step::Write {
                    path: dir.join("cgroup.subtree_control"),
                    value: v.join(" "),
                    optional: false,
                });
            }
        };
        let base = h.path.join("jetpack");
        let dir = base.join(uuid);
        out.push(Step::Base(base.clone()));
        if u.devices && h.version == Version::V1 && !u.apps {
            // Device rules alone: the same for every pod, so one shared cgroup holds them and
            // a pod costs its init's join only (no mkdir, rules and rmdir on its start path).
            let shared = base.join(SHARED_DEVICES);
            out.push(Step::SharedDevices(shared.clone()));
            out.push(Step::InitJoin(shared));
            continue;
        }
        enable(&mut out, &h.path);
        enable(&mut out, &base);
        out.push(Step::Pod(dir.clone()));
        limits(&mut out, &dir, pod);
        enable(&mut out, &dir);
        if u.devices {
            out.push(Step::Devices {
                dir: dir.clone(),
                version: h.version,
            });
            if h.version == Version::V1 {
                out.push(Step::InitJoin(dir.clone()));
            }
        }
        for (i, (name, r)) in apps.iter().enumerate().filter(|_| u.apps) {
            let app_dir = dir.join(format!("app-{name}"));
            out.push(Step::App(app_dir.clone()));
            limits(&mut out, &app_dir, &bounded(r, pod));
            out.push(Step::Join {
                app: i,
                dir: app_dir,
                version: h.version,
            });
        }
    }
    out
}
