//! `jetpack.conf`: `KEY = VALUE` lines, `#` comments, built-in defaults, and `-o KEY=VALUE`
//! overrides, as the original Jetpack had them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::keys::{self, KEYS};
use crate::layout::Layout;
use crate::settings::Settings;
use crate::{Error, Result};

pub const DEFAULT_CONFIG_FILE: &str = "/etc/jetpack/jetpack.conf";

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

/// A value's text as `jetpack config` shows it: a computed default stands for an empty one.
fn shown(key: &str, value: &str) -> String {
    match value {
        "" => keys::computed(key).unwrap_or_default(),
        v => v.to_string(),
    }
}

/// The effective configuration: defaults, then the file, then overrides; parsed as each value
/// is set.
#[derive(Debug, Clone)]
pub struct Config {
    settings: Settings,
    /// Each key's value as given, for `jetpack config` and for child processes.
    values: BTreeMap<&'static str, String>,
    /// Where each non-default value came from.
    origins: BTreeMap<&'static str, String>,
    /// `jail.param.NAME` overrides (`ace.jailConf.NAME` spelt so) in the order given, as
    /// (key, value, origin): their order is the jail parameters'.
    params: Vec<(String, String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            settings: Settings::default(),
            values: KEYS
                .iter()
                .map(|k| (k.name, shown(k.name, k.default)))
                .collect(),
            origins: BTreeMap::new(),
            params: Vec::new(),
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
            Err(e) => return Err(Error(format!("cannot read {}: {e}", path.display()))),
        }
        for o in overrides {
            let (k, v) = match o.split_once('=') {
                Some((k, v)) => (k.trim(), v.trim()),
                None if jetpack_jail::pod::param_key(o.trim()).is_some() => {
                    return Err(Error(format!(
                        "-o {o}: give a value, as -o {o}=VALUE (an empty value unsets the \
                         parameter)"
                    )));
                }
                None => match keys::find(o.trim()) {
                    // A bare key switches an on/off key on; any other key needs its value.
                    Some(key) if key.is_flag() => (o.trim(), "on"),
                    Some(key) => {
                        return Err(Error(format!(
                            "-o {o}: give a value, as -o KEY=VALUE (e.g. -o {o}={}); only on/off \
                             keys may be given alone",
                            key.form.example
                        )));
                    }
                    None => (o.trim(), ""),
                },
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
                return Err(Error(format!(
                    "{origin}:{}: expected KEY = VALUE, got {line:?}",
                    n + 1
                )));
            };
            self.set(k.trim(), v.trim(), &format!("{origin}:{}", n + 1))?;
        }
        Ok(())
    }

    /// Sets a known key from its text; `origin` says where the value came from.
    pub fn set(&mut self, key: &str, value: &str, origin: &str) -> Result<()> {
        if let Some(name) = jetpack_jail::pod::param_key(key) {
            self.settings
                .jail
                .apply(key, value)
                .map_err(|e| Error(format!("{key} = {value:?} ({origin}): {e}")))?;
            let key = format!("jail.param.{name}");
            let entry = (key, value.to_string(), origin.to_string());
            match self.params.iter_mut().find(|(k, ..)| *k == entry.0) {
                Some(slot) => *slot = entry,
                None => self.params.push(entry),
            }
            return Ok(());
        }
        let Some(k) = keys::find(key) else {
            let mut known: Vec<&str> = KEYS.iter().map(|k| k.name).collect();
            known.push(keys::PARAM_KEY);
            return Err(Error(format!(
                "unknown key {key:?} ({origin}); known keys: {}",
                known.join(", ")
            )));
        };
        (k.set)(&mut self.settings, value).ok_or_else(|| {
            Error(format!(
                "{key} = {value:?} ({origin}): expected {}, e.g. {key}={}",
                k.form.expected, k.form.example
            ))
        })?;
        self.values.insert(k.name, shown(k.name, value));
        self.origins.insert(k.name, origin.to_string());
        Ok(())
    }

    /// The parsed settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The paths of the store at `root`.
    pub fn layout(&self) -> Layout {
        self.settings.store.layout()
    }

    /// All keys with their values as given and where each came from (`default` if built in);
    /// then the `jail.param.NAME` overrides, in their order.
    pub fn entries(&self) -> Vec<(&str, &str, &str)> {
        let fixed = self.values.iter().map(|(k, v)| {
            let origin = self.origins.get(k).map(String::as_str).unwrap_or("default");
            (*k, v.as_str(), origin)
        });
        let params = self
            .params
            .iter()
            .map(|(k, v, o)| (k.as_str(), v.as_str(), o.as_str()));
        fixed.chain(params).collect()
    }

    /// The global options that give another `jetpack` process exactly this configuration:
    /// no configuration file, and every value as resolved (for the processes `jetpack`
    /// starts itself: the metadata service, a detached pod's supervisor).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec!["--config".to_string(), "/dev/null".to_string()];
        for (k, v, _) in self.entries() {
            args.push("-o".into());
            args.push(format!("{k}={v}"));
        }
        args
    }
}
