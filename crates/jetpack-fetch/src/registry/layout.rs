//! Writing a pulled image as an OCI image layout directory (what `skopeo copy … oci:DIR:TAG`
//! writes): `oci-layout`, `index.json` naming the image by its tag, and `blobs/ALG/HEX`. Each
//! blob goes to a temporary file first and gets its name only once it is verified.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use jetpack_oci::{DockerRef, Platform};
use oci_spec::image::Descriptor;

use super::{Registry, Resolved};
use crate::error::{Error, IoContext, Result};

/// Pulls `r` for `platform` from `registry` into the OCI layout `dir` (created if missing),
/// every blob verified; the index names the image `org.opencontainers.image.ref.name` = its
/// tag (or `latest` for a reference by digest). Returns what was resolved.
pub fn pull_to_layout(
    registry: &Registry,
    r: &DockerRef,
    platform: &Platform,
    dir: &Path,
) -> Result<Resolved> {
    let resolved = registry.resolve(r, platform)?;
    std::fs::create_dir_all(dir).at(dir)?;
    let m = &resolved.manifest_bytes;
    write_blob(dir, &m.digest, &m.bytes)?;
    write_blob(
        dir,
        resolved.manifest.config().digest().as_ref(),
        &resolved.config,
    )?;
    for layer in resolved.manifest.layers() {
        copy_layer(registry, &r.repository, layer, dir)?;
    }
    let media_type = if m.media_type.is_empty() {
        resolved
            .manifest
            .media_type()
            .as_ref()
            .map(|t| t.to_string())
            .unwrap_or_else(|| jetpack_oci::media::OCI_MANIFEST.to_string())
    } else {
        m.media_type.clone()
    };
    let tag = r
        .tag
        .as_deref()
        .unwrap_or(jetpack_oci::reference::DEFAULT_TAG);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": jetpack_oci::media::OCI_INDEX,
        "manifests": [{
            "mediaType": media_type,
            "digest": m.digest,
            "size": m.bytes.len(),
            "platform": {
                "os": platform.os,
                "architecture": platform.architecture,
            },
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    });
    let index = serde_json::to_vec_pretty(&index).expect("JSON values serialise");
    write_file(&dir.join("index.json"), &index)?;
    write_file(
        &dir.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )?;
    Ok(resolved)
}

fn blob_path(dir: &Path, digest: &str) -> Result<PathBuf> {
    let (alg, hex) = digest
        .split_once(':')
        .ok_or_else(|| Error::Invalid(format!("{digest:?} is not a digest")))?;
    let blobs = dir.join("blobs").join(alg);
    std::fs::create_dir_all(&blobs).at(&blobs)?;
    Ok(blobs.join(hex))
}

/// Writes verified bytes under their digest.
fn write_blob(dir: &Path, digest: &str, bytes: &[u8]) -> Result<()> {
    write_file(&blob_path(dir, digest)?, bytes)
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    Ok(jetpack_fs::atomic_write(path, bytes)?)
}

/// Streams a layer into the layout; the file is named only after the reader verified it.
fn copy_layer(registry: &Registry, repo: &str, d: &Descriptor, dir: &Path) -> Result<()> {
    let path = blob_path(dir, d.digest().as_ref())?;
    let tmp = path.with_extension("part");
    let result = (|| {
        let mut blob = registry.blob(repo, d)?;
        let mut out = File::create(&tmp).at(&tmp)?;
        std::io::copy(&mut blob, &mut out).map_err(|e| {
            if e.get_ref().is_some() && e.kind() == std::io::ErrorKind::InvalidData {
                Error::Mismatch(e.to_string())
            } else {
                Error::Io {
                    path: tmp.clone(),
                    source: e,
                }
            }
        })?;
        out.flush().at(&tmp)?;
        Ok(std::fs::rename(&tmp, &path).at(&path)?)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
