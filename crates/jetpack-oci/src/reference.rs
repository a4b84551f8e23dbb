//! Image references in the transport syntax of skopeo and podman. An argument with one of
//! these prefixes is an OCI or Docker image; anything else is an appc image name.
//!
//! - `docker://[REGISTRY[:PORT]/]REPO[:TAG|@DIGEST]`: a registry (HTTP API v2). A name whose
//!   first component has no `.` or `:` and is not `localhost` is on Docker Hub (`docker.io`,
//!   served by `registry-1.docker.io`), where a one-component name is under `library/`.
//! - `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`: an OCI image layout, as a directory or a tar.
//! - `docker-archive:FILE[:REPO:TAG]`: what `docker save` and `podman save` write.
//!
//! As in those tools, the path ends at its first `:`.

use std::fmt;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// Docker Hub's name in references, and the host that serves its API.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// The tag a reference without tag or digest means.
pub const DEFAULT_TAG: &str = "latest";

/// A reference to an image of a registry, normalised: `docker.io/library/busybox:latest`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DockerRef {
    /// `host[:port]`, lower case unless upper case is what marks it as a host (Docker's
    /// rule); `docker.io` for Docker Hub.
    pub registry: String,
    /// `library/busybox`.
    pub repository: String,
    /// `None` when the reference gives only a digest.
    pub tag: Option<String>,
    /// `sha256:<64 hex>` (or `sha512:`), when given.
    pub digest: Option<String>,
}

/// An image reference with its transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Docker(DockerRef),
    OciLayout {
        dir: PathBuf,
        tag: Option<String>,
    },
    OciArchive {
        file: PathBuf,
        tag: Option<String>,
    },
    DockerArchive {
        file: PathBuf,
        image: Option<DockerRef>,
    },
}

impl ImageRef {
    /// The reference in `s`, or `None` when `s` names no transport (an appc image name).
    pub fn parse(s: &str) -> Result<Option<ImageRef>> {
        let bad = |msg: &str| Error::Reference {
            reference: s.to_string(),
            msg: msg.to_string(),
        };
        let path_and = |rest: &str| -> Result<(PathBuf, Option<String>)> {
            let (p, r) = match rest.split_once(':') {
                Some((p, r)) => (p, Some(r.to_string())),
                None => (rest, None),
            };
            if p.is_empty() {
                return Err(bad("no path: give the layout directory or archive file"));
            }
            Ok((PathBuf::from(p), r))
        };
        if let Some(rest) = s.strip_prefix("docker://") {
            return DockerRef::parse(rest)
                .map(|r| Some(ImageRef::Docker(r)))
                .map_err(|msg| bad(&msg));
        }
        if let Some(rest) = s.strip_prefix("oci:") {
            let (dir, tag) = path_and(rest)?;
            check_oci_tag(tag.as_deref()).map_err(|m| bad(&m))?;
            return Ok(Some(ImageRef::OciLayout { dir, tag }));
        }
        if let Some(rest) = s.strip_prefix("oci-archive:") {
            let (file, tag) = path_and(rest)?;
            check_oci_tag(tag.as_deref()).map_err(|m| bad(&m))?;
            return Ok(Some(ImageRef::OciArchive { file, tag }));
        }
        if let Some(rest) = s.strip_prefix("docker-archive:") {
            let (file, name) = path_and(rest)?;
            let image = match name {
                None => None,
                Some(n) => Some(DockerRef::parse(&n).map_err(|m| bad(&m))?),
            };
            if image.as_ref().is_some_and(|i| i.digest.is_some()) {
                return Err(bad(
                    "an archive's image is named by REPO:TAG, not by digest",
                ));
            }
            return Ok(Some(ImageRef::DockerArchive { file, image }));
        }
        if s.starts_with("docker:") {
            return Err(bad(
                "write docker://NAME (two slashes), as skopeo and podman do",
            ));
        }
        Ok(None)
    }
}

fn check_oci_tag(tag: Option<&str>) -> std::result::Result<(), String> {
    // An OCI layout's `org.opencontainers.image.ref.name` is freer than a Docker tag; refuse
    // only what cannot be one.
    match tag {
        Some("") => Err("empty tag after ':'".into()),
        Some(t) if t.len() > 255 || t.chars().any(|c| c.is_control() || c == '/') => {
            Err(format!("{t:?} is not a tag"))
        }
        _ => Ok(()),
    }
}

impl DockerRef {
    /// Parses `[REGISTRY/]REPO[:TAG][@DIGEST]` and normalises it (Docker Hub, `library/`,
    /// `latest`).
    pub fn parse(s: &str) -> std::result::Result<DockerRef, String> {
        let (name, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(d)),
            None => (s, None),
        };
        if let Some(d) = digest {
            check_digest(d)?;
        }
        // A tag is after the last ':' that follows the last '/' (a port comes before a '/').
        let last_slash = name.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name[last_slash..].rfind(':') {
            Some(i) => (&name[..last_slash + i], Some(&name[last_slash + i + 1..])),
            None => (name, None),
        };
        if let Some(t) = tag {
            check_tag(t)?;
        }
        if name.is_empty() {
            return Err("no repository name".into());
        }
        let (registry, repo) = match name.split_once('/') {
            Some((first, rest))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.contains(char::is_uppercase) =>
            {
                check_registry(first)?;
                // Host names are kept in lower case, unless upper case is what makes this a
                // registry: `dockerUio/b6` lower-cased would name a Docker Hub repository.
                let lower = first.to_ascii_lowercase();
                let registry = if lower.contains(['.', ':']) || lower == "localhost" {
                    lower
                } else {
                    first.to_string()
                };
                (registry, rest.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        for c in repo.split('/') {
            check_component(c)?;
        }
        let repository = if registry == DOCKER_HUB && !repo.contains('/') {
            format!("library/{repo}")
        } else {
            repo
        };
        // Docker's limit is on the normalised name (`docker.io/library/…`), the one shown.
        if registry.len() + 1 + repository.len() > 255 {
            return Err("the name is longer than 255 characters".into());
        }
        let tag = match (tag, digest) {
            (None, None) => Some(DEFAULT_TAG.to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(DockerRef {
            registry,
            repository,
            tag,
            digest: digest.map(str::to_string),
        })
    }

    /// The host (and port) that serves the registry's HTTP API.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// `docker.io/library/busybox`: what the image is called in the store.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The image's name as an appc identifier: the name, lower case, with characters appc
    /// does not allow (the port's `:`, a `__`) turned into `_`.
    pub fn appc_name(&self) -> appc::AcIdentifier {
        appc::AcIdentifier::sanitize(&self.name()).expect("a parsed name has valid characters")
    }

    /// The tag, or the digest when there is none: what the manifest request asks for.
    pub fn reference(&self) -> &str {
        self.digest
            .as_deref()
            .or(self.tag.as_deref())
            .unwrap_or(DEFAULT_TAG)
    }
}

impl fmt::Display for DockerRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let with = |f: &mut fmt::Formatter<'_>, kind: &str, p: &PathBuf, t: &Option<String>| {
            write!(f, "{kind}:{}", p.display())?;
            match t {
                Some(t) => write!(f, ":{t}"),
                None => Ok(()),
            }
        };
        match self {
            ImageRef::Docker(r) => write!(f, "docker://{r}"),
            ImageRef::OciLayout { dir, tag } => with(f, "oci", dir, tag),
            ImageRef::OciArchive { file, tag } => with(f, "oci-archive", file, tag),
            ImageRef::DockerArchive { file, image } => {
                write!(f, "docker-archive:{}", file.display())?;
                match image {
                    Some(i) => write!(f, ":{i}"),
                    None => Ok(()),
                }
            }
        }
    }
}

/// `sha256:` and 64 lower-case hex digits, or `sha512:` and 128.
pub fn check_digest(d: &str) -> std::result::Result<(), String> {
    let ok = match d.split_once(':') {
        Some(("sha256", h)) => h.len() == 64,
        Some(("sha512", h)) => h.len() == 128,
        _ => false,
    } && d.split_once(':').is_some_and(|(_, h)| {
        h.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    });
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{d:?} is not a digest (sha256: and 64 lower-case hex digits)"
        ))
    }
}

/// A tag: a word character, then up to 127 word characters, `.` or `-`.
fn check_tag(t: &str) -> std::result::Result<(), String> {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut cs = t.chars();
    let ok = t.len() <= 128
        && cs.next().is_some_and(word)
        && cs.all(|c| word(c) || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{t:?} is not a tag (letters, digits, '_', '.', '-'; at most 128; not starting with '.' or '-')"
        ))
    }
}

/// A path component: lower-case letters and digits, separated by `.`, `_`, `__` or dashes.
fn check_component(c: &str) -> std::result::Result<(), String> {
    let bad = || {
        format!(
            "{c:?} is not a repository name component (lower-case letters and digits, \
             separated by '.', '_', '__' or '-')"
        )
    };
    let b = c.as_bytes();
    let alnum = |x: u8| x.is_ascii_lowercase() || x.is_ascii_digit();
    if b.is_empty() || !alnum(b[0]) || !alnum(b[b.len() - 1]) {
        return Err(bad());
    }
    let mut i = 0;
    while i < b.len() {
        if alnum(b[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < b.len() && !alnum(b[i]) {
            i += 1;
        }
        let sep = &c[start..i];
        let dashes = sep.bytes().all(|x| x == b'-');
        if !(sep == "." || sep == "_" || sep == "__" || dashes) {
            return Err(bad());
        }
    }
    Ok(())
}

/// `host[:port]`: DNS labels of letters, digits and dashes, or a bracketed IPv6 address.
fn check_registry(r: &str) -> std::result::Result<(), String> {
    let bad = || format!("{r:?} is not a registry (host or host:port)");
    let (host, port) = if let Some(rest) = r.strip_prefix('[') {
        let (h, after) = rest.split_once(']').ok_or_else(bad)?;
        h.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
        (None, after.strip_prefix(':'))
    } else {
        match r.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(r), None),
        }
    };
    if let Some(h) = host {
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        };
        if h.is_empty() || !h.split('.').all(label_ok) {
            return Err(bad());
        }
    }
    if let Some(p) = port
        && p.parse::<u16>().map_or(true, |p| p == 0)
    {
        return Err(bad());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn docker(s: &str) -> DockerRef {
        match ImageRef::parse(s).unwrap().unwrap() {
            ImageRef::Docker(r) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_hub_names_are_normalised() {
        let r = docker("docker://busybox");
        assert_eq!(r.to_string(), "docker.io/library/busybox:latest");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.appc_name().as_str(), "docker.io/library/busybox");
        assert_eq!(r.reference(), "latest");
        assert_eq!(
            docker("docker://bitnami/redis:7.2").to_string(),
            "docker.io/bitnami/redis:7.2"
        );
        assert_eq!(
            docker("docker://docker.io/busybox:1.36").to_string(),
            "docker.io/library/busybox:1.36"
        );
    }

    #[test]
    fn registries_ports_tags_and_digests() {
        let d = format!("sha256:{}", "ab".repeat(32));
        let r = docker(&format!("docker://localhost:5000/team/app:v1.2@{d}"));
        assert_eq!(r.registry, "localhost:5000");
        assert_eq!(r.repository, "team/app");
        assert_eq!(r.tag.as_deref(), Some("v1.2"));
        assert_eq!(r.reference(), d);
        assert_eq!(r.api_host(), "localhost:5000");
        assert_eq!(r.appc_name().as_str(), "localhost_5000/team/app");
        let r = docker(&format!("docker://quay.io/coreos/etcd@{d}"));
        assert_eq!(r.tag, None);
        assert_eq!(r.to_string(), format!("quay.io/coreos/etcd@{d}"));
        let r = docker("docker://localhost/app");
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("localhost", "app")
        );
        let r = docker("docker://[::1]:5000/app");
        assert_eq!(r.registry, "[::1]:5000");
        let r = docker("docker://a__b/c-d.e_f---g");
        assert_eq!(r.repository, "a__b/c-d.e_f---g");
    }

    #[test]
    fn reference_whose_registry_is_marked_by_upper_case_prints_as_itself() {
        let r = docker("docker://dockerUio/b6");
        assert_eq!(r.registry, "dockerUio");
        assert_eq!(r.to_string(), "dockerUio/b6:latest");
        assert_eq!(r.appc_name().as_str(), "dockeruio/b6");
        let again = ImageRef::parse(&format!("docker://{r}")).unwrap();
        assert_eq!(again, Some(ImageRef::Docker(r)));
        // Where case does not decide, the host is still lower-cased.
        assert_eq!(docker("docker://Quay.IO/a").registry, "quay.io");
        assert_eq!(docker("docker://LocalHost/a").registry, "localhost");
    }

    #[test]
    fn docker_reference_longer_than_255_once_normalised_is_refused() {
        // 250 characters as given, 268 as docker.io/library/…: it could not be shown and read
        // back.
        let long = "a".repeat(250);
        let e = ImageRef::parse(&format!("docker://{long}"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("longer than 255"), "{e}");
        let fits = "a".repeat(255 - "docker.io/library/".len());
        let r = docker(&format!("docker://{fits}"));
        assert_eq!(r.name().len(), 255);
        let shown = format!("docker://{r}");
        assert_eq!(ImageRef::parse(&shown).unwrap(), Some(ImageRef::Docker(r)));
    }

    #[test]
    fn bad_docker_references_say_what_is_wrong() {
        for (s, want) in [
            ("docker://", "no repository name"),
            ("docker://Busybox", "not a repository name component"),
            ("docker://busybox:", "not a tag"),
            ("docker://busybox:-x", "not a tag"),
            ("docker://busybox@sha256:abc", "not a digest"),
            ("docker://a//b", "not a repository name component"),
            ("docker://a_/b", "not a repository name component"),
            ("docker://host:0/a", "not a registry"),
            ("docker://ho_st.io/a", "not a registry"),
            ("docker:busybox", "two slashes"),
        ] {
            let e = ImageRef::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s}: {e}");
        }
        let long = format!("docker://{}", "a".repeat(256));
        assert!(ImageRef::parse(&long).is_err());
    }

    #[test]
    fn layouts_and_archives() {
        assert_eq!(
            ImageRef::parse("oci:/tmp/layout:v1").unwrap(),
            Some(ImageRef::OciLayout {
                dir: "/tmp/layout".into(),
                tag: Some("v1".into())
            })
        );
        assert_eq!(
            ImageRef::parse("oci-archive:img.tar").unwrap(),
            Some(ImageRef::OciArchive {
                file: "img.tar".into(),
                tag: None
            })
        );
        let r = ImageRef::parse("docker-archive:/x/save.tar:busybox:1.36")
            .unwrap()
            .unwrap();
        assert_eq!(
            r.to_string(),
            "docker-archive:/x/save.tar:docker.io/library/busybox:1.36"
        );
        for bad in [
            "oci:",
            "oci::tag",
            "oci:/d:",
            "docker-archive:f.tar:x@sha256:00",
        ] {
            assert!(ImageRef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn appc_names_are_not_references() {
        for s in [
            "example.com/busybox",
            "example.com/busybox:1.0,os=linux",
            "busybox",
        ] {
            assert_eq!(ImageRef::parse(s).unwrap(), None, "{s}");
        }
    }
}
