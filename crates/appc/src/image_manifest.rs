//! The image manifest, `/manifest` of an ACI (digest §3).

use serde::Serialize;
use serde_json::Value;

use crate::annotations::Annotations;
use crate::app::App;
use crate::error::{Error, Result};
use crate::ident::{AcIdentifier, AcKind};
use crate::image_id::ImageId;
use crate::json::Fields;
use crate::keys;
use crate::labels::Labels;
use crate::macros::deserialize_via_json;
use crate::semver::SemVer;

/// An image manifest.
///
/// Written in the reference's field order (`acKind` first), empty fields
/// omitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "acKind")]
pub struct ImageManifest {
    pub ac_version: SemVer,
    pub name: AcIdentifier,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    #[serde(skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dependencies: Vec<Dependency>,
    /// Absolute paths kept after rendering; empty means no filtering.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub path_whitelist: Vec<String>,
}

/// An image this one is layered on (digest §3.3, §6).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Dependency {
    pub image_name: AcIdentifier,
    /// If set, the retrieved image must have exactly this ID.
    #[serde(rename = "imageID", skip_serializing_if = "Option::is_none")]
    pub image_id: Option<ImageId>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
    /// Size in bytes of the image file as retrieved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

impl Dependency {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        Ok(Self {
            image_name: f.required("imageName", "imageName cannot be empty")?,
            image_id: f.parsed("imageID")?,
            labels: labels(&f, "labels")?,
            size: f.bounded("size", "size")?.filter(|&s| s != 0),
        })
    }
}

pub(crate) fn labels(f: &Fields<'_>, key: &str) -> Result<Labels> {
    f.get(key)
        .map(|v| Labels::from_json(v, &f.path(key)))
        .transpose()
        .map(Option::unwrap_or_default)
}

pub(crate) fn annotations(f: &Fields<'_>, key: &str) -> Result<Annotations> {
    f.get(key)
        .map(|v| Annotations::from_json(v, &f.path(key)))
        .transpose()
        .map(Option::unwrap_or_default)
}

/// Parses the whole document into a `Value` with canonical keys.
pub(crate) fn parse_document(bytes: &[u8], shape: &keys::Shape) -> Result<Value> {
    let mut v: Value =
        serde_json::from_slice(bytes).map_err(|e| Error::new(format!("invalid JSON: {e}")))?;
    keys::normalise(&mut v, shape);
    Ok(v)
}

impl ImageManifest {
    /// A manifest with just a name, at the current spec version.
    pub fn new(name: AcIdentifier) -> Self {
        Self {
            ac_version: SemVer::current(),
            name,
            labels: Labels::default(),
            app: None,
            annotations: Annotations::default(),
            dependencies: Vec::new(),
            path_whitelist: Vec::new(),
        }
    }

    /// Parses and validates a manifest. Keys are matched case-insensitively
    /// and unknown keys are ignored.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        Self::from_json(&parse_document(bytes, &keys::IMAGE_MANIFEST)?, "")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialisation cannot fail")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifest serialisation cannot fail")
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        AcKind::ImageManifest
            .expect(f.string("acKind")?.as_deref())
            .map_err(|e| e.under(&f.path("acKind")))?;
        Ok(Self {
            ac_version: f.required("acVersion", "acVersion must be set")?,
            name: f.required("name", "name must be set")?,
            labels: labels(&f, "labels")?,
            app: f
                .get("app")
                .map(|a| App::from_json(a, &f.path("app")))
                .transpose()?,
            annotations: annotations(&f, "annotations")?,
            dependencies: f.list("dependencies", Dependency::from_json)?,
            path_whitelist: f.strings("pathWhitelist")?,
        })
    }
}

deserialize_via_json!(ImageManifest, keys::IMAGE_MANIFEST);
deserialize_via_json!(Dependency, keys::DEPENDENCY);
