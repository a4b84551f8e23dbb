//! How stage0 writes its files: JSON state replaced atomically, and files and directories
//! private to root whatever the umask.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

use serde::Serialize;

use crate::error::{Error, IoContext, Result};

/// Writes `value` as JSON to `path` atomically: a reader sees the old file or the new one,
/// never a part (temp file next to it, then rename).
pub(crate) fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    replace(path, &text)
}

/// [`write_json`], unless `path` already holds exactly that text (mode 0600). A rename over an
/// existing file makes ext4 start writing the new one out at once (`auto_da_alloc`), so a file
/// that every run rewrites with what it already holds is only read and compared.
pub(crate) fn write_json_if_changed(path: &Path, value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_vec_pretty(value).map_err(|e| Error::Invalid(e.to_string()))?;
    if holds(path, &text) {
        return Ok(());
    }
    replace(path, &text)
}

/// Whether `path` is a private (0600) regular file holding exactly `text`.
fn holds(path: &Path, text: &[u8]) -> bool {
    use std::io::Read;
    use std::os::unix::fs::MetadataExt;
    let Ok(f) = File::open(path) else {
        return false;
    };
    let Ok(meta) = f.metadata() else {
        return false;
    };
    if !meta.is_file() || meta.mode() & 0o7777 != 0o600 || meta.len() != text.len() as u64 {
        return false;
    }
    let mut old = Vec::with_capacity(text.len() + 1);
    f.take(text.len() as u64 + 1).read_to_end(&mut old).is_ok() && old == text
}

fn replace(path: &Path, text: &[u8]) -> Result<()> {
    // Not synced: a pod's state is on the start path, and a power cut ends the pod it
    // describes anyway (the exit records beside it are written the same way).
    Ok(jetpack_fs::AtomicWrite::new(path)
        .mode(0o600)
        .unsynced()
        .bytes(text)?)
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
    create_private(path)?
        .write_all(bytes)
        .at(path)
        .map_err(crate::error::Error::from)
}

/// Creates `dir` with mode 0700 if it is missing, and gives it 0700 if it has another mode.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    match fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).at(dir).map_err(crate::error::Error::from),
    }
    Ok(jetpack_storage::make_private(dir)?)
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn an_unchanged_file_is_left_alone_and_a_changed_or_loose_one_replaced() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("isolators.json");
        write_json_if_changed(&p, &["a"]).unwrap();
        let ino = fs::metadata(&p).unwrap().ino();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        // The same text: not replaced (a replacement is a new inode).
        write_json_if_changed(&p, &["a"]).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().ino(), ino);
        // Other text, or the same text with a looser mode: replaced.
        write_json_if_changed(&p, &["b"]).unwrap();
        assert_eq!(fs::read_to_string(&p).unwrap(), "[\n  \"b\"\n]");
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        write_json_if_changed(&p, &["b"]).unwrap();
        assert_eq!(fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        assert!(!d.path().join("isolators.json.tmp").exists());
    }
}
