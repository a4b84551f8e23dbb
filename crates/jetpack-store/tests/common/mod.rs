//! Stores on every backend (ACIs come from `jetpack_testutil::aci`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use jetpack_store::{Config, Store};
use jetpack_testutil::Backend;

pub fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// A store on a real backend; the backend guard cleans up (pool, loop device, mounts) on drop.
pub struct TestStore {
    pub store: Store,
    pub cfg: Config,
    pub backend: Backend,
}

impl TestStore {
    pub fn new(kind: &str) -> TestStore {
        let backend = Backend::new(kind);
        let conf = write(backend.dir.path(), "jetpack.conf", b"");
        let cfg = Config::load(Some(&conf), &backend.sets).unwrap();
        let store = Store::init(&cfg).unwrap();
        TestStore {
            store,
            cfg,
            backend,
        }
    }

    pub fn dir(&self) -> &Path {
        self.backend.dir.path()
    }

    pub fn input(&self, name: &str, bytes: &[u8]) -> PathBuf {
        write(self.dir(), name, bytes)
    }

    /// Every temporary entry of the store and its backend (must be empty after any import).
    pub fn leftovers(&self) -> Vec<String> {
        let mut out: Vec<String> = std::fs::read_dir(self.store.root().join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        out.extend(self.store.storage().temps().unwrap());
        out
    }
}
