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
        match std::fs::read_to_string(&path) {
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
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), "on"));
            cfg.set(k.trim(), v.trim(), "-o")?;
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
    fn defaults() {
        let c = Config::default();
        assert_eq!(c.root(), PathBuf::from("/var/lib/jetpack"));
        assert_eq!(c.get("storage"), "auto");
        assert_eq!(c.zfs_dataset(), None);
    }
}
