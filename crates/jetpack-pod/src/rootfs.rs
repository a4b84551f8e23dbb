//! Lookups inside an app's rootfs that stage0 makes before anything runs (user, group, exec,
//! working directory) and the files it provides there. Plain file reads and writes: no engine
//! is involved.

use std::path::Path;

use jetpack_runtime::resolve;

use crate::error::{Error, Result};

pub fn resolve_user(rootfs: &Path, user: &str) -> std::result::Result<u32, String> {
    resolve::resolve_user(rootfs, user).map_err(|e| e.to_string())
}

/// The primary group of `uid` in the rootfs's `/etc/passwd`, if it has an entry.
pub fn user_gid(rootfs: &Path, uid: u32) -> Option<u32> {
    resolve::passwd_entry(rootfs, uid)
        .ok()
        .flatten()
        .map(|e| e.gid)
}

/// The entry of `uid` in the rootfs's `/etc/passwd`, if it has one (and the file is sound).
pub fn passwd_entry(rootfs: &Path, uid: u32) -> Option<resolve::PasswdEntry> {
    resolve::passwd_entry(rootfs, uid).ok().flatten()
}

pub fn resolve_group(rootfs: &Path, group: &str) -> std::result::Result<u32, String> {
    resolve::resolve_group(rootfs, group).map_err(|e| e.to_string())
}

pub fn find_exec(rootfs: &Path, argv0: &str, path: &str) -> std::result::Result<String, String> {
    resolve::find_exec(rootfs, argv0, path).map_err(|e| e.to_string())
}

pub fn check_dir(rootfs: &Path, dir: &str) -> std::result::Result<(), String> {
    resolve::check_dir(rootfs, dir).map_err(|e| e.to_string())
}

/// `/etc/<name>` in an app's rootfs, unless the image has one.
pub fn provide_etc_file(rootfs: &Path, name: &str, contents: &[u8]) -> Result<bool> {
    resolve::provide_etc_file(rootfs, name, contents).map_err(|e| Error::Runtime(e.to_string()))
}
