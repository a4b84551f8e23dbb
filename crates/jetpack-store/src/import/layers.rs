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

    /// The chain IDs of image `id`'s layers, bottom first (none for an ACI).
    pub fn image_layer_chain_ids(&self, id: &str) -> Result<Vec<String>> {
        Ok(self
            .image_layers(id)?
            .iter()
            .map(|t| format!("sha256:{}", t.trim_start_matches(PREFIX)))
            .collect())
    }

    /// Removes the layer trees that no indexed image lists, unless an import is running (its
    /// layers are sealed before its image is indexed). Callers hold the writers' lock.
    pub(crate) fn collect_layers(&self, imports_running: bool) -> Result<Vec<String>> {
        if imports_running {
            return Ok(Vec::new());
        }
        let mut used = HashSet::new();
        for row in self.index()?.all()? {
            used.extend(self.image_layers(&row.id)?);
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
