//! `jetpack.conf`: `KEY = VALUE` lines, `#` comments, built-in defaults, and `-o KEY=VALUE`
//! overrides, as the original Jetpack had them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/jetpack/jetpack.conf";

/// Known keys with their defaults and meaning; anything else is a typo and an error.
pub const KEYS: &[(&str, &str, &str)] = &[
    (
        "root",
        "/var/lib/jetpack",
        "data directory: index, image metadata, storage",
    ),
    (
        "storage",
        "auto",
        "storage backend: auto, zfs, btrfs, overlay or dir",
    ),
    (
        "zfs.dataset",
        "",
        "root ZFS dataset for storage = zfs (e.g. tank/jetpack)",
    ),
    ("debug", "off", "verbose logging (on/off)"),
    (
        "pods.private-users",
        "off",
        "give every pod a user namespace of its own, as --private-users does (on/off)",
    ),
    (
        "fetch.ca-file",
        "",
        "extra PEM CA certificates trusted for HTTPS besides the system's (comma-separated files)",
    ),
    (
        "fetch.timeout",
        "30",
        "seconds to wait for a connection, a response, or each read of a download",
    ),
    (
        "net.dir",
        "/etc/jetpack/net.d",
        "directory of CNI network configurations, one file per network (init writes `default`)",
    ),
    (
        "net.plugin-path",
        "/usr/lib/cni:/usr/libexec/cni:/opt/cni/bin",
        "where CNI plugins are looked for (colon-separated)",
    ),
    (
        "net.default-bridge",
        "jetpack0",
        "bridge of the default network, used when init writes its configuration",
    ),
    (
        "net.default-subnet",
        "172.23.0.0/16",
        "addresses of the default network, used when init writes its configuration",
    ),
    (
        "import.max-size",
        "",
        "largest uncompressed image (tar bytes, or with a K, M, G or T suffix) import accepts; empty: no limit",
    ),
    (
        "mds.port",
        "1104",
        "TCP port of the metadata service, on the default network's host address",
    ),
    (
        "mds.user",
        "nobody",
        "user the metadata service runs as once its sockets are open (kept root if it does not exist)",
    ),
];

/// The most a configuration file may hold: real ones are a few lines.
const FILE_LIMIT: u64 = 1 << 20;

/// Reads the configuration file, refusing one over [`FILE_LIMIT`] without reading past it.
fn read_capped(path: &Path) -> std::io::Result<String> {
    use std::io::Read;
    let mut text = String::new();
    std::fs::File::open(path)?
        .take(FILE_LIMIT + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > FILE_LIMIT {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB: is it the right file?",
            FILE_LIMIT >> 20
        )));
    }
    Ok(text)
}

/// The form of a key's value.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Flag,
    Seconds,
    Port,
    Storage,
    Subnet,
    Path,
    Size,
    Text,
    Unknown,
}

/// A size in bytes: digits, optionally followed by `K`, `M`, `G` or `T` (powers of 1024).
fn parse_size(value: &str) -> Option<u64> {
    let (digits, unit) = match value.find(|c: char| !c.is_ascii_digit()) {
        Some(i) => value.split_at(i),
        None => (value, ""),
    };
    let shift = match unit.to_ascii_uppercase().trim_end_matches(['B', 'I']) {
        "" => 0,
        "K" => 10,
        "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .filter(|n| *n > 0)
}

fn kind(key: &str) -> Kind {
    match key {
        "debug" | "pods.private-users" => Kind::Flag,
        "fetch.timeout" => Kind::Seconds,
        "mds.port" => Kind::Port,
        "storage" => Kind::Storage,
        "net.default-subnet" => Kind::Subnet,
        "root" | "net.dir" => Kind::Path,
        "import.max-size" => Kind::Size,
        k if KEYS.iter().any(|(known, _, _)| *known == k) => Kind::Text,
        _ => Kind::Unknown,
    }
}

/// A good value of `key`, for messages.
fn example(key: &str) -> &'static str {
    match kind(key) {
        Kind::Flag => "on",
        Kind::Seconds => "30",
        Kind::Port => "1104",
        Kind::Storage => "overlay",
        Kind::Subnet => "172.23.0.0/16",
        Kind::Path => "/var/lib/jetpack",
        Kind::Size => "20G",
        Kind::Text | Kind::Unknown => "VALUE",
    }
}

/// Checks the form of a value; on error, what was expected.
fn check(key: &str, value: &str) -> std::result::Result<(), &'static str> {
    let ok = match kind(key) {
        Kind::Flag => matches!(
            value,
            "on" | "off" | "true" | "false" | "yes" | "no" | "1" | "0"
        ),
        Kind::Seconds => value.parse::<u64>().is_ok_and(|n| n > 0),
        Kind::Port => value.parse::<u16>().is_ok_and(|n| n > 0),
        Kind::Storage => matches!(value, "auto" | "zfs" | "btrfs" | "overlay" | "dir"),
        Kind::Subnet => value.split_once('/').is_some_and(|(a, n)| {
            a.parse::<std::net::IpAddr>().is_ok() && n.parse::<u8>().is_ok_and(|n| n <= 128)
        }),
        Kind::Path => !value.is_empty(),
        Kind::Size => value.is_empty() || parse_size(value).is_some(),
        Kind::Text | Kind::Unknown => true,
    };
    if ok {
        return Ok(());
    }
    Err(match kind(key) {
        Kind::Flag => "on or off",
        Kind::Seconds => "a whole number of seconds, at least 1",
        Kind::Port => "a TCP port number, 1 to 65535",
        Kind::Storage => "auto, zfs, btrfs, overlay or dir",
        Kind::Subnet => "an address range as ADDRESS/PREFIX-LENGTH",
        Kind::Path => "a directory",
        Kind::Size => {
            "a number of bytes, at least 1, optionally with a K, M, G or T suffix, or nothing"
        }
        Kind::Text | Kind::Unknown => "a value",
    })
}

/// The effective configuration: defaults, then the file, then overrides.
#[derive(Debug, Clone)]
pub struct Config {
    values: BTreeMap<String, String>,
    /// Where each non-default value came from, for `jetpack config`.
    origins: BTreeMap<String, String>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: KEYS
                .iter()
                .map(|(k, v, _)| (k.to_string(), v.to_string()))
                .collect(),
            origins: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Loads `file` (a missing default file is fine; a missing explicit file is not) and applies
    /// `overrides` (`KEY=VALUE`; a bare `KEY` means `KEY=on`).
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Config> {
        let mut cfg = Config::default();
        let (path, explicit) = match file {
            Some(p) => (p.to_path_buf(), true),
            None => (PathBuf::from(DEFAULT_CONFIG_FILE), false),
        };
        match read_capped(&path) {
            Ok(text) => cfg.apply_text(&text, &path.display().to_string())?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
            Err(e) => {
                return Err(Error::Config(format!(
                    "cannot read {}: {e}",
                    path.display()
                )));
            }
        }
        for o in overrides {
            let (k, v) = match o.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                // A bare key switches an on/off key on; any other key needs its value.
                None if kind(o.trim()) == Kind::Flag => (o.trim(), "on"),
                None if kind(o.trim()) == Kind::Unknown => (o.trim(), ""),
                None => {
                    return Err(Error::Config(format!(
                        "-o {o}: give a value, as -o KEY=VALUE (e.g. -o {o}={}); only on/off \
                         keys may be given alone",
                        example(o.trim())
                    )));
                }
            };
            cfg.set(k, v, "-o")?;
        }
        Ok(cfg)
    }

    fn apply_text(&mut self, text: &str, origin: &str) -> Result<()> {
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
                continue;
            }
            let Some((k, v)) = line.split_once(['=', ':']) else {
                return Err(Error::Config(format!(
                    "{origin}:{}: expected KEY = VALUE, got {line:?}",
                    n + 1
                )));
            };
            self.set(k.trim(), v.trim(), &format!("{origin}:{}", n + 1))?;
        }
        Ok(())
    }

    /// Sets a known key.
    pub fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        if !KEYS.iter().any(|(k, _, _)| *k == key) {
            let known: Vec<&str> = KEYS.iter().map(|(k, _, _)| *k).collect();
            return Err(Error::Config(format!(
                "unknown key {key:?} ({origin}); known keys: {}",
                known.join(", ")
            )));
        }
        check(key, value).map_err(|want| {
            Error::Config(format!(
                "{key} = {value:?} ({origin}): expected {want}, e.g. {key}={}",
                example(key)
            ))
        })?;
        self.values.insert(key.to_string(), value.to_string());
        self.origins.insert(key.to_string(), origin.to_string());
        Ok(())
    }

    pub fn get(&self, key: &str) -> &str {
        self.values.get(key).map(String::as_str).unwrap_or("")
    }

    pub fn root(&self) -> PathBuf {
        PathBuf::from(self.get("root"))
    }

    pub fn zfs_dataset(&self) -> Option<&str> {
        Some(self.get("zfs.dataset")).filter(|s| !s.is_empty())
    }

    /// `import.max-size` in bytes; `None` when unset (no limit).
    pub fn import_max_size(&self) -> Option<u64> {
        parse_size(self.get("import.max-size"))
    }

    pub fn debug(&self) -> bool {
        self.flag("debug")
    }

    /// A key whose value is on or off.
    pub fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), "on" | "true" | "yes" | "1")
    }

    /// All keys with their values and where the value came from (`default` if built in).
    pub fn entries(&self) -> Vec<(&str, &str, &str)> {
        self.values
            .iter()
            .map(|(k, v)| {
                let origin = self.origins.get(k).map(String::as_str).unwrap_or("default");
                (k.as_str(), v.as_str(), origin)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("jetpack.conf");
        std::fs::write(
            &f,
            "# comment\nroot = /srv/jp\nstorage=dir\n\nzfs.dataset = tank/jp\n",
        )
        .unwrap();
        let c = Config::load(Some(&f), &["storage=zfs".into(), "debug".into()]).unwrap();
        assert_eq!(c.root(), PathBuf::from("/srv/jp"));
        assert_eq!(c.get("storage"), "zfs");
        assert_eq!(c.zfs_dataset(), Some("tank/jp"));
        assert!(c.debug());
        let e = c.entries();
        assert!(e.contains(&("storage", "zfs", "-o")));
        assert!(e.iter().any(|(k, _, o)| *k == "root" && o.ends_with(":2")));
    }

    #[test]
    fn unknown_key_and_bad_line_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c");
        std::fs::write(&f, "rooot = /x\n").unwrap();
        let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
        assert!(e.contains("unknown key \"rooot\""), "{e}");
        std::fs::write(&f, "just words\n").unwrap();
        let e = Config::load(Some(&f), &[]).unwrap_err().to_string();
        assert!(e.contains(":1: expected KEY = VALUE"), "{e}");
        let missing = dir.path().join("nope");
        assert!(Config::load(Some(&missing), &[]).is_err());
    }

    #[test]
    fn typed_values_are_checked() {
        for (o, want) in [
            (
                "fetch.timeout=abc",
                "fetch.timeout = \"abc\" (-o): expected a whole number",
            ),
            ("mds.port=0", "1 to 65535"),
            ("debug=perhaps", "on or off"),
            ("storage=ext4", "auto, zfs"),
            ("net.default-subnet=10.1.0.0", "ADDRESS/PREFIX-LENGTH"),
            ("root", "-o root: give a value, as -o KEY=VALUE"),
            ("mds.port", "e.g. -o mds.port=1104"),
            ("import.max-size=0", "a number of bytes"),
            ("import.max-size=12X", "e.g. import.max-size=20G"),
        ] {
            let e = Config::load(Some(Path::new("/dev/null")), &[o.into()])
                .unwrap_err()
                .to_string();
            assert!(e.contains(want), "{o}: {e}");
        }
        let c = Config::load(
            Some(Path::new("/dev/null")),
            &[
                "debug".into(),
                "fetch.timeout=5".into(),
                "mds.port=80".into(),
            ],
        )
        .unwrap();
        assert!(c.debug());
        assert_eq!(c.get("fetch.timeout"), "5");
        assert_eq!(c.import_max_size(), None);
        for (v, n) in [
            ("4096", 4096),
            ("64K", 64 << 10),
            ("2G", 2 << 30),
            ("1MiB", 1 << 20),
        ] {
            let c = Config::load(
                Some(Path::new("/dev/null")),
                &[format!("import.max-size={v}")],
            )
            .unwrap();
            assert_eq!(c.import_max_size(), Some(n), "{v}");
        }
        // Every default passes its own check.
        for (k, v, _) in KEYS {
            if !v.is_empty() {
                check(k, v).unwrap();
            }
        }
        let e = Config::load(Some(Path::new("/dev/zero")), &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/zero") && e.contains("1 MiB"), "{e}");
    }

    #[test]
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.root(), PathBuf::from("/var/lib/jetpack"));
        assert_eq!(c.get("storage"), "auto");
        assert_eq!(c.zfs_dataset(), None);
    }
}
