//! The built image's manifest: `manifest.json` of the build directory if the build wrote one,
//! else the parent's; then `--name` and `-l` applied, the parent's `os`/`arch` labels where
//! it has none (an empty `-l` value removes a label), a `created` annotation, and the parent
//! as the first dependency.

use std::path::Path;
use std::str::FromStr;

use appc::{AcIdentifier, Dependency, ImageId, ImageManifest, Label, Labels};

use crate::error::{Error, Result};

/// Largest `manifest.json` read (an image manifest is a few KiB).
const MANIFEST_LIMIT: u64 = 1024 * 1024;

/// What the command line asks of the manifest, checked before the build runs.
#[derive(Debug, Clone, Default)]
pub struct ManifestEdits {
    pub name: Option<AcIdentifier>,
    /// `(name, value)`; an empty value removes the label.
    pub labels: Vec<(AcIdentifier, String)>,
}

impl ManifestEdits {
    /// Parses `--name` and `-l LABEL=VALUE` options.
    pub fn parse(name: Option<&str>, labels: &[String]) -> Result<ManifestEdits> {
        let name = name
            .map(|n| {
                AcIdentifier::from_str(n).map_err(|e| Error::Invalid(format!("--name {n:?}: {e}")))
            })
            .transpose()?;
        let labels = labels
            .iter()
            .map(|l| {
                let (k, v) = l.split_once('=').ok_or_else(|| {
                    Error::Invalid(format!("-l {l:?}: expected LABEL=VALUE, e.g. version=1.0"))
                })?;
                let k = AcIdentifier::from_str(k)
                    .map_err(|e| Error::Invalid(format!("-l {l:?}: label name: {e}")))?;
                Ok((k, v.to_string()))
            })
            .collect::<Result<_>>()?;
        Ok(ManifestEdits { name, labels })
    }
}

/// Reads `manifest.json` from the build directory, if the build wrote one.
pub fn read_build_manifest(dir: &Path) -> Result<Option<ImageManifest>> {
    use std::io::Read;
    let p = dir.join("manifest.json");
    let md = match std::fs::symlink_metadata(&p) {
        Ok(md) => md,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&p, e)),
    };
    if !md.is_file() {
        return Err(Error::Manifest(format!(
            "{}: not a regular file",
            p.display()
        )));
    }
    let mut bytes = Vec::new();
    std::fs::File::open(&p)
        .and_then(|f| f.take(MANIFEST_LIMIT + 1).read_to_end(&mut bytes))
        .map_err(|e| Error::io(&p, e))?;
    if bytes.len() as u64 > MANIFEST_LIMIT {
        return Err(Error::Manifest(format!(
            "{}: larger than {MANIFEST_LIMIT} bytes",
            p.display()
        )));
    }
    ImageManifest::from_slice(&bytes)
        .map(Some)
        .map_err(|e| Error::Manifest(format!("{}: invalid image manifest: {e}", p.display())))
}

/// The new image's manifest from `base` (the build's own, or the parent's) and the parent.
pub fn compose(
    base: Option<ImageManifest>,
    parent: &ImageManifest,
    parent_id: &str,
    edits: &ManifestEdits,
    created: &str,
    whitelist: Vec<String>,
) -> Result<ImageManifest> {
    let own = base.is_some();
    let mut m = base.unwrap_or_else(|| parent.clone());
    if !own {
        // The parent's own dependencies and whitelist are rendered into the parent already.
        m.dependencies.clear();
        m.path_whitelist.clear();
    }
    if let Some(n) = &edits.name {
        m.name = n.clone();
    }
    let mut labels: Vec<Label> = m.labels.clone().into_vec();
    for key in ["os", "arch"] {
        if let Some(v) = parent.labels.get(key)
            && !labels.iter().any(|l| l.name.as_str() == key)
        {
            labels.push(Label::new(
                AcIdentifier::from_str(key).expect("a label name"),
                v,
            ));
        }
    }
    for (k, v) in &edits.labels {
        labels.retain(|l| l.name != *k);
        if !v.is_empty() {
            labels.push(Label::new(k.clone(), v.clone()));
        }
    }
    m.labels = Labels::new(labels).map_err(|e| Error::Manifest(format!("labels: {e}")))?;
    m.annotations
        .set(AcIdentifier::from_str("created").expect("a name"), created)
        .map_err(|e| Error::Manifest(format!("created annotation: {e}")))?;
    let id = ImageId::from_str(parent_id).map_err(|e| Error::Manifest(format!("{e}")))?;
    let dep = Dependency {
        image_name: parent.name.clone(),
        image_id: Some(id.clone()),
        labels: parent.labels.clone(),
        size: None,
    };
    m.dependencies.retain(|d| d.image_id.as_ref() != Some(&id));
    m.dependencies.insert(0, dep);
    m.path_whitelist = whitelist;
    // Checked as import will check it, so a bad result is refused here with its reason.
    ImageManifest::from_slice(m.to_json().as_bytes())
        .map_err(|e| Error::Manifest(format!("the new image's manifest: {e}")))
}
