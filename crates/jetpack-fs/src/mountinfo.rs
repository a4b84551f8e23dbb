//! The mount table of `/proc/self/mountinfo` (proc(5)): one line per mount,
//! `id parent major:minor root mount_point options [optional…] - type source super_options`.
//! The kernel escapes space, tab, newline and backslash in paths as `\ooo` octal.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::error::{IoContext, IoError};

pub const PATH: &str = "/proc/self/mountinfo";

/// One mount.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Mount {
    pub id: u32,
    pub parent: u32,
    /// The directory of the mounted file system that is mounted (`/` unless a bind mount).
    pub root: PathBuf,
    pub mount_point: PathBuf,
    /// Per-mount options (`rw,relatime`).
    pub options: String,
    pub fs_type: String,
    pub source: String,
    /// Per-file-system options (`rw,lowerdir=…`).
    pub super_options: String,
}

/// The mounts of this process's mount namespace, in mount order (a stack: later is upper).
pub fn read() -> Result<Vec<Mount>, IoError> {
    let text = crate::read_proc(PATH).at(PATH)?;
    Ok(parse(&text))
}

/// Parses mountinfo text. Lines without a mount point or the ` - ` separator are skipped.
pub fn parse(text: &str) -> Vec<Mount> {
    text.lines().filter_map(parse_line).collect()
}

fn parse_line(line: &str) -> Option<Mount> {
    let (left, right) = line.split_once(" - ")?;
    let mut left = left.split(' ');
    let id = left.next()?.parse().unwrap_or(0);
    let parent = left.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let root = left.nth(1)?;
    let mount_point = left.next()?;
    let options = left.next().unwrap_or("");
    let mut right = right.split(' ');
    let text = |s: Option<&str>| String::from_utf8_lossy(&unescape(s.unwrap_or(""))).into_owned();
    Some(Mount {
        id,
        parent,
        root: path(root),
        mount_point: path(mount_point),
        options: text(Some(options)),
        fs_type: text(right.next()),
        source: text(right.next()),
        super_options: text(right.next()),
    })
}

fn path(s: &str) -> PathBuf {
    PathBuf::from(OsString::from_vec(unescape(s)))
}

/// Undoes the kernel's `\ooo` escapes; a backslash not followed by three octal digits stays.
pub fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && let Some(oct) = b.get(i + 1..i + 4)
            && oct.iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = oct
                .iter()
                .fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    const SAMPLE: &str = "\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
44 22 0:41 / /var/lib/jp/pods/a\\040b rw - overlay overlay rw,lowerdir=/x\\011y,upperdir=/y
45 44 0:42 /sub /mnt/tab\\011nl\\012back\\134slash rw master:3 shared:4 - tmpfs my\\040src rw
this line is not one
46 22 0:43 / /mnt/raw\\8x\\04 rw - proc proc
";

    #[test]
    fn parses_every_field() {
        let m = parse(SAMPLE);
        assert_eq!(m.len(), 4);
        assert_eq!(
            m[0],
            Mount {
                id: 22,
                parent: 1,
                root: "/".into(),
                mount_point: "/".into(),
                options: "rw,relatime".into(),
                fs_type: "ext4".into(),
                source: "/dev/sda1".into(),
                super_options: "rw".into(),
            }
        );
        // Optional fields (shared:, master:) are skipped whatever their number.
        assert_eq!(m[2].root, Path::new("/sub"));
        assert_eq!(m[2].fs_type, "tmpfs");
        assert_eq!(m[2].super_options, "rw");
        assert_eq!(m[3].super_options, "");
    }

    #[test]
    fn unescapes_space_tab_newline_and_backslash() {
        let m = parse(SAMPLE);
        assert_eq!(m[1].mount_point, Path::new("/var/lib/jp/pods/a b"));
        assert_eq!(m[1].super_options, "rw,lowerdir=/x\ty,upperdir=/y");
        assert_eq!(m[2].mount_point, Path::new("/mnt/tab\tnl\nback\\slash"));
        assert_eq!(m[2].source, "my src");
        // Not an escape: kept as written.
        assert_eq!(m[3].mount_point, Path::new("/mnt/raw\\8x\\04"));
    }

    #[test]
    fn unescape_keeps_non_utf8_bytes() {
        assert_eq!(unescape("a\\377b"), b"a\xffb");
        assert_eq!(unescape("\\"), b"\\");
    }
}
