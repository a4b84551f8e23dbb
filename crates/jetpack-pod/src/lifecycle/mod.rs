//! Pod lifecycle in stage0, one module per verb: [`prepare`] (reified manifest, constant-time
//! clones), [`spec`] (the pod resolved to what the engine runs), [`run`], [`stop`] (stop,
//! kill), [`destroy`] (destroy, gc), [`enter`] (exec, console), [`cp`] and [`ps`] (ps, top).
//!
//! Each verb takes the [`Engine`] it works through (`*_with`); the functions of the verb's
//! name use this host's engine.

pub mod cp;
pub mod destroy;
pub mod enter;
pub mod prepare;
pub mod ps;
pub mod run;
pub mod spec;
pub mod stop;
pub mod supervise;
pub mod watch;

use std::time::Duration;

use appc::PodManifest;
use jetpack_store::Store;

pub use destroy::{destroy_with, gc_with};
pub use enter::{EnterOptions, enter_with};
pub use prepare::{PodOptions, prepare_with, with_ports};
pub use run::{ReadyHook, RunOptions, lock_for_run, run_attached_with, run_with, run_with_options};
pub use spec::{Attach, DEFAULT_PATH, build_spec, load_manifest, manifest_text};
pub use stop::{kill_with, stop_with};
pub use supervise::{Report, supervise_with};
pub use watch::{follow, wait_ended, wait_ready};

use crate::engine::Engine;
use crate::error::Result;
use crate::pods::PodRecord;

/// This host's engine, for pods of `store`.
#[cfg(target_os = "linux")]
pub fn native(_store: &Store) -> Box<dyn Engine> {
    Box::new(crate::engine::linux::LinuxEngine)
}

/// This host's engine, for pods of `store`: jails with the store's jail settings, empty
/// volumes as datasets of its ZFS dataset if it has one.
#[cfg(target_os = "freebsd")]
pub fn native(store: &Store) -> Box<dyn Engine> {
    Box::new(crate::engine::freebsd::JailEngine {
        settings: store.settings().jail.clone(),
        root: store.root().to_path_buf(),
        zfs_dataset: store.zfs_dataset().map(str::to_string),
    })
}

/// See [`prepare_with`].
pub fn prepare(store: &Store, manifest: &PodManifest, opts: &PodOptions) -> Result<PodRecord> {
    prepare_with(&*native(store), store, manifest, opts)
}

/// See [`run_with`].
pub fn run(store: &Store, rec: &PodRecord, tty: bool) -> Result<i32> {
    run_with(&*native(store), store, rec, tty)
}

/// See [`run_attached_with`].
pub fn run_attached(store: &Store, rec: &PodRecord, attach: &Attach) -> Result<i32> {
    run_attached_with(&*native(store), store, rec, attach)
}

/// See [`run_with_options`].
pub fn run_with_opts(store: &Store, rec: &PodRecord, opts: RunOptions) -> Result<i32> {
    run_with_options(&*native(store), store, rec, opts)
}

/// See [`supervise_with`].
pub fn supervise(store: &Store, rec: &PodRecord, report: Report) -> Result<i32> {
    supervise_with(&*native(store), store, rec, report)
}

/// See [`stop_with`].
pub fn stop(store: &Store, rec: &PodRecord, timeout: Duration) -> Result<()> {
    stop_with(&*native(store), store, rec, timeout)
}

/// See [`kill_with`].
pub fn kill(store: &Store, rec: &PodRecord) -> Result<()> {
    kill_with(&*native(store), store, rec)
}

/// See [`destroy_with`].
pub fn destroy(store: &Store, uuid: &str) -> Result<()> {
    destroy_with(&*native(store), store, uuid)
}

/// See [`gc_with`].
pub fn gc(store: &Store, grace: Duration) -> Result<Vec<String>> {
    gc_with(&*native(store), store, grace)
}

/// See [`enter_with`].
pub fn enter(
    store: &Store,
    rec: &PodRecord,
    app: &str,
    command: &[String],
    tty: bool,
    opts: &EnterOptions,
) -> Result<i32> {
    enter_with(&*native(store), store, rec, app, command, tty, opts)
}
