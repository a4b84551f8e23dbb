//! Directories and mount-point files made inside an app's new root, after the pivot.

use std::ffi::{CStr, CString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use super::sys;

/// Makes sure `path` is a directory, creating it and its parents (mode 0755) if missing.
pub(super) fn ensure_dir(path: &CStr) -> io::Result<()> {
    match sys::stat_mode(path)? {
        Some(m) if m & libc::S_IFMT == libc::S_IFDIR => Ok(()),
        Some(_) => Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
        None => mkdir_p(path.to_bytes()),
    }
}

/// Makes sure something that is not a directory is at `path` (an empty file if nothing is), to
/// bind a single-file volume on.
pub(super) fn ensure_file(path: &CStr) -> io::Result<()> {
    match sys::stat_mode(path)? {
        Some(m) if m & libc::S_IFMT == libc::S_IFDIR => {
            Err(io::Error::from_raw_os_error(libc::EISDIR))
        }
        Some(_) => Ok(()),
        None => {
            let bytes = path.to_bytes();
            if let Some(i) = bytes.iter().rposition(|&b| b == b'/')
                && i > 0
            {
                mkdir_p(&bytes[..i])?;
            }
            sys::open(path, libc::O_WRONLY | libc::O_CREAT, 0o644).map(drop)
        }
    }
}

/// `mkdir -p` inside the new root. The kernel follows symlinks in the path by itself; a
/// *dangling* one would make the next mkdir fail, so it is followed by hand and its target
/// created (absolute targets resolve inside the root: the host is gone).
fn mkdir_p(path: &[u8]) -> io::Result<()> {
    let mut path = path.to_vec();
    'restart: for _ in 0..40 {
        let comps: Vec<Vec<u8>> = path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty() && *c != b".")
            .map(<[u8]>::to_vec)
            .collect();
        let mut cur = Vec::new();
        for (i, comp) in comps.iter().enumerate() {
            let parent_len = cur.len();
            cur.push(b'/');
            cur.extend_from_slice(comp);
            let c = CString::new(cur.clone()).map_err(|_| io::ErrorKind::InvalidInput)?;
            match sys::mkdir(&c, 0o755) {
                Err(e) if e.raw_os_error() == Some(libc::EEXIST) => {}
                r => {
                    r?;
                    continue;
                }
            }
            if sys::stat_mode(&c)?.is_some() {
                continue; // an existing directory (or a symlink to one); anything else fails next
            }
            // A dangling symlink: start over on its target plus the rest of the path.
            let target = std::fs::read_link(std::ffi::OsStr::from_bytes(&cur))?;
            let target = target.as_os_str().as_bytes();
            let mut next = if target.starts_with(b"/") {
                Vec::new()
            } else {
                cur[..parent_len].to_vec()
            };
            next.push(b'/');
            next.extend_from_slice(target);
            for rest in &comps[i + 1..] {
                next.push(b'/');
                next.extend_from_slice(rest);
            }
            path = next;
            continue 'restart;
        }
        return Ok(());
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP))
}
