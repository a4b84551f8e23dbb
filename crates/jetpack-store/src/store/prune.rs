//! `image gc`: removes the images nothing needs any more. An image is kept while a pod
//! (prepared, running or exited) names it, while a tag names it (a tag is the user's explicit
//! pin), while another kept image depends on it, while it is among the newest `keep` of its
//! name, and while it was used (a pod prepared from it) or, never used, imported within
//! `older_than`. Everything else goes, dependents before their dependencies.

use std::collections::{HashMap, HashSet};

use super::{Store, now};
use crate::error::Result;
use crate::index::{ImageRow, Index};

/// What `image gc` keeps.
#[derive(Debug, Clone, Copy)]
pub struct PruneOptions {
    /// Images used (or, never used, imported) within this many seconds are kept.
    pub older_than: u64,
    /// The newest this many images (by import time) of each name are kept.
    pub keep: usize,
}

impl Store {
    /// Records that pods were just prepared from these images (`images.last_used`), which
    /// `image gc` reads. Opens its own connection: the store may hold a read-only one.
    pub fn record_use(&self, ids: &[&str]) -> Result<()> {
        let mut index = Index::open(&self.layout.index())?;
        let when = now();
        for id in ids {
            index.touch(id, when)?;
        }
        Ok(())
    }

    /// The images `image gc` would remove with these options, in the order it removes them
    /// (an image before the images it depends on).
    pub fn prunable(&self, opts: &PruneOptions) -> Result<Vec<ImageRow>> {
        let rows = self.index()?.all()?;
        let in_pods: HashSet<String> = self.pod_images()?.into_iter().flat_map(|p| p.1).collect();
        let cutoff = now().saturating_sub(i64::try_from(opts.older_than).unwrap_or(i64::MAX));
        // `all` lists newest first: the first `keep` of each name are its newest.
        let mut seen: HashMap<&str, usize> = HashMap::new();
        let mut candidates: HashSet<&str> = HashSet::new();
        for r in &rows {
            let n = seen.entry(r.name.as_str()).or_default();
            *n += 1;
            let recent = r.last_used.unwrap_or(r.imported) > cutoff;
            if *n > opts.keep && !recent && r.tags.is_empty() && !in_pods.contains(&r.id) {
                candidates.insert(r.id.as_str());
            }
        }
        // An image goes only with every image that depends on it: drop candidates with a
        // dependent that stays, until none changes.
        let deps: HashMap<&str, &[String]> =
            rows.iter().map(|r| (r.id.as_str(), &r.deps[..])).collect();
        loop {
            let kept: Vec<&str> = rows
                .iter()
                .filter(|r| !candidates.contains(r.id.as_str()))
                .flat_map(|r| r.deps.iter().map(String::as_str))
                .filter(|d| candidates.contains(d))
                .collect();
            if kept.is_empty() {
                break;
            }
            for d in kept {
                candidates.remove(d);
            }
        }
        // Dependents first: an image is next once no remaining candidate depends on it.
        let mut order = Vec::new();
        let mut left: Vec<&ImageRow> = rows
            .iter()
            .filter(|r| candidates.contains(r.id.as_str()))
            .collect();
        while !left.is_empty() {
            let needed: HashSet<&str> = left
                .iter()
                .flat_map(|r| deps[r.id.as_str()].iter().map(String::as_str))
                .collect();
            let (now_free, rest): (Vec<&ImageRow>, Vec<&ImageRow>) = left
                .into_iter()
                .partition(|r| !needed.contains(r.id.as_str()));
            if now_free.is_empty() {
                // A dependency cycle (impossible for content-addressed IDs): leave it.
                break;
            }
            order.extend(now_free.into_iter().cloned());
            left = rest;
        }
        Ok(order)
    }

    /// Removes what [`Store::prunable`] lists, under the writers' lock (no pod can be
    /// prepared from an image in between), each as `image rm` removes it. Returns the
    /// removed images.
    pub fn prune_images(&mut self, opts: &PruneOptions) -> Result<Vec<ImageRow>> {
        let _w = self.write_lock()?;
        let plan = self.prunable(opts)?;
        let mut removed = Vec::new();
        for row in plan {
            self.remove_locked(&row.id, false)?;
            removed.push(row);
        }
        Ok(removed)
    }
}
