//! What stage0 hands to the isolation engine: a pod fully resolved to host paths and numeric
//! credentials. Nothing here is looked up again at start, so the start path does no name
//! resolution, no network, and no image store access.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Network of the pod.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetMode {
    /// Share the host's network namespace.
    Host,
    /// A new network namespace with only loopback, up.
    Loopback,
}

/// A bind mount into an app's rootfs (a `host` volume, or an `empty` volume's directory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Host path of the source.
    pub source: PathBuf,
    /// Absolute path inside the app's rootfs; resolved without leaving the rootfs, missing
    /// directories created.
    pub target: String,
    pub read_only: bool,
    pub recursive: bool,
}

/// One app of the pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppSpec {
    /// The pod app name (AC Name): `AC_APP_NAME`, the log and status directory name.
    pub name: String,
    /// Host path of the app's writable rootfs (a clone of its image).
    pub rootfs: PathBuf,
    /// argv; `exec[0]` is resolved like execvp with the app's PATH inside the rootfs.
    pub exec: Vec<String>,
    /// The complete environment (PATH, AC_APP_NAME, AC_METADATA_URL, container, app vars).
    pub env: Vec<(String, String)>,
    pub uid: u32,
    pub gid: u32,
    /// Exactly these supplementary groups (none if empty).
    pub supplementary_gids: Vec<u32>,
    /// Absolute path inside the rootfs; must exist.
    pub working_dir: String,
    pub mounts: Vec<MountSpec>,
    pub read_only_rootfs: bool,
    /// Event handlers: argv run with the same rootfs, credentials and environment.
    pub pre_start: Option<Vec<String>>,
    pub post_stop: Option<Vec<String>>,
}

/// A pod ready to start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PodSpec {
    pub uuid: String,
    pub hostname: String,
    pub net: NetMode,
    /// Host directory of the pod: `apps/<name>/log` and `apps/<name>/exit` are written here.
    pub dir: PathBuf,
    pub apps: Vec<AppSpec>,
    /// Attach the caller's terminal to the single app (`run -t`).
    pub tty: bool,
}
