//! The `app` object: what to run and how (digest §3.2).

use std::collections::BTreeMap;

use serde::{Serialize, Serializer};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ident::AcName;
use crate::isolator::Isolator;
use crate::json::{self, Fields};
use crate::keys;
use crate::macros::deserialize_via_json;

/// Execution parameters of an app.
///
/// `exec` may be empty (the reference allows it since 0.7.2): a pod must then
/// supply one, or the executor must refuse to run the app.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct App {
    /// Written as `null` when empty, as the reference does.
    #[serde(serialize_with = "exec_or_null")]
    pub exec: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub event_handlers: Vec<EventHandler>,
    /// User name, numeric UID or absolute path (owner of that file).
    pub user: String,
    /// Group name, numeric GID or absolute path (group of that file).
    pub group: String,
    #[serde(rename = "supplementaryGIDs", skip_serializing_if = "Vec::is_empty")]
    pub supplementary_gids: Vec<u32>,
    /// Absolute; `None` means `/`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<EnvVar>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub isolators: Vec<Isolator>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub user_labels: BTreeMap<String, String>,
}

fn exec_or_null<S: Serializer>(exec: &[String], s: S) -> Result<S::Ok, S::Error> {
    if exec.is_empty() {
        s.serialize_none()
    } else {
        exec.serialize(s)
    }
}

/// A `pre-start` or `post-stop` handler.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EventHandler {
    pub name: EventName,
    pub exec: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum EventName {
    #[serde(rename = "pre-start")]
    PreStart,
    #[serde(rename = "post-stop")]
    PostStop,
}

/// One `environment` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct EnvVar {
    pub name: String,
    pub value: String,
}

impl EnvVar {
    /// Whether a manifest may name a variable `name`: a letter or `_`, then letters, digits,
    /// `_`, `.` or `-`.
    pub fn valid_name(name: &str) -> bool {
        valid_env_name(name)
    }
}

/// A place in the app's filesystem where a volume is expected.
///
/// `path` must be a non-empty absolute path. The reference accepts a mount
/// point without a path; a volume cannot be mounted nowhere, so it is
/// rejected here (spec-vs-reference table §12, item 17).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MountPoint {
    pub name: AcName,
    pub path: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
}

/// A port the app listens on: `port`..`port + count - 1`.
///
/// `count` 0 is read as 1 and both `count` and `socketActivated` are always
/// written, as the reference does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Port {
    pub name: AcName,
    pub protocol: String,
    pub port: u16,
    pub count: u32,
    pub socket_activated: bool,
}

impl Port {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let name = f.required("name", "name must be set")?;
        let port: u64 = f.bounded("port", "port")?.unwrap_or(0);
        let count: u64 = f.bounded("count", "count")?.unwrap_or(0);
        if !(1..=65535).contains(&port) {
            return Err(f.error("port", "port must be in 1-65535 range"));
        }
        if port + count > 65536 {
            return Err(f.error("count", "end of port range must be in 1-65535 range"));
        }
        Ok(Self {
            name,
            protocol: f.string_or_empty("protocol")?,
            port: port as u16,
            count: count.max(1) as u32,
            socket_activated: f.boolean("socketActivated")?.unwrap_or(false),
        })
    }
}

deserialize_via_json!(Port, keys::PORT);

fn valid_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

fn event_handler(v: &Value, path: &str) -> Result<EventHandler> {
    let f = Fields::new(v, path)?;
    let name = match f.string_or_empty("name")?.as_str() {
        "pre-start" => EventName::PreStart,
        "post-stop" => EventName::PostStop,
        "" => return Err(f.error("name", "eventHandler \"name\" cannot be empty")),
        other => return Err(f.error("name", format!("bad eventHandler \"name\": {other:?}"))),
    };
    Ok(EventHandler {
        name,
        exec: f.strings("exec")?,
    })
}

fn env_var(v: &Value, path: &str) -> Result<EnvVar> {
    let f = Fields::new(v, path)?;
    let name = f.string_or_empty("name")?;
    if name.is_empty() {
        return Err(f.error("name", "environment variable name must not be empty"));
    }
    if !valid_env_name(&name) {
        return Err(f.error(
            "name",
            format!("environment variable does not have valid identifier {name:?}"),
        ));
    }
    Ok(EnvVar {
        name,
        value: f.string_or_empty("value")?,
    })
}

fn mount_point(v: &Value, path: &str) -> Result<MountPoint> {
    let f = Fields::new(v, path)?;
    let name = f.required("name", "name must be set")?;
    let mp_path = f.string_or_empty("path")?;
    if !mp_path.starts_with('/') {
        return Err(f.error("path", "mountPoint path must be a non-empty absolute path"));
    }
    Ok(MountPoint {
        name,
        path: mp_path,
        read_only: f.boolean("readOnly")?.unwrap_or(false),
    })
}

impl App {
    pub(crate) fn from_json(v: &Value, path: &str) -> Result<Self> {
        let f = Fields::new(v, path)?;
        let app = App {
            exec: f.strings("exec")?,
            event_handlers: f.list("eventHandlers", event_handler)?,
            user: f.string_or_empty("user")?,
            group: f.string_or_empty("group")?,
            supplementary_gids: f.list("supplementaryGIDs", |v, p| {
                json::bounded(v, p, "supplementary GID")
            })?,
            working_directory: f.string("workingDirectory")?.filter(|w| !w.is_empty()),
            environment: f.list("environment", env_var)?,
            mount_points: f.list("mountPoints", mount_point)?,
            ports: f.list("ports", Port::from_json)?,
            isolators: match f.get("isolators") {
                Some(v) => Isolator::list_from_json(v, &f.path("isolators"))?,
                None => Vec::new(),
            },
            user_annotations: f.string_map("userAnnotations")?,
            user_labels: f.string_map("userLabels")?,
        };
        app.validate().map_err(|e| e.under(path))?;
        Ok(app)
    }

    /// Checks the rules that span fields. Error paths are relative to the app.
    pub fn validate(&self) -> Result<()> {
        if self.user.is_empty() {
            return Err(Error::at("user", "user is required"));
        }
        if self.group.is_empty() {
            return Err(Error::at("group", "group is required"));
        }
        if let Some(wd) = &self.working_directory
            && !wd.starts_with('/')
        {
            return Err(Error::at(
                "workingDirectory",
                "workingDirectory must be an absolute path",
            ));
        }
        for (i, h) in self.event_handlers.iter().enumerate() {
            if self.event_handlers[..i].iter().any(|o| o.name == h.name) {
                let name = serde_json::to_value(h.name).unwrap_or_default();
                return Err(Error::at(
                    &format!("eventHandlers[{i}].name"),
                    format!("Only one eventHandler of name {name} allowed"),
                ));
            }
        }
        for (i, e) in self.environment.iter().enumerate() {
            if self.environment[..i].iter().any(|o| o.name == e.name) {
                return Err(Error::at(
                    &format!("environment[{i}].name"),
                    format!("duplicate environment variable of name {:?}", e.name),
                ));
            }
        }
        Isolator::validate_list(&self.isolators).map_err(|e| e.under("isolators"))
    }

    /// The handler of the given kind, if any.
    pub fn event_handler(&self, name: EventName) -> Option<&EventHandler> {
        self.event_handlers.iter().find(|h| h.name == name)
    }
}

deserialize_via_json!(App, keys::APP);
