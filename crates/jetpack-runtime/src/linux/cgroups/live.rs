//! The cgroups of a live pod: made from the [`steps`](super::steps) with retries, the files
//! an app opens to join its own, and their removal when the pod ends or by `destroy` and `gc`.

use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::error::{Error, Result};
use crate::spec::Resources;

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
                    for (file, rule) in crate::linux::devices::v1_writes() {
                        let p = dir.join(file);
                        std::fs::write(&p, &rule)
                            .map_err(|e| os(&p, &format!("writing {rule:?} to"), e))?;
                    }
                }
                Version::V2 => crate::linux::devices::attach_program(dir)
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
pub(super) const SHARED_DEVICES: &str = "pods";

fn shared_devices(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let tmp = dir.with_file_name(format!(".pods-{}", std::process::id()));
    if tmp.exists() {
        std::fs::remove_dir(&tmp)?;
    }
    std::fs::create_dir(&tmp)?;
    let made = crate::linux::devices::v1_writes()
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
