//! The pod manifest (digest §8).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::Serialize;
use serde_json::Value;

use crate::annotations::Annotations;
use crate::app::{App, Port};
use crate::error::{Error, Result};
use crate::ident::{AcIdentifier, AcKind, AcName};
use crate::image_id::ImageId;
use crate::image_manifest::{annotations, labels, parse_document};
use crate::isolator::Isolator;
use crate::json::Fields;
use crate::keys;
use crate::labels::Labels;
use crate::macros::deserialize_via_json;
use crate::semver::SemVer;
use crate::volume::Volume;

/// A pod manifest: a template, or the reified manifest of a running pod.
///
/// `acVersion` is required (the reference does not check it when reading).
/// Unknown pod-level isolators are kept. The five lists are always written,
/// as `[]` when empty, so a served `annotations` list and the manifest's
/// field agree; the reference writes `null` for absent lists.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase", tag = "acKind")]
pub struct PodManifest {
    pub ac_version: SemVer,
    pub apps: Vec<RuntimeApp>,
    pub volumes: Vec<Volume>,
    pub isolators: Vec<Isolator>,
    pub annotations: Annotations,
    pub ports: Vec<ExposedPort>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

/// One app of a pod.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeApp {
    /// The app's name in the pod, and its `AC_APP_NAME`.
    pub name: AcName,
    pub image: RuntimeImage,
    /// Replaces the image's `app` as a whole when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<App>,
    #[serde(rename = "readOnlyRootFS", skip_serializing_if = "std::ops::Not::not")]
    pub read_only_root_fs: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
    #[serde(skip_serializing_if = "Annotations::is_empty")]
    pub annotations: Annotations,
}

/// The image of a pod app. A template may leave `id` out and name the image
/// by `name` and `labels`; a reified manifest has the full `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RuntimeImage {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<AcIdentifier>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<ImageId>,
    #[serde(skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

/// Mounts a volume at `path` in an app's filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Mount {
    pub volume: AcName,
    pub path: String,
    /// Used instead of the pod volume named `volume` when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app_volume: Option<Volume>,
}

/// An app port to expose on the host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExposedPort {
    pub name: AcName,
    pub host_port: u16,
    /// Host address to bind; `None` means all addresses.
    #[serde(rename = "hostIP", skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<IpAddr>,
    /// Replaces the matching app port when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_port: Option<Port>,
}

impl RuntimeApp {
    fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let image = match f.get("image") {
            Some(img) => {
                let ipath = f.path("image");
                let g = Fields::new(img, &ipath)?;
                RuntimeImage {
                    name: g.parsed("name")?,
                    id: g.parsed("id")?,
                    labels: labels(&g, "labels")?,
                }
            }
            None => RuntimeImage::default(),
        };
        Ok(Self {
            name: f.required("name", "name must be set")?,
            image,
            app: f
                .get("app")
                .map(|a| App::from_json(a, &f.path("app")))
                .transpose()?,
            read_only_root_fs: f.boolean("readOnlyRootFS")?.unwrap_or(false),
            mounts: f.list("mounts", mount)?,
            annotations: annotations(&f, "annotations")?,
        })
    }
}

fn mount(v: &Value, path: &str) -> Result<Mount> {
    let f = Fields::new(v, path)?;
    let volume = f.required("volume", "volume must be set")?;
    let mpath = f.string_or_empty("path")?;
    if mpath.is_empty() {
        return Err(f.error("path", "path must be set"));
    }
    Ok(Mount {
        volume,
        path: mpath,
        app_volume: f
            .get("appVolume")
            .map(|v| Volume::from_json(v, &f.path("appVolume")))
            .transpose()?,
    })
}

fn exposed_port(v: &Value, path: &str) -> Result<ExposedPort> {
    let f = Fields::new(v, path)?;
    let name = f.required("name", "name must be set")?;
    let host_port: u64 = f.bounded("hostPort", "hostPort")?.unwrap_or(0);
    if !(1..=65535).contains(&host_port) {
        return Err(f.error("hostPort", "hostPort must be in 1-65535 range"));
    }
    let host_ip = match f.string("hostIP")? {
        Some(ip) if !ip.is_empty() => Some(
            ip.parse()
                .map_err(|_| f.error("hostIP", format!("invalid IP address: {ip}")))?,
        ),
        _ => None,
    };
    Ok(ExposedPort {
        name,
        host_port: host_port as u16,
        host_ip,
        pod_port: f
            .get("podPort")
            .map(|p| Port::from_json(p, &f.path("podPort")))
            .transpose()?,
    })
}

impl PodManifest {
    /// An empty pod at the current spec version.
    pub fn new() -> Self {
        Self {
            ac_version: SemVer::current(),
            apps: Vec::new(),
            volumes: Vec::new(),
            isolators: Vec::new(),
            annotations: Annotations::default(),
            ports: Vec::new(),
            user_annotations: BTreeMap::new(),
            user_labels: BTreeMap::new(),
        }
    }

    /// Parses and validates a pod manifest. Keys are matched
    /// case-insensitively and unknown keys are ignored.
    pub fn from_slice(bytes: &[u8]) -> Result<Self> {
        Self::from_json(&parse_document(bytes, &keys::POD_MANIFEST)?, "")
    }

    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).expect("manifest serialisation cannot fail")
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("manifest serialisation cannot fail")
    }

    /// The app called `name`.
    pub fn app(&self, name: &str) -> Option<&RuntimeApp> {
        self.apps.iter().find(|a| a.name.as_str() == name)
    }

    /// The pod-level volume called `name`.
    pub fn volume(&self, name: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.name.as_str() == name)
    }

    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        AcKind::PodManifest
            .expect(f.string("acKind")?.as_deref())
            .map_err(|e| e.under(&f.path("acKind")))?;
        let pod = Self {
            ac_version: f.required("acVersion", "acVersion must be set")?,
            apps: f.list("apps", RuntimeApp::from_json)?,
            volumes: f.list("volumes", Volume::from_json)?,
            isolators: match f.get("isolators") {
                Some(v) => Isolator::list_from_json(v, &f.path("isolators"))?,
                None => Vec::new(),
            },
            annotations: annotations(&f, "annotations")?,
            ports: f.list("ports", exposed_port)?,
            user_annotations: f.string_map("userAnnotations")?,
            user_labels: f.string_map("userLabels")?,
        };
        pod.validate().map_err(|e| e.under(f.base()))?;
        Ok(pod)
    }

    /// Checks the rules that span fields: unique app and volume names.
    pub fn validate(&self) -> Result<()> {
        for (i, a) in self.apps.iter().enumerate() {
            if self.apps[..i].iter().any(|o| o.name == a.name) {
                return Err(Error::at(
                    &format!("apps[{i}].name"),
                    format!("duplicate apps of name {:?}", a.name.as_str()),
                ));
            }
        }
        for (i, v) in self.volumes.iter().enumerate() {
            if self.volumes[..i].iter().any(|o| o.name == v.name) {
                return Err(Error::at(
                    &format!("volumes[{i}].name"),
                    format!("duplicate volume name {:?}", v.name.as_str()),
                ));
            }
        }
        Isolator::validate_list(&self.isolators).map_err(|e| e.under("isolators"))
    }
}

impl Default for PodManifest {
    fn default() -> Self {
        Self::new()
    }
}

deserialize_via_json!(PodManifest, keys::POD_MANIFEST);
deserialize_via_json!(RuntimeApp, keys::RUNTIME_APP);
