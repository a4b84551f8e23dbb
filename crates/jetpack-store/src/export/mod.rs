//! `image export`: an imported ACI as its original file; any image as one flat ACI generated
//! from its whole tree (what an OCI image, which has no ACI file, exports as); any image as an
//! OCI image layout of one layer ([`oci`]).

pub mod oci;
pub mod tree_tar;

use std::fs::File;
use std::io::{self, Write};

use jetpack_storage::ImageView;

use crate::error::{Error, IoContext, Result};
use crate::store::{Store, short_id};

/// Counts what passes through to `inner`.
pub(crate) struct Counting<W> {
    pub inner: W,
    pub count: u64,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Store {
    /// A read-only view of image `id`'s whole tree. On overlay a stacked image (OCI layers,
    /// an ACI's dependencies) is mounted as one tree for the view's life; elsewhere the view is
    /// the sealed tree itself.
    pub fn view_image(&self, id: &str) -> Result<ImageView> {
        Ok(self.storage.view_image(id)?)
    }

    /// Writes image `id` as an ACI to `out`: an imported ACI's original file, byte for byte;
    /// for an OCI or Docker image, which has none, a flat ACI of its whole tree
    /// ([`Store::export_flat_aci`]). Returns the bytes written.
    pub fn export(&self, id: &str, out: &mut dyn Write) -> Result<u64> {
        let p = self.layout().image_aci(id);
        match File::open(&p) {
            Ok(mut f) => Ok(io::copy(&mut f, out).at(&p)?),
            Err(e) if e.kind() == io::ErrorKind::NotFound => match self.index()?.get(id)? {
                Some(row) if row.compression == "oci" => self.export_flat_aci(id, out),
                Some(_) => Err(e).at(&p)?,
                None => Err(Error::NotFound(format!("no image {}", short_id(id)))),
            },
            Err(e) => Err(e).at(&p)?,
        }
    }

    /// Writes image `id` as one flat ACI, gzip-compressed (as `actool build` and docker2aci
    /// write ACIs): `manifest` and `rootfs/`, the image's whole tree as a pod sees it (its
    /// dependencies rendered, its layers merged). The manifest is the stored one without
    /// `dependencies` and `pathWhitelist`, which the tree has already applied (byte for byte
    /// the stored one when it has neither). The same image always gives the same archive, so
    /// importing it again gives the same image ID. The tree is streamed, never held in memory.
    pub fn export_flat_aci(&self, id: &str, out: &mut dyn Write) -> Result<u64> {
        let manifest = flat_manifest(self.manifest_bytes(id)?)?;
        let manifest_path = self.layout().image_manifest(id);
        let mtime = std::fs::metadata(&manifest_path)
            .at(&manifest_path)?
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        let view = self.view_image(id)?;
        let mut counted = Counting {
            inner: out,
            count: 0,
        };
        let gz = flate2::write::GzEncoder::new(&mut counted, flate2::Compression::default());
        let mut b = tar::Builder::new(gz);
        tree_tar::append_manifest(&mut b, &manifest, mtime).map_err(|e| Error::Io {
            path: "manifest".into(),
            source: e,
        })?;
        tree_tar::write_tree(&mut b, view.path(), b"rootfs/", true)?;
        let finished = b.into_inner().and_then(|gz| gz.finish());
        finished.map_err(|e| Error::Io {
            path: "(export)".into(),
            source: e,
        })?;
        Ok(counted.count)
    }
}

/// The manifest of a flat ACI: `bytes` without dependencies and path whitelist.
fn flat_manifest(bytes: Vec<u8>) -> Result<Vec<u8>> {
    let mut m = appc::ImageManifest::from_slice(&bytes)?;
    if m.dependencies.is_empty() && m.path_whitelist.is_empty() {
        return Ok(bytes);
    }
    m.dependencies.clear();
    m.path_whitelist.clear();
    Ok(m.to_json_pretty().into_bytes())
}
