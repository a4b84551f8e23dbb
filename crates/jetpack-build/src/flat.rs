//! `build --flat`: the build pod's whole tree (not the build directory, nor the files the
//! runtime wrote) as an ACI with no dependency. Its manifest follows the incremental build's
//! rules (the parent's `os`/`arch` labels, a `created` annotation) without the parent as a
//! dependency and without a `pathWhitelist`: the tree is whole.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use appc::ImageManifest;
use jetpack_store::{Scratch, Store};

use crate::diff::Skip;
use crate::error::{Error, Result};
use crate::{BuildRequest, aci};

/// Writes the flat ACI of the ended build pod's tree `rootfs` into a scratch directory.
pub(crate) fn stage(
    store: &Store,
    rootfs: &Path,
    parent: &str,
    dir: &Path,
    req: &BuildRequest,
    skip: Skip,
) -> Result<(Scratch, PathBuf, bool)> {
    let (m, now) = crate::new_manifest(store, parent, dir, req, Vec::new())?;
    let m = flatten(m)?;
    let scratch = store.scratch()?;
    let out = scratch.path().join("image.aci");
    let keep = |rel: &[u8]| !skip(Path::new(OsStr::from_bytes(rel)));
    aci::write_with(
        &out,
        m.to_json_pretty().as_bytes(),
        rootfs,
        &keep,
        store.settings().build.compression,
        now.unix_timestamp().max(0) as u64,
    )?;
    Ok((scratch, out, false))
}

/// `m` without dependencies and path whitelist, checked again as import will check it.
pub fn flatten(mut m: ImageManifest) -> Result<ImageManifest> {
    m.dependencies.clear();
    m.path_whitelist.clear();
    ImageManifest::from_slice(m.to_json().as_bytes())
        .map_err(|e| Error::Manifest(format!("the new image's manifest: {e}")))
}
