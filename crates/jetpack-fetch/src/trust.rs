//! The trust store: OpenPGP public keys trusted to sign images, one ASCII-armored file per key,
//! named by its fingerprint, in the directory of the scope it is trusted for (the layout of rkt
//! and the original Jetpack):
//!
//! ```text
//! <root>/trust/root.d/<fingerprint>                          trusted for every image
//! <root>/trust/prefix.d/<prefix with / written as ,>/<fingerprint>
//! ```
//!
//! A prefix covers names equal to it or below it by whole path components: a key for
//! `example.com/foo` signs `example.com/foo` and `example.com/foo/bar`, never
//! `example.com/foobar`. (AC identifiers cannot contain `,`, so the escaping is reversible.)

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};

use pgp::composed::{ArmorOptions, SignedPublicKey};

use crate::error::{Error, IoContext, Result};
use crate::keys::{fingerprint_of, parse_keyring};

/// What a key is trusted for.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Root,
    Prefix(String),
}

impl Scope {
    /// A prefix scope; the prefix must be an AC identifier (an image name or a parent of one).
    pub fn prefix(p: &str) -> Result<Scope> {
        let id: appc::AcIdentifier = p
            .parse()
            .map_err(|e| Error::Trust(format!("prefix {p:?} is not an image name prefix: {e}")))?;
        Ok(Scope::Prefix(id.to_string()))
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Root => f.write_str("root (every image)"),
            Scope::Prefix(p) => write!(f, "prefix {p}"),
        }
    }
}

/// A key in the store.
#[derive(Debug, Clone)]
pub struct TrustedKey {
    pub scope: Scope,
    pub fingerprint: String,
    pub path: PathBuf,
    pub key: SignedPublicKey,
}

pub struct TrustStore {
    dir: PathBuf,
}

impl TrustStore {
    /// The trust store of the image store at `root`.
    pub fn for_store(root: &Path) -> TrustStore {
        TrustStore::new(jetpack_store::Layout::new(root).trust())
    }

    pub fn new(dir: PathBuf) -> TrustStore {
        TrustStore { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn scope_dir(&self, scope: &Scope) -> PathBuf {
        match scope {
            Scope::Root => self.dir.join("root.d"),
            Scope::Prefix(p) => self.dir.join("prefix.d").join(p.replace('/', ",")),
        }
    }

    /// Stores `key` for `scope`, replacing an earlier copy (how new expiry dates, subkeys or
    /// revocations arrive). Returns the file written.
    pub fn add(&self, scope: &Scope, key: &SignedPublicKey) -> Result<PathBuf> {
        let dir = self.scope_dir(scope);
        fs::create_dir_all(&dir).at(&dir)?;
        let fpr = fingerprint_of(&key.primary_key);
        let text = key
            .to_armored_string(ArmorOptions::default())
            .map_err(|e| Error::Trust(format!("cannot encode key {fpr}: {e}")))?;
        let path = dir.join(&fpr);
        jetpack_fs::atomic_write(&path, text.as_bytes())?;
        Ok(path)
    }

    /// Every stored key, root keys first, then by prefix and fingerprint.
    pub fn list(&self) -> Result<Vec<TrustedKey>> {
        let mut out = self.load_dir(&Scope::Root)?;
        let prefixes = self.dir.join("prefix.d");
        let mut names = Vec::new();
        match fs::read_dir(&prefixes) {
            Ok(rd) => {
                for e in rd {
                    let e = e.at(&prefixes)?;
                    names.push(e.file_name().to_string_lossy().replace(',', "/"));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => Err(e).at(prefixes)?,
        }
        names.sort();
        for n in names {
            out.extend(self.load_dir(&Scope::Prefix(n))?);
        }
        Ok(out)
    }

    /// The keys trusted for image `name`: root keys and those of every prefix of it.
    pub fn keys_for(&self, name: &str) -> Result<Vec<TrustedKey>> {
        let mut out = self.load_dir(&Scope::Root)?;
        for prefix in crate::discovery::walk(name) {
            out.extend(self.load_dir(&Scope::Prefix(prefix.to_string()))?);
        }
        Ok(out)
    }

    /// Removes the key with this fingerprint (or a unique suffix of at least 16 hex digits, a
    /// long key ID) from `scope`, or from every scope. Returns what was removed.
    pub fn remove(&self, fingerprint: &str, scope: Option<&Scope>) -> Result<Vec<TrustedKey>> {
        let want: String = fingerprint
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_ascii_lowercase();
        if want.len() < 16 || !want.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Trust(format!(
                "{fingerprint:?} is not a fingerprint: give the key's fingerprint as \
                 `jetpack trust list` shows it (at least its last 16 hex digits)"
            )));
        }
        let found: Vec<TrustedKey> = self
            .list()?
            .into_iter()
            .filter(|k| k.fingerprint.ends_with(&want))
            .filter(|k| scope.is_none_or(|s| *s == k.scope))
            .collect();
        let mut distinct: Vec<&str> = found.iter().map(|k| k.fingerprint.as_str()).collect();
        distinct.sort();
        distinct.dedup();
        match distinct.len() {
            0 => {
                return Err(Error::Trust(format!(
                    "no trusted key {fingerprint}{} (see `jetpack trust list`)",
                    scope.map(|s| format!(" for {s}")).unwrap_or_default()
                )));
            }
            1 => {}
            _ => {
                return Err(Error::Trust(format!(
                    "{fingerprint} matches several keys ({}): give the full fingerprint",
                    distinct.join(", ")
                )));
            }
        }
        for k in &found {
            fs::remove_file(&k.path).at(&k.path)?;
            if let Some(dir) = k.path.parent() {
                let _ = fs::remove_dir(dir); // only if now empty
            }
        }
        Ok(found)
    }

    fn load_dir(&self, scope: &Scope) -> Result<Vec<TrustedKey>> {
        let dir = self.scope_dir(scope);
        let rd = match fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => Err(e).at(&dir)?,
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.at(&dir)?;
            let file = e.file_name().to_string_lossy().into_owned();
            if file.starts_with('.') {
                continue;
            }
            let path = e.path();
            let data = fs::read(&path).at(&path)?;
            let keys = parse_keyring(&data, &path.display().to_string())?;
            // The file name says which key is trusted; anything else in the file is not.
            match keys
                .into_iter()
                .find(|k| fingerprint_of(&k.primary_key) == file.to_ascii_lowercase())
            {
                Some(key) => out.push(TrustedKey {
                    scope: scope.clone(),
                    fingerprint: file.to_ascii_lowercase(),
                    path,
                    key,
                }),
                None => tracing::warn!(
                    "{}: the file does not hold the key its name gives; ignored",
                    path.display()
                ),
            }
        }
        out.sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
        Ok(out)
    }
}
