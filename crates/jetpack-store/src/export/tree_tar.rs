//! A tree written as tar entries: owners, modes, mtimes, symlinks (never followed), hard
//! links, devices, FIFOs and extended attributes (`SCHILY.xattr.*` PAX records, as import
//! reads them; overlayfs' own `trusted.overlay.*` left out). Sockets are skipped.
//!
//! Every name is resolved from its parent's descriptor (`O_NOFOLLOW`), entries are sorted by
//! name so the same tree always gives the same archive, and file contents are streamed: memory
//! holds one directory listing per level of the current path and the paths of hard-linked
//! files, never a file. Names and link targets are written byte for byte (GNU long-name
//! entries past 100 bytes).

use std::collections::HashMap;
use std::ffi::{CStr, CString, OsStr};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use jetpack_storage::xattr::{self, Node};
use rustix::fs::{
    AtFlags, CWD, Dir, FileType, Mode, OFlags, Stat, fstat, openat, readlinkat, statat,
};
use rustix::io::Errno;
use tar::{EntryType, Header};

use crate::error::{Error, Result};

/// What a tree's archive holds.
#[derive(Debug, Default, Clone, Copy)]
pub struct TreeStats {
    pub entries: u64,
    pub file_bytes: u64,
}

/// The xattrs no archive carries: overlayfs' own bookkeeping.
fn skipped_xattr(name: &[u8]) -> bool {
    name.starts_with(b"trusted.overlay.")
}

/// One directory of the current path: its descriptor, its sorted names, the next to write,
/// and the length of the archive path up to it (with its trailing `/`).
struct Frame {
    fd: OwnedFd,
    names: Vec<CString>,
    next: usize,
    path_len: usize,
}

/// Appends an ACI's `manifest` entry (`bytes`, a root-owned 0644 file with `mtime`).
pub fn append_manifest<W: Write>(
    b: &mut tar::Builder<W>,
    bytes: &[u8],
    mtime: u64,
) -> io::Result<()> {
    let mut h = Header::new_gnu();
    h.set_path("manifest")?;
    h.set_entry_type(EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(mtime);
    h.set_size(bytes.len() as u64);
    h.set_cksum();
    b.append(&h, bytes)
}

/// Writes the tree at `root` into `b`: its entries are named `prefix` and their path below
/// `root` (`prefix` is empty or ends with `/`). With `root_entry`, `prefix` itself is written
/// first as a directory with `root`'s metadata.
pub fn write_tree<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    prefix: &[u8],
    root_entry: bool,
) -> Result<TreeStats> {
    write_tree_filtered(b, root, prefix, root_entry, &|_| true)
}

/// [`write_tree`] of the entries `keep` accepts, given their path below `root` (no leading or
/// trailing `/`). A directory `keep` refuses is neither written nor entered, so the walk costs
/// what is kept (an image built as a change of its parent).
pub fn write_tree_filtered<W: Write>(
    b: &mut tar::Builder<W>,
    root: &Path,
    prefix: &[u8],
    root_entry: bool,
    keep: &dyn Fn(&[u8]) -> bool,
) -> Result<TreeStats> {
    let mut w = TreeTar {
        b,
        root,
        prefix_len: prefix.len(),
        links: HashMap::new(),
        names: vec![0; 64 * 1024],
        value: vec![0; 64 * 1024],
        stats: TreeStats::default(),
    };
    let root_fd = openat(
        CWD,
        root,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| io_error(root, e.into()))?;
    let mut path = prefix.to_vec();
    if root_entry {
        let st = fstat(&root_fd).map_err(|e| io_error(root, e.into()))?;
        let x = w.xattrs(Node::Fd(root_fd.as_fd()), &path)?;
        w.entry(
            header(EntryType::Directory, &st, 0),
            &path,
            None,
            &x,
            io::empty(),
        )?;
    }
    let mut stack = vec![Frame {
        names: list(&root_fd).map_err(|e| w.err(&path, e))?,
        fd: root_fd,
        next: 0,
        path_len: path.len(),
    }];
    while let Some(top) = stack.last_mut() {
        let Some(name) = top.names.get(top.next).cloned() else {
            stack.pop();
            continue;
        };
        top.next += 1;
        path.truncate(top.path_len);
        path.extend_from_slice(name.to_bytes());
        if !keep(&path[prefix.len()..]) {
            continue;
        }
        if let Some(child) = w.node(&top.fd, &name, &mut path)? {
            stack.push(child);
        }
    }
    Ok(w.stats)
}

struct TreeTar<'a, W: Write> {
    b: &'a mut tar::Builder<W>,
    root: &'a Path,
    prefix_len: usize,
    /// (device, inode) of files with several links → the archive path written first.
    links: HashMap<(u64, u64), Vec<u8>>,
    names: Vec<u8>,
    value: Vec<u8>,
    stats: TreeStats,
}

impl<W: Write> TreeTar<'_, W> {
    /// An error at archive path `path`, named as the file below the tree's root.
    fn err(&self, path: &[u8], e: io::Error) -> Error {
        let rel = path.get(self.prefix_len..).unwrap_or_default();
        io_error(&self.root.join(OsStr::from_bytes(rel)), e)
    }

    /// Writes the node `name` of `dir` (archive path `path`); a directory is returned as the
    /// frame to descend into.
    fn node(&mut self, dir: &OwnedFd, name: &CStr, path: &mut Vec<u8>) -> Result<Option<Frame>> {
        let st =
            statat(dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| self.err(path, e.into()))?;
        match FileType::from_raw_mode(st.st_mode as _) {
            FileType::Directory => {
                let fd = open(dir, name, OFlags::DIRECTORY).map_err(|e| self.err(path, e))?;
                path.push(b'/');
                let x = self.xattrs(Node::Fd(fd.as_fd()), path)?;
                self.entry(
                    header(EntryType::Directory, &st, 0),
                    path,
                    None,
                    &x,
                    io::empty(),
                )?;
                let names = list(&fd).map_err(|e| self.err(path, e))?;
                Ok(Some(Frame {
                    fd,
                    names,
                    next: 0,
                    path_len: path.len(),
                }))
            }
            FileType::RegularFile => {
                let key = (st.st_dev as u64, st.st_ino as u64);
                if st.st_nlink > 1 {
                    if let Some(first) = self.links.get(&key).cloned() {
                        let h = header(EntryType::Link, &st, 0);
                        self.entry(h, path, Some(&first), &[], io::empty())?;
                        return Ok(None);
                    }
                    self.links.insert(key, path.clone());
                }
                let fd = open(dir, name, OFlags::empty()).map_err(|e| self.err(path, e))?;
                let now = fstat(&fd).map_err(|e| self.err(path, e.into()))?;
                if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino) {
                    return Err(self.err(path, io::Error::other("replaced while exported")));
                }
                let x = self.xattrs(Node::Fd(fd.as_fd()), path)?;
                let size = st.st_size.max(0) as u64;
                let data = Exact {
                    inner: File::from(fd),
                    left: size,
                };
                self.entry(header(EntryType::Regular, &st, size), path, None, &x, data)?;
                self.stats.file_bytes += size;
                Ok(None)
            }
            FileType::Symlink => {
                let target =
                    readlinkat(dir, name, Vec::new()).map_err(|e| self.err(path, e.into()))?;
                let x = self.xattrs(Node::At(dir.as_fd(), name), path)?;
                let h = header(EntryType::Symlink, &st, 0);
                self.entry(h, path, Some(target.to_bytes()), &x, io::empty())?;
                Ok(None)
            }
            t @ (FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo) => {
                let kind = match t {
                    FileType::CharacterDevice => EntryType::Char,
                    FileType::BlockDevice => EntryType::Block,
                    _ => EntryType::Fifo,
                };
                let mut h = header(kind, &st, 0);
                if kind != EntryType::Fifo {
                    let rdev = st.st_rdev as u64;
                    h.set_device_major(rustix::fs::major(rdev))
                        .and_then(|()| h.set_device_minor(rustix::fs::minor(rdev)))
                        .map_err(|e| self.err(path, e))?;
                }
                let x = self.xattrs(Node::At(dir.as_fd(), name), path)?;
                self.entry(h, path, None, &x, io::empty())?;
                Ok(None)
            }
            _ => {
                tracing::debug!("{}: a socket, not exported", String::from_utf8_lossy(path));
                Ok(None)
            }
        }
    }

    /// The node's xattrs as PAX records.
    fn xattrs(&mut self, node: Node<'_>, path: &[u8]) -> Result<Vec<(String, Vec<u8>)>> {
        let n = match xattr::list(node, &mut self.names[..]) {
            Ok(n) => n,
            Err(Errno::NOTSUP) => 0,
            Err(e) => return Err(self.err(path, io::Error::from(e))),
        };
        let mut out = Vec::new();
        for name in self.names[..n].split(|&c| c == 0).filter(|n| !n.is_empty()) {
            if skipped_xattr(name) {
                continue;
            }
            let cname = CString::new(name).expect("split at NUL");
            let len = match xattr::get(node, cname.as_c_str(), &mut self.value[..]) {
                Ok(len) => len,
                Err(e) if e == xattr::NO_XATTR => continue,
                Err(e) => {
                    let e = io::Error::other(format!("read xattr {cname:?}: {e}"));
                    return Err(self.err(path, e));
                }
            };
            let Ok(name) = std::str::from_utf8(name) else {
                tracing::warn!(
                    "{cname:?} of {}: not UTF-8, not exported",
                    self.root.display()
                );
                continue;
            };
            out.push((format!("SCHILY.xattr.{name}"), self.value[..len].to_vec()));
        }
        Ok(out)
    }

    /// Appends one entry: its xattrs' PAX header, long names, the header, the content.
    fn entry(
        &mut self,
        mut h: Header,
        path: &[u8],
        link: Option<&[u8]>,
        xattrs: &[(String, Vec<u8>)],
        data: impl Read,
    ) -> Result<()> {
        let wrote = (|| -> io::Result<()> {
            if !xattrs.is_empty() {
                self.b.append_pax_extensions(
                    xattrs.iter().map(|(k, v)| (k.as_str(), v.as_slice())),
                )?;
            }
            let gnu = h.as_gnu_mut().expect("a GNU header");
            if path.len() >= gnu.name.len() {
                long(self.b, EntryType::GNULongName, path)?;
            }
            let gnu = h.as_gnu_mut().expect("a GNU header");
            let n = path.len().min(gnu.name.len());
            gnu.name[..n].copy_from_slice(&path[..n]);
            if let Some(link) = link {
                if link.len() >= gnu.linkname.len() {
                    long(self.b, EntryType::GNULongLink, link)?;
                }
                let gnu = h.as_gnu_mut().expect("a GNU header");
                let n = link.len().min(gnu.linkname.len());
                gnu.linkname[..n].copy_from_slice(&link[..n]);
            }
            h.set_cksum();
            self.b.append(&h, data)
        })();
        wrote.map_err(|e| self.err(path, e))?;
        self.stats.entries += 1;
        Ok(())
    }
}

/// A header for a node with metadata `st` (GNU format: large ids in base 256).
fn header(kind: EntryType, st: &Stat, size: u64) -> Header {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    #[allow(clippy::useless_conversion, reason = "st_mode is a u16 on FreeBSD")]
    h.set_mode(u32::from(st.st_mode) & 0o7777);
    h.set_uid(u64::from(st.st_uid));
    h.set_gid(u64::from(st.st_gid));
    h.set_mtime(st.st_mtime.max(0) as u64);
    h.set_size(size);
    h
}

/// A GNU `././@LongLink` entry carrying a name or link target that does not fit the header.
fn long<W: Write>(b: &mut tar::Builder<W>, kind: EntryType, bytes: &[u8]) -> io::Result<()> {
    let mut h = Header::new_gnu();
    let name = b"././@LongLink";
    h.as_gnu_mut().expect("a GNU header").name[..name.len()].copy_from_slice(name);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(bytes.len() as u64 + 1);
    h.set_cksum();
    b.append(&h, bytes.chain(&[0u8][..]))
}

fn open(dir: &OwnedFd, name: &CStr, extra: OFlags) -> io::Result<OwnedFd> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NOCTTY | extra;
    Ok(openat(dir, name, flags, Mode::empty())?)
}

/// The names of a directory, sorted, without `.` and `..`.
fn list(fd: &OwnedFd) -> io::Result<Vec<CString>> {
    let mut names = Vec::new();
    for e in Dir::read_from(fd.as_fd())? {
        let e = e?;
        let n = e.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            names.push(n.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

fn io_error(path: &Path, source: io::Error) -> Error {
    Error::Io {
        path: PathBuf::from(path),
        source,
    }
}

/// A file's content as its header announced it: never more, and an error if it has shrunk
/// (the archive would be corrupt).
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was exported",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::{PermissionsExt, symlink};

    use rustix::fs::{XattrFlags, setxattr};

    use super::*;

    /// Each entry's path → type, mode, link target and PAX records.
    fn listing(tar: &[u8]) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        for e in tar::Archive::new(tar).entries().unwrap() {
            let mut e = e.unwrap();
            let path = String::from_utf8(e.path_bytes().into_owned()).unwrap();
            let mut pax: Vec<String> = Vec::new();
            if let Some(x) = e.pax_extensions().unwrap() {
                for r in x {
                    let r = r.unwrap();
                    pax.push(format!("{}={}", r.key().unwrap(), r.value().unwrap()));
                }
            }
            let h = e.header();
            let link = e
                .link_name_bytes()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .unwrap_or_default();
            let line = format!(
                "{:?} {:o} {link} {}",
                h.entry_type(),
                h.mode().unwrap(),
                pax.join(",")
            );
            out.insert(path, line.trim_end().to_string());
        }
        out
    }

    fn archive(root: &Path, prefix: &[u8], root_entry: bool) -> (Vec<u8>, TreeStats) {
        let mut b = tar::Builder::new(Vec::new());
        let stats = write_tree(&mut b, root, prefix, root_entry).unwrap();
        (b.into_inner().unwrap(), stats)
    }

    #[test]
    fn a_tree_is_written_with_its_metadata_and_never_followed() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("tree");
        let a = root.join("a");
        std::fs::create_dir_all(&a).unwrap();
        std::fs::write(a.join("f"), b"data").unwrap();
        std::fs::set_permissions(a.join("f"), std::fs::Permissions::from_mode(0o4750)).unwrap();
        std::fs::hard_link(a.join("f"), a.join("g")).unwrap();
        symlink("../../outside/", a.join("s")).unwrap();
        // A symlink to a directory is written as a link, not walked.
        symlink("/", a.join("root")).unwrap();
        rustix::fs::mknodat(
            CWD,
            a.join("fifo"),
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let long = "l".repeat(200);
        std::fs::write(a.join(&long), b"long").unwrap();
        setxattr(a.join("f"), "user.k", b"v", XattrFlags::empty()).unwrap();
        let root_user = rustix::process::geteuid().is_root();
        if root_user {
            setxattr(&a, "trusted.overlay.opaque", b"y", XattrFlags::empty()).unwrap();
            setxattr(&a, "trusted.kept", b"1", XattrFlags::empty()).unwrap();
        }

        let (tar, stats) = archive(&root, b"rootfs/", true);
        let l = listing(&tar);
        assert_eq!(stats.entries, 8, "{l:#?}");
        assert_eq!(stats.file_bytes, 8);
        assert_eq!(l["rootfs/a/f"], "Regular 4750  SCHILY.xattr.user.k=v");
        assert_eq!(l["rootfs/a/g"], "Link 4750 rootfs/a/f");
        assert_eq!(l["rootfs/a/s"], "Symlink 777 ../../outside/");
        assert_eq!(l["rootfs/a/root"], "Symlink 777 /");
        assert_eq!(l["rootfs/a/fifo"], "Fifo 600");
        assert!(l.contains_key(&format!("rootfs/a/{long}")), "{l:#?}");
        assert!(l.contains_key("rootfs/"));
        if root_user {
            assert_eq!(l["rootfs/a/"], "Directory 755  SCHILY.xattr.trusted.kept=1");
        }
        // Sorted entries: the same tree gives the same bytes.
        let order: Vec<String> = tar::Archive::new(&tar[..])
            .entries()
            .unwrap()
            .map(|e| String::from_utf8(e.unwrap().path_bytes().into_owned()).unwrap())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        assert_eq!(order, sorted);
        assert_eq!(archive(&root, b"rootfs/", true).0, tar);

        // A layer: names from the tree's root, no root entry.
        let (layer, _) = archive(&root, b"", false);
        let l = listing(&layer);
        assert!(l.contains_key("a/") && l.contains_key("a/f"), "{l:#?}");
        assert_eq!(l["a/g"], "Link 4750 a/f");
        assert_eq!(l.len(), 7);
    }

    #[test]
    fn a_missing_tree_is_named_in_the_error() {
        let t = tempfile::tempdir().unwrap();
        let mut b = tar::Builder::new(Vec::new());
        let e = write_tree(&mut b, &t.path().join("nothing"), b"", false).unwrap_err();
        assert!(e.to_string().contains("nothing"), "{e}");
    }
}
