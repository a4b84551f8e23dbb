//! Removal and garbage collection: `remove` deletes one image (refusing while other images or
//! pods still use it), `gc` and `clean_temporaries` sweep leftovers of interrupted work. They
//! live apart from the store's opening and lookups because they are the only paths that take
//! images away, and all of them run under the writers' lock.

use std::fs;

use serde::Serialize;

use super::{Lock, Store, lock_file, short_id};
use crate::error::{Error, IoContext, Result};

impl Store {
    /// Removes an image. Refuses when other images name it as a dependency, unless `force`.
    pub fn remove(&mut self, id: &str, force: bool) -> Result<()> {
        let _w = self.write_lock()?;
        self.remove_locked(id, force)
    }

    /// [`Store::remove`] for callers that hold the writers' lock.
    pub(crate) fn remove_locked(&mut self, id: &str, force: bool) -> Result<()> {
        if !self.index()?.contains(id)? {
            return Err(Error::NotFound(format!("image {id} is not in the store")));
        }
        let dependents = self.index()?.dependents(id)?;
        if !dependents.is_empty() && !force {
            // Named as `images` shows them, so the one to remove first is plain.
            let index = self.index()?;
            let mut list = Vec::new();
            for d in &dependents {
                list.push(match index.get(d)? {
                    Some(row) => format!("{} ({})", row.name, short_id(d)),
                    None => short_id(d),
                });
            }
            return Err(Error::InUse(format!(
                "image {} is a dependency of {}: remove those first, or use --force",
                short_id(id),
                list.join(", ")
            )));
        }
        // Everything that can refuse is asked before anything changes: a refused removal
        // leaves the image exactly as it was.
        let pods = self.pods_using(id)?;
        if !pods.is_empty() {
            return Err(Error::InUse(format!(
                "image {} is used by pod {}: destroy {} first",
                short_id(id),
                pods.join(", "),
                if pods.len() == 1 { "it" } else { "them" }
            )));
        }
        self.storage.check_remove_image(id)?;
        // Invisible first, then the files; a crash in between leaves leftovers for gc.
        self.index_mut()?.remove(id)?;
        self.storage.remove_image(id)?;
        let dir = self.image_dir(id);
        let had_layers = !self.image_layers(id)?.is_empty();
        if dir.exists() {
            fs::remove_dir_all(&dir).at(&dir)?;
        }
        // The layers only this image had go with it.
        if had_layers {
            self.collect_layers(None)?;
            self.storage.collect()?;
        }
        Ok(())
    }

    /// Takes the writers' lock (waits for other writers): for work elsewhere that must not
    /// interleave with removal and gc, such as recording which images a new pod uses.
    pub fn lock_writers(&self) -> Result<Lock> {
        self.write_lock()
    }

    /// The UUIDs of the pods whose state (`pods/<uuid>/pod.json`) names image `id` for one of
    /// their apps: a prepared or exited pod clones its images again at its next run.
    fn pods_using(&self, id: &str) -> Result<Vec<String>> {
        let mut out: Vec<String> = self
            .pod_images()?
            .into_iter()
            .filter(|(_, images)| images.iter().any(|i| i == id))
            .map(|(uuid, _)| uuid)
            .collect();
        out.sort();
        Ok(out)
    }

    /// Every pod (prepared, running or exited) with the images its apps name, read from its
    /// state (`pods/<uuid>/pod.json`); a pod whose state cannot be read names none.
    pub(crate) fn pod_images(&self) -> Result<Vec<(String, Vec<String>)>> {
        let dir = self.layout.pods();
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => Err(e).at(&dir)?,
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.at(&dir)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let Ok(bytes) = fs::read(jetpack_settings::PodDir::new(entry.path()).state()) else {
                continue;
            };
            let Ok(state) = serde_json::from_slice::<serde_json::Value>(&bytes) else {
                continue;
            };
            let images = state["apps"].as_array().map_or_else(Vec::new, |apps| {
                apps.iter()
                    .filter_map(|a| a["image"].as_str().map(str::to_string))
                    .collect()
            });
            out.push((name, images));
        }
        Ok(out)
    }

    /// Removes leftovers of interrupted work: unlocked temporary trees and metadata, sealed
    /// trees and metadata that no index row refers to, and index rows whose files are gone.
    pub fn gc(&mut self) -> Result<GcReport> {
        let _w = self.write_lock()?;
        let mut report = self.clean_temporaries()?;
        let indexed: std::collections::HashSet<String> =
            self.index()?.all()?.into_iter().map(|r| r.id).collect();
        for name in self.storage.images()? {
            if !indexed.contains(&name) && !crate::import::is_layer(&name) {
                self.storage.remove_image(&name)?;
                report.removed.push(format!("unindexed image tree {name}"));
            }
        }
        let images = self.layout.images();
        for entry in fs::read_dir(&images).at(&images)? {
            let entry = entry.at(&images)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if !indexed.contains(&name) {
                fs::remove_dir_all(entry.path()).at(entry.path())?;
                report
                    .removed
                    .push(format!("unindexed image metadata {name}"));
            }
        }
        let trees: std::collections::HashSet<String> = self.storage.images()?.into_iter().collect();
        for id in &indexed {
            if !trees.contains(id) || !self.layout.image_manifest(id).exists() {
                self.index_mut()?.remove(id)?;
                let _ = self.storage.remove_image(id);
                let _ = fs::remove_dir_all(self.image_dir(id));
                report
                    .removed
                    .push(format!("index entry {id} whose files are missing"));
            }
        }
        report.removed.extend(self.collect_layers(None)?);
        self.storage.collect()?;
        Ok(report)
    }

    /// Discards temporary trees and metadata whose importing process is gone (its lock is free).
    /// Callers hold the writers' lock.
    pub(crate) fn clean_temporaries(&self) -> Result<GcReport> {
        let mut report = GcReport::default();
        let tmp = self.layout.tmp();
        let mut live = std::collections::HashSet::new();
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if let Some(owner) = name.strip_suffix(".lock")
                && lock_file(&entry.path(), false)?.is_none()
            {
                live.insert(owner.to_string());
            }
        }
        for name in self.storage.temps()? {
            let owner = name.split('.').next().unwrap_or(&name).to_string();
            if !live.contains(&owner) {
                self.storage.discard_temp(&name)?;
                report.removed.push(format!("temporary tree {name}"));
            }
        }
        for entry in fs::read_dir(&tmp).at(&tmp)? {
            let entry = entry.at(&tmp)?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let owner = name.split('.').next().unwrap_or(&name).to_string();
            if live.contains(&owner) {
                continue;
            }
            let p = entry.path();
            if p.is_dir() {
                fs::remove_dir_all(&p).at(&p)?;
            } else {
                fs::remove_file(&p).at(&p)?;
            }
            if !name.ends_with(".lock") {
                report.removed.push(format!("temporary {name}"));
            }
        }
        Ok(report)
    }
}

/// What `gc` removed.
#[derive(Debug, Default, Serialize)]
pub struct GcReport {
    pub removed: Vec<String>,
}
