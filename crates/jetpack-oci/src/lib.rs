//! OCI and Docker images, as Jetpack reads them, without I/O: image references in the
//! transport syntax skopeo and podman use (`docker://`, `oci:`, `oci-archive:`,
//! `docker-archive:`), manifests and indexes of both formats with the host's platform chosen,
//! layer chain IDs, and the image configuration mapped to an appc image manifest
//! (docker2aci's rules, see `docs/architecture.md`) and back, for export.
#![forbid(unsafe_code)]

pub mod chain;
pub mod config;
pub mod digest;
pub mod error;
pub mod manifest;
pub mod mapping;
pub mod media;
pub mod platform;
pub mod reference;

pub use error::{Error, Result};
pub use manifest::{DockerArchiveEntry, Parsed, parse_docker_archive_manifest, parse_manifest};
pub use mapping::image_manifest;
pub use platform::{Platform, select};
pub use reference::{DockerRef, ImageRef};
