//! What changed in a pod tree since it was cloned from its image, as a backend finds it without
//! walking either tree: OpenZFS from `zfs diff` (see [`from_zfs_diff`]), btrfs from `btrfs
//! send --no-data -p IMAGE SNAPSHOT`, whose stream is a sequence of commands (create, rename,
//! unlink, write, chmod, utimes, …) that would turn the image into the pod tree.
//!
//! The send stream names paths as they are when each command runs: a command on `a/x` followed by a
//! rename of `a` to `b` changed `b/x`. So every path kept here is renamed along with the
//! commands, and the result names the pod tree's final paths. btrfs also parks inodes under
//! temporary names (`o<ino>-<gen>-<n>` in the root) while it reorders renames; they are renamed
//! to their final names before the stream ends, and so are the paths kept under them.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// The change of a pod tree, in its final paths (relative, no leading `/`; the root is the
/// empty path). It says where to look; what exactly differs is for the caller to compare.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct TreeDelta {
    /// Entries created, written, truncated, cloned into, or whose mode, owner, times or xattrs
    /// were set.
    pub touched: BTreeSet<PathBuf>,
    /// Entries that got their name by a rename: everything below a renamed directory may differ
    /// from the image's entries of the same paths.
    pub renamed: BTreeSet<PathBuf>,
    /// Directories that gained or lost an entry (created, linked, renamed in or out, removed).
    pub dirs: BTreeSet<PathBuf>,
}

/// Why a send stream could not be read.
#[derive(Debug, thiserror::Error)]
#[error("btrfs send stream: {0}")]
pub struct StreamError(String);

const MAGIC: &[u8] = b"btrfs-stream\0";

// Commands (btrfs-progs send.h, stream version 1).
const C_SUBVOL: u16 = 1;
const C_SNAPSHOT: u16 = 2;
const C_MKFILE: u16 = 3;
const C_SYMLINK: u16 = 8;
const C_RENAME: u16 = 9;
const C_LINK: u16 = 10;
const C_UNLINK: u16 = 11;
const C_RMDIR: u16 = 12;
const C_END: u16 = 21;
const C_UPDATE_EXTENT: u16 = 22;

// Attributes.
const A_PATH: u16 = 15;
const A_PATH_TO: u16 = 16;

impl TreeDelta {
    /// Reads a whole version 1 send stream (as `btrfs send --no-data` writes it).
    pub fn from_send_stream(stream: &[u8]) -> Result<TreeDelta, StreamError> {
        let bad = |what: &str| StreamError(what.to_string());
        let rest = stream
            .strip_prefix(MAGIC)
            .ok_or_else(|| bad("no btrfs-stream header"))?;
        let (version, mut rest) = take_u32(rest).ok_or_else(|| bad("truncated header"))?;
        if version != 1 {
            return Err(StreamError(format!("version {version}, expected 1")));
        }
        let mut d = TreeDelta::default();
        while !rest.is_empty() {
            let (len, r) = take_u32(rest).ok_or_else(|| bad("truncated command header"))?;
            let (cmd, r) = take_u16(r).ok_or_else(|| bad("truncated command header"))?;
            let (_crc, r) = take_u32(r).ok_or_else(|| bad("truncated command header"))?;
            let len = len as usize;
            if r.len() < len {
                return Err(bad("truncated command"));
            }
            let (payload, r) = r.split_at(len);
            rest = r;
            if cmd == C_END {
                break;
            }
            let path = attr(payload, A_PATH)?.map(rel);
            match (cmd, path) {
                (C_SUBVOL | C_SNAPSHOT, _) => {}
                (C_RENAME, Some(from)) => {
                    let to = attr(payload, A_PATH_TO)?
                        .map(rel)
                        .ok_or_else(|| bad("rename without a target"))?;
                    d.rename(&from, &to);
                }
                (C_UNLINK | C_RMDIR, Some(p)) => d.remove(&p),
                // Every command that makes a name: mkfile, mkdir, mknod, mkfifo, mksock,
                // symlink, link.
                (C_MKFILE..=C_SYMLINK | C_LINK, Some(p)) => {
                    d.dirs.insert(parent(&p));
                    d.touched.insert(p);
                }
                // set/remove xattr, write, clone, truncate, chmod, chown, utimes, update
                // extent, and the commands of later stream versions: the entry changed.
                (13..=20 | C_UPDATE_EXTENT.., Some(p)) => {
                    d.touched.insert(p);
                }
                (_, None) => {
                    return Err(StreamError(format!("command {cmd} without a path")));
                }
                (_, Some(_)) => return Err(StreamError(format!("unknown command {cmd}"))),
            }
        }
        Ok(d)
    }

    fn rename(&mut self, from: &Path, to: &Path) {
        // What `to` held before is replaced; what was kept under `from` moves with it.
        self.remove(to);
        for set in [&mut self.touched, &mut self.renamed, &mut self.dirs] {
            let moved: Vec<PathBuf> = set
                .iter()
                .filter(|p| p.starts_with(from))
                .cloned()
                .collect();
            for p in moved {
                set.remove(&p);
                let tail = p.strip_prefix(from).expect("filtered on the prefix");
                // `join` of an empty tail would add a trailing `/`.
                set.insert(match tail.as_os_str().is_empty() {
                    true => to.to_path_buf(),
                    false => to.join(tail),
                });
            }
        }
        self.dirs.insert(parent(from));
        self.dirs.insert(parent(to));
        self.touched.insert(to.to_path_buf());
        self.renamed.insert(to.to_path_buf());
    }

    fn remove(&mut self, p: &Path) {
        for set in [&mut self.touched, &mut self.renamed, &mut self.dirs] {
            set.retain(|q| !q.starts_with(p));
        }
        self.dirs.insert(parent(p));
    }
}

/// The change `zfs diff -H -F IMAGE@seal POD` reports, one line per entry: `CHANGE\tTYPE\tPATH`
/// (`+` created, `-` removed, `M` modified: contents, metadata, or a directory's entries) or
/// `R\tTYPE\tFROM\tTO`, paths under `mount` (the pod tree's mount point) with every byte that is
/// not printable ASCII, a space or a backslash written `\0ooo`. Unlike a send stream it compares
/// the two ends, so its paths are the final ones already.
pub fn from_zfs_diff(out: &str, mount: &Path) -> Result<TreeDelta, StreamError> {
    let mut d = TreeDelta::default();
    for line in out.lines().filter(|l| !l.is_empty()) {
        let bad = || StreamError(format!("zfs diff: cannot read {line:?}"));
        let f: Vec<&str> = line.split('\t').collect();
        let path = |i: usize| -> Result<PathBuf, StreamError> {
            let raw = unescape(f.get(i).ok_or_else(bad)?).ok_or_else(bad)?;
            let p = PathBuf::from(OsStr::from_bytes(&raw));
            let rel = p.strip_prefix(mount).map_err(|_| bad())?;
            Ok(rel.to_path_buf())
        };
        match f.first().copied() {
            Some("+") => {
                let p = path(2)?;
                d.dirs.insert(parent(&p));
                d.touched.insert(p);
            }
            Some("-") => {
                d.dirs.insert(parent(&path(2)?));
            }
            Some("M") => {
                d.touched.insert(path(2)?);
            }
            Some("R") => {
                let (from, to) = (path(2)?, path(3)?);
                d.dirs.insert(parent(&from));
                d.dirs.insert(parent(&to));
                d.touched.insert(to.clone());
                d.renamed.insert(to);
            }
            _ => return Err(bad()),
        }
    }
    Ok(d)
}

/// Undoes the `\0ooo` escapes of `zfs diff`.
fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            let digits = std::str::from_utf8(b.get(i + 1..i + 5)?).ok()?;
            out.push(u8::try_from(u32::from_str_radix(digits, 8).ok()?).ok()?);
            i += 5;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

fn parent(p: &Path) -> PathBuf {
    p.parent().unwrap_or(Path::new("")).to_path_buf()
}

fn rel(bytes: &[u8]) -> PathBuf {
    let trimmed = bytes.strip_prefix(b"/").unwrap_or(bytes);
    PathBuf::from(OsStr::from_bytes(trimmed))
}

/// The value of attribute `want` of a command's payload.
fn attr(mut payload: &[u8], want: u16) -> Result<Option<&[u8]>, StreamError> {
    while !payload.is_empty() {
        let trunc = || StreamError("truncated attribute".into());
        let (ty, r) = take_u16(payload).ok_or_else(trunc)?;
        let (len, r) = take_u16(r).ok_or_else(trunc)?;
        let len = len as usize;
        if r.len() < len {
            return Err(trunc());
        }
        if ty == want {
            return Ok(Some(&r[..len]));
        }
        payload = &r[len..];
    }
    Ok(None)
}

fn take_u16(b: &[u8]) -> Option<(u16, &[u8])> {
    let (h, t) = b.split_first_chunk::<2>()?;
    Some((u16::from_le_bytes(*h), t))
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (h, t) = b.split_first_chunk::<4>()?;
    Some((u32::from_le_bytes(*h), t))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(out: &mut Vec<u8>, cmd: u16, attrs: &[(u16, &[u8])]) {
        let mut payload = Vec::new();
        for (ty, v) in attrs {
            payload.extend_from_slice(&ty.to_le_bytes());
            payload.extend_from_slice(&(v.len() as u16).to_le_bytes());
            payload.extend_from_slice(v);
        }
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&cmd.to_le_bytes());
        out.extend_from_slice(&0u32.to_le_bytes());
        out.extend_from_slice(&payload);
    }

    fn set(paths: &[&str]) -> BTreeSet<PathBuf> {
        paths.iter().map(PathBuf::from).collect()
    }

    #[test]
    fn renames_carry_what_was_kept_under_them() {
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&1u32.to_le_bytes());
        cmd(&mut s, C_SNAPSHOT, &[(A_PATH, b"snap")]);
        // A new file parked under a temporary name, then moved into a renamed directory.
        cmd(&mut s, C_MKFILE, &[(A_PATH, b"o260-7-0")]);
        cmd(&mut s, C_RENAME, &[(A_PATH, b"a"), (A_PATH_TO, b"b")]);
        cmd(
            &mut s,
            C_RENAME,
            &[(A_PATH, b"o260-7-0"), (A_PATH_TO, b"b/new")],
        );
        cmd(&mut s, 18, &[(A_PATH, b"b/new")]);
        cmd(&mut s, C_UNLINK, &[(A_PATH, b"etc/group")]);
        cmd(&mut s, C_UPDATE_EXTENT, &[(A_PATH, b"etc/passwd")]);
        cmd(&mut s, C_END, &[]);
        let d = TreeDelta::from_send_stream(&s).unwrap();
        assert_eq!(d.touched, set(&["b", "b/new", "etc/passwd"]));
        assert_eq!(d.renamed, set(&["b", "b/new"]));
        assert_eq!(d.dirs, set(&["", "b", "etc"]));
    }

    #[test]
    fn refuses_what_it_cannot_read() {
        assert!(TreeDelta::from_send_stream(b"not a stream").is_err());
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&2u32.to_le_bytes());
        assert!(TreeDelta::from_send_stream(&s).is_err());
        let mut s = MAGIC.to_vec();
        s.extend_from_slice(&1u32.to_le_bytes());
        cmd(&mut s, C_MKFILE, &[(A_PATH, b"x")]);
        s.pop();
        assert!(TreeDelta::from_send_stream(&s).is_err());
    }

    #[test]
    fn reads_zfs_diff_with_its_escapes() {
        let out = "M\t/\t/s/pods/p/\n\
                   +\tF\t/s/pods/p/added\n\
                   -\tF\t/s/pods/p/etc/group\n\
                   M\tF\t/s/pods/p/etc/passwd\n\
                   R\t/\t/s/pods/p/usr/a\t/s/pods/p/opt/with\\0040space\\0303\\0251\n";
        let d = from_zfs_diff(out, Path::new("/s/pods/p")).unwrap();
        assert_eq!(
            d.touched,
            set(&["", "added", "etc/passwd", "opt/with space\u{e9}"])
        );
        assert_eq!(d.renamed, set(&["opt/with space\u{e9}"]));
        assert_eq!(d.dirs, set(&["", "etc", "usr", "opt"]));
        assert!(from_zfs_diff("X\tF\t/s/pods/p/a", Path::new("/s/pods/p")).is_err());
        assert!(from_zfs_diff("+\tF\t/elsewhere/a", Path::new("/s/pods/p")).is_err());
        assert!(from_zfs_diff("+\tF\t/s/pods/p/a\\09", Path::new("/s/pods/p")).is_err());
    }
}
