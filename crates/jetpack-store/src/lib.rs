//! The Jetpack image store: streaming ACI import onto a storage backend,
//! dependency rendering, the SQLite index, lookup, export, removal and garbage collection.

#![forbid(unsafe_code)]

pub mod error;
pub mod export;
pub mod import;
pub mod index;
pub mod lookup;
mod origin;
mod root;
pub mod store;
pub mod tags;

pub use error::{Error, Result};
pub use import::{ImportOptions, Imported, OnDuplicate, Source, validate_aci};
pub use index::{CacheEntry, ImageRow, OciOrigin, TagSet};
pub use jetpack_settings::{self as settings, Config, Layout, PodDir, Settings};
pub use lookup::Pick;
pub use root::root_problem;
pub use store::{GcReport, PruneOptions, Scratch, Store, short_id};
pub use tags::check_tag;
