//! ZFS: every tree is a dataset under the configured dataset `D`.
//!
//! - `D/tmp`, `D/images`, `D/pods` are mounted on `<root>/tmp`, `<root>/images`, `<root>/pods`;
//!   their children inherit the mount point, so `D/images/<id>` is mounted on `<root>/images/<id>`.
//! - A sealed image is a read-only dataset with snapshot `@seal`; temporary and pod trees made
//!   from it are clones of that snapshot.
//! - An image removed while clones of it exist is *retired* in place: user property
//!   `jetpack:retired=on`, unmounted, `canmount=off`. It no longer counts as an image and
//!   [`Storage::collect`] destroys it once its clones are gone. Only when the same image is sealed
//!   again is the retired dataset renamed to `D/retired/<id>-<random>` (no mount point) to free
//!   the name.
//!
//! Why not rename on removal: zfs-fuse refuses to rename a dataset while a clone of its
//! snapshot is mounted ("dataset is busy", for as long as the clone stays mounted), and a pod's
//! clone stays mounted while the pod runs. Retiring in place works the same on OpenZFS.
//!
//! Other zfs-fuse traits handled here: `readonly=on` takes effect only at the next mount, and a
//! mounted dataset cannot be renamed, so sealing unmounts, sets the property, renames and mounts
//! again with `-o ro`. After an unmount the daemon releases the dataset asynchronously, so renames
//! and destroys are retried while ZFS says "is busy". Clones are found through the `origin`
//! property because zfs-fuse lacks the `clones` property. Commands that change datasets take a
//! machine-wide lock: concurrent mounts and unmounts can deadlock the zfs-fuse daemon.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::area::{self, IMAGES, PODS, TMP};
use crate::error::{Error, Result};
use crate::runner::CommandRunner;
use crate::{Area, Kind, Storage, TreeDelta, mounts};

const SNAPSHOT: &str = "seal";
const RETIRED: &str = "retired";
/// User property marking an image dataset as removed (kept only for its clones).
const RETIRED_PROP: &str = "jetpack:retired";
/// Longest dataset name, snapshot included (ZFS_MAX_DATASET_NAME_LEN less the NUL).
const MAX_NAME: usize = 255;
/// Serializes dataset-changing commands across processes (see [`serialize`]).
const LOCK_FILE: &str = "/run/lock/jetpack-zfs.lock";
/// Length of `-<8 hex digits>` appended to retired images.
const RETIRED_SUFFIX: usize = 9;

pub struct ZfsStorage {
    root: PathBuf,
    dataset: String,
    runner: Arc<dyn CommandRunner>,
    busy_timeout: Duration,
}

impl ZfsStorage {
    pub fn new(root: &Path, dataset: &str, runner: Arc<dyn CommandRunner>) -> Self {
        ZfsStorage {
            root: root.to_path_buf(),
            dataset: dataset.trim_end_matches('/').to_string(),
            runner,
            busy_timeout: Duration::from_secs(20),
        }
    }

    /// How long renames and destroys are retried while ZFS says "dataset is busy".
    pub fn with_busy_timeout(mut self, timeout: Duration) -> Self {
        self.busy_timeout = timeout;
        self
    }

    /// The dataset `D` holding the areas.
    pub fn dataset(&self) -> &str {
        &self.dataset
    }

    fn zfs(&self, args: &[&str]) -> Result<String> {
        let _serial = (args.first() != Some(&"list")).then(serialize).flatten();
        self.runner.run("zfs", args)
    }

    /// Runs a command that ZFS may transiently refuse with "dataset is busy".
    fn zfs_retrying(&self, args: &[&str]) -> Result<String> {
        let start = Instant::now();
        let mut pause = Duration::from_millis(50);
        loop {
            match self.zfs(args) {
                Err(e) if e.command_says("is busy") && start.elapsed() < self.busy_timeout => {
                    tracing::debug!(error = %e, "dataset busy, retrying");
                    std::thread::sleep(
                        pause.min(self.busy_timeout.saturating_sub(start.elapsed())),
                    );
                    pause = (pause * 2).min(Duration::from_secs(1));
                }
                other => return other,
            }
        }
    }

    /// The configured dataset `D`, checked.
    fn base(&self) -> Result<&str> {
        let d = &self.dataset;
        if d.is_empty() || d.starts_with('/') || d.contains(['@', '#', ' ']) {
            return Err(Error::Config(format!(
                "zfs.dataset {d:?} is not a dataset name like tank/jetpack"
            )));
        }
        Ok(d)
    }

    /// `D/<area>` or `D/<area>/<name>`, checked against what ZFS accepts.
    fn ds(&self, area: &str, name: Option<&str>) -> Result<String> {
        let d = self.base()?;
        let Some(name) = name else {
            return Ok(format!("{d}/{area}"));
        };
        area::check_name(name)?;
        if let Some(bad) = name
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || "_-.:".contains(*c)))
        {
            return Err(Error::InvalidName {
                name: name.to_string(),
                reason: format!("ZFS does not allow {bad:?} in dataset names"),
            });
        }
        let full = format!("{d}/{area}/{name}");
        // The longest form this name takes: `D/retired/<image>-<suffix>@seal` for images.
        let longest = match area {
            IMAGES => d.len() + RETIRED.len() + name.len() + RETIRED_SUFFIX + 2,
            _ => full.len(),
        } + 1
            + SNAPSHOT.len();
        if longest > MAX_NAME {
            return Err(Error::InvalidName {
                name: name.to_string(),
                reason: format!(
                    "ZFS dataset names would reach {longest} characters, the limit is {MAX_NAME}; \
                     use a shorter zfs.dataset than {d:?}"
                ),
            });
        }
        Ok(full)
    }

    /// Names of the filesystem children of `parent`, without the `parent/` prefix.
    fn children(&self, parent: &str) -> Result<Vec<String>> {
        let out = self.zfs(&[
            "list",
            "-H",
            "-o",
            "name",
            "-t",
            "filesystem",
            "-d",
            "1",
            parent,
        ])?;
        let prefix = format!("{parent}/");
        let mut names: Vec<String> = out
            .lines()
            .filter_map(|l| l.strip_prefix(&prefix))
            .map(String::from)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Every filesystem of the pool with its origin and retired mark: clones can live anywhere
    /// in the pool.
    fn datasets(&self) -> Result<Vec<Dataset>> {
        let pool = self.base()?.split('/').next().unwrap_or_default();
        let props = format!("name,origin,{RETIRED_PROP}");
        let out = self.zfs(&["list", "-H", "-o", &props, "-t", "filesystem", "-r", pool])?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                let (name, origin, retired) = (f.next()?, f.next()?, f.next()?);
                Some(Dataset {
                    name: name.into(),
                    origin: origin.into(),
                    retired: retired != "-",
                })
            })
            .collect())
    }

    /// The retired mark of one dataset; `None` if it does not exist.
    fn retired(&self, ds: &str) -> Result<Option<bool>> {
        match self.zfs(&["list", "-H", "-o", RETIRED_PROP, ds]) {
            Ok(v) => Ok(Some(v.trim() != "-")),
            Err(e) if e.command_says("does not exist") => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// `zfs destroy -r`; a dataset that does not exist is fine.
    fn destroy(&self, ds: &str) -> Result<()> {
        match self.zfs_retrying(&["destroy", "-r", ds]) {
            Err(e) if e.command_says("does not exist") => Ok(()),
            other => other.map(drop),
        }
    }

    fn unmount(&self, ds: &str) -> Result<()> {
        match self.zfs(&["unmount", ds]) {
            Err(e) if e.command_says("not currently mounted") => Ok(()),
            other => other.map(drop),
        }
    }

    /// Clones the snapshot of a live (not retired) image to `D/<area>/<name>`. Clones take their
    /// properties from their new parent; `readonly=off` is explicit so that a read-only parent
    /// cannot make the tree unwritable.
    fn clone(&self, image: &str, area: &str, name: &str) -> Result<PathBuf> {
        let ds = self.ds(IMAGES, Some(image))?;
        let target = self.ds(area, Some(name))?;
        if self.retired(&ds)? != Some(false) {
            return Err(Error::NotFound(format!("image {image}")));
        }
        let snap = format!("{ds}@{SNAPSHOT}");
        match self.zfs(&["clone", "-o", "readonly=off", &snap, &target]) {
            Err(e) if e.command_says("does not exist") && e.command_says(&snap) => {
                Err(Error::NotFound(format!("image {image}")))
            }
            Err(e) if e.command_says("already exists") => Err(Error::Exists(target)),
            other => other.map(|_| self.root.join(area).join(name)),
        }
    }

    /// Renames the retired image dataset `ds` to `D/retired/<image>-<random>` to free its name.
    fn move_aside(&self, image: &str, ds: &str) -> Result<()> {
        let target = format!("{}/{image}-{}", self.ds(RETIRED, None)?, random_suffix());
        match self.zfs_retrying(&["rename", ds, &target]) {
            Err(e) if e.command_says("is busy") => Err(Error::Busy {
                what: format!("image {image} (removed, kept for its clones)"),
                users: "mounted pod trees cloned from it (zfs-fuse cannot rename it while they \
                        are mounted)"
                    .into(),
            }),
            other => other.map(drop),
        }
    }
}

/// Holds a machine-wide lock while a command changes datasets. zfs-fuse deadlocks (all its
/// file systems stop answering) when datasets are mounted and unmounted concurrently, e.g. two
/// `zfs unmount`s at once, so such commands run one at a time. Best effort: without a writable
/// `/run/lock` the commands simply run.
fn serialize() -> Option<jetpack_fs::Lock> {
    jetpack_fs::LockFile::new(Path::new(LOCK_FILE))
        .mode(0o600)
        .wait()
        .ok()
}

/// One line of [`ZfsStorage::datasets`].
struct Dataset {
    name: String,
    origin: String,
    retired: bool,
}

/// True if any dataset is a clone of a snapshot of `ds`.
fn has_clones(all: &[Dataset], ds: &str) -> bool {
    let prefix = format!("{ds}@");
    all.iter().any(|d| d.origin.starts_with(&prefix))
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.write_u128(now.as_nanos());
    format!("{:08x}", h.finish() as u32)
}

impl Storage for ZfsStorage {
    fn kind(&self) -> Kind {
        Kind::Zfs
    }

    fn root(&self) -> &Path {
        &self.root
    }

    fn init(&self) -> Result<()> {
        let root = self
            .root
            .to_str()
            .filter(|_| self.root.is_absolute())
            .ok_or_else(|| {
                Error::Config(format!(
                    "{}: the zfs storage root must be an absolute UTF-8 path",
                    self.root.display()
                ))
            })?;
        area::create_private_dir(&self.root)?;
        let d = self.base()?;
        let listing = match self.zfs(&[
            "list",
            "-H",
            "-o",
            "name,mountpoint,mounted",
            "-t",
            "filesystem",
            "-d",
            "1",
            d,
        ]) {
            Ok(out) => out,
            Err(e) if e.command_says("does not exist") => {
                self.zfs(&["create", "-p", "-o", "mountpoint=none", d])?;
                String::new()
            }
            Err(e) => return Err(e),
        };
        let existing: HashMap<&str, (&str, &str)> = listing
            .lines()
            .filter_map(|l| {
                let mut f = l.split('\t');
                Some((f.next()?, (f.next()?, f.next()?)))
            })
            .collect();
        for area in [TMP, IMAGES, PODS] {
            let ds = self.ds(area, None)?;
            let mountpoint = format!("{root}/{area}");
            match existing.get(ds.as_str()) {
                None => self
                    .zfs(&["create", "-o", &format!("mountpoint={mountpoint}"), &ds])
                    .map(drop)?,
                Some((mp, _)) if Path::new(mp) != Path::new(&mountpoint) => {
                    return Err(Error::Config(format!(
                        "dataset {ds} is mounted at {mp}, not {mountpoint}; run `zfs set \
                         mountpoint={mountpoint} {ds}` or configure the matching data directory"
                    )));
                }
                Some((_, "no")) => self.zfs(&["mount", &ds]).map(drop)?,
                Some(_) => {}
            }
        }
        let retired = self.ds(RETIRED, None)?;
        if !existing.contains_key(retired.as_str()) {
            self.zfs(&["create", "-o", "mountpoint=none", &retired])?;
        }
        // A new dataset's root is 0755: the mounted areas become private like the plain ones.
        area::make_private(&self.root)?;
        for area in [TMP, IMAGES, PODS] {
            area::make_private(&self.root.join(area))?;
        }
        Ok(())
    }

    fn create_temp(&self, name: &str) -> Result<PathBuf> {
        let ds = self.ds(TMP, Some(name))?;
        match self.zfs(&["create", &ds]) {
            Err(e) if e.command_says("already exists") => Err(Error::Exists(ds)),
            other => other.map(|_| self.root.join(TMP).join(name)),
        }
    }

    fn clone_to_temp(&self, image: &str, name: &str) -> Result<PathBuf> {
        self.clone(image, TMP, name)
    }

    /// On failure the temporary dataset may be left unmounted and read-only; discard it.
    fn seal(&self, name: &str, image: &str) -> Result<PathBuf> {
        let src = self.ds(TMP, Some(name))?;
        let dst = self.ds(IMAGES, Some(image))?;
        self.unmount(&src)?;
        self.zfs(&["set", "readonly=on", &src])?;
        self.zfs(&["snapshot", &format!("{src}@{SNAPSHOT}")])?;
        let rename = ["rename", src.as_str(), dst.as_str()];
        match self.zfs_retrying(&rename) {
            Err(e) if e.command_says("already exists") => {
                // A retired dataset of the same image only waits for its clones: move it aside.
                if self.retired(&dst)? != Some(true) {
                    return Err(Error::Exists(dst));
                }
                self.move_aside(image, &dst)?;
                self.zfs_retrying(&rename)?;
            }
            other => drop(other?),
        }
        // `-o ro` makes the mount itself read-only, which zfs-fuse does not do for `readonly=on`.
        self.zfs(&["mount", "-o", "ro", &dst])?;
        Ok(self.image_path(image))
    }

    /// The area's child datasets.
    fn trees(&self, area: Area) -> Result<Vec<String>> {
        self.children(&self.ds(area.dir(), None)?)
    }

    /// Destroys the tree's dataset. Mounts a pod runtime left inside the tree keep the dataset
    /// busy; the dataset's own mount is zfs's to undo.
    fn remove_tree(&self, area: Area, name: &str) -> Result<()> {
        let ds = self.ds(area.dir(), Some(name))?;
        mounts::unmount_below(&self.root.join(area.dir()).join(name), false)?;
        self.destroy(&ds)
    }

    fn images(&self) -> Result<Vec<String>> {
        let parent = self.ds(IMAGES, None)?;
        let props = format!("name,{RETIRED_PROP}");
        let out = self.zfs(&[
            "list",
            "-H",
            "-o",
            &props,
            "-t",
            "filesystem",
            "-d",
            "1",
            &parent,
        ])?;
        let prefix = format!("{parent}/");
        let mut names: Vec<String> = out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .filter(|(_, retired)| *retired == "-")
            .filter_map(|(name, _)| name.strip_prefix(&prefix))
            .map(String::from)
            .collect();
        names.sort();
        Ok(names)
    }

    /// Destroys the image, or retires it while clones of its snapshot exist. Missing is fine.
    fn remove_image(&self, image: &str) -> Result<()> {
        let ds = self.ds(IMAGES, Some(image))?;
        let all = self.datasets()?;
        match all.iter().find(|d| d.name == ds) {
            None | Some(Dataset { retired: true, .. }) => return Ok(()),
            Some(_) => {}
        }
        if !has_clones(&all, &ds) {
            return self.destroy(&ds);
        }
        tracing::info!(image, "image has clones; retiring it");
        // Marked first: a crash in between leaves a retired image, never a half-removed one.
        self.zfs(&["set", &format!("{RETIRED_PROP}=on"), &ds])?;
        self.unmount(&ds)?;
        self.zfs(&["set", "canmount=off", &ds]).map(drop)
    }

    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf> {
        self.clone(image, PODS, name)
    }

    /// zfs-fuse cannot idmap its mounts: the clone's owners are shifted into the pod's range
    /// instead (a walk of the whole tree, so not constant time).
    fn clone_for_pod_mapped(
        &self,
        image: &str,
        name: &str,
        _userns: std::os::fd::BorrowedFd,
        pod_root: u32,
    ) -> Result<(PathBuf, bool)> {
        let path = self.clone(image, PODS, name)?;
        if let Err(e) = crate::shift::shift_owners(&path, pod_root, 1 << 16) {
            let _ = self.remove_pod_tree(name);
            return Err(e);
        }
        Ok((path, true))
    }

    /// `zfs diff -H -F` of the pod's clone against its origin, the image's `@seal`: ZFS
    /// compares the two by their block birth times, so it costs what changed. zfs-fuse has no
    /// `zfs diff` (`None`: compare the trees).
    fn tree_delta(&self, image: &str, tree: &str, _scratch: &str) -> Result<Option<TreeDelta>> {
        let snap = format!("{}@{SNAPSHOT}", self.ds(IMAGES, Some(image))?);
        let pod = self.ds(PODS, Some(tree))?;
        let out = match self.zfs(&["diff", "-H", "-F", &snap, &pod]) {
            Err(e) if e.command_says("unrecognized command") => return Ok(None),
            other => other?,
        };
        let mount = self.root.join(PODS).join(tree);
        crate::delta::from_zfs_diff(&out, &mount)
            .map(Some)
            .map_err(|e| Error::tree(format!("zfs diff {snap} {pod}"), std::io::Error::other(e)))
    }

    /// Destroys retired images whose snapshots have no clones left.
    fn collect(&self) -> Result<()> {
        let images = format!("{}/", self.ds(IMAGES, None)?);
        let retired = format!("{}/", self.ds(RETIRED, None)?);
        let all = self.datasets()?;
        let child_of = |d: &Dataset, parent: &str| {
            d.name
                .strip_prefix(parent)
                .is_some_and(|n| !n.contains('/'))
        };
        for d in &all {
            let candidate = (d.retired && child_of(d, &images)) || child_of(d, &retired);
            if candidate && !has_clones(&all, &d.name) {
                self.destroy(&d.name)?;
            }
        }
        Ok(())
    }
}
