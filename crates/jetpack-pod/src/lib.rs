//! Pods in stage0: reification of pod manifests, pod state with crash-safe locking, and the
//! lifecycle (prepare, run, stop, kill, destroy, gc) over the image store and the isolation
//! engine.

mod engine;
pub mod error;
pub mod isolators;
pub mod lifecycle;
pub mod metadata;
pub mod network;
pub mod pods;
pub mod reify;
pub mod userns;

pub use error::{Error, Result};
pub use lifecycle::{
    EnterOptions, PodOptions, build_spec, destroy, enter, gc, kill, prepare, run, stop,
};
pub use pods::{PodRecord, Pods, State, Status};
pub use reify::{AppRequest, PodRequest, parse_isolator, parse_mount, parse_volume, reify};
