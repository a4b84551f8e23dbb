//! `destroy` and `gc`: a pod removed in an order that a crash at any point leaves for `gc` to
//! finish, and what killed runs, prepares and destroys left.

use std::fs;
use std::time::Duration;

use jetpack_store::Store;

use super::stop::kill_with;
use crate::engine::Engine;
use crate::error::{Error, IoContext, Result};
use crate::network;
use crate::pods::{Pods, State, Status, now};

/// Removes a pod (killing it first if it runs): its clones, cgroups, volumes, logs and state.
///
/// Networks and cgroups go first (the pod stays whole if that fails); then the pod is hidden in
/// one rename, which is the point of no return: a destroy killed after it leaves a hidden
/// directory that no command shows and `gc` finishes removing, never a pod that claims to be
/// prepared without its clones.
pub fn destroy_with(engine: &dyn Engine, store: &Store, uuid: &str) -> Result<()> {
    let pods = Pods::new(store.root());
    let rec = pods.load(uuid).ok();
    if let Some(rec) = &rec {
        match pods.status(rec) {
            Ok(Status::Running | Status::Restarting) => kill_with(engine, store, rec)?,
            Ok(Status::Preparing) => {
                return Err(Error::Busy(format!(
                    "pod {uuid} is being prepared by another process"
                )));
            }
            // Hidden by another destroy since it was read: finished below.
            Ok(_) | Err(Error::Gone(_)) => {}
            Err(e) => return Err(e),
        }
    }
    // A pod whose `jetpack run` was killed leaves its cgroups and networks; its processes are
    // gone.
    engine.remove_leftovers(uuid)?;
    network::detach(engine, &pods, uuid)?;
    if !pods.dir(uuid).exists() {
        // Hidden and locked: another process is destroying it, and removes its clones.
        if pods.hidden_busy()?.iter().any(|u| u == uuid) {
            return Ok(());
        }
        return remove_pod_leftovers(store, uuid, None);
    }
    // Held until the end (the lock moves with the directory): a `run` cannot start the pod,
    // and a `gc` running now leaves the hidden directory to us.
    let _lock = match crate::pods::lock_dir(&pods.dir(uuid)) {
        // Another destroy hid it first: that one removes the rest.
        Err(Error::Gone(_)) => return Ok(()),
        r => r?,
    };
    let hidden = pods.hide_for_destroy(uuid)?;
    crate::pods::stop_at("pod-hidden");
    if let Some(map) = rec.as_ref().and_then(|r| r.userns.as_ref()) {
        crate::userns::release(store.root(), uuid, map);
    }
    remove_pod_leftovers(store, uuid, Some(&hidden))
}

/// Removes the clones of pod `uuid`, its own tree if it has one, and its (hidden) directory.
/// Its own tree is the jail engine's dataset of the pod's empty volumes on ZFS
/// (`D/pods/<uuid without dashes>`, mounted inside the pod's directory): destroyed with its
/// volumes (`zfs destroy -r`, which unmounts them) before the directory is removed.
fn remove_pod_leftovers(store: &Store, uuid: &str, dir: Option<&std::path::Path>) -> Result<()> {
    let own = uuid.replace('-', "");
    let prefix = format!("{own}-");
    for t in store.storage().pod_trees()? {
        if t == own || t.starts_with(&prefix) {
            remove_tree(store, &t)?;
            crate::pods::stop_at("pod-tree-removed");
        }
    }
    if let Some(dir) = dir {
        remove_hidden_dir(dir)?;
    }
    Ok(())
}

/// Removes a hidden pod directory that another `gc` may be removing too: while a destroy
/// removes its directory, the lock file goes before the directory, and a `gc` that looks in
/// between finds a free lock and takes the rest for leftovers. Whichever finds entries gone
/// under it goes on; the directory being gone is the goal.
fn remove_hidden_dir(dir: &std::path::Path) -> Result<()> {
    for _ in 0..3 {
        match fs::remove_dir_all(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if !dir.exists() {
                    return Ok(());
                }
            }
            Err(e) => return Err(e).at(dir).map_err(Error::from),
        }
    }
    fs::remove_dir_all(dir).at(dir).map_err(Error::from)
}

/// Removes the clone `tree`. A `gc` and the `destroy` of the tree's pod may both remove it
/// (the pod was hidden after `gc` listed the pods): the one that finds it gone mid-way is done.
fn remove_tree(store: &Store, tree: &str) -> Result<()> {
    let mut tries = 0;
    loop {
        match store.storage().remove_pod_tree(tree) {
            Ok(()) => return Ok(()),
            Err(e) if !store.storage().pod_trees()?.iter().any(|t| t == tree) => {
                tracing::debug!("pod tree {tree}: removed by another process ({e})");
                return Ok(());
            }
            // The other process may still be removing it: what it left, this one removes.
            Err(_) if tries < 5 => tries += 1,
            Err(e) => return Err(e.into()),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Removes pods that exited longer than `grace` ago, interrupted prepares, clones that no pod
/// owns, and the cgroups of pods whose `jetpack run` was killed. Returns the UUIDs (or tree
/// names, or `cgroups of UUID`) removed.
pub fn gc_with(engine: &dyn Engine, store: &Store, grace: Duration) -> Result<Vec<String>> {
    let pods = Pods::new(store.root());
    let mut removed = Vec::new();
    // Prepares record their pods under the writers' lock (see `prepare`): holding it, a
    // hidden directory with a free lock is what a killed create or destroy left.
    let _writers = store.lock_writers()?;
    for (uuid, dir) in pods.abandoned()? {
        engine.remove_leftovers(&uuid)?;
        remove_pod_leftovers(store, &uuid, Some(&dir))?;
        removed.push(uuid);
    }
    let cutoff = now() - grace.as_secs() as i64;
    // The clones of pods being destroyed now are their destroy's to remove.
    let mut live: std::collections::HashSet<String> = pods
        .hidden_busy()?
        .into_iter()
        .map(|u| u.replace('-', ""))
        .collect();
    for (uuid, _) in pods.all()? {
        // The lock first, then the state: a state read before the lock may be that of a
        // prepare or run that ended in between, and a finished prepare is no aborted one.
        let lock = match pods.try_lock(&uuid) {
            // Destroyed by another process since it was listed: nothing left for gc.
            Err(Error::Gone(_)) => continue,
            r => r?,
        };
        let Some(lock) = lock else {
            // Being prepared or running.
            live.insert(uuid.replace('-', ""));
            continue;
        };
        let rec = match pods.load(&uuid) {
            Ok(r) => Some(r),
            Err(_) if !pods.dir(&uuid).exists() => continue,
            // A directory without a valid state is an aborted prepare.
            Err(_) => None,
        };
        // Under its lock a pod is neither being prepared nor running.
        let garbage = rec.as_ref().is_none_or(|r| match r.state {
            State::Preparing => true,
            State::Prepared => false,
            State::Running | State::Exited => r.exited.or(r.started).unwrap_or(r.created) <= cutoff,
        });
        if garbage {
            drop(lock);
            destroy_with(engine, store, &uuid)?;
            removed.push(uuid);
            continue;
        }
        // An exited pod kept for its grace period may still have cgroups, if its `jetpack
        // run` was killed, and its overlay mounts: a pod that is not running holds none.
        // Under the pod's lock, so that a new run is not disturbed.
        // The leftovers first: a jail's mounts lie inside the clones.
        if engine.remove_leftovers(&uuid)? {
            removed.push(format!("cgroups of {uuid}"));
        }
        for a in rec.iter().flat_map(|r| &r.apps) {
            store.storage().unmount_pod_tree(&a.tree)?;
        }
        if network::detach(engine, &pods, &uuid)? {
            removed.push(format!("networks of {uuid}"));
        }
        live.insert(uuid.replace('-', ""));
    }
    for t in store.storage().pod_trees()? {
        // A clone `<uuid>-<app>`, or the pod's own tree `<uuid>` (dashes left out).
        let owner = t.split('-').next().unwrap_or_default();
        if !live.contains(owner) {
            remove_tree(store, &t)?;
            removed.push(format!("tree {t}"));
        }
    }
    // Id ranges of pods that no longer exist (a prepare killed before it recorded its range).
    let orphans = crate::userns::release_orphans(store.root(), |uuid| pods.dir(uuid).exists());
    if orphans > 0 {
        removed.push(format!("{orphans} user namespace id range(s)"));
    }
    engine.tidy();
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::remove_hidden_dir;

    #[test]
    fn a_hidden_directory_removed_by_another_process_is_no_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp
            .path()
            .join(".0c4b2c9e-6d5a-4c47-9d39-5e3b7c1d2a10.destroy");
        std::fs::create_dir_all(dir.join("apps/a")).unwrap();
        std::fs::write(dir.join("apps/a/log"), b"x").unwrap();
        remove_hidden_dir(&dir).unwrap();
        assert!(!dir.exists());
        // Already gone (the other remover finished first).
        remove_hidden_dir(&dir).unwrap();
        // A file where a directory is expected is still an error.
        std::fs::write(&dir, b"").unwrap();
        assert!(remove_hidden_dir(&dir).is_err());
    }
}
