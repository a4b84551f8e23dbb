//! The signature policy against keys and signatures made by real GnuPG, each verdict compared
//! with `gpgv`'s. Where the two differ on purpose (SHA-1, short RSA keys, expired or revoked
//! keys, which gpgv only notes), the test says so.

use std::path::{Path, PathBuf};

use jetpack_fetch::trust::{Scope, TrustStore};
use jetpack_fetch::verify::{VerifyError, verify};
use jetpack_fetch::{Signer, parse_keyring};
use jetpack_testutil::Gpg;

struct Case {
    gpg: Gpg,
    dir: tempfile::TempDir,
    trust: TrustStore,
    data: PathBuf,
}

impl Case {
    fn new() -> Case {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("image.aci");
        std::fs::write(
            &data,
            jetpack_testutil::simple_aci("example.test/app", &[], "", "hello"),
        )
        .unwrap();
        Case {
            gpg: Gpg::new(),
            trust: TrustStore::new(dir.path().join("trust")),
            dir,
            data,
        }
    }

    fn trust(&self, scope: &str, fpr: &str) {
        let scope = match scope {
            "root" => Scope::Root,
            p => Scope::prefix(p).unwrap(),
        };
        let keys = parse_keyring(&self.gpg.export(fpr), "test").unwrap();
        self.trust.add(&scope, &keys[0]).unwrap();
    }

    fn sign(&self, signer: &str, extra: &[&str]) -> PathBuf {
        self.gpg.sign(signer, &self.data, extra)
    }

    fn check(&self, name: &str, sig: &Path) -> Result<Signer, VerifyError> {
        let bytes = std::fs::read(sig).unwrap();
        verify(
            &bytes,
            "image.aci.asc",
            &self.data,
            name,
            &self.trust.keys_for(name).unwrap(),
            &self.trust.list().unwrap(),
            now(),
        )
    }

    /// gpgv's verdict with the key of `fpr` as the only key.
    fn gpgv(&self, fpr: &str, sig: &Path) -> bool {
        self.gpg
            .gpgv_accepts(&self.gpg.export(fpr), sig, &self.data)
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn rsa_and_ed25519_keys_and_signing_subkeys() {
    let c = Case::new();
    let rsa = c
        .gpg
        .key("RSA <rsa@example.test>", "rsa2048", "sign", "never", None);
    c.trust("example.test", &rsa);
    let sig = c.sign(&rsa, &[]);
    let s = c.check("example.test/app", &sig).unwrap();
    assert_eq!(s.fingerprint, rsa);
    assert_eq!(s.signing_key, rsa);
    assert_eq!(s.user_id.as_deref(), Some("RSA <rsa@example.test>"));
    assert!(c.gpgv(&rsa, &sig));

    let ed = c
        .gpg
        .key("Ed <ed@example.test>", "ed25519", "cert", "never", None);
    let sub = c.gpg.subkey(&ed, "ed25519", "sign");
    c.trust("example.test/app", &ed);
    let sig = c.dir.path().join("ed.asc");
    c.gpg.sign_to(&sub, &c.data, &sig, &[]);
    let s = c.check("example.test/app", &sig).unwrap();
    assert_eq!(
        (s.fingerprint.as_str(), s.signing_key.as_str()),
        (ed.as_str(), sub.as_str())
    );
    assert_eq!(s.scope, "prefix example.test/app");
    assert!(c.gpgv(&ed, &sig));

    // Binary (unarmored) signatures are accepted too, as rkt did.
    let bin = c.dir.path().join("ed.sig");
    c.gpg.run(&[
        "--dearmor",
        "-o",
        bin.to_str().unwrap(),
        sig.to_str().unwrap(),
    ]);
    c.check("example.test/app", &bin).unwrap();
}

#[test]
fn tampered_file_and_foreign_signature() {
    let c = Case::new();
    let k = c
        .gpg
        .key("K <k@example.test>", "ed25519", "sign", "never", None);
    c.trust("example.test/app", &k);
    let sig = c.sign(&k, &[]);
    let mut bytes = std::fs::read(&c.data).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 1;
    std::fs::write(&c.data, &bytes).unwrap();
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    assert!(e.to_string().starts_with("bad signature"), "{e}");
    assert!(!c.gpgv(&k, &sig));

    // A signature of another file.
    let other = c.dir.path().join("other");
    std::fs::write(&other, b"other").unwrap();
    let other_sig = c.gpg.sign(&k, &other, &[]);
    let e = c.check("example.test/app", &other_sig).unwrap_err();
    assert!(matches!(e, VerifyError::BadSignature { .. }), "{e}");
    assert!(!c.gpgv(&k, &other_sig));

    let garbage = c.dir.path().join("garbage.asc");
    std::fs::write(
        &garbage,
        "-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n",
    )
    .unwrap();
    let e = c.check("example.test/app", &garbage).unwrap_err();
    assert!(matches!(e, VerifyError::Malformed { .. }), "{e}");
}

#[test]
fn untrusted_keys_and_prefixes() {
    let c = Case::new();
    let trusted = c
        .gpg
        .key("T <t@example.test>", "ed25519", "sign", "never", None);
    let stranger = c
        .gpg
        .key("S <s@example.test>", "ed25519", "sign", "never", None);
    c.trust("example.test/app", &trusted);
    let sig = c.sign(&stranger, &[]);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::Untrusted { .. }), "{e}");
    let msg = e.to_string();
    assert!(
        msg.contains(&stranger),
        "names the signer's fingerprint: {msg}"
    );
    assert!(
        msg.contains("jetpack trust --prefix example.test/app"),
        "{msg}"
    );
    assert!(
        !c.gpgv(&trusted, &sig),
        "gpgv with only the trusted key refuses too"
    );

    // Trusted, but for another prefix.
    c.trust("example.test/other", &stranger);
    let e = c.check("example.test/app", &sig).unwrap_err().to_string();
    assert!(
        e.contains("trusted only for prefix example.test/other"),
        "{e}"
    );

    // Prefixes cover whole path components only.
    let own = c.dir.path().join("own.asc");
    c.gpg.sign_to(&trusted, &c.data, &own, &[]);
    c.check("example.test/app/sub", &own).unwrap();
    assert!(c.check("example.test/application", &own).is_err());
    assert!(c.check("example.test", &own).is_err());

    // A root key signs anything.
    c.trust("root", &stranger);
    assert_eq!(
        c.check("example.test/app", &sig).unwrap().scope,
        "root (every image)"
    );
}

#[test]
fn expired_key() {
    let c = Case::new();
    let k = c.gpg.key(
        "Old <old@example.test>",
        "ed25519",
        "sign",
        "1d",
        Some("20200101T000000"),
    );
    c.trust("example.test", &k);
    // Made while the key was valid; the key has expired since.
    let sig = c.sign(&k, &["--faked-system-time", "20200101T010000"]);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::Expired { .. }), "{e}");
    assert!(e.to_string().contains("expired on 2020-01-02"), "{e}");
    // gpgv reports EXPKEYSIG rather than GOODSIG for it.
    assert!(!c.gpgv(&k, &sig));
}

#[test]
fn revoked_key() {
    let c = Case::new();
    let k = c
        .gpg
        .key("Rev <rev@example.test>", "ed25519", "sign", "never", None);
    let sig = c.sign(&k, &[]);
    c.trust("example.test", &k);
    c.check("example.test/app", &sig).unwrap();
    // The revocation arrives with a refreshed copy of the key.
    c.gpg.revoke(&k);
    c.trust("example.test", &k);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::Revoked { .. }), "{e}");
    assert!(!c.gpgv(&k, &sig), "gpgv reports REVKEYSIG");
}

#[test]
fn subkey_without_signing_flag() {
    let c = Case::new();
    let k = c
        .gpg
        .key("Sub <sub@example.test>", "ed25519", "cert", "never", None);
    let sub = c.gpg.subkey(&k, "ed25519", "sign");
    let sig = c.dir.path().join("sub.asc");
    c.gpg.sign_to(&sub, &c.data, &sig, &[]);
    c.gpg.make_subkey_auth_only(&k, 1);
    c.trust("example.test", &k);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::NotSigning { .. }), "{e}");
    assert!(e.to_string().contains(&sub), "names the subkey: {e}");
    assert!(!c.gpgv(&k, &sig), "gpgv: wrong key usage");
}

#[test]
fn weak_hash_and_short_rsa_key() {
    let c = Case::new();
    let k = c
        .gpg
        .key("Sha <sha@example.test>", "rsa2048", "sign", "never", None);
    c.trust("example.test", &k);
    let sig = c.sign(&k, &["--digest-algo", "SHA1"]);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::WeakHash { .. }), "{e}");
    assert!(e.to_string().contains("SHA1"), "{e}");
    assert!(
        c.gpgv(&k, &sig),
        "gpgv 2.2 still accepts SHA-1 data signatures; we do not"
    );

    let short = c.gpg.key(
        "Short <short@example.test>",
        "rsa1024",
        "sign",
        "never",
        None,
    );
    c.trust("example.test", &short);
    let sig = c.sign(&short, &[]);
    let e = c.check("example.test/app", &sig).unwrap_err();
    assert!(matches!(e, VerifyError::WeakKey { .. }), "{e}");
    assert!(e.to_string().contains("1024 bits"), "{e}");
    assert!(c.gpgv(&short, &sig), "gpgv accepts 1024-bit RSA; we do not");
}

#[test]
fn keyrings_and_store_layout() {
    let c = Case::new();
    let a = c
        .gpg
        .key("A <a@example.test>", "ed25519", "sign", "never", None);
    let b = c
        .gpg
        .key("B <b@example.test>", "ed25519", "sign", "never", None);
    // Two armored blocks in one file, as `cat a.asc b.asc` makes.
    let mut two = c.gpg.export(&a);
    two.extend(c.gpg.export(&b));
    let keys = parse_keyring(&two, "two").unwrap();
    assert_eq!(keys.len(), 2);
    // One armored block with both keys, as `gpg --export A B` makes.
    let both = c.gpg.run(&["--armor", "--export", &a, &b]);
    assert_eq!(parse_keyring(both.as_bytes(), "both").unwrap().len(), 2);
    assert!(parse_keyring(b"not a key", "junk").is_err());

    c.trust("example.test/app", &a);
    c.trust("root", &b);
    let root = c.dir.path().join("trust");
    assert!(root.join("prefix.d/example.test,app").join(&a).is_file());
    assert!(root.join("root.d").join(&b).is_file());
    assert_eq!(c.trust.list().unwrap().len(), 2);
    let removed = c.trust.remove(&a[a.len() - 16..], None).unwrap();
    assert_eq!(removed[0].fingerprint, a);
    assert!(
        !root.join("prefix.d/example.test,app").exists(),
        "empty prefix directory removed"
    );
    assert!(c.trust.remove(&a, None).is_err());
    assert!(c.trust.remove("abc", None).is_err());
}
