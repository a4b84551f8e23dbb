//! `prepare`: a pod recorded, its manifest written, a constant-time clone of each app's image
//! and its `empty` volumes.

use std::fs;
use std::path::PathBuf;

use appc::{PodManifest, VolumeKind};
use jetpack_store::Store;

use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::isolators;
use crate::network::{self, NetMode, PodNetworks};
use crate::podopts::EtcOptions;
use crate::pods::{AppRecord, PodRecord, Pods, State, now};
use crate::restart::{RestartPolicy, Supervision};

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
    /// Hostname, `/etc/hosts` entries and resolver settings.
    pub etc: EtcOptions,
    /// What the supervisor of a detached run does when the pod ends.
    pub restart: RestartPolicy,
}

impl Default for PodOptions {
    fn default() -> Self {
        PodOptions {
            name: None,
            net: jetpack_net::DEFAULT_NETWORK.into(),
            dns: Vec::new(),
            ports: Vec::new(),
            private_users: false,
            etc: EtcOptions::default(),
            restart: RestartPolicy::No,
        }
    }
}

fn tree_name(uuid: &str, app: &str) -> String {
    format!("{}-{app}", uuid.replace('-', ""))
}

/// The manifest a pod is prepared with: `manifest` with the host ports of `ports` (`--port
/// NAME:HOSTPORT`) in its `ports`, replacing any of the same name.
pub fn with_ports(manifest: &PodManifest, ports: &[(String, u16)]) -> Result<PodManifest> {
    let mut manifest = manifest.clone();
    for (name, host_port) in ports {
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
    Ok(manifest)
}

/// Prepares a pod: records it, writes the manifest, clones each app's rootfs, creates `empty`
/// volumes. Returns the record; the pod is `prepared` (or, if this fails half-way, `aborted`,
/// which `destroy` and `gc` remove).
pub fn prepare_with(
    engine: &dyn Engine,
    store: &Store,
    manifest: &PodManifest,
    opts: &PodOptions,
) -> Result<PodRecord> {
    let pods = Pods::new(store.root());
    let manifest = &with_ports(manifest, &opts.ports)?;
    // Networks, ports and isolators that cannot work fail here, before any work.
    let nets = PodNetworks::for_engine(engine, store, &opts.net)?;
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
    isolators::resolve(manifest, &nets.isolator_host(manifest, engine))?;
    opts.etc.check()?;
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
        etc: opts.etc.clone(),
        networks: Vec::new(),
        apps: Vec::new(),
        pid: None,
        exit: None,
        userns,
        service: Supervision {
            restart_policy: opts.restart,
            ..Supervision::default()
        },
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
    // Last use is what `image gc` keeps recent images by; a failure to record it costs the
    // image only its reprieve, never the pod.
    let used: Vec<&str> = rec.apps.iter().map(|a| a.image.as_str()).collect();
    if let Err(e) = store.record_use(&used) {
        tracing::warn!("cannot record the use of the pod's images: {e}");
    }
    pods.write_manifest(&uuid, manifest.to_json_pretty().as_bytes())?;
    for i in 0..rec.apps.len() {
        let (name, image, tree) = {
            let a = &rec.apps[i];
            (a.name.clone(), a.image.clone(), a.tree.clone())
        };
        pods.create_app_dir(&uuid, &name)?;
        let (rootfs, mapped) = clone_for_pod(engine, store, &image, &tree, rec.userns)?;
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
    engine: &dyn Engine,
    store: &Store,
    image: &str,
    tree: &str,
    userns: Option<jetpack_runtime::IdMap>,
) -> Result<(PathBuf, bool)> {
    let storage = store.storage();
    let ns = userns
        .map(|map| Ok::<_, Error>((engine.user_namespace(map)?, map.host)))
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
