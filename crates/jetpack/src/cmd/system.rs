//! `jetpack system df`: what the store holds on disk and what `image gc` would reclaim.

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use jetpack_pod::Pods;
use jetpack_store::{Config, PruneOptions, Store};

use crate::fmt;

/// `image gc` with its defaults: 24h, no --keep.
const GC_DEFAULTS: PruneOptions = PruneOptions {
    older_than: 24 * 3600,
    keep: 0,
};

pub fn df(cfg: &Config, json: bool) -> Result<ExitCode> {
    let store = Store::open(cfg)?;
    let rows = store.images()?;
    // Sizes of images from the index, as `images` shows them (rendered tree) and their files.
    let tree: u64 = rows.iter().map(|r| r.tree_size).sum();
    let files: u64 = rows.iter().map(|r| r.aci_size).sum();
    let prunable = store.prunable(&GC_DEFAULTS)?;
    let reclaimable: u64 = prunable.iter().map(|r| r.aci_size + r.tree_size).sum();
    // OCI layers are stored once however many images share them; the index has no size for
    // them, so their trees are measured.
    let mut layers = BTreeSet::new();
    for r in &rows {
        layers.extend(store.image_layers(&r.id)?);
    }
    let layer_bytes: u64 = layers
        .iter()
        .map(|l| tree_bytes(&store.storage().image_path(l)))
        .sum();
    let pods = Pods::new(store.root());
    let mut states: BTreeMap<String, u64> = BTreeMap::new();
    let mut pod_bytes = 0;
    let all = pods.all()?;
    for (uuid, rec) in &all {
        let state = match rec {
            Some(rec) => pods.status(rec)?.to_string(),
            None => "aborted".to_string(),
        };
        *states.entry(state).or_default() += 1;
        pod_bytes += tree_bytes(&pods.dir(uuid));
    }
    if json {
        let v = serde_json::json!({
            "images": {
                "count": rows.len(),
                "size": tree,
                "files": files,
                "reclaimable": reclaimable,
                "reclaimable_count": prunable.len(),
            },
            "layers": { "count": layers.len(), "size": layer_bytes },
            "pods": { "count": all.len(), "states": states, "size": pod_bytes },
            "volumes": { "count": 0, "size": 0 },
        });
        outln!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(ExitCode::SUCCESS);
    }
    let by_state: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    outln!("TYPE     COUNT  SIZE        RECLAIMABLE");
    outln!(
        "images   {:<6} {:<11} {} ({} images; image files {})",
        rows.len(),
        fmt::size(tree),
        fmt::size(reclaimable),
        prunable.len(),
        fmt::size(files)
    );
    outln!("layers   {:<6} {}", layers.len(), fmt::size(layer_bytes));
    outln!(
        "pods     {:<6} {:<11} {}",
        all.len(),
        fmt::size(pod_bytes),
        if by_state.is_empty() {
            String::new()
        } else {
            format!("({})", by_state.join(", "))
        }
    );
    outln!("volumes  0      0 B         (empty volumes live in their pod's directory)");
    Ok(ExitCode::SUCCESS)
}

/// The bytes of the regular files under `path`, on its file system only (a running pod's
/// mounts are not its own), without following symlinks; 0 for what cannot be read.
fn tree_bytes(path: &Path) -> u64 {
    let Ok(top) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    let dev = top.dev();
    let mut total = 0;
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in rd.flatten() {
            let Ok(m) = entry.metadata() else { continue };
            if m.is_dir() && m.dev() == dev {
                stack.push(entry.path());
            } else if m.is_file() {
                total += m.len();
            }
        }
    }
    total
}
