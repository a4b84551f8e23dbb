//! Pulling an image from a registry into the store: the manifest for this host's platform and
//! its configuration, verified, then the layers the store lacks. The first of them streams
//! straight from the registry through the store's import (download, verify, decompress, diff
//! ID, extract in one pass); the others download meanwhile, a few at a time, each into a
//! scratch file of the store through the verifying reader, and are imported from there in
//! order as their turn comes. A layer the store has (same chain ID) is not downloaded.

use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use jetpack_oci::{DockerRef, Platform};
use jetpack_store::import::oci::OciImage;
use jetpack_store::{Imported, OciOrigin, Store};
use oci_spec::image::Descriptor;

use super::Registry;
use crate::error::{Error, Result};
use crate::{Progress, Reporter};

/// Layers downloaded at once beside the one being imported.
const PARALLEL: usize = 3;

/// Pulls `r` (for this host's platform) into `store`, with a progress bar per layer from
/// `reporter`. An image whose manifest and mapping are already stored is not downloaded again.
pub fn pull(
    registry: &Registry,
    r: &DockerRef,
    store: &mut Store,
    reporter: &dyn Reporter,
) -> Result<Imported> {
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
    let origin = OciOrigin {
        reference: format!("docker://{r}"),
        digest: resolved.manifest_bytes.digest.clone(),
        index_digest: resolved.index_digest.clone(),
    };
    let needed = if store.contains(&image.id())? {
        Vec::new()
    } else {
        store.missing_layers(&image.diff_ids)?
    };
    let bar = |i: usize| {
        let d = layers[i].digest().to_string();
        let short = d
            .trim_start_matches("sha256:")
            .get(..12)
            .unwrap_or(&d)
            .to_string();
        reporter.download(
            &format!("layer {}/{} {short}", i + 1, layers.len()),
            Some(layers[i].size()),
        )
    };
    let first = needed.first().copied();
    let later: Vec<usize> = needed.iter().skip(1).copied().collect();
    // Bars are made here, in layer order, so that they show in that order.
    let mut bars: Vec<Option<Box<dyn Progress>>> = (0..layers.len()).map(|_| None).collect();
    for &i in &needed {
        bars[i] = Some(bar(i));
    }
    let scratch = if later.is_empty() {
        None
    } else {
        Some(store.scratch()?)
    };
    let repo = r.repository.clone();
    std::thread::scope(|s| {
        let downloads = scratch.as_ref().map(|scratch| {
            let mut bars_later = Vec::new();
            for &i in &later {
                bars_later.push((i, bars[i].take().expect("a bar per needed layer")));
            }
            Downloads::start(s, registry, &repo, &layers, bars_later, scratch.path())
        });
        let mut first_bar = first.and_then(|i| bars[i].take());
        let mut open =
            |i: usize| -> jetpack_store::Result<(Box<dyn Read + Send>, Arc<AtomicBool>)> {
                let done = Arc::new(AtomicBool::new(false));
                if Some(i) == first {
                    let blob = registry.blob(&repo, &layers[i]).map_err(store_error)?;
                    let bar = first_bar.take().expect("the first layer is opened once");
                    let r = Counted {
                        inner: blob,
                        done: done.clone(),
                        bar,
                    };
                    return Ok((Box::new(r), done));
                }
                let path = downloads
                    .as_ref()
                    .ok_or_else(|| store_error(Error::Invalid(format!("layer {i} not fetched"))))?
                    .take(i)
                    .map_err(store_error)?;
                let f = File::open(&path)
                    .map_err(|e| jetpack_store::Error::Other(format!("{}: {e}", path.display())))?;
                // Verified whole by the download; removed once read (the scratch goes anyway).
                let _ = std::fs::remove_file(&path);
                done.store(true, Ordering::SeqCst);
                Ok((Box::new(f), done))
            };
        let result = store.import_oci_from(&image, &origin, &mut open);
        if let Some(d) = &downloads {
            d.cancel();
        }
        Ok(result?)
    })
}

fn store_error(e: Error) -> jetpack_store::Error {
    jetpack_store::Error::Other(e.to_string())
}

/// Layers downloading into scratch files while the import works on those below them.
struct Downloads {
    results: Mutex<Vec<(usize, mpsc::Receiver<Result<PathBuf>>)>>,
    cancelled: Arc<AtomicBool>,
}

impl Downloads {
    fn start<'scope, 'env>(
        s: &'scope std::thread::Scope<'scope, 'env>,
        registry: &'env Registry,
        repo: &'env str,
        layers: &'env [Descriptor],
        bars: Vec<(usize, Box<dyn Progress>)>,
        dir: &std::path::Path,
    ) -> Downloads {
        let cancelled = Arc::new(AtomicBool::new(false));
        let mut results = Vec::new();
        let queue = Arc::new(Mutex::new(Vec::new()));
        for (i, bar) in bars.into_iter().rev() {
            let (tx, rx) = mpsc::channel();
            results.insert(0, (i, rx));
            queue.lock().expect("not poisoned").push((i, bar, tx));
        }
        for _ in 0..PARALLEL.min(results.len()) {
            let queue = queue.clone();
            let cancelled = cancelled.clone();
            let dir = dir.to_path_buf();
            s.spawn(move || {
                loop {
                    // Bottom layers first: they are needed first.
                    let Some((i, bar, tx)) = queue.lock().expect("not poisoned").pop() else {
                        return;
                    };
                    if cancelled.load(Ordering::SeqCst) {
                        return;
                    }
                    let path = dir.join(format!("layer-{i}"));
                    let r = download(registry, repo, &layers[i], &path, bar, &cancelled);
                    if r.is_err() {
                        let _ = std::fs::remove_file(&path);
                    }
                    let _ = tx.send(r.map(|()| path));
                }
            });
        }
        Downloads {
            results: Mutex::new(results),
            cancelled,
        }
    }

    /// Waits for layer `i`'s download; its verified file.
    fn take(&self, i: usize) -> Result<PathBuf> {
        let rx = {
            let mut results = self.results.lock().expect("not poisoned");
            let at = results
                .iter()
                .position(|(j, _)| *j == i)
                .ok_or_else(|| Error::Invalid(format!("layer {i} is not being downloaded")))?;
            results.remove(at).1
        };
        rx.recv()
            .map_err(|_| Error::Invalid(format!("the download of layer {i} stopped")))?
    }

    /// Stops the downloads not yet done (the import failed, or is done).
    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        self.results.lock().expect("not poisoned").clear();
    }
}

/// Downloads blob `d` into `path`: it is whole and verified when this returns `Ok`.
fn download(
    registry: &Registry,
    repo: &str,
    d: &Descriptor,
    path: &std::path::Path,
    bar: Box<dyn Progress>,
    cancelled: &AtomicBool,
) -> Result<()> {
    let blob = registry.blob(repo, d)?;
    let mut f = File::create(path).map_err(|e| Error::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let mut r = Counted {
        inner: blob,
        done: Arc::new(AtomicBool::new(false)),
        bar,
    };
    let mut buf = vec![0; 256 * 1024];
    loop {
        if cancelled.load(Ordering::SeqCst) {
            return Err(Error::Invalid("cancelled".into()));
        }
        let n = r
            .read(&mut buf)
            .map_err(|e| Error::Mismatch(e.to_string()))?;
        if n == 0 {
            break;
        }
        io::Write::write_all(&mut f, &buf[..n]).map_err(|e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
    }
    Ok(())
}

/// Marks when its reader (a verifying blob reader, which fails at its end unless the blob is
/// whole and matches) ended without an error, and advances a progress bar as bytes come.
struct Counted<R> {
    inner: R,
    done: Arc<AtomicBool>,
    bar: Box<dyn Progress>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.advance(n as u64);
        if n == 0 && !buf.is_empty() {
            self.done.store(true, Ordering::SeqCst);
            self.bar.finish();
        }
        Ok(n)
    }
}
