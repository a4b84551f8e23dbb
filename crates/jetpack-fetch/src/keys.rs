//! OpenPGP public keys: parsing key rings, and the semantics rPGP leaves to its users — which
//! self-signatures count, when a key or subkey expires, whether it is revoked, what it may do.
//!
//! A self-signature counts only if it verifies, is made by the primary key, and uses a strong
//! hash; the newest one that counts gives a component's expiry and key flags (as in GnuPG and
//! Sequoia). Revocations count only if made by the primary key itself.

use pgp::composed::{Deserializable, SignedPublicKey, SignedPublicSubKey};
use pgp::crypto::hash::HashAlgorithm;
use pgp::crypto::public_key::PublicKeyAlgorithm;
use pgp::packet::{KeyFlags, RevocationCode, Signature, SignatureType};
use pgp::ser::Serialize;
use pgp::types::{EcdsaPublicParams, KeyDetails, PublicParams, Tag};

use crate::error::{Error, Result};

/// Parses public keys, armored (one or several blocks, each with one or more keys) or binary.
pub fn parse_keyring(data: &[u8], what: &str) -> Result<Vec<SignedPublicKey>> {
    let bad = |msg: String| Error::Key {
        what: what.to_string(),
        msg,
    };
    let mut keys = Vec::new();
    let text = String::from_utf8_lossy(data);
    if text.contains("-----BEGIN PGP ") {
        // rPGP reads only the first armored block of a stream, so split the blocks here.
        for block in armored_blocks(&text) {
            if !block.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----") {
                let kind = block.lines().next().unwrap_or_default();
                return Err(bad(format!("expected a public key block, found {kind}")));
            }
            let (it, _) = SignedPublicKey::from_armor_many(block.as_bytes())
                .map_err(|e| bad(e.to_string()))?;
            for k in it {
                keys.push(k.map_err(|e| bad(e.to_string()))?);
            }
        }
    } else {
        let it = SignedPublicKey::from_bytes_many(data).map_err(|e| bad(e.to_string()))?;
        for k in it {
            keys.push(k.map_err(|e| bad(e.to_string()))?);
        }
    }
    if keys.is_empty() {
        return Err(bad("no public key found".into()));
    }
    Ok(keys)
}

fn armored_blocks(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN PGP ") {
        let from = &rest[start..];
        let Some(end_marker) = from.find("-----END PGP ") else {
            out.push(from);
            break;
        };
        let end = from[end_marker..]
            .find('\n')
            .map(|i| end_marker + i + 1)
            .unwrap_or(from.len());
        out.push(&from[..end]);
        rest = &from[end..];
    }
    out
}

/// Lower-case hex, the form used in file names and messages.
pub fn fingerprint_of(key: &impl KeyDetails) -> String {
    format!("{:x}", key.fingerprint())
}

/// MD5, SHA-1 and RIPEMD-160 are refused: collisions are practical or near enough.
pub fn weak_hash(h: HashAlgorithm) -> bool {
    matches!(
        h,
        HashAlgorithm::None | HashAlgorithm::Md5 | HashAlgorithm::Sha1 | HashAlgorithm::Ripemd160
    )
}

/// The algorithm and size of a key, e.g. `rsa3072`, `ed25519`, `ecdsa-p256`.
pub fn algorithm_name(key: &impl KeyDetails) -> String {
    match key.public_params() {
        PublicParams::RSA(_) => format!("rsa{}", leading_mpi_bits(key).unwrap_or(0)),
        PublicParams::DSA(_) => format!("dsa{}", leading_mpi_bits(key).unwrap_or(0)),
        PublicParams::ECDSA(p) => match p {
            EcdsaPublicParams::P256 { .. } => "ecdsa-p256".into(),
            EcdsaPublicParams::P384 { .. } => "ecdsa-p384".into(),
            EcdsaPublicParams::P521 { .. } => "ecdsa-p521".into(),
            EcdsaPublicParams::Secp256k1 { .. } => "ecdsa-secp256k1".into(),
            _ => "ecdsa".into(),
        },
        PublicParams::EdDSALegacy(_) | PublicParams::Ed25519(_) => "ed25519".into(),
        PublicParams::Ed448(_) => "ed448".into(),
        _ => format!("{:?}", key.algorithm()).to_ascii_lowercase(),
    }
}

/// Why a key cannot make signatures we accept, if it cannot.
pub fn weak_key(key: &impl KeyDetails) -> Option<String> {
    match key.algorithm() {
        PublicKeyAlgorithm::RSA | PublicKeyAlgorithm::RSASign | PublicKeyAlgorithm::DSA => {
            match leading_mpi_bits(key) {
                Some(bits) if bits >= 2048 => None,
                bits => Some(format!(
                    "{} bits are too few (at least 2048 are required)",
                    bits.unwrap_or(0)
                )),
            }
        }
        PublicKeyAlgorithm::ECDSA
        | PublicKeyAlgorithm::EdDSALegacy
        | PublicKeyAlgorithm::Ed25519
        | PublicKeyAlgorithm::Ed448 => None,
        other => Some(format!("{other:?} is not a signature algorithm")),
    }
}

/// Bits of the first MPI of the public parameters: the RSA modulus or the DSA prime.
fn leading_mpi_bits(key: &impl KeyDetails) -> Option<u32> {
    let bytes = key.public_params().to_bytes().ok()?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]) as u32)
}

/// A revocation that counts.
#[derive(Debug, Clone)]
pub struct Revocation {
    pub at: i64,
    /// Hard revocations (compromised, or no reason given) void every signature; soft ones
    /// (superseded, retired) only those made after them.
    pub hard: bool,
    pub reason: String,
}

/// A primary key or subkey as its self-signatures describe it.
#[derive(Debug, Clone)]
pub struct Component {
    pub fingerprint: String,
    pub created: i64,
    /// Whether some self-signature (binding) counts; without one nothing else here holds.
    pub bound: bool,
    pub expires: Option<i64>,
    /// `None` when the binding has no key-flags subpacket.
    pub flags: Option<KeyFlags>,
    /// For subkeys with the signing flag: whether the subkey's back-signature verifies.
    pub cross_signed: bool,
    pub revoked: Option<Revocation>,
}

impl Component {
    pub fn can_sign(&self) -> bool {
        self.flags.as_ref().is_none_or(|f| f.sign())
    }

    pub fn expired_at(&self, t: i64) -> bool {
        self.expires.is_some_and(|e| e <= t)
    }
}

fn ts(sig: &Signature) -> i64 {
    sig.created().map(|t| t.as_secs() as i64).unwrap_or(0)
}

fn strong(sig: &Signature) -> bool {
    sig.hash_alg().is_some_and(|h| !weak_hash(h))
}

fn by_primary(sig: &Signature, key: &SignedPublicKey) -> bool {
    let fp = key.primary_key.fingerprint();
    let id = key.primary_key.legacy_key_id();
    let fps = sig.issuer_fingerprint();
    let ids = sig.issuer_key_id();
    (fps.is_empty() && ids.is_empty())
        || fps.iter().any(|f| **f == fp)
        || ids.iter().any(|i| **i == id)
}

fn has_flags(sig: &Signature) -> bool {
    sig.config().is_some_and(|c| {
        c.hashed_subpackets()
            .any(|p| matches!(p.data, pgp::packet::SubpacketData::KeyFlags(_)))
    })
}

fn expiry(created: i64, sig: &Signature) -> Option<i64> {
    sig.key_expiration_time()
        .map(|d| d.as_secs() as i64)
        .filter(|d| *d > 0)
        .map(|d| created + d)
}

fn revocation(sig: &Signature) -> Revocation {
    let code = sig.revocation_reason_code();
    let soft = matches!(
        code,
        Some(RevocationCode::KeySuperseded | RevocationCode::KeyRetired)
    );
    let mut reason = match code {
        Some(c) => format!("{c:?}"),
        None => "no reason given".into(),
    };
    if let Some(text) = sig.revocation_reason_string().filter(|t| !t.is_empty()) {
        reason.push_str(&format!(": {}", String::from_utf8_lossy(text)));
    }
    Revocation {
        at: ts(sig),
        hard: !soft,
        reason,
    }
}

/// The primary key's state.
pub fn primary(key: &SignedPublicKey) -> Component {
    let pk = &key.primary_key;
    let created = pk.created_at().as_secs() as i64;
    let certs = key.details.users.iter().flat_map(|u| {
        u.signatures.iter().filter(move |s| {
            s.is_certification()
                && by_primary(s, key)
                && strong(s)
                && s.verify_certification(pk, Tag::UserId, &u.id).is_ok()
        })
    });
    let direct = key.details.direct_signatures.iter().filter(|s| {
        s.typ() == Some(SignatureType::Key)
            && by_primary(s, key)
            && strong(s)
            && s.verify_key(pk).is_ok()
    });
    let newest = certs.chain(direct).max_by_key(|s| ts(s));
    let revoked = key
        .details
        .revocation_signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::KeyRevocation)
                && by_primary(s, key)
                && strong(s)
                && s.verify_key(pk).is_ok()
        })
        .map(revocation)
        .min_by_key(|r| (!r.hard, r.at));
    Component {
        fingerprint: fingerprint_of(pk),
        created,
        bound: newest.is_some(),
        expires: newest.and_then(|s| expiry(created, s)),
        flags: newest.filter(|s| has_flags(s)).map(|s| s.key_flags()),
        cross_signed: true,
        revoked,
    }
}

/// A subkey's state, per its newest valid binding signature.
pub fn subkey(key: &SignedPublicKey, sub: &SignedPublicSubKey) -> Component {
    let pk = &key.primary_key;
    let created = sub.key.created_at().as_secs() as i64;
    let newest = sub
        .signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::SubkeyBinding)
                && by_primary(s, key)
                && strong(s)
                && s.verify_subkey_binding(pk, &sub.key).is_ok()
        })
        .max_by_key(|s| ts(s));
    let revoked = sub
        .signatures
        .iter()
        .filter(|s| {
            s.typ() == Some(SignatureType::SubkeyRevocation)
                && by_primary(s, key)
                && strong(s)
                && s.verify_subkey_binding(pk, &sub.key).is_ok()
        })
        .map(revocation)
        .min_by_key(|r| (!r.hard, r.at));
    // A signing subkey must sign the primary back, or anyone could bind someone else's
    // signing key to their certificate.
    let cross_signed = newest.is_some_and(|s| {
        s.embedded_signature()
            .is_some_and(|b| strong(b) && b.verify_primary_key_binding(&sub.key, pk).is_ok())
    });
    Component {
        fingerprint: fingerprint_of(&sub.key),
        created,
        bound: newest.is_some(),
        expires: newest.and_then(|s| expiry(created, s)),
        // A subkey binding without flags grants nothing.
        flags: Some(newest.map(|s| s.key_flags()).unwrap_or_default()),
        cross_signed,
        revoked,
    }
}

/// What `trust list` and the trust prompt show about a key.
#[derive(Debug, Clone, serde::Serialize)]
pub struct KeyInfo {
    pub fingerprint: String,
    pub user_ids: Vec<String>,
    pub algorithm: String,
    pub created: i64,
    pub expires: Option<i64>,
    /// Why the key cannot be used now (revoked, expired, no valid self-signature), if so.
    pub problem: Option<String>,
    /// Fingerprints of subkeys that may sign.
    pub signing_subkeys: Vec<String>,
}

impl KeyInfo {
    pub fn of(key: &SignedPublicKey, now: i64) -> KeyInfo {
        let p = primary(key);
        let problem = if !p.bound {
            Some("no valid self-signature".to_string())
        } else if let Some(r) = &p.revoked {
            Some(format!("revoked ({})", r.reason))
        } else if p.expired_at(now) {
            Some("expired".to_string())
        } else {
            weak_key(&key.primary_key)
        };
        KeyInfo {
            fingerprint: p.fingerprint.clone(),
            user_ids: key
                .details
                .users
                .iter()
                .map(|u| String::from_utf8_lossy(u.id.id()).into_owned())
                .collect(),
            algorithm: algorithm_name(&key.primary_key),
            created: p.created,
            expires: p.expires,
            problem,
            signing_subkeys: key
                .public_subkeys
                .iter()
                .map(|s| (s, subkey(key, s)))
                .filter(|(_, c)| {
                    c.bound && c.can_sign() && c.revoked.is_none() && !c.expired_at(now)
                })
                .map(|(_, c)| c.fingerprint)
                .collect(),
        }
    }
}
