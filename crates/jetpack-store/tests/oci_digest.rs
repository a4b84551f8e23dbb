//! OCI images found by their manifest digest: `sha256:` prefixes, `docker://REPO@sha256:…`
//! (the name must match too), the index digest of a multi-platform image, ambiguous prefixes.

mod common;

use std::io::Read;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use common::TestStore;
use jetpack_store::import::oci::OciImage;
use jetpack_store::{Error, OciOrigin, Pick};
use sha2::{Digest, Sha256};

/// A one-file layer tar.
fn layer(content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "hello", content).unwrap();
    b.into_inner().unwrap()
}

fn sha(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// Imports an image named `name` (tag `tag`) whose manifest digest is `digest`.
fn import(t: &mut TestStore, name: &str, tag: &str, digest: &str, index: Option<&str>) -> String {
    let tar = layer(format!("{name}:{tag}\n").as_bytes());
    let manifest = appc::ImageManifest::from_slice(
        format!(
            r#"{{"acKind":"ImageManifest","acVersion":"0.8.11","name":"{name}",
                "labels":[{{"name":"version","value":"{tag}"}}]}}"#
        )
        .as_bytes(),
    )
    .unwrap();
    let image = OciImage {
        manifest,
        digest: digest.into(),
        diff_ids: vec![sha(&tar)],
        label: format!("{name}:{tag}"),
    };
    let origin = OciOrigin {
        reference: format!("docker://{name}:{tag}"),
        digest: digest.into(),
        index_digest: index.map(str::to_string),
    };
    let mut open = |_: usize| -> jetpack_store::Result<(Box<dyn Read + Send>, Arc<AtomicBool>)> {
        Ok((
            Box::new(std::io::Cursor::new(tar.clone())),
            Arc::new(AtomicBool::new(true)),
        ))
    };
    t.store
        .import_oci_from(&image, &origin, &mut open)
        .unwrap()
        .id
}

#[jetpack_testutil::root_test]
fn stored_oci_images_are_found_by_digest() {
    let mut t = TestStore::new("dir");
    let d1 = format!("sha256:11111{}", "a".repeat(59));
    let d2 = format!("sha256:11112{}", "b".repeat(59));
    let ix = format!("sha256:9999{}", "c".repeat(60));
    let a = import(&mut t, "example.com/team/app", "v1", &d1, Some(&ix));
    let b = import(&mut t, "example.com/team/app", "v2", &d2, None);
    // The same manifest stored under another name (pulled from a mirror).
    let c = import(&mut t, "mirror.example.com/team/app", "v1", &d1, None);

    let s = &t.store;
    let id = |r: &str, p| s.lookup(r, p).map(|row| row.id);
    assert_eq!(id(&d2, Pick::Unique).unwrap(), b);
    assert_eq!(id("sha256:11112", Pick::Unique).unwrap(), b, "a prefix");
    assert_eq!(
        id("SHA256:11112BB", Pick::Newest).map_err(|_| ()),
        Err(()),
        "not a digest"
    );
    assert_eq!(
        id("sha256:11112BB", Pick::Newest).unwrap(),
        b,
        "hex in any case"
    );
    assert_eq!(id(&ix, Pick::Unique).unwrap(), a, "the index digest");
    // One digest, two names: the newest for showing, an error for removing.
    assert_eq!(id(&d1, Pick::Newest).unwrap(), c);
    assert!(matches!(id(&d1, Pick::Unique), Err(Error::Ambiguous(_))));
    // Two digests: give more digits.
    match id("sha256:1111", Pick::Newest) {
        Err(Error::Ambiguous(m)) => assert!(m.contains(&d1) && m.contains(&d2), "{m}"),
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(id("sha256:111", Pick::Newest), Err(Error::NotFound(_))),
        "too short"
    );
    assert!(matches!(
        id("sha256:7777", Pick::Newest),
        Err(Error::NotFound(_))
    ));

    // By reference: the digest and the name, whatever the tag.
    let docker = |repo: &str, d: &str| format!("docker://{repo}@{d}");
    assert_eq!(
        id(&docker("example.com/team/app", &d1), Pick::Unique).unwrap(),
        a
    );
    assert_eq!(
        id(&docker("mirror.example.com/team/app", &d1), Pick::Unique).unwrap(),
        c
    );
    assert_eq!(
        id(&docker("example.com/team/app", &ix), Pick::Unique).unwrap(),
        a
    );
    assert_eq!(
        id(
            &format!("docker://example.com/team/app:v9@{d2}"),
            Pick::Unique
        )
        .unwrap(),
        b
    );
    match id(&docker("example.com/other", &d1), Pick::Newest) {
        Err(Error::NotFound(m)) => assert!(m.contains("example.com/other"), "{m}"),
        other => panic!("{other:?}"),
    }
    // Tags still work.
    assert_eq!(
        id("docker://example.com/team/app:v2", Pick::Unique).unwrap(),
        b
    );

    let origin = s.origin(&a).unwrap().unwrap();
    assert_eq!(origin.reference, "docker://example.com/team/app:v1");
    assert_eq!(origin.index_digest.as_deref(), Some(ix.as_str()));
    // Removed with the image.
    t.store.remove(&b, false).unwrap();
    assert!(matches!(
        t.store.lookup(&d2, Pick::Newest),
        Err(Error::NotFound(_))
    ));
    assert!(t.store.origin(&b).unwrap().is_none());
}
