//! The shape of the tree the entries so far describe, checked entry by entry: component and
//! symlink lengths, parents that are directories, hard links to earlier non-directories. It is
//! kept with or without a writer, so validation refuses exactly what extraction would fail on;
//! it lives apart from the walk because it is the one part that remembers earlier entries.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;

use tar::EntryType;

use super::{Mode, Target, bad, classify_in, show_name};
use crate::error::Result;

/// What a path below `rootfs/` is, as far as the entries so far made it. Kept by the walk with
/// or without a writer, so that `validate` refuses exactly what extraction would fail on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Node {
    /// A parent directory no entry listed (extraction creates it).
    Implied,
    Dir,
    Symlink,
    /// A regular file, device node or FIFO.
    Other,
}

/// Longest name of one path component (`NAME_MAX`) and longest symlink target (`PATH_MAX` - 1).
const NAME_MAX: usize = 255;
const LINK_MAX: usize = 4095;

fn join(path: &[&OsStr]) -> Vec<u8> {
    let mut k = Vec::new();
    for (i, c) in path.iter().enumerate() {
        if i > 0 {
            k.push(b'/');
        }
        k.extend_from_slice(c.as_bytes());
    }
    k
}

/// Checks an entry below `rootfs/` against the entries before it, as extraction would find the
/// tree: no component longer than `NAME_MAX`, parents that are directories (never a symlink or
/// a file to write through), no non-directory over an implied directory, and hard links to an
/// earlier non-directory entry. Records the entry.
pub(super) fn check_tree(
    mode: Mode,
    nodes: &mut std::collections::HashMap<Vec<u8>, Node>,
    name: &[u8],
    kind: EntryType,
    path: &[&OsStr],
    link: Option<&[u8]>,
) -> Result<()> {
    if let Some(c) = path.iter().find(|c| c.len() > NAME_MAX) {
        return Err(bad(
            name,
            format!(
                "a path component is {} bytes long, more than the {NAME_MAX} a file system allows",
                c.len(),
            ),
        ));
    }
    for i in 1..path.len() {
        let parent = join(&path[..i]);
        match nodes.get(&parent) {
            None => {
                nodes.insert(parent, Node::Implied);
            }
            Some(Node::Dir | Node::Implied) => {}
            Some(Node::Symlink | Node::Other) => {
                return Err(bad(
                    name,
                    format!(
                        "refusing to write through {}: not a directory (a symlink or a file)",
                        show_name(&parent)
                    ),
                ));
            }
        }
    }
    let key = join(path);
    let node = match kind {
        EntryType::Directory => Node::Dir,
        EntryType::Symlink => {
            if link.is_some_and(|l| l.len() > LINK_MAX) {
                return Err(bad(
                    name,
                    format!("symlink target longer than {LINK_MAX} bytes"),
                ));
            }
            Node::Symlink
        }
        EntryType::Link => {
            let target = match link.map(|l| classify_in(mode, l)) {
                Some(Ok(Target::Rootfs(t))) => join(&t),
                _ => unreachable!("checked by check_links"),
            };
            match nodes.get(&target) {
                Some(Node::Symlink) => Node::Symlink,
                Some(Node::Other) => Node::Other,
                Some(Node::Dir | Node::Implied) => {
                    return Err(bad(
                        name,
                        format!("hard link target {} is a directory", show_name(&target)),
                    ));
                }
                None => {
                    return Err(bad(
                        name,
                        format!(
                            "hard link target {} is not an earlier entry of the archive",
                            show_name(&target)
                        ),
                    ));
                }
            }
        }
        _ => Node::Other,
    };
    if nodes.get(&key) == Some(&Node::Implied) && node != Node::Dir {
        return Err(bad(
            name,
            "earlier entries made it a directory (an entry below it came first)",
        ));
    }
    nodes.insert(key, node);
    Ok(())
}
