//! OpenPGP key rings (`trust add`, discovered `ac-discovery-pubkeys`) and detached signatures
//! (`.aci.asc`), armored or binary. The input is a key ring and a signature: two bytes (little
//! endian) give the key ring's length, the rest is the signature; shorter inputs, or a length
//! beyond the end, make the whole input both. Keys that parse are described as `trust list`
//! does and trusted to verify the signature of a fixed file, as a fetch does.
#![no_main]

use std::sync::LazyLock;

use jetpack_fetch::trust::{Scope, TrustedKey};
use jetpack_fetch::verify::verify;
use jetpack_fetch::{KeyInfo, parse_keyring};
use libfuzzer_sys::fuzz_target;

/// What the seed signatures sign (`fuzz/corpus/pgp_keys/README.md`).
const SIGNED: &[u8] = b"jetpack fuzz data\n";
/// A fixed "now" so that expiry is judged the same in every run: 2026-01-01.
const NOW: i64 = 1_767_225_600;

static DATA: LazyLock<std::path::PathBuf> = LazyLock::new(|| {
    let dir = jetpack_fuzz::scratch_dir();
    let path = dir.join("data");
    std::fs::write(&path, SIGNED).expect("signed data file");
    path
});

fuzz_target!(|data: &[u8]| {
    let (keyring, sig) = match data {
        [a, b, rest @ ..] if usize::from(u16::from_le_bytes([*a, *b])) <= rest.len() => {
            rest.split_at(usize::from(u16::from_le_bytes([*a, *b])))
        }
        _ => (data, data),
    };
    let keys = parse_keyring(keyring, "fuzz").unwrap_or_default();
    let trusted: Vec<TrustedKey> = keys
        .into_iter()
        .map(|key| {
            let info = KeyInfo::of(&key, NOW);
            assert_eq!(info.fingerprint.len(), info.fingerprint.trim().len());
            TrustedKey {
                scope: Scope::Root,
                fingerprint: info.fingerprint,
                path: "fuzz".into(),
                key,
            }
        })
        .collect();
    let _ = verify(
        sig,
        "fuzz",
        &DATA,
        "example.com/app",
        &trusted,
        &trusted,
        NOW,
    );
});
