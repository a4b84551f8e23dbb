//! Storage backends for Jetpack: where sealed image trees and pod rootfs clones live.
//!
//! A backend manages *trees*: directories holding a root filesystem. Trees live in three areas
//! under the backend's root directory (`<data root>/storage`):
//! - `tmp/<name>`   writable staging trees (imports in progress); leftovers are garbage,
//! - `images/<id>`  sealed, read-only image trees (fully rendered rootfs),
//! - `pods/<name>`  writable clones of images, one per pod app.
//!
//! Sealing is atomic (one rename or snapshot), so a crash leaves either a temporary tree or a
//! sealed one.
//! The ZFS and btrfs backends drive the `zfs` and `btrfs` commands through [`CommandRunner`],
//! so their exact argument lists are unit-tested.
//!
//! On FreeBSD the backends are zfs and dir; btrfs and overlay are Linux filesystems and are
//! left out there. The system calls the shared code needs are in `sys`.

#[cfg(target_os = "linux")]
pub mod btrfs;
pub mod delta;
pub mod dir;
pub mod error;
#[cfg(target_os = "linux")]
pub mod overlay;
pub mod runner;
pub mod tree;
pub mod writer;
pub mod xattr;
pub mod zfs;

use std::path::{Path, PathBuf};

pub use area::make_private;
pub use delta::TreeDelta;
pub use error::{Error, Result};
pub use runner::{CommandRunner, RecordingRunner, SystemRunner};

/// The storage backend kinds a store can be initialised with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Zfs,
    Btrfs,
    Overlay,
    Dir,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Zfs => "zfs",
            Kind::Btrfs => "btrfs",
            Kind::Overlay => "overlay",
            Kind::Dir => "dir",
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Kind {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "zfs" => Ok(Kind::Zfs),
            "btrfs" => Ok(Kind::Btrfs),
            "overlay" => Ok(Kind::Overlay),
            "dir" => Ok(Kind::Dir),
            other => Err(Error::Config(format!(
                "unknown storage kind {other:?} (expected auto, zfs, btrfs, overlay or dir)"
            ))),
        }
    }
}

/// One of the three areas a backend keeps its trees in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Area {
    Tmp,
    Images,
    Pods,
}

impl Area {
    /// The area's directory (and dataset) name under the backend's root.
    pub fn dir(self) -> &'static str {
        match self {
            Area::Tmp => area::TMP,
            Area::Images => area::IMAGES,
            Area::Pods => area::PODS,
        }
    }
}

/// What a store needs from a backend. Names (`name`, `image`) are plain file-name-safe strings
/// chosen by the caller (image IDs, random temporary names); backends never interpret them.
///
/// Listing and removal are derived from [`Storage::trees`] and [`Storage::remove_tree`], whose
/// defaults treat an area as a plain directory; a backend overrides only what differs.
pub trait Storage: Send + Sync {
    fn kind(&self) -> Kind;

    /// The directory holding the `tmp`, `images` and `pods` areas.
    fn root(&self) -> &Path;

    /// Sorted names of the trees in `area`. Default: the entries of its directory.
    fn trees(&self, area: Area) -> Result<Vec<String>> {
        area::list(&self.root().join(area.dir()))
    }

    /// Removes tree `name` of `area`, first unmounting whatever is mounted in it. Missing is
    /// fine. Default: a plain directory tree.
    fn remove_tree(&self, area: Area, name: &str) -> Result<()> {
        area::remove_plain(&area::path(self.root(), area.dir(), name)?)
    }

    /// Creates what the backend needs (directories, datasets). Idempotent.
    fn init(&self) -> Result<()>;

    /// A new, empty, writable tree `tmp/<name>`; returns its path.
    fn create_temp(&self, name: &str) -> Result<PathBuf>;

    /// A new writable tree `tmp/<name>` that starts as a copy of sealed image `image`
    /// (zfs clone, btrfs snapshot, reflink copy where possible). Used as the base when an image
    /// with dependencies is rendered.
    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf>;

    /// Seals `tmp/<name>` read-only and makes it visible as `images/<image>` in one atomic step.
    /// [`Error::Exists`] if the image is already there (discard the temporary tree then).
    fn seal(&self, name: &str, image: &str) -> Result<PathBuf>;

    /// Destroys a temporary tree (unmounting whatever the backend mounted). Missing is fine.
    fn discard_temp(&self, name: &str) -> Result<()> {
        self.remove_tree(Area::Tmp, name)
    }

    /// Names of the temporary trees present (leftovers of interrupted work, or work in progress).
    fn temps(&self) -> Result<Vec<String>> {
        self.trees(Area::Tmp)
    }

    /// Path of the sealed image tree (whether or not it exists).
    fn image_path(&self, image: &str) -> PathBuf {
        self.root().join(area::IMAGES).join(image)
    }

    /// Names of the sealed images present.
    fn images(&self) -> Result<Vec<String>> {
        self.trees(Area::Images)
    }

    /// Removes a sealed image; missing is fine. On zfs an image whose snapshot still has clones is
    /// *retired* (hidden from [`Storage::images`], unmounted) and destroyed by
    /// [`Storage::collect`] once its clones are gone. On overlay an image that a mounted pod tree
    /// (a running pod's) uses as its lower layer is refused with [`Error::Busy`]; the pods that
    /// are not running hold no mount, so the store asks its pods' records first.
    fn remove_image(&self, image: &str) -> Result<()> {
        self.remove_tree(Area::Images, image)
    }

    /// Fails as [`Storage::remove_image`] would refuse now (overlay: [`Error::Busy`] while a
    /// mounted pod tree uses the image as its lower layer), without changing anything, so that
    /// a caller can refuse before it touches its own records.
    fn check_remove_image(&self, image: &str) -> Result<()> {
        let _ = image;
        Ok(())
    }

    /// A writable tree `pods/<name>` cloned from sealed image `image` in constant time where the
    /// backend allows (zfs clone, btrfs snapshot, overlay layers); the dir backend copies. An
    /// overlay clone is not mounted: [`Storage::mount_pod_tree`] mounts it while its pod runs
    /// (a caller that wants mount errors now mounts and unmounts it at once).
    /// Returns the path of the writable rootfs. Clones fail with [`Error::NotFound`] for a missing
    /// image and [`Error::Exists`] for a name in use.
    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf>;

    /// [`Storage::clone_for_pod`] for a pod with a user namespace: `userns` is a user
    /// namespace with the pod's id mapping, `pod_root` the host id of its root. A backend that
    /// can present the clone with those ids (an overlay of idmapped layers) does so and returns
    /// `true` (mount it with `Some((userns, pod_root))` given to [`Storage::mount_pod_tree`]);
    /// the others return the plain clone and `false`, and the engine idmaps it when the pod
    /// starts.
    fn clone_for_pod_mapped(
        &self,
        image: &str,
        name: &str,
        userns: std::os::fd::BorrowedFd,
        pod_root: u32,
    ) -> Result<(PathBuf, bool)> {
        let _ = (userns, pod_root);
        Ok((self.clone_for_pod(image, name)?, false))
    }

    /// Mounts pod tree `name` (cloned from `image`) at the path its clone returned, for a pod
    /// that starts; `mapped` (the user namespace and the pod root's host id) for a clone that
    /// [`Storage::clone_for_pod_mapped`] made showing the pod's ids. On overlay a pod tree is
    /// mounted only while its pod runs; whatever an earlier run left mounted (it was killed) is
    /// unmounted first. Backends whose pod trees are always usable do nothing.
    fn mount_pod_tree(
        &self,
        image: &str,
        name: &str,
        mapped: Option<(std::os::fd::BorrowedFd, u32)>,
    ) -> Result<()> {
        let _ = (image, name, mapped);
        Ok(())
    }

    /// Undoes [`Storage::mount_pod_tree`] when the pod has ended. Not mounted, or missing, is
    /// fine.
    fn unmount_pod_tree(&self, name: &str) -> Result<()> {
        let _ = name;
        Ok(())
    }

    /// Removes a pod tree (unmounting first). Missing is fine.
    fn remove_pod_tree(&self, name: &str) -> Result<()> {
        self.remove_tree(Area::Pods, name)
    }

    /// Names of the pod trees present.
    fn pod_trees(&self) -> Result<Vec<String>> {
        self.trees(Area::Pods)
    }

    /// What changed in pod tree `tree` since it was cloned from sealed image `image`, found
    /// without walking the trees (btrfs: `btrfs send --no-data`); `None` where the backend
    /// cannot tell (compare the trees then). The pod must have ended. `scratch` is a temporary
    /// tree name (`tmp/<scratch>`, and names starting with it) the backend may use; it removes
    /// them before returning, and `gc` removes what a killed process left.
    fn tree_delta(&self, image: &str, tree: &str, scratch: &str) -> Result<Option<TreeDelta>> {
        let _ = (image, tree, scratch);
        Ok(None)
    }

    /// Backend-specific garbage collection (retired zfs datasets, stale mounts). Idempotent.
    fn collect(&self) -> Result<()> {
        Ok(())
    }

    /// A new writable tree `tmp/<name>` for a layer on top of the sealed tree `below` (none for
    /// a bottom layer), and the form the layer takes in it. Default: a clone of `below` (zfs
    /// clone, btrfs snapshot, reflink or plain copy) in which the layer is applied whole.
    fn layer_temp(&self, below: Option<&str>, name: &str) -> Result<(PathBuf, LayerForm)> {
        let tree = match below {
            None => self.create_temp(name)?,
            Some(b) => self.clone_to_temp(b, name)?,
        };
        Ok((tree, LayerForm::Whole))
    }

    /// A new temporary tree `tmp/<name>` that shows the sealed tree `top` as it is, to be
    /// sealed as an image over its top layer. Default: a clone of `top`, constant-time where
    /// the backend clones so.
    fn temp_over(&self, top: &str, name: &str) -> Result<PathBuf> {
        self.clone_to_temp(top, name)
    }

    /// The sealed trees `image` is stacked on, nearest first: what removing one of them would
    /// break. Empty for a backend whose trees are whole (every one but overlay).
    fn below(&self, image: &str) -> Result<Vec<String>> {
        let _ = image;
        Ok(Vec::new())
    }

    /// The whole tree of sealed image `image`, read-only, for reading it through (export). On
    /// overlay, an image stacked on layers is shown by a read-only overlay mount that lasts as
    /// long as the view.
    fn view_image(&self, image: &str) -> Result<ImageView> {
        let path = area::path(self.root(), area::IMAGES, image)?;
        area::ensure_image(&path, image)?;
        Ok(ImageView::plain(path))
    }
}

/// How a layer's tree holds its changes (see [`Storage::layer_temp`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerForm {
    /// The whole tree: a clone of the layers below with this one applied, whose whiteouts
    /// remove from it.
    Whole,
    /// This layer's own entries only, stacked on the layers below: its whiteouts become
    /// overlayfs whiteouts and opaque directories ([`writer::TreeWriter::whiteout`]).
    Diff,
}

/// Opens the backend of `kind` rooted at `root`. `zfs_dataset` is required for zfs.
pub fn open(
    kind: Kind,
    root: &Path,
    zfs_dataset: Option<&str>,
    runner: std::sync::Arc<dyn CommandRunner>,
) -> Result<Box<dyn Storage>> {
    Ok(match kind {
        Kind::Dir => Box::new(dir::DirStorage::new(root)),
        #[cfg(target_os = "linux")]
        Kind::Overlay => Box::new(overlay::OverlayStorage::new(root)),
        #[cfg(target_os = "linux")]
        Kind::Btrfs => Box::new(btrfs::BtrfsStorage::new(root, runner)),
        #[cfg(not(target_os = "linux"))]
        Kind::Overlay | Kind::Btrfs => {
            let fs = if kind == Kind::Overlay {
                "overlayfs"
            } else {
                "btrfs"
            };
            return Err(Error::Config(format!(
                "storage = {kind}: {fs} is a Linux filesystem; on FreeBSD use storage = zfs or \
                 storage = dir"
            )));
        }
        Kind::Zfs => {
            let ds = zfs_dataset.ok_or_else(|| {
                Error::Config("storage = zfs needs zfs.dataset (e.g. tank/jetpack)".into())
            })?;
            Box::new(zfs::ZfsStorage::new(root, ds, runner))
        }
    })
}

/// Picks a backend for `root` the way `storage = auto` does: zfs if `root` lies on ZFS (also zfs-fuse),
/// btrfs if on btrfs, overlay if the kernel has overlayfs, else dir. For zfs the second value is
/// the dataset to use: `zfs_dataset` if given, else the dataset mounted exactly at `root`, else
/// `<dataset containing root>/jetpack`.
pub fn detect(root: &Path, zfs_dataset: Option<&str>) -> (Kind, Option<String>) {
    let mount = detect::mount_of(root);
    let root = mounts::canonical(root);
    detect::choose(
        mount.as_ref(),
        &root,
        zfs_dataset,
        detect::kernel_has("overlay"),
    )
}

/// Writes every dirty page and inode of the filesystem holding `path` to disk (`syncfs`; `sync`
/// on FreeBSD): one call for a whole extracted tree, cheaper than a `fsync` per file. Called
/// before a tree is sealed, so that a power cut cannot leave a sealed image with truncated
/// files.
pub fn sync_filesystem(path: &Path) -> Result<()> {
    use std::os::fd::AsFd;
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    sys::sync_filesystem(f.as_fd()).map_err(|e| Error::io(path, e.into()))
}

/// Makes the entries of directory `dir` (a rename into it) durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    let f = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
    f.sync_all().map_err(|e| Error::io(dir, e))
}

/// Unmounts every mount below `path` (not `path` itself), deepest first, as the mount table
/// names them: what a runtime left inside a pod's directory.
pub fn unmount_below(path: &Path) -> Result<()> {
    mounts::unmount_below(path, false)
}

mod area;
mod detect;
#[cfg(target_os = "linux")]
mod idmapped;
mod shift;
mod sys;
mod view;

pub use view::ImageView;

/// Runs `f`, which creates files in a clone that [`Storage::clone_for_pod_mapped`] made, as the
/// pod's root (`pod_root`, its host id): the only owner such a clone takes new files from.
/// Such clones are Linux's (idmapped mounts): elsewhere this fails.
pub fn as_pod_ids<T>(pod_root: u32, f: impl FnOnce() -> Result<T>) -> Result<T> {
    #[cfg(target_os = "linux")]
    return idmapped::as_ids(pod_root, f);
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (pod_root, f);
        Err(Error::Config(
            "pod trees showing a user namespace's ids are Linux idmapped mounts".into(),
        ))
    }
}
mod mounts;
