//! Checks that `list` and `images` agree with what is on disk, shared by the crash and
//! stress tests.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::common::Env;

pub fn entries(dir: &Path) -> BTreeSet<String> {
    match std::fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

pub fn json(e: &Env, args: &[&str]) -> Vec<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_str(&e.ok(args)).unwrap();
    v.as_array().unwrap().clone()
}

pub fn image_ids(e: &Env) -> BTreeSet<String> {
    json(e, &["images", "--json"])
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

/// The clone directories of the listed pods, as the backend names them.
pub fn clones(pods: &[serde_json::Value]) -> BTreeSet<String> {
    pods.iter()
        .flat_map(|p| {
            let uuid = p["uuid"].as_str().unwrap().replace('-', "");
            p["apps"]
                .as_array()
                .unwrap()
                .iter()
                .map(move |a| format!("{uuid}-{}", a["name"].as_str().unwrap()))
        })
        .collect()
}

/// `list` and `images` agree with the disk, whatever was killed where.
pub fn consistent(e: &Env, what: &str) -> Vec<serde_json::Value> {
    let root = e.root();
    let pods = json(e, &["list", "--json"]);
    let listed: BTreeSet<String> = pods
        .iter()
        .map(|p| p["uuid"].as_str().unwrap().to_string())
        .collect();
    let visible: BTreeSet<String> = entries(&root.join("pods"))
        .into_iter()
        .filter(|n| !n.starts_with('.'))
        .collect();
    assert_eq!(visible, listed, "{what}: pod directories vs list");
    for p in &pods {
        // Nothing runs any more: a pod is prepared, exited or aborted.
        let state = p["state"].as_str().unwrap();
        assert!(
            ["prepared", "exited", "aborted"].contains(&state),
            "{what}: {p}"
        );
    }
    for id in image_ids(e) {
        assert!(
            root.join("images").join(&id).join("manifest").is_file(),
            "{what}: {id} is listed without its manifest"
        );
        assert!(
            root.join("storage/images").join(&id).is_dir(),
            "{what}: {id} is listed without its tree"
        );
        for l in layer_trees(e, &id) {
            assert!(
                root.join("storage/images").join(&l).is_dir(),
                "{what}: {id} is listed without its layer {l}"
            );
        }
    }
    // A killed run leaves its overlay clones and its network namespace mounted until the
    // next run, destroy or gc: any mount left is one of a listed pod's.
    let mut owned: BTreeSet<PathBuf> = clones(&pods)
        .into_iter()
        .map(|c| Path::new("storage/pods").join(c))
        .collect();
    owned.extend(
        listed
            .iter()
            .map(|u| Path::new("pods").join(u).join("netns")),
    );
    let canonical = root.canonicalize().unwrap();
    for m in jetpack_testutil::mounts_below(&root) {
        let rel = m.strip_prefix(&canonical).unwrap();
        assert!(
            owned.iter().any(|o| rel.starts_with(o)),
            "{what}: {} is mounted",
            m.display()
        );
    }
    pods
}

/// The layer trees image `id` uses (none for an ACI).
pub fn layer_trees(e: &Env, id: &str) -> Vec<String> {
    let v: serde_json::Value =
        serde_json::from_str(&e.ok(&["image", "show", "--json", id])).unwrap();
    v["layers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|l| format!("l-{}", l.as_str().unwrap().trim_start_matches("sha256:")))
                .collect()
        })
        .unwrap_or_default()
}

/// After `gc --grace 0s`: no leftover of any kind, every pod left is prepared and runs, and
/// every image listed can be prepared.
pub fn clean(e: &Env, what: &str) {
    let root = e.root();
    let pods = consistent(e, what);
    assert_eq!(
        entries(&root.join("pods"))
            .into_iter()
            .filter(|n| n.starts_with('.'))
            .collect::<Vec<_>>(),
        Vec::<String>::new(),
        "{what}: hidden pod directories"
    );
    assert_eq!(entries(&root.join("tmp")), BTreeSet::new(), "{what}: tmp");
    assert_eq!(
        entries(&root.join("storage/tmp")),
        BTreeSet::new(),
        "{what}: storage/tmp"
    );
    assert_eq!(
        entries(&root.join("storage/pods")),
        clones(&pods),
        "{what}: clones"
    );
    let ids = image_ids(e);
    assert_eq!(entries(&root.join("images")), ids, "{what}: images/");
    let (layers, trees): (BTreeSet<String>, BTreeSet<String>) =
        entries(&root.join("storage/images"))
            .into_iter()
            .partition(|t| t.starts_with("l-"));
    assert_eq!(trees, ids, "{what}: storage/images");
    let used: BTreeSet<String> = ids.iter().flat_map(|id| layer_trees(e, id)).collect();
    assert_eq!(layers, used, "{what}: layers");
    // Overlay's records of stacked trees: one per stacked tree, none pending.
    for r in entries(&root.join("storage/below")) {
        assert!(
            !r.starts_with('.') && root.join("storage/images").join(&r).is_dir(),
            "{what}: stale stack record {r}"
        );
    }
    assert_eq!(
        jetpack_testutil::mounts_below(&root),
        Vec::<PathBuf>::new(),
        "{what}: mounts"
    );
    for p in &pods {
        assert_eq!(p["state"], "prepared", "{what}: gc kept {p}");
        e.ok(&["run", p["uuid"].as_str().unwrap()]);
    }
    for id in ids {
        let uuid = e.ok(&["prepare", "--net=none", &id]);
        e.ok(&["destroy", uuid.trim()]);
    }
}
