//! Whiteouts in layer tars (OCI image spec, "Whiteouts"): `.wh.NAME` removes `NAME` of the
//! layers below; `.wh..wh..opq` in a directory hides everything the layers below put in it.

/// What a layer entry at `path` (relative, `/`-separated, as in the tar) means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<'a> {
    /// An ordinary file, directory or link at this path.
    Plain(&'a str),
    /// Remove this path (and below) of the lower layers.
    Remove(String),
    /// Hide what the lower layers have in this directory (`""` is the root).
    Opaque(&'a str),
    /// Another `.wh..wh.` name: metadata of AUFS, ignored.
    Ignore,
}

const PREFIX: &str = ".wh.";
const OPAQUE: &str = ".wh..wh..opq";

/// Classifies a layer entry by its name.
pub fn classify(path: &str) -> Entry<'_> {
    let trimmed = path.trim_end_matches('/');
    let (dir, base) = match trimmed.rsplit_once('/') {
        Some((d, b)) => (d, b),
        None => ("", trimmed),
    };
    if base == OPAQUE {
        return Entry::Opaque(dir);
    }
    if base.starts_with(".wh..wh.") {
        return Entry::Ignore;
    }
    match base.strip_prefix(PREFIX) {
        Some(name) if !name.is_empty() => Entry::Remove(if dir.is_empty() {
            name.to_string()
        } else {
            format!("{dir}/{name}")
        }),
        Some(_) => Entry::Ignore,
        None => Entry::Plain(path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_and_opaque_directories() {
        assert_eq!(classify("etc/passwd"), Entry::Plain("etc/passwd"));
        assert_eq!(
            classify("etc/.wh.passwd"),
            Entry::Remove("etc/passwd".into())
        );
        assert_eq!(classify(".wh.tmp"), Entry::Remove("tmp".into()));
        assert_eq!(
            classify("var/cache/.wh..wh..opq"),
            Entry::Opaque("var/cache")
        );
        assert_eq!(classify(".wh..wh..opq"), Entry::Opaque(""));
        assert_eq!(classify("x/.wh..wh.plnk"), Entry::Ignore);
        assert_eq!(classify("x/.wh."), Entry::Ignore);
        assert_eq!(classify("x/a.wh.b"), Entry::Plain("x/a.wh.b"));
    }
}
