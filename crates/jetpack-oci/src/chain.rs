//! Layer chain IDs: the identity of a layer together with every layer below it (OCI image
//! spec, "Layer ChainID"): `ChainID(L0) = DiffID(L0)`, `ChainID(Ln) = sha256(ChainID(Ln-1)
//! + " " + DiffID(Ln))`. Two images share a stored layer exactly when they share its chain ID.

use sha2::{Digest, Sha256};

/// The chain ID of every layer, bottom first, from the layers' diff IDs (the digests of their
/// uncompressed tars, `rootfs.diff_ids` of the image configuration).
pub fn chain_ids<S: AsRef<str>>(diff_ids: &[S]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let d = d.as_ref();
        let id = match out.last() {
            None => d.to_string(),
            Some(parent) => {
                let h = Sha256::digest(format!("{parent} {d}").as_bytes());
                format!("sha256:{}", hex::encode(h))
            }
        };
        out.push(id);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_the_spec() {
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let ids = chain_ids(&[&a, &b]);
        assert_eq!(ids[0], a);
        // sha256 of "sha256:aaa… sha256:bbb…", as `printf '%s %s' A B | sha256sum` gives it.
        let want = hex::encode(Sha256::digest(format!("{a} {b}")));
        assert_eq!(ids[1], format!("sha256:{want}"));
        assert_eq!(chain_ids::<&str>(&[]), Vec::<String>::new());
        // The same diff on another base is another layer.
        assert_ne!(chain_ids(&[&b, &b])[1], ids[1]);
    }
}
