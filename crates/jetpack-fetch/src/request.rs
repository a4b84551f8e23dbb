//! What is asked for when fetching by name: the name, the labels the user gave, and the os and
//! arch of this host filled in when not given (discovery templates need them).

use appc::{ImageManifest, ImageRef};
use jetpack_store::ImageRow;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageRequest {
    pub name: String,
    /// Labels given explicitly: the image must have each with this value.
    pub labels: Vec<(String, String)>,
    /// `os` and `arch` of this host when not given: an image must not say otherwise, but may
    /// omit them.
    pub defaults: Vec<(String, String)>,
}

impl ImageRequest {
    /// Parses `NAME[:VERSION][,LABEL=VALUE…]`.
    pub fn parse(s: &str) -> Result<ImageRequest> {
        let r: ImageRef = s
            .parse()
            .map_err(|e| Error::Invalid(format!("{s:?} is not an image name: {e}")))?;
        let labels = r
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.clone()))
            .collect();
        Ok(ImageRequest::new(r.name.to_string(), labels))
    }

    /// What a manifest's dependency asks for.
    pub fn from_dependency(d: &appc::Dependency) -> ImageRequest {
        let labels = d
            .labels
            .iter()
            .map(|l| (l.name.to_string(), l.value.clone()))
            .collect();
        ImageRequest::new(d.image_name.to_string(), labels)
    }

    pub fn new(name: String, labels: Vec<(String, String)>) -> ImageRequest {
        let (os, arch) = appc::host_os_arch();
        let defaults = [("os", os), ("arch", arch)]
            .into_iter()
            .filter(|(k, _)| !labels.iter().any(|(l, _)| l == k))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        ImageRequest {
            name,
            labels,
            defaults,
        }
    }

    fn label(&self, k: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    /// Values for template rendering: every label, version defaulting to `latest` as in the
    /// reference (which is not then required of the image).
    pub fn template_labels(&self) -> Vec<(String, String)> {
        let mut out = self.labels.clone();
        out.extend(self.defaults.iter().cloned());
        if self.label("version").is_none() {
            out.push(("version".into(), "latest".into()));
        }
        out
    }

    /// Whether a stored image satisfies the request.
    pub fn matches_row(&self, row: &ImageRow) -> bool {
        let get = |k: &str| {
            row.labels
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        row.name == self.name
            && self.labels.iter().all(|(k, v)| get(k) == Some(v.as_str()))
            && self
                .defaults
                .iter()
                .all(|(k, v)| get(k).is_none_or(|g| g == v))
    }

    /// The spec's check of a fetched manifest against the request (§7.8).
    pub fn check_manifest(&self, m: &ImageManifest, url: &str) -> Result<()> {
        if m.name.as_str() != self.name {
            return Err(Error::Mismatch(format!(
                "{url} holds image {}, but {} was asked for",
                m.name, self.name
            )));
        }
        for (k, v) in &self.labels {
            match m.labels.get(k) {
                Some(got) if got == v => {}
                Some(got) => {
                    return Err(Error::Mismatch(format!(
                        "{url}: image {} has {k}={got}, but {k}={v} was asked for",
                        self.name
                    )));
                }
                None => {
                    return Err(Error::Mismatch(format!(
                        "{url}: image {} has no {k} label, but {k}={v} was asked for",
                        self.name
                    )));
                }
            }
        }
        for (k, v) in &self.defaults {
            if let Some(got) = m.labels.get(k).filter(|g| g != v) {
                return Err(Error::Mismatch(format!(
                    "{url}: image {} is for {k}={got}, and this host is {k}={v}",
                    self.name
                )));
            }
        }
        Ok(())
    }
}

impl std::fmt::Display for ImageRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.name)?;
        for (k, v) in &self.labels {
            write!(f, ",{k}={v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(labels: &str) -> ImageManifest {
        ImageManifest::from_slice(
            format!(
                r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","labels":[{labels}]}}"#
            )
            .as_bytes(),
        )
        .unwrap()
    }

    #[test]
    fn manifest_matching() {
        let (os, arch) = appc::host_os_arch();
        let r = ImageRequest::parse("example.com/app:1.0").unwrap();
        let ok = manifest(&format!(
            r#"{{"name":"version","value":"1.0"}},{{"name":"os","value":"{os}"}},{{"name":"arch","value":"{arch}"}},{{"name":"extra","value":"x"}}"#
        ));
        r.check_manifest(&ok, "u").unwrap();
        let other_version = manifest(r#"{"name":"version","value":"2.0"}"#);
        let e = r
            .check_manifest(&other_version, "u")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("has version=2.0, but version=1.0 was asked for"),
            "{e}"
        );
        assert!(
            r.check_manifest(&manifest(""), "u")
                .unwrap_err()
                .to_string()
                .contains("no version label")
        );
        let latest = ImageRequest::parse("example.com/app").unwrap();
        latest.check_manifest(&other_version, "u").unwrap();
        assert!(
            latest
                .template_labels()
                .contains(&("version".into(), "latest".into())),
            "templates get version=latest"
        );
        let foreign = if os == "linux" { "freebsd" } else { "linux" };
        let e = latest
            .check_manifest(
                &manifest(&format!(r#"{{"name":"os","value":"{foreign}"}}"#)),
                "u",
            )
            .unwrap_err()
            .to_string();
        assert!(e.contains("this host is os="), "{e}");
        let e = ImageRequest::parse("example.com/other")
            .unwrap()
            .check_manifest(&ok, "https://x/a.aci")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("https://x/a.aci holds image example.com/app, but example.com/other"),
            "{e}"
        );
    }
}
