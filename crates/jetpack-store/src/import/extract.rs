//! The ACI archive policy and the walk over its entries.
//!
//! An ACI holds exactly `manifest` (a regular file) and `rootfs/` (a directory) with the tree
//! below it. Anything else — absolute names, `..`, other top-level names, duplicates, hard
//! links or relative symlinks that leave `rootfs/`, paths nested more than [`MAX_DEPTH`]
//! components below `rootfs/` — is refused with the entry's name, before anything of that entry
//! is written.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;

use jetpack_storage::writer::{Meta, Special, TreeWriter};
use tar::EntryType;

use crate::error::{Error, Result};

mod names;
mod tree;
pub use names::{Mode, Target, classify, classify_in, symlink_escapes};
use tree::check_tree;

/// Largest manifest accepted (real ones are a few KiB).
const MAX_MANIFEST: u64 = 1 << 20;

/// Most components an entry's path may have below `rootfs/`. Real images stay far below it
/// (distribution trees under 20, deep `node_modules` under 100). Beyond it trees are unusable
/// anyway: with names of 16 bytes a path of 256 components already reaches `PATH_MAX` (4096), so
/// programs in the container could not name deeper files. And it bounds extraction, which holds
/// one directory fd per level of the current entry, well below the usual 1024 fd limit.
pub const MAX_DEPTH: usize = 256;

/// Entry names longer than this (in bytes or components) are shown shortened in messages.
const SHOW_NAME: usize = 256;
const SHOW_COMPONENTS: usize = 8;

/// What the walk saw.
#[derive(Debug, Default)]
pub struct Walked {
    pub manifest: Option<Vec<u8>>,
    pub entries: u64,
    pub file_bytes: u64,
    /// A layer's whiteouts, in archive order.
    pub whiteouts: Vec<Whiteout>,
}

/// A layer's instruction to hide what the layers below it have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whiteout {
    /// Remove this path (components below the root).
    Remove(Vec<OsString>),
    /// Remove everything below this directory (`[]` is the root).
    Opaque(Vec<OsString>),
}

fn bad(name: &[u8], why: impl std::fmt::Display) -> Error {
    Error::BadImage(format!("entry {}: {why}", show_name(name)))
}

/// An entry name for messages: quoted in full if short, else its first and last two
/// components and how many there are, so a hostile name cannot make a message kilobytes long.
pub fn show_name(name: &[u8]) -> String {
    let comps: Vec<&[u8]> = name
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .collect();
    if name.len() <= SHOW_NAME && comps.len() <= SHOW_COMPONENTS {
        return format!("{:?}", String::from_utf8_lossy(name));
    }
    // A single huge component (tar allows it) is cut too.
    let s = jetpack_storage::tree::abbreviate(&comps, SHOW_NAME / 2);
    format!("{s:?} ({} components)", comps.len())
}

/// The writer's error, which repeats the entry's path in full: cut in the middle if long, as
/// the message already names the entry.
fn cut(e: &std::io::Error) -> String {
    let s = e.to_string();
    if s.len() <= 2 * SHOW_NAME {
        return s;
    }
    let mut head = SHOW_NAME / 2;
    while !s.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = s.len() - SHOW_NAME;
    while !s.is_char_boundary(tail) {
        tail += 1;
    }
    format!("{}…{}", &s[..head], &s[tail..])
}

/// Metadata of an entry, PAX records taking precedence over the ustar header (large IDs,
/// precise times) and `SCHILY.xattr.*` records giving the extended attributes.
fn meta_of<R: Read>(entry: &mut tar::Entry<'_, R>) -> std::io::Result<Meta> {
    let h = entry.header();
    let (mut uid, mut gid) = (h.uid()?, h.gid()?);
    let mut m = Meta {
        mode: h.mode()? & 0o7777,
        uid: 0,
        gid: 0,
        mtime: h.mtime()? as i64,
        xattrs: Vec::new(),
    };
    if let Some(pax) = entry.pax_extensions()? {
        for ext in pax {
            let ext = ext?;
            let key = ext.key_bytes();
            let num = || std::str::from_utf8(ext.value_bytes()).ok().map(str::trim);
            if let Some(name) = key.strip_prefix(b"SCHILY.xattr.") {
                m.xattrs.push((
                    OsString::from(OsStr::from_bytes(name)),
                    ext.value_bytes().to_vec(),
                ));
            } else if key == b"uid" {
                uid = num().and_then(|v| v.parse().ok()).unwrap_or(uid);
            } else if key == b"gid" {
                gid = num().and_then(|v| v.parse().ok()).unwrap_or(gid);
            } else if key == b"mtime" {
                let secs = num()
                    .and_then(|v| v.split('.').next())
                    .and_then(|v| v.parse().ok());
                m.mtime = secs.unwrap_or(m.mtime);
            }
        }
    }
    m.uid = owner_id("uid", uid)?;
    m.gid = owner_id("gid", gid)?;
    Ok(m)
}

/// A uid or gid the kernel can store. `u32::MAX` is not one: `chown` reads it as -1, "leave
/// unchanged", so the entry would silently stay owned by root; larger ones would wrap.
fn owner_id(what: &str, id: u64) -> std::io::Result<u32> {
    match u32::try_from(id) {
        Ok(v) if v != u32::MAX => Ok(v),
        _ => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "{what} {id} cannot be represented: ids go up to {} ({} means \"no change\" to chown)",
                u32::MAX - 1,
                u32::MAX
            ),
        )),
    }
}

/// Counts the bytes of an entry's content as the writer reads them.
struct Counted<'a, R> {
    inner: R,
    count: &'a mut u64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        *self.count += n as u64;
        Ok(n)
    }
}

/// True for the errors of a full disk or an exhausted quota.
pub fn is_full(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
    )
}

/// The writer's error for entry `name`: a full disk is not the archive's fault, so it keeps its
/// I/O kind (the import reports it as such); anything else is the entry's.
fn write_err(name: &[u8], e: std::io::Error) -> Error {
    if is_full(&e) {
        Error::Io {
            path: format!("entry {}", show_name(name)).into(),
            source: std::io::Error::new(e.kind(), cut(&e)),
        }
    } else {
        bad(name, cut(&e))
    }
}

/// Walks the archive, checking every entry; with a writer, extracts `rootfs/` into it.
pub fn walk<R: Read>(reader: R, writer: Option<&mut TreeWriter>) -> Result<Walked> {
    let mut out = Walked::default();
    walk_into(reader, writer, &mut out)?;
    Ok(out)
}

/// [`walk`], counting into `out` as it goes, so that a caller knows how much was written when
/// the walk fails.
pub fn walk_into<R: Read>(
    reader: R,
    writer: Option<&mut TreeWriter>,
    out: &mut Walked,
) -> Result<()> {
    walk_mode(Mode::Aci, reader, writer, out)
}

/// [`walk_into`] for an archive of `mode`.
pub fn walk_mode<R: Read>(
    mode: Mode,
    reader: R,
    mut writer: Option<&mut TreeWriter>,
    out: &mut Walked,
) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut nodes = std::collections::HashMap::new();
    let mut saw_root = false;
    let entries = archive
        .entries()
        .map_err(|e| Error::BadImage(format!("not a tar archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::BadImage(format!("corrupt tar archive: {e}")))?;
        let kind = entry.header().entry_type();
        if matches!(kind, EntryType::XGlobalHeader | EntryType::XHeader) {
            continue;
        }
        let name = entry.path_bytes().into_owned();
        let target = classify_in(mode, &name).map_err(|why| bad(&name, why))?;
        if mode == Mode::Layer
            && let Some(w) = whiteout(&name, &target)
        {
            out.entries += 1;
            out.whiteouts.extend(w);
            continue;
        }
        if let Target::Rootfs(path) = &target
            && path.len() > MAX_DEPTH
        {
            return Err(bad(
                &name,
                format!(
                    "nested {} levels below rootfs/, deeper than the {MAX_DEPTH} allowed",
                    path.len()
                ),
            ));
        }
        let key: Vec<u8> = match &target {
            Target::Manifest => b"manifest".to_vec(),
            Target::Root => b"rootfs".to_vec(),
            Target::Rootfs(c) => c.iter().fold(b"rootfs".to_vec(), |mut k, c| {
                k.push(b'/');
                k.extend_from_slice(c.as_bytes());
                k
            }),
        };
        if !seen.insert(key) {
            return Err(bad(
                &name,
                "duplicate entry (an ACI must not repeat a path)",
            ));
        }
        out.entries += 1;
        let meta = meta_of(&mut entry).map_err(|e| bad(&name, format!("bad header: {e}")))?;
        match target {
            Target::Manifest => {
                if !matches!(kind, EntryType::Regular | EntryType::Continuous) {
                    return Err(bad(&name, "the manifest must be a regular file"));
                }
                if entry.size() > MAX_MANIFEST {
                    return Err(bad(
                        &name,
                        format!("manifest larger than {MAX_MANIFEST} bytes"),
                    ));
                }
                let mut buf = Vec::with_capacity(entry.size() as usize);
                entry
                    .read_to_end(&mut buf)
                    .map_err(|e| Error::BadImage(format!("corrupt tar archive: {e}")))?;
                out.manifest = Some(buf);
            }
            Target::Root => {
                if kind != EntryType::Directory {
                    return Err(bad(&name, "rootfs must be a directory"));
                }
                saw_root = true;
                if let Some(w) = writer.as_deref_mut() {
                    w.dir(&[], &meta).map_err(|e| write_err(&name, e))?;
                }
            }
            Target::Rootfs(path) => {
                let link = entry.link_name_bytes().map(|l| l.into_owned());
                check_links(mode, &name, kind, &path, link.as_deref())?;
                check_tree(mode, &mut nodes, &name, kind, &path, link.as_deref())?;
                if let Some(w) = writer.as_deref_mut() {
                    let mut content = Counted {
                        inner: &mut entry,
                        count: &mut out.file_bytes,
                    };
                    write_entry(mode, w, &mut content, kind, &path, link.as_deref(), &meta)
                        .map_err(|e| write_err(&name, e))?;
                }
            }
        }
    }
    if !saw_root && mode == Mode::Aci {
        return Err(Error::BadImage(
            "no rootfs directory entry: an ACI must contain `rootfs/`".into(),
        ));
    }
    Ok(())
}

/// `Some` if a layer entry is a whiteout name: what it hides (`None` for AUFS metadata such
/// as `.wh..wh.plnk`, which hides nothing).
fn whiteout(name: &[u8], target: &Target<'_>) -> Option<Option<Whiteout>> {
    let Target::Rootfs(path) = target else {
        return None;
    };
    let (last, dir) = path.split_last()?;
    let owned = |p: &[&OsStr]| p.iter().map(|c| c.to_os_string()).collect::<Vec<_>>();
    let last = last.as_bytes();
    if last == b".wh..wh..opq" {
        return Some(Some(Whiteout::Opaque(owned(dir))));
    }
    let hidden = last.strip_prefix(b".wh.")?;
    if hidden.is_empty() || last.starts_with(b".wh..wh.") {
        // AUFS metadata (`.wh..wh.plnk`, …): nothing to apply, nothing to write.
        tracing::debug!("layer entry {}: AUFS metadata, skipped", show_name(name));
        return Some(None);
    }
    let mut p = owned(dir);
    p.push(OsStr::from_bytes(hidden).to_os_string());
    Some(Some(Whiteout::Remove(p)))
}

/// Refuses hard links and symlinks that leave `rootfs/`, and entry types an ACI cannot hold.
fn check_links(
    mode: Mode,
    name: &[u8],
    kind: EntryType,
    path: &[&OsStr],
    link: Option<&[u8]>,
) -> Result<()> {
    match kind {
        EntryType::Symlink => {
            let target = link.ok_or_else(|| bad(name, "symlink without a target"))?;
            if symlink_escapes(path.len() - 1, target) {
                return Err(bad(
                    name,
                    format!(
                        "symlink target {:?} points outside rootfs/",
                        String::from_utf8_lossy(target)
                    ),
                ));
            }
        }
        EntryType::Link => {
            let target = link.ok_or_else(|| bad(name, "hard link without a target"))?;
            match classify_in(mode, target) {
                Ok(Target::Rootfs(_)) => {}
                _ => {
                    return Err(bad(
                        name,
                        format!(
                            "hard link target {:?} is outside rootfs/",
                            String::from_utf8_lossy(target)
                        ),
                    ));
                }
            }
        }
        EntryType::Regular
        | EntryType::Continuous
        | EntryType::GNUSparse
        | EntryType::Directory
        | EntryType::Char
        | EntryType::Block
        | EntryType::Fifo => {}
        other => return Err(bad(name, format!("unsupported entry type {other:?}"))),
    }
    Ok(())
}

fn write_entry<R: Read>(
    mode: Mode,
    w: &mut TreeWriter,
    content: &mut Counted<'_, &mut tar::Entry<'_, R>>,
    kind: EntryType,
    path: &[&OsStr],
    link: Option<&[u8]>,
    meta: &Meta,
) -> std::io::Result<u64> {
    let h = content.inner.header().clone();
    let h = &h;
    let dev = |h: &tar::Header| -> std::io::Result<(u32, u32)> {
        Ok((
            h.device_major()?.unwrap_or(0),
            h.device_minor()?.unwrap_or(0),
        ))
    };
    match kind {
        EntryType::Directory => w.dir(path, meta).map(|_| 0),
        EntryType::Symlink => w
            .symlink(path, OsStr::from_bytes(link.unwrap_or_default()), meta)
            .map(|_| 0),
        EntryType::Link => {
            let target = match classify_in(mode, link.unwrap_or_default()) {
                Ok(Target::Rootfs(t)) => t,
                _ => unreachable!("checked by check_links"),
            };
            w.hardlink(path, &target).map(|_| 0)
        }
        EntryType::Char => {
            let (major, minor) = dev(h)?;
            w.special(path, Special::Char { major, minor }, meta)
                .map(|_| 0)
        }
        EntryType::Block => {
            let (major, minor) = dev(h)?;
            w.special(path, Special::Block { major, minor }, meta)
                .map(|_| 0)
        }
        EntryType::Fifo => w.special(path, Special::Fifo, meta).map(|_| 0),
        _ => w.file(path, meta, content),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_names() {
        assert_eq!(classify(b"manifest"), Ok(Target::Manifest));
        assert_eq!(classify(b"./manifest"), Ok(Target::Manifest));
        assert_eq!(classify(b"rootfs/"), Ok(Target::Root));
        assert_eq!(classify(b"./rootfs"), Ok(Target::Root));
        assert_eq!(
            classify(b"rootfs/usr//bin/./sh"),
            Ok(Target::Rootfs(vec![
                OsStr::new("usr"),
                OsStr::new("bin"),
                OsStr::new("sh")
            ]))
        );
        assert!(classify(b"/rootfs/x").unwrap_err().contains("absolute"));
        assert!(classify(b"rootfs/../etc").unwrap_err().contains(".."));
        assert!(
            classify(b"rootfsx/a")
                .unwrap_err()
                .contains("outside rootfs/")
        );
        assert!(
            classify(b"etc/passwd")
                .unwrap_err()
                .contains("outside rootfs/")
        );
        assert!(
            classify(b"manifest/x")
                .unwrap_err()
                .contains("outside rootfs/")
        );
        assert!(classify(b"").is_err());
    }

    #[test]
    fn long_names_are_shown_shortened() {
        assert_eq!(show_name(b"rootfs/etc/passwd"), "\"rootfs/etc/passwd\"");
        let deep = format!("rootfs/{}x", "d/".repeat(2000));
        assert_eq!(
            show_name(deep.as_bytes()),
            "\"rootfs/d/…/d/x\" (2002 components)"
        );
        let wide = format!("rootfs/{}", "y".repeat(5000));
        let shown = show_name(wide.as_bytes());
        assert!(
            shown.len() < 300 && shown.ends_with("(2 components)"),
            "{shown}"
        );
    }

    #[test]
    fn long_writer_errors_are_cut() {
        let e = std::io::Error::other(format!("open directory {}: denied", "é/".repeat(3000)));
        let shown = cut(&e);
        assert!(
            shown.len() < 2 * SHOW_NAME && shown.ends_with(": denied"),
            "{shown}"
        );
        assert_eq!(cut(&std::io::Error::other("short")), "short");
    }

    #[test]
    fn symlink_targets() {
        assert!(!symlink_escapes(0, b"/etc/passwd"));
        assert!(!symlink_escapes(0, b"usr/lib"));
        assert!(symlink_escapes(0, b"../etc"));
        assert!(!symlink_escapes(2, b"../../x"));
        assert!(symlink_escapes(2, b"../../../x"));
        assert!(symlink_escapes(1, b"a/../../../x"));
        assert!(!symlink_escapes(1, b"./../x"));
    }
}
