//! Pod lifecycle in stage0: prepare (reified manifest, constant-time clones), run (resolve the
//! pod to a `PodSpec` and hand it to the engine), stop, kill, destroy, gc.

use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use appc::{PodManifest, VolumeKind};
use jetpack_runtime::{AppSpec, MountSpec, PodSpec};
use jetpack_store::{PodDir, Store};

use crate::engine;
use crate::error::{Error, IoContext, Result};
use crate::isolators::{self, Resolved};
use crate::metadata;
use crate::network::{self, NetMode, PodNetworks};
use crate::pods::{AppRecord, PodLock, PodRecord, Pods, State, Status, now};

/// The PATH an app gets when its image does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Pod-level choices made at prepare time.
#[derive(Debug, Clone)]
pub struct PodOptions {
    pub name: Option<String>,
    /// `host`, `none` (loopback only), or network names separated by commas.
    pub net: String,
    /// DNS servers for the pod (the host's when empty).
    pub dns: Vec<std::net::IpAddr>,
    /// Host ports forwarded to the app port of that name (added to the manifest's `ports`).
    pub ports: Vec<(String, u16)>,
    /// A user namespace: the pod's root is an unprivileged host uid of a range of its own.
    pub private_users: bool,
}

impl Default for PodOptions {
    fn default() -> Self {
        PodOptions {
            name: None,
            net: jetpack_net::DEFAULT_NETWORK.into(),
            dns: Vec::new(),
            ports: Vec::new(),
            private_users: false,
        }
    }
}

fn tree_name(uuid: &str, app: &str) -> String {
    format!("{}-{app}", uuid.replace('-', ""))
}

/// Prepares a pod: records it, writes the manifest, clones each app's rootfs, creates `empty`
/// volumes. Returns the record; the pod is `prepared` (or, if this fails half-way, `aborted`,
/// which `destroy` and `gc` remove).
pub fn prepare(store: &Store, manifest: &PodManifest, opts: &PodOptions) -> Result<PodRecord> {
    let pods = Pods::new(store.root());
    let mut manifest = manifest.clone();
    for (name, host_port) in &opts.ports {
        let name = <appc::AcName as std::str::FromStr>::from_str(name)
            .map_err(|e| Error::Invalid(format!("port {name:?}: {e}")))?;
        manifest.ports.retain(|p| p.name != name);
        manifest.ports.push(appc::ExposedPort {
            name,
            host_port: *host_port,
            host_ip: None,
            pod_port: None,
        });
    }
    let manifest = &manifest;
    // Networks, ports and isolators that cannot work fail here, before any work.
    let nets = PodNetworks::load(store, &opts.net)?;
    let ports = network::port_mappings(manifest)?;
    match &nets.mode {
        NetMode::Networks(_) => {}
        _ if !ports.is_empty() => {
            return Err(Error::Invalid(format!(
                "ports are forwarded to a pod network; with --net={} the apps use the host's ports directly",
                opts.net
            )));
        }
        _ => {}
    }
    isolators::resolve(manifest, &nets.isolator_host(manifest))?;
    // Isolators that must not run (unknown system calls, ...) fail here, before any work.
    // (networks are checked below, before the isolators that depend on them)
    if let Some(n) = &opts.name {
        <appc::AcName as std::str::FromStr>::from_str(n)
            .map_err(|e| Error::Invalid(format!("pod name {n:?}: {e}")))?;
        if pods
            .all()?
            .iter()
            .any(|(_, r)| r.as_ref().and_then(|r| r.name.as_deref()) == Some(n))
        {
            return Err(Error::Invalid(format!(
                "a pod named {n:?} exists already: destroy it or pick another name"
            )));
        }
    }
    let uuid = uuid::Uuid::new_v4().hyphenated().to_string();
    // The pod, its id range and the images its apps use are recorded under the store's
    // writers' lock: image removal and gc, which take it too, see either no pod or one that
    // names its images, never a half-made directory.
    let writers = store.lock_writers()?;
    let userns = opts
        .private_users
        .then(|| crate::userns::allocate(store.root(), &uuid))
        .transpose()?;
    let mut rec = PodRecord {
        uuid: uuid.clone(),
        name: opts.name.clone(),
        state: State::Preparing,
        created: now(),
        started: None,
        exited: None,
        net: opts.net.clone(),
        dns: opts.dns.clone(),
        networks: Vec::new(),
        apps: Vec::new(),
        pid: None,
        exit: None,
        userns,
    };
    // Every app is recorded before cloning, so an interrupted prepare still names what to
    // remove, and image removal sees the images in use.
    for ra in &manifest.apps {
        rec.apps.push(AppRecord {
            name: ra.name.to_string(),
            image: ra
                .image
                .id
                .as_ref()
                .map(|i| i.to_string())
                .unwrap_or_default(),
            image_name: ra
                .image
                .name
                .as_ref()
                .map(|n| n.to_string())
                .unwrap_or_default(),
            tree: tree_name(&uuid, ra.name.as_str()),
            rootfs: PathBuf::new(),
            rootfs_mapped: false,
        });
    }
    let _lock = pods.create(&rec)?;
    drop(writers);
    pods.write_manifest(&uuid, manifest.to_json_pretty().as_bytes())?;
    for i in 0..rec.apps.len() {
        let (name, image, tree) = {
            let a = &rec.apps[i];
            (a.name.clone(), a.image.clone(), a.tree.clone())
        };
        pods.create_app_dir(&uuid, &name)?;
        let (rootfs, mapped) = clone_for_pod(store, &image, &tree, rec.userns)?;
        let a = &mut rec.apps[i];
        (a.rootfs, a.rootfs_mapped) = (rootfs, mapped);
    }
    make_empty_volumes(&pods, &uuid, manifest)?;
    rec.state = State::Prepared;
    pods.save(&rec)?;
    Ok(rec)
}

/// An app's rootfs clone; with a user namespace, shown with the pod's ids where the backend
/// can (the bool says so). The clone is mounted and unmounted at once (overlay): one that
/// cannot be mounted fails now, when the pod is prepared, not when it starts.
fn clone_for_pod(
    store: &Store,
    image: &str,
    tree: &str,
    userns: Option<jetpack_runtime::IdMap>,
) -> Result<(PathBuf, bool)> {
    let storage = store.storage();
    let ns = userns
        .map(|map| Ok::<_, Error>((engine::user_namespace(map)?, map.host)))
        .transpose()?;
    let (rootfs, mapped) = match &ns {
        None => (storage.clone_for_pod(image, tree)?, false),
        Some((ns, host)) => {
            storage.clone_for_pod_mapped(image, tree, std::os::fd::AsFd::as_fd(ns), *host)?
        }
    };
    let mount = ns
        .as_ref()
        .filter(|_| mapped)
        .map(|(ns, host)| (std::os::fd::AsFd::as_fd(ns), *host));
    let checked = storage
        .mount_pod_tree(image, tree, mount)
        .and_then(|()| storage.unmount_pod_tree(tree));
    if let Err(e) = checked {
        if let Err(e) = storage.remove_pod_tree(tree) {
            tracing::warn!("pod tree {tree}: removing after a failed mount: {e}");
        }
        return Err(e.into());
    }
    Ok((rootfs, mapped))
}

fn make_empty_volumes(pods: &Pods, uuid: &str, manifest: &PodManifest) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let vols = manifest.volumes.iter().chain(
        manifest
            .apps
            .iter()
            .flat_map(|a| a.mounts.iter().filter_map(|m| m.app_volume.as_ref())),
    );
    for v in vols {
        if let VolumeKind::Empty { mode, uid, gid } = v.kind {
            let p = pods.files(uuid).volume(v.name.as_str());
            fs::create_dir_all(&p).at(&p)?;
            std::os::unix::fs::chown(&p, Some(uid), Some(gid)).at(&p)?;
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).at(&p)?;
        }
    }
    Ok(())
}

/// Resolves the pod to what the engine needs, and reports what becomes of its isolators. Every
/// lookup that can fail on bad input (user, group, exec, working directory, volume source,
/// isolators) fails here, before anything runs.
pub fn build_spec(
    pods: &Pods,
    rec: &PodRecord,
    manifest: &PodManifest,
    tty: bool,
    host: &isolators::Host,
) -> Result<(PodSpec, Resolved)> {
    let dir = pods.dir(&rec.uuid);
    let isolators = isolators::resolve(manifest, host)?;
    let resolved = isolators.clone();
    let mut apps = Vec::new();
    for (ra, (resources, security)) in manifest.apps.iter().zip(isolators.apps) {
        let name = ra.name.as_str();
        let fail = |what: String| Error::Invalid(format!("app {name}: {what}"));
        let arec = rec
            .apps
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| fail("not prepared".into()))?;
        let app = ra
            .app
            .as_ref()
            .ok_or_else(|| fail("no app in the pod manifest".into()))?;
        let rootfs = arec.rootfs.clone();
        let uid = engine::resolve_user(&rootfs, &app.user).map_err(&fail)?;
        let gid = engine::resolve_group(&rootfs, &app.group).map_err(&fail)?;
        let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
        for e in &app.environment {
            match env.iter_mut().find(|(k, _)| *k == e.name) {
                Some(slot) => slot.1 = e.value.clone(),
                None => env.push((e.name.clone(), e.value.clone())),
            }
        }
        env.push(("AC_APP_NAME".into(), name.to_string()));
        env.push(("AC_METADATA_URL".into(), String::new()));
        env.push(("container".into(), "jetpack".into()));
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        engine::find_exec(&rootfs, &app.exec[0], &path).map_err(&fail)?;
        let working_dir = app.working_directory.clone().unwrap_or_else(|| "/".into());
        engine::check_dir(&rootfs, &working_dir)
            .map_err(|e| fail(format!("working directory: {e}")))?;
        let mut mounts = Vec::new();
        for m in &ra.mounts {
            let vol = m
                .app_volume
                .as_ref()
                .or_else(|| manifest.volume(m.volume.as_str()))
                .ok_or_else(|| fail(format!("no volume {:?}", m.volume.as_str())))?;
            let source = match &vol.kind {
                VolumeKind::Host { source } => {
                    let meta = fs::symlink_metadata(source).map_err(|e| {
                        fail(format!("volume {}: host path {source}: {e}", vol.name))
                    })?;
                    if meta.file_type().is_symlink() {
                        return Err(fail(format!(
                            "volume {}: host path {source} is a symlink; give the path it points to",
                            vol.name
                        )));
                    }
                    PathBuf::from(source)
                }
                VolumeKind::Empty { .. } => PodDir::new(&dir).volume(vol.name.as_str()),
            };
            let mp_ro = app
                .mount_points
                .iter()
                .any(|mp| mp.path == m.path && mp.read_only);
            mounts.push(MountSpec {
                source,
                target: m.path.clone(),
                read_only: vol.is_read_only() || mp_ro,
                recursive: vol.is_recursive(),
            });
        }
        let handler = |n| app.event_handler(n).map(|h| h.exec.clone());
        apps.push(AppSpec {
            name: name.to_string(),
            rootfs,
            exec: app.exec.clone(),
            env,
            uid,
            gid,
            supplementary_gids: app.supplementary_gids.clone(),
            working_dir,
            mounts,
            read_only_rootfs: ra.read_only_root_fs,
            pre_start: handler(appc::EventName::PreStart),
            post_stop: handler(appc::EventName::PostStop),
            resources,
            security,
            rootfs_mapped: arec.rootfs_mapped,
        });
    }
    if tty && apps.len() != 1 {
        return Err(Error::Invalid(
            "-t attaches a terminal to a single app; this pod has several".into(),
        ));
    }
    let spec = PodSpec {
        uuid: rec.uuid.clone(),
        hostname: rec
            .name
            .clone()
            .unwrap_or_else(|| format!("jetpack-{}", &rec.uuid[..8])),
        net: if rec.net == "host" {
            jetpack_runtime::NetMode::Host
        } else {
            jetpack_runtime::NetMode::Loopback
        },
        netns: None,
        dir,
        apps,
        tty,
        resources: isolators.pod,
        userns: rec.userns,
    };
    Ok((spec, resolved))
}

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
            // `gc` holds it while it unmounts and removes what a killed run left, which on a
            // busy host takes more than an instant.
            _ if start.elapsed() < Duration::from_secs(2) => {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            _ => format!("pod {} is in use by another jetpack process", rec.uuid),
        };
        return Err(Error::Busy(why));
    }
}

/// Starts a prepared or exited pod and waits for it. Returns the pod's exit status (the app's
/// for a one-app pod). An exited pod runs again from fresh clones of its images.
pub fn run(store: &Store, rec: &PodRecord, tty: bool) -> Result<i32> {
    let pods = Pods::new(store.root());
    let lock = lock_for_run(&pods, rec)?;
    let mut rec = pods.load(&rec.uuid)?;
    // The pod's user namespace, for clones that show its ids.
    let mut ns = None;
    match rec.state {
        State::Preparing => {
            return Err(Error::Invalid(format!(
                "pod {} was not fully prepared: destroy it",
                rec.uuid
            )));
        }
        State::Running | State::Exited => {
            // Fresh clones, mounted below (the mount is their check).
            if let Some(map) = rec.userns {
                ns = Some((engine::user_namespace(map)?, map.host));
            }
            for a in &mut rec.apps {
                store.storage().remove_pod_tree(&a.tree)?;
                (a.rootfs, a.rootfs_mapped) = match &ns {
                    None => (store.storage().clone_for_pod(&a.image, &a.tree)?, false),
                    Some((ns, host)) => store.storage().clone_for_pod_mapped(
                        &a.image,
                        &a.tree,
                        std::os::fd::AsFd::as_fd(ns),
                        *host,
                    )?,
                };
                let _ = fs::remove_file(pods.files(&rec.uuid).app_exit(&a.name));
            }
            rec.state = State::Prepared;
            rec.exit = None;
            pods.save(&rec)?;
        }
        State::Prepared => {}
    }
    // The clones are mounted only while the pod runs (overlay): unmounted when this returns,
    // whatever happened.
    struct Mounted<'a>(&'a dyn jetpack_storage::Storage, Vec<String>);
    impl Drop for Mounted<'_> {
        fn drop(&mut self) {
            for tree in self.1.drain(..) {
                if let Err(e) = self.0.unmount_pod_tree(&tree) {
                    tracing::error!("pod tree {tree}: unmounting: {e}");
                }
            }
        }
    }
    let mut mounted = Mounted(store.storage(), Vec::new());
    {
        if let Some(map) = rec.userns
            && ns.is_none()
            && rec.apps.iter().any(|a| a.rootfs_mapped)
        {
            ns = Some((engine::user_namespace(map)?, map.host));
        }
        for a in &rec.apps {
            let mapped = ns
                .as_ref()
                .filter(|_| a.rootfs_mapped)
                .map(|(ns, host)| (std::os::fd::AsFd::as_fd(ns), *host));
            mounted.1.push(a.tree.clone());
            store.storage().mount_pod_tree(&a.image, &a.tree, mapped)?;
        }
    }
    // A run killed earlier may have left its networks.
    network::detach(&pods, &rec.uuid)?;
    let nets = PodNetworks::load(store, &rec.net)?;
    let (manifest_text, manifest) = read_manifest(&pods, &rec.uuid)?;
    let (mut spec, resolved) =
        build_spec(&pods, &rec, &manifest, tty, &nets.isolator_host(&manifest))?;
    let ports = network::port_mappings(&manifest)?;
    // The spec requires telling the user which isolators were enforced, modified or ignored.
    resolved.report.log();
    resolved.report.write(&spec.dir)?;
    let attached = match &nets.mode {
        NetMode::Networks(_) => Some(network::attach(
            store,
            &pods,
            &rec.uuid,
            &nets.nets,
            &ports,
            resolved.network_bandwidth,
        )?),
        // Loopback only, in a namespace made here (recorded like a CNI pod's), so that the
        // metadata service can listen in it.
        NetMode::None => Some(network::attach(store, &pods, &rec.uuid, &[], &[], None)?),
        NetMode::Host => None,
    };
    let result = (|| {
        let ips = attached.as_ref().map(|a| a.ips()).unwrap_or_default();
        spec.netns = attached.as_ref().map(|a| a.netns.clone());
        let rootfs: Vec<PathBuf> = spec.apps.iter().map(|a| a.rootfs.clone()).collect();
        let provide =
            || network::provide_etc_files(&rootfs, &spec.hostname, &nets.mode, &ips, &rec.dns);
        match rec
            .userns
            .filter(|_| rec.apps.iter().any(|a| a.rootfs_mapped))
        {
            // A clone that shows the pod's ids takes new files from the pod's root only.
            Some(map) => jetpack_storage::as_pod_ids(map.host, || Ok(provide()))??,
            None => provide()?,
        }
        // By its addresses, its token on the host's loopback, or a listener in its namespace.
        let mut session = match metadata::access(&nets, attached.as_ref(), store.config())? {
            Some(access) => Some(metadata::Session::new(
                store,
                &rec.uuid,
                &manifest_text,
                &manifest,
                access,
            )?),
            None => None,
        };
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
        rec.networks = attached
            .as_ref()
            .map(|a| a.networks.clone())
            .unwrap_or_default();
        rec.state = State::Running;
        rec.started = Some(now());
        pods.save(&rec)?;
        let mut running = rec.clone();
        let mut watch = None;
        let code = engine::run(&spec, &lock, |pid| {
            running.pid = Some(pid);
            let _ = pods.save(&running);
            // Threads only now: the init has been forked.
            watch = session.take().map(metadata::Session::watch);
        });
        drop(watch);
        code
    })();
    drop(mounted);
    if attached.is_some()
        && let Err(e) = network::detach(&pods, &rec.uuid)
    {
        // Recorded: `gc` tries again.
        tracing::error!("pod {}: removing its networks: {e}", rec.uuid);
    }
    rec.networks.clear();
    rec.state = State::Exited;
    rec.exited = Some(now());
    rec.pid = None;
    rec.exit = result.as_ref().ok().copied();
    pods.save(&rec)?;
    drop(lock);
    result
}

pub fn load_manifest(pods: &Pods, uuid: &str) -> Result<PodManifest> {
    Ok(read_manifest(pods, uuid)?.1)
}

/// The pod's manifest as stored (the metadata service serves these exact bytes) and parsed.
fn read_manifest(pods: &Pods, uuid: &str) -> Result<(String, PodManifest)> {
    let p = pods.files(uuid).manifest();
    let text = fs::read_to_string(&p).at(&p)?;
    let manifest = PodManifest::from_slice(text.as_bytes())?;
    Ok((text, manifest))
}

/// Sends SIGTERM, then SIGKILL after `timeout`; returns once the pod has exited.
pub fn stop(store: &Store, rec: &PodRecord, timeout: Duration) -> Result<()> {
    let pods = Pods::new(store.root());
    let Some(pid) = running_pid(&pods, rec)? else {
        return Err(Error::Invalid(format!("pod {} is not running", rec.uuid)));
    };
    engine::signal(pid, engine::Signal::Term)?;
    if wait_unlocked(&pods, &rec.uuid, timeout)? {
        return Ok(());
    }
    engine::signal(pid, engine::Signal::Kill)?;
    wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
    Ok(())
}

/// SIGKILL to the pod's init: the kernel ends every process of the pod.
pub fn kill(store: &Store, rec: &PodRecord) -> Result<()> {
    let pods = Pods::new(store.root());
    let Some(pid) = running_pid(&pods, rec)? else {
        return Err(Error::Invalid(format!("pod {} is not running", rec.uuid)));
    };
    engine::signal(pid, engine::Signal::Kill)?;
    wait_unlocked(&pods, &rec.uuid, Duration::from_secs(10))?;
    Ok(())
}

fn running_pid(pods: &Pods, rec: &PodRecord) -> Result<Option<i32>> {
    let rec = pods.load(&rec.uuid)?;
    Ok(match pods.status(&rec)? {
        Status::Running => rec.pid,
        _ => None,
    })
}

fn wait_unlocked(pods: &Pods, uuid: &str, timeout: Duration) -> Result<bool> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if !pods.is_locked(uuid)? {
            return Ok(true);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(false)
}

/// Removes a pod (killing it first if it runs): its clones, cgroups, volumes, logs and state.
///
/// Networks and cgroups go first (the pod stays whole if that fails); then the pod is hidden in
/// one rename, which is the point of no return: a destroy killed after it leaves a hidden
/// directory that no command shows and `gc` finishes removing, never a pod that claims to be
/// prepared without its clones.
pub fn destroy(store: &Store, uuid: &str) -> Result<()> {
    let pods = Pods::new(store.root());
    let rec = pods.load(uuid).ok();
    if let Some(rec) = &rec {
        match pods.status(rec) {
            Ok(Status::Running) => kill(store, rec)?,
            Ok(Status::Preparing) => {
                return Err(Error::Busy(format!(
                    "pod {uuid} is being prepared by another process"
                )));
            }
            // Hidden by another destroy since it was read: finished below.
            Ok(_) | Err(Error::Gone(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // A pod whose `jetpack run` was killed leaves its cgroups and networks; its processes are
    // gone.
    engine::remove_cgroups(uuid)?;
    network::detach(&pods, uuid)?;
    if !pods.dir(uuid).exists() {
        // Hidden and locked: another process is destroying it, and removes its clones.
        if pods.hidden_busy()?.iter().any(|u| u == uuid) {
            return Ok(());
        }
        return remove_pod_leftovers(store, uuid, None);
    }
    // Held until the end (the lock moves with the directory): a `run` cannot start the pod,
    // and a `gc` running now leaves the hidden directory to us.
    let _lock = match crate::pods::lock_dir(&pods.dir(uuid)) {
        // Another destroy hid it first: that one removes the rest.
        Err(Error::Gone(_)) => return Ok(()),
        r => r?,
    };
    let hidden = pods.hide_for_destroy(uuid)?;
    crate::pods::stop_at("pod-hidden");
    if let Some(map) = rec.as_ref().and_then(|r| r.userns.as_ref()) {
        crate::userns::release(store.root(), uuid, map);
    }
    remove_pod_leftovers(store, uuid, Some(&hidden))
}

/// Removes the clones of pod `uuid` and its (hidden) directory.
fn remove_pod_leftovers(store: &Store, uuid: &str, dir: Option<&std::path::Path>) -> Result<()> {
    let prefix = format!("{}-", uuid.replace('-', ""));
    for t in store.storage().pod_trees()? {
        if t.starts_with(&prefix) {
            remove_tree(store, &t)?;
            crate::pods::stop_at("pod-tree-removed");
        }
    }
    if let Some(dir) = dir {
        fs::remove_dir_all(dir).at(dir)?;
    }
    Ok(())
}

/// Removes the clone `tree`. A `gc` and the `destroy` of the tree's pod may both remove it
/// (the pod was hidden after `gc` listed the pods): the one that finds it gone mid-way is done.
fn remove_tree(store: &Store, tree: &str) -> Result<()> {
    let mut tries = 0;
    loop {
        match store.storage().remove_pod_tree(tree) {
            Ok(()) => return Ok(()),
            Err(e) if !store.storage().pod_trees()?.iter().any(|t| t == tree) => {
                tracing::debug!("pod tree {tree}: removed by another process ({e})");
                return Ok(());
            }
            // The other process may still be removing it: what it left, this one removes.
            Err(_) if tries < 5 => tries += 1,
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes pods that exited longer than `grace` ago, interrupted prepares, clones that no pod
/// owns, and the cgroups of pods whose `jetpack run` was killed. Returns the UUIDs (or tree
/// names, or `cgroups of UUID`) removed.
pub fn gc(store: &Store, grace: Duration) -> Result<Vec<String>> {
    let pods = Pods::new(store.root());
    let mut removed = Vec::new();
    // Prepares record their pods under the writers' lock (see `prepare`): holding it, a
    // hidden directory with a free lock is what a killed create or destroy left.
    let _writers = store.lock_writers()?;
    for (uuid, dir) in pods.abandoned()? {
        engine::remove_cgroups(&uuid)?;
        remove_pod_leftovers(store, &uuid, Some(&dir))?;
        removed.push(uuid);
    }
    let cutoff = now() - grace.as_secs() as i64;
    // The clones of pods being destroyed now are their destroy's to remove.
    let mut live: std::collections::HashSet<String> = pods
        .hidden_busy()?
        .into_iter()
        .map(|u| u.replace('-', ""))
        .collect();
    for (uuid, _) in pods.all()? {
        // The lock first, then the state: a state read before the lock may be that of a
        // prepare or run that ended in between, and a finished prepare is no aborted one.
        let lock = match pods.try_lock(&uuid) {
            // Destroyed by another process since it was listed: nothing left for gc.
            Err(Error::Gone(_)) => continue,
            r => r?,
        };
        let Some(lock) = lock else {
            // Being prepared or running.
            live.insert(uuid.replace('-', ""));
            continue;
        };
        let rec = match pods.load(&uuid) {
            Ok(r) => Some(r),
            Err(_) if !pods.dir(&uuid).exists() => continue,
            // A directory without a valid state is an aborted prepare.
            Err(_) => None,
        };
        // Under its lock a pod is neither being prepared nor running.
        let garbage = rec.as_ref().is_none_or(|r| match r.state {
            State::Preparing => true,
            State::Prepared => false,
            State::Running | State::Exited => r.exited.or(r.started).unwrap_or(r.created) <= cutoff,
        });
        if garbage {
            drop(lock);
            destroy(store, &uuid)?;
            removed.push(uuid);
            continue;
        }
        // An exited pod kept for its grace period may still have cgroups, if its `jetpack
        // run` was killed, and its overlay mounts: a pod that is not running holds none.
        // Under the pod's lock, so that a new run is not disturbed.
        for a in rec.iter().flat_map(|r| &r.apps) {
            store.storage().unmount_pod_tree(&a.tree)?;
        }
        if engine::remove_cgroups(&uuid)? {
            removed.push(format!("cgroups of {uuid}"));
        }
        if network::detach(&pods, &uuid)? {
            removed.push(format!("networks of {uuid}"));
        }
        live.insert(uuid.replace('-', ""));
    }
    for t in store.storage().pod_trees()? {
        let owner = t.split('-').next().unwrap_or_default();
        if !live.contains(owner) {
            remove_tree(store, &t)?;
            removed.push(format!("tree {t}"));
        }
    }
    // Id ranges of pods that no longer exist (a prepare killed before it recorded its range).
    let orphans = crate::userns::release_orphans(store.root(), |uuid| pods.dir(uuid).exists());
    if orphans > 0 {
        removed.push(format!("{orphans} user namespace id range(s)"));
    }
    engine::tidy_cgroups();
    Ok(removed)
}

/// How `enter` runs its command.
#[derive(Debug, Clone, Default)]
pub struct EnterOptions {
    /// A user of the app's image (name or number) instead of the app's.
    pub user: Option<String>,
    /// Every capability and no seccomp filter or no_new_privs (the app's cgroups and
    /// namespaces still apply).
    pub privileged: bool,
}

/// Runs `command` (default `/bin/sh`) in a running pod's app, in the app's security context:
/// its user (unless `opts.user`), groups, capabilities, no_new_privs and seccomp filter.
pub fn enter(
    store: &Store,
    rec: &PodRecord,
    app: &str,
    command: &[String],
    tty: bool,
    opts: &EnterOptions,
) -> Result<i32> {
    let pods = Pods::new(store.root());
    if !rec.apps.iter().any(|a| a.name == app) {
        return Err(Error::NotFound(format!(
            "pod {} has no app {app:?}",
            rec.uuid
        )));
    }
    let Some(pid) = running_pid(&pods, rec)? else {
        return Err(Error::Invalid(format!("pod {} is not running", rec.uuid)));
    };
    let default = vec!["/bin/sh".to_string()];
    let manifest = load_manifest(&pods, &rec.uuid)?;
    // The app as `run` resolved it (the same lookups, the same isolators).
    let nets = PodNetworks::load(store, &rec.net)?;
    let (spec, _) = build_spec(&pods, rec, &manifest, false, &nets.isolator_host(&manifest))?;
    let a = spec
        .apps
        .into_iter()
        .find(|a| a.name == app)
        .ok_or_else(|| Error::NotFound(format!("pod {} has no app {app:?}", rec.uuid)))?;
    let (uid, gid, groups) = match &opts.user {
        None => (a.uid, a.gid, a.supplementary_gids),
        Some(u) => {
            let uid = engine::resolve_user(&a.rootfs, u)
                .map_err(|e| Error::Invalid(format!("--user {u}: {e}")))?;
            let gid = engine::user_gid(&a.rootfs, uid).unwrap_or(uid);
            (uid, gid, Vec::new())
        }
    };
    let ctx = engine::EnterContext {
        uuid: rec.uuid.clone(),
        uid,
        gid,
        groups,
        working_dir: a.working_dir,
        security: (!opts.privileged).then_some(a.security),
        userns: rec.userns.is_some(),
    };
    let path = manifest
        .app(app)
        .and_then(|a| a.app.as_ref())
        .and_then(|a| a.environment.iter().find(|e| e.name == "PATH"))
        .map(|e| e.value.clone())
        .unwrap_or_else(|| DEFAULT_PATH.into());
    let mut env = vec![
        ("PATH".to_string(), path),
        ("HOME".to_string(), "/root".to_string()),
        ("AC_APP_NAME".to_string(), app.to_string()),
        ("container".to_string(), "jetpack".to_string()),
    ];
    if let Ok(term) = std::env::var("TERM") {
        env.push(("TERM".into(), term));
    }
    engine::enter(
        pid,
        app,
        if command.is_empty() {
            &default
        } else {
            command
        },
        &env,
        tty,
        &ctx,
    )
}
