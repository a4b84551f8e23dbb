//! The spec builder: a prepared pod resolved to what the engine runs. Every lookup that can
//! fail on bad input fails here, before anything runs.

use std::fs;
use std::path::PathBuf;

use appc::{PodManifest, VolumeKind};
use jetpack_runtime::{AppSpec, EmptyVolume, MountSpec, PodSpec, PortSpec, VolumeSpec};
use jetpack_store::PodDir;

use crate::error::{Error, IoContext, Result};
use crate::isolators::{self, Resolved};
use crate::pods::{PodRecord, Pods, Status};
use crate::rootfs;

/// The PATH an app gets when its image does not set one.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

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
        let uid = rootfs::resolve_user(&rootfs, &app.user).map_err(&fail)?;
        let gid = rootfs::resolve_group(&rootfs, &app.group).map_err(&fail)?;
        let mut env: Vec<(String, String)> = vec![("PATH".into(), DEFAULT_PATH.into())];
        for e in &app.environment {
            match env.iter_mut().find(|(k, _)| *k == e.name) {
                Some(slot) => slot.1 = e.value.clone(),
                None => env.push((e.name.clone(), e.value.clone())),
            }
        }
        // The runtime's own variables win over any of the same name.
        env.retain(|(k, _)| !matches!(k.as_str(), "AC_APP_NAME" | "AC_METADATA_URL" | "container"));
        env.push(("AC_APP_NAME".into(), name.to_string()));
        env.push(("AC_METADATA_URL".into(), String::new()));
        env.push(("container".into(), "jetpack".into()));
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        rootfs::find_exec(&rootfs, &app.exec[0], &path).map_err(&fail)?;
        let working_dir = app.working_directory.clone().unwrap_or_else(|| "/".into());
        rootfs::check_dir(&rootfs, &working_dir)
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
                volume: m
                    .app_volume
                    .is_none()
                    .then(|| vol.name.as_str().to_string()),
            });
        }
        let handler = |n| app.event_handler(n).map(|h| h.exec.clone());
        apps.push(AppSpec {
            name: name.to_string(),
            rootfs,
            os: ra.image.labels.get("os").map(str::to_string),
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
    let volumes = volumes(manifest, &dir);
    let spec = PodSpec {
        uuid: rec.uuid.clone(),
        hostname: rec
            .etc
            .hostname
            .clone()
            .or_else(|| rec.name.clone())
            .unwrap_or_else(|| format!("jetpack-{}", &rec.uuid[..8])),
        net: if rec.net == "host" {
            jetpack_runtime::NetMode::Host
        } else {
            jetpack_runtime::NetMode::Loopback
        },
        netns: None,
        networks: match crate::network::NetMode::parse(&rec.net)? {
            crate::network::NetMode::Networks(names) => names,
            _ => Vec::new(),
        },
        address: None,
        dir,
        apps,
        tty,
        interactive: false,
        attached_app: 0,
        quiet: false,
        resources: isolators.pod,
        userns: rec.userns,
        volumes,
        ports: crate::network::port_mappings(manifest)?
            .into_iter()
            .map(|p| PortSpec {
                protocol: p.protocol,
                host_port: p.host_port,
                pod_port: p.container_port,
            })
            .collect(),
        annotations: manifest
            .annotations
            .iter()
            .map(|a| (a.name.as_str().to_string(), a.value.clone()))
            .collect(),
    };
    Ok((spec, resolved))
}

/// The pod's volumes with their host paths (an empty volume's directory in the pod's).
fn volumes(manifest: &PodManifest, dir: &std::path::Path) -> Vec<VolumeSpec> {
    manifest
        .volumes
        .iter()
        .map(|v| {
            let (source, empty) = match &v.kind {
                VolumeKind::Host { source } => (PathBuf::from(source), None),
                VolumeKind::Empty { mode, uid, gid } => (
                    PodDir::new(dir).volume(v.name.as_str()),
                    Some(EmptyVolume {
                        mode: *mode,
                        uid: *uid,
                        gid: *gid,
                    }),
                ),
            };
            VolumeSpec {
                name: v.name.as_str().to_string(),
                source,
                read_only: v.is_read_only(),
                empty,
            }
        })
        .collect()
}

/// What `run` gives the caller's terminal (`-t`) or stdin (`-i`) to, and which app gets it
/// (`--app NAME`; a one-app pod's app when absent).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attach {
    pub tty: bool,
    pub interactive: bool,
    pub app: Option<String>,
}

impl Attach {
    /// The index of the app that gets the terminal or stdin among the pod's `apps` (by name);
    /// an error that says what to give when there is no telling.
    pub fn app_index(&self, apps: &[&str]) -> Result<usize> {
        let names = || apps.join(", ");
        if self.app.is_some() && !self.tty && !self.interactive {
            return Err(Error::Invalid(
                "--app names the app that gets the terminal (-t) or stdin (-i): give one".into(),
            ));
        }
        match (&self.app, apps.len()) {
            (Some(n), _) => apps.iter().position(|a| a == n).ok_or_else(|| {
                Error::Invalid(format!(
                    "--app {n:?}: the pod has no such app ({})",
                    names()
                ))
            }),
            (None, _) if !self.tty && !self.interactive => Ok(0),
            (None, 1) => Ok(0),
            (None, _) => Err(Error::Invalid(format!(
                "{} gives the terminal or stdin to one app; this pod has several: name it with \
                 --app NAME ({})",
                if self.tty { "-t" } else { "-i" },
                names()
            ))),
        }
    }

    /// Sets the spec's terminal or stdin, and the app it is for.
    pub fn apply(&self, spec: &mut PodSpec) -> Result<()> {
        let names: Vec<&str> = spec.apps.iter().map(|a| a.name.as_str()).collect();
        spec.attached_app = self.app_index(&names)?;
        spec.tty = self.tty;
        spec.interactive = self.interactive && !self.tty;
        Ok(())
    }
}

pub fn load_manifest(pods: &Pods, uuid: &str) -> Result<PodManifest> {
    Ok(read_manifest(pods, uuid)?.1)
}

/// The pod's reified manifest as stored, pretty JSON (what `jetpack manifest` prints). A pod
/// whose prepare did not finish has none.
pub fn manifest_text(pods: &Pods, rec: &PodRecord) -> Result<String> {
    match pods.status(rec)? {
        s @ (Status::Preparing | Status::Aborted) => Err(Error::Invalid(format!(
            "pod {} is {s}: it has no manifest (`jetpack destroy` removes it)",
            rec.uuid
        ))),
        _ => Ok(read_manifest(pods, &rec.uuid)?.0),
    }
}

/// The pod's manifest as stored (the metadata service serves these exact bytes) and parsed.
pub(crate) fn read_manifest(pods: &Pods, uuid: &str) -> Result<(String, PodManifest)> {
    let p = pods.files(uuid).manifest();
    let text = fs::read_to_string(&p).at(&p)?;
    let manifest = PodManifest::from_slice(text.as_bytes())?;
    Ok((text, manifest))
}
