//! Every path under the store root, named once.
//!
//! ```text
//! jetpack.db  store.json  lock          index, backend chosen at init, writers' lock
//! tmp/<n>.lock  tmp/<n>.meta/  tmp/<n>.scratch/   work in progress (see jetpack-store)
//! images/<id>/{manifest,aci}            image metadata and original file
//! pods/<uuid>/  pods/.<uuid>.new/  pods/.<uuid>.destroy/   (entries: see PodDir)
//! trust/        mds/{key,lock,control.sock,log}   net/leases/   userns/<k>   storage/
//! ```

use std::path::{Path, PathBuf};

/// The paths of the store at one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Suffix of a pod directory being created (`pods/.<uuid>.new`).
    pub const POD_NEW_SUFFIX: &str = ".new";
    /// Suffix of a pod directory being destroyed (`pods/.<uuid>.destroy`).
    pub const POD_DESTROY_SUFFIX: &str = ".destroy";

    pub fn new(root: impl Into<PathBuf>) -> Layout {
        Layout { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The SQLite index.
    pub fn index(&self) -> PathBuf {
        self.root.join("jetpack.db")
    }

    /// The backend chosen at `init`.
    pub fn store_info(&self) -> PathBuf {
        self.root.join("store.json")
    }

    /// The writers' lock (sealing, removal, gc).
    pub fn writers_lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// Work in progress: imports' locks and metadata, scratch directories.
    pub fn tmp(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Held by the process working on temporary `name`.
    pub fn tmp_lock(&self, name: &str) -> PathBuf {
        self.tmp().join(format!("{name}.lock"))
    }

    /// Manifest and original file of import `name` in progress.
    pub fn tmp_meta(&self, name: &str) -> PathBuf {
        self.tmp().join(format!("{name}.meta"))
    }

    /// A process's private work area (downloads).
    pub fn tmp_scratch(&self, name: &str) -> PathBuf {
        self.tmp().join(format!("{name}.scratch"))
    }

    pub fn images(&self) -> PathBuf {
        self.root.join("images")
    }

    /// An image's metadata directory.
    pub fn image(&self, id: &str) -> PathBuf {
        self.images().join(id)
    }

    /// An image's manifest, exactly as it was in the image; also in a `tmp_meta` directory.
    pub fn image_manifest(&self, id: &str) -> PathBuf {
        self.image(id).join(Self::MANIFEST)
    }

    /// `images/<id>/layers`: the storage trees of an OCI image's layers, bottom first.
    pub fn image_layers(&self, id: &str) -> PathBuf {
        self.image(id).join("layers")
    }

    /// An image's original file, for export; also in a `tmp_meta` directory.
    pub fn image_aci(&self, id: &str) -> PathBuf {
        self.image(id).join(Self::ACI)
    }

    /// Names of the files in an image's metadata directory.
    pub const MANIFEST: &str = "manifest";
    pub const ACI: &str = "aci";

    pub fn pods(&self) -> PathBuf {
        self.root.join("pods")
    }

    pub fn pod(&self, uuid: &str) -> PathBuf {
        self.pods().join(uuid)
    }

    /// The entries of pod `uuid`'s directory.
    pub fn pod_dir(&self, uuid: &str) -> PodDir {
        PodDir::new(self.pod(uuid))
    }

    /// A pod being created, renamed to [`Layout::pod`] once whole.
    pub fn pod_new(&self, uuid: &str) -> PathBuf {
        self.pods().join(format!(".{uuid}{}", Self::POD_NEW_SUFFIX))
    }

    /// A pod being destroyed, hidden in one rename.
    pub fn pod_destroy(&self, uuid: &str) -> PathBuf {
        self.pods()
            .join(format!(".{uuid}{}", Self::POD_DESTROY_SUFFIX))
    }

    /// The trust store (`root.d/`, `prefix.d/`).
    pub fn trust(&self) -> PathBuf {
        self.root.join("trust")
    }

    /// The metadata service's state.
    pub fn mds(&self) -> PathBuf {
        self.root.join("mds")
    }

    /// The metadata service's HMAC key.
    pub fn mds_key(&self) -> PathBuf {
        self.mds().join("key")
    }

    /// Held by the running metadata service; holds its pid.
    pub fn mds_lock(&self) -> PathBuf {
        self.mds().join("lock")
    }

    /// Where pods register with the metadata service.
    pub fn mds_control(&self) -> PathBuf {
        self.mds().join("control.sock")
    }

    /// The log of a metadata service started on demand.
    pub fn mds_log(&self) -> PathBuf {
        self.mds().join("log")
    }

    /// host-local leases of this store's pods.
    pub fn net_leases(&self) -> PathBuf {
        self.root.join("net").join("leases")
    }

    /// Claims of user-namespace id ranges (`--private-users`).
    pub fn userns(&self) -> PathBuf {
        self.root.join("userns")
    }

    /// Made and removed at once to learn whether the root can be written.
    pub fn write_check(&self) -> PathBuf {
        self.root
            .join(format!(".write-check-{}", std::process::id()))
    }

    /// The storage backend's areas.
    pub fn storage(&self) -> PathBuf {
        self.root.join("storage")
    }

    /// The directories only root may enter, the root itself first: the store root being
    /// private keeps host users out of everything below it; the others are private too so
    /// that no single chmod opens it all. The first five exist before the backend is set up.
    pub fn private_dirs(&self) -> [PathBuf; 8] {
        let storage = self.storage();
        [
            self.root.clone(),
            self.tmp(),
            self.images(),
            self.pods(),
            storage.clone(),
            storage.join("tmp"),
            storage.join("images"),
            storage.join("pods"),
        ]
    }
}

/// The entries of one pod's directory: `pods/<uuid>/`, or its hidden form while it is made or
/// destroyed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodDir(PathBuf);

impl PodDir {
    pub fn new(dir: impl Into<PathBuf>) -> PodDir {
        PodDir(dir.into())
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// Held by whoever works on the pod, its init while it runs.
    pub fn lock(&self) -> PathBuf {
        self.0.join("lock")
    }

    /// The pod's recorded state.
    pub fn state(&self) -> PathBuf {
        self.0.join("pod.json")
    }

    /// The reified pod manifest.
    pub fn manifest(&self) -> PathBuf {
        self.0.join("manifest")
    }

    /// The isolators chosen for the pod's apps.
    pub fn isolators(&self) -> PathBuf {
        self.0.join("isolators.json")
    }

    /// The CNI invocations and results of the pod's networks.
    pub fn net_state(&self) -> PathBuf {
        self.0.join("net.json")
    }

    /// The running pod's metadata URL (with its token; root only, 0600), for `exec`: written
    /// before the apps start, removed when the pod ends.
    pub fn metadata_url(&self) -> PathBuf {
        self.0.join("metadata-url")
    }

    /// The bind mount holding the pod's network namespace.
    pub fn netns(&self) -> PathBuf {
        self.0.join("netns")
    }

    pub fn apps(&self) -> PathBuf {
        self.0.join("apps")
    }

    /// Left by `stop` and `kill` for a detached pod's supervisor: the pod is not to restart.
    pub fn stop_request(&self) -> PathBuf {
        self.0.join("stop")
    }

    /// A detached pod's supervisor's own messages (network teardown, restarts, failures).
    pub fn supervisor_log(&self) -> PathBuf {
        self.0.join("supervisor.log")
    }

    /// An app's log and exit status (file names chosen by jetpack-runtime, which writes them).
    pub fn app(&self, app: &str) -> PathBuf {
        self.apps().join(app)
    }

    pub fn app_exit(&self, app: &str) -> PathBuf {
        self.app(app).join("exit")
    }

    pub fn app_log(&self, app: &str) -> PathBuf {
        self.app(app).join("log")
    }

    /// The pod's `kind=empty` volumes.
    pub fn volumes(&self) -> PathBuf {
        self.0.join("volumes")
    }

    pub fn volume(&self, name: &str) -> PathBuf {
        self.volumes().join(name)
    }
}
