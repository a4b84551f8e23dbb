//! `run`: a prepared (or exited) pod started and waited for. What a start makes — mounted
//! clones, networks, the metadata registration, the pod's `running` state — is held in guards
//! that undo it when dropped, on every path: a failure, an early return or a panic leaves no
//! network, registration or mount behind, and the pod recorded as exited.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use appc::PodManifest;
use jetpack_runtime::PodSpec;
use jetpack_storage::Storage;
use jetpack_store::Store;

use super::spec::{Attach, build_spec, read_manifest};
use crate::engine::{AppStart, Engine, OnReady};
use crate::error::{Error, Result};
use crate::metadata;
use crate::network::{self, Attached, NetMode, PodNetworks};
use crate::notify;
use crate::pods::{PodLock, PodRecord, Pods, State, now};

/// Takes the pod's lock for a start, or says who holds it.
pub fn lock_for_run(pods: &Pods, rec: &PodRecord) -> Result<PodLock> {
    // `status`, `list` and `gc` see whether a pod lives by taking its lock for an instant; a
    // holder that is neither running nor preparing the pod may be one of them, so it gets a
    // moment to let go.
    let start = Instant::now();
    loop {
        if let Some(l) = pods.try_lock(&rec.uuid)? {
            return Ok(l);
        }
        let rec = pods.load(&rec.uuid)?;
        let why = match (rec.state, rec.pid) {
            (State::Running, Some(pid)) => {
                format!("pod {} is running (init pid {pid})", rec.uuid)
            }
            (State::Preparing, _) => format!("pod {} is being prepared", rec.uuid),
            (State::Exited, _) if rec.service.restart_at.is_some() => format!(
                "pod {} is between two runs under its supervisor (pid {}), which restarts it: \
                 `jetpack stop {}` ends that",
                rec.uuid,
                rec.service.supervisor.unwrap_or_default(),
                rec.uuid
            ),
            // `gc` holds it while it unmounts and removes what a killed run left, which on a
            // busy host (several `gc`s and many pods at once) can take seconds.
            _ if start.elapsed() < Duration::from_secs(10) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            _ => format!("pod {} is in use by another jetpack process", rec.uuid),
        };
        return Err(Error::Busy(why));
    }
}

/// The pod's clones, mounted only while the pod runs (overlay): unmounted when dropped.
struct Mounted<'a> {
    storage: &'a dyn Storage,
    trees: Vec<String>,
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        for tree in self.trees.drain(..) {
            if let Err(e) = self.storage.unmount_pod_tree(&tree) {
                tracing::error!("pod tree {tree}: unmounting: {e}");
            }
        }
    }
}

/// The pod's networks once attached: detached when dropped. A failed detach stays recorded
/// in the pod's `net.json`, and `gc` tries again.
struct Networks<'a> {
    engine: &'a dyn Engine,
    pods: &'a Pods,
    uuid: String,
    attached: Option<Attached>,
    /// The pod whose address the engine leased ([`Engine::lease_address`]).
    leased: Option<PodSpec>,
}

impl Drop for Networks<'_> {
    fn drop(&mut self) {
        if let Some(spec) = self.leased.take() {
            self.engine.release_address(&spec);
        }
        if self.attached.take().is_some()
            && let Err(e) = network::detach(self.engine, self.pods, &self.uuid)
        {
            tracing::error!("pod {}: removing its networks: {e}", self.uuid);
        }
    }
}

/// The pod's record from the moment it is being started: recorded as exited when dropped
/// (or by [`PodState::finish`], which reports a failure to save it).
struct PodState<'a> {
    pods: &'a Pods,
    rec: PodRecord,
    exit: Option<i32>,
    done: bool,
}

impl PodState<'_> {
    fn exited(&mut self) -> Result<()> {
        self.done = true;
        let rec = &mut self.rec;
        rec.networks.clear();
        rec.state = State::Exited;
        rec.exited = Some(now());
        rec.pid = None;
        rec.exit = self.exit;
        self.pods.save(rec)
    }

    /// Records the end of the run, whose outcome is `result`.
    fn finish(mut self, result: Result<i32>) -> Result<i32> {
        self.exit = result.as_ref().ok().copied();
        self.exited()?;
        result
    }
}

impl Drop for PodState<'_> {
    fn drop(&mut self) {
        if !self.done
            && let Err(e) = self.exited()
        {
            tracing::error!("pod {}: recording its end: {e}", self.rec.uuid);
        }
    }
}

/// Hears how each app's start went (by app name), once every app has exec'd its main command
/// or ended; called from another thread.
pub type ReadyHook = Box<dyn FnOnce(&[(String, AppStart)]) + Send>;

/// How a pod is started.
#[derive(Default)]
pub struct RunOptions {
    /// The caller's terminal or stdin, and the app it is for.
    pub attach: Attach,
    /// See [`ReadyHook`]. Whatever it is, the pod's state records when the apps had started.
    pub on_ready: Option<ReadyHook>,
    /// The apps' output goes to their logs only (a detached pod).
    pub quiet: bool,
}

/// Starts a prepared or exited pod and waits for it. Returns the pod's exit status (the app's
/// for a one-app pod). An exited pod runs again from fresh clones of its images.
pub fn run_with(engine: &dyn Engine, store: &Store, rec: &PodRecord, tty: bool) -> Result<i32> {
    let attach = Attach {
        tty,
        ..Attach::default()
    };
    run_attached_with(engine, store, rec, &attach)
}

/// [`run_with`], with the caller's terminal or stdin given to the app `attach` names.
pub fn run_attached_with(
    engine: &dyn Engine,
    store: &Store,
    rec: &PodRecord,
    attach: &Attach,
) -> Result<i32> {
    let opts = RunOptions {
        attach: attach.clone(),
        ..RunOptions::default()
    };
    run_with_options(engine, store, rec, opts)
}

/// [`run_with`] with every option.
pub fn run_with_options(
    engine: &dyn Engine,
    store: &Store,
    rec: &PodRecord,
    opts: RunOptions,
) -> Result<i32> {
    let pods = Pods::new(store.root());
    let lock = lock_for_run(&pods, rec)?;
    run_locked(engine, store, &lock, &rec.uuid, opts)
}

/// One run of the pod whose lock the caller holds (and releases after: a supervisor keeps it
/// between runs).
pub(crate) fn run_locked(
    engine: &dyn Engine,
    store: &Store,
    lock: &PodLock,
    uuid: &str,
    opts: RunOptions,
) -> Result<i32> {
    let pods = Pods::new(store.root());
    let mut rec = pods.load(uuid)?;
    // The pod's user namespace, for clones that show its ids.
    let mut ns = fresh_clones(engine, store, &pods, &mut rec)?;
    let mut mounted = Mounted {
        storage: store.storage(),
        trees: Vec::new(),
    };
    if let Some(map) = rec.userns
        && ns.is_none()
        && rec.apps.iter().any(|a| a.rootfs_mapped)
    {
        ns = Some((engine.user_namespace(map)?, map.host));
    }
    for a in &rec.apps {
        let mapped = ns
            .as_ref()
            .filter(|_| a.rootfs_mapped)
            .map(|(ns, host)| (ns.as_fd(), *host));
        mounted.trees.push(a.tree.clone());
        store.storage().mount_pod_tree(&a.image, &a.tree, mapped)?;
    }
    // A run killed earlier may have left its networks.
    network::detach(engine, &pods, &rec.uuid)?;
    let nets = PodNetworks::for_engine(engine, store, &rec.net)?;
    let (manifest_text, manifest) = read_manifest(&pods, &rec.uuid)?;
    let host = nets.isolator_host(&manifest, engine);
    let (mut spec, resolved) = build_spec(&pods, &rec, &manifest, false, &host)?;
    opts.attach.apply(&mut spec)?;
    spec.quiet = opts.quiet;
    let ports = network::port_mappings(&manifest)?;
    // The spec requires telling the user which isolators were enforced, modified or ignored.
    resolved.report.log();
    resolved.report.write(&spec.dir)?;
    let mut networks = Networks {
        engine,
        pods: &pods,
        uuid: rec.uuid.clone(),
        attached: None,
        leased: None,
    };
    if engine.plans_networks() {
        spec.address = engine.lease_address(&spec)?;
        networks.leased = spec.address.map(|_| spec.clone());
    }
    networks.attached = match &nets.mode {
        // The engine gives the pod its network itself.
        _ if engine.plans_networks() => None,
        NetMode::Networks(_) => Some(network::attach(
            engine,
            store,
            &pods,
            &rec.uuid,
            &nets.nets,
            &ports,
            resolved.network_bandwidth,
        )?),
        // Loopback only, in a namespace made here (recorded like a CNI pod's), so that the
        // metadata service can listen in it.
        NetMode::None => Some(network::attach(
            engine,
            store,
            &pods,
            &rec.uuid,
            &[],
            &[],
            None,
        )?),
        NetMode::Host => None,
    };
    // From here on the pod's end is recorded whatever happens (before the networks go, which
    // are dropped first, and the lock, which is released last).
    let mut state = PodState {
        pods: &pods,
        rec,
        exit: None,
        done: false,
    };
    let start = Start {
        engine,
        store,
        pods: &pods,
        lock,
        nets: &nets,
        attached: networks.attached.as_ref(),
        manifest_text: &manifest_text,
        manifest: &manifest,
    };
    let result = start.run(&mut state.rec, &mut spec, opts.on_ready);
    drop(mounted);
    drop(networks);
    state.finish(result)
}

/// An exited (or killed while running) pod starts from fresh clones; returns the pod's user
/// namespace when it made one for them.
fn fresh_clones(
    engine: &dyn Engine,
    store: &Store,
    pods: &Pods,
    rec: &mut PodRecord,
) -> Result<Option<(OwnedFd, u32)>> {
    let mut ns = None;
    match rec.state {
        State::Preparing => {
            return Err(Error::Invalid(format!(
                "pod {} was not fully prepared: destroy it",
                rec.uuid
            )));
        }
        State::Running | State::Exited => {
            // Fresh clones, mounted by the caller (the mount is their check).
            if let Some(map) = rec.userns {
                ns = Some((engine.user_namespace(map)?, map.host));
            }
            for a in &mut rec.apps {
                store.storage().remove_pod_tree(&a.tree)?;
                (a.rootfs, a.rootfs_mapped) = match &ns {
                    None => (store.storage().clone_for_pod(&a.image, &a.tree)?, false),
                    Some((ns, host)) => store.storage().clone_for_pod_mapped(
                        &a.image,
                        &a.tree,
                        ns.as_fd(),
                        *host,
                    )?,
                };
                let _ = fs::remove_file(pods.files(&rec.uuid).app_exit(&a.name));
            }
            rec.state = State::Prepared;
            rec.exit = None;
            pods.save(rec)?;
        }
        State::Prepared => {}
    }
    Ok(ns)
}

/// What the last steps of a start need: the pod's files, its registration, the engine.
struct Start<'a> {
    engine: &'a dyn Engine,
    store: &'a Store,
    pods: &'a Pods,
    lock: &'a PodLock,
    nets: &'a PodNetworks,
    attached: Option<&'a Attached>,
    manifest_text: &'a str,
    manifest: &'a PodManifest,
}

impl Start<'_> {
    /// Writes the pod's `/etc` files, registers it with the metadata service, records it as
    /// running and hands it to the engine; returns its exit status.
    fn run(
        &self,
        rec: &mut PodRecord,
        spec: &mut PodSpec,
        on_ready: Option<ReadyHook>,
    ) -> Result<i32> {
        let ips = self.attached.map(|a| a.ips()).unwrap_or_default();
        spec.netns = self.attached.map(|a| a.netns.clone());
        let rootfs: Vec<PathBuf> = spec.apps.iter().map(|a| a.rootfs.clone()).collect();
        let (mode, etc) = (&self.nets.mode, &rec.etc);
        let provide =
            || network::provide_etc_files(&rootfs, &spec.hostname, mode, &ips, &rec.dns, etc);
        match rec
            .userns
            .filter(|_| rec.apps.iter().any(|a| a.rootfs_mapped))
        {
            // A clone that shows the pod's ids takes new files from the pod's root only.
            Some(map) => jetpack_storage::as_pod_ids(map.host, || Ok(provide()))??,
            None => provide()?,
        }
        // The registration: by its addresses, its token on the host's loopback, or a listener
        // in its namespace. It ends when the session (or its watch) is dropped.
        let access = metadata::access(self.nets, self.attached, spec.address, self.store.config())?;
        let mut session = match access {
            Some(access) => Some(metadata::Session::new(
                self.store,
                &rec.uuid,
                self.manifest_text,
                self.manifest,
                access,
            )?),
            None => None,
        };
        // `exec` gives its commands the URL the apps get, until the pod ends.
        let _url_file = session
            .as_ref()
            .map(|s| metadata::UrlFile::write(self.pods, &rec.uuid, &s.url))
            .transpose()?;
        if let Some(s) = session.as_mut() {
            for app in &mut spec.apps {
                for (k, v) in &mut app.env {
                    if k == "AC_METADATA_URL" {
                        v.clone_from(&s.url);
                    }
                }
            }
            // The pod runs without it rather than not at all.
            if let Err(e) = s.register() {
                tracing::error!("pod {}: metadata service: {e}", rec.uuid);
            }
        }
        rec.networks = self
            .attached
            .map(|a| a.networks.clone())
            .unwrap_or_default();
        rec.state = State::Running;
        rec.started = Some(now());
        rec.service.ready = None;
        self.pods.save(rec)?;
        let mut running = rec.clone();
        let mut watch = None;
        let ready = ready_hook(self.pods.clone(), rec, on_ready);
        let code = self.engine.run(
            spec,
            self.lock,
            &mut |pid| {
                running.pid = Some(pid);
                let _ = self.pods.save(&running);
                // Threads only now: the init has been forked.
                watch = session.take().map(metadata::Session::watch);
            },
            Some(ready),
        );
        notify::stopping();
        drop(watch);
        code
    }
}

/// Records when the apps had started, then tells the caller's hook. The state written before
/// the go (running, with the init's pid) is the one this updates: nothing else writes it
/// until the pod ends, which is after this hook (the engine waits for it).
fn ready_hook(pods: Pods, rec: &PodRecord, then: Option<ReadyHook>) -> OnReady {
    let uuid = rec.uuid.clone();
    let names: Vec<String> = rec.apps.iter().map(|a| a.name.clone()).collect();
    Box::new(move |starts| {
        match pods.load(&uuid) {
            Ok(mut r) if r.state == State::Running => {
                r.service.ready = Some(now());
                if let Err(e) = pods.save(&r) {
                    tracing::warn!("pod {uuid}: recording that its apps started: {e}");
                }
            }
            _ => {}
        }
        // A service manager waiting for the pod (sd_notify) may go on.
        notify::ready();
        if let Some(f) = then {
            f(&names.into_iter().zip(starts).collect::<Vec<_>>());
        }
    })
}
