//! Where an archive entry's name puts it: `manifest`, `rootfs` or a path below it (for an ACI),
//! or a path below the root (for a layer), and whether a relative symlink climbs out of the
//! rootfs. Pure functions of the name bytes, kept apart from the walk so the naming rules can
//! be read (and tested) on their own.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

/// Where an archive entry goes.
#[derive(Debug, PartialEq, Eq)]
pub enum Target<'a> {
    Manifest,
    /// `rootfs` itself.
    Root,
    /// A path below `rootfs/`, as components.
    Rootfs(Vec<&'a OsStr>),
}

/// What kind of archive is walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// An ACI: `manifest` and `rootfs/`.
    Aci,
    /// A layer of an OCI or Docker image: the tree at the archive's root, whiteouts
    /// (`.wh.NAME`, `.wh..wh..opq`) recorded in [`Walked::whiteouts`] instead of written.
    Layer,
}

/// Classifies an entry name, refusing anything that is not `manifest` or under `rootfs/`.
pub fn classify(raw: &[u8]) -> std::result::Result<Target<'_>, String> {
    classify_in(Mode::Aci, raw)
}

/// [`classify`] for an archive of `mode`: in a layer every name is below the root.
pub fn classify_in(mode: Mode, raw: &[u8]) -> std::result::Result<Target<'_>, String> {
    if raw.first() == Some(&b'/') {
        return Err("absolute path".into());
    }
    let mut comps = Vec::new();
    for c in raw.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => return Err("path contains `..`".into()),
            c => comps.push(OsStr::from_bytes(c)),
        }
    }
    if mode == Mode::Layer {
        return Ok(if comps.is_empty() {
            Target::Root
        } else {
            Target::Rootfs(comps)
        });
    }
    match comps.split_first() {
        None => Err("empty name".into()),
        Some((first, [])) if first.as_bytes() == b"manifest" => Ok(Target::Manifest),
        Some((first, [])) if first.as_bytes() == b"rootfs" => Ok(Target::Root),
        Some((first, rest)) if first.as_bytes() == b"rootfs" => Ok(Target::Rootfs(rest.to_vec())),
        Some(_) => Err("outside rootfs/ (an ACI holds only `manifest` and `rootfs/`)".into()),
    }
}

/// True if a relative symlink target, read from the directory of depth `depth` below the
/// rootfs, climbs above the rootfs. Absolute targets are resolved inside the container's root.
pub fn symlink_escapes(depth: usize, target: &[u8]) -> bool {
    if target.first() == Some(&b'/') {
        return false;
    }
    let mut d = depth as isize;
    for c in target.split(|b| *b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                d -= 1;
                if d < 0 {
                    return true;
                }
            }
            _ => d += 1,
        }
    }
    false
}
