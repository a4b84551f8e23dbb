//! Pulling an image from a registry into the store: the manifest for this host's platform and
//! its configuration, verified, then each layer streamed straight from the registry through the
//! store's import (download, verify, decompress, diff ID, extract in one pass).

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use jetpack_oci::{DockerRef, Platform};
use jetpack_store::import::oci::OciImage;
use jetpack_store::{Imported, Store};

use super::Registry;
use crate::error::{Error, Result};

/// Pulls `r` (for this host's platform) into `store`. An image whose manifest and mapping are
/// already stored is not downloaded again.
pub fn pull(registry: &Registry, r: &DockerRef, store: &mut Store) -> Result<Imported> {
    let resolved = registry.resolve(r, &Platform::host())?;
    let label = r.to_string();
    let config = jetpack_oci::manifest::parse_config(&resolved.config, &label)?;
    let diff_ids = config.rootfs().diff_ids().clone();
    let layers = resolved.manifest.layers().clone();
    if diff_ids.len() != layers.len() {
        return Err(Error::Invalid(format!(
            "{label}: the configuration lists {} layers, the manifest {}",
            diff_ids.len(),
            layers.len()
        )));
    }
    let manifest = jetpack_oci::image_manifest(&config, &r.appc_name(), r.tag.as_deref())?;
    let image = OciImage {
        manifest,
        digest: resolved.manifest_bytes.digest.clone(),
        diff_ids,
        label,
    };
    let repo = r.repository.clone();
    let mut open = |i: usize| -> jetpack_store::Result<(Box<dyn Read + Send>, Arc<AtomicBool>)> {
        let blob = registry
            .blob(&repo, &layers[i])
            .map_err(|e| jetpack_store::Error::Other(e.to_string()))?;
        let done = Arc::new(AtomicBool::new(false));
        let r = EndSeen {
            inner: blob,
            done: done.clone(),
        };
        Ok((Box::new(r), done))
    };
    Ok(store.import_oci(&image, &mut open)?)
}

/// Marks when its reader (a verifying blob reader, which fails at its end unless the blob is
/// whole and matches) ended without an error.
struct EndSeen<R> {
    inner: R,
    done: Arc<AtomicBool>,
}

impl<R: Read> Read for EndSeen<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !buf.is_empty() {
            self.done.store(true, Ordering::SeqCst);
        }
        Ok(n)
    }
}
