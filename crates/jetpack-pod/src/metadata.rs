//! The pod's side of the metadata service: its URL and token, its registration, and starting
//! the service when none runs, so that a pod never goes without it.
//!
//! The registration is a connection held for the pod's life. A watcher thread, started once
//! the pod's init exists (no thread may exist across that fork), registers again should the
//! service be restarted while the pod runs.
//!
//! How the service recognises the pod depends on its network ([`Access`]): by its addresses on
//! a pod network; by token alone on `127.0.0.1` for a pod on the host's network; on a listener
//! of its own, bound on `127.0.0.1` in its namespace and handed over with the registration,
//! for a pod with loopback only.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use jetpack_mds::{AppImage, Registered, Registration};
use jetpack_store::{Config, Layout, Store};

use crate::error::{Error, IoContext, Result};
use crate::network::{Attached, NetMode, PodNetworks};

/// Where the service keeps its state: `<root>/mds/{key,lock,control.sock,log}`.
pub fn dir(root: &Path) -> PathBuf {
    Layout::new(root).mds()
}

/// The service's files in the store.
pub struct ServiceFiles {
    pub key: PathBuf,
    pub lock: PathBuf,
    pub control: PathBuf,
    pub log: PathBuf,
}

pub fn files(root: &Path) -> ServiceFiles {
    let l = Layout::new(root);
    ServiceFiles {
        key: l.mds_key(),
        lock: l.mds_lock(),
        control: l.mds_control(),
        log: l.mds_log(),
    }
}

/// Makes the service's directory (root only) and its HMAC key; kept across restarts.
pub fn init(root: &Path) -> Result<bool> {
    use std::os::unix::fs::DirBuilderExt;
    let d = dir(root);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&d)
        .at(&d)?;
    jetpack_mds::ensure_host_key(&files(root).key).map_err(|e| Error::Runtime(e.to_string()))
}

/// The service's port, `mds.port`.
pub fn port(cfg: &Config) -> Result<u16> {
    Ok(cfg.settings().mds.port)
}

static SERVICE_BINARY: OnceLock<PathBuf> = OnceLock::new();

/// The `jetpack` binary that runs `jetpack mds` when a pod needs the service and none runs.
pub fn set_service_binary(path: PathBuf) {
    let _ = SERVICE_BINARY.set(path);
}

/// Starts `jetpack mds` in the background with this store's configuration; it exits on its
/// own once no pod has used it for a while.
fn start_service(cfg: &Config, root: &Path) -> Result<std::process::Child> {
    let Some(bin) = SERVICE_BINARY.get() else {
        return Err(Error::Runtime(
            "the metadata service is not running and this program cannot start it".into(),
        ));
    };
    let f = files(root);
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&f.log)
        .at(&f.log)?;
    let mut c = std::process::Command::new(bin);
    c.args(cfg.to_args());
    use std::os::unix::process::CommandExt;
    c.args(["mds", "--idle-exit", "300"])
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().at(&f.log)?)
        .stderr(log)
        // Its own process group: a ^C meant for the pod does not reach it.
        .process_group(0);
    c.spawn()
        .map_err(|e| Error::Runtime(format!("starting {} mds: {e}", bin.display())))
}

/// How a pod reaches the metadata service, and so how the service knows it.
pub enum Access {
    /// From its addresses on its networks, at the service's main address.
    Addresses(Vec<IpAddr>, SocketAddr),
    /// On the host's network: at `127.0.0.1:port`, by its token alone.
    HostLoopback(u16),
    /// Loopback only: this listener, on `127.0.0.1:port` in the pod's namespace, is handed to
    /// the service with each registration.
    OwnListener(OwnedFd, u16),
}

/// The pod's way to the service: `None` without a default network (the service listens on
/// its host address, and runs only with one).
pub fn access(
    nets: &PodNetworks,
    attached: Option<&Attached>,
    planned: Option<IpAddr>,
    cfg: &Config,
) -> Result<Option<Access>> {
    let Some(host) = nets.service_host else {
        tracing::warn!("no default network: the pod gets no metadata service");
        return Ok(None);
    };
    let port = port(cfg)?;
    Ok(Some(match (&nets.mode, attached) {
        (NetMode::Host, _) => Access::HostLoopback(port),
        (NetMode::None, Some(a)) => {
            Access::OwnListener(crate::network::loopback_listener(&a.netns, port)?, port)
        }
        (_, Some(a)) => Access::Addresses(a.ips(), SocketAddr::new(host, port)),
        // An address the engine gave (a jail's on the jail interface).
        (NetMode::Networks(_), None) if planned.is_some() => {
            Access::Addresses(planned.into_iter().collect(), SocketAddr::new(host, port))
        }
        (_, None) => return Ok(None),
    }))
}

/// A pod's registration, kept (and renewed) for as long as this value lives.
pub struct Session {
    reg: Registration,
    /// The pod's own listener, handed over again with each registration.
    listener: Option<OwnedFd>,
    control: PathBuf,
    cfg: Config,
    root: PathBuf,
    registered: Option<Registered>,
    pub url: String,
}

impl Session {
    /// Prepares the registration of a pod that reaches the service by `access`, and makes
    /// the pod's URL.
    pub fn new(
        store: &Store,
        uuid: &str,
        pod_manifest: &str,
        manifest: &appc::PodManifest,
        access: Access,
    ) -> Result<Session> {
        let mut apps = Vec::new();
        for ra in &manifest.apps {
            let id = ra
                .image
                .id
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_default();
            let bytes = store.manifest_bytes(&id)?;
            apps.push(AppImage {
                name: ra.name.to_string(),
                image_manifest: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
        let token = jetpack_mds::new_token();
        let loopback = |port| SocketAddr::new(Ipv4Addr::LOCALHOST.into(), port);
        let (addr, ips, token_only, listener) = match access {
            Access::Addresses(ips, addr) => (addr, ips, false, None),
            Access::HostLoopback(port) => (loopback(port), Vec::new(), true, None),
            Access::OwnListener(fd, port) => (loopback(port), Vec::new(), false, Some(fd)),
        };
        Ok(Session {
            url: jetpack_mds::metadata_url(addr, &token),
            listener,
            reg: Registration {
                uuid: uuid.to_string(),
                token,
                ips,
                token_only,
                pod_manifest: pod_manifest.to_string(),
                apps,
            },
            control: files(store.root()).control,
            cfg: store.config().clone(),
            root: store.root().to_path_buf(),
            registered: None,
        })
    }

    /// Registers, starting the service if none answers.
    pub fn register(&mut self) -> Result<()> {
        self.registered = Some(register(
            &self.reg,
            self.listener.as_ref(),
            &self.control,
            &self.cfg,
            &self.root,
        )?);
        Ok(())
    }

    /// Keeps the registration alive from a thread until the returned guard is dropped.
    pub fn watch(mut self) -> Watch {
        let stop = Arc::new(AtomicBool::new(false));
        let closer = Arc::new(Mutex::new(
            self.registered.as_ref().and_then(|r| r.closer().ok()),
        ));
        let (flag, current) = (stop.clone(), closer.clone());
        let thread = std::thread::spawn(move || {
            while let Some(r) = self.registered.as_mut() {
                let _ = r.wait_closed();
                if flag.load(Ordering::Acquire) {
                    break;
                }
                let uuid = &self.reg.uuid;
                tracing::warn!("pod {uuid}: the metadata service went away; registering again");
                std::thread::sleep(Duration::from_millis(100));
                let listener = self.listener.as_ref();
                self.registered =
                    register(&self.reg, listener, &self.control, &self.cfg, &self.root)
                        .inspect_err(|e| tracing::error!("pod {uuid}: {e}"))
                        .ok();
                let mut c = current.lock().unwrap_or_else(|p| p.into_inner());
                *c = self.registered.as_ref().and_then(|r| r.closer().ok());
                // Stopped meanwhile: nobody will close the new registration but us.
                if flag.load(Ordering::Acquire) {
                    break;
                }
            }
        });
        Watch {
            stop,
            closer,
            thread: Some(thread),
        }
    }
}

fn register(
    reg: &Registration,
    listener: Option<&OwnedFd>,
    control: &Path,
    cfg: &Config,
    root: &Path,
) -> Result<Registered> {
    let timeout = Duration::from_secs(2);
    let started = Instant::now();
    let mut launched: Option<std::process::Child> = None;
    loop {
        let fd = listener.map(|l| l.as_fd());
        match jetpack_mds::register_with_listener(control, reg, fd, timeout) {
            Ok(r) => return Ok(r),
            Err(jetpack_mds::Error::NotRunning) if started.elapsed() < Duration::from_secs(5) => {
                match launched.as_mut().map(|c| c.try_wait()) {
                    None => launched = Some(start_service(cfg, root)?),
                    // It could not start (a service that finds another one starting exits 0):
                    // say why instead of waiting.
                    Some(Ok(Some(st))) if !st.success() => {
                        let log = files(root).log;
                        let text = std::fs::read_to_string(&log).unwrap_or_default();
                        let why = text.lines().last().unwrap_or("no message");
                        return Err(Error::Runtime(format!(
                            "the metadata service did not start ({st}): {why} (log: {})",
                            log.display()
                        )));
                    }
                    _ => {}
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => return Err(Error::Runtime(e.to_string())),
        }
    }
}

/// The running pod's metadata URL in its directory (`PodDir::metadata_url`, 0600), for the
/// commands `exec` runs in it: the token exists only in the pod's `jetpack run`. Removed on
/// drop, when the pod ends; one a killed run left is replaced by the next run and never read
/// while the pod is not running.
pub struct UrlFile(PathBuf);

impl UrlFile {
    pub fn write(pods: &crate::pods::Pods, uuid: &str, url: &str) -> Result<UrlFile> {
        let path = pods.files(uuid).metadata_url();
        crate::state::write_private(&path, url.as_bytes())?;
        Ok(UrlFile(path))
    }

    /// The URL recorded for the running pod `uuid`; `None` when it has none (no metadata
    /// service: its apps got an empty `AC_METADATA_URL`).
    pub fn read(pods: &crate::pods::Pods, uuid: &str) -> Result<Option<String>> {
        let path = pods.files(uuid).metadata_url();
        match std::fs::read_to_string(&path) {
            Ok(url) => Ok(Some(url)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).at(&path).map_err(Error::from),
        }
    }
}

impl Drop for UrlFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Ends the registration (and its watcher) on drop.
pub struct Watch {
    stop: Arc<AtomicBool>,
    closer: Arc<Mutex<Option<jetpack_mds::Closer>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        let c = self.closer.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = c.as_ref() {
            c.close();
        }
        drop(c);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
