//! The host key: 64 random bytes, the HMAC-SHA512 key of `/pod/hmac/*`.
//!
//! The key must outlive the service (signatures are checked across pods and
//! restarts), so it lives in a file created once by `jetpack init`.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use jetpack_fs::AtomicWrite;
use sha2::Sha512;

use crate::error::{Error, IoContext, Result};

pub const KEY_LEN: usize = 64;

/// The service's HMAC key. `Debug` does not show it.
#[derive(Clone)]
pub struct HostKey([u8; KEY_LEN]);

impl fmt::Debug for HostKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HostKey(..)")
    }
}

fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::io("system random generator", std::io::Error::other(e)))
}

/// A fresh pod token: 32 random bytes (256 bits) as 64 lowercase hex digits.
/// Never derived from the pod UUID, which other pods may know (spec §10.1).
pub fn new_token() -> String {
    let mut b = [0u8; 32];
    random(&mut b).expect("the system random generator failed");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Creates the host key at `path` unless a valid one exists. Returns whether
/// it was created. A file of the wrong length is an error, never replaced:
/// replacing it would invalidate every signature handed out.
pub fn ensure_host_key(path: &Path) -> Result<bool> {
    match check_existing(path) {
        Ok(()) => return Ok(false),
        Err(Error::KeyMissing { .. }) => {}
        Err(e) => return Err(e),
    }
    let mut key = [0u8; KEY_LEN];
    random(&mut key)?;
    // Exactly 0600 whatever the umask; a hard link never replaces: if a concurrent `init`
    // won, use its key.
    match AtomicWrite::new(path).mode(0o600).no_replace().bytes(&key) {
        Err(e) if e.source.kind() == ErrorKind::AlreadyExists => {
            check_existing(path).map(|()| false)
        }
        Err(e) => Err(Error::io(
            format!("creating host key {}", path.display()),
            e.source,
        )),
        Ok(()) => Ok(true),
    }
}

fn check_existing(path: &Path) -> Result<()> {
    match fs::metadata(path) {
        Ok(m) if m.len() == KEY_LEN as u64 => Ok(()),
        Ok(m) => Err(Error::BadKey {
            path: path.to_owned(),
            len: m.len(),
            expected: KEY_LEN,
        }),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(Error::KeyMissing {
            path: path.to_owned(),
        }),
        Err(e) => Err(Error::io(format!("host key {}", path.display()), e)),
    }
}

/// Reads the host key created by [`ensure_host_key`].
pub fn load_host_key(path: &Path) -> Result<HostKey> {
    let bytes = fs::read(path).map_err(|e| match e.kind() {
        ErrorKind::NotFound => Error::KeyMissing {
            path: path.to_owned(),
        },
        _ => Error::io(format!("reading host key {}", path.display()), e),
    })?;
    let key: [u8; KEY_LEN] = bytes.as_slice().try_into().map_err(|_| Error::BadKey {
        path: path.to_owned(),
        len: bytes.len() as u64,
        expected: KEY_LEN,
    })?;
    let mode = fs::metadata(path)
        .doing(|| format!("host key {}", path.display()))?
        .mode();
    if mode & 0o077 != 0 {
        tracing::warn!(
            "host key {} is accessible to other users (mode {:o}); it should be 0600",
            path.display(),
            mode & 0o777
        );
    }
    Ok(HostKey(key))
}

impl HostKey {
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    fn mac(&self, uuid: &[u8; 16], content: &[u8]) -> Hmac<Sha512> {
        let mut m = Hmac::<Sha512>::new_from_slice(&self.0).expect("HMAC takes any key length");
        m.update(uuid);
        m.update(content);
        m
    }

    /// Base64 (standard, padded) of HMAC-SHA512(key, uuid || content), the
    /// rkt and Jetpack recipe (digest §10.3).
    pub fn sign(&self, uuid: &[u8; 16], content: &[u8]) -> String {
        STANDARD.encode(self.mac(uuid, content).finalize().into_bytes())
    }

    /// Whether `sig_b64` is the signature of `content` by pod `uuid`;
    /// compared in constant time.
    pub fn verify(&self, uuid: &[u8; 16], content: &[u8], sig_b64: &str) -> bool {
        STANDARD
            .decode(sig_b64)
            .is_ok_and(|sig| self.verify_raw(uuid, content, &sig))
    }

    pub(crate) fn verify_raw(&self, uuid: &[u8; 16], content: &[u8], sig: &[u8]) -> bool {
        self.mac(uuid, content).verify_slice(sig).is_ok()
    }
}
