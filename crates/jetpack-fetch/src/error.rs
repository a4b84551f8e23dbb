use std::path::PathBuf;

/// Errors of discovery, downloads, the trust store and signature checks. Each says what failed
/// and, where it helps, what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A request failed: network, TLS, HTTP status, or a body that ended early.
    #[error("{url}: {msg}")]
    Http { url: String, msg: String },
    /// The server (or the file system, for `file://`) has nothing at this URL.
    #[error("{url}: {msg}")]
    NotFound { url: String, msg: String },
    /// The URL's scheme is refused by policy or not supported.
    #[error("{0}")]
    Refused(String),
    /// Meta discovery found nothing usable; `tried` lists each attempt and why it failed.
    #[error("discovery of {name} failed:\n{}", tried.iter().map(|t| format!("  {t}")).collect::<Vec<_>>().join("\n"))]
    Discovery { name: String, tried: Vec<String> },
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// The fetched image is not what was asked for (spec: the manifest must match the request).
    #[error("{0}")]
    Mismatch(String),
    #[error("{0}")]
    Trust(String),
    #[error("invalid OpenPGP key data in {what}: {msg}")]
    Key { what: String, msg: String },
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Store(#[from] jetpack_store::Error),
    /// A registry wants credentials, or refused the ones given.
    #[error("{0}")]
    Auth(String),
    #[error(transparent)]
    Oci(#[from] jetpack_oci::Error),
}

pub type Result<T> = std::result::Result<T, Error>;

pub(crate) use jetpack_fs::IoContext;

/// I/O errors keep their `path: error` message.
impl From<jetpack_fs::IoError> for Error {
    fn from(e: jetpack_fs::IoError) -> Self {
        let (path, source) = e.into_path();
        Error::Io { path, source }
    }
}

/// Why a signature was refused.
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("{what}: not a usable OpenPGP signature: {msg}")]
    Malformed { what: String, msg: String },
    #[error(
        "{name} is signed by key {signer}, which is not trusted for {name}{elsewhere}; if you \
         trust it, run `jetpack trust --prefix {name} KEYFILE` (or `jetpack trust --prefix {name}` \
         to discover the key)"
    )]
    Untrusted {
        name: String,
        signer: String,
        elsewhere: String,
    },
    #[error(
        "bad signature: the signature of {name} by key {fingerprint} does not match the image \
         (it was altered, or the signature belongs to another file)"
    )]
    BadSignature { name: String, fingerprint: String },
    #[error("key {fingerprint}{what} expired on {when}; the signer must renew it or re-sign")]
    Expired {
        fingerprint: String,
        what: String,
        when: String,
    },
    #[error("key {fingerprint}{what} was revoked on {when} ({reason})")]
    Revoked {
        fingerprint: String,
        what: String,
        when: String,
        reason: String,
    },
    #[error("key {fingerprint}{what} may not make signatures (its binding lacks the signing flag)")]
    NotSigning { fingerprint: String, what: String },
    #[error(
        "the signature uses {alg}, a hash that is no longer safe; re-sign with SHA-256 or better \
         (gpg --digest-algo SHA256)"
    )]
    WeakHash { alg: String },
    #[error("key {fingerprint} is too weak: {why}")]
    WeakKey { fingerprint: String, why: String },
    #[error("key {fingerprint}: {why}")]
    Unusable { fingerprint: String, why: String },
}
