//! Jetpack pods on Linux: stage1 (one set of namespaces per pod and a small init as PID 1 that
//! starts the apps, reaps, forwards signals and records exit statuses) and stage2 (one app:
//! its own rootfs, credentials, environment, working directory, exec).
//!
//! - [`resolve`]: lookups inside an app's rootfs (user, group, exec, working directory) that
//!   stage0 does before anything runs.
//! - `linux`: the engine: `linux::run`, `linux::enter`, `linux::signal_pod`.
//! - `freebsd` (FreeBSD only): the system calls of the jail engine (`jetpack-jail` plans it).
//! - [`exit`]: how apps and pods end, and the per-app exit file; [`appdir`]: an app's log and
//!   exit file, written the same way by every engine.
//! - [`caps`]: capability names and the appc default set.
//! - [`copy`]: `cp` between the host and an app's rootfs, never led out of it.

pub mod appdir;
pub mod caps;
pub mod copy;
pub mod detach;
mod error;
pub mod exit;
#[cfg(target_os = "freebsd")]
pub mod freebsd;
mod inroot;
#[cfg(target_os = "linux")]
pub mod linux;
pub mod resolve;
pub mod rooted;
pub mod spec;

pub use error::{Error, Result, errno_text};
pub use exit::{AppExit, AppStart, PodExit};
pub use spec::{
    AppSpec, DEFAULT_CAPABILITIES, EmptyVolume, IdMap, MountSpec, NetMode, PodSpec, PortSpec,
    Resources, Seccomp, SeccompMode, Security, VolumeSpec,
};
