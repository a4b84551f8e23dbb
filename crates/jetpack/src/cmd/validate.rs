//! `jetpack validate`: like the reference `actool validate`, for image manifests, pod
//! manifests, ACI files and image layout directories.

use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};

pub fn run(files: &[std::path::PathBuf]) -> Result<ExitCode> {
    for f in files {
        match check(f) {
            Ok(kind) => outln!("{}: valid {kind}", f.display()),
            Err(e) => {
                eprintln!("{}: {e:#}", f.display());
                return Ok(ExitCode::from(1));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn check(path: &Path) -> Result<&'static str> {
    if path.is_dir() {
        let m = path.join("manifest");
        let bytes = super::read_capped(&m, super::MANIFEST_LIMIT, "an image manifest")
            .context("not an image layout")?;
        appc::ImageManifest::from_slice(&bytes)?;
        if !path.join("rootfs").is_dir() {
            bail!("not an image layout: no rootfs directory");
        }
        return Ok("image layout");
    }
    let file = std::fs::File::open(path).context("cannot open")?;
    let mut head = [0u8; 1];
    let n = std::io::Read::read(&mut &file, &mut head)?;
    if n == 1 && matches!(head[0], b'{' | b' ' | b'\n' | b'\t' | b'\r') {
        let bytes = super::read_capped(path, super::MANIFEST_LIMIT, "a manifest")?;
        return json(&bytes);
    }
    let file = std::fs::File::open(path).context("cannot open")?;
    jetpack_store::validate_aci(file)?;
    Ok("ACI")
}

fn json(bytes: &[u8]) -> Result<&'static str> {
    let v: serde_json::Value = serde_json::from_slice(bytes).context("not valid JSON")?;
    // Keys are case-insensitive in appc manifests, as in the reference implementation.
    let kind = v
        .as_object()
        .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("acKind")))
        .and_then(|(_, v)| v.as_str());
    match kind {
        Some("ImageManifest") => {
            appc::ImageManifest::from_slice(bytes)?;
            Ok("ImageManifest")
        }
        Some("PodManifest") => {
            appc::PodManifest::from_slice(bytes)?;
            Ok("PodManifest")
        }
        Some(other) => bail!("unknown acKind {other:?} (expected ImageManifest or PodManifest)"),
        None => bail!("missing or bad ACKind (must be \"ImageManifest\" or \"PodManifest\")"),
    }
}
