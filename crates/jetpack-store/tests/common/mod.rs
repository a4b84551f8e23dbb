//! Builds ACIs for tests, including malformed ones, and stores on every backend.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};

use jetpack_store::{Config, Store};
use jetpack_testutil::Backend;

/// An in-memory tar written entry by entry, with raw names (so tests can write `..`, absolute
/// names and duplicates that `tar::Builder` would refuse).
pub struct Aci {
    b: tar::Builder<Vec<u8>>,
}

pub const MTIME: u64 = 1_600_000_000;

fn header(kind: tar::EntryType, name: &[u8], mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    let gnu = h.as_gnu_mut().unwrap();
    gnu.name[..name.len()].copy_from_slice(name);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

impl Aci {
    pub fn new() -> Aci {
        let mut a = Aci {
            b: tar::Builder::new(Vec::new()),
        };
        a.dir("rootfs", 0o755);
        a
    }

    /// A bare archive without the `rootfs/` entry.
    pub fn empty() -> Aci {
        Aci {
            b: tar::Builder::new(Vec::new()),
        }
    }

    pub fn manifest(mut self, json: &str) -> Aci {
        self.file("manifest", json.as_bytes(), 0o644);
        self
    }

    /// A manifest for `name` with labels and dependencies given as JSON fragments.
    pub fn named(self, name: &str, extra: &str) -> Aci {
        self.manifest(&format!(
            r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}"{extra}}}"#
        ))
    }

    pub fn raw(&mut self, mut h: tar::Header, data: &[u8]) -> &mut Aci {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Aci {
        self.raw(
            header(tar::EntryType::Directory, name.as_bytes(), mode, 0),
            &[],
        )
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Aci {
        self.raw(
            header(
                tar::EntryType::Regular,
                name.as_bytes(),
                mode,
                data.len() as u64,
            ),
            data,
        )
    }

    pub fn owned_file(
        &mut self,
        name: &str,
        data: &[u8],
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> &mut Aci {
        let mut h = header(
            tar::EntryType::Regular,
            name.as_bytes(),
            mode,
            data.len() as u64,
        );
        h.set_uid(uid);
        h.set_gid(gid);
        self.raw(h, data)
    }

    pub fn xattr_file(&mut self, name: &str, data: &[u8], key: &str, value: &[u8]) -> &mut Aci {
        let k = format!("SCHILY.xattr.{key}");
        self.b.append_pax_extensions([(k.as_str(), value)]).unwrap();
        self.file(name, data, 0o644)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Aci {
        let mut h = header(tar::EntryType::Symlink, name.as_bytes(), 0o777, 0);
        h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.raw(h, &[])
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Aci {
        let mut h = header(tar::EntryType::Link, name.as_bytes(), 0o644, 0);
        h.as_gnu_mut().unwrap().linkname[..target.len()].copy_from_slice(target.as_bytes());
        self.raw(h, &[])
    }

    pub fn special(
        &mut self,
        name: &str,
        kind: tar::EntryType,
        major: u32,
        minor: u32,
    ) -> &mut Aci {
        let mut h = header(kind, name.as_bytes(), 0o666, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        self.raw(h, &[])
    }

    pub fn tar(self) -> Vec<u8> {
        self.b.into_inner().unwrap()
    }

    pub fn gzip(self) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(&self.tar()).unwrap();
        e.finish().unwrap()
    }
}

pub fn sha512_id(tar: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512-{}", hex::encode(sha2::Sha512::digest(tar)))
}

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
