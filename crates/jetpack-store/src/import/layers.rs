//! OCI layers in the store: each stored once, as the storage tree `l-<hex>` of its chain ID
//! (the layer with every layer below it), shared by every image that has it. An image lists
//! its layers' trees in `images/<id>/layers`; `gc` removes the layers no image lists.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs;

use jetpack_storage::writer::TreeWriter;

use super::extract::Whiteout;
use crate::error::{Error, IoContext, Result};
use crate::store::Store;

/// What names a layer's tree begins with.
const PREFIX: &str = "l-";

/// The chain IDs of layers with these diff IDs (bottom first), each checked to be a SHA-256
/// digest: they name storage trees, and the diff IDs come from the image.
pub(crate) fn chain_ids(diff_ids: &[String]) -> Result<Vec<String>> {
    for d in diff_ids {
        let hex = d.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(Error::BadImage(format!(
                "the image configuration gives the layer diff ID {d:?}, which is not a \
                 sha256 digest"
            )));
        }
    }
    Ok(jetpack_oci::chain::chain_ids(diff_ids))
}

/// The storage tree of the layer with chain ID `chain` (`sha256:<hex>`).
pub(crate) fn tree_name(chain: &str) -> String {
    format!("{PREFIX}{}", chain.trim_start_matches("sha256:"))
}

/// True for the name of a layer's tree (not an image's).
pub(crate) fn is_layer(tree: &str) -> bool {
    tree.starts_with(PREFIX)
}

/// Writes a layer's whiteouts as overlayfs whiteouts and opaque directories.
pub(crate) fn write_whiteouts(w: &mut TreeWriter, whiteouts: &[Whiteout]) -> std::io::Result<()> {
    for wh in whiteouts {
        match wh {
            Whiteout::Remove(p) => w.whiteout(&os(p))?,
            Whiteout::Opaque(p) => w.opaque(&os(p))?,
        }
    }
    Ok(())
}

fn os(p: &[std::ffi::OsString]) -> Vec<&OsStr> {
    p.iter().map(|c| c.as_os_str()).collect()
}

impl Store {
    /// The layer trees image `id` lists (none for an ACI).
    pub fn image_layers(&self, id: &str) -> Result<Vec<String>> {
        let p = self.layout().image_layers(id);
        match fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| Error::Other(format!("{}: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).at(&p).map_err(Error::from),
        }
    }

    /// True if image `id` is stored.
    pub fn contains(&self, id: &str) -> Result<bool> {
        self.index()?.contains(id)
    }

    /// Which of the layers with these diff IDs (bottom first) the store lacks, by index.
    pub fn missing_layers(&self, diff_ids: &[String]) -> Result<Vec<usize>> {
        let stored: HashSet<String> = self.storage.images()?.into_iter().collect();
        Ok(chain_ids(diff_ids)?
            .iter()
            .enumerate()
            .filter(|(_, c)| !stored.contains(&tree_name(c)))
            .map(|(i, _)| i)
            .collect())
    }

    /// The chain IDs of image `id`'s layers, bottom first (none for an ACI).
    pub fn image_layer_chain_ids(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .image_layers(id)?
            .iter()
            .map(|t| format!("sha256:{}", t.trim_start_matches(PREFIX)))
            .collect())
    }

    /// Removes the layer trees that neither an indexed image nor a running import (but the
    /// import `except`) lists. An import lists its layers in its metadata directory before it
    /// looks for them in the store, so a layer it found there is never removed under it.
    /// Callers hold the writers' lock.
    pub(crate) fn collect_layers(&self, except: Option<&str>) -> Result<Vec<String>> {
        let mut used = HashSet::new();
        for row in self.index()?.all()? {
            used.extend(self.image_layers(&row.id)?);
        }
        let tmp = self.layout().tmp();
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(import) = name.strip_suffix(".lock") else {
                continue;
            };
            if Some(import) == except || crate::store::lock_file(&entry.path(), false)?.is_some() {
                continue;
            }
            let claims = self.layout().tmp_meta(import).join(LAYERS);
            if let Ok(b) = fs::read(&claims) {
                let trees: Vec<String> = serde_json::from_slice(&b)
                    .map_err(|e| Error::Other(format!("{}: {e}", claims.display())))?;
                used.extend(trees);
            }
        }
        let mut removed = Vec::new();
        // Top layers first, so that on zfs a layer's clones are gone before it is.
        let mut unused: Vec<String> = self
            .storage
            .images()?
            .into_iter()
            .filter(|t| is_layer(t) && !used.contains(t))
            .collect();
        unused.sort_by_key(|t| {
            std::cmp::Reverse(self.storage.below(t).map(|b| b.len()).unwrap_or(0))
        });
        for t in unused {
            self.storage.remove_image(&t)?;
            removed.push(format!("unused layer {t}"));
        }
        Ok(removed)
    }
}

/// The file naming an image's layer trees, in its metadata directory.
pub(crate) const LAYERS: &str = "layers";

/// Lists `trees` as the layers of the import whose metadata directory is `meta`.
pub(crate) fn claim(meta: &std::path::Path, trees: &[String]) -> Result<()> {
    let p = meta.join(LAYERS);
    let listed = serde_json::to_vec_pretty(trees).map_err(|e| Error::Other(e.to_string()))?;
    fs::write(&p, listed).at(&p).map_err(Error::from)
}
