//! Detached signature checks with OpenPGP semantics: the signer must be a key trusted for the
//! image's name (or a root key), bound and valid when it signed and now, not revoked, allowed to
//! sign, of a strong algorithm and size; the signature must be over binary data with a strong
//! hash and must verify over the exact bytes of the file.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, VerifyingKey};

use crate::keys::{self, Component, fingerprint_of, weak_hash, weak_key};
use crate::trust::TrustedKey;

/// Tolerated clock skew for signatures dated in the future.
const SKEW: i64 = 300;

pub use crate::error::VerifyError;

/// Who signed, once a signature is accepted.
#[derive(Debug, Clone)]
pub struct Signer {
    /// The primary key's fingerprint (what the trust store and the image index record).
    pub fingerprint: String,
    /// The key that made the signature (a subkey or the primary).
    pub signing_key: String,
    /// The trust store scope that vouched for it: `root` or a prefix.
    pub scope: String,
    pub user_id: Option<String>,
    pub signed_at: i64,
}

/// Verifies the detached signature `sig` (armored or binary) of the file `data` for image
/// `name`. `trusted` are the keys trusted for `name`; `all` every key in the store (to say
/// when the signer is trusted for another prefix).
pub fn verify(
    sig: &[u8],
    sig_what: &str,
    data: &Path,
    name: &str,
    trusted: &[TrustedKey],
    all: &[TrustedKey],
    now: i64,
) -> Result<Signer, VerifyError> {
    let malformed = |msg: String| VerifyError::Malformed {
        what: sig_what.to_string(),
        msg,
    };
    let (sigs, _) =
        DetachedSignature::from_reader_many(sig).map_err(|e| malformed(e.to_string()))?;
    let sigs: Vec<DetachedSignature> = sigs
        .collect::<Result<_, _>>()
        .map_err(|e| malformed(e.to_string()))?;
    if sigs.is_empty() {
        return Err(malformed("no signature packet".into()));
    }
    let mut errors = Vec::new();
    for s in &sigs {
        match check_one(&s.signature, data, name, trusted, all, now) {
            Ok(signer) => return Ok(signer),
            Err(e) => errors.push(e),
        }
    }
    // A problem with a trusted key says more than "not trusted" about another signature.
    let pos = errors
        .iter()
        .position(|e| !matches!(e, VerifyError::Untrusted { .. }))
        .unwrap_or(0);
    Err(errors.swap_remove(pos))
}

fn issued_by(sig: &Signature, k: &impl KeyDetails) -> bool {
    let fps = sig.issuer_fingerprint();
    if !fps.is_empty() {
        return fps.iter().any(|f| **f == k.fingerprint());
    }
    sig.issuer_key_id().iter().any(|i| **i == k.legacy_key_id())
}

/// The trusted key and, if a subkey signed, which one.
fn find<'a>(sig: &Signature, keys: &'a [TrustedKey]) -> Option<(&'a TrustedKey, Option<usize>)> {
    keys.iter().find_map(|t| {
        if issued_by(sig, &t.key.primary_key) {
            return Some((t, None));
        }
        t.key
            .public_subkeys
            .iter()
            .position(|s| issued_by(sig, &s.key))
            .map(|i| (t, Some(i)))
    })
}

fn check_one(
    sig: &Signature,
    data: &Path,
    name: &str,
    trusted: &[TrustedKey],
    all: &[TrustedKey],
    now: i64,
) -> Result<Signer, VerifyError> {
    let issuer = match (
        sig.issuer_fingerprint().first(),
        sig.issuer_key_id().first(),
    ) {
        (Some(f), _) => format!("{f:x}"),
        (None, Some(id)) => format!(
            "with key ID {}",
            id.as_ref()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        ),
        (None, None) => "(no issuer given)".to_string(),
    };
    let unusable = |why: String| VerifyError::Unusable {
        fingerprint: issuer.clone(),
        why,
    };
    if sig.typ() != Some(SignatureType::Binary) {
        return Err(unusable(format!(
            "the signature is of type {:?}; a detached signature of binary data \
             (gpg --detach-sign) is required",
            sig.typ()
        )));
    }
    match sig.hash_alg() {
        Some(h) if weak_hash(h) => return Err(VerifyError::WeakHash { alg: h.to_string() }),
        None => return Err(unusable("the signature names no hash algorithm".into())),
        _ => {}
    }
    let Some(signed_at) = sig.created().map(|t| t.as_secs() as i64) else {
        return Err(unusable("the signature has no creation time".into()));
    };
    let Some((tk, sub)) = find(sig, trusted) else {
        let scopes: Vec<String> = all
            .iter()
            .filter(|t| find(sig, std::slice::from_ref(*t)).is_some())
            .map(|t| t.scope.to_string())
            .collect();
        let elsewhere = if scopes.is_empty() {
            String::new()
        } else {
            format!(" (it is trusted only for {})", scopes.join(", "))
        };
        return Err(VerifyError::Untrusted {
            name: name.to_string(),
            signer: issuer,
            elsewhere,
        });
    };
    let key: &SignedPublicKey = &tk.key;
    let primary = keys::primary(key);
    usable(&primary, &key.primary_key, "", signed_at, now)?;
    let signing = match sub {
        None => {
            if !primary.can_sign() {
                return Err(VerifyError::NotSigning {
                    fingerprint: primary.fingerprint.clone(),
                    what: String::new(),
                });
            }
            None
        }
        Some(i) => {
            let s = &key.public_subkeys[i];
            let c = keys::subkey(key, s);
            let what = format!(" (subkey {})", c.fingerprint);
            if !c.bound {
                return Err(unusable(format!(
                    "subkey {} is not bound to key {} by a valid signature",
                    c.fingerprint, primary.fingerprint
                )));
            }
            if !c.can_sign() {
                return Err(VerifyError::NotSigning {
                    fingerprint: primary.fingerprint.clone(),
                    what,
                });
            }
            if !c.cross_signed {
                return Err(unusable(format!(
                    "signing subkey {} has no valid back-signature (cross-certification)",
                    c.fingerprint
                )));
            }
            usable(&c, &s.key, &what, signed_at, now).map_err(|e| match e {
                VerifyError::Unusable { why, .. } => VerifyError::Unusable {
                    fingerprint: primary.fingerprint.clone(),
                    why: format!("subkey {}: {why}", c.fingerprint),
                },
                VerifyError::Expired { when, .. } => VerifyError::Expired {
                    fingerprint: primary.fingerprint.clone(),
                    what: what.clone(),
                    when,
                },
                VerifyError::Revoked { when, reason, .. } => VerifyError::Revoked {
                    fingerprint: primary.fingerprint.clone(),
                    what: what.clone(),
                    when,
                    reason,
                },
                other => other,
            })?;
            Some(i)
        }
    };
    if let Some(exp) = sig.signature_expiration_time().map(|d| d.as_secs() as i64)
        && exp > 0
        && signed_at + exp <= now
    {
        return Err(unusable(format!(
            "the signature expired on {}",
            date(signed_at + exp)
        )));
    }
    if signed_at > now + SKEW {
        return Err(unusable(format!(
            "the signature is dated {}, in the future; check the clock",
            date(signed_at)
        )));
    }
    let open = || File::open(data).map(BufReader::new);
    let file = open().map_err(|e| unusable(format!("{}: {e}", data.display())))?;
    let (result, signing_key) = match signing {
        None => (
            sig.verify(&key.primary_key, file),
            primary.fingerprint.clone(),
        ),
        Some(i) => {
            let s = &key.public_subkeys[i].key;
            (sig.verify(s, file), fingerprint_of(s))
        }
    };
    result.map_err(|e| {
        // rPGP's reason is an internal assertion; it only helps when debugging.
        tracing::debug!("signature check of {name} failed: {e}");
        VerifyError::BadSignature {
            name: name.to_string(),
            fingerprint: primary.fingerprint.clone(),
        }
    })?;
    Ok(Signer {
        fingerprint: primary.fingerprint,
        signing_key,
        scope: tk.scope.to_string(),
        user_id: key
            .details
            .users
            .first()
            .map(|u| String::from_utf8_lossy(u.id.id()).into_owned()),
        signed_at,
    })
}

/// Checks a component at the signature's time and now.
fn usable(
    c: &Component,
    k: &impl VerifyingKey,
    what: &str,
    signed_at: i64,
    now: i64,
) -> Result<(), VerifyError> {
    if !c.bound {
        return Err(VerifyError::Unusable {
            fingerprint: c.fingerprint.clone(),
            why: "the key has no valid self-signature (or only ones with weak hashes)".into(),
        });
    }
    if let Some(r) = &c.revoked
        && (r.hard || r.at <= signed_at)
    {
        return Err(VerifyError::Revoked {
            fingerprint: c.fingerprint.clone(),
            what: what.to_string(),
            when: date(r.at),
            reason: r.reason.clone(),
        });
    }
    if c.created > signed_at {
        return Err(VerifyError::Unusable {
            fingerprint: c.fingerprint.clone(),
            why: format!(
                "the signature ({}) is older than the key ({})",
                date(signed_at),
                date(c.created)
            ),
        });
    }
    if let Some(exp) = c.expires
        && (c.expired_at(signed_at) || c.expired_at(now))
    {
        return Err(VerifyError::Expired {
            fingerprint: c.fingerprint.clone(),
            what: what.to_string(),
            when: date(exp),
        });
    }
    if let Some(why) = weak_key(k) {
        return Err(VerifyError::WeakKey {
            fingerprint: c.fingerprint.clone(),
            why,
        });
    }
    Ok(())
}

/// RFC 3339 in UTC, e.g. `2020-01-02T00:00:00Z`.
pub fn date(t: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .and_then(|d| {
            d.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| t.to_string())
}
