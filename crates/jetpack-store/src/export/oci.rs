//! Any stored image as an OCI image of one layer: the image's whole tree as a gzip layer tar,
//! an image configuration mapped back from its appc manifest
//! (`jetpack_oci::config::image_config`), a manifest, and an entry in the layout's
//! `index.json` named by `org.opencontainers.image.ref.name`. Written into an OCI image layout
//! directory (other images and tags kept) or as an `oci-archive` tar.
//!
//! Blobs are written first (each to a hidden temporary file renamed to its digest), the index
//! last and atomically: an export that fails or is killed leaves the layout's index as it was
//! (at most unreferenced blobs). Documents are serialised with sorted keys, and the layer tar
//! is the same for the same tree, so exporting an image twice gives the same digests.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use jetpack_oci::config::{canonical_json, image_config};
use oci_spec::image::{Descriptor, Digest, ImageManifestBuilder, MediaType, PlatformBuilder};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::tree_tar;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// The annotation an OCI layout's index names an image's tag with.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// What an OCI export wrote.
#[derive(Debug, Clone)]
pub struct OciExported {
    /// The digest of the image manifest (`sha256:…`).
    pub digest: String,
    /// The layer's size, compressed.
    pub layer_size: u64,
    /// Fields of the appc manifest that an OCI configuration cannot carry.
    pub left_out: Vec<String>,
}

/// A writer that hashes and counts what passes through.
struct Hashing<W> {
    inner: W,
    hash: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W> Hashing<W> {
    fn new(inner: W) -> Self {
        Hashing {
            inner,
            hash: Sha256::new(),
            size: 0,
        }
    }

    fn digest(&self) -> String {
        format!("sha256:{}", hex::encode(self.hash.clone().finalize()))
    }
}

/// A temporary file in `blobs/sha256/`, removed unless it was renamed to its digest.
struct TempBlob(PathBuf);

impl Drop for TempBlob {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn other(path: &Path, msg: impl std::fmt::Display) -> Error {
    Error::Other(format!("{}: {msg}", path.display()))
}

fn oci_err(e: impl std::fmt::Display) -> Error {
    Error::Other(format!("OCI image: {e}"))
}

/// Makes `dir` an OCI image layout if it is none yet: it may be missing (it is made) or an
/// empty directory; a directory with other things in it, or a file, is refused.
fn prepare_layout(dir: &Path) -> Result<()> {
    match fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            fs::create_dir_all(dir).at(dir)?;
        }
        Err(e) => Err(e).at(dir)?,
        Ok(m) if !m.is_dir() => {
            return Err(other(
                dir,
                "exists and is not a directory: an OCI image layout is a directory \
                 (use oci-archive:FILE for a tar)",
            ));
        }
        Ok(_) => {
            let layout = dir.join("oci-layout");
            if !layout.is_file() && fs::read_dir(dir).at(dir)?.next().is_some() {
                return Err(other(
                    dir,
                    "is neither an OCI image layout (it has no oci-layout file) nor empty; \
                     give a new or empty directory",
                ));
            }
        }
    }
    fs::create_dir_all(dir.join("blobs/sha256")).at(dir)?;
    Ok(())
}

/// Puts a blob into the layout by the writer `fill`, which gets a hashing writer; returns
/// the blob's digest and size.
fn put_blob(
    dir: &Path,
    fill: impl FnOnce(&mut Hashing<File>) -> Result<()>,
) -> Result<(String, u64)> {
    let blobs = dir.join("blobs/sha256");
    let tmp = TempBlob(blobs.join(format!(".export-{}.tmp", uuid::Uuid::new_v4().simple())));
    let f = File::create(&tmp.0).at(&tmp.0)?;
    let mut w = Hashing::new(f);
    fill(&mut w)?;
    w.inner.sync_all().at(&tmp.0)?;
    let digest = w.digest();
    let path = blobs.join(&digest["sha256:".len()..]);
    fs::rename(&tmp.0, &path).at(&path)?;
    Ok((digest, w.size))
}

fn put_document(dir: &Path, bytes: &[u8]) -> Result<(String, u64)> {
    put_blob(dir, |w| w.write_all(bytes).at(dir).map_err(Error::from))
}

fn descriptor(media: MediaType, digest: &str, size: u64) -> Result<Descriptor> {
    let d: Digest = digest.parse().map_err(oci_err)?;
    Ok(Descriptor::new(media, size, d))
}

impl Store {
    /// Writes image `id` into the OCI image layout at `dir` (made if missing) as one layer,
    /// tagged `tag`: the layout's other images stay, one tagged `tag` before loses the tag.
    pub fn export_oci_layout(&self, id: &str, dir: &Path, tag: &str) -> Result<OciExported> {
        prepare_layout(dir)?;
        let manifest = self.manifest(id)?;

        let view = self.view_image(id)?;
        let mut diff_id = String::new();
        let (layer_digest, layer_size) = put_blob(dir, |w| {
            let gz = flate2::write::GzEncoder::new(w, flate2::Compression::default());
            let mut b = tar::Builder::new(Hashing::new(gz));
            tree_tar::write_tree(&mut b, view.path(), b"", false)?;
            let raw = b.into_inner().at(dir)?;
            diff_id = raw.digest();
            raw.inner.finish().at(dir)?;
            Ok(())
        })?;
        drop(view);

        let exported = image_config(&manifest, std::slice::from_ref(&diff_id)).map_err(oci_err)?;
        let config = canonical_json(&exported.config).map_err(oci_err)?;
        let (config_digest, config_size) = put_document(dir, &config)?;
        let image = ImageManifestBuilder::default()
            .schema_version(2u32)
            .media_type(MediaType::ImageManifest)
            .config(descriptor(
                MediaType::ImageConfig,
                &config_digest,
                config_size,
            )?)
            .layers(vec![descriptor(
                MediaType::ImageLayerGzip,
                &layer_digest,
                layer_size,
            )?])
            .build()
            .map_err(oci_err)?;
        let image = canonical_json(&image).map_err(oci_err)?;
        let (digest, size) = put_document(dir, &image)?;

        let mut entry = descriptor(MediaType::ImageManifest, &digest, size)?;
        let c = &exported.config;
        let mut platform = PlatformBuilder::default()
            .os(c.os().clone())
            .architecture(c.architecture().clone());
        if let Some(v) = c.variant() {
            platform = platform.variant(v.clone());
        }
        entry.set_platform(Some(platform.build().map_err(oci_err)?));
        entry.set_annotations(Some([(REF_NAME.to_string(), tag.to_string())].into()));
        let layout = dir.join("oci-layout");
        if !layout.is_file() {
            jetpack_fs::atomic_write(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        add_to_index(dir, entry, tag)?;
        Ok(OciExported {
            digest,
            layer_size,
            left_out: exported.left_out,
        })
    }

    /// Writes image `id` as an `oci-archive` (an OCI image layout as a tar, as skopeo and
    /// podman write it) to `file`, replacing it, with the one image tagged `tag`.
    pub fn export_oci_archive(&self, id: &str, file: &Path, tag: &str) -> Result<OciExported> {
        if file.is_dir() {
            return Err(other(file, "is a directory: an oci-archive is a file"));
        }
        let scratch = self.scratch()?;
        let dir = scratch.path().join("layout");
        let exported = self.export_oci_layout(id, &dir, tag)?;
        let mut failed = None;
        let written = jetpack_fs::AtomicWrite::new(file).with(|f| {
            archive_layout(&dir, f).map_err(|e| {
                failed = Some(e);
                io::Error::other("export failed")
            })
        });
        if let Some(e) = failed {
            return Err(e);
        }
        written?;
        Ok(exported)
    }
}

/// Adds `entry` to the layout's `index.json` (made if missing), dropping `tag` from the
/// entries that had it. The rest of the index is kept as it was.
fn add_to_index(dir: &Path, entry: Descriptor, tag: &str) -> Result<()> {
    let path = dir.join("index.json");
    let mut index: Value = match fs::read(&path) {
        Ok(b) => serde_json::from_slice(&b)
            .map_err(|e| other(&path, format!("not an image index: {e}")))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            serde_json::json!({"schemaVersion": 2, "mediaType": MediaType::ImageIndex.to_string()})
        }
        Err(e) => Err(e).at(&path)?,
    };
    let obj = index
        .as_object_mut()
        .ok_or_else(|| other(&path, "not an image index: not a JSON object"))?;
    let manifests = obj
        .entry("manifests")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
        .ok_or_else(|| other(&path, "not an image index: `manifests` is not a list"))?;
    manifests.retain(|m| m["annotations"][REF_NAME].as_str() != Some(tag));
    manifests.push(serde_json::to_value(&entry).map_err(oci_err)?);
    let bytes = canonical_json(&index).map_err(oci_err)?;
    jetpack_fs::atomic_write(&path, &bytes)?;
    Ok(())
}

/// The layout at `dir` as a tar: `oci-layout`, `index.json`, `blobs/sha256/…`.
fn archive_layout(dir: &Path, out: &mut File) -> Result<()> {
    let mut b = tar::Builder::new(out);
    let header = |kind: tar::EntryType, mode: u32, size: u64| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(size);
        h.set_mtime(0);
        h
    };
    let mut add = |name: &str| -> Result<()> {
        let p = dir.join(name);
        if p.is_dir() {
            let mut h = header(tar::EntryType::Directory, 0o755, 0);
            b.append_data(&mut h, name, io::empty()).at(&p)?;
        } else {
            let mut f = File::open(&p).at(&p)?;
            let size = f.metadata().at(&p)?.len();
            let mut h = header(tar::EntryType::Regular, 0o644, size);
            b.append_data(&mut h, name, &mut f).at(&p)?;
        }
        Ok(())
    };
    add("oci-layout")?;
    add("index.json")?;
    add("blobs")?;
    add("blobs/sha256")?;
    let blobs = dir.join("blobs/sha256");
    let mut names: Vec<String> = fs::read_dir(&blobs)
        .at(&blobs)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<io::Result<_>>()
        .at(&blobs)?;
    names.sort();
    for n in names {
        add(&format!("blobs/sha256/{n}"))?;
    }
    b.into_inner().at(dir)?;
    Ok(())
}
