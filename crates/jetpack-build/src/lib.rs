//! `jetpack build`: a build pod made from a parent image runs a command with the build
//! directory mounted at `/.jetpack.build`; what the command changed in the pod's rootfs
//! becomes a new image that depends on the parent (an incremental ACI, imported as any other).
#![forbid(unsafe_code)]

pub mod aci;
pub mod cp;
pub mod diff;
pub mod error;
pub mod flat;
pub mod manifest;
pub mod native;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use appc::{AcName, Volume, VolumeKind};
use jetpack_pod::{AppRequest, PodOptions, PodRecord, PodRequest};
use jetpack_storage::Kind;
use jetpack_store::{ImportOptions, OnDuplicate, Pick, Scratch, Source, Store};

pub use error::{Error, Result};
pub use manifest::ManifestEdits;

/// Where the build directory is mounted in the build pod, and its working directory.
pub const BUILD_DIR: &str = "/.jetpack.build";
const BUILD_VOLUME: &str = "jetpack-build";

/// A build as the command line asks for it.
#[derive(Debug, Clone)]
pub struct BuildRequest {
    /// The parent image (ID prefix or `NAME[:VERSION][,LABEL=VALUE…]`), already stored.
    pub parent: String,
    /// The build directory on the host.
    pub dir: PathBuf,
    pub edits: ManifestEdits,
    /// The build pod's networks (`default`, `host`, `none`, names).
    pub net: String,
    /// Keep the build pod (for debugging) instead of destroying it.
    pub keep: bool,
    /// Store the result even if an image of the same name and labels is stored, and move
    /// that image's tags to it; without it such a result is refused.
    pub replace: bool,
    pub command: String,
    pub args: Vec<String>,
    /// Store the whole tree as a flat ACI, with no dependency on the parent.
    pub flat: bool,
    /// Host paths copied into the build directory for the build's time ([`cp::Copies`]).
    pub cp: Vec<PathBuf>,
}

/// A stored build result.
#[derive(Debug, Clone)]
pub struct Built {
    pub id: String,
    pub name: String,
    /// Entries of the image's own `rootfs/`.
    pub entries: u64,
    /// Whether the image carries a `pathWhitelist` (the build deleted something).
    pub whitelisted: bool,
    /// The build pod, when it was kept.
    pub kept_pod: Option<String>,
    /// The images of the same name and labels it replaced (`replace`), and the tags it took
    /// from them.
    pub replaced: Vec<String>,
    pub moved_tags: Vec<String>,
}

/// Runs the build and stores its result. A failing command gives [`Error::Failed`] and
/// stores nothing; the build pod is destroyed either way unless `req.keep`.
pub fn build(store: &mut Store, req: &BuildRequest) -> Result<Built> {
    let dir = std::fs::canonicalize(&req.dir).map_err(|e| Error::io(&req.dir, e))?;
    if !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "{}: the build directory is not a directory",
            req.dir.display()
        )));
    }
    let parent = store.lookup(&req.parent, Pick::Newest)?;
    let _copies = cp::Copies::new(&dir, &req.cp)?;
    let (staged, pod) = {
        let store: &Store = store;
        let rec = prepare_pod(store, &parent.id, &dir, req)?;
        let pod = PodGuard {
            store,
            uuid: rec.uuid.clone(),
            keep: req.keep,
        };
        let staged = match stage(store, &rec, &parent.id, &dir, req) {
            Err(Error::Failed { code, .. }) => {
                let kept = pod.finish();
                return Err(Error::Failed { code, kept });
            }
            r => r?,
        };
        (staged, pod.finish())
    };
    let (_scratch, aci, whitelisted) = staged;
    let opts = ImportOptions {
        on_duplicate: if req.replace {
            OnDuplicate::Replace
        } else {
            OnDuplicate::Refuse
        },
        ..ImportOptions::default()
    };
    let imported = store.import_with(Source::File(aci), &opts)?;
    Ok(Built {
        id: imported.id,
        name: imported.name,
        entries: imported.entries,
        whitelisted,
        kept_pod: pod,
        replaced: imported.duplicates,
        moved_tags: imported.moved_tags,
    })
}

/// Prepares the build pod: the parent with the build directory as a host volume, the command
/// as its app, run as root in the build directory.
fn prepare_pod(store: &Store, parent: &str, dir: &Path, req: &BuildRequest) -> Result<PodRecord> {
    let volume_name = AcName::from_str(BUILD_VOLUME).expect("a volume name");
    let source = dir
        .to_str()
        .ok_or_else(|| Error::Invalid(format!("{}: not UTF-8", dir.display())))?;
    let request = PodRequest {
        apps: vec![AppRequest {
            image: parent.to_string(),
            name: Some("build".into()),
            exec: Some(req.command.clone()),
            args: Some(req.args.clone()),
            user: Some("0".into()),
            group: Some("0".into()),
            working_dir: Some(BUILD_DIR.into()),
            mounts: vec![(BUILD_VOLUME.into(), BUILD_DIR.into())],
            ..AppRequest::default()
        }],
        volumes: vec![Volume {
            name: volume_name,
            kind: VolumeKind::Host {
                source: source.into(),
            },
            read_only: Some(false),
            recursive: None,
        }],
        ..PodRequest::default()
    };
    let (manifest, _) = jetpack_pod::reify(store, &request)?;
    let opts = PodOptions {
        net: req.net.clone(),
        ..PodOptions::default()
    };
    Ok(jetpack_pod::prepare(store, &manifest, &opts)?)
}

/// Runs the build pod and writes its change as an ACI into a scratch directory of the store.
fn stage(
    store: &Store,
    rec: &PodRecord,
    parent: &str,
    dir: &Path,
    req: &BuildRequest,
) -> Result<(Scratch, PathBuf, bool)> {
    let app = &rec.apps[0];
    let storage = store.storage();
    // The working directory must exist before the pod starts (it is checked then).
    {
        let _mounted = Mounted::new(store, &app.image, &app.tree)?;
        make_build_dir(&app.rootfs)?;
    }
    let code = jetpack_pod::run(store, rec, false)?;
    if code != 0 {
        return Err(Error::Failed { code, kept: None });
    }
    let _mounted = Mounted::new(store, &app.image, &app.tree)?;
    let view = store.view_image(parent)?;
    // /etc/hosts and /etc/resolv.conf that the parent lacks were written by the runtime.
    let runtime: Vec<PathBuf> = ["etc/hosts", "etc/resolv.conf"]
        .into_iter()
        .map(PathBuf::from)
        .filter(|p| std::fs::symlink_metadata(view.path().join(p)).is_err())
        .collect();
    let build_dir = Path::new(BUILD_DIR.trim_start_matches('/'));
    let skip = |rel: &Path| rel.starts_with(build_dir) || runtime.iter().any(|r| r == rel);
    if req.flat {
        drop(view);
        return flat::stage(store, &app.rootfs, parent, dir, req, &skip);
    }
    let scratch = store.scratch()?;
    let changes = match storage.kind() {
        Kind::Overlay => {
            let upper = app.rootfs.with_file_name("upper");
            diff::overlay_upper(&upper, &skip).map_err(|e| Error::io(&upper, e))?
        }
        _ => {
            match storage.tree_delta(&app.image, &app.tree, &format!("{}.send", scratch.name()))? {
                Some(delta) => native::from_delta(&app.rootfs, view.path(), &delta, &skip)
                    .map_err(|e| Error::io(&app.rootfs, e))?,
                None => None,
            }
        }
    };
    let changes = match changes {
        Some(c) => c,
        None => {
            tracing::debug!(backend = %storage.kind(), "comparing the trees for the change");
            diff::compare_trees(&app.rootfs, view.path(), &skip)
                .map_err(|e| Error::io(&app.rootfs, e))?
        }
    };
    drop(view);
    let whitelist = if changes.deleted {
        diff::all_paths(&app.rootfs, &skip).map_err(|e| Error::io(&app.rootfs, e))?
    } else {
        Vec::new()
    };
    let whitelisted = !whitelist.is_empty();
    let (m, now) = new_manifest(store, parent, dir, req, whitelist)?;
    let out = scratch.path().join("image.aci");
    aci::write(
        &out,
        m.to_json_pretty().as_bytes(),
        &app.rootfs,
        &changes,
        store.settings().build.compression,
        now.unix_timestamp().max(0) as u64,
    )?;
    Ok((scratch, out, whitelisted))
}

/// The new image's manifest (see [`manifest::compose`]), created now, and that time.
pub(crate) fn new_manifest(
    store: &Store,
    parent: &str,
    dir: &Path,
    req: &BuildRequest,
    whitelist: Vec<String>,
) -> Result<(appc::ImageManifest, time::OffsetDateTime)> {
    let now = time::OffsetDateTime::now_utc();
    let created = now
        .format(&time::format_description::well_known::Rfc3339)
        .map_err(|e| Error::Invalid(format!("cannot format the time: {e}")))?;
    let parent_manifest = store.manifest(parent)?;
    let own = manifest::read_build_manifest(dir)?;
    let m = manifest::compose(
        own,
        &parent_manifest,
        parent,
        &req.edits,
        &created,
        whitelist,
    )?;
    Ok((m, now))
}

/// Makes `/.jetpack.build` in the pod's rootfs; one the parent has must be a directory.
fn make_build_dir(rootfs: &Path) -> Result<()> {
    let p = rootfs.join(BUILD_DIR.trim_start_matches('/'));
    match std::fs::create_dir(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            match std::fs::symlink_metadata(&p) {
                Ok(md) if md.is_dir() => Ok(()),
                _ => Err(Error::Invalid(format!(
                    "the parent image has {BUILD_DIR} and it is not a directory"
                ))),
            }
        }
        Err(e) => Err(Error::io(&p, e)),
    }
}

/// The pod's tree mounted (overlay; a no-op elsewhere) for as long as it lives.
struct Mounted<'a> {
    store: &'a Store,
    tree: String,
}

impl<'a> Mounted<'a> {
    fn new(store: &'a Store, image: &str, tree: &str) -> Result<Mounted<'a>> {
        store.storage().mount_pod_tree(image, tree, None)?;
        Ok(Mounted {
            store,
            tree: tree.to_string(),
        })
    }
}

impl Drop for Mounted<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.store.storage().unmount_pod_tree(&self.tree) {
            tracing::warn!(tree = %self.tree, error = %e, "cannot unmount the build pod's tree");
        }
    }
}

/// Destroys the build pod when dropped, unless it is kept.
struct PodGuard<'a> {
    store: &'a Store,
    uuid: String,
    keep: bool,
}

impl PodGuard<'_> {
    /// The pod's UUID if it is kept; the guard's drop destroys it otherwise.
    fn finish(self) -> Option<String> {
        self.keep.then(|| self.uuid.clone())
    }
}

impl Drop for PodGuard<'_> {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        if let Err(e) = jetpack_pod::destroy(self.store, &self.uuid) {
            tracing::warn!(pod = %self.uuid, error = %e, "cannot destroy the build pod");
        }
    }
}
