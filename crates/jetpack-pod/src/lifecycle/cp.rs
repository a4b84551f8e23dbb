//! `cp`: files between the host and a pod's app, resolved inside the app's rootfs
//! (`jetpack_runtime::copy`: nothing leads out of it). A running pod's rootfs is copied
//! to or from as it is. A pod that is not running is copied under its lock, so that no run
//! starts meanwhile; on overlay its rootfs, mounted only while the pod runs, is mounted for
//! the copy. Copying into an exited pod is refused: its next run starts from fresh clones of
//! its images, so the files would never be seen.

use std::path::PathBuf;

use jetpack_runtime::copy::{self, Copied};
use jetpack_storage::Kind;
use jetpack_store::Store;

use crate::error::{Error, Result};
use crate::pods::{PodRecord, Pods, State, Status};

/// Which way a copy goes.
#[derive(Debug, Clone)]
pub enum Copy {
    /// Host path to a path in the app.
    In { src: PathBuf, dst: String },
    /// Path in the app to a host path.
    Out { src: String, dst: PathBuf },
}

/// Copies between the host and app `app` of pod `rec`.
pub fn copy(store: &Store, rec: &PodRecord, app: &str, what: &Copy) -> Result<Copied> {
    let pods = Pods::new(store.root());
    let rec = pods.load(&rec.uuid)?;
    let uuid = &rec.uuid;
    if !rec.apps.iter().any(|a| a.name == app) {
        return Err(Error::NotFound(format!("pod {uuid} has no app {app:?}")));
    }
    let status = pods.status(&rec)?;
    let into = matches!(what, Copy::In { .. });
    let lock = match status {
        Status::Running => None,
        Status::Prepared | Status::Exited => Some(pods.try_lock(uuid)?.ok_or_else(|| {
            Error::Busy(format!(
                "pod {uuid} is being started or changed by another jetpack process; try again"
            ))
        })?),
        s @ (Status::Preparing | Status::Aborted) => {
            return Err(Error::Invalid(format!(
                "pod {uuid} is {s}: it has no rootfs to copy with"
            )));
        }
        Status::Restarting => {
            return Err(Error::Busy(format!(
                "pod {uuid} is between two runs (its restart policy): copy once it runs again"
            )));
        }
    };
    // Read again under the lock: a run may have ended meanwhile (one whose state still says
    // running was killed: the pod has exited).
    let rec = pods.load(uuid)?;
    if lock.is_some() && into && rec.state != State::Prepared {
        return Err(Error::Invalid(format!(
            "pod {uuid} has exited: its next run starts from fresh clones of its images, so \
             files copied into it now would be lost; copy them while it runs"
        )));
    }
    let a = rec
        .apps
        .iter()
        .find(|a| a.name == app)
        .ok_or_else(|| Error::NotFound(format!("pod {uuid} has no app {app:?}")))?;
    let storage = store.storage();
    let mounted = lock.is_some() && storage.kind() == Kind::Overlay;
    if mounted {
        if a.rootfs_mapped {
            return Err(Error::Invalid(format!(
                "pod {uuid} is not running, and its overlay rootfs shows the ids of its user \
                 namespace: copy while it runs"
            )));
        }
        storage.mount_pod_tree(&a.image, &a.tree, None)?;
    }
    let result = match what {
        Copy::In { src, dst } => {
            // zfs and overlay clones of a pod with a user namespace hold its host ids.
            let shift = rec.userns.filter(|_| a.rootfs_mapped).map_or(0, |m| m.host);
            match shift {
                0 => copy::copy_in(&a.rootfs, src, dst, 0),
                // Such a clone takes new files from the pod's root only (an overlay of
                // idmapped layers refuses the host root's ids).
                host => jetpack_storage::as_pod_ids(host, || {
                    Ok(copy::copy_in(&a.rootfs, src, dst, host))
                })?,
            }
        }
        Copy::Out { src, dst } => copy::copy_out(&a.rootfs, src, dst),
    };
    if mounted {
        storage.unmount_pod_tree(&a.tree)?;
    }
    result.map_err(|e| Error::Runtime(e.to_string()))
}
