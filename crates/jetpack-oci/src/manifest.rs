//! Manifests and indexes of both formats, told apart by media type (given, or in the
//! document), Docker's schema 1 refused; the `manifest.json` of a `docker save` archive.

use oci_spec::image::{ImageConfiguration, ImageIndex, ImageManifest};
use serde::Deserialize;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::media;

/// The largest manifest, index or configuration read (containerd's limit for manifests).
pub const MAX_DOCUMENT: usize = 4 << 20;

/// A manifest document.
#[derive(Debug, Clone)]
pub enum Parsed {
    /// An OCI index or a Docker manifest list: one manifest per platform.
    Index(Box<ImageIndex>),
    /// An image manifest: a configuration and layers.
    Manifest(Box<ImageManifest>),
}

fn doc_error(what: &str, msg: impl Into<String>) -> Error {
    Error::Document {
        what: what.to_string(),
        msg: msg.into(),
    }
}

/// Parses a manifest or index. `media_type` is what the registry's `Content-Type` or the
/// referring descriptor says, if anything; otherwise the document's own `mediaType`, then its
/// shape, decide. `what` names the document in errors.
pub fn parse_manifest(bytes: &[u8], media_type: Option<&str>, what: &str) -> Result<Parsed> {
    if bytes.len() > MAX_DOCUMENT {
        return Err(doc_error(
            what,
            format!("larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| doc_error(what, format!("not a JSON manifest: {e}")))?;
    let own = v.get("mediaType").and_then(Value::as_str);
    let kind = media_type
        .filter(|m| !m.is_empty() && *m != "application/json" && *m != "text/plain")
        .or(own);
    let schema = v.get("schemaVersion").and_then(Value::as_u64);
    if schema == Some(1)
        || kind.is_some_and(|k| k == media::DOCKER_SCHEMA1 || k == media::DOCKER_SCHEMA1_SIGNED)
    {
        return Err(Error::SchemaOne { what: what.into() });
    }
    if schema != Some(2) {
        return Err(doc_error(what, "schemaVersion is not 2"));
    }
    let index = match kind {
        Some(k) if media::is_index(k) => true,
        Some(k) if media::is_manifest(k) => false,
        Some(k) => {
            return Err(doc_error(
                what,
                format!("media type {k:?} is not an image manifest or index"),
            ));
        }
        None => v.get("manifests").is_some(),
    };
    let bad = |e: serde_json::Error| doc_error(what, e.to_string());
    if index {
        Ok(Parsed::Index(Box::new(
            serde_json::from_value(v).map_err(bad)?,
        )))
    } else {
        let m: ImageManifest = serde_json::from_value(v).map_err(bad)?;
        for l in m.layers() {
            let mt = l.media_type().to_string();
            if media::layer_compression(&mt).is_none() {
                return Err(doc_error(
                    what,
                    format!(
                        "layer {} has media type {mt:?}, not a layer tar Jetpack can apply",
                        l.digest()
                    ),
                ));
            }
        }
        Ok(Parsed::Manifest(Box::new(m)))
    }
}

/// Parses an image configuration.
pub fn parse_config(bytes: &[u8], what: &str) -> Result<ImageConfiguration> {
    if bytes.len() > MAX_DOCUMENT {
        return Err(doc_error(
            what,
            format!("larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| doc_error(what, format!("not an image configuration: {e}")))
}

/// One image of a `docker save` archive's `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    /// The configuration's file in the archive.
    pub config: String,
    /// `busybox:latest`, … (may be empty or absent for an image saved by ID).
    #[serde(default)]
    pub repo_tags: Option<Vec<String>>,
    /// The layer tars' files in the archive, bottom first.
    pub layers: Vec<String>,
}

/// Parses the `manifest.json` of a `docker save` archive; every file it names is a relative
/// path inside the archive.
pub fn parse_docker_archive_manifest(bytes: &[u8]) -> Result<Vec<DockerArchiveEntry>> {
    let what = "manifest.json of the archive";
    if bytes.len() > MAX_DOCUMENT {
        return Err(doc_error(
            what,
            format!("larger than {} MiB", MAX_DOCUMENT >> 20),
        ));
    }
    let entries: Vec<DockerArchiveEntry> =
        serde_json::from_slice(bytes).map_err(|e| doc_error(what, e.to_string()))?;
    if entries.is_empty() {
        return Err(doc_error(what, "no image in it"));
    }
    for e in &entries {
        for f in std::iter::once(&e.config).chain(&e.layers) {
            let inside = !f.is_empty()
                && !f.starts_with('/')
                && f.split('/').all(|c| c != ".." && !c.is_empty());
            if !inside {
                return Err(doc_error(
                    what,
                    format!("{f:?} is not a file inside the archive"),
                ));
            }
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    const D: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";

    fn manifest(media_type: &str, layer_type: &str) -> String {
        format!(
            r#"{{"schemaVersion":2,"mediaType":"{media_type}",
              "config":{{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"{D}"}},
              "layers":[{{"mediaType":"{layer_type}","size":3,"digest":"{D}"}}]}}"#
        )
    }

    #[test]
    fn both_formats_are_read() {
        let m = manifest(
            media::DOCKER_MANIFEST,
            "application/vnd.docker.image.rootfs.diff.tar.gzip",
        );
        assert!(matches!(
            parse_manifest(m.as_bytes(), None, "m").unwrap(),
            Parsed::Manifest(_)
        ));
        let m = manifest(
            media::OCI_MANIFEST,
            "application/vnd.oci.image.layer.v1.tar+zstd",
        );
        assert!(matches!(
            parse_manifest(m.as_bytes(), Some(media::OCI_MANIFEST), "m").unwrap(),
            Parsed::Manifest(_)
        ));
        let list = format!(
            r#"{{"schemaVersion":2,"mediaType":"{}","manifests":[{{"mediaType":"{}","size":1,"digest":"{D}","platform":{{"os":"linux","architecture":"amd64"}}}}]}}"#,
            media::DOCKER_LIST,
            media::DOCKER_MANIFEST
        );
        match parse_manifest(list.as_bytes(), None, "m").unwrap() {
            Parsed::Index(i) => assert_eq!(i.manifests().len(), 1),
            other => panic!("{other:?}"),
        }
        // No media type anywhere (older OCI layouts): the shape decides.
        let bare = r#"{"schemaVersion":2,"manifests":[]}"#;
        assert!(matches!(
            parse_manifest(bare.as_bytes(), None, "m").unwrap(),
            Parsed::Index(_)
        ));
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let s1 = r#"{"schemaVersion":1,"name":"x","fsLayers":[]}"#;
        let e = parse_manifest(s1.as_bytes(), None, "docker.io/x:1")
            .unwrap_err()
            .to_string();
        assert!(e.contains("schema 1 is not supported"), "{e}");
        let e = parse_manifest(b"{}", Some(media::DOCKER_SCHEMA1_SIGNED), "x").unwrap_err();
        assert!(matches!(e, Error::SchemaOne { .. }));
        let enc = manifest(
            media::OCI_MANIFEST,
            "application/vnd.oci.image.layer.v1.tar+encrypted",
        );
        let e = parse_manifest(enc.as_bytes(), None, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a layer tar"), "{e}");
        let e = parse_manifest(b"<html>", None, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a JSON manifest"), "{e}");
        let art = manifest("application/vnd.example+json", "x");
        let e = parse_manifest(art.as_bytes(), None, "x")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not an image manifest or index"), "{e}");
        let big = vec![b' '; MAX_DOCUMENT + 1];
        assert!(parse_manifest(&big, None, "x").is_err());
    }

    #[test]
    fn docker_archive_manifests() {
        let ok = br#"[{"Config":"abc.json","RepoTags":["busybox:latest"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#;
        let e = parse_docker_archive_manifest(ok).unwrap();
        assert_eq!(e[0].layers.len(), 2);
        assert_eq!(
            e[0].repo_tags.as_deref(),
            Some(&["busybox:latest".to_string()][..])
        );
        for bad in [
            &br#"[]"#[..],
            br#"[{"Config":"../x.json","Layers":[]}]"#,
            br#"[{"Config":"x.json","Layers":["/etc/passwd"]}]"#,
            br#"[{"Config":"x.json","Layers":["a//b"]}]"#,
        ] {
            assert!(parse_docker_archive_manifest(bad).is_err());
        }
    }

    #[test]
    fn configurations_are_read() {
        let c = br#"{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh"],"ExposedPorts":{"80/tcp":{}}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
        let c = parse_config(c, "cfg").unwrap();
        assert_eq!(c.os().to_string(), "linux");
        assert!(parse_config(b"[]", "cfg").is_err());
    }
}
