//! Importing an OCI or Docker image: each layer the store does not have yet is streamed once
//! (decompress, SHA-256 of the uncompressed tar against the configuration's diff ID, extraction
//! under the same archive policy as an ACI's `rootfs/`) into a tree of its own on the layer
//! below it (see [`super::layers`]): a clone of it with the layer applied (its whiteouts remove
//! what the layers below brought), or on overlay the layer's own changes stacked on it. The
//! image is then sealed over its top layer with the appc manifest the configuration maps to.

use std::collections::HashSet;
use std::fs;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jetpack_storage::LayerForm;
use jetpack_storage::writer::TreeWriter;
use sha2::{Digest, Sha256, Sha512};

use super::extract::{self, Mode, Whiteout};
use super::{Imported, Written, in_file, layers, pipeline};
use crate::error::{Error, IoContext, Result};
use crate::index::ImageRow;
use crate::store::{Store, now};

/// An OCI or Docker image to import, as its source (a layout, an archive, a registry) resolved
/// it for this host's platform.
#[derive(Debug, Clone)]
pub struct OciImage {
    /// The appc manifest its configuration maps to (`jetpack_oci::image_manifest`).
    pub manifest: appc::ImageManifest,
    /// The digest of its (platform) manifest, `sha256:…`: with the appc manifest, what
    /// identifies it in the store.
    pub digest: String,
    /// The configuration's `rootfs.diff_ids`, bottom layer first.
    pub diff_ids: Vec<String>,
    /// Names it in messages (`docker.io/library/busybox:1.36`, `oci:dir:tag`).
    pub label: String,
}

impl OciImage {
    /// The image's ID in the store: SHA-512 of its manifest digest and its appc manifest, so
    /// the same image maps to the same ID, and a changed mapping to a new one.
    pub fn id(&self) -> String {
        let mut h = Sha512::new();
        h.update(b"oci-image\n");
        h.update(self.digest.as_bytes());
        h.update(b"\n");
        h.update(self.manifest.to_json().as_bytes());
        format!("sha512-{}", hex::encode(h.finalize()))
    }
}

/// Opens the blob of layer `i` (bottom first), as stored (compressed or not), with a flag the
/// reader sets once it has read the whole blob and matched its digest
/// (`jetpack_oci::digest::Verify`): a layer is kept only when it is set.
pub type OpenLayer<'a> = dyn FnMut(usize) -> Result<(Box<dyn Read + Send>, Arc<AtomicBool>)> + 'a;

impl Store {
    /// Imports an OCI or Docker image whose layers `open` gives. Returns what
    /// [`Store::import`] returns; an image already in the store is not read again.
    pub fn import_oci(&mut self, image: &OciImage, open: &mut OpenLayer<'_>) -> Result<Imported> {
        let id = image.id();
        if self.index()?.contains(&id)? {
            return Ok(Imported {
                id,
                name: image.manifest.name.to_string(),
                existed: true,
                stats: pipeline::Streamed::empty(),
                entries: 0,
                duplicates: Vec::new(),
                moved_tags: Vec::new(),
            });
        }
        self.staged_import(|store, name, meta, temps, written| {
            store.import_oci_staged(image, &id, open, name, meta, temps, written)
        })
        .map_err(|e| in_file(&image.label, e))
    }

    /// [`Self::import_oci_layers`]; on failure, the layers it sealed that nothing else lists
    /// are removed again, so a refused image leaves nothing behind.
    #[allow(clippy::too_many_arguments)]
    fn import_oci_staged(
        &mut self,
        image: &OciImage,
        id: &str,
        open: &mut OpenLayer<'_>,
        name: &str,
        meta: &Path,
        temps: &mut Vec<String>,
        written: &mut Written,
    ) -> Result<Imported> {
        let r = self.import_oci_layers(image, id, open, name, meta, temps, written);
        if r.is_err() {
            let collected = self
                .write_lock()
                .and_then(|_w| self.collect_layers(Some(name)));
            if let Err(e) = collected {
                tracing::warn!("cannot remove the layers of a failed import: {e}");
            }
        }
        r
    }

    #[allow(clippy::too_many_arguments)]
    fn import_oci_layers(
        &mut self,
        image: &OciImage,
        id: &str,
        open: &mut OpenLayer<'_>,
        name: &str,
        meta: &Path,
        temps: &mut Vec<String>,
        written: &mut Written,
    ) -> Result<Imported> {
        let mut counts = Counts {
            left: self.settings().store.import_max_size,
            ..Counts::default()
        };
        let chain_ids = layers::chain_ids(&image.diff_ids)?;
        let all: Vec<String> = chain_ids.iter().map(|c| layers::tree_name(c)).collect();
        // Claimed before looking: `gc` and failed imports keep what a running import lists.
        layers::claim(meta, &all)?;
        let stored: HashSet<String> = self.storage.images()?.into_iter().collect();
        let mut trees: Vec<String> = Vec::with_capacity(chain_ids.len());
        for (i, (diff_id, tree)) in image.diff_ids.iter().zip(all).enumerate() {
            // A layer another image brought is used as it is: not downloaded, not extracted.
            if !stored.contains(&tree) {
                let what = format!("layer {} of {} ({diff_id})", i + 1, image.diff_ids.len());
                let layer_name = format!("{name}.{i}");
                let below = trees.last().map(String::as_str);
                self.build_layer(
                    &layer_name,
                    below,
                    &tree,
                    diff_id,
                    i,
                    open,
                    temps,
                    written,
                    &mut counts,
                )
                .map_err(|e| match e {
                    Error::BadImage(m) => Error::BadImage(format!("{what}: {m}")),
                    e => e,
                })?;
            }
            trees.push(tree);
        }
        let top = trees
            .last()
            .ok_or_else(|| Error::BadImage("the image has no layers".into()))?;
        self.storage.temp_over(top, name)?;
        temps.push(name.to_string());

        let manifest_bytes = image.manifest.to_json_pretty();
        let tree_size = {
            let view = self.storage.view_image(top)?;
            jetpack_storage::tree::tree_size(view.path()).at(view.path())?
        };
        fs::write(meta.join("manifest"), &manifest_bytes).at(meta.join("manifest"))?;
        if std::env::var_os(super::NO_SYNC_ENV).is_none_or(|v| v != "1") {
            jetpack_storage::sync_filesystem(meta)?;
        }
        let row = ImageRow {
            id: id.to_string(),
            name: image.manifest.name.to_string(),
            labels: image
                .manifest
                .labels
                .iter()
                .map(|l| (l.name.to_string(), l.value.clone()))
                .collect(),
            aci_size: counts.raw_bytes,
            tree_size,
            compression: "oci".into(),
            imported: now(),
            last_used: None,
            signer: None,
            deps: Vec::new(),
            tags: Vec::new(),
        };
        let sealed = self.seal_and_index(name, meta, &row, temps, super::OnDuplicate::Keep)?;
        let mut stats = pipeline::Streamed::empty();
        stats.raw_bytes = counts.raw_bytes;
        stats.tar_bytes = counts.tar_bytes;
        Ok(Imported {
            id: id.to_string(),
            name: row.name,
            existed: sealed.existed,
            stats,
            entries: counts.entries,
            duplicates: sealed.duplicates,
            moved_tags: sealed.moved_tags,
        })
    }

    /// Builds layer `i` as the sealed tree `tree` on the sealed tree `below` (the layer under
    /// it, none for the bottom one): streamed once through decompression, the diff ID check
    /// and extraction, in the form the backend keeps layers in.
    #[allow(clippy::too_many_arguments)]
    fn build_layer(
        &mut self,
        name: &str,
        below: Option<&str>,
        tree: &str,
        diff_id: &str,
        i: usize,
        open: &mut OpenLayer<'_>,
        temps: &mut Vec<String>,
        written: &mut Written,
        counts: &mut Counts,
    ) -> Result<()> {
        let (path, form) = self.storage.layer_temp(below, name)?;
        temps.push(name.to_string());
        // A whole-tree layer on others is extracted beside the tree, so that its whiteouts hide
        // only what the layers below it brought; a diff layer (and the bottom one) in place.
        let beside = format!("{name}.beside");
        let into = if form == LayerForm::Whole && below.is_some() {
            let p = self.storage.create_temp(&beside)?;
            temps.push(beside.clone());
            p
        } else {
            path.clone()
        };
        let (input, verified) = open(i)?;
        let mut writer = TreeWriter::open(&into).at(&into)?;
        let mut walked = extract::Walked::default();
        let mut diff = Sha256::new();
        let streamed =
            pipeline::stream_limited(input, None, counts.left, &mut written.progress, |r| {
                let mut hashed = Hashed {
                    inner: r,
                    hash: &mut diff,
                };
                extract::walk_mode(Mode::Layer, &mut hashed, Some(&mut writer), &mut walked)?;
                // The digest covers the whole tar, padding after its end included.
                io::copy(&mut hashed, &mut io::sink())
                    .map_err(|e| Error::BadImage(format!("corrupt tar archive: {e}")))?;
                Ok(())
            });
        written.files += walked.file_bytes;
        let ((), stats) = streamed?;
        if form == LayerForm::Diff {
            layers::write_whiteouts(&mut writer, &walked.whiteouts).at(&into)?;
        }
        writer.finish().at(&into)?;
        if !verified.load(Ordering::SeqCst) {
            return Err(Error::BadImage(
                "the blob was not read to its end, so its digest was not checked".into(),
            ));
        }
        let got = format!("sha256:{}", hex::encode(diff.finalize()));
        if got != diff_id {
            return Err(Error::BadImage(format!(
                "its uncompressed content has digest {got}, not the {diff_id} the image \
                 configuration gives: the layer is corrupt or not this image's"
            )));
        }
        counts.raw_bytes += stats.raw_bytes;
        counts.tar_bytes += stats.tar_bytes;
        counts.entries += walked.entries;
        counts.left = counts.left.map(|l| l.saturating_sub(stats.tar_bytes));
        if into != path {
            apply_whiteouts(&path, &walked.whiteouts)?;
            jetpack_storage::tree::merge_move(&into, &path).at(&path)?;
            self.storage.discard_temp(&beside)?;
            temps.retain(|t| t != &beside);
        }
        if std::env::var_os(super::NO_SYNC_ENV).is_none_or(|v| v != "1") {
            jetpack_storage::sync_filesystem(&path)?;
        }
        // Under the writers' lock, as `gc` decides what to remove under it.
        let _w = self.write_lock()?;
        match self.storage.seal(name, tree) {
            // Another import of an image with this layer sealed it first: use that one.
            Ok(_) | Err(jetpack_storage::Error::Exists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        temps.retain(|t| t != name);
        if let Some(parent) = self.storage.image_path(tree).parent() {
            jetpack_storage::sync_dir(parent)?;
        }
        Ok(())
    }
}

/// What the layers read so far added up to.
#[derive(Default)]
struct Counts {
    raw_bytes: u64,
    tar_bytes: u64,
    entries: u64,
    /// What the import may still extract (`store.import-max-size`).
    left: Option<u64>,
}

/// Applies a layer's whiteouts to the tree of the layers below it.
fn apply_whiteouts(tree: &Path, whiteouts: &[Whiteout]) -> Result<()> {
    for w in whiteouts {
        let (r, rel) = match w {
            Whiteout::Remove(p) => (jetpack_storage::tree::remove_below(tree, &os(p)), p),
            Whiteout::Opaque(p) => (jetpack_storage::tree::empty_below(tree, &os(p)), p),
        };
        r.at(tree.join(rel.iter().collect::<std::path::PathBuf>()))?;
    }
    Ok(())
}

fn os(p: &[std::ffi::OsString]) -> Vec<&std::ffi::OsStr> {
    p.iter().map(|c| c.as_os_str()).collect()
}

/// Hashes what is read through it.
struct Hashed<'a, R> {
    inner: R,
    hash: &'a mut Sha256,
}

impl<R: Read> Read for Hashed<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
}
