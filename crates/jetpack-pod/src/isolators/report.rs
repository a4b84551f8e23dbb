//! The report of what became of each isolator, `<pod dir>/isolators.json`.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;

/// What happened to one isolator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Enforced,
    /// Enforced, but not exactly as given (see the detail).
    Modified,
    Ignored,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Enforced => "enforced",
            Status::Modified => "modified",
            Status::Ignored => "ignored",
        })
    }
}

/// One line of the report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The app; none for a pod isolator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    pub name: String,
    pub value: serde_json::Value,
    pub status: Status,
    /// How it is enforced, what was changed, or why it is ignored.
    pub detail: String,
}

/// `<pod dir>/isolators.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub isolators: Vec<Entry>,
}

impl Report {
    /// Logs every isolator that was not simply enforced (warning) and the others (debug).
    pub fn log(&self) {
        for e in &self.isolators {
            let scope = match &e.app {
                Some(a) => format!("app {a}"),
                None => "pod".into(),
            };
            match e.status {
                Status::Enforced => {
                    tracing::debug!("{scope}: isolator {} enforced: {}", e.name, e.detail)
                }
                s => tracing::warn!("{scope}: isolator {} {s}: {}", e.name, e.detail),
            }
        }
    }

    pub fn write(&self, pod_dir: &Path) -> Result<()> {
        crate::state::write_json_if_changed(&jetpack_store::PodDir::new(pod_dir).isolators(), self)
    }

    pub fn read(pod_dir: &Path) -> Option<Report> {
        let b = std::fs::read(jetpack_store::PodDir::new(pod_dir).isolators()).ok()?;
        serde_json::from_slice(&b).ok()
    }
}
