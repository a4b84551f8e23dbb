//! Platforms (os, architecture, variant, in Go's names as OCI uses them), the host's, the
//! choice of an index entry for it, and appc's names for them.

use std::fmt;

use oci_spec::image::Descriptor;

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        match &self.variant {
            Some(v) => write!(f, "/{v}"),
            None => Ok(()),
        }
    }
}

impl Platform {
    pub fn new(os: &str, architecture: &str, variant: Option<&str>) -> Platform {
        Platform {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.map(str::to_string),
        }
    }

    /// The platform this program was built for, in Go's names.
    pub fn host() -> Platform {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "x86" => "386",
            "aarch64" => "arm64",
            "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
            "powerpc64" => "ppc64",
            "loongarch64" => "loong64",
            other => other,
        };
        let variant = match arch {
            "arm64" => Some("v8"),
            "arm" => Some("v7"),
            _ => None,
        };
        Platform::new(std::env::consts::OS, arch, variant)
    }

    /// The variant as the index would name it, with the defaults filled in (`arm64` is `v8`).
    fn variant_or_default(&self) -> Option<&str> {
        match (self.architecture.as_str(), self.variant.as_deref()) {
            ("arm64", None) => Some("v8"),
            (_, v) => v,
        }
    }

    /// How well `self`, an entry of an index, serves `want`: `None` if not at all; higher is
    /// better (the exact variant over an entry that names none).
    fn fit(&self, want: &Platform) -> Option<u8> {
        if self.os != want.os || self.architecture != want.architecture {
            return None;
        }
        match (self.variant_or_default(), want.variant_or_default()) {
            (None, _) => Some(1),
            (Some(a), Some(b)) if a == b => Some(2),
            _ => None,
        }
    }

    /// appc's `os` and `arch` labels for the platform; the arch is `None` where appc has no
    /// name for it.
    pub fn appc_labels(&self) -> (String, Option<String>) {
        let arch = match (self.os.as_str(), self.architecture.as_str()) {
            ("darwin", "amd64") => Some("x86_64"),
            (_, "amd64") => Some("amd64"),
            (_, "386") => Some("i386"),
            ("freebsd", "arm") => Some("arm"),
            ("linux", "arm64") => Some("aarch64"),
            ("linux", "arm") => match self.variant.as_deref() {
                Some("v7") | Some("v8") => Some("armv7l"),
                _ => Some("armv6l"),
            },
            ("linux", a @ ("ppc64" | "ppc64le" | "s390x")) => Some(a),
            _ => None,
        };
        (self.os.clone(), arch.map(str::to_string))
    }
}

/// The platform an index entry names, if any.
pub fn of_descriptor(d: &Descriptor) -> Option<Platform> {
    let p = d.platform().as_ref()?;
    Some(Platform {
        os: p.os().to_string(),
        architecture: p.architecture().to_string(),
        variant: p.variant().clone(),
    })
}

/// The entry of an index (or manifest list) for `want`, or an error listing the platforms the
/// image has. Entries without a platform, or for `unknown/unknown` (attestations), are not
/// images to run.
pub fn select<'a>(
    entries: &'a [Descriptor],
    want: &Platform,
    what: &str,
) -> Result<&'a Descriptor> {
    let mut best: Option<(u8, &Descriptor)> = None;
    for d in entries {
        let Some(p) = of_descriptor(d) else { continue };
        if let Some(f) = p.fit(want)
            && best.is_none_or(|(b, _)| f > b)
        {
            best = Some((f, d));
        }
    }
    if let Some((_, d)) = best {
        return Ok(d);
    }
    let mut available: Vec<String> = entries
        .iter()
        .filter_map(of_descriptor)
        .filter(|p| p.os != "unknown")
        .map(|p| p.to_string())
        .collect();
    available.dedup();
    Err(Error::NoPlatform {
        what: what.to_string(),
        wanted: want.to_string(),
        available: if available.is_empty() {
            "no platform named".into()
        } else {
            available.join(", ")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(json: &str) -> Vec<Descriptor> {
        serde_json::from_str(json).unwrap()
    }

    const INDEX: &str = r#"[
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
       "digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
       "platform":{"os":"linux","architecture":"arm","variant":"v6"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
       "digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
       "platform":{"os":"linux","architecture":"arm","variant":"v7"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
       "digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333",
       "platform":{"os":"linux","architecture":"amd64"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
       "digest":"sha256:4444444444444444444444444444444444444444444444444444444444444444",
       "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
      {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
       "digest":"sha256:5555555555555555555555555555555555555555555555555555555555555555",
       "platform":{"os":"unknown","architecture":"unknown"}}
    ]"#;

    fn digit(d: &Descriptor) -> char {
        d.digest().to_string().chars().last().unwrap()
    }

    #[test]
    fn the_hosts_entry_is_chosen() {
        let e = entries(INDEX);
        let pick = |os, arch, v| digit(select(&e, &Platform::new(os, arch, v), "x").unwrap());
        assert_eq!(pick("linux", "amd64", None), '3');
        assert_eq!(pick("linux", "arm", Some("v7")), '2');
        assert_eq!(pick("linux", "arm64", None), '4');
        assert_eq!(pick("linux", "arm64", Some("v8")), '4');
        let host = Platform::host();
        if host.os == "linux" && host.architecture == "amd64" {
            assert_eq!(digit(select(&e, &host, "x").unwrap()), '3');
        }
    }

    #[test]
    fn no_entry_for_the_platform_lists_what_there_is() {
        let e = entries(INDEX);
        let err = select(
            &e,
            &Platform::new("linux", "s390x", None),
            "docker.io/library/x:1",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "docker.io/library/x:1: no image for linux/s390x; the image has: linux/arm/v6, \
             linux/arm/v7, linux/amd64, linux/arm64/v8"
        );
    }

    #[test]
    fn appc_names_of_platforms() {
        let l = |os, a, v| Platform::new(os, a, v).appc_labels();
        assert_eq!(
            l("linux", "amd64", None),
            ("linux".into(), Some("amd64".into()))
        );
        assert_eq!(
            l("linux", "arm64", Some("v8")).1.as_deref(),
            Some("aarch64")
        );
        assert_eq!(l("linux", "arm", Some("v7")).1.as_deref(), Some("armv7l"));
        assert_eq!(l("linux", "arm", None).1.as_deref(), Some("armv6l"));
        assert_eq!(l("linux", "386", None).1.as_deref(), Some("i386"));
        assert_eq!(l("linux", "riscv64", None).1, None);
        for (os, a, v) in [
            ("linux", "amd64", None),
            ("linux", "arm", Some("v7")),
            ("freebsd", "arm", None),
        ] {
            let (os, arch) = l(os, a, v);
            appc::validate_os_arch(&os, arch.as_deref()).unwrap();
        }
    }
}
