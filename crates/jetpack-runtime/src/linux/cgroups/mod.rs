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

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
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
            let mountinfo =
                std::fs::read_to_string(jetpack_fs::mountinfo::PATH).unwrap_or_default();
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

/// One control file write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub file: &'static str,
    pub value: String,
    /// Skipped when the file does not exist (no swap accounting, no swap support).
    pub optional: bool,
}

fn w(file: &'static str, value: impl ToString) -> Write {
    Write {
        file,
        value: value.to_string(),
        optional: false,
    }
}

/// The files and values for the memory limits `r` on a hierarchy of version `v`. Swap is held
/// at the limit (v1 `memsw` = limit; v2 `swap.max` = 0), so that reaching it means the OOM
/// killer and not swapping.
pub fn memory_writes(v: Version, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(limit) = r.memory_limit {
        match v {
            Version::V1 => {
                out.push(w("memory.limit_in_bytes", limit));
                out.push(Write {
                    optional: true,
                    ..w("memory.memsw.limit_in_bytes", limit)
                });
            }
            Version::V2 => {
                out.push(w("memory.max", limit));
                out.push(Write {
                    optional: true,
                    ..w("memory.swap.max", 0)
                });
            }
        }
    }
    if let Some(request) = r.memory_request {
        out.push(match v {
            Version::V1 => w("memory.soft_limit_in_bytes", request),
            Version::V2 => w("memory.low", request),
        });
    }
    out
}

/// The CFS quota for a limit in milli-cores: `milli * 100` µs per 100 ms, at least 1 ms.
pub fn cpu_quota_us(milli: u64) -> u64 {
    milli
        .saturating_mul(CPU_PERIOD_US / 1000)
        .max(MIN_CPU_QUOTA_US)
}

/// v1 `cpu.shares` as v2 `cpu.weight` (the conversion of runc and the appc reference).
pub fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// The files and values for the CPU limits `r` on a hierarchy of version `v`.
pub fn cpu_writes(v: Version, r: &Resources) -> Vec<Write> {
    let mut out = Vec::new();
    if let Some(milli) = r.cpu_limit_milli {
        let quota = cpu_quota_us(milli);
        match v {
            Version::V1 => {
                out.push(w("cpu.cfs_period_us", CPU_PERIOD_US));
                out.push(w("cpu.cfs_quota_us", quota));
            }
            Version::V2 => out.push(w("cpu.max", format!("{quota} {CPU_PERIOD_US}"))),
        }
    }
    if let Some(shares) = r.cpu_shares {
        out.push(match v {
            Version::V1 => w("cpu.shares", shares.clamp(2, 262_144)),
            Version::V2 => w("cpu.weight", shares_to_weight(shares)),
        });
    }
    out
}

/// An app's limits bounded by the pod's: a child cgroup cannot get more than its parent (v1
/// even refuses a child CPU quota above the parent's).
pub fn bounded(app: &Resources, pod: &Resources) -> Resources {
    let min = |a: Option<u64>, p: Option<u64>| match (a, p) {
        (Some(a), Some(p)) => Some(a.min(p)),
        (a, _) => a,
    };
    Resources {
        memory_limit: min(app.memory_limit, pod.memory_limit),
        memory_request: min(app.memory_request, pod.memory_limit),
        cpu_limit_milli: min(app.cpu_limit_milli, pod.cpu_limit_milli),
        cpu_shares: app.cpu_shares,
    }
}

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

/// How an app's processes get into its cgroups (see the module documentation), opened in
/// stage0.
#[derive(Debug, Default)]
pub(crate) struct AppCgroups {
    /// `tasks` of the app's cgroup in each v1 hierarchy.
    pub tasks: Vec<OwnedFd>,
    /// The app's v2 cgroup directory, for `CLONE_INTO_CGROUP`.
    pub v2_dir: Option<OwnedFd>,
    /// Its `cgroup.procs`.
    pub v2_procs: Option<OwnedFd>,
}

impl AppCgroups {
    pub fn fds(&self) -> impl Iterator<Item = &OwnedFd> {
        self.tasks
            .iter()
            .chain(self.v2_dir.iter())
            .chain(self.v2_procs.iter())
    }
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

/// The cgroups of a running pod; removed on drop (after the pod has ended).
#[derive(Debug, Default)]
pub(crate) struct PodCgroups {
    /// Per hierarchy: the pod's directory and its apps'.
    dirs: Vec<(PathBuf, Vec<PathBuf>)>,
    /// `tasks` of the pod's v1 cgroups the init joins (see [`Step::InitJoin`]).
    pub init_tasks: Vec<OwnedFd>,
}

/// Creates the pod's cgroups with their limits; returns them and, for each app (in order), how
/// it joins its own. On error, what was made is removed.
pub(crate) fn create(
    host: &Host,
    uuid: &str,
    pod: &Resources,
    apps: &[(&str, &Resources)],
) -> Result<(PodCgroups, Vec<AppCgroups>)> {
    check_uuid(uuid)?;
    let steps = steps(host, uuid, pod, apps);
    let mut made = PodCgroups::default();
    let mut joins: Vec<AppCgroups> = apps.iter().map(|_| AppCgroups::default()).collect();
    let (mut i, mut base_at, mut retries) = (0, 0, 0);
    while let Some(step) = steps.get(i) {
        i += 1;
        match step {
            Step::Base(base) => {
                base_at = i - 1;
                match std::fs::create_dir(base) {
                    Err(e) if e.kind() != io::ErrorKind::AlreadyExists => {
                        return Err(os(base, "creating", e));
                    }
                    _ => {}
                }
            }
            Step::Pod(dir) => {
                if dir.exists() {
                    remove_dir_tree(dir).map_err(|e| os(dir, "removing the leftover", e))?;
                }
                match std::fs::create_dir(dir) {
                    Ok(()) => made.dirs.push((dir.clone(), Vec::new())),
                    Err(e) if e.kind() == io::ErrorKind::NotFound && retries < 5 => {
                        retries += 1;
                        i = base_at;
                    }
                    Err(e) => return Err(os(dir, "creating", e)),
                }
            }
            Step::App(dir) => {
                std::fs::create_dir(dir).map_err(|e| os(dir, "creating", e))?;
                if let Some((_, apps)) = made.dirs.last_mut() {
                    apps.push(dir.clone());
                }
            }
            Step::Write {
                path,
                value,
                optional,
            } => match std::fs::OpenOptions::new().write(true).open(path) {
                Ok(mut f) => {
                    use std::io::Write as _;
                    f.write_all(value.as_bytes())
                        .map_err(|e| os(path, &format!("writing {value:?} to"), e))?;
                }
                Err(e) if *optional && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(os(path, "opening", e)),
            },
            Step::Devices { dir, version } => match version {
                Version::V1 => {
                    for (file, rule) in super::devices::v1_writes() {
                        let p = dir.join(file);
                        std::fs::write(&p, &rule)
                            .map_err(|e| os(&p, &format!("writing {rule:?} to"), e))?;
                    }
                }
                Version::V2 => super::devices::attach_program(dir)
                    .map_err(|e| os(dir, "attaching the device program to", e))?,
            },
            Step::SharedDevices(dir) => match shared_devices(dir) {
                Err(e) if e.kind() == io::ErrorKind::NotFound && retries < 5 => {
                    retries += 1;
                    i = base_at;
                }
                r => r.map_err(|e| os(dir, "making", e))?,
            },
            Step::InitJoin(dir) => {
                let p = dir.join("tasks");
                let f = std::fs::OpenOptions::new().write(true).open(&p);
                made.init_tasks
                    .push(f.map(OwnedFd::from).map_err(|e| os(&p, "opening", e))?);
            }
            Step::Join { app, dir, version } => {
                let open = |name: &str| {
                    let p = dir.join(name);
                    std::fs::OpenOptions::new()
                        .write(true)
                        .open(&p)
                        .map(OwnedFd::from)
                        .map_err(|e| os(&p, "opening", e))
                };
                let j = &mut joins[*app];
                match version {
                    Version::V1 => j.tasks.push(open("tasks")?),
                    Version::V2 => {
                        let d = std::fs::File::open(dir).map_err(|e| os(dir, "opening", e))?;
                        j.v2_dir = Some(d.into());
                        j.v2_procs = Some(open("cgroup.procs")?);
                    }
                }
            }
        }
    }
    Ok((made, joins))
}

/// The shared device cgroup of [`Step::SharedDevices`] (`pods` cannot be a pod's UUID).
const SHARED_DEVICES: &str = "pods";

fn shared_devices(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = dir.with_file_name(format!(".pods-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir(&tmp)?;
    }
    std::fs::create_dir(&tmp)?;
    let made = super::devices::v1_writes()
        .into_iter()
        .try_for_each(|(file, rule)| std::fs::write(tmp.join(file), rule))
        .and_then(|()| std::fs::rename(&tmp, dir));
    if made.is_err() {
        let _ = std::fs::remove_dir(&tmp);
        // Another pod made it meanwhile.
        if dir.is_dir() {
            return Ok(());
        }
    }
    made
}

fn os(p: &Path, what: &str, e: io::Error) -> Error {
    Error::os(format!("{what} {}", p.display()), e)
}

fn check_uuid(uuid: &str) -> Result<()> {
    if uuid.is_empty() || !uuid.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(Error::Spec(format!(
            "pod UUID {uuid:?} cannot name a cgroup"
        )));
    }
    Ok(())
}

impl PodCgroups {
    /// Removes the pod's cgroups (their processes must be gone). `jetpack/` stays for the
    /// next pod (`destroy` and `gc` remove it when it is empty).
    pub fn remove(&mut self) -> io::Result<()> {
        let mut first = Ok(());
        for (dir, apps) in self.dirs.drain(..).rev() {
            let r = apps
                .iter()
                .try_for_each(|a| rmdir_retry(a))
                .and_then(|()| rmdir_retry(&dir));
            if let Err(e) = r {
                first = first.and(Err(io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.display()),
                )));
            }
        }
        first
    }
}

impl Drop for PodCgroups {
    fn drop(&mut self) {
        if let Err(e) = self.remove() {
            tracing::warn!("cannot remove the pod's cgroup ({e}); `jetpack gc` will retry");
        }
    }
}

/// Removes a cgroup and its child cgroups (one level: the apps'). A cgroup whose last process
/// has just been reaped can stay busy for a moment, so EBUSY is retried for up to a second.
fn remove_dir_tree(dir: &Path) -> io::Result<()> {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                rmdir_retry(&e.path())?;
            }
        }
    }
    rmdir_retry(dir)
}

fn rmdir_retry(dir: &Path) -> io::Result<()> {
    let start = Instant::now();
    loop {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    && start.elapsed() < Duration::from_secs(1) =>
            {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => return Err(e),
        }
    }
}

/// The pod's cgroup directories that exist on this host.
pub fn pod_dirs(uuid: &str) -> Vec<PathBuf> {
    if check_uuid(uuid).is_err() {
        return Vec::new();
    }
    Host::detect()
        .hierarchies()
        .into_iter()
        .map(|h| h.pod_dir(uuid))
        .filter(|d| d.is_dir())
        .collect()
}

/// What a process writes `0` to in order to join app `app` of pod `uuid` in every hierarchy
/// (its own cgroup, the pod's where the app has none, or the shared device cgroup):
/// `tasks` on v1, which moves only the writing thread (so the writer must be single-threaded),
/// `cgroup.procs` on v2.
pub(crate) fn join_files(uuid: &str, app: &str) -> Result<Vec<OwnedFd>> {
    check_uuid(uuid)?;
    let host = Host::detect();
    let mut out = Vec::new();
    for h in host.hierarchies() {
        let pod = h.pod_dir(uuid);
        let own = pod.join(format!("app-{app}"));
        let shared = h.path.join("jetpack").join(SHARED_DEVICES);
        let devices = host.devices.as_ref() == Some(h);
        let Some(dir) = [own, pod]
            .into_iter()
            .chain(devices.then_some(shared))
            .find(|d| d.is_dir())
        else {
            continue;
        };
        let file = dir.join(match h.version {
            Version::V1 => "tasks",
            Version::V2 => "cgroup.procs",
        });
        let f = std::fs::OpenOptions::new().write(true).open(&file);
        out.push(f.map(OwnedFd::from).map_err(|e| os(&file, "opening", e))?);
    }
    Ok(out)
}

/// Removes what a pod left in the cgroup hierarchies (its caller was killed before it could),
/// and `jetpack/` where it is empty. Returns whether the pod had any. Fails if a cgroup still
/// has processes.
pub fn remove_pod(uuid: &str) -> Result<bool> {
    let dirs = pod_dirs(uuid);
    for d in &dirs {
        remove_dir_tree(d).map_err(|e| os(d, "removing", e))?;
    }
    remove_empty_bases();
    Ok(!dirs.is_empty())
}

/// Removes `jetpack/` from every hierarchy where no pod has cgroups (a pod starting meanwhile
/// makes it again).
pub fn remove_empty_bases() {
    for h in Host::detect().hierarchies() {
        let _ = std::fs::remove_dir(h.path.join("jetpack"));
    }
}

#[cfg(test)]
mod tests;
