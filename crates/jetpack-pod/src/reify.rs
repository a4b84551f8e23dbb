//! Reification (spec §8.2): every app names its image by full ID, every app has its effective
//! `app` (the image's, patched by per-app options), every mount point is satisfied by a volume —
//! unsatisfied ones become `empty` volumes named after the mount point, shared by the pod.

use std::collections::BTreeSet;
use std::str::FromStr;

use appc::{
    AcIdentifier, AcName, App, EnvVar, ImageId, Isolator, Mount, PodManifest, RuntimeApp, Volume,
    VolumeKind,
};

pub use crate::podopts::{parse_mount, parse_volume};
use jetpack_store::{Pick, Store};

use crate::error::{Error, Result};

/// One app as the command line asks for it.
#[derive(Debug, Clone, Default)]
pub struct AppRequest {
    /// Image ID prefix or `NAME[:VERSION][,LABEL=VALUE…]`.
    pub image: String,
    /// App name; derived from the image name when absent.
    pub name: Option<String>,
    pub exec: Option<String>,
    /// Arguments after `--`; replace the image's arguments when given.
    pub args: Option<Vec<String>>,
    pub env: Vec<(String, String)>,
    pub user: Option<String>,
    pub group: Option<String>,
    pub working_dir: Option<String>,
    /// (volume, target path)
    pub mounts: Vec<(String, String)>,
    pub annotations: Vec<(String, String)>,
    pub read_only_rootfs: bool,
    /// Isolators from `--memory`, `--cpu`, `--caps-retain`, `--caps-remove`, `--seccomp`
    /// ([`parse_isolator`]); each replaces the image's isolators of its kind.
    pub isolators: Vec<Isolator>,
    /// `--supplementary-gids` after the image: replaces the pod's and the image's.
    pub supplementary_gids: Option<Vec<u32>>,
}

/// A pod as the command line asks for it.
#[derive(Debug, Clone, Default)]
pub struct PodRequest {
    pub apps: Vec<AppRequest>,
    pub volumes: Vec<Volume>,
    pub annotations: Vec<(String, String)>,
    /// `--insecure-options=image-privileges`: accept the capabilities and seccomp sets images
    /// ask for beyond the defaults (see [`crate::isolators::image_privileges`]).
    pub image_privileges: bool,
    /// `--set-env`/`--set-env-file` before the first image: every app's, over the image's,
    /// under the app's own.
    pub env: Vec<(String, String)>,
    /// `--inherit-env`: the caller's environment, under everything else.
    pub inherited_env: Vec<(String, String)>,
    /// `--supplementary-gids` before the first image: every app's groups, unless the app has
    /// its own.
    pub supplementary_gids: Option<Vec<u32>>,
    /// `--mount` before the first image: (volume, target) in every app, unless the app mounts
    /// something else at that target.
    pub mounts: Vec<(String, String)>,
}

impl PodRequest {
    /// Whether options that change every app's `app` were given (they need images: a
    /// `--pod-manifest` says each app's own).
    pub fn has_app_wide_options(&self) -> bool {
        !self.env.is_empty()
            || !self.inherited_env.is_empty()
            || self.supplementary_gids.is_some()
            || !self.mounts.is_empty()
    }
}

/// Sets `name` to `value` in `env`, in place when it is there.
fn set_env(env: &mut Vec<EnvVar>, name: &str, value: &str) {
    match env.iter_mut().find(|e| e.name == name) {
        Some(e) => e.value = value.to_string(),
        None => env.push(EnvVar {
            name: name.to_string(),
            value: value.to_string(),
        }),
    }
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::Invalid(msg.into())
}

/// Parses a per-app isolator option, as rkt has them:
///
/// ```text
/// --memory=QUANTITY            resource/memory limit (e.g. 512M, 1Gi)
/// --cpu=QUANTITY               resource/cpu limit (e.g. 500m, 2)
/// --caps-retain=CAP,...        os/linux/capabilities-retain-set
/// --caps-remove=CAP,...        os/linux/capabilities-remove-set
/// --seccomp=mode=retain|remove[,errno=ENAME],SYSCALL,...
/// --seccomp=@docker/default    the default filter (remove set, EPERM)
/// --seccomp=@appc.io/all       no filter
/// ```
///
/// (A missing request means the limit, as appc says.)
pub fn parse_isolator(option: &str, value: &str) -> Result<Isolator> {
    let bad = |m: String| invalid(format!("{option} {value:?}: {m}"));
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect()
    };
    let iso = match option {
        "--memory" | "--cpu" => {
            let q = appc::Quantity::from_str(value).map_err(|e| bad(e.to_string()))?;
            let r = appc::Resource {
                default: false,
                request: None,
                limit: Some(q),
            };
            if option == "--memory" {
                Isolator::ResourceMemory(r)
            } else {
                Isolator::ResourceCpu(r)
            }
        }
        "--caps-retain" => Isolator::CapabilitiesRetainSet(list(value)),
        "--caps-remove" => Isolator::CapabilitiesRemoveSet(list(value)),
        "--seccomp" => {
            let (mut mode, mut errno, mut set) = (None, None, Vec::new());
            for item in list(value) {
                match item.split_once('=') {
                    Some(("mode", m)) => mode = Some(m.to_string()),
                    Some(("errno", e)) => errno = Some(e.to_string()),
                    Some((k, _)) => return Err(bad(format!("unknown key {k:?}"))),
                    None => set.push(item),
                }
            }
            // A group alone says its mode: `--seccomp=@appc.io/all` turns filtering off,
            // `--seccomp=@docker/default` is the default filter (EPERM unless told).
            let group = |g: &str| set.iter().any(|n| n == g);
            let mode = mode.as_deref().or(if group("@appc.io/all") {
                Some("retain")
            } else if group("@appc.io/empty") || group(crate::isolators::DEFAULT_SECCOMP) {
                if errno.is_none() && group(crate::isolators::DEFAULT_SECCOMP) {
                    errno = Some("EPERM".into());
                }
                Some("remove")
            } else {
                None
            });
            let s = appc::Seccomp { set, errno };
            match mode {
                Some("retain") => Isolator::SeccompRetainSet(s),
                Some("remove") => Isolator::SeccompRemoveSet(s),
                _ => {
                    return Err(bad(
                        "expected mode=retain or mode=remove, then [errno=ENAME,]SYSCALL,... \
                         (or @docker/default, or @appc.io/all for no filter)"
                            .into(),
                    ));
                }
            }
        }
        _ => return Err(invalid(format!("{option} is not an isolator option"))),
    };
    iso.validate().map_err(|e| bad(e.to_string()))?;
    Ok(iso)
}

/// Names of the isolators that an isolator given on the command line replaces.
fn replaced_by(iso: &Isolator) -> &'static [&'static str] {
    use appc::isolator_names::*;
    match iso {
        Isolator::ResourceMemory(_) => &[RESOURCE_MEMORY],
        Isolator::ResourceCpu(_) => &[RESOURCE_CPU],
        Isolator::CapabilitiesRetainSet(_) | Isolator::CapabilitiesRemoveSet(_) => {
            &[CAPABILITIES_RETAIN_SET, CAPABILITIES_REMOVE_SET]
        }
        Isolator::SeccompRetainSet(_) | Isolator::SeccompRemoveSet(_) => {
            &[SECCOMP_RETAIN_SET, SECCOMP_REMOVE_SET]
        }
        _ => &[],
    }
}

fn annotations(list: &[(String, String)], what: &str) -> Result<appc::Annotations> {
    let mut a = appc::Annotations::default();
    for (k, v) in list {
        let name = AcIdentifier::from_str(k)
            .map_err(|e| invalid(format!("{what} annotation {k:?}: {e}")))?;
        a.set(name, v.clone())
            .map_err(|e| invalid(format!("{what} annotation {k:?}: {e}")))?;
    }
    Ok(a)
}

/// The effective `app` of one request: the image's, with the request's overrides applied.
fn effective_app(req: &AppRequest, pod: &PodRequest, image: &appc::ImageManifest) -> Result<App> {
    let image_privileges = pod.image_privileges;
    let mut app = match (&image.app, &req.exec) {
        (Some(a), _) => a.clone(),
        (None, Some(_)) => App {
            user: "0".into(),
            group: "0".into(),
            ..App::default()
        },
        (None, None) => {
            return Err(invalid(format!(
                "image {} has no app to run: give --exec (and arguments after --)",
                image.name
            )));
        }
    };
    if let Some(exec) = &req.exec {
        app.exec = vec![exec.clone()];
    }
    if let Some(args) = &req.args {
        app.exec.truncate(1);
        app.exec.extend(args.iter().cloned());
    }
    if app.exec.is_empty() {
        return Err(invalid(format!(
            "image {} has an empty exec: give --exec",
            image.name
        )));
    }
    // The caller's environment under the image's, the pod's over it, the app's over all.
    for (k, v) in &pod.inherited_env {
        if !app.environment.iter().any(|e| &e.name == k) {
            set_env(&mut app.environment, k, v);
        }
    }
    for (k, v) in pod.env.iter().chain(&req.env) {
        set_env(&mut app.environment, k, v);
    }
    if let Some(g) = req
        .supplementary_gids
        .as_ref()
        .or(pod.supplementary_gids.as_ref())
    {
        app.supplementary_gids.clone_from(g);
    }
    if let Some(u) = &req.user {
        app.user = u.clone();
    }
    if let Some(g) = &req.group {
        app.group = g.clone();
    }
    if let Some(w) = &req.working_dir {
        if !w.starts_with('/') {
            return Err(invalid(format!(
                "--working-dir {w:?} must be an absolute path"
            )));
        }
        app.working_directory = Some(w.clone());
    }
    for iso in &req.isolators {
        let names = replaced_by(iso);
        app.isolators.retain(|i| !names.contains(&i.name()));
    }
    let from_image = app.isolators.len();
    app.isolators.extend(req.isolators.iter().cloned());
    app.validate().map_err(Error::Manifest)?;
    if !image_privileges {
        let origin: Vec<bool> = (0..app.isolators.len()).map(|i| i < from_image).collect();
        refuse_image_privileges(&image.name, &app.isolators, &origin)?;
    }
    Ok(app)
}

/// Fails when the image's own isolators ask for more than an app gets by default and the
/// operator did not grant it.
fn refuse_image_privileges(image: &AcIdentifier, list: &[Isolator], origin: &[bool]) -> Result<()> {
    match crate::isolators::image_privileges(list, origin) {
        None => Ok(()),
        Some(what) => Err(invalid(format!("image {image} asks for {what}"))),
    }
}

/// Builds the reified pod manifest for `req`; returns it with each app's image manifest.
pub fn reify(store: &Store, req: &PodRequest) -> Result<(PodManifest, Vec<appc::ImageManifest>)> {
    if req.apps.is_empty() {
        return Err(invalid("a pod needs at least one image"));
    }
    let mut pod = PodManifest::new();
    pod.volumes = req.volumes.clone();
    pod.annotations = annotations(&req.annotations, "pod")?;
    let mut images = Vec::new();
    let mut names = BTreeSet::new();
    for r in &req.apps {
        let row = store.lookup(&r.image, Pick::Newest)?;
        let manifest = store.manifest(&row.id)?;
        let name = match &r.name {
            Some(n) => AcName::from_str(n).map_err(|e| invalid(format!("app name {n:?}: {e}")))?,
            None => AcName::from_image_name(&manifest.name)
                .map_err(|e| invalid(format!("image {}: {e}", manifest.name)))?,
        };
        if !names.insert(name.to_string()) {
            return Err(invalid(format!(
                "two apps are named \"{name}\": give one of them another name with --app-name"
            )));
        }
        let app = effective_app(r, req, &manifest)?;
        // The pod's mounts first, but not at a target the app mounts something else at.
        let pod_wide = req
            .mounts
            .iter()
            .filter(|(_, t)| !r.mounts.iter().any(|m| &m.1 == t));
        let mounts = pod_wide
            .chain(&r.mounts)
            .map(|(v, t)| {
                let volume = AcName::from_str(v)
                    .map_err(|e| invalid(format!("--mount volume {v:?}: {e}")))?;
                Ok(Mount {
                    volume,
                    path: t.clone(),
                    app_volume: None,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let image = appc::RuntimeImage {
            id: Some(ImageId::from_str(&row.id).map_err(Error::Manifest)?),
            name: Some(manifest.name.clone()),
            labels: manifest.labels.clone(),
        };
        pod.apps.push(RuntimeApp {
            name,
            image,
            app: Some(app),
            read_only_root_fs: r.read_only_rootfs,
            mounts,
            annotations: annotations(&r.annotations, "app")?,
        });
        images.push(manifest);
    }
    satisfy_mount_points(&mut pod)?;
    pod.validate().map_err(Error::Manifest)?;
    Ok((pod, images))
}

/// Reifies a pod manifest given by the user: each app's image resolved to a full ID (by ID, or
/// by name and labels with the newest match winning), its `app` taken from the image when the
/// manifest has none, and every mount point satisfied. The isolators the manifest gives are
/// the operator's; those of an `app` taken from the image are the image's, and what they ask
/// beyond the defaults needs `image_privileges`.
pub fn resolve_manifest(
    store: &Store,
    pod: &mut PodManifest,
    image_privileges: bool,
) -> Result<()> {
    for ra in &mut pod.apps {
        let row = match (&ra.image.id, &ra.image.name) {
            (Some(id), _) => store.lookup(id.as_str(), Pick::Newest)?,
            (None, Some(name)) => {
                let mut reference = name.to_string();
                for l in ra.image.labels.iter() {
                    reference.push_str(&format!(",{}={}", l.name, l.value));
                }
                store.lookup(&reference, Pick::Newest)?
            }
            (None, None) => {
                return Err(invalid(format!(
                    "app {}: the image has neither id nor name",
                    ra.name
                )));
            }
        };
        let manifest = store.manifest(&row.id)?;
        ra.image.id = Some(ImageId::from_str(&row.id).map_err(Error::Manifest)?);
        if ra.image.name.is_none() {
            ra.image.name = Some(manifest.name.clone());
        }
        if ra.app.is_none() {
            ra.app = manifest.app.clone();
            if let Some(app) = ra.app.as_ref().filter(|_| !image_privileges) {
                let origin = vec![true; app.isolators.len()];
                refuse_image_privileges(&manifest.name, &app.isolators, &origin)
                    .map_err(|e| invalid(format!("app {}: {e}", ra.name)))?;
            }
        }
        match &ra.app {
            Some(a) if !a.exec.is_empty() => {}
            _ => {
                return Err(invalid(format!(
                    "app {}: neither the pod manifest nor image {} gives an exec",
                    ra.name, manifest.name
                )));
            }
        }
    }
    satisfy_mount_points(pod)?;
    pod.validate().map_err(Error::Manifest)
}

/// Gives every mount point a mount: an explicit one for its path, else a volume of its name
/// (the pre-0.7 convention), else a new `empty` volume of its name shared by the pod.
pub fn satisfy_mount_points(pod: &mut PodManifest) -> Result<()> {
    let mut new_volumes = Vec::new();
    for ra in &mut pod.apps {
        let Some(app) = &ra.app else { continue };
        for mp in &app.mount_points {
            if ra.mounts.iter().any(|m| m.path == mp.path) {
                continue;
            }
            let exists = pod
                .volumes
                .iter()
                .chain(new_volumes.iter())
                .any(|v: &Volume| v.name == mp.name);
            if !exists {
                new_volumes.push(Volume {
                    name: mp.name.clone(),
                    kind: VolumeKind::Empty {
                        mode: 0o755,
                        uid: 0,
                        gid: 0,
                    },
                    read_only: None,
                    recursive: None,
                });
            }
            ra.mounts.push(Mount {
                volume: mp.name.clone(),
                path: mp.path.clone(),
                app_volume: None,
            });
        }
        for m in &ra.mounts {
            let known = m.app_volume.is_some()
                || pod
                    .volumes
                    .iter()
                    .chain(new_volumes.iter())
                    .any(|v| v.name == m.volume);
            if !known {
                return Err(invalid(format!(
                    "app {}: mount of volume {:?} at {}, but the pod has no such volume: add --volume {},kind=host,source=PATH",
                    ra.name,
                    m.volume.as_str(),
                    m.path,
                    m.volume.as_str()
                )));
            }
        }
    }
    pod.volumes.extend(new_volumes);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn isolator_options() {
        let json = |o: &str, v: &str| serde_json::to_value(parse_isolator(o, v).unwrap()).unwrap();
        assert_eq!(
            json("--memory", "512M"),
            serde_json::json!({"name": "resource/memory", "value": {"limit": "512M"}})
        );
        assert_eq!(
            json("--cpu", "250m"),
            serde_json::json!({"name": "resource/cpu", "value": {"limit": "250m"}})
        );
        assert_eq!(
            json("--caps-retain", "CAP_CHOWN,CAP_KILL"),
            serde_json::json!({"name": "os/linux/capabilities-retain-set",
                               "value": {"set": ["CAP_CHOWN", "CAP_KILL"]}})
        );
        assert_eq!(
            json("--seccomp", "mode=remove,errno=EPERM,mkdir,reboot"),
            serde_json::json!({"name": "os/linux/seccomp-remove-set",
                               "value": {"set": ["mkdir", "reboot"], "errno": "EPERM"}})
        );
        assert_eq!(
            json("--seccomp", "mode=retain,read"),
            serde_json::json!({"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}})
        );
        assert_eq!(
            json("--seccomp", "@docker/default"),
            serde_json::json!({"name": "os/linux/seccomp-remove-set",
                               "value": {"set": ["@docker/default"], "errno": "EPERM"}})
        );
        assert_eq!(
            json("--seccomp", "@appc.io/all"),
            serde_json::json!({"name": "os/linux/seccomp-retain-set",
                               "value": {"set": ["@appc.io/all"]}})
        );
        for (o, v, want) in [
            ("--memory", "1K", "suffix"),
            ("--memory", "-1", "negative"),
            ("--cpu", "lots", "--cpu"),
            ("--caps-retain", "", "non-empty"),
            ("--seccomp", "read,write", "mode=retain"),
            ("--seccomp", "mode=remove", "non-empty"),
            ("--seccomp", "mode=remove,errno=eperm,read", "errno"),
            ("--seccomp", "mode=remove,foo=1,read", "unknown key"),
        ] {
            let e = parse_isolator(o, v).unwrap_err().to_string();
            assert!(e.contains(want), "{o} {v}: {e}");
        }
    }

    #[test]
    fn isolator_options_replace_the_images() {
        let image: appc::ImageManifest = serde_json::from_value(serde_json::json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/x",
            "app": {"exec": ["/bin/sh"], "user": "0", "group": "0", "isolators": [
                {"name": "resource/memory", "value": {"limit": "1G"}},
                {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}},
                {"name": "os/linux/no-new-privileges", "value": true}
            ]}
        }))
        .unwrap();
        let req = AppRequest {
            isolators: vec![
                parse_isolator("--memory", "64M").unwrap(),
                parse_isolator("--caps-retain", "CAP_CHOWN").unwrap(),
            ],
            ..AppRequest::default()
        };
        let app = effective_app(&req, &PodRequest::default(), &image).unwrap();
        let names: Vec<&str> = app.isolators.iter().map(|i| i.name()).collect();
        assert_eq!(
            names,
            vec![
                "os/linux/no-new-privileges",
                "resource/memory",
                "os/linux/capabilities-retain-set"
            ]
        );
        assert_eq!(
            serde_json::to_value(&app.isolators[1]).unwrap()["value"]["limit"],
            "64M"
        );
    }

    fn privileged() -> PodRequest {
        PodRequest {
            image_privileges: true,
            ..PodRequest::default()
        }
    }

    #[test]
    fn pod_wide_env_and_groups() {
        let image: appc::ImageManifest = serde_json::from_value(serde_json::json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/x",
            "app": {"exec": ["/bin/sh"], "user": "0", "group": "0", "supplementaryGIDs": [7],
                    "environment": [{"name": "IMG", "value": "image"},
                                    {"name": "BOTH", "value": "image"}]}
        }))
        .unwrap();
        let kv = |k: &str, v: &str| (k.to_string(), v.to_string());
        let pod = PodRequest {
            inherited_env: vec![kv("IMG", "caller"), kv("HOME", "/caller")],
            env: vec![kv("BOTH", "pod"), kv("POD", "pod")],
            supplementary_gids: Some(vec![10, 20]),
            ..PodRequest::default()
        };
        let req = AppRequest {
            env: vec![kv("POD", "app")],
            ..AppRequest::default()
        };
        let app = effective_app(&req, &pod, &image).unwrap();
        let env: Vec<(&str, &str)> = app
            .environment
            .iter()
            .map(|e| (e.name.as_str(), e.value.as_str()))
            .collect();
        assert_eq!(
            env,
            vec![
                ("IMG", "image"),
                ("BOTH", "pod"),
                ("HOME", "/caller"),
                ("POD", "app")
            ]
        );
        assert_eq!(app.supplementary_gids, vec![10, 20]);
        let own = AppRequest {
            supplementary_gids: Some(vec![30]),
            ..AppRequest::default()
        };
        assert_eq!(
            effective_app(&own, &pod, &image)
                .unwrap()
                .supplementary_gids,
            vec![30]
        );
        let none = effective_app(&AppRequest::default(), &PodRequest::default(), &image).unwrap();
        assert_eq!(none.supplementary_gids, vec![7]);
    }

    #[test]
    fn image_privileges_need_the_operator() {
        let image: appc::ImageManifest = serde_json::from_value(serde_json::json!({
            "acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/admin",
            "app": {"exec": ["/bin/sh"], "user": "0", "group": "0", "isolators": [
                {"name": "os/linux/capabilities-retain-set",
                 "value": {"set": ["CAP_SYS_ADMIN", "CAP_CHOWN"]}}
            ]}
        }))
        .unwrap();
        let e = effective_app(&AppRequest::default(), &PodRequest::default(), &image)
            .unwrap_err()
            .to_string();
        assert!(e.contains("image example.com/admin asks for"), "{e}");
        assert!(e.contains("CAP_SYS_ADMIN"), "{e}");
        assert!(e.contains("--caps-retain=CAP_CHOWN,CAP_SYS_ADMIN"), "{e}");
        assert!(e.contains("--insecure-options=image-privileges"), "{e}");
        // Accepted by the operator, or replaced by the operator's own set.
        let app = effective_app(&AppRequest::default(), &privileged(), &image).unwrap();
        assert_eq!(app.isolators.len(), 1);
        let own = AppRequest {
            isolators: vec![parse_isolator("--caps-retain", "CAP_SYS_ADMIN").unwrap()],
            ..AppRequest::default()
        };
        effective_app(&own, &PodRequest::default(), &image).unwrap();
        // A seccomp set of the image weaker than the default.
        let mut weak = image.clone();
        weak.app.as_mut().unwrap().isolators = vec![
            serde_json::from_value(serde_json::json!(
                {"name": "os/linux/seccomp-retain-set", "value": {"set": ["@appc.io/all"]}}))
            .unwrap(),
        ];
        let e = effective_app(&AppRequest::default(), &PodRequest::default(), &weak)
            .unwrap_err()
            .to_string();
        assert!(e.contains("keyctl") && e.contains("unshare"), "{e}");
        let own = AppRequest {
            isolators: vec![parse_isolator("--seccomp", "@appc.io/all").unwrap()],
            ..AppRequest::default()
        };
        effective_app(&own, &PodRequest::default(), &weak).unwrap();
    }
}
