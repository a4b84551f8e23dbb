//! How stage0 writes its files: JSON state replaced atomically, and files and directories
//! private to root whatever the umask.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, IoContext, Result};

/// Writes `value` as JSON to `path` atomically: a reader sees the old file or the new one,
/// never a part (temp file next to it, then rename).
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    write_private(&tmp, &text)?;
    fs::rename(&tmp, path).at(path)
}

/// Opens `path` for writing (created or truncated) with mode 0600 whatever the umask, also
/// when an older file with another mode is there.
pub(crate) fn create_private(path: &Path) -> Result<File> {
    let f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .at(path)?;
    f.set_permissions(fs::Permissions::from_mode(0o600))
        .at(path)?;
    Ok(f)
}

/// Writes `bytes` to `path` (mode 0600, see [`create_private`]).
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    create_private(path)?.write_all(bytes).at(path)
}

/// Creates `dir` with mode 0700 if it is missing, and gives it 0700 if it has another mode.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at(dir),
    }
    Ok(jetpack_storage::make_private(dir)?)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}
