//! Pods on disk: one directory each, a state file written atomically, and a `flock` that is
//! held while the pod is being prepared or is running (the pod's init inherits it). A state
//! that claims work in progress while nobody holds the lock is what a killed process left:
//! `preparing` becomes `aborted`, `running` becomes `exited`.
//!
//! ```text
//! <root>/pods/<uuid>/pod.json        state (below)
//! <root>/pods/<uuid>/manifest        the reified pod manifest
//! <root>/pods/<uuid>/lock            held while preparing or running
//! <root>/pods/<uuid>/apps/<app>/log  stdout and stderr of the app
//! <root>/pods/<uuid>/apps/<app>/exit the app's exit status, written by the pod's init
//! <root>/pods/<uuid>/isolators.json  what became of each isolator at the last start
//! <root>/pods/<uuid>/volumes/<vol>/  `empty` volumes
//! <root>/pods/<uuid>/net.json        the pod's CNI networks, as added (see `network`)
//! <root>/pods/<uuid>/netns           its network namespace while it runs
//! ```
//!
//! `pods/`, each pod's directory, `apps/` and `volumes/` are 0700 and the files written here
//! 0600: the manifest holds `--set-env` values, logs hold app output, and a pod's root can
//! leave setuid binaries in its volumes. A volume itself keeps the mode its manifest asks for
//! (apps inside need it); its private parents keep host users out.

use std::fs::{self, File};
use std::net::IpAddr;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use jetpack_store::{Layout, PodDir};
use serde::{Deserialize, Serialize};

use crate::error::{Error, IoContext, Result};
use crate::restart::Supervision;
pub(crate) use crate::state::now;
use crate::state::{create_private, private_dir, write_json, write_private};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Preparing,
    Prepared,
    Running,
    Exited,
}

/// What `list` and `status` show: the recorded state corrected by the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Preparing,
    /// A prepare that was interrupted; only `destroy` or `gc` applies.
    Aborted,
    Prepared,
    Running,
    /// A detached pod that ended and that its supervisor runs again after a backoff.
    Restarting,
    Exited,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string));
        f.write_str(&s.unwrap_or_default())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppRecord {
    pub name: String,
    pub image: String,
    pub image_name: String,
    /// Name of the app's rootfs clone in the storage backend's pod area.
    pub tree: String,
    /// Host path of the app's writable rootfs.
    pub rootfs: PathBuf,
    /// The clone shows the pod's user namespace ids already (see `Storage::clone_for_pod_mapped`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub rootfs_mapped: bool,
}

/// One network of a running pod, as `list` and `status` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetInfo {
    pub name: String,
    pub ifname: String,
    /// With prefix length: `172.23.0.5/16`.
    pub addresses: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<IpAddr>,
}

/// The state file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodRecord {
    pub uuid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub state: State,
    /// Unix seconds.
    pub created: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exited: Option<i64>,
    /// `host`, `none`, or the pod's networks separated by commas.
    pub net: String,
    /// DNS servers for the pod's /etc/resolv.conf (the host's when empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<std::net::IpAddr>,
    /// `--hostname`, `--hosts-entry`, `--dns-search`, `--dns-opt`.
    #[serde(default, skip_serializing_if = "crate::podopts::EtcOptions::is_empty")]
    pub etc: crate::podopts::EtcOptions,
    /// The pod's networks and addresses while it runs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub networks: Vec<NetInfo>,
    pub apps: Vec<AppRecord>,
    /// Host pid of the pod's init while running.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i32>,
    /// Exit status of the pod's last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<i32>,
    /// The host ids of the pod's user namespace (`--private-users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub userns: Option<jetpack_runtime::IdMap>,
    /// Restart policy, supervisor and readiness (see `restart`).
    #[serde(flatten, default)]
    pub service: Supervision,
}

/// Holds a pod's lock; released on drop or when every process sharing it has exited.
pub struct PodLock(pub File);

/// Suffixes of the hidden directories of a pod being created and of one being destroyed.
const NEW: &str = Layout::POD_NEW_SUFFIX;
const DESTROY: &str = Layout::POD_DESTROY_SUFFIX;

/// Tries to take the lock of the pod directory `dir` without waiting. A directory that is no
/// longer there (a destroy hid or removed it) is [`Error::Gone`].
fn lock_in(dir: &Path) -> Result<Option<PodLock>> {
    let p = PodDir::new(dir).lock();
    let f = match fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(0o600)
        .open(&p)
    {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !dir.exists() => {
            let name = dir.file_name().unwrap_or_default().to_string_lossy();
            let uuid = name.trim_start_matches('.');
            let uuid = uuid.strip_suffix(NEW).or(uuid.strip_suffix(DESTROY));
            return Err(Error::Gone(uuid.unwrap_or(&name).to_string()));
        }
        r => r.at(&p)?,
    };
    match f.try_lock() {
        Ok(()) => Ok(Some(PodLock(f))),
        Err(fs::TryLockError::WouldBlock) => Ok(None),
        Err(fs::TryLockError::Error(e)) => Err(e).at(p).map_err(crate::error::Error::from),
    }
}

/// Takes the lock of the pod directory `dir` (also a hidden one), waiting up to 10 s for a
/// pod that is ending.
pub(crate) fn lock_dir(dir: &Path) -> Result<PodLock> {
    let start = std::time::Instant::now();
    loop {
        if let Some(l) = lock_in(dir)? {
            return Ok(l);
        }
        if start.elapsed() > std::time::Duration::from_secs(10) {
            return Err(Error::Busy(format!("{} is locked", dir.display())));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// For crash tests: a process whose `JETPACK_TEST_STOP_AT` names `point` kills itself there
/// with SIGKILL, as a power cut or `kill -9` would stop it.
pub(crate) fn stop_at(point: &str) {
    if std::env::var_os("JETPACK_TEST_STOP_AT").is_some_and(|v| v == point) {
        let _ = std::process::Command::new("kill")
            .arg("-KILL")
            .arg(std::process::id().to_string())
            .status();
        std::thread::sleep(std::time::Duration::from_secs(60));
        std::process::abort();
    }
}

/// The pods directory of a store.
#[derive(Clone)]
pub struct Pods {
    dir: PathBuf,
    layout: Layout,
}

impl Pods {
    pub fn new(root: &Path) -> Pods {
        let layout = Layout::new(root);
        Pods {
            dir: layout.pods(),
            layout,
        }
    }

    pub fn dir(&self, uuid: &str) -> PathBuf {
        self.layout.pod(uuid)
    }

    /// The entries of the pod's directory.
    pub fn files(&self, uuid: &str) -> PodDir {
        self.layout.pod_dir(uuid)
    }

    /// Takes the store's destroy lock (a flock on `pods/`, waiting): one destroy at a time, so
    /// that a second destroy of a pod waits, then finds it gone.
    pub fn lock_destroys(&self) -> Result<PodLock> {
        let f = File::open(&self.dir).at(&self.dir)?;
        f.lock().at(&self.dir)?;
        Ok(PodLock(f))
    }

    /// Tries to take the pod's lock without waiting.
    pub fn try_lock(&self, uuid: &str) -> Result<Option<PodLock>> {
        lock_in(&self.dir(uuid))
    }

    /// True if some process holds the pod's lock.
    pub fn is_locked(&self, uuid: &str) -> Result<bool> {
        Ok(self.try_lock(uuid)?.is_none())
    }

    /// Creates the directory of a new pod (0700, with `apps/` and `volumes/` 0700 and an empty
    /// manifest 0600 for [`Pods::write_manifest`]) and takes its lock.
    ///
    /// The directory is made whole under a hidden name (`.<uuid>.new`) and renamed into place,
    /// so `pods/<uuid>` always has its state and lock: a process killed before the rename
    /// leaves only a hidden directory with a free lock, which `gc` removes. Callers hold the
    /// store's writers' lock, which `gc` takes too, so `gc` never sees a hidden directory
    /// before its lock is taken.
    pub fn create(&self, rec: &PodRecord) -> Result<PodLock> {
        private_dir(&self.dir)?;
        let d = self.dir(&rec.uuid);
        let new = self.layout.pod_new(&rec.uuid);
        fs::DirBuilder::new().mode(0o700).create(&new).at(&new)?;
        stop_at("pod-created");
        fs::set_permissions(&new, fs::Permissions::from_mode(0o700)).at(&new)?;
        let lock =
            lock_in(&new)?.ok_or_else(|| Error::Busy(format!("pod {} is locked", rec.uuid)))?;
        let files = PodDir::new(&new);
        write_json(&files.state(), rec)?;
        for sub in [files.apps(), files.volumes()] {
            private_dir(&sub)?;
        }
        // Writing over this file (truncating it) keeps its mode.
        create_private(&files.manifest())?;
        fs::rename(&new, &d).at(&d)?;
        Ok(lock)
    }

    /// Hides a pod being destroyed in one rename (`pods/<uuid>` → `pods/.<uuid>.destroy`):
    /// from then on no command sees it, and a destroy killed half-way is finished by `gc`.
    /// Returns the hidden directory.
    pub fn hide_for_destroy(&self, uuid: &str) -> Result<PathBuf> {
        let hidden = self.layout.pod_destroy(uuid);
        fs::rename(self.dir(uuid), &hidden).at(&hidden)?;
        Ok(hidden)
    }

    /// Hidden directories (`.<uuid>.new`, `.<uuid>.destroy`) whose lock is free: what a create
    /// or destroy killed half-way left. Returns (UUID, directory). Callers hold the store's
    /// writers' lock (see [`Pods::create`]).
    pub fn abandoned(&self) -> Result<Vec<(String, PathBuf)>> {
        self.hidden(true)
    }

    /// The UUIDs of the pods being created or destroyed now (hidden, locked).
    pub fn hidden_busy(&self) -> Result<Vec<String>> {
        Ok(self.hidden(false)?.into_iter().map(|(u, _)| u).collect())
    }

    /// The entries of `pods/` (none before the first pod).
    fn entries(&self) -> Result<Vec<fs::DirEntry>> {
        match fs::read_dir(&self.dir) {
            Ok(rd) => rd
                .map(|e| e.at(&self.dir).map_err(crate::error::Error::from))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).at(&self.dir).map_err(crate::error::Error::from),
        }
    }

    fn hidden(&self, free: bool) -> Result<Vec<(String, PathBuf)>> {
        let mut out = Vec::new();
        for e in self.entries()? {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(hidden) = name.strip_prefix('.') else {
                continue;
            };
            let Some(uuid) = hidden
                .strip_suffix(NEW)
                .or_else(|| hidden.strip_suffix(DESTROY))
            else {
                continue;
            };
            // Gone: its destroy finished.
            match lock_in(&e.path()) {
                Ok(l) if l.is_some() == free => out.push((uuid.to_string(), e.path())),
                Ok(_) | Err(Error::Gone(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Writes the pod's manifest (mode 0600: it holds the apps' environment).
    pub fn write_manifest(&self, uuid: &str, bytes: &[u8]) -> Result<()> {
        write_private(&self.layout.pod_dir(uuid).manifest(), bytes)
    }

    /// Creates `apps/<app>/` (0700) for the app's log and exit status; returns its path.
    pub fn create_app_dir(&self, uuid: &str, app: &str) -> Result<PathBuf> {
        let files = self.layout.pod_dir(uuid);
        private_dir(&files.apps())?;
        let d = files.app(app);
        private_dir(&d)?;
        Ok(d)
    }

    /// Writes the state file atomically.
    pub fn save(&self, rec: &PodRecord) -> Result<()> {
        write_json(&self.layout.pod_dir(&rec.uuid).state(), rec)
    }

    pub fn load(&self, uuid: &str) -> Result<PodRecord> {
        let p = self.layout.pod_dir(uuid).state();
        let b = match fs::read(&p) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !self.dir(uuid).exists() => {
                return Err(Error::Gone(uuid.to_string()));
            }
            r => r.at(&p)?,
        };
        serde_json::from_slice(&b)
            .map_err(|e| Error::Invalid(format!("{}: corrupt pod state: {e}", p.display())))
    }

    /// The recorded state corrected by the lock.
    pub fn status(&self, rec: &PodRecord) -> Result<Status> {
        let locked = self.is_locked(&rec.uuid)?;
        Ok(match (rec.state, locked) {
            (State::Preparing, true) => Status::Preparing,
            (State::Preparing, false) => Status::Aborted,
            (State::Prepared, _) => Status::Prepared,
            (State::Running, true) => Status::Running,
            (State::Exited, true) if rec.service.restart_at.is_some() => Status::Restarting,
            (State::Running, false) | (State::Exited, _) => Status::Exited,
        })
    }

    /// Every pod, oldest first. A directory without a valid state is reported as a `preparing`
    /// pod without apps (an aborted prepare when its lock is free). Always `Some`.
    pub fn all(&self) -> Result<Vec<(String, Option<PodRecord>)>> {
        let mut out = Vec::new();
        for e in self.entries()? {
            let uuid = e.file_name().to_string_lossy().into_owned();
            // Pods being created or destroyed (see `Pods::create`, `Pods::hide_for_destroy`).
            if uuid.starts_with('.') {
                continue;
            }
            // A directory without a valid state is no pod anyone can use: it is shown as an
            // aborted prepare (`destroy` and `gc` remove it).
            let rec = match self.load(&uuid) {
                Ok(rec) => rec,
                // Destroyed (hidden) since the directory was read.
                Err(_) if !e.path().exists() => continue,
                Err(_) => PodRecord {
                    uuid: uuid.clone(),
                    name: None,
                    state: State::Preparing,
                    created: e
                        .metadata()
                        .ok()
                        .and_then(|m| m.modified().ok())
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .map(|d| d.as_secs() as i64)
                        .unwrap_or(0),
                    started: None,
                    exited: None,
                    net: String::new(),
                    dns: Vec::new(),
                    etc: Default::default(),
                    networks: Vec::new(),
                    apps: Vec::new(),
                    pid: None,
                    exit: None,
                    userns: None,
                    service: Supervision::default(),
                },
            };
            out.push((uuid, Some(rec)));
        }
        out.sort_by_key(|(u, r)| (r.as_ref().map(|r| r.created).unwrap_or(0), u.clone()));
        Ok(out)
    }

    /// Finds one pod by UUID prefix or name.
    pub fn find(&self, what: &str) -> Result<PodRecord> {
        let all: Vec<PodRecord> = self.all()?.into_iter().filter_map(|(_, r)| r).collect();
        if let Some(r) = all
            .iter()
            .find(|r| r.name.as_deref() == Some(what) || r.uuid == what)
        {
            return Ok(r.clone());
        }
        let hex: String = what.chars().filter(|c| *c != '-').collect();
        // Any prefix, even one digit: several matches are reported as such, not as none.
        let hits: Vec<&PodRecord> = if !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit())
        {
            all.iter()
                .filter(|r| {
                    r.uuid
                        .replace('-', "")
                        .starts_with(&hex.to_ascii_lowercase())
                })
                .collect()
        } else {
            Vec::new()
        };
        match hits.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::NotFound(format!(
                "no pod named or with UUID starting {what:?} (see `jetpack list`)"
            ))),
            many => Err(Error::Invalid(format!(
                "{what:?} is ambiguous: it starts the UUIDs of {} pods ({}); give more of the \
                 UUID, or the pod's name",
                many.len(),
                many.iter()
                    .map(|r| match &r.name {
                        Some(n) => format!("{} {n}", r.uuid),
                        None => r.uuid.clone(),
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Per-app exit statuses recorded by the pod's init.
    pub fn app_exit(&self, uuid: &str, app: &str) -> Option<i32> {
        let p = self.layout.pod_dir(uuid).app_exit(app);
        let text = fs::read_to_string(p).ok()?;
        text.split_whitespace().next()?.parse().ok()
    }

    pub fn log_path(&self, uuid: &str, app: &str) -> PathBuf {
        self.layout.pod_dir(uuid).app_log(app)
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().mode() & 0o7777
    }

    /// A pod's directories are 0700 and its files 0600, also over older files of another mode.
    #[test]
    fn pod_files_are_private() {
        let root = tempfile::tempdir().unwrap();
        let pods = Pods::new(root.path());
        let rec = PodRecord {
            uuid: "0c4b2c9e-6d5a-4c47-9d39-5e3b7c1d2a10".into(),
            name: None,
            state: State::Preparing,
            created: 0,
            started: None,
            exited: None,
            net: "none".into(),
            dns: Vec::new(),
            etc: Default::default(),
            networks: Vec::new(),
            apps: Vec::new(),
            pid: None,
            exit: None,
            userns: None,
            service: Supervision::default(),
        };
        let _lock = pods.create(&rec).unwrap();
        let d = pods.dir(&rec.uuid);
        for p in [
            root.path().join("pods"),
            d.clone(),
            d.join("apps"),
            d.join("volumes"),
        ] {
            assert_eq!(mode(&p), 0o700, "{}", p.display());
        }
        // The manifest is written over the file made with the pod: its mode stays.
        fs::write(d.join("manifest"), "{}").unwrap();
        for f in ["manifest", "pod.json", "lock"] {
            assert_eq!(mode(&d.join(f)), 0o600, "{f}");
        }
        fs::write(d.join("pod.json.tmp"), "left by a crash").unwrap();
        fs::set_permissions(d.join("pod.json.tmp"), fs::Permissions::from_mode(0o644)).unwrap();
        pods.save(&rec).unwrap();
        assert_eq!(mode(&d.join("pod.json")), 0o600);
        pods.write_manifest(&rec.uuid, b"{}").unwrap();
        assert_eq!(mode(&d.join("manifest")), 0o600);
        let app = pods.create_app_dir(&rec.uuid, "app").unwrap();
        assert_eq!(mode(&app), 0o700);
    }
}
