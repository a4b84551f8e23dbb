//! ACIs built in memory: an entry-by-entry tar with raw names (so tests can write `..`,
//! absolute names and duplicates that `tar::Builder::append_path` would refuse), and a
//! one-call gzip ACI for tests that only need some image.

use std::io::{Read, Write};

/// The modification time of every entry.
pub const MTIME: u64 = 1_600_000_000;

/// A GNU header with a raw `name` (at most 100 bytes), owned by root.
pub fn header(kind: tar::EntryType, name: &[u8], mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    let gnu = h.as_gnu_mut().expect("a GNU header");
    gnu.name[..name.len()].copy_from_slice(name);
    h.set_mode(mode);
    h.set_size(size);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(MTIME);
    h
}

/// An in-memory tar written entry by entry.
pub struct Aci {
    b: tar::Builder<Vec<u8>>,
}

impl Default for Aci {
    fn default() -> Self {
        Aci::new()
    }
}

impl Aci {
    /// An archive that starts with the `rootfs/` directory.
    pub fn new() -> Aci {
        let mut a = Aci::empty();
        a.dir("rootfs", 0o755);
        a
    }

    /// A bare archive without the `rootfs/` entry.
    pub fn empty() -> Aci {
        Aci {
            b: tar::Builder::new(Vec::new()),
        }
    }

    /// Appends `json` as the `manifest` entry.
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

    /// An entry whose content comes from `data` (as large as its header says).
    pub fn raw_from(&mut self, mut h: tar::Header, data: impl Read) -> &mut Aci {
        h.set_cksum();
        self.b.append(&h, data).unwrap();
        self
    }

    /// An entry with a name of any length (a GNU long-name entry when over 100 bytes).
    pub fn long(&mut self, kind: tar::EntryType, name: &str, mode: u32, data: &[u8]) -> &mut Aci {
        let mut h = header(kind, b"", mode, data.len() as u64);
        self.b.append_data(&mut h, name, data).unwrap();
        self
    }

    pub fn dir(&mut self, name: &str, mode: u32) -> &mut Aci {
        self.raw(
            header(tar::EntryType::Directory, name.as_bytes(), mode, 0),
            &[],
        )
    }

    pub fn file(&mut self, name: &str, data: &[u8], mode: u32) -> &mut Aci {
        let h = header(
            tar::EntryType::Regular,
            name.as_bytes(),
            mode,
            data.len() as u64,
        );
        self.raw(h, data)
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

    /// A file (mode 0644) preceded by a PAX extended header with `key` = `value`.
    pub fn pax_file(&mut self, name: &str, data: &[u8], key: &str, value: &[u8]) -> &mut Aci {
        self.b.append_pax_extensions([(key, value)]).unwrap();
        self.file(name, data, 0o644)
    }

    /// A file with the extended attribute `key` (a `SCHILY.xattr.` PAX record).
    pub fn xattr_file(&mut self, name: &str, data: &[u8], key: &str, value: &[u8]) -> &mut Aci {
        self.pax_file(name, data, &format!("SCHILY.xattr.{key}"), value)
    }

    pub fn symlink(&mut self, name: &str, target: &str) -> &mut Aci {
        self.link(tar::EntryType::Symlink, name, target)
    }

    pub fn hardlink(&mut self, name: &str, target: &str) -> &mut Aci {
        self.link(tar::EntryType::Link, name, target)
    }

    fn link(&mut self, kind: tar::EntryType, name: &str, target: &str) -> &mut Aci {
        let mode = if kind == tar::EntryType::Link {
            0o644
        } else {
            0o777
        };
        let mut h = header(kind, name.as_bytes(), mode, 0);
        h.as_gnu_mut().expect("a GNU header").linkname[..target.len()]
            .copy_from_slice(target.as_bytes());
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
        gzip(&self.tar())
    }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// The image ID of an uncompressed ACI.
pub fn sha512_id(tar: &[u8]) -> String {
    use sha2::Digest;
    format!("sha512-{}", hex::encode(sha2::Sha512::digest(tar)))
}

/// A gzip ACI with a manifest (name, labels, dependencies as a JSON fragment) and one file,
/// `rootfs/hello`.
pub fn simple_aci(name: &str, labels: &[(&str, &str)], deps: &str, content: &str) -> Vec<u8> {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!(r#"{{"name":"{k}","value":"{v}"}}"#))
        .collect();
    let mut a = Aci::empty().named(name, &format!(r#","labels":[{}]{deps}"#, labels.join(",")));
    a.dir("rootfs", 0o755)
        .file("rootfs/hello", content.as_bytes(), 0o644);
    a.gzip()
}

/// `version`, and the os and arch of this host.
pub fn host_labels(version: &str) -> Vec<(&str, &str)> {
    let (os, arch) = appc::host_os_arch();
    vec![("version", version), ("os", os), ("arch", arch)]
}
