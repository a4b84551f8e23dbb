//! The appc metadata service (digest §10).
//!
//! One service per host. Pods register over a unix socket ([`register`]) and
//! stay registered while that connection is open; the HTTP side
//! ([`Server`]) serves `/<token>/acMetadata/v1/...` entirely from memory, to
//! requests that reach the service the way the pod was registered to: from
//! one of its addresses on the service's main listener, on the host's
//! loopback listener for a pod without addresses (the host's network), or on
//! a listener of the pod's own, passed with its registration
//! ([`register_with_listener`]).

#![forbid(unsafe_code)]

mod client;
mod conn;
mod control;
mod daemon;
mod error;
mod form;
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod key;
mod pod;
mod registry;
mod server;

use std::net::{IpAddr, SocketAddr};

use serde::{Deserialize, Serialize};

pub use client::{Closer, Registered, register, register_with_listener};
pub use conn::Limits;
pub use daemon::{Daemon, listen_address};
pub use error::{Error, Result};
pub use key::{HostKey, KEY_LEN, ensure_host_key, load_host_key, new_token};
pub use server::{Server, ServerConfig};

/// The service's TCP port: 1104, unassigned in the IANA registry.
pub const DEFAULT_PORT: u16 = 1104;

/// What a pod sends on the control socket, as one JSON line.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct Registration {
    /// The pod UUID, canonical hyphenated form.
    pub uuid: String,
    /// At least 32 hex digits; from [`new_token`].
    pub token: String,
    /// The pod's addresses: a request on the service's main listener must
    /// come from one of them.
    pub ips: Vec<IpAddr>,
    /// A pod with no address of its own (on the host's network): its
    /// requests are answered on the service's loopback listener
    /// (`127.0.0.1`, only the host's network namespace reaches it), by token
    /// alone, and nowhere else. It has no `ips`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub token_only: bool,
    /// The reified pod manifest, served byte for byte at `/pod/manifest`.
    pub pod_manifest: String,
    /// One entry per app of the pod manifest.
    pub apps: Vec<AppImage>,
}

/// The image manifest behind one pod app.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct AppImage {
    /// The app's name in the pod manifest.
    pub name: String,
    /// The image manifest JSON, served byte for byte.
    pub image_manifest: String,
}

/// `AC_METADATA_URL` for a pod: `http://HOST:PORT/<token>`, without a
/// trailing slash since clients append `/acMetadata/v1/...`.
pub fn metadata_url(addr: SocketAddr, token: &str) -> String {
    format!("http://{addr}/{token}")
}

/// The answer to a registration that arrives while the service exits; the
/// client reports it as [`Error::NotRunning`] so the caller starts a new one.
pub(crate) const SHUTTING_DOWN: &str = "shutting down";
