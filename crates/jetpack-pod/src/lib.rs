//! Pods in stage0: reification of pod manifests, pod state with crash-safe locking, and the
//! lifecycle (prepare, run, stop, kill, destroy, gc) over the image store and the isolation
//! engine.
#![forbid(unsafe_code)]

pub mod engine;
pub mod error;
pub mod host;
pub mod isolators;
pub mod lifecycle;
pub mod metadata;
pub mod network;
pub mod notify;
pub mod podopts;
pub mod pods;
pub mod reify;
pub mod restart;
pub mod rootfs;
pub mod service;
pub mod state;
pub mod userns;

pub use engine::Engine;
pub use error::{Error, Result};
/// Starting a detached supervisor and taking the descriptor it is handed.
pub use jetpack_runtime::detach;
pub use lifecycle::{
    Attach, EnterOptions, PodOptions, Report, RunOptions, build_spec, destroy, destroy_with, enter,
    enter_with, follow, gc, gc_with, kill, kill_with, manifest_text, prepare, prepare_with, run,
    run_attached, run_attached_with, run_with, run_with_options, run_with_opts, stop, stop_with,
    supervise, supervise_with, wait_ended, wait_ready, with_ports,
};
pub use podopts::EtcOptions;
pub use pods::{PodRecord, Pods, State, Status};
pub use reify::{AppRequest, PodRequest, parse_isolator, parse_mount, parse_volume, reify};
pub use restart::RestartPolicy;
