//! Jetpack's settings and the layout of its store.
//!
//! `jetpack.conf` (`KEY = VALUE` lines) and `-o KEY=VALUE` overrides are parsed once, key by key
//! through one table ([`KEYS`]), into [`Settings`]: one typed part per area (store, net, mds,
//! fetch, build, paths). Nothing reads a setting by its name afterwards. [`Config`] keeps, besides the
//! typed values, each value's text and where it came from, for `jetpack config` and for passing
//! the same configuration to a child process.
//!
//! [`Layout`] names every path under the store root.
//!
//! A crate of its own so that the metadata service (jetpack-mds) can read its settings and
//! files without depending on the image store (SQLite, decompressors).

#![forbid(unsafe_code)]

mod config;
mod keys;
mod layout;
mod settings;
mod values;

pub use config::{Config, DEFAULT_CONFIG_FILE};
pub use keys::{KEYS, Key};
pub use layout::{Layout, PodDir};
pub use settings::{
    Backend, BuildCompression, BuildSettings, FetchSettings, MdsSettings, NetSettings,
    PathSettings, Settings, StoreSettings,
};

/// A configuration that cannot be used; the message names the key, the value and its source.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct Error(pub String);

pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests;
