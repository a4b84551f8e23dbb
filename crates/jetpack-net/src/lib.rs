//! Pod networks on Linux through CNI: network configurations in a directory (one
//! `.conf`/`.conflist` file per network, as for any CNI runtime), the plugin protocol (ADD, DEL,
//! CHECK over environment variables and JSON on stdin/stdout), and the text of the `/etc/hosts`
//! and `/etc/resolv.conf` a pod gets when its image has none.
//!
//! The network namespace itself is made by the isolation engine (`jetpack_runtime::linux::
//! netns`); what was added is recorded by the caller, with the exact configuration used, so
//! that DEL gets the same configuration (CNI requires it) even if the file changed since.

#![forbid(unsafe_code)]

mod cidr;
mod cni;
mod conf;
mod error;
mod etc;
mod host;

pub use cidr::Cidr;
pub use cni::{Attachment, Invocation, PortMapping, bandwidth_config, check, del};
pub use conf::{
    Claim, DEFAULT_NETWORK, Network, check_default, claim_default, default_config, find, load_all,
    load_network, write_default,
};
pub use error::{Error, Result};
pub use etc::{hosts_file, resolv_conf, resolver_settings};

/// Where CNI plugins are looked for when the configuration does not say.
pub const DEFAULT_PLUGIN_PATH: &str = "/usr/lib/cni:/usr/libexec/cni:/opt/cni/bin";
