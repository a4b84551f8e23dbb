//! The store: a data directory holding the index, image metadata and the storage backend;
//! its paths are named by [`Layout`]. A temporary `tmp/<n>.*` (import metadata, scratch) is
//! live while its `tmp/<n>.lock` is held; unlocked, it is a leftover.
//!
//! The root, `tmp`, `images`, `pods`, `storage` and the backend's areas are 0700 (root only):
//! images and pods hold setuid binaries, secrets and app output. `init` and opening the store
//! restore these modes on a store made with looser ones.
//! An image becomes visible only when its index row is committed, after its tree is sealed and
//! its metadata renamed into place; anything else found on disk is a leftover that `gc` (and the
//! next import) removes.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jetpack_fs::{LockFile, atomic_write};
use jetpack_storage::{Kind, Storage, SystemRunner};
use serde::{Deserialize, Serialize};

use jetpack_settings::{Backend, Layout};

use crate::Config;
use crate::error::{Error, IoContext, Result};
use crate::index::{CacheEntry, ImageRow, Index};

mod gc;
mod prune;
pub use gc::GcReport;
pub use prune::PruneOptions;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoreInfo {
    version: u32,
    storage: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    zfs_dataset: Option<String>,
}

pub struct Store {
    layout: Layout,
    pub(crate) storage: Box<dyn Storage>,
    /// Opened on first use: commands that only run pods never touch SQLite.
    index: std::cell::OnceCell<Index>,
    config: Config,
    /// The store's dataset when it is on ZFS (`D`: `D/images`, `D/pods`, ...).
    zfs_dataset: Option<String>,
}

/// Holds a `flock`; released on drop (and by the kernel if the process dies).
pub use jetpack_fs::Lock;

/// A private directory under `<root>/tmp` for work in progress such as downloads. It is removed
/// on drop; if the process dies, its free lock marks it as a leftover for `gc` and the next
/// import.
pub struct Scratch {
    name: String,
    dir: PathBuf,
    lock_path: PathBuf,
    _lock: Lock,
}

impl Scratch {
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// The name whose lock this scratch holds: storage trees named `<name>.…` are its own
    /// (`gc` removes them once the lock is free).
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
        let _ = fs::remove_file(&self.lock_path);
    }
}

pub(crate) fn lock_file(path: &Path, wait: bool) -> Result<Option<Lock>> {
    let lock = LockFile::new(path);
    Ok(if wait {
        Some(lock.wait()?)
    } else {
        lock.try_lock()?
    })
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Creates the store (directories, backend datasets or subvolumes, index). Idempotent; an
    /// existing store keeps the backend it was created with.
    pub fn init(cfg: &Config) -> Result<Store> {
        let layout = cfg.layout();
        let root = layout.root();
        if let Some(parent) = root.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        // The backend makes its own areas under `storage`.
        for d in &layout.private_dirs()[..5] {
            create_private_dir(d)?;
        }
        let info_path = layout.store_info();
        let info = match read_info(&info_path)? {
            Some(info) => {
                check_matches(&info, cfg)?;
                info
            }
            None => {
                let s = &cfg.settings().store;
                let (kind, found) = match s.storage {
                    Backend::Auto => jetpack_storage::detect(root, s.zfs_dataset.as_deref()),
                    b => (b.as_str().parse::<Kind>()?, None),
                };
                let dataset = s.zfs_dataset.clone().or(found);
                StoreInfo {
                    version: 1,
                    storage: kind.to_string(),
                    zfs_dataset: dataset.filter(|_| kind == Kind::Zfs),
                }
            }
        };
        let storage = open_storage(&layout, &info)?;
        storage.init()?;
        make_private(&layout)?;
        let text = serde_json::to_string_pretty(&info).map_err(|e| Error::Other(e.to_string()))?;
        atomic_write(&info_path, (text + "\n").as_bytes())?;
        let index = Index::open(&layout.index())?;
        Ok(Store {
            layout,
            storage,
            index: index.into(),
            config: cfg.clone(),
            zfs_dataset: info.zfs_dataset,
        })
    }

    /// Opens an initialised store.
    pub fn open(cfg: &Config) -> Result<Store> {
        let layout = cfg.layout();
        let root = layout.root();
        let info = match read_info(&layout.store_info()) {
            Err(Error::Io { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                return Err(Error::Other(format!(
                    "{}: permission denied: the store is private to root; run jetpack as root",
                    root.display()
                )));
            }
            other => other?.ok_or_else(|| Error::NotInitialised(root.to_path_buf()))?,
        };
        check_matches(&info, cfg)?;
        // Stores made before their directories were private are tightened on first use. Only
        // the store's owner (root) can; anyone else is told, and goes on as before.
        if let Err(e) = make_private(&layout) {
            tracing::warn!("{e}: the store's directories stay open to every user");
        }
        let storage = open_storage(&layout, &info)?;
        Ok(Store {
            layout,
            storage,
            index: std::cell::OnceCell::new(),
            config: cfg.clone(),
            zfs_dataset: info.zfs_dataset,
        })
    }

    pub(crate) fn index(&self) -> Result<&Index> {
        if let Some(i) = self.index.get() {
            return Ok(i);
        }
        // Reads work on a full disk too; writes then fail with the disk's error.
        let i = Index::open_for_reading(&self.layout.index())?;
        Ok(self.index.get_or_init(|| i))
    }

    pub(crate) fn index_mut(&mut self) -> Result<&mut Index> {
        self.index()?;
        Ok(self.index.get_mut().expect("opened above"))
    }

    /// The configuration the store was opened with (network and service settings).
    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn root(&self) -> &Path {
        self.layout.root()
    }

    /// The paths under the store's root.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The parsed settings the store was opened with.
    pub fn settings(&self) -> &jetpack_settings::Settings {
        self.config.settings()
    }

    /// The store's ZFS dataset, when its storage is zfs.
    pub fn zfs_dataset(&self) -> Option<&str> {
        self.zfs_dataset.as_deref()
    }

    pub fn storage_kind(&self) -> Kind {
        self.storage.kind()
    }

    pub fn storage(&self) -> &dyn Storage {
        self.storage.as_ref()
    }

    pub fn image_dir(&self, id: &str) -> PathBuf {
        self.layout.image(id)
    }

    /// The rendered, sealed rootfs of an image.
    pub fn image_rootfs(&self, id: &str) -> PathBuf {
        self.storage.image_path(id)
    }

    /// Takes the writers' lock (waits for other writers).
    pub(crate) fn write_lock(&self) -> Result<Lock> {
        Ok(lock_file(&self.layout.writers_lock(), true)?.expect("blocking lock"))
    }

    /// A new scratch directory, locked as the store's temporaries are.
    pub fn scratch(&self) -> Result<Scratch> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let lock_path = self.layout.tmp_lock(&name);
        // Created and locked under the writers' lock, which cleaners hold while they scan (see
        // `import_with`).
        let lock = {
            let _w = self.write_lock()?;
            lock_file(&lock_path, true)?.expect("blocking lock")
        };
        let dir = self.layout.tmp_scratch(&name);
        std::os::unix::fs::DirBuilderExt::mode(&mut fs::DirBuilder::new(), 0o700)
            .create(&dir)
            .at(&dir)?;
        Ok(Scratch {
            name,
            dir,
            lock_path,
            _lock: lock,
        })
    }

    /// The validators and image of the last download of `url`, if its image is still stored.
    pub fn cached_download(&self, url: &str) -> Result<Option<CacheEntry>> {
        self.index()?.cache_get(url)
    }

    /// Remembers what a download of `url` returned (the image must be in the store).
    pub fn remember_download(&mut self, entry: &CacheEntry) -> Result<()> {
        self.index_mut()?.cache_put(entry)
    }

    pub fn images(&self) -> Result<Vec<ImageRow>> {
        self.index()?.all()
    }

    pub fn get(&self, id: &str) -> Result<Option<ImageRow>> {
        self.index()?.get(id)
    }

    /// The manifest bytes exactly as they were in the image.
    pub fn manifest_bytes(&self, id: &str) -> Result<Vec<u8>> {
        let p = self.layout.image_manifest(id);
        Ok(fs::read(&p).at(p)?)
    }

    pub fn manifest(&self, id: &str) -> Result<appc::ImageManifest> {
        Ok(appc::ImageManifest::from_slice(&self.manifest_bytes(id)?)?)
    }
}

/// `sha512-` and the first 32 hex digits, the display form of an image ID.
pub fn short_id(id: &str) -> String {
    id.chars().take(39).collect()
}

/// Creates `dir` (its parent exists) with mode 0700, whatever the umask; an existing `dir` is
/// left to [`make_private`].
pub(crate) fn create_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => Err(e).at(dir)?,
    }
    Ok(jetpack_storage::make_private(dir)?)
}

/// Gives the store's private directories mode 0700 where they have another: a `stat` each,
/// a `chmod` only for a store made before they were private. Nothing below them is walked.
/// The store root being private is what keeps host users out of everything below it (pod
/// volumes with setuid binaries left by a pod's root, pod manifests with secrets, logs,
/// original images, rootfs trees).
fn make_private(layout: &Layout) -> Result<()> {
    for dir in layout.private_dirs() {
        jetpack_storage::make_private(&dir)?;
    }
    Ok(())
}

fn read_info(path: &Path) -> Result<Option<StoreInfo>> {
    match fs::read(path) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            Error::Other(format!(
                "{}: corrupt store description: {e}",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).at(path)?,
    }
}

fn check_matches(info: &StoreInfo, cfg: &Config) -> Result<()> {
    let want = cfg.settings().store.storage;
    if want != Backend::Auto && want.as_str() != info.storage {
        return Err(Error::Config(format!(
            "the store at {} was initialised with storage = {}, but the configuration says {want}; \
             use a different root for another backend",
            cfg.layout().root().display(),
            info.storage
        )));
    }
    Ok(())
}

fn open_storage(layout: &Layout, info: &StoreInfo) -> Result<Box<dyn Storage>> {
    let kind: Kind = info.storage.parse()?;
    Ok(jetpack_storage::open(
        kind,
        &layout.storage(),
        info.zfs_dataset.as_deref(),
        Arc::new(SystemRunner),
    )?)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    use super::*;

    fn modes(root: &Path) -> Vec<(PathBuf, u32)> {
        Layout::new(root)
            .private_dirs()
            .into_iter()
            .map(|d| (d.clone(), fs::metadata(d).unwrap().mode() & 0o7777))
            .collect()
    }

    fn private(root: &Path) -> Vec<(PathBuf, u32)> {
        let dirs = Layout::new(root).private_dirs();
        dirs.into_iter().map(|d| (d, 0o700)).collect()
    }

    fn loosen(root: &Path) {
        for d in Layout::new(root).private_dirs() {
            fs::set_permissions(d, fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// `init` makes the store's directories 0700; `init` again and `open` restore that mode on
    /// a store made with looser ones.
    #[test]
    fn store_directories_are_private() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("a/store");
        let cfg = Config::load(
            Some(Path::new("/dev/null")),
            &["storage=dir".into(), format!("root={}", root.display())],
        )
        .unwrap();
        Store::init(&cfg).unwrap();
        assert_eq!(modes(&root), private(&root));
        loosen(&root);
        Store::open(&cfg).unwrap();
        assert_eq!(modes(&root), private(&root));
        loosen(&root);
        Store::init(&cfg).unwrap();
        assert_eq!(modes(&root), private(&root));
        let scratch = Store::open(&cfg).unwrap().scratch().unwrap();
        assert_eq!(fs::metadata(scratch.path()).unwrap().mode() & 0o7777, 0o700);
    }
}
