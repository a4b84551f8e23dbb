//! OCI image layouts built by tests: layer tars of given entries, written as an OCI layout
//! (`oci-layout`, `index.json`, blobs) with one tagged image.

use std::path::Path;

use sha2::{Digest, Sha256};

/// `sha256:<hex>` of `b`.
pub fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// What a layer entry is: `Ok(Some(bytes))` a file (mode 0755), `Ok(None)` a directory,
/// `Err(target)` a symlink.
pub type Kind<'a> = std::result::Result<Option<&'a [u8]>, &'a str>;

/// A layer tar of `(path, kind)` entries.
pub fn layer(entries: &[(&str, Kind<'_>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (path, kind) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_700_000_000);
        match kind {
            Ok(Some(data)) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(0o755);
                h.set_size(data.len() as u64);
                // Written as given, even names a careful writer refuses (`..`).
                h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
                h.set_cksum();
                b.append(&h, *data).unwrap();
            }
            Ok(None) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, path, &[][..]).unwrap();
            }
            Err(target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, path, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

pub fn gzip(b: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Writes an OCI layout at `dir` with one image tagged `tag` made of `layers` (tar, stored
/// blob, media type); returns the layer blobs' paths.
pub fn layout(
    dir: &Path,
    tag: &str,
    layers: &[(Vec<u8>, Vec<u8>, &str)],
) -> Vec<std::path::PathBuf> {
    let blobs = dir.join("blobs/sha256");
    std::fs::create_dir_all(&blobs).unwrap();
    let put = |b: &[u8]| {
        let d = sha(b);
        std::fs::write(blobs.join(&d[7..]), b).unwrap();
        d
    };
    let mut paths = Vec::new();
    let mut descs = Vec::new();
    for (tar, blob, mt) in layers {
        let d = put(blob);
        paths.push(blobs.join(&d[7..]));
        descs.push(serde_json::json!({"mediaType": mt, "digest": d, "size": blob.len()}));
        let _ = tar;
    }
    let diff_ids: Vec<String> = layers.iter().map(|(t, _, _)| sha(t)).collect();
    let config = serde_json::json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["/bin/sh", "-c", "echo from-cmd"],
                   "WorkingDir": "/", "ExposedPorts": {"80/tcp": {}}},
        "rootfs": {"type": "layers", "diff_ids": diff_ids}
    });
    let config = serde_json::to_vec(&config).unwrap();
    let cd = put(&config);
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": config.len()},
        "layers": descs
    });
    let manifest = serde_json::to_vec(&manifest).unwrap();
    let md = put(&manifest);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md,
                       "size": manifest.len(), "annotations": {"org.opencontainers.image.ref.name": tag}}]
    });
    std::fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    paths
}
