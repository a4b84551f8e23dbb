//! Linux xattr names against FreeBSD extattrs, mapped the way libarchive maps them on FreeBSD:
//! `user.X` is `X` in the user namespace, `system.X` is `X` in the system namespace; the other
//! Linux namespaces (`security.*`, `trusted.*`) have no FreeBSD counterpart. Also the parsing
//! of `extattr_list_*` output, a sequence of names each preceded by its length in one byte.

/// The FreeBSD extattr namespaces a Linux name can land in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Namespace {
    User,
    System,
}

impl Namespace {
    pub(crate) const ALL: [Namespace; 2] = [Namespace::User, Namespace::System];

    /// The Linux name prefix of this namespace.
    pub(crate) fn prefix(self) -> &'static [u8] {
        match self {
            Namespace::User => b"user.",
            Namespace::System => b"system.",
        }
    }
}

/// The namespace and the name within it of the Linux xattr `name`; `None` for a name FreeBSD
/// cannot store.
pub(crate) fn split(name: &[u8]) -> Option<(Namespace, &[u8])> {
    Namespace::ALL.into_iter().find_map(|ns| {
        let rest = name.strip_prefix(ns.prefix())?;
        (!rest.is_empty()).then_some((ns, rest))
    })
}

/// The names of an `extattr_list_*` result; a length running past the end ends the list.
pub(crate) fn names(list: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut rest = list;
    std::iter::from_fn(move || {
        let (&len, tail) = rest.split_first()?;
        let name = tail.get(..usize::from(len))?;
        rest = &tail[usize::from(len)..];
        Some(name)
    })
}

/// Writes the names of `list` (of namespace `ns`) into `out` as Linux lists xattrs: each with
/// its prefix and a NUL. Returns the bytes written, `None` if `out` is too small.
pub(crate) fn to_linux_list(ns: Namespace, list: &[u8], out: &mut [u8]) -> Option<usize> {
    let mut at = 0;
    for name in names(list).filter(|n| !n.is_empty()) {
        let prefix = ns.prefix();
        let end = at + prefix.len() + name.len() + 1;
        let dst = out.get_mut(at..end)?;
        dst[..prefix.len()].copy_from_slice(prefix);
        dst[prefix.len()..prefix.len() + name.len()].copy_from_slice(name);
        dst[prefix.len() + name.len()] = 0;
        at = end;
    }
    Some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_names_map_to_namespaces() {
        assert_eq!(split(b"user.mime"), Some((Namespace::User, &b"mime"[..])));
        assert_eq!(
            split(b"system.posix1e.acl_access"),
            Some((Namespace::System, &b"posix1e.acl_access"[..]))
        );
        assert_eq!(split(b"security.capability"), None);
        assert_eq!(split(b"trusted.overlay.opaque"), None);
        assert_eq!(split(b"user."), None);
        assert_eq!(split(b"username"), None);
    }

    #[test]
    fn length_prefixed_lists_become_linux_lists() {
        let list = b"\x04mime\x00\x01a";
        assert_eq!(names(list).collect::<Vec<_>>(), [&b"mime"[..], b"", b"a"]);
        // A length past the end stops the list rather than reading beyond it.
        assert_eq!(names(b"\x02ab\x09abc").count(), 1);
        let mut out = [0u8; 64];
        let n = to_linux_list(Namespace::User, list, &mut out).unwrap();
        assert_eq!(&out[..n], b"user.mime\0user.a\0");
        let n = to_linux_list(Namespace::System, b"", &mut out).unwrap();
        assert_eq!(n, 0);
        assert_eq!(to_linux_list(Namespace::User, list, &mut [0u8; 12]), None);
    }
}
