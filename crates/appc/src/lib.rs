//! Types of the App Container Specification (appc) with their JSON forms and
//! validation rules: image and pod manifests, identifiers, image IDs,
//! labels, annotations, isolators, resource quantities and image references.
//!
//! Reading follows the reference implementation (the `schema` package of
//! `appc/spec`) so that what `actool` accepts is accepted here, with its error
//! wording, and JSON keys are matched case-insensitively as Go does. A few
//! rules deliberately differ; each is documented where it applies:
//!
//! * an unknown isolator inside an image's `app` is kept, not rejected
//!   ([`Isolator::Unknown`]);
//! * `os/linux/capabilities-retain-set` and `-remove-set` together are
//!   rejected ([`Isolator::validate_list`]);
//! * a mount point needs a non-empty absolute `path` ([`MountPoint`]);
//! * a pod manifest needs `acVersion` ([`PodManifest`]);
//! * pod manifests write empty top-level lists as `[]`, not `null`;
//! * single-instance isolators are checked in pod isolator lists too;
//! * names the reference leaves unchecked when absent are required: pod app,
//!   port, mount point, isolator and label names;
//! * negative resource quantities (and magnitudes beyond ±1.7e29), volume
//!   modes that are not octal up to `07777`, negative or over-32-bit
//!   UIDs/GIDs, and host ports outside 1–65535 are rejected.
//!
//! The crate does no I/O.

#![forbid(unsafe_code)]

mod macros;

mod annotations;
mod app;
mod error;
mod ident;
mod image_id;
mod image_manifest;
mod image_ref;
mod isolator;
mod isolator_values;
mod json;
mod keys;
mod labels;
mod os_arch;
mod pod_manifest;
mod quantity;
mod semver;
mod uuid;
mod volume;

pub use annotations::{Annotation, Annotations};
pub use app::{App, EnvVar, EventHandler, EventName, MountPoint, Port};
pub use error::{Error, Result};
pub use ident::{AcIdentifier, AcKind, AcName};
pub use image_id::ImageId;
pub use image_manifest::{Dependency, ImageManifest};
pub use image_ref::ImageRef;
pub use isolator::{Isolator, names as isolator_names};
pub use isolator_values::{Resource, Seccomp, SelinuxContext};
pub use labels::{Label, Labels};
pub use os_arch::{VALID_OS_ARCH, host_os_arch, validate_os_arch};
pub use pod_manifest::{ExposedPort, Mount, PodManifest, RuntimeApp, RuntimeImage};
pub use quantity::Quantity;
pub use semver::{AC_VERSION, SemVer};
pub use uuid::Uuid;
pub use volume::{EMPTY_VOLUME_DEFAULT_MODE, Volume, VolumeKind};
