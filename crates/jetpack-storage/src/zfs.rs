//! ZFS: every tree is a dataset under the configured dataset `D`.
//!
//! - `D/tmp`, `D/images`, `D/pods` are mounted on `<root>/tmp`, `<root>/images`, `<root>/pods`;
//!   their children inherit the mount point, so `D/images/<id>` is mounted on `<root>/images/<id>`.
//! - `D/retired` has no mount point: images whose snapshot still has clones wait there until
//!   [`Storage::collect`] finds their clones gone.
//! - A sealed image is a read-only dataset with snapshot `@seal`; temporary and pod trees made
//!   from it are clones of that snapshot.
//!
//! Sealing unmounts the temporary dataset before setting `readonly` and renaming it, then mounts
//! it read-only: zfs-fuse applies `readonly` only at mount time and refuses to rename a mounted
//! dataset ("dataset is busy"). On OpenZFS the same steps are merely explicit. zfs-fuse also
//! reports "dataset is busy" for a moment after clones are created, so renames and destroys are
//! retried for a while. Clones are found through the `origin` property because zfs-fuse lacks the
//! `clones` property.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::area::{self, IMAGES, PODS, TMP};
use crate::error::{Error, Result};
use crate::runner::CommandRunner;
use crate::{Kind, Storage, mounts};

const SNAPSHOT: &str = "seal";
const RETIRED: &str = "retired";
/// Longest dataset name, snapshot included (ZFS_MAX_DATASET_NAME_LEN less the NUL).
const MAX_NAME: usize = 255;
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

    /// `(dataset, origin)` for every filesystem in the pool (origin `-` for non-clones).
    fn origins(&self) -> Result<Vec<(String, String)>> {
        let pool = self.dataset.split('/').next().unwrap_or_default();
        let out = self.zfs(&[
            "list",
            "-H",
            "-o",
            "name,origin",
            "-t",
            "filesystem",
            "-r",
            pool,
        ])?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(n, o)| (n.to_string(), o.to_string()))
            .collect())
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

    /// Clones the image snapshot to `target`; clones get their properties from their new parent,
    /// `readonly=off` is explicit so a read-only parent cannot make the tree unwritable.
    fn clone(&self, image: &str, area: &str, name: &str) -> Result<PathBuf> {
        let snap = format!("{}@{SNAPSHOT}", self.ds(IMAGES, Some(image))?);
        let target = self.ds(area, Some(name))?;
        match self.zfs(&["clone", "-o", "readonly=off", &snap, &target]) {
            Err(e) if e.command_says("does not exist") && e.command_says(&snap) => {
                Err(Error::NotFound(format!("image {image}")))
            }
            Err(e) if e.command_says("already exists") => Err(Error::Exists(target)),
            other => other.map(|_| self.root.join(area).join(name)),
        }
    }

    fn remove_tree(&self, area: &str, name: &str) -> Result<()> {
        let ds = self.ds(area, Some(name))?;
        // Mounts a pod runtime left inside the tree keep the dataset busy; the dataset's own
        // mount is zfs's to undo.
        mounts::unmount_below(&self.root.join(area).join(name), false)?;
        self.destroy(&ds)
    }
}

fn random_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
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
        match self.zfs_retrying(&["rename", &src, &dst]) {
            Err(e) if e.command_says("already exists") => return Err(Error::Exists(dst)),
            other => other?,
        };
        // `-o ro` makes the mount itself read-only, which zfs-fuse does not do for `readonly=on`.
        self.zfs(&["mount", "-o", "ro", &dst])?;
        Ok(self.image_path(image))
    }

    fn discard_temp(&self, name: &str) -> Result<()> {
        self.remove_tree(TMP, name)
    }

    fn temps(&self) -> Result<Vec<String>> {
        self.children(&self.ds(TMP, None)?)
    }

    fn image_path(&self, image: &str) -> PathBuf {
        self.root.join(IMAGES).join(image)
    }

    fn images(&self) -> Result<Vec<String>> {
        self.children(&self.ds(IMAGES, None)?)
    }

    /// Destroys the image, or retires it while clones of its snapshot exist. Missing is fine.
    fn remove_image(&self, image: &str) -> Result<()> {
        let ds = self.ds(IMAGES, Some(image))?;
        let origins = self.origins()?;
        if !origins.iter().any(|(n, _)| *n == ds) {
            return Ok(());
        }
        let snap_prefix = format!("{ds}@");
        if !origins.iter().any(|(_, o)| o.starts_with(&snap_prefix)) {
            return self.destroy(&ds);
        }
        let retired = format!("{}/{image}-{}", self.ds(RETIRED, None)?, random_suffix());
        tracing::info!(image, retired, "image has clones; retiring it");
        // Under `D/retired` the dataset has no mount point; zfs-fuse renames only unmounted ones.
        self.unmount(&ds)?;
        self.zfs_retrying(&["rename", &ds, &retired]).map(drop)
    }

    fn clone_for_pod(&self, image: &str, name: &str) -> Result<PathBuf> {
        self.clone(image, PODS, name)
    }

    fn remove_pod_tree(&self, name: &str) -> Result<()> {
        self.remove_tree(PODS, name)
    }

    fn pod_trees(&self) -> Result<Vec<String>> {
        self.children(&self.ds(PODS, None)?)
    }

    /// Destroys retired images whose snapshots have no clones left.
    fn collect(&self) -> Result<()> {
        let parent = self.ds(RETIRED, None)?;
        let retired = self.children(&parent)?;
        if retired.is_empty() {
            return Ok(());
        }
        let origins = self.origins()?;
        for name in retired {
            let ds = format!("{parent}/{name}");
            let snap_prefix = format!("{ds}@");
            if !origins.iter().any(|(_, o)| o.starts_with(&snap_prefix)) {
                self.destroy(&ds)?;
            }
        }
        Ok(())
    }
}
