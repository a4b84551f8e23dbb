//! Getting images from the network: appc meta discovery, HTTP(S) downloads, the trust store of
//! OpenPGP keys, and signature checks with OpenPGP semantics, ending in an import into the
//! image store.
//!
//! Nothing here runs unless an image is fetched: starting a pod never touches this crate.

#![forbid(unsafe_code)]

pub mod discovery;
pub mod error;
pub mod fetch;
pub mod http;
pub mod keys;
pub mod pubkeys;
pub mod registry;
pub mod request;
pub mod resolve;
pub mod trust;
pub mod verify;

use std::str::FromStr;

pub use error::{Error, Result};
pub use fetch::{FetchOptions, Fetched, Fetcher, How};
pub use http::{Client, HttpSettings};
pub use keys::{KeyInfo, parse_keyring};
pub use pubkeys::{discover_keys, load_keys};
pub use registry::{Credentials, Registry, Resolved, pull_to_layout};
pub use request::ImageRequest;
pub use resolve::{ResolveRule, parse_rules};
pub use trust::{Scope, TrustStore, TrustedKey};
pub use verify::{Signer, VerifyError};

/// Progress of one download (layers download in threads of their own).
pub trait Progress: Send {
    fn advance(&mut self, bytes: u64);
    fn finish(&mut self);
}

/// Where the fetcher reports what it does; the command line draws progress bars from it.
pub trait Reporter {
    /// A download starts; `total` is its size when the server announced it.
    fn download(&self, url: &str, total: Option<u64>) -> Box<dyn Progress>;
    /// A step worth telling (discovery result, signer, warnings).
    fn note(&self, _msg: &str) {}
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn advance(&mut self, _: u64) {}
    fn finish(&mut self) {}
}

impl Reporter for Silent {
    fn download(&self, _: &str, _: Option<u64>) -> Box<dyn Progress> {
        Box::new(Silent)
    }
}

/// What `--insecure-options` turns off (rkt's syntax: a comma list).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Insecure {
    /// Allow plain HTTP.
    pub http: bool,
    /// Skip TLS certificate checks.
    pub tls: bool,
    /// Accept unsigned images (no signature is fetched or checked).
    pub signature: bool,
}

impl FromStr for Insecure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Insecure> {
        let mut out = Insecure::default();
        for opt in s.split(',').map(str::trim).filter(|o| !o.is_empty()) {
            match opt {
                "none" => {}
                "http" => out.http = true,
                "tls" => out.tls = true,
                "signature" | "image" => out.signature = true,
                "all" | "all-fetch" => {
                    out = Insecure {
                        http: true,
                        tls: true,
                        signature: true,
                    }
                }
                other => {
                    return Err(Error::Invalid(format!(
                        "unknown insecure option {other:?}: use none, http, tls, signature or all"
                    )));
                }
            }
        }
        Ok(out)
    }
}

/// When to go to the network for an image that may already be stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Use a stored image if one matches; fetch only what is missing.
    #[default]
    New,
    /// Ask the server whether the image changed (ETag, Last-Modified) and fetch if it did.
    Update,
    /// Never use the network.
    Never,
}

impl FromStr for PullPolicy {
    type Err = Error;

    fn from_str(s: &str) -> Result<PullPolicy> {
        match s {
            "new" => Ok(PullPolicy::New),
            "update" => Ok(PullPolicy::Update),
            "never" => Ok(PullPolicy::Never),
            other => Err(Error::Invalid(format!(
                "unknown pull policy {other:?}: use new, update or never"
            ))),
        }
    }
}

pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insecure_options() {
        assert_eq!("none".parse::<Insecure>().unwrap(), Insecure::default());
        assert_eq!("".parse::<Insecure>().unwrap(), Insecure::default());
        let i: Insecure = "http,signature".parse().unwrap();
        assert!(i.http && i.signature && !i.tls);
        assert!("all".parse::<Insecure>().unwrap().tls);
        assert!("ondisk".parse::<Insecure>().is_err());
        assert_eq!("never".parse::<PullPolicy>().unwrap(), PullPolicy::Never);
        assert!("always".parse::<PullPolicy>().is_err());
    }
}
