//! The `os`/`arch` label whitelist and the host's appc names (digest §4).

use crate::error::{Error, Result};

/// Valid `os` values and, for each, the valid `arch` values. This is the
/// reference implementation's table, which is wider than the spec's text.
pub const VALID_OS_ARCH: &[(&str, &[&str])] = &[
    ("darwin", &["x86_64", "i386"]),
    ("freebsd", &["amd64", "i386", "arm"]),
    (
        "linux",
        &[
            "amd64",
            "i386",
            "aarch64",
            "aarch64_be",
            "armv6l",
            "armv7l",
            "armv7b",
            "ppc64",
            "ppc64le",
            "s390x",
        ],
    ),
];

/// Checks an `os` label and, when present, the `arch` label that goes with
/// it. Values are case-sensitive. An `arch` without `os` is not checked.
pub fn validate_os_arch(os: &str, arch: Option<&str>) -> Result<()> {
    let Some((_, arches)) = VALID_OS_ARCH.iter().find(|(o, _)| *o == os) else {
        let oses: Vec<&str> = VALID_OS_ARCH.iter().map(|(o, _)| *o).collect();
        return Err(Error::new(format!(
            "bad os {os:?} (must be one of: [{}])",
            oses.join(" ")
        )));
    };
    match arch {
        Some(arch) if !arches.contains(&arch) => Err(Error::new(format!(
            "bad arch {arch:?} for {os} (must be one of: [{}])",
            arches.join(" ")
        ))),
        _ => Ok(()),
    }
}

/// The `os` and `arch` label values describing the machine this code was
/// compiled for, in appc's spelling (`x86_64` is `amd64`, `x86` is `i386`…).
///
/// FreeBSD on 64-bit ARM comes out as `freebsd`/`aarch64`, which the
/// whitelist above does not contain: images labelled so fail validation.
pub fn host_os_arch() -> (&'static str, &'static str) {
    let arch = std::env::consts::ARCH;
    if cfg!(target_os = "macos") {
        let arch = match arch {
            "x86_64" => "x86_64",
            "x86" => "i386",
            other => other,
        };
        return ("darwin", arch);
    }
    let arch = match arch {
        "x86_64" => "amd64",
        "x86" => "i386",
        "arm" if cfg!(target_os = "freebsd") => "arm",
        "arm" if cfg!(target_feature = "v7") => "armv7l",
        "arm" => "armv6l",
        "aarch64" if cfg!(target_endian = "big") => "aarch64_be",
        "powerpc64" if cfg!(target_endian = "little") => "ppc64le",
        "powerpc64" => "ppc64",
        other => other,
    };
    (std::env::consts::OS, arch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitelist() {
        assert!(validate_os_arch("linux", Some("amd64")).is_ok());
        assert!(validate_os_arch("freebsd", Some("arm")).is_ok());
        assert!(validate_os_arch("linux", None).is_ok());
        assert_eq!(
            validate_os_arch("freebsd", Some("aarch64"))
                .unwrap_err()
                .message(),
            "bad arch \"aarch64\" for freebsd (must be one of: [amd64 i386 arm])"
        );
        assert_eq!(
            validate_os_arch("plan9", None).unwrap_err().message(),
            "bad os \"plan9\" (must be one of: [darwin freebsd linux])"
        );
        assert!(validate_os_arch("Linux", None).is_err());
    }

    #[test]
    fn host_names_are_appc_names() {
        let (os, arch) = host_os_arch();
        assert!(!os.is_empty() && !arch.is_empty());
        if os != "darwin" {
            assert!(
                arch != "x86_64" && arch != "x86",
                "Rust name leaked: {arch}"
            );
        }
        if cfg!(all(target_os = "linux", target_arch = "x86_64")) {
            assert_eq!((os, arch), ("linux", "amd64"));
            assert!(validate_os_arch(os, Some(arch)).is_ok());
        }
    }
}
