//! Jetpack pods as FreeBSD jails, planned without FreeBSD: pure functions from a reified pod
//! and the host's jail settings to the exact parameters, files and commands the jail engine
//! uses — the jail's parameters (`jail.conf` and the `jail_set(2)` list), its mounts
//! (`nmount(2)` options and fstab lines), its network (address, `ifconfig`, `epair(4)`, pf),
//! its isolators (rctl, `allow.*`), the ZFS datasets of its volumes and each app's stage 2.
//!
//! Nothing here calls the operating system except [`lease`], which keeps pod addresses in
//! files; the FreeBSD system calls live in `jetpack-runtime` under `cfg(target_os =
//! "freebsd")`. So this crate builds, and is tested, on any Unix.
#![forbid(unsafe_code)]

mod error;
pub mod isolators;
pub mod lease;
pub mod mounts;
pub mod net;
pub mod params;
mod plan;
pub mod pod;
pub mod stage2;
pub mod zfs;

pub use error::{Error, Result};
pub use plan::{DEFAULT_DEVFS_RULESET, DEFAULT_SECURELEVEL, JailPlan, plan};
pub use pod::{App, AppMount, NetMode, Os, Pod, Port, Protocol, Settings, Volume, VolumeKind};
