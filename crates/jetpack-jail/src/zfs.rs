//! Empty volumes as ZFS datasets, where the store is on ZFS (Jetpack's design): the pod's
//! dataset `D/pods/<uuid>` (not mounted) holds `volume.<n>` for the pod's volume number `n`,
//! mounted on the volume's directory. A recursive snapshot of the pod's dataset then takes
//! every volume at one instant. `<uuid>` is the UUID without dashes, as the pod's clones
//! `D/pods/<uuid>-<app>` are named, so `gc` sees the dataset as the pod's.

use crate::mounts::volume_dir;
use crate::pod::{Pod, VolumeKind};

fn argv(words: &[&str]) -> Vec<String> {
    words.iter().map(|w| w.to_string()).collect()
}

/// The pod's dataset under the store's dataset `store`.
pub fn pod_dataset(store: &str, pod: &Pod) -> String {
    format!("{store}/pods/{}", pod.uuid.replace('-', ""))
}

/// An empty volume's dataset and the mode and owner its root gets once mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeDataset {
    pub dataset: String,
    pub mountpoint: std::path::PathBuf,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// The pod's empty volumes as datasets (none: the pod needs no dataset).
pub fn volume_datasets(store: &str, pod: &Pod) -> Vec<VolumeDataset> {
    let parent = pod_dataset(store, pod);
    pod.volumes
        .iter()
        .enumerate()
        .filter_map(|(n, v)| match v.kind {
            VolumeKind::Empty { mode, uid, gid } => Some(VolumeDataset {
                dataset: format!("{parent}/volume.{n}"),
                mountpoint: volume_dir(pod, &v.name),
                mode,
                uid,
                gid,
            }),
            VolumeKind::Host { .. } => None,
        })
        .collect()
}

/// `zfs` argument vectors (without the program) that make the pod's volume datasets, each
/// labelled with its volume name (`jetpack:name`, as Jetpack did).
pub fn create_volumes(store: &str, pod: &Pod) -> Vec<Vec<String>> {
    let vols = volume_datasets(store, pod);
    if vols.is_empty() {
        return Vec::new();
    }
    let mut cmds = vec![argv(&[
        "create",
        "-o",
        "canmount=off",
        "-o",
        "mountpoint=none",
        &pod_dataset(store, pod),
    ])];
    for (v, vol) in vols.iter().zip(pod.volumes.iter().filter(is_empty)) {
        cmds.push(argv(&[
            "create",
            "-o",
            &format!("mountpoint={}", v.mountpoint.display()),
            "-o",
            &format!("jetpack:name={}", vol.name),
            &v.dataset,
        ]));
    }
    cmds
}

fn is_empty(v: &&crate::pod::Volume) -> bool {
    matches!(v.kind, VolumeKind::Empty { .. })
}

/// A snapshot `name` of the pod: its volumes at once (`-r`), then each app's clone among
/// `clones` (datasets). One `zfs snapshot` with several names would make them all atomic,
/// but zfs-fuse takes one name only.
pub fn snapshot(store: &str, pod: &Pod, clones: &[String], name: &str) -> Vec<Vec<String>> {
    let mut cmds = Vec::new();
    if !volume_datasets(store, pod).is_empty() {
        let snap = format!("{}@{name}", pod_dataset(store, pod));
        cmds.push(argv(&["snapshot", "-r", &snap]));
    }
    for c in clones {
        cmds.push(argv(&["snapshot", &format!("{c}@{name}")]));
    }
    cmds
}

/// Destroys the pod's dataset with its volumes and their snapshots. Stage0's `destroy` and
/// `gc` run this very command through the store's zfs backend: the pod's dataset is one of
/// the storage's pod trees (`D/pods/<uuid>`, beside the clones `D/pods/<uuid>-<app>`).
pub fn destroy(store: &str, pod: &Pod) -> Vec<Vec<String>> {
    if volume_datasets(store, pod).is_empty() {
        return Vec::new();
    }
    vec![argv(&["destroy", "-r", &pod_dataset(store, pod)])]
}
